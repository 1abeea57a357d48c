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
debs() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
# clang-19/llvm-19 regenerate the eBPF object; tcpdump, nginx and curl make
# the test captures and drive the end-to-end tests; iproute2 builds their
# network namespaces; util-linux has setpriv and unshare; libpcap-dev builds
# the pcap engine; python3-waitress serves the Flask oracle of the
# conformance test where the machine's python3 has Flask and the SDK but not
# waitress; systemd brings systemd-analyze, which checks the unit file.
debs make clang-19 llvm-19 libpcap-dev tcpdump nginx-light curl iproute2 util-linux \
  python3 python3-waitress systemd

# The Python oracle of the conformance test: Flask and aws-xray-sdk at the
# major.minor that conformance/requirements.txt pins. The machine's python3
# serves when it has them (Debian's own python3-aws-xray-sdk is 0.95 and
# does not); otherwise conformance/.venv gets the pinned set from a Python
# package index, and the test runs that venv's python.
oracle_ok() {
  "$1" - conformance/requirements.txt <<'PY'
import re, sys, importlib.metadata as md
pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", open(sys.argv[1]).read(), re.M))
for name in ("Flask", "aws-xray-sdk"):
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        sys.exit(f"{sys.executable}: no {name}")
    if have.split(".")[:2] != pins[name].split(".")[:2]:
        sys.exit(f"{sys.executable}: {name} {have}, want {pins[name]}")
import flask, aws_xray_sdk.ext.flask.middleware
PY
}
venv=conformance/.venv
if [ -n "${XRAY_CAPTURE_PYTHON:-}" ]; then
  oracle_ok "$XRAY_CAPTURE_PYTHON"
elif [ -x $venv/bin/python ] && oracle_ok $venv/bin/python 2>/dev/null; then
  echo "test/setup.sh: the conformance oracle is $venv/bin/python"
elif oracle_ok python3; then
  rm -rf $venv # the test would prefer it
else
  echo "test/setup.sh: installing the Python oracle into $venv (pip, conformance/requirements.txt)"
  debs python3-venv
  rm -rf $venv
  if ! { python3 -m venv $venv && $venv/bin/python -m pip install -q --disable-pip-version-check \
      -r conformance/requirements.txt && oracle_ok $venv/bin/python; }; then
    rm -rf $venv
    cat >&2 <<MSG
test/setup.sh: pip could not install the conformance oracle into $venv.
It needs a Python package index (set PIP_INDEX_URL for a mirror). Then run
  bash test/setup.sh
again, or do it by hand:
  python3 -m venv $venv && $venv/bin/python -m pip install -r conformance/requirements.txt
(or give the test another interpreter: XRAY_CAPTURE_PYTHON=/path/to/python).
MSG
    exit 1
  fi
fi

# The Node oracle: Express with the X-Ray SDK, at the versions of
# conformance/package-lock.json. Debian's nodejs and npm where the machine
# has none.
command -v npm >/dev/null || debs nodejs npm
(cd conformance && npm ci --no-audit --no-fund --loglevel=error)
