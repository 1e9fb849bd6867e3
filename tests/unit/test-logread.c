/*
 * test-logread: the log reader over JSON Lines, `stripe listen` output,
 * pretty-printed values, bad input of every kind, files still being written,
 * and resumption across rotation, truncation and replacement.  Offsets are
 * checked exactly, and every test checks that each byte of the file that is
 * not white space belongs to exactly one item.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logread.h"
#include "t.h"

#define MAXGOT 256

struct got {
	enum logread_kind kind;
	int64_t offset, end, size;
	char *raw;
	size_t rawlen;
	char reason[256];
	char id[64];            /* the value's "id" member, if a string */
};

struct run {
	struct got v[MAXGOT];
	int n;
	int restarted;
	char why[256];
	int64_t pending;
	struct logread_cursor cur;
	size_t memory;
};

static char dir[256];

static const char *
path_of(const char *name)
{
	static char p[512];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void
write_mode(const char *name, const void *data, size_t len, int flags)
{
	int fd = open(path_of(name), O_WRONLY | O_CREAT | flags, 0600);
	const char *p = data;

	if (fd < 0) {
		perror(name);
		exit(99);
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			perror("write");
			exit(99);
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

/* Rewrite in place (same inode), or append. */
static void
put(const char *name, const char *s)
{
	write_mode(name, s, strlen(s), O_TRUNC);
}

static void
putn(const char *name, const void *p, size_t n)
{
	write_mode(name, p, n, O_TRUNC);
}

static void
append(const char *name, const char *s)
{
	write_mode(name, s, strlen(s), O_APPEND);
}

static void
run_free(struct run *g)
{
	int i;

	for (i = 0; i < g->n; i++)
		free(g->v[i].raw);
	g->n = 0;
}

/* Record one item into g. */
static void
record(struct run *g, const struct logread_item *it)
{
	struct got *o;
	json_t *id;

	if (g->n == MAXGOT) {
		fprintf(stderr, "too many items\n");
		exit(99);
	}
	o = &g->v[g->n++];
	memset(o, 0, sizeof *o);
	o->kind = it->kind;
	o->offset = it->offset;
	o->end = it->end;
	o->size = it->size;
	o->raw = malloc(it->rawlen + 1);
	memcpy(o->raw, it->raw, it->rawlen);
	o->raw[it->rawlen] = '\0';
	o->rawlen = it->rawlen;
	snprintf(o->reason, sizeof o->reason, "%s", it->reason);
	if (it->kind == LOGREAD_VALUE && (id = json_object_get(it->json, "id")) != NULL &&
	    json_is_string(id))
		snprintf(o->id, sizeof o->id, "%s", json_string_value(id));
}

/* Read from an open reader until LOGREAD_EOF. */
static int
drain(struct logread *r, struct run *g)
{
	struct logread_item it;
	struct err e;

	for (;;) {
		if (logread_next(r, &it, &e) != 0) {
			printf("# logread_next: %s\n", e.msg);
			return -1;
		}
		if (it.kind == LOGREAD_EOF)
			break;
		record(g, &it);
	}
	g->pending = logread_pending(r);
	logread_cursor(r, &g->cur);
	g->memory = logread_memory(r);
	if (it.offset != g->cur.offset || it.end != g->cur.offset)
		printf("# EOF item at %lld, cursor %lld\n", (long long)it.offset,
		       (long long)g->cur.offset);
	return 0;
}

/* Open name from cur, read everything, close. */
static int
read_all(const char *name, const struct logread_cursor *cur, size_t cap, struct run *g)
{
	struct logread *r;
	struct err e;
	int rc;

	memset(g, 0, sizeof *g);
	if (logread_open(path_of(name), cur, cap, &r, &g->restarted, g->why, sizeof g->why,
	                 &e) != 0) {
		printf("# logread_open: %s\n", e.msg);
		return -1;
	}
	rc = drain(r, g);
	logread_close(r);
	return rc;
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Every byte not in an item is white space (or the BOM, or the pending
 * tail); items start and end on non-space bytes, in order, without overlap;
 * each item's size is end - offset. */
static void
check_cover(const char *what, const void *data, size_t len, const struct run *g)
{
	const unsigned char *d = data;
	int64_t at = 0, stop = (int64_t)len - g->pending;
	int i, good = 1;

	if (len >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0)
		at = 3;
	for (i = 0; i < g->n && good; i++) {
		const struct got *o = &g->v[i];

		if (o->offset < at || o->end <= o->offset || o->end > stop ||
		    o->size != o->end - o->offset || is_space(d[o->offset]) ||
		    is_space(d[o->end - 1])) {
			printf("# item %d [%lld, %lld) size %lld is misplaced\n", i,
			       (long long)o->offset, (long long)o->end, (long long)o->size);
			good = 0;
		}
		for (; good && at < o->offset; at++)
			if (!is_space(d[at])) {
				printf("# byte %lld (0x%02x) is in no item\n", (long long)at, d[at]);
				good = 0;
			}
		at = o->end;
	}
	for (; good && at < stop; at++)
		if (!is_space(d[at])) {
			printf("# byte %lld (0x%02x) after the last item is in no item\n",
			       (long long)at, d[at]);
			good = 0;
		}
	if (good && g->pending > 0 && is_space(d[stop]))
		good = 0, printf("# pending part starts with white space\n");
	ok(good, "%s: every byte is covered once", what);
}

static void
is_value(const struct run *g, int i, int64_t offset, const char *raw, const char *what)
{
	const struct got *o = i < g->n ? &g->v[i] : NULL;

	if (!ok(o != NULL && o->kind == LOGREAD_VALUE && o->offset == offset &&
	        o->end == offset + (int64_t)strlen(raw) && strcmp(o->raw, raw) == 0,
	        "%s: item %d is the value at %lld", what, i, (long long)offset)) {
		if (o == NULL)
			printf("# no such item (%d items)\n", g->n);
		else
			printf("# kind %d offset %lld end %lld raw '%.60s' reason '%s'\n", o->kind,
			       (long long)o->offset, (long long)o->end, o->raw, o->reason);
	}
}

/* A bad item at offset spanning size bytes, with a reason starting with
 * `reason`. */
static void
is_bad(const struct run *g, int i, int64_t offset, int64_t size, const char *reason,
       const char *what)
{
	const struct got *o = i < g->n ? &g->v[i] : NULL;

	if (!ok(o != NULL && o->kind == LOGREAD_BAD && o->offset == offset && o->size == size &&
	        o->end == offset + size && strncmp(o->reason, reason, strlen(reason)) == 0,
	        "%s: item %d is bad input at %lld, %lld bytes", what, i, (long long)offset,
	        (long long)size)) {
		if (o == NULL)
			printf("# no such item (%d items)\n", g->n);
		else
			printf("# kind %d offset %lld size %lld reason '%s'\n", o->kind,
			       (long long)o->offset, (long long)o->size, o->reason);
	}
}

static void
test_json_lines(void)
{
	const char *s = "{\"id\":\"evt_1\",\"n\":1}\n{\"id\":\"evt_2\",\"n\":2}\n"
	                "{\"id\":\"evt_3\",\"nested\":{\"a\":[1,{\"b\":\"}\"}]}}\n";
	struct run g;

	put("lines.json", s);
	ok(read_all("lines.json", NULL, 0, &g) == 0, "json lines: read");
	is_int(g.n, 3, "json lines: three items");
	is_value(&g, 0, 0, "{\"id\":\"evt_1\",\"n\":1}", "json lines");
	is_value(&g, 1, 21, "{\"id\":\"evt_2\",\"n\":2}", "json lines");
	is_value(&g, 2, 42, "{\"id\":\"evt_3\",\"nested\":{\"a\":[1,{\"b\":\"}\"}]}}", "json lines");
	is_str(g.v[2].id, "evt_3", "json lines: parsed");
	is_int(g.cur.offset, (int64_t)strlen(s) - 1, "json lines: cursor after the last value");
	is_int(g.pending, 0, "json lines: nothing pending");
	ok(g.restarted == 0, "json lines: no restart from the start");
	check_cover("json lines", s, strlen(s), &g);
	run_free(&g);
}

static void
test_stripe_listen(void)
{
	const char *s = "{\"id\":\"evt_1\",\"object\":\"event\"}\n\n"
	                "{\"id\":\"evt_2\",\"object\":\"event\"}\n\n";
	struct run g;

	put("listen.json", s);
	ok(read_all("listen.json", NULL, 0, &g) == 0, "stripe listen: read");
	is_int(g.n, 2, "stripe listen: two items");
	is_value(&g, 0, 0, "{\"id\":\"evt_1\",\"object\":\"event\"}", "stripe listen");
	is_value(&g, 1, 33, "{\"id\":\"evt_2\",\"object\":\"event\"}", "stripe listen");
	is_int(g.pending, 0, "stripe listen: trailing blank line is not pending");
	check_cover("stripe listen", s, strlen(s), &g);
	run_free(&g);
}

/* json.dumps(indent=2) of an event with braces and quotes in strings. */
static const char pretty[] =
	"{\n"
	"  \"id\": \"evt_1\",\n"
	"  \"object\": \"event\",\n"
	"  \"type\": \"invoice.paid\",\n"
	"  \"data\": {\n"
	"    \"object\": {\n"
	"      \"id\": \"in_1\",\n"
	"      \"lines\": {\n"
	"        \"data\": [\n"
	"          {\n"
	"            \"id\": \"il_1\",\n"
	"            \"amount\": 1000,\n"
	"            \"metadata\": {\n"
	"              \"note\": \"{not a brace} \\\"quoted\\\" [x]\"\n"
	"            }\n"
	"          }\n"
	"        ]\n"
	"      },\n"
	"      \"memo\": \"back\\\\slash } {\"\n"
	"    }\n"
	"  },\n"
	"  \"empty\": {},\n"
	"  \"list\": []\n"
	"}";

static void
test_pretty(void)
{
	char s[4096];
	size_t plen = strlen(pretty);
	struct logread *r;
	struct logread_item it;
	struct err e;
	json_t *note;
	struct run g;
	int restarted;

	snprintf(s, sizeof s, "%s\n%s\n", pretty, pretty);
	put("pretty.json", s);
	ok(read_all("pretty.json", NULL, 0, &g) == 0, "pretty: read");
	is_int(g.n, 2, "pretty: two items");
	is_value(&g, 0, 0, pretty, "pretty");
	is_value(&g, 1, (int64_t)plen + 1, pretty, "pretty");
	check_cover("pretty", s, strlen(s), &g);
	run_free(&g);

	/* The parsed value keeps the braces and quotes inside strings. */
	if (logread_open(path_of("pretty.json"), NULL, 0, &r, &restarted, NULL, 0, &e) != 0) {
		ok(0, "pretty: open: %s", e.msg);
		return;
	}
	ok(logread_next(r, &it, &e) == 0 && it.kind == LOGREAD_VALUE, "pretty: a value");
	note = json_object_get(json_object_get(json_array_get(json_object_get(json_object_get(
	       json_object_get(json_object_get(it.json, "data"), "object"), "lines"), "data"), 0),
	       "metadata"), "note");
	is_str(json_string_value(note), "{not a brace} \"quoted\" [x]", "pretty: string with braces");
	note = json_object_get(json_object_get(json_object_get(it.json, "data"), "object"), "memo");
	is_str(json_string_value(note), "back\\slash } {", "pretty: string with a backslash");
	logread_close(r);
}

static void
test_mixed(void)
{
	char s[8192];
	const char *a = "{\"id\":\"evt_a\"}", *b = "{\"id\":\"evt_b\"}", *c = "{\"id\":\"evt_c\"}";
	size_t plen = strlen(pretty);
	struct run g;

	/* a line, a pretty value, a stripe-listen value, two on one line, a
	 * value after a tab. */
	snprintf(s, sizeof s, "%s\n%s\n%s\n\n%s %s\n\t%s", a, pretty, b, c, a, b);
	put("mixed.json", s);
	ok(read_all("mixed.json", NULL, 0, &g) == 0, "mixed: read");
	is_int(g.n, 6, "mixed: six items");
	is_value(&g, 0, 0, a, "mixed");
	is_value(&g, 1, 15, pretty, "mixed");
	is_value(&g, 2, 16 + (int64_t)plen, b, "mixed");
	is_value(&g, 3, 16 + (int64_t)plen + 16, c, "mixed");
	is_value(&g, 4, 16 + (int64_t)plen + 16 + 15, a, "mixed");
	is_value(&g, 5, 16 + (int64_t)plen + 16 + 15 + 16, b, "mixed");
	is_str(g.v[1].id, "evt_1", "mixed: pretty value parsed");
	check_cover("mixed", s, strlen(s), &g);
	run_free(&g);
}

static void
test_truncated(void)
{
	/* Cut outside a string: the next line's `{` at column 0 ends it. */
	const char *s1 = "{\"id\":\"evt_1\"}\n"
	                 "{\"id\":\"evt_2\",\"data\":{\"object\":{\"amount\":12\n"
	                 "{\"id\":\"evt_3\"}\n"
	                 "{\"id\":\"evt_4\"}\n";
	/* Cut inside a string: the raw newline ends it. */
	const char *s2 = "{\"id\":\"evt_1\"}\n"
	                 "{\"id\":\"evt_2\",\"data\":{\"object\":{\"desc\":\"half a sen\n"
	                 "{\"id\":\"evt_3\"}\n";
	/* Cut after a backslash inside a string. */
	const char *s3 = "{\"id\":\"evt_1\",\"x\":\"a\\\n"
	                 "{\"id\":\"evt_3\"}\n";
	/* Cut pretty value: the next value's `{` at column 0 ends it. */
	const char *s4 = "{\n  \"id\": \"evt_1\",\n  \"data\": {\n    \"x\": 1\n"
	                 "{\n  \"id\": \"evt_2\"\n}\n";
	/* A junk value that starts indented does not swallow the next line. */
	const char *s5 = "  {junk [\n{\"id\":\"evt_2\"}\n";
	struct run g;

	put("trunc.json", s1);
	ok(read_all("trunc.json", NULL, 0, &g) == 0, "truncated line: read");
	is_int(g.n, 4, "truncated line: four items");
	is_value(&g, 0, 0, "{\"id\":\"evt_1\"}", "truncated line");
	is_bad(&g, 1, 15, 43, "truncated value: a new value starts at column 0 before this one closed",
	       "truncated line");
	is_str(g.v[1].raw, "{\"id\":\"evt_2\",\"data\":{\"object\":{\"amount\":12",
	       "truncated line: excerpt is the cut line");
	is_value(&g, 2, 59, "{\"id\":\"evt_3\"}", "truncated line");
	is_value(&g, 3, 74, "{\"id\":\"evt_4\"}", "truncated line");
	check_cover("truncated line", s1, strlen(s1), &g);
	run_free(&g);

	put("trunc.json", s2);
	ok(read_all("trunc.json", NULL, 0, &g) == 0, "cut string: read");
	is_int(g.n, 3, "cut string: three items");
	is_bad(&g, 1, 15, 50, "truncated value: the line ends inside a string", "cut string");
	is_value(&g, 2, 66, "{\"id\":\"evt_3\"}", "cut string");
	check_cover("cut string", s2, strlen(s2), &g);
	run_free(&g);

	put("trunc.json", s3);
	ok(read_all("trunc.json", NULL, 0, &g) == 0, "cut escape: read");
	is_int(g.n, 2, "cut escape: two items");
	is_bad(&g, 0, 0, 21, "truncated value: the line ends inside a string", "cut escape");
	is_value(&g, 1, 22, "{\"id\":\"evt_3\"}", "cut escape");
	run_free(&g);

	put("trunc.json", s4);
	ok(read_all("trunc.json", NULL, 0, &g) == 0, "cut pretty: read");
	is_int(g.n, 2, "cut pretty: two items");
	is_bad(&g, 0, 0, 41, "truncated value: a new value starts", "cut pretty");
	is_value(&g, 1, 42, "{\n  \"id\": \"evt_2\"\n}", "cut pretty");
	check_cover("cut pretty", s4, strlen(s4), &g);
	run_free(&g);

	put("trunc.json", s5);
	ok(read_all("trunc.json", NULL, 0, &g) == 0, "indented junk: read");
	is_int(g.n, 2, "indented junk: two items");
	is_bad(&g, 0, 2, 7, "truncated value", "indented junk");
	is_value(&g, 1, 10, "{\"id\":\"evt_2\"}", "indented junk");
	check_cover("indented junk", s5, strlen(s5), &g);
	run_free(&g);
}

static void
test_big_line(void)
{
	const char *head = "{\"id\":\"evt_big\",\"pad\":\"", *tail = "\"}\n";
	const char *a = "{\"id\":\"evt_1\"}\n", *b = "{\"id\":\"evt_2\"}\n";
	size_t pad = 10u << 20, hl = strlen(head), n = 0;
	size_t total = strlen(a) + hl + pad + strlen(tail) + strlen(b);
	char *s = malloc(total + 1);
	struct run g;
	int64_t bigsize = (int64_t)(hl + pad + 2);
	char reason[128];

	memcpy(s + n, a, strlen(a)), n += strlen(a);
	memcpy(s + n, head, hl), n += hl;
	memset(s + n, 'x', pad), n += pad;
	memcpy(s + n, tail, strlen(tail)), n += strlen(tail);
	memcpy(s + n, b, strlen(b)), n += strlen(b);
	putn("big.json", s, total);
	ok(read_all("big.json", NULL, 0, &g) == 0, "10 MB line: read");
	is_int(g.n, 3, "10 MB line: three items");
	is_value(&g, 0, 0, "{\"id\":\"evt_1\"}", "10 MB line");
	snprintf(reason, sizeof reason, "value of %lld bytes exceeds the %u-byte cap",
	         (long long)bigsize, LOGREAD_DEFAULT_CAP);
	is_bad(&g, 1, 15, bigsize, reason, "10 MB line");
	is_str(g.v[1].reason, reason, "10 MB line: reason");
	ok(g.n > 1 && g.v[1].rawlen == LOGREAD_EXCERPT && memcmp(g.v[1].raw, s + 15, LOGREAD_EXCERPT) == 0,
	   "10 MB line: an excerpt of %d bytes is kept", LOGREAD_EXCERPT);
	is_value(&g, 2, 15 + bigsize + 1, "{\"id\":\"evt_2\"}", "10 MB line");
	ok(g.memory <= LOGREAD_DEFAULT_CAP + (128u << 10),
	   "10 MB line: the reader holds at most the cap (holds %zu bytes)", g.memory);
	check_cover("10 MB line", s, total, &g);
	run_free(&g);

	/* Same with a small cap, read while it is still being written. */
	ok(read_all("big.json", NULL, 1000, &g) == 0, "small cap: read");
	is_int(g.n, 3, "small cap: three items");
	ok(g.memory <= 1000 + (64u << 10), "small cap: the buffer stays small (%zu bytes)",
	   g.memory);
	run_free(&g);
	putn("big.json", s, strlen(a) + 5000);
	{
		struct logread *r;
		struct err e;
		int restarted;

		ok(logread_open(path_of("big.json"), NULL, 1000, &r, &restarted, NULL, 0, &e) == 0,
		   "small cap: open");
		memset(&g, 0, sizeof g);
		drain(r, &g);
		is_int(g.n, 1, "small cap, growing: one item so far");
		is_int(g.pending, 5000, "small cap, growing: 5000 bytes pending");
		is_int(g.cur.offset, 14, "small cap, growing: cursor after the first value");
		ok(logread_memory(r) <= 1000 + (64u << 10), "small cap, growing: buffer stays small");
		append("big.json", "\"}\n{\"id\":\"evt_2\"}");
		drain(r, &g);
		is_int(g.n, 3, "small cap, grown: three items");
		is_bad(&g, 1, 15, 5002, "value of 5002 bytes exceeds the 1000-byte cap",
		       "small cap, grown");
		is_value(&g, 2, 15 + 5002 + 1, "{\"id\":\"evt_2\"}", "small cap, grown");
		logread_close(r);
		run_free(&g);
	}
	free(s);
}

static void
test_cap_edge(void)
{
	char s[512];
	struct run g;

	/* 64 bytes exactly, then 65. */
	snprintf(s, sizeof s, "{\"id\":\"%s\"}\n{\"id\":\"%s\"}\n",
	         "0123456789012345678901234567890123456789012345678901234",
	         "01234567890123456789012345678901234567890123456789012345");
	put("cap.json", s);
	ok(read_all("cap.json", NULL, 64, &g) == 0, "cap edge: read");
	is_int(g.n, 2, "cap edge: two items");
	ok(g.n == 2 && g.v[0].kind == LOGREAD_VALUE && g.v[0].size == 64, "cap edge: 64 bytes pass");
	is_bad(&g, 1, 65, 65, "value of 65 bytes exceeds the 64-byte cap", "cap edge");
	run_free(&g);
}

static void
test_garbage(void)
{
	static const char junk[] = "\x00\x01\xff\xfe garbage { \"x\" \x7f\r\n";
	const char *a = "{\"id\":\"evt_1\"}\n", *b = "{\"id\":\"evt_2\"}\n";
	char s[256];
	size_t n = 0, jl = sizeof junk - 1;
	struct run g;

	memcpy(s + n, a, strlen(a)), n += strlen(a);
	memcpy(s + n, junk, jl), n += jl;
	memcpy(s + n, "hello world\n", 12), n += 12;
	memcpy(s + n, "nul 1\n", 6), n += 6;
	memcpy(s + n, b, strlen(b)), n += strlen(b);
	putn("junk.json", s, n);
	ok(read_all("junk.json", NULL, 0, &g) == 0, "garbage: read");
	is_int(g.n, 5, "garbage: five items");
	is_value(&g, 0, 0, "{\"id\":\"evt_1\"}", "garbage");
	is_bad(&g, 1, 15, (int64_t)jl - 2, "not JSON: unexpected bytes up to end of line", "garbage");
	ok(g.n > 1 && g.v[1].rawlen == jl - 2 && memcmp(g.v[1].raw, junk, jl - 2) == 0,
	   "garbage: excerpt holds the bytes, NUL included");
	is_bad(&g, 2, 15 + (int64_t)jl, 11, "not JSON: unexpected bytes up to end of line",
	       "garbage: a bare word");
	is_bad(&g, 3, 15 + (int64_t)jl + 12, 5, "not JSON: unexpected bytes up to end of line",
	       "garbage: a word that is almost null");
	is_value(&g, 4, 15 + (int64_t)jl + 18, "{\"id\":\"evt_2\"}", "garbage");
	check_cover("garbage", s, n, &g);
	run_free(&g);
}

/* Random bytes between good lines: each good line still comes out, at its
 * offset, and every byte is accounted for. */
static void
test_random_junk(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char *s = malloc(64 << 10);
	int64_t offs[40];
	size_t n = 0;
	int i, j, k, found, allgood = 1;
	struct run g;

	for (i = 0; i < 40; i++) {
		int len;

		offs[i] = (int64_t)n;
		n += (size_t)sprintf(s + n, "{\"id\":\"evt_%d\"}\n", i);
		len = 1 + (int)(x % 700);
		for (j = 0; j < len; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			s[n++] = (char)(x >> 24);
		}
		s[n++] = '\n';
	}
	putn("random.json", s, n);
	ok(read_all("random.json", NULL, 0, &g) == 0, "random junk: read");
	for (i = 0; i < 40; i++) {
		char want[32];

		snprintf(want, sizeof want, "evt_%d", i);
		for (found = 0, k = 0; k < g.n; k++)
			if (g.v[k].offset == offs[i] && g.v[k].kind == LOGREAD_VALUE &&
			    strcmp(g.v[k].id, want) == 0)
				found = 1;
		if (!found) {
			printf("# good line %d at %lld missing\n", i, (long long)offs[i]);
			allgood = 0;
		}
	}
	ok(allgood, "random junk: all 40 good lines come out at their offsets");
	ok(g.n > 40, "random junk: the junk comes out as bad items (%d items)", g.n);
	check_cover("random junk", s, n, &g);
	run_free(&g);
	free(s);
}

static void
test_not_object(void)
{
	const char *s = "[1,2]\n42\n\"str\"\ntrue\nnull\n-1.5\n{\"a\":1,}\n{\"a\":\n1 2}\n"
	                "{\"a\":1,\"a\":2}\n{\"a\":\"\\u0000\"}\n{\"a\":\"x\\\\\"}\n";
	struct run g;

	put("notobj.json", s);
	ok(read_all("notobj.json", NULL, 0, &g) == 0, "not objects: read");
	is_int(g.n, 11, "not objects: eleven items");
	is_bad(&g, 0, 0, 5, "not a JSON object: the value is an array", "not objects");
	is_bad(&g, 1, 6, 2, "not a JSON object: the value is an integer", "not objects");
	is_bad(&g, 2, 9, 5, "not a JSON object: the value is a string", "not objects");
	is_bad(&g, 3, 15, 4, "not a JSON object: the value is true", "not objects");
	is_bad(&g, 4, 20, 4, "not a JSON object: the value is null", "not objects");
	is_bad(&g, 5, 25, 4, "not a JSON object: the value is a number", "not objects");
	is_bad(&g, 6, 30, 8, "invalid JSON: ", "not objects: trailing comma");
	ok(g.n > 6 && strstr(g.v[6].reason, "(line 1 column 8 of the value)") != NULL,
	   "not objects: invalid JSON names line and column (%s)", g.n > 6 ? g.v[6].reason : "");
	is_bad(&g, 7, 39, 10, "invalid JSON: ", "not objects: pretty value with a missing comma");
	ok(g.n > 7 && strstr(g.v[7].reason, "(line 2 column") != NULL,
	   "not objects: line 2 of the value (%s)", g.n > 7 ? g.v[7].reason : "");
	is_value(&g, 8, 50, "{\"a\":1,\"a\":2}", "duplicate keys are accepted");
	is_bad(&g, 9, 64, 14, "invalid JSON: ", "not objects: \\u0000 is refused");
	is_value(&g, 10, 79, "{\"a\":\"x\\\\\"}", "escaped backslash before the closing quote");
	check_cover("not objects", s, strlen(s), &g);
	run_free(&g);
}

static void
test_pending(void)
{
	struct logread *r;
	struct logread_cursor cur;
	struct err e;
	struct run g;
	int restarted;

	put("pending.json", "{\"id\":\"evt_1\"}\n\n{\"id\":\"evt_2\",\"data\":{\"x\":");
	ok(logread_open(path_of("pending.json"), NULL, 0, &r, &restarted, NULL, 0, &e) == 0,
	   "pending: open");
	memset(&g, 0, sizeof g);
	drain(r, &g);
	is_int(g.n, 1, "pending: one complete value");
	is_int(g.pending, 26, "pending: the incomplete value's 26 bytes are pending");
	is_int(g.cur.offset, 14, "pending: cursor before it");
	cur = g.cur;

	/* The writer finishes it: the same reader picks it up ... */
	append("pending.json", "1}}\n{\"id\":\"evt_3\"}");
	drain(r, &g);
	is_int(g.n, 3, "pending, finished: the same reader yields the rest");
	is_value(&g, 1, 16, "{\"id\":\"evt_2\",\"data\":{\"x\":1}}", "pending, finished");
	is_value(&g, 2, 46, "{\"id\":\"evt_3\"}", "pending, finished");
	is_int(g.pending, 0, "pending, finished: nothing pending");
	logread_close(r);
	run_free(&g);

	/* ... and so does a reader reopened from the cursor. */
	ok(read_all("pending.json", &cur, 0, &g) == 0, "pending, reopened: read");
	ok(g.restarted == 0, "pending, reopened: no restart (%s)", g.why);
	is_int(g.n, 2, "pending, reopened: two items");
	is_value(&g, 0, 16, "{\"id\":\"evt_2\",\"data\":{\"x\":1}}", "pending, reopened");
	is_value(&g, 1, 46, "{\"id\":\"evt_3\"}", "pending, reopened");
	run_free(&g);

	/* A bare number at end of file may still grow. */
	put("pending.json", "{\"id\":\"evt_1\"}\n12");
	ok(read_all("pending.json", NULL, 0, &g) == 0, "pending number: read");
	is_int(g.n, 1, "pending number: not consumed");
	is_int(g.pending, 2, "pending number: 2 bytes pending");
	run_free(&g);

	/* Empty and blank files. */
	put("pending.json", "");
	ok(read_all("pending.json", NULL, 0, &g) == 0 && g.n == 0 && g.pending == 0 &&
	   g.cur.offset == 0 && g.cur.head_len == 0, "empty file: nothing");
	put("pending.json", " \n\r\n\t");
	ok(read_all("pending.json", NULL, 0, &g) == 0 && g.n == 0 && g.pending == 0 &&
	   g.cur.offset == 0, "blank file: nothing, nothing pending");
}

static void
test_resume(void)
{
	const char *s = "{\"id\":\"evt_1\"}\n{\"id\":\"evt_2\"}\n{\"id\":\"evt_3\"}\n"
	                "{\"id\":\"evt_4\"}\n";
	struct logread *r;
	struct logread_item it;
	struct logread_cursor cur;
	struct err e;
	struct run g;
	int restarted, i;

	put("resume.json", s);
	ok(logread_open(path_of("resume.json"), NULL, 0, &r, &restarted, NULL, 0, &e) == 0,
	   "resume: open");
	for (i = 0; i < 2; i++)
		logread_next(r, &it, &e);
	logread_cursor(r, &cur);
	is_int(cur.offset, 29, "resume: cursor after two values");
	is_int(cur.head_len, 60, "resume: head covers the 60-byte file");
	logread_close(r);

	ok(read_all("resume.json", &cur, 0, &g) == 0, "resume: reopen");
	ok(g.restarted == 0, "resume: not restarted");
	is_int(g.n, 2, "resume: only the two values not yet read");
	is_value(&g, 0, 30, "{\"id\":\"evt_3\"}", "resume");
	is_value(&g, 1, 45, "{\"id\":\"evt_4\"}", "resume");
	cur = g.cur;
	run_free(&g);

	/* Appended lines: only they come. */
	append("resume.json", "{\"id\":\"evt_5\"}\n");
	ok(read_all("resume.json", &cur, 0, &g) == 0, "resume after append: read");
	ok(g.restarted == 0, "resume after append: not restarted");
	is_int(g.n, 1, "resume after append: one new value");
	is_value(&g, 0, 60, "{\"id\":\"evt_5\"}", "resume after append");
	cur = g.cur;
	run_free(&g);

	/* At the end: nothing. */
	ok(read_all("resume.json", &cur, 0, &g) == 0 && g.n == 0 && g.restarted == 0 &&
	   g.cur.offset == cur.offset, "resume at the end: nothing");

	/* A small file's head grows with it. */
	put("small.json", "{\"id\":\"a\"}\n");
	ok(read_all("small.json", NULL, 0, &g) == 0, "small file: read");
	is_int(g.cur.head_len, 11, "small file: head covers the whole file");
	cur = g.cur;
	run_free(&g);
	append("small.json", "{\"id\":\"evt_long_enough_to_pass_the_head_length_of_64\"}\n");
	ok(read_all("small.json", &cur, 0, &g) == 0 && g.restarted == 0 && g.n == 1,
	   "small file grown: resumed, one new value");
	is_int(g.cur.head_len, LOGREAD_HEAD_LEN, "small file grown: head covers %d bytes",
	       LOGREAD_HEAD_LEN);
	run_free(&g);
}

static void
test_restart(void)
{
	const char *s = "{\"id\":\"evt_1\"}\n{\"id\":\"evt_2\"}\n";
	struct logread_cursor cur, bad;
	struct run g;
	char old[512];

	/* Rotation: the path now names another file. */
	put("rot.json", s);
	ok(read_all("rot.json", NULL, 0, &g) == 0 && g.n == 2, "rotation: first read");
	cur = g.cur;
	run_free(&g);
	snprintf(old, sizeof old, "%s", path_of("rot.json.1"));
	rename(path_of("rot.json"), old);
	put("rot.json", "{\"id\":\"evt_new\"}\n");
	ok(read_all("rot.json", &cur, 0, &g) == 0, "rotation: read");
	ok(g.restarted == 1 && strstr(g.why, "rotated") != NULL, "rotation: restarted (%s)", g.why);
	is_int(g.n, 1, "rotation: one value");
	is_value(&g, 0, 0, "{\"id\":\"evt_new\"}", "rotation: the new file from 0");
	run_free(&g);

	/* Truncation: same file, shorter than the cursor. */
	put("trunc2.json", s);
	ok(read_all("trunc2.json", NULL, 0, &g) == 0 && g.n == 2, "truncation: first read");
	cur = g.cur;
	run_free(&g);
	put("trunc2.json", "{\"id\":\"x\"}\n");
	ok(read_all("trunc2.json", &cur, 0, &g) == 0, "truncation: read");
	ok(g.restarted == 1 && strstr(g.why, "truncated") != NULL, "truncation: restarted (%s)",
	   g.why);
	is_int(g.n, 1, "truncation: one value");
	is_value(&g, 0, 0, "{\"id\":\"x\"}", "truncation: read from 0");
	run_free(&g);

	/* Replacement: same size, other first bytes. */
	put("repl.json", s);
	ok(read_all("repl.json", NULL, 0, &g) == 0 && g.n == 2, "replacement: first read");
	cur = g.cur;
	run_free(&g);
	put("repl.json", "{\"id\":\"evt_8\"}\n{\"id\":\"evt_9\"}\n");
	ok(read_all("repl.json", &cur, 0, &g) == 0, "replacement: read");
	ok(g.restarted == 1 && strstr(g.why, "replaced") != NULL, "replacement: restarted (%s)",
	   g.why);
	is_int(g.n, 2, "replacement: both values again");
	is_value(&g, 0, 0, "{\"id\":\"evt_8\"}", "replacement");
	run_free(&g);

	/* A nonsense cursor is not trusted. */
	bad = cur;
	bad.offset = -5;
	ok(read_all("repl.json", &bad, 0, &g) == 0 && g.restarted == 1 && g.n == 2,
	   "invalid cursor: restarted (%s)", g.why);
	run_free(&g);

	/* A zero cursor is the start, not a restart. */
	memset(&bad, 0, sizeof bad);
	ok(read_all("repl.json", &bad, 0, &g) == 0 && g.restarted == 0 && g.n == 2,
	   "zero cursor: from the start");
	run_free(&g);
}

static void
test_crlf(void)
{
	const char *s = "{\"id\":\"evt_1\"}\r\n{\"id\":\"evt_2\"}\r\n\r\n"
	                "{\r\n  \"id\": \"evt_3\"\r\n}\r\n"
	                "junk line\r\n"
	                "{\"id\":\"evt_4\",\"cut\":\"ab\r\n"
	                "{\"id\":\"evt_5\",\"x\":1\r\n"
	                "{\"id\":\"evt_6\"}\r\n";
	struct run g;

	put("crlf.json", s);
	ok(read_all("crlf.json", NULL, 0, &g) == 0, "crlf: read");
	is_int(g.n, 7, "crlf: seven items");
	is_value(&g, 0, 0, "{\"id\":\"evt_1\"}", "crlf");
	is_value(&g, 1, 16, "{\"id\":\"evt_2\"}", "crlf");
	is_value(&g, 2, 34, "{\r\n  \"id\": \"evt_3\"\r\n}", "crlf");
	is_bad(&g, 3, 57, 9, "not JSON", "crlf: junk line without its CR");
	is_bad(&g, 4, 68, 23, "truncated value: the line ends inside a string",
	       "crlf: cut string without its CR");
	is_bad(&g, 5, 93, 19, "truncated value: a new value starts", "crlf: cut line");
	is_value(&g, 6, 114, "{\"id\":\"evt_6\"}", "crlf");
	check_cover("crlf", s, strlen(s), &g);
	run_free(&g);
}

static void
test_bom(void)
{
	const char *s = "\xef\xbb\xbf{\"id\":\"evt_1\"}\n{\"id\":\"evt_2\"}\n";
	struct logread_cursor cur;
	struct run g;

	put("bom.json", s);
	ok(read_all("bom.json", NULL, 0, &g) == 0, "bom: read");
	is_int(g.n, 2, "bom: two items");
	is_value(&g, 0, 3, "{\"id\":\"evt_1\"}", "bom: skipped");
	is_value(&g, 1, 18, "{\"id\":\"evt_2\"}", "bom");
	check_cover("bom", s, strlen(s), &g);
	run_free(&g);

	/* Only a BOM: nothing, and it does not count as a partial value. */
	put("bom.json", "\xef\xbb\xbf");
	ok(read_all("bom.json", NULL, 0, &g) == 0 && g.n == 0 && g.pending == 0,
	   "bom alone: nothing");
	cur = g.cur;
	append("bom.json", "{\"id\":\"evt_1\"}\n");
	ok(read_all("bom.json", &cur, 0, &g) == 0 && g.restarted == 0, "bom, grown: resumed");
	is_value(&g, 0, 3, "{\"id\":\"evt_1\"}", "bom, grown");
	run_free(&g);

	/* A BOM-like sequence elsewhere is junk. */
	put("bom.json", "{\"id\":\"evt_1\"}\n\xef\xbb\xbf{\"id\":\"evt_2\"}\n");
	ok(read_all("bom.json", NULL, 0, &g) == 0, "bom in the middle: read");
	is_int(g.n, 2, "bom in the middle: a value and junk");
	is_bad(&g, 1, 15, 17, "not JSON", "bom in the middle: junk to the end of line");
	run_free(&g);
}

/* Many values across many read blocks, and a value larger than the first
 * buffer. */
static void
test_many(void)
{
	size_t cap = 40000 * 64 + (2u << 20), n = 0, biglen = 1u << 20;
	char *s = malloc(cap);
	struct logread *r;
	struct logread_item it;
	struct err e;
	int i, restarted, count = 0, wrong = 0;
	int64_t bigoff = -1;

	for (i = 0; i < 40000; i++) {
		if (i == 20000) {
			bigoff = (int64_t)n;
			n += (size_t)sprintf(s + n, "{\n  \"id\": \"big\",\n  \"pad\": \"");
			memset(s + n, 'y', biglen), n += biglen;
			n += (size_t)sprintf(s + n, "\"\n}\n");
		}
		n += (size_t)sprintf(s + n, "{\"id\":\"evt_%d\",\"pad\":\"%.*s\"}\n%s", i, i % 23,
		                     "abcdefghijklmnopqrstuvw", i % 7 == 0 ? "\n" : "");
	}
	putn("many.json", s, n);
	ok(logread_open(path_of("many.json"), NULL, 0, &r, &restarted, NULL, 0, &e) == 0,
	   "many: open");
	for (;;) {
		char want[32];
		json_t *id;

		if (logread_next(r, &it, &e) != 0 || it.kind == LOGREAD_EOF)
			break;
		id = json_object_get(it.json, "id");
		if (it.kind != LOGREAD_VALUE || it.offset < 0 || it.end > (int64_t)n ||
		    memcmp(s + it.offset, it.raw, it.rawlen) != 0 || (size_t)it.size != it.rawlen) {
			wrong++;
			continue;
		}
		if (count == 20000 && it.offset == bigoff && strcmp(json_string_value(id), "big") == 0)
			continue;
		snprintf(want, sizeof want, "evt_%d", count);
		if (strcmp(json_string_value(id), want) != 0)
			wrong++;
		count++;
	}
	is_int(count, 40000, "many: 40000 values");
	is_int(wrong, 0, "many: each at its offset, in order, with its bytes");
	ok(it.kind == LOGREAD_EOF && it.offset == (int64_t)n - 1, "many: cursor at the end");
	logread_close(r);
	free(s);
}

static void
test_errors(void)
{
	struct logread *r = (struct logread *)&r;
	struct err e;
	int restarted;

	ok(logread_open(path_of("nope.json"), NULL, 0, &r, &restarted, NULL, 0, &e) == -1 &&
	   r == NULL && strstr(e.msg, "nope.json") != NULL, "missing file: error names it (%s)",
	   e.msg);
	ok(logread_open(dir, NULL, 0, &r, &restarted, NULL, 0, &e) == -1 &&
	   strstr(e.msg, "not a regular file") != NULL, "directory: refused (%s)", e.msg);
	logread_close(NULL);
	ok(1, "close(NULL) is a no-op");
}

int
main(void)
{
	snprintf(dir, sizeof dir, "%s", t_dir());
	test_json_lines();
	test_stripe_listen();
	test_pretty();
	test_mixed();
	test_truncated();
	test_big_line();
	test_cap_edge();
	test_garbage();
	test_random_junk();
	test_not_object();
	test_pending();
	test_resume();
	test_restart();
	test_crlf();
	test_bom();
	test_many();
	test_errors();
	return t_done();
}
