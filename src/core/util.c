/*
 * util: the clock, allocation, capped buffers, arenas, hashing, time text,
 * secret masking and the cleaning of outside text.  See util.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "util.h"

int64_t
tally_now(void)
{
	const char *fixed = getenv("TALLY_NOW");
	int64_t t;

	if (fixed != NULL && *fixed != '\0' && time_parse(fixed, &t) == 0)
		return t;
	return (int64_t)time(NULL);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fprintf(stderr, "tally: out of memory (%zu bytes)\n", n);
		abort();
	}
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL) {
		fprintf(stderr, "tally: out of memory\n");
		abort();
	}
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL) {
		fprintf(stderr, "tally: out of memory (%zu bytes)\n", n);
		abort();
	}
	return q;
}

char *
xstrdup(const char *s)
{
	return s == NULL ? NULL : xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
buf_init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof *b);
	b->cap = cap;
}

void
buf_done(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->toobig = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	size_t want;

	if (b->cap != 0 && (b->len + n > b->cap || b->len + n < b->len)) {
		b->toobig = 1;
		return -1;
	}
	want = b->len + n + 1;
	if (want > b->alloc) {
		size_t alloc = b->alloc ? b->alloc : 256;

		while (alloc < want)
			alloc *= 2;
		b->data = xrealloc(b->data, alloc);
		b->alloc = alloc;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[512], *big = NULL;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof small)
		return buf_append(b, small, (size_t)n);
	big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = buf_append(b, big, (size_t)n);
	free(big);
	return rc;
}

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

#define ARENA_CHUNK 8192

void
arena_init(struct arena *a)
{
	a->head = NULL;
}

void
arena_done(struct arena *a)
{
	struct arena_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

void
arena_reset(struct arena *a)
{
	/* Keep the first chunk (the most recent) to avoid churn. */
	struct arena_chunk *keep = a->head;

	if (keep == NULL)
		return;
	a->head = keep->next;
	arena_done(a);
	keep->next = NULL;
	keep->used = 0;
	a->head = keep;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	const size_t align = sizeof(max_align_t);
	struct arena_chunk *c = a->head;
	void *p;

	n = (n + align - 1) / align * align;
	if (n == 0)
		n = align;
	if (c == NULL || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = xmalloc(sizeof *c + size);
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return s == NULL ? NULL : arena_strndup(a, s, strlen(s));
}

int64_t
hash64(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return (int64_t)h;
}

void
time_fmt(int64_t t, char *out, size_t outsz)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, outsz, "-");
		return;
	}
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
time_parse(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, n = 0, oh, om;
	const char *p;
	int64_t t;

	if (s == NULL || *s == '\0')
		return -1;
	if (parse_int64(s, &t) == 0) {
		*out = t;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n == 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	p = s + n;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;

		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2)
			return -1;
		t -= sign * (oh * 3600 + om * 60);
		p += 1 + n;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	*out = t;
	return 0;
}

int
mkdir_parents(const char *path, unsigned int mode, struct err *e)
{
	char *dir = xstrdup(path), *p;
	struct stat st;
	int rc = 0;

	for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(dir, (mode_t)mode) != 0 && errno != EEXIST) {
			rc = err_set(e, "%s: cannot create directory: %s", dir, strerror(errno));
			goto out;
		}
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			rc = err_set(e, "%s: not a directory", dir);
			goto out;
		}
		*p = '/';
	}
out:
	free(dir);
	return rc;
}

int
parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = (int64_t)v;
	return 0;
}

void
secret_mask(const char *secret, char *out, size_t outsz)
{
	const char *us;
	size_t len, plen;

	if (secret == NULL || *secret == '\0') {
		snprintf(out, outsz, "(none)");
		return;
	}
	len = strlen(secret);
	/* Keep the prefix up to the last '_' of the first two parts (sk_test_,
	 * whsec_) and the last four characters; never more than a third. */
	us = strchr(secret, '_');
	if (us != NULL && strchr(us + 1, '_') != NULL && (size_t)(strchr(us + 1, '_') - secret) < 10)
		us = strchr(us + 1, '_');
	plen = us != NULL ? (size_t)(us - secret) + 1 : 0;
	if (len < 12 || plen + 4 >= len / 2 + plen) {
		snprintf(out, outsz, "%.*s...", (int)plen, secret);
		return;
	}
	snprintf(out, outsz, "%.*s...%s", (int)plen, secret, secret + len - 4);
}

/* Length of a valid UTF-8 sequence at s (n bytes available), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* C1 controls (U+0080..U+009F) are as dangerous as C0 ones. */
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	return len;
}

char *
text_clean(const char *in, size_t inlen, char *out, size_t outsz)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, len;

	if (outsz == 0)
		return out;
	while (in != NULL && i < inlen) {
		if (s[i] == 0x1b) {
			/* Skip an escape sequence: ESC [ params final, or ESC + one. */
			i++;
			if (i < inlen && (s[i] == '[' || s[i] == ']')) {
				int osc = s[i] == ']';

				i++;
				while (i < inlen && (osc ? (s[i] != 0x07 && s[i] != 0x1b)
				                         : (s[i] < 0x40 || s[i] > 0x7e)))
					i++;
			}
			if (i < inlen)
				i++;
			continue;
		}
		if (s[i] < 0x20 || s[i] == 0x7f) {
			/* Tabs and newlines become spaces; other controls vanish. */
			if ((s[i] == '\t' || s[i] == '\n' || s[i] == '\r') && o + 1 < outsz)
				out[o++] = ' ';
			i++;
			continue;
		}
		len = utf8_seq(s + i, inlen - i);
		if (len == 0) {
			if (o + 1 < outsz)
				out[o++] = '?';
			i++;
			continue;
		}
		if (o + len >= outsz)
			break;
		memcpy(out + o, s + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
	return out;
}
