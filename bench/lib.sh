# Pieces scripts/bench and bench/routing/run share. Source after ../shared/bench/peers.sh
# (bench_cert, BENCH_DIR).

# An HTTPS upstream: nginx answering like the peers' backend, over TLS on :18444, with the
# peers' certificate (verified by Cloakroom against tls.ca). Its PID is in
# $BENCH_DIR/tls-backend/pid; stop it with tls_backend_stop.
tls_backend_start() {
  bench_cert
  mkdir -p "$BENCH_DIR/tls-backend/logs"
  cat >"$BENCH_DIR/tls-backend/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $BENCH_DIR/tls-backend/pid; error_log $BENCH_DIR/tls-backend/logs/error.log crit;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:18444 ssl reuseport;
    ssl_certificate $BENCH_DIR/tls.crt; ssl_certificate_key $BENCH_DIR/tls.key;
    location / { default_type application/json; return 200 '{"ok":true,"user":"\$http_x_user_id"}'; }
    location = /login {
      add_header Session-Login '{"sub":"alice","email":"alice@example.com","roles":["admin","dev"]}';
      default_type application/json; return 200 '{"ok":true}';
    }
  }
}
CONF
  nginx -c "$BENCH_DIR/tls-backend/nginx.conf" -p "$BENCH_DIR/tls-backend" >/dev/null 2>&1 &
}

tls_backend_stop() {
  [ -f "$BENCH_DIR/tls-backend/pid" ] && kill "$(cat "$BENCH_DIR/tls-backend/pid")" 2>/dev/null
  return 0
}

# 1,000 routes: 997 host routes over 100 hosts (exact and *.wildcard names), then
# api.example.com/api/ (route 998, the one measured), secure.example.com/api/ (the HTTPS
# upstream) and a catch-all. Prints the `routes:` section.
large_routes_yaml() {
  local paths=(/static/ /admin/ /v1/ /v2/ /docs/ /health /metrics /assets/ /a/b/c/ /z/) count=0 h p host
  echo "routes:"
  for h in $(seq 0 99); do
    if (( h % 10 == 1 )); then host="\"*.zone$h.example.com\""; else host="svc$h.example.com"; fi
    for p in "${paths[@]}"; do
      (( count < 997 )) || break
      echo "  - { host: $host, path: $p, upstream: api, auth: required }"
      count=$((count + 1))
    done
  done
  echo "  - { host: api.example.com, path: /api/, upstream: api, auth: required }"
  echo "  - { host: secure.example.com, path: /api/, upstream: secure, auth: required }"
  echo "  - { path: /, upstream: api, auth: required }"
}
