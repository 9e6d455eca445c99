#!/usr/bin/env bash
# make bench-passthrough: what the herd hop costs on a cache miss.
#
# The same 60 KB JPEG, fetched by wrk through the same nginx, two ways:
#   direct: nginx proxy_pass → origin
#   herd:   nginx fastcgi_pass → herd → origin
# nginx caching is off in both, and so is herd's source cache (every request
# is an origin fetch). The origin is a second nginx serving the
# file from disk (a real, fast HTTP server, so it is not the bottleneck).
# Prints requests/s, p50 and p99 latency and errors at 16 and 128
# connections, herd's share of the direct path's requests/s, and the CPU
# seconds per 1,000 requests of herd and of the front nginx (the proxy hop),
# from /proc/PID/stat: a cost that reads the same whatever the machine's
# speed. The origin is an nginx of its own, so the front's CPU is the hop's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
herd_bin=${HERD_BIN:-$repo/.build/release/herd}
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-"16 128"}
runs=${BENCH_RUNS:-3}
file=/system/media_attachments/files/000/000/003/original/water.jpg
source "$repo/bench/lib.sh"
bench_init passthrough
origin_port=$(free_port); front_port=$(free_port)
"$repo/scripts/render-nginx.sh" "$run" "http://127.0.0.1:$origin_port" "$run/herd.sock"

# The origin: files from disk, in an nginx of its own.
mkdir -p "$run/origin/tmp"
cat >"$run/origin/nginx.conf" <<NGINX
$(run=$run/origin nginx_main_context 4096)
http {
    access_log off;
    $(run=$run/origin nginx_temp_paths)
    server {
        listen 127.0.0.1:$origin_port;
        root $repo/demo/media;
        keepalive_requests 100000;
    }
}
NGINX
"$nginx_bin" -p "$run/origin/" -c "$run/origin/nginx.conf" &
pids+=($!)

cat >"$run/nginx.conf" <<NGINX
$(nginx_main_context 4096)
http {
    access_log off;
    $(nginx_temp_paths)
    upstream origin { server 127.0.0.1:$origin_port; keepalive 64; }
    upstream herd { server unix:$run/herd.sock; keepalive 64; }
    include herd/http/accept-variant.conf;
    include herd/http/cluster.conf;
    include herd/http/app-key.conf;
    include herd/http/request-id.conf;
    include herd/install/image-formats.conf;
    include herd/http/image-variant.conf;
    include herd/http/bypass.conf;
    include herd/http/variables-hash.conf;
    server {
        listen 127.0.0.1:$front_port;
        keepalive_requests 100000;
        location /direct/ {
            proxy_pass http://origin/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        # herd's media route with the shipped FastCGI parameters, cache off.
        include herd/server/defaults.conf;
        location /system/ { include herd/server/media-fastcgi.conf; }
    }
}
NGINX
"$nginx_bin" -p "$run/" -c "$run/nginx.conf" &
front_pid=$!
pids+=($front_pid)
# Single flight and the source cache off: every request is a real origin
# fetch through herd, which is what this compares (with them on, repeated
# requests for one file would not reach the origin at all).
"$herd_bin" --upstream "http://127.0.0.1:$origin_port" --bind "$run/herd.sock" --set server.socket_mode=0666 \
  --set cache.single_flight=false ${BENCH_HERD_ARGS:-} 2>"$run/herd.log" &
herd_pid=$!
pids+=($herd_pid)
for _ in $(seq 100); do [[ -S $run/herd.sock ]] && curl -sf -o /dev/null "http://127.0.0.1:$front_port$file" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$front_port/direct$file" || { echo "direct path broken"; exit 1; }
bytes=$(curl -s "http://127.0.0.1:$front_port$file" | wc -c)

# CPU ticks (user + system) a process and its children threads have used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The front nginx's worker (its only child): the proxy hop's CPU.
front_worker() { pgrep -P "$front_pid" | head -1; }
ticks_per_second=$(getconf CLK_TCK)

# One wrk run → "rps p50_ms p99_ms errors herd_cpu_s_per_1k nginx_cpu_s_per_1k".
measure() {
  local url=$1 conns=$2 out worker herd_before nginx_before
  worker=$(front_worker)
  herd_before=$(cpu_ticks "$herd_pid"); nginx_before=$(cpu_ticks "$worker")
  out=$(wrk -t2 -c"$conns" -d"$duration" --latency "$url")
  local herd_ticks=$(( $(cpu_ticks "$herd_pid") - herd_before )) nginx_ticks=$(( $(cpu_ticks "$worker") - nginx_before ))
  local rps p50 p99 errors requests
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",",""); n+=$4+$6+$8+$10} END {print n+0}' <<<"$out")
  if (( errors > 0 )); then
    # Say what the errors were: wrk's count, herd's answers other than 200, nginx's complaints.
    { echo "errors on $url ($conns connections):"; grep -E "Socket errors|Non-2xx" <<<"$out"
      grep ' request' "$run/herd.log" | grep -v 'http.status=200' | tail -3; tail -3 "$run/error.log"; } >&2
  fi
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $errors" \
    "$(awk -v t="$herd_ticks" -v hz="$ticks_per_second" -v n="$requests" 'BEGIN {printf "%.3f", t / hz / n * 1000}')" \
    "$(awk -v t="$nginx_ticks" -v hz="$ticks_per_second" -v n="$requests" 'BEGIN {printf "%.3f", t / hz / n * 1000}')"
}
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /ms$/) { sub("ms","",v); print v } else if (v ~ /us$/) { sub("us","",v); print v/1000 } else if (v ~ /s$/) { sub("s","",v); print v*1000 } else print v }'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "bench-passthrough: ${bytes}-byte JPEG, wrk -t2 -d$duration, median of $runs runs, $(nproc) cores, nginx $("$nginx_bin" -v 2>&1 | sed 's/.*\///'), herd $("$herd_bin" -V | cut -d' ' -f2)"
printf '%-6s | %-28s | %-28s | %-11s | %s\n' "conns" "nginx → origin (direct)" "nginx → herd → origin" "herd/direct" "CPU s per 1,000 requests"
printf '%-6s | %-28s | %-28s | %-11s | %s\n' "" "req/s   p50 ms  p99 ms  err" "req/s   p50 ms  p99 ms  err" "req/s" "nginx hop (direct)  nginx hop (herd)  herd"
for c in $connections; do
  : >"$run/direct.$c"; : >"$run/herd.$c"
  for _ in $(seq "$runs"); do
    measure "http://127.0.0.1:$front_port/direct$file" "$c" >>"$run/direct.$c"
    measure "http://127.0.0.1:$front_port$file" "$c" >>"$run/herd.$c"
  done
  d_rps=$(cut -d' ' -f1 "$run/direct.$c" | median); h_rps=$(cut -d' ' -f1 "$run/herd.$c" | median)
  d_p50=$(cut -d' ' -f2 "$run/direct.$c" | median); h_p50=$(cut -d' ' -f2 "$run/herd.$c" | median)
  d_p99=$(cut -d' ' -f3 "$run/direct.$c" | median); h_p99=$(cut -d' ' -f3 "$run/herd.$c" | median)
  d_err=$(awk '{n+=$4} END {print n+0}' "$run/direct.$c"); h_err=$(awk '{n+=$4} END {print n+0}' "$run/herd.$c")
  ratio=$(awk -v h="$h_rps" -v d="$d_rps" 'BEGIN {printf "%.0f%%", 100*h/d}')
  d_nginx=$(cut -d' ' -f6 "$run/direct.$c" | median); h_nginx=$(cut -d' ' -f6 "$run/herd.$c" | median)
  h_herd=$(cut -d' ' -f5 "$run/herd.$c" | median)
  printf '%-6s | %7.0f %7.2f %7.2f %4d | %7.0f %7.2f %7.2f %4d | %-11s | %18.3f %17.3f %5.3f\n' "$c" "$d_rps" "$d_p50" "$d_p99" "$d_err" \
    "$h_rps" "$h_p50" "$h_p99" "$h_err" "$ratio" "$d_nginx" "$h_nginx" "$h_herd"
done
echo "herd RSS after the run: $(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$herd_pid/status), peak $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$herd_pid/status)"
echo "target: herd ≥ 60% of direct req/s at 128 connections, 0 errors"
