# Herd — the two commands: `make demo` and `make test`.
SWIFT        ?= swift
CONFIG       ?= debug
PREFIX       ?= /usr/local
DESTDIR      ?=
BIN           = .build/$(CONFIG)/herd

.PHONY: all build deps test test-cluster test-system demo deb bench-smoke bench-disk bench-passthrough bench-convert bench-offload bench-coalesce bench-memory bench-preview bench-peers bench-quality release install clean

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
	@$(MAKE) --no-print-directory test-cluster
	@$(MAKE) --no-print-directory bench-smoke

# Several machines, here: two edges, three media nodes, an origin and a
# client, each a network namespace (Tests/Cluster/run.py; needs root).
test-cluster: $(RELEASE_BIN)
	HERD_BIN=$(RELEASE_BIN) python3 Tests/Cluster/run.py

# Every benchmark once, seconds long, on a tiny corpus from the demo's media:
# make test runs it, so no benchmark rots unnoticed.
bench-smoke: $(RELEASE_BIN)
	@scripts/install-deps.sh --bench
	HERD_BIN=$(RELEASE_BIN) scripts/bench-smoke.sh

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

# The release binary as a file: rebuilt only when a source is newer, so that
# `make install` from a tree built elsewhere needs no toolchain.
HERD_SOURCES := Package.swift $(shell find Sources -type f 2>/dev/null)
$(RELEASE_BIN): $(HERD_SOURCES)
	@scripts/install-deps.sh
	$(SWIFT) build -c release --product herd --static-swift-stdlib
	@touch $@

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

# The app microcache under an instance's traffic (browsers in several
# languages, signed fetches with boost storms, tokens, sessions) in both
# fetch modes: app requests per 1,000 with no cache, the microcache
# article's configuration and Herd's, and answers that went to the wrong party.
bench-offload: deps
	python3 bench/offload.py

# Mastodon's local media (originals, videos) through Herd's nginx
# configuration beside nginx's own try_files, in one run.
bench-disk: release
	@scripts/install-deps.sh --bench
	HERD_BIN=$(RELEASE_BIN) python3 bench/disk.py

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
# Bytes at equal perceived quality (SSIMULACRA 2): herd's first and optimized
# answers beside thumbor and libvips (imgproxy's defaults), and first-answer
# latency with the optimizer off and busy; ends with one line per target.
bench-quality: release
	@scripts/install-deps.sh --bench
	@test -d bench/out/corpus || { mkdir -p bench/out && ../shared/corpus/build-corpus.sh bench/out/corpus; }
	HERD_BIN=$(RELEASE_BIN) python3 bench/quality.py

bench-peers: release
	@scripts/install-deps.sh --bench
	@test -d bench/out/corpus || { mkdir -p bench/out && ../shared/corpus/build-corpus.sh bench/out/corpus; }
	HERD_BIN=$(RELEASE_BIN) python3 bench/peers.py

# herd_<version>_amd64.deb in .build/ (dpkg-deb; lintian-clean).
deb: release
	HERD_BIN=$(RELEASE_BIN) scripts/make-deb.sh .build

# The README's first way to install. The per-install nginx files (install/,
# upstreams/) are written only where missing: a second `make install` keeps
# the admin's. Without DESTDIR, on a running systemd, the tmpfiles.d entry
# (nginx's cache directories) is applied and systemd reloads the units; a
# random purge secret is written to /etc/herd/purge-secret unless one exists.
install: $(RELEASE_BIN)
	@[ -n "$(DESTDIR)" ] || scripts/install-deps.sh --runtime
	install -D -m 0755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/herd
	install -D -m 0644 config.example.toml $(DESTDIR)/etc/herd/config.example.toml
	cd deploy/nginx && for file in $$(find . -type f | sort); do \
	  case $$file in ./install/*|./upstreams/*) [ -e "$(DESTDIR)/etc/nginx/herd/$$file" ] && continue;; esac; \
	  install -D -m 0644 "$$file" "$(DESTDIR)/etc/nginx/herd/$$file"; \
	done
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	for unit in deploy/systemd/*.service deploy/systemd/*.socket deploy/systemd/*.target; do \
	  sed 's|/usr/local/|$(PREFIX)/|g' $$unit > $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$unit); \
	done
	install -D -m 0644 deploy/systemd/herd.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/herd.conf
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/herd/README.md
	@if [ -z "$(DESTDIR)" ] && [ ! -e /etc/herd/purge-secret ]; then \
	  (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > /etc/herd/purge-secret); \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemd-tmpfiles --create $(PREFIX)/lib/tmpfiles.d/herd.conf && systemctl daemon-reload; \
	fi

# The package under a real systemd (PID 1 in a bookworm container): the
# README's install steps, reloads, restarts, an upgrade, purge (Tests/System).
test-system: $(RELEASE_BIN)
	@scripts/install-deps.sh --system
	HERD_BIN=$(RELEASE_BIN) scripts/make-deb.sh .build > .build/deb-path
	python3 Tests/System/run.py --deb "$$(tail -n 1 .build/deb-path)"

clean:
	rm -rf .build
