#!/bin/sh
# Turn a text file into a C string constant, so the program carries it and
# works installed with nothing beside it.
# Usage: embed-text.sh NAME HEADER FILE > out.c
set -e
echo "/* Generated from $(basename "$3") by build-aux/embed-text.sh; do not edit. */"
echo "#include \"$2\""
echo "const char $1[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$3"
printf '\t"";\n'
