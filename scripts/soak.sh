#!/usr/bin/env bash
# The soak variant of the hostile-traffic tests: the SYN flood and the
# out-of-order flood FLOWTAP_SOAK times larger (default 50: 3 million SYNs,
# 20,000 segments per connection), the same bounds asserted, the measured
# peaks printed.
#
#   scripts/soak.sh [K]
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWTAP_SOAK=${1:-50} cargo test --release -p flowtap-core --test hostile -- --nocapture --test-threads 1
