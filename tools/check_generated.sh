#!/bin/sh
# Fails when the committed generated files differ from a fresh generation.
set -e
root=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$root/tools/gen_hdr.py" "$tmp"
for f in include/wsip/sip_hdr_ids.h src/sip/hdr_table.c; do
    if ! cmp -s "$root/$f" "$tmp/$f"; then
        echo "$f is out of date: run tools/gen_hdr.py ." >&2
        diff -u "$root/$f" "$tmp/$f" | head -40 >&2
        exit 1
    fi
done
echo "generated files up to date"
