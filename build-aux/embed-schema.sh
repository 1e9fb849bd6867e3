#!/bin/sh
# Turn data/schema/NNN-name.sql files into a C table of migrations.
# Usage: embed-schema.sh FILE... > schema-data.c
set -e
echo '/* Generated from data/schema by build-aux/embed-schema.sh; do not edit. */'
echo '#include "store.h"'
echo 'const struct store_migration store_migrations[] = {'
for f in "$@"; do
	base=$(basename "$f" .sql)
	ver=$(echo "$base" | sed 's/^0*\([0-9][0-9]*\)-.*/\1/')
	printf '\t{ %s, "%s",\n' "$ver" "$base"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t  "/' -e 's/$/\\n"/' "$f"
	printf '\t},\n'
done
echo '};'
echo 'const int store_migration_count = (int)(sizeof store_migrations / sizeof store_migrations[0]);'
