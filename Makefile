# Herd — the two commands: `make demo` and `make test`.
SWIFT        ?= swift
CONFIG       ?= debug
PREFIX       ?= /usr/local
DESTDIR      ?=
BIN           = .build/$(CONFIG)/herd

.PHONY: all build deps test demo deb bench-passthrough bench-convert bench-offload bench-coalesce bench-memory bench-preview bench-peers release install clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c $(CONFIG) --product herd

# Unit tests and the integration tests against real nginx, herd and a
# loopback origin. One at a time: several tests bound a latency (a 504 within
# timeout + 1 s, a 503 at once) and must not share two cores with the
# 100-conversion load test.
# The release binary too: the package tests (PackageTests) build `make deb`'s
# package from it.
test: deps
	$(SWIFT) build -c release --product herd --static-swift-stdlib
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# libFuzzer targets for herd's own parsers (Fuzz/): built into .build-fuzz,
# each run for FUZZ_SECONDS from its seed corpus; prints executions, execs/s,
# corpus size and crashes per target and fails if one crashed.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) scripts/fuzz.sh

# nginx on 127.0.0.1:$${HERD_DEMO_PORT:-8080} → herd → the bundled demo origin
# (or $$UPSTREAM_URL). Ctrl-C stops everything.
demo: build
	HERD_BIN=$(BIN) demo/run.sh

# Release binary with the Swift runtime linked in: starts faster and runs on
# machines without a Swift toolchain.
RELEASE_BIN = .build/release/herd
release: deps
	$(SWIFT) build -c release --product herd --static-swift-stdlib

bench-passthrough: release
	@scripts/install-deps.sh --bench
	HERD_BIN=$(RELEASE_BIN) bench/passthrough.sh

# herd convert vs cwebp / avifenc / cjpeg / libvips on the shared corpus, the
# AVIF encoder sweep, and converted misses through nginx.
bench-convert: release
	@scripts/install-deps.sh --bench
	@test -d bench/out/corpus || { mkdir -p bench/out && ../shared/corpus/build-corpus.sh bench/out/corpus; }
	HERD_BIN=$(RELEASE_BIN) python3 bench/convert.py
	HERD_BIN=$(RELEASE_BIN) python3 bench/animation.py
	HERD_BIN=$(RELEASE_BIN) python3 bench/formats.py
	HERD_BIN=$(RELEASE_BIN) bench/convert-throughput.sh

# The app microcache: app requests and latency with and without it.
bench-offload: deps
	@scripts/install-deps.sh --bench
	bench/offload.sh

# Peak memory of one conversion, measured (VmHWM) beside the estimate a
# worker admits it by (image.memory_budget), per source format and output.
bench-memory: release
	@scripts/install-deps.sh --bench
	HERD_BIN=$(RELEASE_BIN) python3 bench/memory.py

# /proxy/preview/ by herd beside ImageMagick (Akkoma), vipsthumbnail
# (Pleroma) and the ffmpeg CLI (video first frames), on the corpus.
bench-preview: release
	@scripts/install-deps.sh --bench
	@test -d bench/out/corpus || { mkdir -p bench/out && ../shared/corpus/build-corpus.sh bench/out/corpus; }
	HERD_BIN=$(RELEASE_BIN) python3 bench/preview.py

# One fetch per source: origin requests and latency for bursts, on and off.
bench-coalesce: release
	HERD_BIN=$(RELEASE_BIN) python3 bench/coalesce.py

# herd beside thumbor (from PyPI, in bench/out/thumbor-venv) on the same
# photos, origin and wrk load, every request a new URL: converted misses/s,
# p50/p99, bytes and SSIM per output format, and peak RSS.
bench-peers: release
	@scripts/install-deps.sh --bench
	@test -d bench/out/corpus || { mkdir -p bench/out && ../shared/corpus/build-corpus.sh bench/out/corpus; }
	HERD_BIN=$(RELEASE_BIN) python3 bench/peers.py

# herd_<version>_amd64.deb in .build/ (dpkg-deb; lintian-clean).
deb: release
	HERD_BIN=$(RELEASE_BIN) scripts/make-deb.sh .build

install: release
	install -D -m 0755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/herd
	install -D -m 0644 config.example.toml $(DESTDIR)/etc/herd/config.example.toml
	install -d $(DESTDIR)/etc/nginx/herd
	cp -r deploy/nginx/. $(DESTDIR)/etc/nginx/herd/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	for unit in deploy/systemd/*.service deploy/systemd/*.socket deploy/systemd/*.target; do \
	  sed 's|/usr/local/|$(PREFIX)/|g' $$unit > $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$unit); \
	done
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/herd/README.md

clean:
	rm -rf .build
