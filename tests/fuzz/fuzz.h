/*
 * The libFuzzer entry point every target in tests/fuzz defines.  Built with
 * --enable-fuzzing (clang, -fsanitize=fuzzer) each target is a fuzzer;
 * otherwise standalone.c gives it a main() that runs it over files, so the
 * seed corpora and every input a fuzzer ever crashed on run in `make check`.
 */
#ifndef TALLY_FUZZ_H
#define TALLY_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
