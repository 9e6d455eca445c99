#!/usr/bin/env bash
# Installs the Debian packages herd needs to build, test, demo or benchmark,
# skipping those already installed. Run as root (or with sudo available).
#
#   scripts/install-deps.sh            build + test + demo
#   scripts/install-deps.sh --bench    also the benchmark tools
#   scripts/install-deps.sh --system   also what make test-system needs (debootstrap, systemd-nspawn)
#   scripts/install-deps.sh --runtime  only what an installed herd runs with (make install)
set -euo pipefail

if [[ "${1:-}" == "--runtime" ]]; then
  # The libraries the release binary links (as the package's Depends, by
  # dpkg-shlibdeps), nginx in front, ffmpeg for video frames, rsvg-convert
  # for SVG in Misskey's media proxy.
  packages=(libfcgi0ldbl libcurl4 libturbojpeg0 libpng16-16 libgif7 libwebp7 libwebpdemux2 libwebpmux3
            libavif15 libjxl0.7 libheif1 zlib1g nginx ffmpeg librsvg2-bin)
  optional=()
else
packages=(
  pkg-config
  libfcgi-dev            # FastCGI server side (libfcgi)
  libcurl4-openssl-dev   # origin fetches (libcurl)
  libturbojpeg0-dev      # JPEG decode/encode
  libpng-dev             # PNG decode
  libgif-dev             # GIF decode
  libwebp-dev            # WebP decode/encode (+ mux/demux for ICC)
  libavif-dev            # AVIF decode/encode (aom, dav1d, rav1e, svt)
  zlib1g-dev             # PNG iCCP profiles
  libjxl-dev             # JPEG XL encode (lossless JPEG recompression)
  libheif-dev            # HEIC/HEIF decode (iPhone photos)
  nginx                  # Debian's nginx, the front end in tests and the demo
  python3                # the stand-in origin (demo/origin.py)
  ffmpeg                 # a video's first frame for /proxy/preview/ (a child process, never linked)
  librsvg2-bin           # rsvg-convert: SVG to PNG for Misskey's media proxy (a child process, never linked)
  openssl                # the test CA of the HTTPS remote in the integration tests
  ca-certificates
  iproute2               # make test-cluster: network namespaces as machines (ip netns)
  curl                   # make test-cluster: the client machine's checks
  dpkg-dev               # make deb: dpkg-shlibdeps (the package's Depends)
  fakeroot               # make deb: files owned by root in the package
  help2man               # make deb: the man page, from herd --help
  lintian                # the package tests
  prometheus             # the Prometheus tests: a real one scrapes the workers (deploy/prometheus)
  chromium               # headless browser for BrowserTests (Tests/IntegrationTests/Harness/browser-decode.py); optional, see below
)
# Installed on their own, and a failure only warns: not every system packages
# them as a .deb (Ubuntu's chromium is a snap). Tests that need one skip
# without it.
optional=(chromium)
fi
if [[ "${1:-}" == "--system" ]]; then
  packages+=(debootstrap systemd-container)
fi
if [[ "${1:-}" == "--bench" ]]; then
  # wrk for load; the reference encoders, libvips and numpy/scipy (SSIM) for bench-convert
  # (python3-venv: bench-peers' thumbor, from PyPI, in bench/out/thumbor-venv)
  packages+=(wrk webp libavif-bin libjpeg-turbo-progs libvips-tools imagemagick python3-numpy python3-scipy curl python3-venv libjxl-tools libheif-examples)
fi

missing=()
for package in "${packages[@]}"; do
  # nginx is satisfied by any of Debian's nginx flavours.
  if [[ $package == nginx ]] && command -v nginx >/dev/null 2>&1; then continue; fi
  # Any chromium on PATH will do for the browser test.
  if [[ $package == chromium ]] && command -v chromium >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0

echo "installing: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Debian's nginx package starts a service on port 80 where it can; herd's
# demo and tests run their own nginx and do not need it.
required=() wanted=()
for package in "${missing[@]}"; do
  if [[ " ${optional[*]} " == *" $package "* ]]; then wanted+=("$package"); else required+=("$package"); fi
done
if ((${#required[@]})); then
  $sudo apt-get install -y -qq --no-install-recommends "${required[@]}" >/dev/null
fi
if ((${#wanted[@]})); then
  $sudo apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null \
    || echo "could not install ${wanted[*]} (optional): the tests that need it will skip" >&2
fi
