#!/usr/bin/env bash
# The one renderer of Herd's nginx files for a run outside /etc/nginx (the
# demo, the benchmarks and the integration tests all call it):
#
#   scripts/render-nginx.sh DIR APP_URL SOCKET [SOCKET…]
#   scripts/render-nginx.sh --scratch DIR        (only the two files below)
#
# Either way it writes an nginx's scratch context for running out of DIR, in
# the foreground: DIR/scratch-main.conf (the main context: pid, error log,
# events; `user root root` when run as root) and DIR/scratch-http.conf (the
# temp paths, for http {}). A run's nginx.conf is then
#   include DIR/scratch-main.conf;  http { include DIR/scratch-http.conf; … }
# NGINX_CONNECTIONS (1024) and NGINX_ERROR_LOG (error) tune them.
#
# Copies deploy/nginx to DIR/herd and writes its per-install files whole:
# install/workers.conf (one `server` per herd SOCKET), install/worker-metrics.conf
# (/_herd/metrics/N for the Nth SOCKET), install/cache-zones.conf
# (caches under DIR/cache), install/error-pages.conf, the app's name and
# scheme (install/app-origin.conf, app-pass.conf, streaming-pass.conf) and
# its address (upstreams/*.conf) (the app at APP_URL: http://127.0.0.1:PORT, or a real
# https:// instance). With HERD_BIN set, also install/image-formats.conf, by
# `$HERD_BIN nginx-map` with this environment (HERD_IMAGE_FORMATS, HERD_CONFIG):
# the map then follows the same image.formats as the workers started with it.
# With HERD_UPSTREAM_ROOT set, install/disk-files.conf aliases that directory.
# install/purge-pass.conf names DIR/purge.sock (HERD_PURGE_SOCKET overrides):
# where the run's `herd purge-server` listens, if it starts one.
# Every other file is used exactly as shipped.
set -euo pipefail

write_scratch() {
  local dir=$1 connections=${NGINX_CONNECTIONS:-1024}
  mkdir -p "$dir/tmp"
  {
    [[ $(id -u) -eq 0 ]] && echo "user root root;"
    echo "daemon off;"
    echo "worker_processes 1;"
    echo "worker_rlimit_nofile $(( connections * 2 > 16384 ? connections * 2 : 16384 ));"
    echo "pid $dir/nginx.pid;"
    echo "error_log $dir/error.log ${NGINX_ERROR_LOG:-error};"
    echo "events { worker_connections $connections; }"
  } > "$dir/scratch-main.conf"
  {
    echo "client_body_temp_path $dir/tmp/body; fastcgi_temp_path $dir/tmp/fastcgi; proxy_temp_path $dir/tmp/proxy;"
    echo "uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;"
  } > "$dir/scratch-http.conf"
}

if [[ ${1:-} == --scratch ]]; then
  mkdir -p "$2"
  write_scratch "$(cd "$2" && pwd)"
  exit 0
fi

dir=$(cd "$1" && pwd); app=$2; shift 2
repo=$(cd "$(dirname "$0")/.." && pwd)
write_scratch "$dir"
rm -rf "$dir/herd"
cp -r "$repo/deploy/nginx" "$dir/herd"
mkdir -p "$dir/cache" "$dir/tmp"

scheme=${app%%://*}
hostport=${app#*://}; hostport=${hostport%%/*}
host=${hostport%%:*}
if [[ $hostport != *:* ]]; then
  [[ $scheme == https ]] && hostport="$hostport:443" || hostport="$hostport:80"
fi
header="# Written by scripts/render-nginx.sh for $dir."

{ echo "$header"; for socket in "$@"; do echo "server unix:$socket max_fails=0;"; done; } > "$dir/herd/install/workers.conf"
{
  echo "$header"
  index=0
  for socket in "$@"; do
    echo "location = /_herd/metrics/$index { include herd/server/worker-metrics.conf; fastcgi_pass unix:$socket; }"
    index=$((index + 1))
  done
} > "$dir/herd/install/worker-metrics.conf"

cat > "$dir/herd/install/cache-zones.conf" <<CONF
$header
proxy_cache_path   $dir/cache/app    levels=1:2 keys_zone=herd_app:20m    max_size=1g  inactive=10m use_temp_path=off;
proxy_cache_path   $dir/cache/assets levels=1:2 keys_zone=herd_assets:10m max_size=1g  inactive=8d  use_temp_path=off;
fastcgi_cache_path $dir/cache/media  levels=1:2 keys_zone=herd_media:50m  max_size=10g inactive=7d  use_temp_path=off;
CONF

printf '%s\nroot %s;\n' "$header" "$dir/herd/errors" > "$dir/herd/install/error-pages.conf"
printf '%s\nfastcgi_pass unix:%s;\n' "$header" "${HERD_PURGE_SOCKET:-$dir/purge.sock}" > "$dir/herd/install/purge-pass.conf"

# Files herd has nginx send from disk (herd's upstream.root).
if [[ -n ${HERD_UPSTREAM_ROOT:-} ]]; then
  files_root=$(realpath "$HERD_UPSTREAM_ROOT")
  cat > "$dir/herd/install/disk-files.conf" <<CONF
$header
set \$herd_public_root $files_root;
location ^~ /_herd_files/ {
    internal;
    alias $files_root/;
    include herd/server/disk-files.conf;
}
CONF
fi

if [[ -n ${HERD_BIN:-} ]]; then
  "$HERD_BIN" nginx-map > "$dir/herd/install/image-formats.conf.new"
  mv "$dir/herd/install/image-formats.conf.new" "$dir/herd/install/image-formats.conf"
fi

if [[ $scheme == https ]]; then app_host=$host; else app_host='$host'; fi
printf '%s\nmap $host $herd_app_host { default %s; }\n' "$header" "$app_host" > "$dir/herd/install/app-origin.conf"
printf '%s\nproxy_pass %s://herd_app;\n' "$header" "$scheme" > "$dir/herd/install/app-pass.conf"
printf '%s\nproxy_pass %s://herd_streaming;\n' "$header" "$scheme" > "$dir/herd/install/streaming-pass.conf"

for flavor in mastodon akkoma misskey; do
  cat > "$dir/herd/upstreams/$flavor.conf" <<CONF
$header
upstream herd_app {
    server $hostport max_fails=3 fail_timeout=10s;
    keepalive 32;
}
upstream herd_streaming {
    server $hostport max_fails=3 fail_timeout=10s;
    keepalive 8;
}
CONF
done
