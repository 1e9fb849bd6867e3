/*
 * logread: reads a log file as a stream of JSON values separated by any
 * white space — JSON Lines, `stripe listen --format JSON` output (compact
 * values each followed by a blank line) and pretty-printed values alike.
 *
 * The reader starts from a cursor (offset + inode + a hash of the file's
 * first bytes) and detects rotation (another inode) and truncation or
 * replacement (file shorter than the offset, or the first bytes changed),
 * in which case it starts again from offset 0: everything downstream is
 * idempotent, so re-reading is safe.
 *
 * Each call to logread_next yields one item: a complete value (its bytes and
 * byte offset) or a piece of bad input with its offset and reason, so the
 * caller can quarantine it and go on.  Bad input is:
 *   - a value that does not parse as JSON or is not an object;
 *   - a value larger than the cap (its bytes are skipped, never buffered
 *     beyond the cap; the item carries only an excerpt);
 *   - bytes that cannot start a value (garbage, binary): up to the end of
 *     their line;
 *   - a value cut short: a raw newline inside a string, or a new value that
 *     begins at column 0 while a value that began at column 0 is still
 *     open (a truncated JSON line followed by the next line).
 * A value still incomplete at end of file is not consumed: it is reported as
 * LOGREAD_EOF with `pending` bytes left for the next read (it may still be
 * being written).
 *
 * A reader is used by one thread.  Items are borrowed until the next call.
 */
#ifndef TALLY_LOGREAD_H
#define TALLY_LOGREAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define LOGREAD_DEFAULT_CAP (4u << 20)    /* 4 MiB per value */
#define LOGREAD_HEAD_LEN 64               /* bytes hashed to recognise a file */
#define LOGREAD_EXCERPT 256               /* bytes of bad input kept */

struct logread_cursor {
	int64_t inode;
	int64_t offset;
	int64_t head_len;       /* how many of the first bytes head_hash covers */
	int64_t head_hash;
};

enum logread_kind {
	LOGREAD_VALUE,          /* value: json (new reference owned by the reader), raw bytes */
	LOGREAD_BAD,            /* bad input: reason, excerpt */
	LOGREAD_EOF             /* nothing more for now */
};

struct logread_item {
	enum logread_kind kind;
	int64_t offset;         /* byte offset of the item's first byte */
	int64_t end;            /* offset just past it: the cursor after consuming it */
	json_t *json;           /* LOGREAD_VALUE: the parsed object, borrowed until next call */
	const char *raw;        /* LOGREAD_VALUE: its exact bytes; LOGREAD_BAD: an excerpt */
	size_t rawlen;
	int64_t size;           /* LOGREAD_BAD: how many bytes the bad item spans */
	char reason[256];       /* LOGREAD_BAD: why, e.g. "invalid JSON at line 1 column 9: ..." */
};

struct logread;

/* Open path and position it from `cur` (NULL or a zero cursor = from the
 * start).  *restarted is set to 1 when rotation or truncation was detected and
 * reading starts again from 0 (with a short note in why, if not NULL).
 * cap 0 = LOGREAD_DEFAULT_CAP. */
int logread_open(const char *path, const struct logread_cursor *cur, size_t cap,
                 struct logread **out, int *restarted, char *why, size_t whysz,
                 struct err *e);
void logread_close(struct logread *r);         /* NULL is a no-op */

/* Next item.  0 ok (see item->kind), -1 on an I/O error (in e). */
int logread_next(struct logread *r, struct logread_item *item, struct err *e);

/* The cursor after the last item returned (what to commit with its rows).
 * `pending` is the count of bytes after it that form an incomplete value. */
void logread_cursor(const struct logread *r, struct logread_cursor *out);
int64_t logread_pending(const struct logread *r);

#endif
