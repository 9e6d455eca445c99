# Herd — the two commands: `make demo` and `make test`.
SWIFT        ?= swift
CONFIG       ?= debug
PREFIX       ?= /usr/local
DESTDIR      ?=
BIN           = .build/$(CONFIG)/herd

.PHONY: all build deps test demo bench-passthrough install clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c $(CONFIG) --product herd

# Unit tests and the integration tests against real nginx, herd and a
# loopback origin.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# nginx on 127.0.0.1:$${HERD_DEMO_PORT:-8080} → herd → the bundled demo origin
# (or $$UPSTREAM_URL). Ctrl-C stops everything.
demo: build
	HERD_BIN=$(BIN) demo/run.sh

bench-passthrough: deps
	@scripts/install-deps.sh --bench
	$(SWIFT) build -c release --product herd
	HERD_BIN=.build/release/herd bench/passthrough.sh

install:
	$(SWIFT) build -c release --product herd
	install -D -m 0755 .build/release/herd $(DESTDIR)$(PREFIX)/bin/herd
	install -D -m 0644 config.example.toml $(DESTDIR)/etc/herd/config.example.toml
	install -d $(DESTDIR)/etc/nginx/snippets $(DESTDIR)/etc/nginx/conf.d
	install -m 0644 deploy/nginx/snippets/*.conf $(DESTDIR)/etc/nginx/snippets/
	install -m 0644 deploy/nginx/http.d/herd-upstream.conf $(DESTDIR)/etc/nginx/conf.d/herd-upstream.conf
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	for unit in deploy/systemd/*.service deploy/systemd/*.target; do \
	  sed 's|/usr/local/|$(PREFIX)/|g' $$unit > $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$unit); \
	done
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/herd/README.md

clean:
	rm -rf .build
