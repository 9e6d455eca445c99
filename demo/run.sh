#!/usr/bin/env bash
# make demo: Debian's nginx on 127.0.0.1:${HERD_DEMO_PORT:-8080} with the
# shipped configuration (deploy/nginx): the Mastodon template, Akkoma's
# with HERD_DEMO_FLAVOR=akkoma, Misskey's (herd as its external media proxy)
# with HERD_DEMO_FLAVOR=misskey. Media routes go through a herd worker, app
# routes through the microcache to the origin. The origin is the bundled
# stand-in (demo/origin.py: sample images and a video under Mastodon and
# Akkoma paths, and app pages per Accept) unless UPSTREAM_URL names a real one.
# Ctrl-C stops everything this script started.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
port=${HERD_DEMO_PORT:-8080}
herd_bin=$(realpath "${HERD_BIN:-$repo/.build/debug/herd}")
# herd wants an absolute media root; the demo takes a relative one too.
if [[ -n ${HERD_UPSTREAM_ROOT:-} ]]; then export HERD_UPSTREAM_ROOT=$(realpath "$HERD_UPSTREAM_ROOT"); fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
run=$(mktemp -d /tmp/herd-demo.XXXXXX)
chmod 755 "$run"
pids=()

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping (pids ${pids[*]:-none})"
  touch "$run/stopping"
  for file in "$run"/herd-*.pid; do [[ -f $file ]] && kill -TERM "$(cat "$file")" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$run"
  exit 0
}
trap cleanup INT TERM EXIT

flavor=${HERD_DEMO_FLAVOR:-mastodon}
[[ $flavor == mastodon || $flavor == akkoma || $flavor == misskey ]] || { echo "HERD_DEMO_FLAVOR must be mastodon, akkoma or misskey"; exit 2; }
herd_flavor_args=()
if [[ $flavor == misskey ]]; then
  # Misskey's media proxy fetches "remote" URLs; here the remote is the demo
  # origin on loopback, which herd's address guard refuses unless let in.
  herd_flavor_args=(--set misskey.enabled=true --set remote.allow_networks=127.0.0.1/32)
fi

# 1. The origin.
if [[ -z "${UPSTREAM_URL:-}" ]]; then
  python3 "$repo/demo/origin.py" --root "$repo/demo/media" --app "$flavor" --port-file "$run/origin.port" >"$run/origin.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s $run/origin.port ]] && break; sleep 0.05; done
  [[ -s $run/origin.port ]] || { echo "the demo origin did not start:"; cat "$run/origin.log"; exit 1; }
  upstream="http://127.0.0.1:$(cat "$run/origin.port")"
else
  upstream=$UPSTREAM_URL
fi

# 2. A pool of herd workers, one unix socket each, restarted when one dies
#    (what systemd's herd@N.service does in production).
workers=${HERD_DEMO_WORKERS:-2}
sockets=()
for index in $(seq 0 $((workers - 1))); do
  socket="$run/herd-$index.sock"
  sockets+=("$socket")
  (
    while [[ ! -e $run/stopping ]]; do
      "$herd_bin" --upstream "$upstream" --bind "$socket" --set server.socket_mode=0666 "${herd_flavor_args[@]}" >>"$run/herd-$index.log" 2>&1 &
      echo $! >"$run/herd-$index.pid"
      wait $! && status=0 || status=$?
      [[ -e $run/stopping ]] && break
      echo "herd worker $index exited ($status); restarting in 1 s" | tee -a "$run/herd-$index.log"
      sleep 1
    done
  ) &
  pids+=($!)
done
for socket in "${sockets[@]}"; do
  for _ in $(seq 100); do [[ -S $socket ]] && break; sleep 0.05; done
  [[ -S $socket ]] || { echo "herd did not start:"; cat "$run"/herd-*.log; exit 1; }
done

# 3. The purge service (herd-purge.service in production): purges over HTTP,
#    as Mastodon's cache buster and Akkoma's Invalidation.Http send them.
purge_secret=${HERD_PURGE_SECRET:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}
HERD_PURGE_SECRET=$purge_secret "$herd_bin" purge-server --bind "$run/purge.sock" --set server.socket_mode=0666 \
  --set purge.cache_dir="$run/cache/media" --set purge.sockets="$(IFS=,; echo "${sockets[*]}")" >>"$run/purge.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $run/purge.sock ]] && break; sleep 0.05; done
[[ -S $run/purge.sock ]] || { echo "herd purge-server did not start:"; cat "$run/purge.log"; exit 1; }

# 4. nginx with the shipped configuration (deploy/nginx), paths pointed here.
# HERD_BIN makes the renderer write nginx's variant map with `herd nginx-map`
# in this environment: HERD_IMAGE_FORMATS=jxl,avif,webp applies to both sides.
HERD_BIN=$herd_bin "$repo/scripts/render-nginx.sh" "$run" "$upstream" "${sockets[@]}"
# (the renderer also wrote the scratch main context and temp paths)
cat >"$run/nginx.conf" <<NGINX
include $run/scratch-main.conf;
http {
    include $run/scratch-http.conf;
    include herd/http.conf;
    include herd/upstreams/$flavor.conf;
    access_log $run/nginx-access.log herd;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        include herd/$flavor.conf;
    }
}
NGINX
"$nginx_bin" -p "$run/" -c "$run/nginx.conf" >"$run/nginx.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

base="http://127.0.0.1:$port"
if [[ $flavor == akkoma ]]; then
  media_example="$base/media/2f/8a/kite.jpg"
elif [[ $flavor == misskey ]]; then
  media_example="$base/proxy/image.webp?url=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$upstream/system/media_attachments/files/000/000/001/original/photo.jpg")"
else
  media_example="$base/system/media_attachments/files/000/000/001/original/photo.jpg"
fi
cat <<TXT

Herd demo ($flavor): nginx on $base → herd → origin $upstream
Image formats, first preferred: ${HERD_IMAGE_FORMATS:-avif,webp} (HERD_IMAGE_FORMATS=jxl,avif,webp adds JPEG XL)
Media from: ${HERD_UPSTREAM_ROOT:+files below $HERD_UPSTREAM_ROOT (HERD_UPSTREAM_ROOT; originals and videos sent by nginx from disk)}${HERD_UPSTREAM_ROOT:-the origin}
Logs: $run/{herd-N,purge,nginx-access,nginx-error,origin}.log ($workers herd workers, nginx hashes sources over them)

Try (X-Cache-Status shows the cache at work; run each twice):
  curl -sI -H 'Accept: image/avif,image/webp,*/*' $media_example     (AVIF from herd)
  curl -sI -H 'Accept: image/webp,*/*' $media_example                 (WebP)
  curl -sI $media_example                                             (the original)
  curl -sI -H 'Accept: image/jxl,image/avif,*/*' $media_example       (JPEG XL, with HERD_IMAGE_FORMATS=jxl,…)
  curl -sI -H 'Accept: image/avif,image/webp,*/*' $base/system/media_attachments/files/000/000/005/original/pan.gif   (animated GIF → AVIF sequence)
  curl -sI $base/system/media_attachments/files/000/000/004/original/iphone.heic   (HEIC → JPEG for a client that names no format)
  curl -sI -H 'Accept: application/activity+json' $base/users/alice/statuses/1   (app microcache)
  curl -sI $base/users/alice/statuses/1                               (HTML, its own cache entry)
  curl -s  $base/_herd/health ; curl -s $base/_herd/metrics | head
  curl -s  --path-as-is "$base/system/media_attachments/%2e%2e/x" -o /dev/null -w '%{http_code}\n'   (refused: 400)
Or open $media_example in a browser.

Purge every cached variant of a media URL (nginx's cache files and the workers' memory), as the app does:
  curl -s -X PURGE -H 'X-Herd-Purge-Secret: $purge_secret' $media_example
Or from the command line:
  $herd_bin purge --cache-dir $run/cache/media --set purge.sockets=$(IFS=,; echo "${sockets[*]}") URL…
A Mastodon admin copies this line into .env.production (with CACHE_BUSTER_ENABLED=true):
Cache buster: CACHE_BUSTER_HTTP_METHOD=PURGE CACHE_BUSTER_SECRET_HEADER=X-Herd-Purge-Secret CACHE_BUSTER_SECRET=$purge_secret

Ctrl-C stops everything.
TXT
if [[ $flavor == misskey ]]; then
  cat <<TXT
Misskey's media proxy (set mediaProxy: $base/proxy in Misskey's default.yml):
  curl -s -o /dev/null -w '%{content_type} %{size_download}\n' -H 'Accept: image/webp,*/*' '$media_example&emoji=1'    (height ≤ 128)
  curl -s -o /dev/null -w '%{content_type} %{size_download}\n' -H 'Accept: image/avif,*/*' '$media_example&avatar=1'   (height ≤ 320, AVIF)
  curl -s -o /dev/null -w '%{content_type} %{size_download}\n' '$media_example&preview=1'                             (fit 200×200)
  curl -s -o /dev/null -w '%{content_type} %{size_download}\n' '$media_example&badge=1'                               (96×96 PNG, alpha only)
  curl -s -o /dev/null -w '%{http_code} %{content_type}\n' '$base/proxy/image.webp?url=https%3A%2F%2F127.0.0.1%3A1%2Fx.png&fallback=1'   (the placeholder)
TXT
fi
wait -n "${pids[@]}" || true
echo "a demo process exited; see the logs above"
