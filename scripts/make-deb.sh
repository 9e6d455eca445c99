#!/usr/bin/env bash
# make deb: herd_<version>_amd64.deb from the release binary, with dpkg-deb.
#
#   scripts/make-deb.sh [OUTDIR]        (HERD_BIN=.build/release/herd by default)
#
# The package: /usr/bin/herd, the systemd units (/lib/systemd/system: herd@.socket,
# herd@.service, herd.target, herd-purge.socket, herd-purge.service), the nginx includes (/etc/nginx/herd/), the
# configuration (/etc/herd/config.toml, a conffile like every file under /etc),
# the README and copyright (/usr/share/doc/herd), a man page made from
# `herd --help` by help2man, /usr/lib/tmpfiles.d/herd.conf (the parents of
# nginx's cache directories) and the maintainer scripts of deploy/debian
# (cache directories at install, workers restarted onto the new binary on an
# upgrade, units stopped on removal, nothing left after a purge). Depends: the
# Debian packages of the libraries the binary links, as dpkg-shlibdeps finds
# them (the Swift runtime is linked in).
#
# HERD_DEB_VERSION overrides the version (default: what `herd --version` says);
# the system tests build an older-numbered package with it to test upgrades.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${HERD_BIN:-$repo/.build/release/herd}")
out=$(realpath "${1:-$repo/.build}")
for tool in dpkg-deb dpkg-shlibdeps help2man fakeroot; do
  command -v "$tool" >/dev/null || { echo "make-deb: $tool missing (apt-get install dpkg-dev help2man fakeroot)" >&2; exit 1; }
done
version=${HERD_DEB_VERSION:-$("$bin" --version | awk '{print $2}')}
arch=$(dpkg --print-architecture)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
root=$work/herd_${version}_${arch}
mkdir -p "$root/DEBIAN"

# The binary, stripped (debug symbols are not shipped).
install -D -m 0755 "$bin" "$root/usr/bin/herd"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/herd"

# Units, pointing at /usr/bin and the packaged docs.
for unit in "$repo"/deploy/systemd/herd@.service "$repo"/deploy/systemd/herd@.socket "$repo"/deploy/systemd/herd.target \
            "$repo"/deploy/systemd/herd-purge.service "$repo"/deploy/systemd/herd-purge.socket; do
  install -D -m 0644 "$unit" "$root/lib/systemd/system/$(basename "$unit")"
  sed -i 's|/usr/local/bin/herd|/usr/bin/herd|g; s|/usr/local/share/doc/herd/README.md|/usr/share/doc/herd/README.md.gz|g' "$root/lib/systemd/system/$(basename "$unit")"
done

# The cache directories' parents, and the maintainer scripts.
install -D -m 0644 "$repo/deploy/systemd/herd.tmpfiles" "$root/usr/lib/tmpfiles.d/herd.conf"
for script in postinst prerm postrm; do
  install -m 0755 "$repo/deploy/debian/$script" "$root/DEBIAN/$script"
done

# nginx includes and the configuration, all conffiles.
mkdir -p "$root/etc/nginx/herd"
cp -r "$repo/deploy/nginx/." "$root/etc/nginx/herd/"
find "$root/etc/nginx/herd" -type d -exec chmod 0755 {} + ; find "$root/etc/nginx/herd" -type f -exec chmod 0644 {} +
install -D -m 0644 "$repo/config.example.toml" "$root/etc/herd/config.toml"
(cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"

# Docs and the man page.
doc=$root/usr/share/doc/herd
install -D -m 0644 "$repo/README.md" "$doc/README.md"
gzip -9n "$doc/README.md"
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: herd
Source: https://github.com/herd-media/herd

Files: *
Copyright: 2025-2026 The Herd authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in the file /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
date=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}")
printf 'herd (%s) unstable; urgency=medium\n\n  * Package built from the herd repository (make deb).\n\n -- Herd maintainers <maintainers@herd-media.org>  %s\n' \
  "$version" "$date" | gzip -9n > "$doc/changelog.gz"
mkdir -p "$root/usr/share/man/man1"
help2man --no-info --no-discard-stderr --version-string="$version" \
  --name="media and caching worker for fediverse servers behind nginx" "$bin" > "$work/herd.1"
gzip -9n -c "$work/herd.1" > "$root/usr/share/man/man1/herd.1.gz"
chmod 0644 "$root/usr/share/man/man1/herd.1.gz" "$doc/copyright" "$doc/changelog.gz"

# Depends: what the binary links, by Debian package (dpkg-shlibdeps).
mkdir -p "$work/src/debian"
printf 'Source: herd\n\nPackage: herd\nArchitecture: any\n' > "$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/bin/herd" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n $depends ]] || { echo "make-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: herd
Version: $version
Architecture: $arch
Maintainer: Herd maintainers <maintainers@herd-media.org>
Installed-Size: $installed_size
Depends: $depends, nginx | nginx-light | nginx-full | nginx-extras, ffmpeg
Recommends: systemd, librsvg2-bin
Section: web
Priority: optional
Homepage: https://github.com/herd-media/herd
Description: media and caching layer for fediverse servers
 Herd puts nginx in front of a Mastodon, Akkoma or Pleroma server to absorb
 repetitive public traffic (a microcache for pages and ActivityPub JSON, long
 caching of media), and a pool of FastCGI workers behind nginx that fetch
 media, convert images per client (AVIF, WebP, JPEG XL, JPEG; animations
 kept; HEIC read) and act as the media proxy for remote files.
CONTROL

mkdir -p "$out"
deb=$out/herd_${version}_${arch}.deb
fakeroot dpkg-deb --build -Zxz "$root" "$deb" >/dev/null
echo "$deb"
