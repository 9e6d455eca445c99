#!/usr/bin/env bash
# A tiny stand-in for ../shared/corpus/build-corpus.sh, made from the demo's
# own media with libvips, for the benchmarks' smoke runs (make bench-smoke,
# which make test runs): the same names and layout, none of the realism —
# its figures mean nothing, it only proves every benchmark still runs.
#
#   bench/smoke-corpus.sh OUTDIR
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: smoke-corpus.sh OUTDIR}
mkdir -p "$out/photos" "$out/graphics" "$out/small"
media=$repo/demo/media/system
photo=$media/media_attachments/files/000/000/001/original/photo.jpg
water=$media/media_attachments/files/000/000/003/original/water.jpg
kite=$repo/demo/media/media/2f/8a/kite.jpg
avatar=$media/accounts/avatars/000/000/001/original/avatar.jpg
png=$repo/demo/media/media/ab/cd/avatar.png
emoji=$media/custom_emojis/images/000/000/001/original/blobcat.png
names=(Kite ColorfulCups Path EveningGlow Grey FallenLeaf)
sources=("$kite" "$photo" "$water" "$photo" "$water" "$kite")
for index in "${!names[@]}"; do
  for width in 640 1280 2560; do
    vips thumbnail "${sources[$index]}" "$out/photos/${names[$index]}-$width.jpg[Q=90]" "$width" --size both
  done
done
vips thumbnail "$png" "$out/graphics/logo.png" 512 --size both
vips thumbnail "$png" "$out/graphics/Altai-1920.png" 1920 --size both
vips thumbnail "$avatar" "$out/small/avatar-400.jpg[Q=90]" 400 --size both
vips thumbnail "$png" "$out/small/avatar-120.png" 120 --size both
vips thumbnail "$emoji" "$out/small/emoji-64.png" 64 --size both
vips thumbnail "$photo" "$out/small/rocket.jpg[Q=90]" 300 --size both
(cd "$out" && find photos graphics small -type f | sort | while read -r file; do
  echo "$file $(stat -c %s "$file") $(vipsheader -f width "$file")x$(vipsheader -f height "$file")"
done) > "$out/MANIFEST"
