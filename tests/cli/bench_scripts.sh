#!/bin/sh
# The benchmark scripts are not run by the tests (benchmarks are not tests),
# but they must stay well-formed: every bench shell script parses (bash -n),
# bench/compare answers --help without starting anything, and every SIPp
# scenario of bench/sipp is well-formed XML.
set -u
src=$1
fail=0
for f in "$src"/bench/compare "$src"/bench/*.sh "$src"/bench/kamailio/*.sh; do
    if ! bash -n "$f"; then
        echo "FAIL bash -n $f"
        fail=1
    fi
done
if ! "$src"/bench/compare --help | grep -q -- '--quick'; then
    echo "FAIL bench/compare --help"
    fail=1
fi
for f in "$src"/bench/sipp/*.xml; do
    if ! python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$f"; then
        echo "FAIL $f is not well-formed XML"
        fail=1
    fi
done
[ "$fail" = 0 ] && echo "bench scripts: all well-formed"
exit "$fail"
