#!/usr/bin/env bash
# make demo: Debian's nginx on 127.0.0.1:${HERD_DEMO_PORT:-8080}, media routes
# through a herd worker, everything else proxied to the origin. The origin is
# the bundled stand-in (demo/origin.py, sample images and a video under
# Mastodon and Akkoma paths) unless UPSTREAM_URL names a real one.
# Ctrl-C stops everything this script started.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
port=${HERD_DEMO_PORT:-8080}
herd_bin=${HERD_BIN:-$repo/.build/debug/herd}
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
run=$(mktemp -d /tmp/herd-demo.XXXXXX)
chmod 755 "$run"
pids=()

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping (pids ${pids[*]:-none})"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$run"
  exit 0
}
trap cleanup INT TERM EXIT

# 1. The origin.
if [[ -z "${UPSTREAM_URL:-}" ]]; then
  python3 "$repo/demo/origin.py" --root "$repo/demo/media" --port-file "$run/origin.port" >"$run/origin.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s $run/origin.port ]] && break; sleep 0.05; done
  [[ -s $run/origin.port ]] || { echo "the demo origin did not start:"; cat "$run/origin.log"; exit 1; }
  upstream="http://127.0.0.1:$(cat "$run/origin.port")"
else
  upstream=$UPSTREAM_URL
fi

# 2. A herd worker on a unix socket.
"$herd_bin" --upstream "$upstream" --bind "$run/herd-0.sock" --set server.socket_mode=0666 >"$run/herd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $run/herd-0.sock ]] && break; sleep 0.05; done
[[ -S $run/herd-0.sock ]] || { echo "herd did not start:"; cat "$run/herd.log"; exit 1; }

# 3. nginx with the shipped snippets.
mkdir -p "$run/tmp"
ln -s "$repo/deploy/nginx/snippets" "$run/snippets"
upstream_host=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.urlsplit(sys.argv[1]).netloc)' "$upstream")
user_line=""
[[ $(id -u) -eq 0 ]] && user_line="user root root;"
cat >"$run/nginx.conf" <<NGINX
$user_line
daemon off;
worker_processes 1;
pid $run/nginx.pid;
error_log $run/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log $run/nginx-access.log;
    client_body_temp_path $run/tmp/body;
    fastcgi_temp_path $run/tmp/fastcgi;
    proxy_temp_path $run/tmp/proxy;
    uwsgi_temp_path $run/tmp/uwsgi;
    scgi_temp_path $run/tmp/scgi;
    upstream herd {
        server unix:$run/herd-0.sock;
        keepalive 8;
    }
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        include snippets/herd-mastodon-media.conf;
        include snippets/herd-akkoma-media.conf;
        include snippets/herd-status.conf;
        # Everything else: the application itself.
        location / {
            proxy_pass $upstream;
            proxy_set_header Host $upstream_host;
            proxy_set_header Proxy "";
        }
    }
}
NGINX
"$nginx_bin" -p "$run/" -c "$run/nginx.conf" >"$run/nginx.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

base="http://127.0.0.1:$port"
cat <<TXT

Herd demo: nginx on $base → herd → origin $upstream
Logs: $run/{herd,nginx-access,nginx-error,origin}.log

Try:
  curl -sI $base/system/media_attachments/files/000/000/001/original/photo.jpg
  curl -s  $base/system/accounts/avatars/000/000/001/original/avatar.jpg -o avatar.jpg
  curl -sI $base/system/media_attachments/files/000/000/002/original/clip.mp4
  curl -sI $base/media_proxy/1/original                      (Mastodon's media proxy: 302)
  curl -sI $base/media/2f/8a/kite.jpg                       (Akkoma upload)
  curl -s  $base/_herd/health ; curl -s $base/_herd/metrics | head
  curl -s  "$base/system/../etc/passwd" -o /dev/null -w '%{http_code}\n'   (refused)

Ctrl-C stops everything.
TXT
wait -n "${pids[@]}" || true
echo "a demo process exited; see the logs above"
