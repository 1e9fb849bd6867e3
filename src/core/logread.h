/*
 * logread: reads a log file as a stream of JSON values separated by any
 * white space — JSON Lines, `stripe listen --format JSON` output (compact
 * values each followed by a blank line) and pretty-printed values alike.
 * CRLF line ends are white space like any other; a UTF-8 byte order mark at
 * the start of the file is skipped.
 *
 * The reader starts from a cursor (offset + inode + a hash of the file's
 * first bytes) and detects rotation (another inode) and truncation or
 * replacement (file shorter than the offset, or the first bytes changed),
 * in which case it starts again from offset 0: everything downstream is
 * idempotent, so re-reading is safe.  Rotation while a reader is open is not
 * noticed: the caller reopens from the cursor to look again.
 *
 * Each call to logread_next yields one item: a complete value (its bytes and
 * byte offset) or a piece of bad input with its offset, size and reason, so
 * the caller can quarantine it and go on.  Every byte of the file that is not
 * white space between items belongs to exactly one item.  Bad input is:
 *   - a value that does not parse as JSON or is not an object;
 *   - a value larger than the cap (its bytes are skipped, never buffered
 *     beyond the cap; the item carries only an excerpt);
 *   - bytes that cannot start a value (garbage, binary), or a bare word that
 *     is not JSON: up to the end of their line;
 *   - a value cut short: a raw newline inside a string, or a `{` at column 0
 *     while a value is still open (a truncated JSON line followed by the
 *     next line).  So a value's nested objects must not start at column 0
 *     (pretty-printing with an indent of 0 is not supported).
 * A bad item ends at its last byte that is not white space.
 * A value still incomplete at end of file is not consumed: it is reported as
 * LOGREAD_EOF with `pending` bytes left for the next read (it may still be
 * being written).  Calling logread_next again after LOGREAD_EOF reads what
 * was appended since, so a reader can follow a growing file.
 *
 * Memory: one read buffer, at most the cap plus a read block, whatever the
 * size of the file or of its values.
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

/* Where a reader stopped.  The all-zero cursor means "from the start". */
struct logread_cursor {
	int64_t inode;
	int64_t offset;         /* just past the last item consumed */
	int64_t head_len;       /* how many of the first bytes head_hash covers:
	                         * min(LOGREAD_HEAD_LEN, file size) */
	int64_t head_hash;      /* hash64 of those bytes */
};

enum logread_kind {
	LOGREAD_VALUE,          /* value: json (new reference owned by the reader), raw bytes */
	LOGREAD_BAD,            /* bad input: reason, excerpt */
	LOGREAD_EOF             /* nothing more for now */
};

struct logread_item {
	enum logread_kind kind;
	int64_t offset;         /* byte offset of the item's first byte (EOF: the cursor) */
	int64_t end;            /* offset just past it: the cursor after consuming it */
	json_t *json;           /* LOGREAD_VALUE: the parsed object, borrowed until next call */
	const char *raw;        /* LOGREAD_VALUE: its exact bytes; LOGREAD_BAD: an excerpt
	                         * (the first LOGREAD_EXCERPT bytes at most); borrowed
	                         * until the next call; not NUL-terminated */
	size_t rawlen;
	int64_t size;           /* VALUE and BAD: how many bytes the item spans (end - offset) */
	char reason[256];       /* LOGREAD_BAD: why, e.g. "invalid JSON: ... (line 1 column 9
	                         * of the value)" or "value of 10485776 bytes exceeds the
	                         * 4194304-byte cap" */
};

struct logread;

/* Open path and position it from `cur` (NULL or a zero cursor = from the
 * start).  *restarted is set to 1 when rotation or truncation was detected and
 * reading starts again from 0 (with a short note in why, if not NULL), else 0.
 * cap 0 = LOGREAD_DEFAULT_CAP.  0 ok (*out is a new reader, closed with
 * logread_close), -1 when the file cannot be opened or read (in e). */
int logread_open(const char *path, const struct logread_cursor *cur, size_t cap,
                 struct logread **out, int *restarted, char *why, size_t whysz,
                 struct err *e);
void logread_close(struct logread *r);         /* NULL is a no-op */

/* Next item.  0 ok (see item->kind), -1 on an I/O error (in e). */
int logread_next(struct logread *r, struct logread_item *item, struct err *e);

/* The cursor after the last item returned (what to commit with its rows).
 * `pending` is the count of bytes, from its first byte to end of file, of the
 * incomplete value after the cursor, as of the last LOGREAD_EOF (0 after any
 * other item, or when only white space follows). */
void logread_cursor(const struct logread *r, struct logread_cursor *out);
int64_t logread_pending(const struct logread *r);

/* Bytes of buffer the reader holds now (for tests and status): never more
 * than the cap plus a read block. */
size_t logread_memory(const struct logread *r);

#endif
