#!/bin/sh
# `wsip parse` against the corpus, as the issue's "done when" states it:
# exit 0 on every file of rfc4475/valid and rfc5118/valid, exit 1 on every
# file whose EXPECT.tsv verdict says it must be refused, valid JSON always,
# and no crash on anything in the corpus.
set -u
wsip=$1
corpus=$2
fail=0
n=0

check_json() {
    python3 -c 'import json,sys
for line in sys.stdin:
    d = json.loads(line)
    assert d["verdict"] in ("ok", "bad"), d' || { echo "FAIL: invalid JSON for $1"; fail=1; }
}

for f in "$corpus"/rfc4475/valid/*.sip "$corpus"/rfc5118/valid/*.sip; do
    n=$((n + 1))
    out=$("$wsip" parse "$f"); rc=$?
    [ $rc -eq 0 ] || { echo "FAIL: exit $rc (want 0) for $f: $out"; fail=1; }
    printf '%s\n' "$out" | check_json "$f"
done

for tsv in "$corpus"/rfc4475/EXPECT.tsv "$corpus"/rfc5118/EXPECT.tsv; do
    dir=$(dirname "$tsv")
    col=5; case "$tsv" in *rfc5118*) col=4 ;; esac
    grep -v '^#' "$tsv" | cut -f1,$col | while IFS="$(printf '\t')" read -r file verdict; do
        case "$verdict" in
        reject-400|reject-505|reject-501-or-400|framing-error|discard|parse-ok-but-semantically-invalid)
            out=$("$wsip" parse "$dir/$file"); rc=$?
            [ $rc -eq 1 ] || { echo "FAIL: exit $rc (want 1) for $file ($verdict): $out"; exit 1; } ;;
        esac
    done || fail=1
done

# never crash on anything in the corpus (exit 0 or 1, nothing else)
for f in $(find "$corpus" -type f \( -name '*.sip' -o -name '*.http' -o -name '*.bin' \) | sort); do
    n=$((n + 1))
    "$wsip" parse "$f" >/dev/null; rc=$?
    [ $rc -le 1 ] || { echo "FAIL: exit $rc on $f"; fail=1; }
done

# stdin, several files, and a missing file
rc=0; "$wsip" parse - < "$corpus/rfc4475/valid/esc01.sip" | check_json stdin
"$wsip" parse "$corpus/rfc4475/valid/esc01.sip" "$corpus/rfc4475/invalid/badvers.sip" >/dev/null && { echo "FAIL: a bad file among good ones must give exit 1"; fail=1; }
"$wsip" parse /nonexistent.sip >/dev/null && { echo "FAIL: a missing file must give exit 1"; fail=1; }

if [ $fail -eq 0 ]; then echo "wsip parse corpus: $n files checked, all as expected"; fi
exit $fail
