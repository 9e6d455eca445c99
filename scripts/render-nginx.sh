#!/usr/bin/env bash
# Copies deploy/nginx into DIR/herd with the install paths pointed at DIR,
# for the demo and the benchmarks (the tests do the same in Swift):
#
#   scripts/render-nginx.sh DIR ORIGIN_URL SOCKET [SOCKET…]
#
# ORIGIN_URL is where the app runs (http://127.0.0.1:PORT, or a real
# https:// instance); each SOCKET becomes a `server` of `upstream herd`.
set -euo pipefail
dir=$1; origin=$2; shift 2
repo=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dir/herd"
cp -r "$repo/deploy/nginx" "$dir/herd"
mkdir -p "$dir/cache" "$dir/tmp"
scheme=${origin%%://*}
hostport=${origin#*://}; hostport=${hostport%%/*}
host=${hostport%%:*}
if [[ $hostport != *:* ]]; then
  [[ $scheme == https ]] && hostport="$hostport:443" || hostport="$hostport:80"
fi
servers=""
for socket in "$@"; do servers+="    server unix:$socket max_fails=0;\n"; done
find "$dir/herd" -name '*.conf' -print0 | while IFS= read -r -d '' file; do
  sed -i -e "s|/var/cache/nginx/herd|$dir/cache|g" \
         -e "s|/etc/nginx/herd/errors|$dir/herd/errors|g" \
         -e "s|127.0.0.1:3000|$hostport|g" -e "s|127.0.0.1:4000|$hostport|g" "$file"
done
python3 - "$dir/herd/http/upstream-herd.conf" "$servers" <<'PY'
import sys
path, servers = sys.argv[1], sys.argv[2].replace("\\n", "\n")
text = open(path).read()
old = "    server unix:/run/herd/herd-0.sock max_fails=0;\n    server unix:/run/herd/herd-1.sock max_fails=0;\n"
open(path, "w").write(text.replace(old, servers))
PY
if [[ $scheme == https ]]; then
  # A remote origin over TLS: its own Host name and SNI.
  sed -i -e "s|proxy_pass http://herd_app;|proxy_pass https://herd_app;\nproxy_ssl_server_name on;\nproxy_ssl_name $host;|" \
         -e "s|proxy_set_header Host              \$host;|proxy_set_header Host              $host;|" \
         "$dir/herd/server/proxy-app.conf"
  sed -i -e "s|proxy_pass http://herd_streaming;|proxy_pass https://herd_streaming;\n    proxy_ssl_server_name on;\n    proxy_ssl_name $host;|" \
         "$dir/herd/server/streaming.conf"
fi
