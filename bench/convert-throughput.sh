#!/usr/bin/env bash
# Throughput of converted cache misses: wrk through nginx → herd → origin,
# every request a different URL (a cache miss), nginx caching off, at 8
# connections. Prints images/s and p50/p99 latency per variant.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
herd_bin=${HERD_BIN:-$repo/.build/release/herd}
corpus=${BENCH_CORPUS:-$repo/bench/out/corpus}
duration=${BENCH_DURATION:-20s}
image=${BENCH_IMAGE:-photos/Kite-1280.jpg}
source "$repo/bench/lib.sh"
bench_init throughput
origin_port=$(free_port); front_port=$(free_port)
mkdir -p "$run/root"; "$repo/scripts/render-nginx.sh" "$run" "http://127.0.0.1:$origin_port" "$run/herd.sock"; ln -s "$(cd "$corpus" && pwd)" "$run/root/media"
cat >"$run/nginx.conf" <<NGINX
$(nginx_main_context 1024)
http {
    access_log off;
    $(nginx_temp_paths)
    server { listen 127.0.0.1:$origin_port; root $run/root; }
    upstream herd { server unix:$run/herd.sock; keepalive 16; }
    include herd/http/accept-variant.conf;
    include herd/http/cluster.conf;
    include herd/http/app-key.conf;
    include herd/http/request-id.conf;
    include herd/install/image-formats.conf;
    include herd/http/image-variant.conf;
    include herd/http/bypass.conf;
    include herd/http/variables-hash.conf;
    # herd's media route with the shipped FastCGI parameters, cache off:
    # every request is a conversion.
    server {
        listen 127.0.0.1:$front_port;
        include herd/server/defaults.conf;
        location /media/ { include herd/server/media-fastcgi.conf; }
    }
}
NGINX
"$nginx_bin" -p "$run/" -c "$run/nginx.conf" & pids+=($!)
# Single flight off: every request converts (on, concurrent requests for one
# file would share a conversion, which is not what this measures).
"$herd_bin" --upstream "http://127.0.0.1:$origin_port" --bind "$run/herd.sock" --set server.socket_mode=0666 \
  --set cache.single_flight=false --log-level warning 2>"$run/herd.log" & herd_pid=$!; pids+=($herd_pid)
for _ in $(seq 100); do [[ -S $run/herd.sock ]] && curl -sf -o /dev/null "http://127.0.0.1:$front_port/media/$image" && break; sleep 0.1; done

echo "convert throughput: /media/$image, a new URL per request (all misses), wrk -t2 -c8 -d$duration, $(nproc) cores"
printf '%-8s | %8s | %7s | %7s | %s\n' variant "images/s" "p50 ms" "p99 ms" errors
for variant in avif webp orig; do
  case $variant in
    avif) accept="image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8" ;;
    webp) accept="image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5" ;;
    orig) accept="*/*" ;;
  esac
  cat >"$run/miss.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/media/$image?miss=" .. counter .. "-" .. math.random(1000000000), {["Accept"] = "$accept"})
end
LUA
  out=$(wrk -t2 -c8 -d"$duration" --latency -s "$run/miss.lua" "http://127.0.0.1:$front_port")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",",""); n+=$4+$6+$8+$10} END {print n+0}' <<<"$out")
  printf '%-8s | %8.1f | %7s | %7s | %s\n' "$variant" "$rps" "$p50" "$p99" "$errors"
done
echo "herd peak RSS: $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$herd_pid/status)"
