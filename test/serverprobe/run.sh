#!/bin/sh
# Sends odd request lines to nginx, Go net/http, Node's http (llhttp) and
# Werkzeug's development server (Python http.server), and prints what each
# answered: the status codes of the answers to the odd request and to a
# well-formed GET pipelined after it, and whether the server then closed.
# The output is the server columns of the table in docs/http-parsing.md.
# Needs nginx, go, node and python3 with werkzeug; no root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

cat >"$tmp/nginx.conf" <<CONF
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $tmp;
  server { listen 127.0.0.1:18081; location / { return 200 "ok\n"; } }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" &
pids="$pids $!"

(cd "$here" && go build -o "$tmp/serverprobe" .)
"$tmp/serverprobe" serve-go 127.0.0.1:18082 &
pids="$pids $!"

node -e 'require("http").createServer((q, s) => s.end("ok\n")).listen(18083, "127.0.0.1")' &
pids="$pids $!"

python3 -c '
from werkzeug.serving import run_simple
def app(env, start):
    start("200 OK", [("Content-Length", "3")])
    return [b"ok\n"]
run_simple("127.0.0.1", 18084, app)' 2>/dev/null &
pids="$pids $!"

sleep 1.5
"$tmp/serverprobe" nginx=127.0.0.1:18081 go=127.0.0.1:18082 node=127.0.0.1:18083 werkzeug=127.0.0.1:18084
