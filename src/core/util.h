/*
 * util: small helpers shared by the core: the clock, a capped growable
 * buffer, an arena for decoded strings, hashing, time formatting, secret
 * masking and the cleaning of outside text before anyone displays it.
 */
#ifndef TALLY_UTIL_H
#define TALLY_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The current Unix time.  TALLY_NOW (Unix seconds or RFC 3339) fixes it, so
 * tests and scenarios are deterministic.  Any thread. */
int64_t tally_now(void);

/* Allocation that aborts on out-of-memory: tally cannot go on without it. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* A growable byte buffer with a hard cap; appending past the cap fails and
 * sets `toobig` rather than allocating.  Always NUL-terminated. */
struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap;      /* 0 = no cap */
	int toobig;
};
void buf_init(struct buf *b, size_t cap);
void buf_done(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);   /* 0 or -1 (toobig) */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An arena: many small allocations freed at once.  Decoded Stripe objects
 * keep their strings here; they live until arena_reset or arena_done. */
struct arena {
	struct arena_chunk *head;
};
void arena_init(struct arena *a);
void arena_reset(struct arena *a);
void arena_done(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);    /* zeroed, aligned for any type */
char *arena_strdup(struct arena *a, const char *s);   /* NULL -> NULL */
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* 64-bit FNV-1a, for change detection (not security).  Returned as a
 * signed value so it round-trips through SQLite's INTEGER. */
int64_t hash64(const void *p, size_t n);

/* Time.  fmt writes "2026-11-01T00:00:00Z" (UTC) into out (>= 21 bytes);
 * 0 or negative prints "-".  parse accepts Unix seconds or RFC 3339 with Z or
 * an offset; returns 0 ok, -1 bad. */
void time_fmt(int64_t t, char *out, size_t outsz);
int time_parse(const char *s, int64_t *out);

/* Parse a whole decimal int64 (optional sign, no junk).  0 ok, -1 bad. */
int parse_int64(const char *s, int64_t *out);

/* Create the missing directories leading to the file `path` (not the file
 * itself), each with `mode` as the umask allows; existing ones are left as
 * they are.  0, or -1 with the directory and the reason in e. */
int mkdir_parents(const char *path, unsigned int mode, struct err *e);

/* Mask a secret for display: "sk_test_...9f2a".  Writes into out. */
void secret_mask(const char *secret, char *out, size_t outsz);

/* Copy outside text for a terminal: drops C0/C1 control characters and ESC
 * sequences, replaces invalid UTF-8 with '?', and truncates to fit outsz
 * (always NUL-terminated, never splits a UTF-8 sequence).  Returns out. */
char *text_clean(const char *in, size_t inlen, char *out, size_t outsz);

#endif
