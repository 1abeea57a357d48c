#!/usr/bin/env bash
# Runs every fuzz target for a bounded number of inputs (about ten seconds
# each on a 2-core machine). A failure leaves its input under the package's
# testdata/fuzz/, where `go test` replays it from then on: commit it with
# the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { go test -run '^$' -fuzz "^$2\$" -fuzztime "$3" "./$1"; }
run httpparse FuzzFeed 400000x
run capture FuzzDecode 250000x
run reassembly FuzzStream 60000x
run segmenter FuzzPairing 8000x
run xray FuzzTraceHeader 300000x
run naming FuzzWildcardMatch 300000x
run naming FuzzParseService 200000x
