#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target of tests/fuzz once, then runs each one for N
# seconds (default 30, first argument) starting from the committed seeds in
# tests/fuzz/corpus/<target>/. Fails if any target crashes (panic, failed invariant, timeout,
# out-of-memory); the crashing input is left in tests/fuzz/artifacts/<target>/.
#
#   tests/fuzz/run-smoke.sh            # 30 s per target (CI)
#   tests/fuzz/run-smoke.sh 300        # a long run: 5 min per target
#   FUZZ_TARGETS="schedule_resolve" tests/fuzz/run-smoke.sh 60
#
# Only stable Rust is installed: cargo-fuzz passes nightly-only -Z flags to rustc, so the run
# sets RUSTC_BOOTSTRAP=1. FUZZ_SANITIZER (default: address) is handed to `cargo fuzz -s`; use
# `none` if the toolchain has no sanitizer runtime. FUZZ_FEATURES (default: controller) are the
# gatecast-fuzz features: `controller` builds the upload_metadata target, which links the whole
# controller (the largest part of the build); FUZZ_FEATURES= FUZZ_TARGETS="..." skips it.
# FUZZ_TARGET_DIR overrides the target dir (default tests/fuzz/target), e.g. a cached one.
set -euo pipefail

secs="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
fuzz_dir=tests/fuzz
sanitizer="${FUZZ_SANITIZER:-address}"
features="${FUZZ_FEATURES-controller}"
flags=(--fuzz-dir "$fuzz_dir" -s "$sanitizer")
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
    flags+=(--target-dir "$FUZZ_TARGET_DIR")
fi
if [ -n "$features" ]; then
    flags+=(--features "$features")
fi
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir "$fuzz_dir")}"
start=$(date +%s)
echo "fuzz: building all targets (sanitizer: $sanitizer, features: ${features:-none})"
cargo fuzz build "${flags[@]}"
echo "fuzz: build took $(( $(date +%s) - start ))s"

failed=()
summary=()
for t in $targets; do
    work="$fuzz_dir/corpus-work/$t"
    mkdir -p "$work" "$fuzz_dir/corpus/$t"
    log="$fuzz_dir/corpus-work/$t.log"
    echo "fuzz: $t for ${secs}s"
    # The scratch corpus comes first: libFuzzer writes new inputs there, the committed seeds
    # stay untouched. One process (-jobs not set = a single in-process fuzzer).
    if cargo fuzz run "${flags[@]}" "$t" "$work" "$fuzz_dir/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$t")
        tail -n 40 "$log" >&2
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    corpus=$(find "$work" -type f | wc -l)
    summary+=("$(printf '%-24s %-6s execs=%-10s cov=%-6s corpus=%s' "$t" "$status" "${execs:-?}" "${cov:-?}" "$corpus")")
done

echo "fuzz: summary (${secs}s per target, $(( $(date +%s) - start ))s in all)"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $fuzz_dir/artifacts/)" >&2
    exit 1
fi
echo "fuzz: no crashes"
