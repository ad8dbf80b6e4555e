#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 600), one
# after another, and prints a table: target, executions, corpus size,
# findings (new files in fuzz/artifacts/<target>/: crash-, oom-, timeout-,
# leak-). libFuzzer runs in fork mode with crashes/OOMs/timeouts ignored, so
# one finding does not end a target's run early; every finding is kept.
#
#   scripts/fuzz.sh [SECONDS]        all targets
#   TARGETS="decode flow" scripts/fuzz.sh 60
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# The corpora are seeded from /work/shared/corpus/*.pcap* (CORPUS_SRC) and
# examples/ by the seedgen binary the first time a target's corpus is empty.
# Logs go to fuzz/logs/<target>.log. Set CARGO_TARGET_DIR to share a build
# directory.
set -euo pipefail

SECS=${1:-600}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=$ROOT/fuzz
CORPUS_SRC=${CORPUS_SRC:-/work/shared/corpus}
ALL="capture decode defrag flow reassembly session_http session_dns session_tls analyze"
TARGETS=${TARGETS:-$ALL}
TDIR=${CARGO_TARGET_DIR:-$FUZZ/target}
TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')

cd "$FUZZ"
mkdir -p logs artifacts
echo "building fuzz targets (nightly, debug assertions on)…" >&2
cargo +nightly fuzz build -a >&2

for t in $TARGETS; do
    if [ -z "$(ls -A "corpus/$t" 2>/dev/null)" ]; then
        echo "seeding corpora…" >&2
        cargo +nightly build --release --bin seedgen >&2
        "$TDIR/release/seedgen" corpus "$CORPUS_SRC"/*.pcap* "$ROOT"/examples/*.pcap* >&2
        break
    fi
done

max_len() {
    case $1 in
        decode) echo 4096 ;;
        *) echo 65536 ;;
    esac
}

count_findings() {
    find "artifacts/$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' \
        -o -name 'timeout-*' -o -name 'leak-*' \) 2>/dev/null | wc -l
}

declare -A EXECS CORP FOUND
for t in $TARGETS; do
    mkdir -p "artifacts/$t" "corpus/$t"
    before=$(count_findings "$t")
    echo "fuzzing $t for ${SECS}s…" >&2
    # cargo fuzz run would rebuild; run the built binary directly.
    nice -n 19 "$TDIR/$TRIPLE/release/$t" "corpus/$t" \
        -artifact_prefix="artifacts/$t/" \
        -max_total_time="$SECS" -max_len="$(max_len "$t")" \
        -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"logs/$t.log" 2>&1 || true
    # Fork mode reports "#<execs>: cov: … corp: … time: …" lines.
    EXECS[$t]=$(grep -oE '^#[0-9]+: ' "logs/$t.log" | tail -1 | tr -dc 0-9)
    EXECS[$t]=${EXECS[$t]:-0}
    # libFuzzer's own corpus count (inputs adding coverage), not the files.
    CORP[$t]=$(grep -oE '^#[0-9]+: .* corp: [0-9]+' "logs/$t.log" | tail -1 | sed 's/.*corp: //')
    CORP[$t]=${CORP[$t]:-0}
    FOUND[$t]=$(($(count_findings "$t") - before))
done

printf '%-14s %14s %8s %9s\n' target executions corpus findings
for t in $TARGETS; do
    printf '%-14s %14s %8s %9s\n' "$t" "${EXECS[$t]}" "${CORP[$t]}" "${FOUND[$t]}"
done
