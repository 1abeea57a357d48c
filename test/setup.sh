#!/usr/bin/env bash
# Installs what the full test suite uses on a Debian machine (run as root):
# the live-capture, conformance and deployment tests need these, the
# offline tests need only Go. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test/setup.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi
apt-get update -qq
# clang-19/llvm-19 regenerate the eBPF object; tcpdump, nginx and curl make
# the test captures and drive the end-to-end tests; iproute2 builds their
# network namespaces; util-linux has setpriv; libpcap-dev builds the pcap
# engine; python3-waitress serves the Flask oracle of the conformance test;
# systemd brings systemd-analyze, which checks the unit file.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  make clang-19 llvm-19 libpcap-dev tcpdump nginx-light curl iproute2 util-linux \
  python3-waitress systemd >/dev/null
# The conformance oracles: the machine's python3 must have Flask and the
# X-Ray SDK; the Express app's packages come from npm (the machine's node and
# npm) at the locked versions.
python3 -c 'import flask, aws_xray_sdk' || {
  echo "test/setup.sh: python3 cannot import flask and aws_xray_sdk (the conformance oracle)" >&2
  exit 1
}
(cd conformance && npm ci --no-audit --no-fund --loglevel=error)
