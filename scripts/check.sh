#!/usr/bin/env bash
# Builds wsip twice (normal, then ASan+UBSan with clang) and runs the whole
# test suite in both; prints one summary and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
corpus=${CORPUS:-$(cd .. && pwd)/shared/corpus}

declare -A result
fail=0

run_config() {
    local name=$1 dir=$2; shift 2
    echo "=== [$name] configure + build ($dir)"
    mkdir -p "$dir"
    if ! cmake -S . -B "$dir" -DWSIP_CORPUS_DIR="$corpus" "$@" >"$dir/configure.log" 2>&1; then
        cat "$dir/configure.log"; result[$name]="configure failed"; fail=1; return
    fi
    if ! cmake --build "$dir" -j "$jobs"; then
        result[$name]="build failed"; fail=1; return
    fi
    echo "=== [$name] tests"
    if ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 600 2>&1 | tee "$dir/ctest.log"; then
        result[$name]=$(grep -E 'tests passed' "$dir/ctest.log" | tail -1)
    else
        result[$name]="FAILED: $(grep -E 'tests passed|tests failed' "$dir/ctest.log" | tail -1)"
        fail=1
    fi
}

mkdir -p build build-asan
echo "=== format check"
if clang-format --dry-run -Werror $(git ls-files '*.c' '*.h' 2>/dev/null) 2>format.log; then
    result[format]="clean"
else
    head -20 format.log; result[format]="FAILED (run make format)"; fail=1
fi
rm -f format.log

run_config normal build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSIP_BENCH=ON
run_config asan-ubsan build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DWSIP_SANITIZE=ON

echo
echo "================ make check summary ================"
for k in format normal asan-ubsan; do
    printf '  %-11s %s\n' "$k" "${result[$k]:-not run}"
done
if [ $fail -eq 0 ]; then echo "make check: ALL PASSED"; else echo "make check: FAILED"; fi
exit $fail
