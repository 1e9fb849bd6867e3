/*
 * logread: a log file as a stream of JSON values.  See logread.h.
 *
 * One read buffer, refilled by read(2) in blocks of LR_BLOCK bytes or more,
 * and a small state machine that walks it byte by byte: between items it
 * skips white space; inside a value it tracks strings, escapes and the depth
 * of braces and brackets, so it finds where the value ends without parsing
 * it; only then does jansson parse the value's bytes where they lie in the
 * buffer (no copy).  The scanner's state lives in the reader, so a value cut
 * by end of file is picked up where it stopped when the file grows.
 *
 * The buffer keeps the bytes of the item being scanned, from its first byte,
 * and drops everything before it at each refill.  An item that outgrows the
 * cap is no longer kept: its first LOGREAD_EXCERPT bytes are copied aside
 * and the scanner goes on over the rest (still tracking strings and braces,
 * to find its end) while each refill drops what was scanned.  So the buffer
 * never holds more than the cap plus one read block.
 *
 * Two rules end a value early, as a truncated write: a raw newline inside a
 * string (JSON strings cannot hold one), and a `{` at column 0 while a value
 * is open (each value of these logs starts at column 0, and no nested
 * object does, in JSON Lines or pretty-printed form alike).  Both keep a
 * truncated line from swallowing the good lines after it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logread.h"
#include "util.h"

#define LR_BLOCK (64u << 10)          /* the least a read asks for */
#define LR_BUF_INIT (256u << 10)      /* the buffer's first size */

enum lr_state {
	LR_IDLE,        /* between items: white space */
	LR_NEST,        /* in an object, an array or a top-level string */
	LR_SCALAR,      /* in a bare word: a number, true, false, null or junk */
	LR_GARBAGE      /* in bytes that are not JSON, up to end of line */
};

struct logread {
	int fd;
	char *path;
	size_t cap;
	int64_t inode;
	int64_t head_len, head_hash;
	int64_t offset;         /* the cursor: just past the last item returned */
	int64_t pending;        /* as of the last LOGREAD_EOF */
	json_t *json;           /* the last value returned (owned) */

	char *buf;
	size_t alloc, len;      /* buf[0..len) is the file from `base` */
	size_t scan;            /* next byte to scan */
	int64_t base;
	unsigned char prev0;    /* the byte before buf[0] ('\n' at the start) */
	int bom_check;          /* at offset 0: a byte order mark may come */

	/* The item being scanned. */
	enum lr_state state;
	int64_t vstart;         /* its offset */
	int64_t depth;
	int in_str, esc;
	int skipping;           /* over the cap: its bytes are no longer kept */
	int64_t tail;           /* skipping: just past its last non-space byte dropped */
	char excerpt[LOGREAD_EXCERPT];
	size_t excerpt_len;
};

static const unsigned char lr_bom[3] = { 0xef, 0xbb, 0xbf };

/* Bytes that stop the fast walk inside a string, and outside one. */
static const unsigned char lr_str_stop[256] = {
	['"'] = 1, ['\\'] = 1, ['\n'] = 1,
};
static const unsigned char lr_nest_stop[256] = {
	['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1,
};

static int
lr_space(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* Hash the file's first bytes (up to LOGREAD_HEAD_LEN, fewer if it is
 * shorter) into r->head_*, and leave them in head. */
static int
head_read(struct logread *r, unsigned char *head, struct err *e)
{
	ssize_t n;

	do
		n = pread(r->fd, head, LOGREAD_HEAD_LEN, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(e, "%s: cannot read the log's first bytes: %s", r->path,
		               strerror(errno));
	r->head_len = n;
	r->head_hash = hash64(head, (size_t)n);
	return 0;
}

/* Where a saved cursor lets reading start in this file: its offset, or 0
 * with a note in `note` when the file is not the one the cursor was for. */
static int64_t
cursor_check(const struct logread *r, const struct logread_cursor *cur,
             const unsigned char *head, int64_t size, char *note, size_t notesz)
{
	if (cur->offset < 0 || cur->head_len < 0 || cur->head_len > LOGREAD_HEAD_LEN) {
		snprintf(note, notesz, "the saved cursor is invalid (offset %" PRId64 ", head %" PRId64
		         "); reading from the start", cur->offset, cur->head_len);
		return 0;
	}
	if (cur->inode != r->inode) {
		snprintf(note, notesz, "rotated: inode %" PRId64 " is not the saved %" PRId64
		         "; reading the new file from the start", r->inode, cur->inode);
		return 0;
	}
	if (size < cur->offset) {
		snprintf(note, notesz, "truncated: %" PRId64 " bytes, fewer than the saved offset %"
		         PRId64 "; reading again from the start", size, cur->offset);
		return 0;
	}
	if (r->head_len < cur->head_len ||
	    hash64(head, (size_t)cur->head_len) != cur->head_hash) {
		snprintf(note, notesz, "replaced: its first %" PRId64 " bytes changed; reading again "
		         "from the start", cur->head_len);
		return 0;
	}
	return cur->offset;
}

int
logread_open(const char *path, const struct logread_cursor *cur, size_t cap,
             struct logread **out, int *restarted, char *why, size_t whysz,
             struct err *e)
{
	unsigned char head[LOGREAD_HEAD_LEN];
	struct logread *r;
	struct stat st;
	char note[256] = "";
	int64_t start = 0;
	ssize_t n;
	int rc = -1;

	*out = NULL;
	if (restarted != NULL)
		*restarted = 0;
	if (why != NULL && whysz > 0)
		why[0] = '\0';
	r = xcalloc(1, sizeof *r);
	r->path = xstrdup(path);
	r->cap = cap != 0 ? cap : LOGREAD_DEFAULT_CAP;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		err_set(e, "%s: cannot open the log: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(r->fd, &st) != 0) {
		err_set(e, "%s: cannot stat the log: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file (a log must be a file, so it can be resumed)", path);
		goto out;
	}
	r->inode = (int64_t)st.st_ino;
	if (head_read(r, head, e) != 0)
		goto out;
	if (cur != NULL && (cur->inode != 0 || cur->offset != 0 || cur->head_len != 0 ||
	                    cur->head_hash != 0)) {
		start = cursor_check(r, cur, head, (int64_t)st.st_size, note, sizeof note);
		if (note[0] != '\0') {
			if (restarted != NULL)
				*restarted = 1;
			if (why != NULL && whysz > 0)
				snprintf(why, whysz, "%s", note);
		}
	}
	r->prev0 = '\n';
	if (start > 0) {
		do
			n = pread(r->fd, &r->prev0, 1, start - 1);
		while (n < 0 && errno == EINTR);
		if (n != 1 || lseek(r->fd, start, SEEK_SET) != start) {
			err_set(e, "%s: cannot seek to the saved offset %" PRId64 ": %s", path, start,
			        n < 0 ? strerror(errno) : "file changed");
			goto out;
		}
	} else {
		r->bom_check = 1;
	}
	r->base = r->offset = start;
	r->alloc = r->cap + LR_BLOCK < LR_BUF_INIT ? r->cap + LR_BLOCK : LR_BUF_INIT;
	r->buf = xmalloc(r->alloc);
	*out = r;
	r = NULL;
	rc = 0;
out:
	logread_close(r);
	return rc;
}

void
logread_close(struct logread *r)
{
	if (r == NULL)
		return;
	json_decref(r->json);
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r->path);
	free(r);
}

/* The offset just past the current item's last non-space byte before
 * buf[i]. */
static int64_t
trim_end(const struct logread *r, size_t i)
{
	size_t lo = r->skipping ? 0 : (size_t)(r->vstart - r->base);

	while (i > lo && lr_space((unsigned char)r->buf[i - 1]))
		i--;
	if (i > lo || !r->skipping)
		return r->base + (int64_t)i;
	return r->tail;
}

/* Read more of the file after what was scanned (r->scan == r->len).
 * 1 read some, 0 end of file, -1 error. */
static int
refill(struct logread *r, struct err *e)
{
	size_t from = r->scan;
	ssize_t n;

	if (r->state != LR_IDLE && !r->skipping) {
		from = (size_t)(r->vstart - r->base);
		if (r->len - from > r->cap) {
			/* Over the cap: keep an excerpt, drop the rest. */
			r->excerpt_len = r->len - from < LOGREAD_EXCERPT ? r->len - from : LOGREAD_EXCERPT;
			memcpy(r->excerpt, r->buf + from, r->excerpt_len);
			r->skipping = 1;
			from = r->scan;
		}
	}
	if (r->skipping)
		r->tail = trim_end(r, r->scan);
	if (from > 0) {
		r->prev0 = (unsigned char)r->buf[from - 1];
		memmove(r->buf, r->buf + from, r->len - from);
		r->len -= from;
		r->scan -= from;
		r->base += (int64_t)from;
	}
	if (r->alloc - r->len < LR_BLOCK) {
		size_t alloc = r->alloc * 2;

		if (alloc < r->len + LR_BLOCK)
			alloc = r->len + LR_BLOCK;
		if (alloc > r->cap + LR_BLOCK)
			alloc = r->cap + LR_BLOCK;
		assert(alloc >= r->len + LR_BLOCK);
		r->buf = xrealloc(r->buf, alloc);
		r->alloc = alloc;
	}
	do
		n = read(r->fd, r->buf + r->len, r->alloc - r->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(e, "%s: cannot read at offset %" PRId64 ": %s", r->path,
		               r->base + (int64_t)r->len, strerror(errno));
	r->len += (size_t)n;
	if (n > 0 && r->head_len < LOGREAD_HEAD_LEN) {
		unsigned char head[LOGREAD_HEAD_LEN];

		if (head_read(r, head, e) != 0)
			return -1;
	}
	return n > 0;
}

/* End the current item as bad input spanning [vstart, end); scanning goes
 * on at buf[next].  Returns 1 (an item is ready). */
static int __attribute__((format(printf, 5, 6)))
finish_bad(struct logread *r, struct logread_item *item, int64_t end, size_t next,
           const char *fmt, ...)
{
	int64_t size = end - r->vstart;
	va_list ap;

	item->kind = LOGREAD_BAD;
	item->offset = r->vstart;
	item->end = end;
	item->size = size;
	if (r->skipping) {
		item->raw = r->excerpt;
		item->rawlen = (int64_t)r->excerpt_len < size ? r->excerpt_len : (size_t)size;
	} else {
		item->raw = r->buf + (r->vstart - r->base);
		item->rawlen = size < LOGREAD_EXCERPT ? (size_t)size : LOGREAD_EXCERPT;
	}
	va_start(ap, fmt);
	vsnprintf(item->reason, sizeof item->reason, fmt, ap);
	va_end(ap);
	r->offset = end;
	r->scan = next;
	r->state = LR_IDLE;
	r->skipping = 0;
	return 1;
}

static int
finish_too_large(struct logread *r, struct logread_item *item, int64_t end, size_t next)
{
	return finish_bad(r, item, end, next, "value of %" PRId64 " bytes exceeds the %zu-byte cap",
	                  end - r->vstart, r->cap);
}

/* A value cut short at buf[i] (a newline in a string, a `{` at column 0). */
static int
finish_cut(struct logread *r, struct logread_item *item, size_t i, const char *why)
{
	int64_t end = trim_end(r, i);

	if (r->skipping || end - r->vstart > (int64_t)r->cap)
		return finish_too_large(r, item, end, i);
	return finish_bad(r, item, end, i, "truncated value: %s", why);
}

/* A value whose last byte is buf[i - 1]: parse it.  Returns 1. */
static int
finish_value(struct logread *r, struct logread_item *item, size_t i)
{
	int64_t end = r->base + (int64_t)i, size = end - r->vstart;
	char text[JSON_ERROR_TEXT_LENGTH];
	const char *kind, *p;
	json_error_t jerr;
	json_t *j;

	if (r->skipping || size > (int64_t)r->cap)
		return finish_too_large(r, item, end, i);
	p = r->buf + (r->vstart - r->base);
	j = json_loadb(p, (size_t)size, JSON_DECODE_ANY, &jerr);
	if (j == NULL) {
		text_clean(jerr.text, strlen(jerr.text), text, sizeof text);
		return finish_bad(r, item, end, i, "invalid JSON: %s (line %d column %d of the value)",
		                  text, jerr.line, jerr.column);
	}
	if (!json_is_object(j)) {
		kind = json_kind(j);
		json_decref(j);
		return finish_bad(r, item, end, i, "not a JSON object: the value is %s", kind);
	}
	item->kind = LOGREAD_VALUE;
	item->offset = r->vstart;
	item->end = end;
	item->size = size;
	item->json = r->json = j;
	item->raw = p;
	item->rawlen = (size_t)size;
	r->offset = end;
	r->scan = i;
	r->state = LR_IDLE;
	return 1;
}

/* Is buf[i] at the start of a line? */
static int
at_col0(const struct logread *r, size_t i)
{
	return (i > 0 ? (unsigned char)r->buf[i - 1] : r->prev0) == '\n';
}

/* Scan the buffered bytes.  1 when an item is ready (and r->scan is past
 * it), 0 when all was scanned without finishing one. */
static int
scan(struct logread *r, struct logread_item *item)
{
	const unsigned char *b = (const unsigned char *)r->buf;
	size_t i = r->scan, n = r->len;
	const char *p;
	json_error_t jerr;
	json_t *j;
	unsigned char c;

	while (i < n) {
		switch (r->state) {
		case LR_IDLE:
			while (i < n && lr_space(b[i]))
				i++;
			if (i == n)
				break;
			c = b[i];
			r->vstart = r->base + (int64_t)i;
			r->skipping = 0;
			r->in_str = r->esc = 0;
			r->depth = 0;
			if (c == '{' || c == '[') {
				r->state = LR_NEST;
				r->depth = 1;
			} else if (c == '"') {
				r->state = LR_NEST;
				r->in_str = 1;
			} else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' ||
			           c == 'n') {
				r->state = LR_SCALAR;
			} else {
				r->state = LR_GARBAGE;
			}
			i++;
			break;
		case LR_NEST:
			while (i < n) {
				if (r->in_str) {
					if (r->esc) {
						if (b[i] == '\n')
							return finish_cut(r, item, i, "the line ends inside a string");
						r->esc = 0;
						i++;
						continue;
					}
					while (i < n && !lr_str_stop[b[i]])
						i++;
					if (i == n)
						break;
					if (b[i] == '\n')
						return finish_cut(r, item, i, "the line ends inside a string");
					if (b[i] == '\\') {
						r->esc = 1;
					} else {
						r->in_str = 0;
						if (r->depth == 0)
							return finish_value(r, item, i + 1);
					}
					i++;
					continue;
				}
				while (i < n && !lr_nest_stop[b[i]])
					i++;
				if (i == n)
					break;
				c = b[i];
				if (c == '"') {
					r->in_str = 1;
				} else if (c == '{' || c == '[') {
					if (c == '{' && at_col0(r, i))
						return finish_cut(r, item, i, "a new value starts at column 0 "
						                  "before this one closed");
					r->depth++;
				} else if (--r->depth == 0) {
					return finish_value(r, item, i + 1);
				}
				i++;
			}
			break;
		case LR_SCALAR:
			while (i < n && !lr_space(b[i]))
				i++;
			if (i == n)
				break;
			if (r->skipping || r->base + (int64_t)i - r->vstart > (int64_t)r->cap)
				return finish_too_large(r, item, r->base + (int64_t)i, i);
			p = r->buf + (r->vstart - r->base);
			j = json_loadb(p, (size_t)(r->base + (int64_t)i - r->vstart), JSON_DECODE_ANY,
			               &jerr);
			if (j == NULL) {
				/* Not a word of JSON: junk, to the end of the line. */
				r->state = LR_GARBAGE;
				break;
			}
			p = json_kind(j);
			json_decref(j);
			return finish_bad(r, item, r->base + (int64_t)i, i,
			                  "not a JSON object: the value is %s", p);
		case LR_GARBAGE:
			p = memchr(b + i, '\n', n - i);
			if (p == NULL) {
				i = n;
				break;
			}
			i = (size_t)((const unsigned char *)p - b);
			return finish_bad(r, item, trim_end(r, i), i,
			                  "not JSON: unexpected bytes up to end of line");
		}
	}
	r->scan = n;
	return 0;
}

int
logread_next(struct logread *r, struct logread_item *item, struct err *e)
{
	size_t avail;
	int rc;

	json_decref(r->json);
	r->json = NULL;
	memset(item, 0, sizeof *item);
	r->pending = 0;
	for (;;) {
		if (r->bom_check) {
			avail = r->len - r->scan;
			if (avail >= sizeof lr_bom || (avail > 0 && memcmp(r->buf, lr_bom, avail) != 0)) {
				if (avail >= sizeof lr_bom && memcmp(r->buf, lr_bom, sizeof lr_bom) == 0)
					r->scan = sizeof lr_bom;
				r->bom_check = 0;
			}
		}
		if (!r->bom_check && r->scan < r->len && scan(r, item))
			return 0;
		rc = refill(r, e);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
	}
	item->kind = LOGREAD_EOF;
	item->offset = item->end = r->offset;
	if (r->state != LR_IDLE)
		r->pending = r->base + (int64_t)r->len - r->vstart;
	return 0;
}

void
logread_cursor(const struct logread *r, struct logread_cursor *out)
{
	out->inode = r->inode;
	out->offset = r->offset;
	out->head_len = r->head_len;
	out->head_hash = r->head_hash;
}

int64_t
logread_pending(const struct logread *r)
{
	return r->pending;
}

size_t
logread_memory(const struct logread *r)
{
	return r->alloc;
}
