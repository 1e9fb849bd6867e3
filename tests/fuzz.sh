#!/bin/bash
# The fuzz targets' replay programs over every seed and every saved crash
# (TAP, one line per target).  A crash or a sanitizer report fails it.
# Environment: SRCDIR, SHARED (set by make check).
set -u
SRCDIR=${SRCDIR:-.}
SHARED=${SHARED:-$SRCDIR/../shared}
export SRCDIR SHARED
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tally-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
names="catalog config decode logread sig"
echo "1..$(echo $names | wc -w)"
n=0
for name in $names; do
	n=$((n + 1))
	bash "$SRCDIR/tests/fuzz/seeds.sh" "$name" "$tmp/$name"
	count=$(ls "$tmp/$name" | wc -l)
	if "./tests/fuzz/replay-$name" "$tmp/$name" >"$tmp/$name.out" 2>"$tmp/$name.err" &&
	    ! grep -q '^not ok' "$tmp/$name.out" &&
	    [ "$(grep -c '^ok' "$tmp/$name.out")" = "$count" ]; then
		echo "ok $n - $name: $count inputs (seeds and saved crashes) replayed cleanly"
	else
		echo "not ok $n - $name: a replayed input failed"
		tail -3 "$tmp/$name.out" | sed 's/^/# /'
		head -30 "$tmp/$name.err" | sed 's/^/# /'
	fi
done
