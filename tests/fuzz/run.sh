#!/usr/bin/env bash
# Runs one libFuzzer target for a while and prints a summary.
#
#   tests/fuzz/run.sh BUILD_DIR TARGET SECONDS [extra libFuzzer flags...]
#   e.g. tests/fuzz/run.sh build-fuzz sip_msg 600
#
# BUILD_DIR is a tree configured with -DWSIP_LIBFUZZER=ON (make fuzz-build).
# The working corpus is BUILD_DIR/fuzz-corpus/TARGET (kept between runs, so
# coverage accumulates); it is seeded read-only from tests/fuzz/corpus/TARGET
# and from the shared standards corpus (CORPUS, default ../shared/corpus).
# Crashes, leaks, timeouts and OOMs go to tests/fuzz/artifacts/TARGET/
# (gitignored) and are kept; the exit status is non-zero when one was found.
set -uo pipefail

# The body is one function so that bash has read all of it before a long run
# starts: editing this file while a fuzzer runs cannot derail the summary.
main() {
    if [ $# -lt 3 ]; then
        echo "usage: $0 BUILD_DIR TARGET SECONDS [libFuzzer flags...]" >&2
        exit 2
    fi
    build=$1 target=$2 secs=$3
    shift 3

    here=$(cd "$(dirname "$0")" && pwd)
    repo=$(cd "$here/../.." && pwd)
    case $build in /*) ;; *) build=$PWD/$build ;; esac
    bin=$build/tests/fuzz/fuzz_$target
    corpus_shared=${CORPUS:-$(cd "$repo/.." && pwd)/shared/corpus}

    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin not found; build it with 'make fuzz-build'" >&2
        echo "run.sh: targets here: $(cd "$here" && ls fuzz_*.c 2>/dev/null | sed 's/^fuzz_//; s/\.c$//' | tr '\n' ' ')" >&2
        exit 2
    fi
    case $secs in '' | *[!0-9]*)
        echo "run.sh: SECONDS must be a number" >&2
        exit 2
        ;;
    esac

    work=$build/fuzz-corpus/$target
    shared_seeds=$build/fuzz-corpus/$target-shared
    artifacts=$repo/tests/fuzz/artifacts/$target
    log=$build/fuzz-$target.log
    mkdir -p "$work" "$shared_seeds" "$artifacts"

    # Shared-corpus files that make sense as seeds for this target (the same
    # choice the replay test makes through wsip_fuzz_seed_exts).
    seed_filter() {
        case $target in
        digest) ;; # header values only: the shared files are whole messages / TSVs
        sip_msg) find "$corpus_shared" -type f \( -name '*.sip' -o -path '*/archive-lf/*' \) ;;
        *) find "$corpus_shared" -type f -name '*.sip' ;;
        esac
    }
    nshared=0
    if [ -d "$corpus_shared" ]; then
        while IFS= read -r f; do
            rel=${f#"$corpus_shared"/}
            cp -f "$f" "$shared_seeds/${rel//\//__}"
            nshared=$((nshared + 1))
        done < <(seed_filter 2>/dev/null)
    else
        echo "run.sh: shared corpus $corpus_shared not found, using the target's seeds only" >&2
    fi

    dirs=("$work")
    nown=0
    if [ -d "$here/corpus/$target" ]; then
        dirs+=("$here/corpus/$target")
        nown=$(find "$here/corpus/$target" -type f | wc -l)
    fi
    [ "$nshared" -gt 0 ] && dirs+=("$shared_seeds")

    flags=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
           -artifact_prefix="$artifacts/")
    # Whole messages: room to cross the 8 KiB line limits (libFuzzer's default
    # would be the largest seed).
    [ "$target" = sip_msg ] && flags+=(-max_len=12288)
    # Dictionaries: tests/fuzz/TARGET.dict if there is one, else sip.dict for
    # the SIP targets.
    if [ -f "$here/$target.dict" ]; then
        flags+=(-dict="$here/$target.dict")
    elif [ "$target" != digest ]; then
        flags+=(-dict="$here/sip.dict")
    fi

    before=$(mktemp)
    trap 'rm -f "$before"' EXIT
    ls -1 "$artifacts" >"$before"

    echo "run.sh: fuzz_$target for ${secs}s; seeds: $nown own, $nshared shared; corpus $work"
    echo "run.sh: log $log"
    start=$(date +%s)
    "$bin" "${flags[@]}" "$@" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    end=$(date +%s)

    new=$(ls -1 "$artifacts" | grep -vxF -f "$before" || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    if [ -z "$execs" ]; then
        execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
    fi

    echo "================ fuzz_$target summary ================"
    printf '  time      %ss (asked %ss)\n' "$((end - start))" "$secs"
    printf '  execs     %s (%s/s)\n' "${execs:-?}" "${speed:-?}"
    printf '  coverage  cov %s, ft %s, corpus %s\n' "${cov:-?}" "${ft:-?}" "${corp:-?}"
    printf '  peak rss  %s MB\n' "${rss:-?}"
    if [ -n "$new" ]; then
        echo "  FOUND $(wc -l <<<"$new") artifact(s):"
        while IFS= read -r a; do
            echo "    $artifacts/$a ($(stat -c %s "$artifacts/$a") bytes)"
        done <<<"$new"
        grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|invariant failed|ALARM|out-of-memory' "$log" |
            head -5 | sed 's/^/  /'
        echo "  minimise: $bin -minimize_crash=1 -runs=10000 -exact_artifact_path=OUT CRASHFILE"
        echo "  then keep OUT as tests/fuzz/corpus/$target/crash-<what> (see tests/fuzz/README.md)"
        [ $rc -eq 0 ] && rc=1
    elif [ $rc -ne 0 ]; then
        echo "  libFuzzer exited with status $rc and no artifact; see $log"
        tail -20 "$log" | sed 's/^/  /'
    else
        echo "  no crashes"
    fi
    return $rc
}

main "$@"
exit $?
