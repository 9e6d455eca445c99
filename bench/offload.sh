#!/usr/bin/env bash
# make bench-offload: what the app microcache takes off the app.
#
# wrk hammers one status through the shipped Mastodon configuration, the
# requests spread over three Accept variants (HTML, ActivityPub, API JSON),
# once with the microcache (herd/mastodon.conf as shipped) and once with
# caching off, against the stand-in app (demo/origin.py, which counts what
# reaches it). Prints requests/s, p50/p99 latency, app requests and the
# offload ratio (client requests per app request).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-32}
source "$repo/bench/lib.sh"
bench_init offload
cached_port=$(free_port); uncached_port=$(free_port)

python3 "$repo/demo/origin.py" --root "$repo/demo/media" --port-file "$run/origin.port" >"$run/origin.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $run/origin.port ]] && break; sleep 0.05; done
origin_port=$(cat "$run/origin.port")
"$repo/scripts/render-nginx.sh" "$run" "http://127.0.0.1:$origin_port" "$run/herd.sock"
cat >"$run/nginx.conf" <<NGINX
$(nginx_main_context 4096)
http {
    $(nginx_temp_paths)
    include herd/http.conf;
    include herd/upstreams/mastodon.conf;
    access_log off;
    # As shipped: the microcache.
    server { listen 127.0.0.1:$cached_port; include herd/mastodon.conf; }
    # The same app, caching off.
    server {
        listen 127.0.0.1:$uncached_port;
        location / { include herd/server/proxy-app.conf; }
    }
}
NGINX
"$nginx_bin" -p "$run/" -c "$run/nginx.conf" & pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$cached_port/users/alice/statuses/1" && break; sleep 0.05; done

cat >"$run/variants.lua" <<'LUA'
local accepts = {
  "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "application/activity+json",
  "application/json",
}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/users/alice/statuses/1", {["Accept"] = accepts[(n % 3) + 1]})
end
LUA

measure() {  # port → "requests rps p50 p99 errors app_requests"
  curl -s -X POST "http://127.0.0.1:$origin_port/__reset" >/dev/null
  local out
  out=$(wrk -t2 -c"$connections" -d"$duration" --latency -s "$run/variants.lua" "http://127.0.0.1:$1")
  local app
  app=$(curl -s "http://127.0.0.1:$origin_port/__stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
  awk -v app="$app" '
    /requests in/ {requests=$1}
    /^Requests\/sec/ {rps=$2}
    $1=="50%" {p50=$2} $1=="99%" {p99=$2}
    /Non-2xx/ {errors+=$NF} /Socket errors/ {gsub(",",""); errors+=$4+$6+$8+$10}
    END {printf "%s %s %s %s %d %s\n", requests, rps, p50, p99, errors, app}' <<<"$out"
}

echo "bench-offload: one status in 3 Accept variants, wrk -t2 -c$connections -d$duration, $(nproc) cores, stand-in app (Python)"
printf '%-16s | %9s | %9s | %9s | %9s | %6s | %12s | %s\n' "" requests "req/s" "p50" "p99" errors "app requests" "offload"
for mode in microcache no-cache; do
  port=$cached_port; [[ $mode == no-cache ]] && port=$uncached_port
  read -r requests rps p50 p99 errors app < <(measure "$port")
  offload=$(awk -v r="$requests" -v a="$app" 'BEGIN { if (a > 0) printf "%.0f×", r / a; else print "∞" }')
  printf '%-16s | %9s | %9s | %9s | %9s | %6s | %12s | %s\n' "$mode" "$requests" "$rps" "$p50" "$p99" "$errors" "$app" "$offload"
done
echo "bound for the microcache: 3 variants × (duration / 10 s TTL + 1) app requests"
