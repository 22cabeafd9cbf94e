#!/bin/sh
# Runs the long fault loops (the fault_* modules of tests/tests/it/) with GATECAST_FAULT_CYCLES
# cycles (default 100) and prints their FAULT-RESULT lines (cycles, receipts acked, lost,
# duplicated, corrupted activations, seconds), also kept in target/fault-results.txt.
#
#   tests/fault-loops.sh            # 100 cycles per loop
#   tests/fault-loops.sh 10         # a quicker pass
#   GATECAST_FAULT_SEED=123 tests/fault-loops.sh   # replay one random schedule
#
# Needs mosquitto for the broker loop (else that one loop prints SKIPPED), and root for the
# disk-full test's loop mount (else it prints SKIPPED). Loops run one after another.
set -eu
cd "$(dirname "$0")/.."
cycles="${1:-100}"
results="$(pwd)/target/fault-results.txt"
mkdir -p target
: > "$results"
start=$(date +%s)
GATECAST_FAULT_CYCLES="$cycles" GATECAST_FAULT_RESULTS="$results" \
  cargo test -p gatecast-tests \
    --test it fault_ \
    -- --test-threads 1 --nocapture 2>&1 | grep -E '^(test |FAULT-RESULT|SKIPPED|test result|.*panicked)' || true
echo "--- results ($cycles cycles, $(( $(date +%s) - start )) s in all) ---"
cat "$results"
