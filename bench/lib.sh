# Shared by the bench scripts (source it): a run directory under /tmp, the
# processes a script starts (stopped by pid on exit), free loopback ports,
# and the nginx lines every bench config needs.
#   bench_init NAME   → $run, $pids, $nginx_bin, $user_line; cleanup on exit
#                       (BENCH_KEEP=1 keeps $run for a look afterwards)
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

bench_init() {
  run=$(mktemp -d "/tmp/herd-bench-$1.XXXXXX")
  chmod 755 "$run"
  mkdir -p "$run/tmp"
  pids=()
  user_line=""
  if [[ $(id -u) -eq 0 ]]; then user_line="user root root;"; fi
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n "${BENCH_KEEP:-}" ]] || rm -rf "$run"
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# The main context of an nginx that runs out of $run, in the foreground, as
# scripts/render-nginx.sh writes it (the one renderer).
#   nginx_main_context WORKER_CONNECTIONS
nginx_main_context() {
  NGINX_CONNECTIONS=$1 "$repo/scripts/render-nginx.sh" --scratch "$run"
  echo "include $run/scratch-main.conf;"
}

# Its temp paths, for http {} (after nginx_main_context).
nginx_temp_paths() {
  echo "include $run/scratch-http.conf;"
}
