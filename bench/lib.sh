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

# The same comparison for nginx: one nginx proxy (configured like the peers' nginx-proxy) on
# :18447 with a plain route (/ → the peers' backend) and an HTTPS one (/tls/ → :18444, verified
# against the same CA, keep-alive upstream connections), so nginx's HTTPS-upstream cost is
# measured the way Cloakroom's is. Its PID is in $BENCH_DIR/nginx-tls-proxy/pid.
nginx_tls_proxy_start() {
  local d=$BENCH_DIR/nginx-tls-proxy
  mkdir -p "$d/logs"
  cat >"$d/nginx.conf" <<CONF
daemon off; worker_processes 2; pid $d/pid; error_log $d/logs/error.log crit;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream plain { server 127.0.0.1:18080; keepalive 128; }
  upstream secure { server 127.0.0.1:18444; keepalive 128; }
  server {
    listen 127.0.0.1:18447 reuseport;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-User-Id "";
    location /tls/ {
      proxy_pass https://secure/;
      proxy_ssl_verify on; proxy_ssl_trusted_certificate $BENCH_DIR/tls.crt; proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
    }
    location / { proxy_pass http://plain; }
  }
}
CONF
  nginx -c "$d/nginx.conf" -p "$d" >/dev/null 2>&1 &
}

tls_backend_stop() {
  [ -f "$BENCH_DIR/tls-backend/pid" ] && kill "$(cat "$BENCH_DIR/tls-backend/pid")" 2>/dev/null
  [ -f "$BENCH_DIR/nginx-tls-proxy/pid" ] && kill "$(cat "$BENCH_DIR/nginx-tls-proxy/pid")" 2>/dev/null
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
