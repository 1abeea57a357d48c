#!/usr/bin/env bash
# Makes the test captures in testdata/captures: real servers (Go net/http,
# nginx) and real clients (curl, a raw-socket client for what curl will not
# send) talk across a veth pair between two network namespaces while tcpdump
# records the server side. Needs root, tcpdump, nginx and curl. Addresses are
# from the documentation ranges (192.0.2.0/24, 2001:db8::/32) and exist only
# inside the namespaces.
#
# With names (test/make-captures.sh services ...), it makes only those
# captures, leaving the others as they are.
#
# After running it, refresh the goldens:
#   go test ./cmd/xray-capture -run TestGolden -update
set -euo pipefail
only=("$@")
wanted() {
  [ ${#only[@]} -eq 0 ] && return 0
  local n
  for n in "${only[@]}"; do [ "$n" = "$1" ] && return 0; done
  return 1
}
cd "$(dirname "$0")/.."
out=testdata/captures
mkdir -p "$out"
source test/lib-captures.sh
require make-captures "tcpdump nginx-light curl iproute2" tcpdump nginx curl ip
namespaces xcgen-srv xcgen-cli

ip netns add "$srv"
ip netns add "$cli"
ip link add xcg0 type veth peer name xcg1
ip link set xcg0 netns "$srv"
ip link set xcg1 netns "$cli"
ip -n "$srv" addr add 192.0.2.1/24 dev xcg0
# A second server address, for naming by address.
ip -n "$srv" addr add 192.0.2.3/24 dev xcg0
ip -n "$cli" addr add 192.0.2.2/24 dev xcg1
ip -n "$srv" -6 addr add 2001:db8::1/64 dev xcg0 nodad
ip -n "$cli" -6 addr add 2001:db8::2/64 dev xcg1 nodad
for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set xcg0 up
ip -n "$cli" link set xcg1 up
# Segmentation offload would hand tcpdump 64 KB super-packets; real NICs
# send MTU-sized ones.
if command -v ethtool >/dev/null; then
  ip netns exec "$srv" ethtool -K xcg0 tso off gso off gro off >/dev/null 2>&1 || true
  ip netns exec "$cli" ethtool -K xcg1 tso off gso off gro off >/dev/null 2>&1 || true
fi

go build -o "$tmp/capturegen" ./test/capturegen
ip netns exec "$srv" "$tmp/capturegen" server -addr :8080 &
pids+=($!)

mkdir -p "$tmp/www"
printf 'static file served by nginx\n' > "$tmp/www/static.txt"
touch -d '2020-01-01 00:00:00 UTC' "$tmp/www/static.txt"
cat > "$tmp/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events {}
http {
  access_log off;
  server_tokens off;
  server {
    listen 80;
    listen [::]:80;
    root $tmp/www;
    etag off;
    if_modified_since before;
    location = /empty { return 204; }
    location = /limited { return 429 "slow down\n"; }
  }
}
CONF
ip netns exec "$srv" nginx -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)

for i in $(seq 50); do
  ip netns exec "$cli" curl -s -o /dev/null http://192.0.2.1:8080/hello &&
    ip netns exec "$cli" curl -s -o /dev/null http://192.0.2.1/static.txt && break
  sleep 0.1
done

c() { ip netns exec "$cli" "$@"; }
gen() { c "$tmp/capturegen" "$@"; }
s=http://192.0.2.1:8080
n=http://192.0.2.1

# capture NAME COMMAND...: record the server side while COMMAND runs.
capture() {
  local name=$1; shift
  wanted "$name" || return 0
  ip netns exec "$srv" tcpdump -Z root -i xcg0 --immediate-mode -U -s 0 -w "$out/$name.pcap" 'tcp port 80 or tcp port 8080' 2>"$tmp/tcpdump.log" &
  local td=$!
  for i in $(seq 50); do grep -q 'listening on' "$tmp/tcpdump.log" && break; sleep 0.1; done
  "$@"
  sleep 1
  kill -INT "$td"
  wait "$td" || true
  grep -q "^0 packets dropped by kernel" "$tmp/tcpdump.log" || { echo "make-captures: tcpdump dropped packets for $name" >&2; exit 1; }
  echo "$name: $(grep 'packets captured' "$tmp/tcpdump.log")"
}

keepalive() {
  c curl -s -o /dev/null -A 'curl/keepalive' $s/hello \
    --next -s -o /dev/null -A 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' "$s/status/404?secret=1" \
    --next -s -o /dev/null -H 'User-Agent:' $s/status/429 \
    --next -s -o /dev/null $s/status/500 \
    --next -s -o /dev/null $s/status/503 \
    --next -s -o /dev/null -X POST -d 'a=1&b=2' $s/echo \
    --next -s -o /dev/null -X PUT --data-binary 'put body' $s/echo \
    --next -s -o /dev/null -X DELETE $s/hello \
    --next -s -o /dev/null -I $s/hello \
    --next -s -o /dev/null "$s/a%20b/%E2%82%AC?q=1"
}
capture keepalive keepalive
capture pipelined gen client -addr 192.0.2.1:80 -scenario pipelined
capture nginx-statuses c curl -s -o /dev/null $n/static.txt --next -s -o /dev/null -I $n/static.txt \
  --next -s -o /dev/null $n/empty --next -s -o /dev/null $n/limited \
  --next -s -o /dev/null -H 'If-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT' $n/static.txt
head -c 3000 /dev/zero | tr '\0' 'x' > "$tmp/body"
capture chunked c curl -s -o /dev/null -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/body" $s/echo \
  --next -s -o /dev/null $s/chunked
capture continue c curl -s -o /dev/null -H 'Expect: 100-continue' --data-binary @"$tmp/body" $s/echo
capture close-delimited gen client -addr 192.0.2.1:8080 -scenario close-delimited
capture xff gen client -addr 192.0.2.1:8080 -scenario xff
capture traceheader gen client -addr 192.0.2.1:8080 -scenario traceheader
capture dynamic gen client -addr 192.0.2.1:8080 -scenario dynamic
capture ipv6 c curl -s -o /dev/null -6 'http://[2001:db8::1]:8080/hello' --next -s -o /dev/null -6 'http://[2001:db8::1]:8080/status/503'
capture reset gen client -addr 192.0.2.1:8080 -scenario reset
# Several services on one host: two ports (Go on 8080, nginx on 80), two
# IPv4 addresses and IPv6, and Host headers for dynamic naming.
capture services c curl -s -o /dev/null $s/hello --next -s -o /dev/null -H 'Host: api.example.com' $s/status/404 \
  --next -s -o /dev/null $n/static.txt --next -s -o /dev/null -H 'Host: www.example.com' $n/limited \
  --next -s -o /dev/null http://192.0.2.3:8080/status/503 --next -s -o /dev/null http://192.0.2.3/empty \
  --next -s -o /dev/null -6 'http://[2001:db8::1]:8080/hello' --next -s -o /dev/null -6 'http://[2001:db8::1]/static.txt'
# A capture that starts after the handshake and the first request.
if wanted midstream; then
  "$tmp/capturegen" cut -in "$out/keepalive.pcap" -out "$out/midstream.pcap" -skip 4
fi
ls -l "$out"/*.pcap
