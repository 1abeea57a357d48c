#!/usr/bin/env bash
# The soak run: an hour (or $1) of mixed traffic against the live agent in
# network namespaces, with its memory sampled every twelfth of the run.
# Needs root. CI runs the same test for 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
d=${1:-1h}
XRAY_CAPTURE_PRIVILEGED=1 XRAY_CAPTURE_SOAK=$d go test -count=1 -v -run '^TestSoak$' -timeout 0 ./test/e2e
