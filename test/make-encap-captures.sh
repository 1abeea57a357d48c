#!/usr/bin/env bash
# Makes the tunnel captures in testdata/captures (issue 17, VPC Traffic
# Mirroring): the same HTTP traffic captured plain and encapsulated.
#
# The client and server namespaces talk over the kernel's own vxlan device
# (VNI 42, UDP 4789) on top of a veth pair, so one run records both views in
# the server namespace: encap-plain.pcap on the vxlan device (the inner
# Ethernet frames) and encap-vxlan.pcap on the veth (VXLAN in UDP in IPv4).
# The replay test (cmd/xray-capture TestEncapsulatedMatchesPlain) checks that
# both give the same segments.
#
# GENEVE, gretap and ERSPAN (types I, II, III): where the kernel has the
# device type (checked with `ip link add ... type geneve` etc.), the frames
# of the vxlan device are mirrored into such a device with tc mirred, and the
# underlay carries them encapsulated by the kernel; where it lacks the type
# (the 6.18 kernel of CI has only vxlan), the capture is made instead by
# re-encapsulating encap-plain.pcap in Go (test/capturegen encap), and this
# script says so. ERSPAN type I has no kernel device: always built in Go.
#
# Needs root, tcpdump, curl, ip, tc. Addresses are from the documentation
# ranges and exist only inside the namespaces. Refresh the goldens after:
#   go test ./cmd/xray-capture -run 'TestGolden|TestEncapsulated' -update
set -euo pipefail
cd "$(dirname "$0")/.."
out=testdata/captures
mkdir -p "$out"
source test/lib-captures.sh
require make-encap-captures "tcpdump curl iproute2" tcpdump curl ip tc
namespaces xenc-srv xenc-cli

S() { ip netns exec "$srv" "$@"; }
C() { ip netns exec "$cli" "$@"; }

ip netns add "$srv"
ip netns add "$cli"
# The underlay: 198.51.100.0/24.
ip link add xe0 type veth peer name xe1
ip link set xe0 netns "$srv"
ip link set xe1 netns "$cli"
S ip addr add 198.51.100.1/24 dev xe0
C ip addr add 198.51.100.2/24 dev xe1
S ip link set xe0 up
C ip link set xe1 up
S ip link set lo up
C ip link set lo up
# The overlay: the app's addresses on the vxlan device.
S ip link add vx0 type vxlan id 42 dstport 4789 local 198.51.100.1 remote 198.51.100.2 dev xe0
C ip link add vx0 type vxlan id 42 dstport 4789 local 198.51.100.2 remote 198.51.100.1 dev xe1
S ip addr add 192.0.2.1/24 dev vx0
C ip addr add 192.0.2.2/24 dev vx0
S ip -6 addr add 2001:db8::1/64 dev vx0 nodad
C ip -6 addr add 2001:db8::2/64 dev vx0 nodad
S ip link set vx0 up
C ip link set vx0 up
# MTU-sized packets, as a mirror session delivers them, not 64 KB
# super-packets.
if command -v ethtool >/dev/null; then
  for d in xe0 vx0; do
    S ethtool -K "$d" tso off gso off gro off >/dev/null 2>&1 || true
    C ethtool -K "$d" tso off gso off gro off >/dev/null 2>&1 || true
  done
fi

# Kernel devices for the other tunnels, where this kernel has them: each
# gets a copy of every frame of vx0 (tc mirred), sent to the client side's
# underlay address, where nothing listens.
declare -A kernel=()
add_dev() {
  local kind=$1; shift
  if S ip link add "t-$kind" "$@" 2>/dev/null; then
    S ip link set "t-$kind" up
    kernel[$kind]=1
  fi
}
add_dev geneve type geneve id 42 remote 198.51.100.2
add_dev gretap type gretap local 198.51.100.1 remote 198.51.100.2 key 7
add_dev erspan2 type erspan local 198.51.100.1 remote 198.51.100.2 seq key 5 erspan_ver 1 erspan 5
add_dev erspan3 type erspan local 198.51.100.1 remote 198.51.100.2 seq key 6 erspan_ver 2 erspan_dir ingress erspan_hwid 3
if [ ${#kernel[@]} -gt 0 ]; then
  S tc qdisc add dev vx0 clsact
  for kind in "${!kernel[@]}"; do
    S tc filter add dev vx0 ingress u32 match u32 0 0 action mirred egress mirror dev "t-$kind"
    S tc filter add dev vx0 egress u32 match u32 0 0 action mirred egress mirror dev "t-$kind"
  done
fi

go build -o "$tmp/capturegen" ./test/capturegen
ip netns exec "$srv" "$tmp/capturegen" server -addr :8080 &
pids+=($!)
for i in $(seq 50); do C curl -s -m 1 -o /dev/null http://192.0.2.1:8080/hello 2>/dev/null && break; sleep 0.1; done

# tcpdump NAME IFACE FILTER: record in the server namespace, in the
# background, until stop_all.
tds=()
record() {
  local name=$1 iface=$2 filter=$3
  ip netns exec "$srv" tcpdump -Z root -i "$iface" --immediate-mode -U -s 0 -w "$out/$name.pcap" "$filter" 2>"$tmp/$name.log" &
  tds+=("$!:$name")
  for i in $(seq 50); do grep -q 'listening on' "$tmp/$name.log" && break; sleep 0.1; done
}
record encap-plain vx0 'tcp port 8080'
record encap-vxlan xe0 'udp dst port 4789'
[ -n "${kernel[geneve]:-}" ] && record encap-geneve xe0 'udp dst port 6081'
[ -n "${kernel[gretap]:-}" ] && record encap-gretap xe0 'ip proto 47 and ip[22:2] = 0x6558'
[ -n "${kernel[erspan2]:-}" ] && record encap-erspan2 xe0 'ip proto 47 and ip[22:2] = 0x88be'
[ -n "${kernel[erspan3]:-}" ] && record encap-erspan3 xe0 'ip proto 47 and ip[22:2] = 0x22eb'

s=http://192.0.2.1:8080
C curl -s -o /dev/null -A 'curl/mirror' $s/hello \
  --next -s -o /dev/null "$s/status/404?from=mirror" \
  --next -s -o /dev/null $s/status/503 \
  --next -s -o /dev/null -X POST -d 'a=1&b=2' $s/echo
C curl -s -o /dev/null -X PUT --data-binary @<(head -c 3000 /dev/zero | tr '\0' 'x') $s/echo
C curl -s -o /dev/null -g 'http://[2001:db8::1]:8080/v6'
sleep 1

for td in "${tds[@]}"; do
  pid=${td%%:*} name=${td#*:}
  kill -INT "$pid"
  wait "$pid" || true
  grep -q "^0 packets dropped by kernel" "$tmp/$name.log" || { echo "make-encap-captures: tcpdump dropped packets for $name" >&2; exit 1; }
  echo "$name: $(grep 'packets captured' "$tmp/$name.log") (kernel)"
done

for kind in geneve gretap erspan1 erspan2 erspan3; do
  if [ -z "${kernel[$kind]:-}" ]; then
    "$tmp/capturegen" encap -kind "$kind" -in "$out/encap-plain.pcap" -out "$out/encap-$kind.pcap"
    why="this kernel has no $kind device"
    [ "$kind" = erspan1 ] && why="Linux has no ERSPAN type I device"
    echo "encap-$kind: $why; re-encapsulated encap-plain.pcap in Go (test/capturegen encap)"
  fi
done
