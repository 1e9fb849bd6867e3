/*
 * stripe-api: the Stripe HTTP client.  See stripe-api.h for the contract and
 * doc/stripe-client.md for the policy in prose.
 *
 * A call (api_get, api_post) is a loop of attempts on the client's one curl
 * easy handle, so connections are reused.  Before every attempt the rate
 * limiter claims the next slot: slots are 1/rate apart on CLOCK_MONOTONIC,
 * with a 2% margin (20 ms a second) so that jitter between our sending and
 * the server's receiving cannot put rate+1 requests into one of its seconds,
 * and a client that is late starts the schedule again from now rather than
 * bursting to catch up.  libcurl itself re-sends a request, once, when a
 * reused connection turns out to be dead before any reply byte arrived; the
 * server sees that request too, so the limiter also claims a slot when curl
 * opens a connection after the request has already gone out in this
 * attempt, and the request counters count the request headers curl reports
 * sending (CURLINFO_HEADER_OUT through the debug callback).
 *
 * An attempt ends in one of: a 2xx whose body is a JSON object (success); an
 * HTTP error, whose body is parsed as Stripe's {"error": {...}}; a body that
 * is not JSON or larger than API_BODY_CAP ("invalid_response"); a curl
 * failure, a body cut short included ("network", or "tls" for certificate
 * trouble that waiting will not fix); or the stop flag ("stopped").
 * api_error_transient decides whether another attempt may help; the wait
 * before it is a full-jitter exponential backoff, raised to Retry-After when
 * the server sent one.  All waits are sliced so *stop is seen within
 * API_SLICE_MS, and the curl progress callback aborts a transfer in flight
 * when *stop is set (curl calls it about once a second while it waits).
 *
 * The key is held in one place and sent only in the Authorization header.
 * Every text that goes into a struct api_error passes through api_text,
 * which strips control characters and replaces any occurrence of the key
 * with its mask, before truncation, so not even a prefix of it survives.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "stripe-api.h"
#include "util.h"

#define API_BODY_CAP            ((size_t)64 << 20)   /* bytes of one response body */
#define API_SLICE_MS            50                   /* longest sleep without looking at *stop */
#define API_RETRY_AFTER_MAX_MS  60000L               /* Retry-After is honoured up to this */
#define API_RATE_MARGIN         1.02                 /* slots are 2% wider than 1/rate */
#define API_IDEM_MAX            255                  /* Stripe's limit on Idempotency-Key */

/* What the header callback learnt about the current response. */
struct api_resp {
	char request_id[64];
	int should_retry;               /* -1 absent */
	char retry_after[64];           /* raw; "" absent */
	char location[256];
	int64_t date;                   /* 0 absent */
};

struct api_client {
	CURL *h;
	char *base;                     /* without a trailing '/' */
	char *key;
	char *auth;                     /* "Authorization: Bearer <key>" */
	char *version_hdr;              /* "Stripe-Version: ..." or NULL */
	char key_mask[64];

	int64_t interval_ns;            /* 0 = no limit */
	int64_t next_ns;                /* the earliest the next request may go */
	long backoff_base_ms, backoff_max_ms;
	int max_retries;
	const atomic_int *stop;
	uint64_t rng;

	struct api_stats stats;

	/* State of the attempt in flight. */
	const char *method;
	struct buf body;
	struct api_resp r;
	int sent;                       /* requests curl sent in this attempt */
	int stopped;                    /* the stop flag ended a wait or the transfer */
	char errbuf[CURL_ERROR_SIZE];
};

/* --- parameters ------------------------------------------------------- */

void
api_params_add(struct api_params *p, const char *k, const char *v)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->k = xrealloc(p->k, p->cap * sizeof *p->k);
		p->v = xrealloc(p->v, p->cap * sizeof *p->v);
	}
	p->k[p->n] = xstrdup(k);
	p->v[p->n] = xstrdup(v != NULL ? v : "");
	p->n++;
}

void
api_params_addf(struct api_params *p, const char *k, const char *fmt, ...)
{
	va_list ap;
	char *v;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		api_params_add(p, k, "");
		return;
	}
	v = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(v, (size_t)n + 1, fmt, ap);
	va_end(ap);
	api_params_add(p, k, v);
	free(v);
}

void
api_params_free(struct api_params *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->k[i]);
		free(p->v[i]);
	}
	free(p->k);
	free(p->v);
	memset(p, 0, sizeof *p);
}

/* Append s percent-encoded: RFC 3986 unreserved characters are kept, and
 * '[' ']' too when keep_brackets (keys), everything else is %XX. */
static void
form_escape(struct buf *b, const char *s, int keep_brackets)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s;
	char esc[3];

	for (; *u != '\0'; u++) {
		if ((*u >= 'A' && *u <= 'Z') || (*u >= 'a' && *u <= 'z') || (*u >= '0' && *u <= '9') ||
		    *u == '-' || *u == '.' || *u == '_' || *u == '~' ||
		    (keep_brackets && (*u == '[' || *u == ']'))) {
			buf_append(b, u, 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[*u >> 4];
		esc[2] = hex[*u & 0xf];
		buf_append(b, esc, 3);
	}
}

char *
api_params_encode(const struct api_params *p)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_append(&b, "", 0);
	for (i = 0; p != NULL && i < p->n; i++) {
		if (i > 0)
			buf_append(&b, "&", 1);
		form_escape(&b, p->k[i], 1);
		buf_append(&b, "=", 1);
		form_escape(&b, p->v[i], 0);
	}
	return b.data;          /* the buffer's storage becomes the caller's */
}

/* --- clock, random, waits --------------------------------------------- */

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
stop_requested(struct api_client *c)
{
	if (c->stop != NULL && atomic_load(c->stop) != 0)
		c->stopped = 1;
	return c->stopped;
}

/* Sleep until the monotonic deadline, in slices, looking at *stop between
 * them.  0 when the deadline came, -1 when stopped first. */
static int
sleep_until(struct api_client *c, int64_t deadline)
{
	struct timespec ts;
	int64_t now, left;

	for (;;) {
		if (stop_requested(c))
			return -1;
		now = mono_ns();
		if (now >= deadline)
			return 0;
		left = deadline - now;
		if (left > (int64_t)API_SLICE_MS * 1000000)
			left = (int64_t)API_SLICE_MS * 1000000;
		ts.tv_sec = (time_t)(left / 1000000000);
		ts.tv_nsec = (long)(left % 1000000000);
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}

/* Claim the next request slot, waiting for it.  0, or -1 when stopped. */
static int
rate_wait(struct api_client *c)
{
	int64_t now, slot;

	if (stop_requested(c))
		return -1;
	if (c->interval_ns <= 0)
		return 0;
	now = mono_ns();
	if (c->next_ns > now) {
		if (sleep_until(c, c->next_ns) < 0)
			return -1;
		slot = c->next_ns;
	} else {
		slot = now;
	}
	c->next_ns = slot + c->interval_ns;
	return 0;
}

/* xorshift64*: jitter only, not security. */
static uint64_t
rng_next(struct api_client *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1DULL;
}

/* The wait before retry number `retry` (0 for the first): uniform in
 * [0, min(max, base * 2^retry)], raised to Retry-After when given. */
static long
backoff_ms(struct api_client *c, int retry, long retry_after_ms)
{
	long cap = c->backoff_base_ms;
	long ms;
	int i;

	for (i = 0; i < retry && cap < c->backoff_max_ms; i++)
		cap *= 2;
	if (cap > c->backoff_max_ms)
		cap = c->backoff_max_ms;
	ms = (long)(rng_next(c) % ((uint64_t)cap + 1));
	if (retry_after_ms > API_RETRY_AFTER_MAX_MS)
		retry_after_ms = API_RETRY_AFTER_MAX_MS;
	if (retry_after_ms > ms)
		ms = retry_after_ms;
	return ms;
}

/* --- text that reaches an api_error ------------------------------------ */

/* Copy outside or curl text into dst: control characters dropped (text_clean)
 * and every occurrence of the key replaced by its mask, before truncating.
 * When src is a window cut from longer text (cut), a start of the key at
 * its end is dropped too. */
static void
api_text_cut(const struct api_client *c, char *dst, size_t dstsz, const char *src, size_t len,
             int cut)
{
	char *clean = xmalloc(len + 1);
	struct buf out;
	const char *p, *hit;
	size_t klen = c->key != NULL ? strlen(c->key) : 0, tail, k;

	text_clean(src, len, clean, len + 1);
	buf_init(&out, 0);
	buf_append(&out, "", 0);
	p = clean;
	while (klen > 0 && (hit = strstr(p, c->key)) != NULL) {
		buf_append(&out, p, (size_t)(hit - p));
		buf_append(&out, c->key_mask, strlen(c->key_mask));
		p = hit + klen;
	}
	tail = strlen(p);
	if (cut && klen > 0)
		for (k = tail < klen ? tail : klen - 1; k > 0; k--)
			if (memcmp(p + tail - k, c->key, k) == 0) {
				tail -= k;
				break;
			}
	buf_append(&out, p, tail);
	text_clean(out.data, out.len, dst, dstsz);
	buf_done(&out);
	free(clean);
}

static void
api_text(const struct api_client *c, char *dst, size_t dstsz, const char *src, size_t len)
{
	api_text_cut(c, dst, dstsz, src, len, 0);
}

static void __attribute__((format(printf, 3, 0)))
ae_vmessage(const struct api_client *c, struct api_error *ae, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof msg, fmt, ap);
	api_text(c, ae->message, sizeof ae->message, msg, strlen(msg));
}

/* Set ae's message only. */
static void __attribute__((format(printf, 3, 4)))
ae_message(const struct api_client *c, struct api_error *ae, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ae_vmessage(c, ae, fmt, ap);
	va_end(ap);
}

/* Set ae's type, code (literals of ours) and message. */
static void __attribute__((format(printf, 5, 6)))
ae_set(const struct api_client *c, struct api_error *ae, const char *type, const char *code,
       const char *fmt, ...)
{
	va_list ap;

	snprintf(ae->type, sizeof ae->type, "%s", type);
	snprintf(ae->code, sizeof ae->code, "%s", code != NULL ? code : "");
	va_start(ap, fmt);
	ae_vmessage(c, ae, fmt, ap);
	va_end(ap);
}

/* --- response headers -------------------------------------------------- */

static int
month_of(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int i;

	for (i = 0; i < 12; i++)
		if (strncmp(m, names + 3 * i, 3) == 0 && m[3] == '\0')
			return i;
	return -1;
}

/* An HTTP date (RFC 7231 7.1.1.1): IMF-fixdate, and the obsolete RFC 850
 * and asctime forms recipients must accept.  0 ok, -1 not a date. */
static int
http_date_parse(const char *s, int64_t *out)
{
	struct tm tm;
	char mon[4];
	int d, y, hh, mm, ss, used = -1;
	time_t t;

	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
	           &d, mon, &y, &hh, &mm, &ss, &used) == 6 && used >= 0 && s[used] == '\0') {
		/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	} else if (used = -1, sscanf(s, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n",
	                             &d, mon, &y, &hh, &mm, &ss, &used) == 6 &&
	           used >= 0 && s[used] == '\0') {
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
		y += y < 70 ? 2000 : 1900;
	} else if (used = -1, sscanf(s, "%*3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n",
	                             mon, &d, &hh, &mm, &ss, &y, &used) == 6 &&
	           used >= 0 && s[used] == '\0') {
		/* asctime: Sun Nov  6 08:49:37 1994 */
	} else {
		return -1;
	}
	tm.tm_mon = month_of(mon);
	if (tm.tm_mon < 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || y < 1970)
		return -1;
	tm.tm_mday = d;
	tm.tm_year = y - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* Retry-After in milliseconds: delta-seconds or an HTTP date (relative to
 * the response's Date, else our clock).  -1 when absent or unreadable. */
static long
retry_after_ms(const struct api_resp *r)
{
	int64_t secs, when;

	if (r->retry_after[0] == '\0')
		return -1;
	if (parse_int64(r->retry_after, &secs) == 0) {
		if (secs < 0)
			return -1;
	} else if (http_date_parse(r->retry_after, &when) == 0) {
		secs = when - (r->date != 0 ? r->date : (int64_t)time(NULL));
		if (secs < 0)
			secs = 0;
	} else {
		return -1;
	}
	if (secs > API_RETRY_AFTER_MAX_MS / 1000)
		return API_RETRY_AFTER_MAX_MS;
	return (long)secs * 1000;
}

static int
header_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct api_client *c = ud;
	size_t len = size * nmemb, nlen, vlen;
	const char *colon, *v;
	char tmp[128];

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx, say): forget the last one's. */
		memset(&c->r, 0, sizeof c->r);
		c->r.should_retry = -1;
		return len;
	}
	colon = memchr(p, ':', len);
	if (colon == NULL)
		return len;
	nlen = (size_t)(colon - p);
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' ||
	                    v[vlen - 1] == '\t'))
		vlen--;
	if (header_is(p, nlen, "Request-Id")) {
		api_text(c, c->r.request_id, sizeof c->r.request_id, v, vlen);
	} else if (header_is(p, nlen, "Stripe-Should-Retry")) {
		if (vlen == 4 && strncasecmp(v, "true", 4) == 0)
			c->r.should_retry = 1;
		else if (vlen == 5 && strncasecmp(v, "false", 5) == 0)
			c->r.should_retry = 0;
	} else if (header_is(p, nlen, "Retry-After")) {
		text_clean(v, vlen, c->r.retry_after, sizeof c->r.retry_after);
	} else if (header_is(p, nlen, "Location")) {
		api_text(c, c->r.location, sizeof c->r.location, v, vlen);
	} else if (header_is(p, nlen, "Date")) {
		text_clean(v, vlen, tmp, sizeof tmp);
		if (http_date_parse(tmp, &c->r.date) != 0)
			c->r.date = 0;
	}
	return len;
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct api_client *c = ud;
	size_t len = size * nmemb;

	if (buf_append(&c->body, p, len) < 0)
		return 0;       /* CURLE_WRITE_ERROR; body.toobig says why */
	return len;
}

static int
on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return stop_requested(ud) ? 1 : 0;
}

/* Count the requests curl actually writes: one HEADER_OUT block starting
 * with the method per request (curl's own re-send included). */
static int
on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
	struct api_client *c = ud;
	size_t mlen = strlen(c->method);

	if (type == CURLINFO_HEADER_OUT && size > mlen && strncmp(data, c->method, mlen) == 0 &&
	    data[mlen] == ' ') {
		c->sent++;
		if (c->sent > 1)
			c->stats.requests++;    /* the first is counted by the caller */
	}
	return 0;
}

/* A new connection.  When this attempt's request has gone out already, this
 * is curl re-sending it: it takes a slot like any request. */
static curl_socket_t
on_opensocket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct api_client *c = ud;

	if (c->sent > 0 && rate_wait(c) < 0)
		return CURL_SOCKET_BAD;
#ifdef SOCK_CLOEXEC
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
#else
	return socket(a->family, a->socktype, a->protocol);
#endif
}

/* --- open, close ------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* 1 when s is safe inside a header: printable ASCII, no spaces. */
static int
header_token_ok(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || i >= max)
			return 0;
	return i > 0;
}

#define SETOPT(opt, val) do { \
	if ((cc = curl_easy_setopt(c->h, opt, val)) != CURLE_OK) { \
		err_set(e, "stripe client: curl option %s: %s", #opt, curl_easy_strerror(cc)); \
		goto out; \
	} \
} while (0)

int
api_open(const struct api_opts *o, struct api_client **out, struct err *e)
{
	struct api_client *c = NULL;
	CURLcode cc;
	size_t n;
	int rc = -1;

	*out = NULL;
	if (o->base == NULL || (strncmp(o->base, "https://", 8) != 0 &&
	                        strncmp(o->base, "http://", 7) != 0))
		return err_set(e, "stripe client: the base URL must start with https:// (got \"%s\")",
		               o->base ? o->base : "");
	if (o->key == NULL || !header_token_ok(o->key, 1024))
		return err_set(e, "stripe client: no usable API key (it must be non-empty printable "
		               "ASCII without spaces; set it in the configuration)");
	if (o->version != NULL && *o->version != '\0' && !header_token_ok(o->version, 64))
		return err_set(e, "stripe client: Stripe-Version \"%.64s\" is not a version string",
		               o->version);
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return err_set(e, "stripe client: curl_global_init: %s", curl_easy_strerror(curl_init_rc));

	c = xcalloc(1, sizeof *c);
	c->base = xstrdup(o->base);
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	c->key = xstrdup(o->key);
	secret_mask(c->key, c->key_mask, sizeof c->key_mask);
	n = strlen("Authorization: Bearer ") + strlen(c->key) + 1;
	c->auth = xmalloc(n);
	snprintf(c->auth, n, "Authorization: Bearer %s", c->key);
	if (o->version != NULL && *o->version != '\0') {
		n = strlen("Stripe-Version: ") + strlen(o->version) + 1;
		c->version_hdr = xmalloc(n);
		snprintf(c->version_hdr, n, "Stripe-Version: %s", o->version);
	}
	if (o->rate > 0) {
		double ns = 1e9 * API_RATE_MARGIN / o->rate;

		c->interval_ns = ns > 1e15 ? (int64_t)1e15 : (int64_t)ns;
	}
	c->max_retries = o->max_retries < 0 ? 5 : o->max_retries;
	c->backoff_base_ms = o->backoff_base_ms > 0 ? o->backoff_base_ms : 500;
	c->backoff_max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms : 20000;
	if (c->backoff_max_ms < c->backoff_base_ms)
		c->backoff_max_ms = c->backoff_base_ms;
	c->stop = o->stop;
	c->rng = (uint64_t)mono_ns() ^ ((uint64_t)(uintptr_t)c << 16) ^ (uint64_t)getpid();
	if (c->rng == 0)
		c->rng = 0x9E3779B97F4A7C15ULL;
	c->method = "GET";
	buf_init(&c->body, API_BODY_CAP);

	c->h = curl_easy_init();
	if (c->h == NULL) {
		err_set(e, "stripe client: curl_easy_init failed (out of memory?)");
		goto out;
	}
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
#if CURL_AT_LEAST_VERSION(7, 85, 0)
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 30000L);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000L);
	SETOPT(CURLOPT_USERAGENT, "tally/" PACKAGE_VERSION);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, c);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, c);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
	SETOPT(CURLOPT_XFERINFODATA, c);
	SETOPT(CURLOPT_DEBUGFUNCTION, on_debug);
	SETOPT(CURLOPT_DEBUGDATA, c);
	SETOPT(CURLOPT_VERBOSE, 1L);    /* feeds on_debug only; nothing is printed */
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
	SETOPT(CURLOPT_OPENSOCKETDATA, c);
	rc = 0;
out:
	if (rc != 0) {
		api_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

#undef SETOPT

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
api_close(struct api_client *c)
{
	if (c == NULL)
		return;
	if (c->h != NULL)
		curl_easy_cleanup(c->h);
	wipe_free(c->key);
	wipe_free(c->auth);
	free(c->version_hdr);
	free(c->base);
	buf_done(&c->body);
	free(c);
}

const struct api_stats *
api_stats(const struct api_client *c)
{
	return &c->stats;
}

/* --- one attempt -------------------------------------------------------- */

static const struct {
	CURLcode cc;
	const char *code;
} net_codes[] = {
	{CURLE_OPERATION_TIMEDOUT, "timeout"},
	{CURLE_COULDNT_RESOLVE_HOST, "resolve"},
	{CURLE_COULDNT_RESOLVE_PROXY, "resolve"},
	{CURLE_COULDNT_CONNECT, "connect"},
	{CURLE_GOT_NOTHING, "dropped"},
	{CURLE_RECV_ERROR, "dropped"},
	{CURLE_SEND_ERROR, "dropped"},
	{CURLE_PARTIAL_FILE, "truncated"},
	{CURLE_HTTP2, "http2"},
	{CURLE_HTTP2_STREAM, "http2"},
};

/* Fill ae for a curl failure of the attempt. */
static void
fail_curl(struct api_client *c, CURLcode cc, const char *path, struct api_error *ae)
{
	const char *why = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc);
	const char *code = "";
	size_t i;

	for (i = 0; i < sizeof net_codes / sizeof net_codes[0]; i++)
		if (net_codes[i].cc == cc)
			code = net_codes[i].code;
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		ae_set(c, ae, "tls", "certificate", "%s %s: %s (curl error %d; check the CA "
		       "certificates and the base URL)", c->method, path, why, (int)cc);
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		ae_set(c, ae, "invalid_request", "bad_url", "%s %s: %s (curl error %d; check the "
		       "base URL)", c->method, path, why, (int)cc);
		break;
	default:
		ae_set(c, ae, "network", code, "%s %s: %s (curl error %d)", c->method, path, why,
		       (int)cc);
		break;
	}
}

/* Fill ae from an HTTP error response (status not 2xx). */
static void
fail_http(struct api_client *c, long status, const char *path, struct api_error *ae)
{
	json_t *root, *err, *v;
	json_error_t jerr;
	char snippet[128];

	root = json_loadb(c->body.data != NULL ? c->body.data : "", c->body.len, 0, &jerr);
	err = json_is_object(root) ? json_object_get(root, "error") : NULL;
	if (!json_is_object(err)) {
		if (status >= 300 && status < 400)
			ae_set(c, ae, "invalid_response", "redirect", "%s %s: HTTP %ld redirect to \"%s\"; "
			       "tally does not follow redirects (check the base URL)", c->method, path,
			       status, c->r.location);
		else {
			api_text_cut(c, snippet, sizeof snippet, c->body.data != NULL ? c->body.data : "",
			             c->body.len < 100 ? c->body.len : 100, c->body.len > 100);
			ae_set(c, ae, "invalid_response", "not_stripe_error", "%s %s: HTTP %ld with a "
			       "body that is not a Stripe error (%zu bytes: \"%s%s\")", c->method, path,
			       status, c->body.len, snippet, c->body.len > 100 ? "..." : "");
		}
		json_decref(root);
		return;
	}
	v = json_object_get(err, "type");
	api_text(c, ae->type, sizeof ae->type, json_is_string(v) ? json_string_value(v) : "unknown",
	         json_is_string(v) ? json_string_length(v) : 7);
	if (ae->type[0] == '\0')
		snprintf(ae->type, sizeof ae->type, "unknown");
	if (json_is_string(v = json_object_get(err, "code")))
		api_text(c, ae->code, sizeof ae->code, json_string_value(v), json_string_length(v));
	if (json_is_string(v = json_object_get(err, "param")))
		api_text(c, ae->param, sizeof ae->param, json_string_value(v), json_string_length(v));
	if (json_is_string(v = json_object_get(err, "message")) && json_string_length(v) > 0)
		api_text(c, ae->message, sizeof ae->message, json_string_value(v),
		         json_string_length(v));
	else
		ae_message(c, ae, "%s %s: HTTP %ld without a message", c->method, path, status);
	json_decref(root);
}

/* Parse a 2xx body into *out.  0, or -1 with ae filled. */
static int
parse_ok(struct api_client *c, const char *path, json_t **out, struct api_error *ae)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(c->body.data != NULL ? c->body.data : "", c->body.len, 0, &jerr);
	if (root == NULL) {
		ae_set(c, ae, "invalid_response", "invalid_json", "%s %s: the response is not complete "
		       "JSON (%s at line %d column %d, byte %d of %zu)", c->method, path, jerr.text,
		       jerr.line, jerr.column, jerr.position, c->body.len);
		return -1;
	}
	if (!json_is_object(root)) {
		ae_set(c, ae, "invalid_response", "not_an_object", "%s %s: the response is JSON but "
		       "not an object", c->method, path);
		json_decref(root);
		return -1;
	}
	if (out != NULL)
		*out = root;
	else
		json_decref(root);
	return 0;
}

/* One request.  Returns 0 on a 2xx with a JSON object; -1 with ae filled
 * (its attempts are left to the caller). */
static int
attempt(struct api_client *c, const char *path, json_t **out, int64_t *server_time,
        struct api_error *ae)
{
	int attempts = ae->attempts;
	long status = 0;
	CURLcode cc;

	memset(ae, 0, sizeof *ae);
	ae->attempts = attempts;
	ae->should_retry = -1;
	memset(&c->r, 0, sizeof c->r);
	c->r.should_retry = -1;
	buf_reset(&c->body);
	c->errbuf[0] = '\0';
	c->sent = 0;

	cc = curl_easy_perform(c->h);
	if (c->sent > 1)
		ae->attempts += c->sent - 1;    /* curl re-sent on a fresh connection */
	if (curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (c->r.request_id[0] != '\0') {
		snprintf(ae->request_id, sizeof ae->request_id, "%s", c->r.request_id);
		snprintf(c->stats.last_request_id, sizeof c->stats.last_request_id, "%s",
		         c->r.request_id);
	}
	if (server_time != NULL)
		*server_time = c->r.date;

	if (cc != CURLE_OK && (cc == CURLE_ABORTED_BY_CALLBACK || stop_requested(c))) {
		ae_set(c, ae, "stopped", "", "%s %s: stopped during the request", c->method, path);
		return -1;
	}
	if (cc == CURLE_WRITE_ERROR && c->body.toobig) {
		ae->status = status;
		ae_set(c, ae, "invalid_response", "response_too_large", "%s %s: the response is larger "
		       "than %zu MiB", c->method, path, API_BODY_CAP >> 20);
		return -1;
	}
	if (cc != CURLE_OK) {
		fail_curl(c, cc, path, ae);
		return -1;
	}
	ae->status = status;
	ae->should_retry = c->r.should_retry;
	if (status >= 200 && status < 300)
		return parse_ok(c, path, out, ae);
	fail_http(c, status, path, ae);
	return -1;
}

/* --- calls ------------------------------------------------------------- */

/* The call was stopped in a wait: before its first request, or before a
 * retry, whose message then keeps the last error. */
static void
set_stopped(struct api_client *c, struct api_error *ae, const char *path)
{
	char last[sizeof ae->message];

	if (ae->attempts == 0) {
		ae_set(c, ae, "stopped", "", "%s %s: stopped before the request", c->method, path);
		return;
	}
	api_error_format(ae, last, sizeof last);
	ae->status = 0;
	ae->param[0] = '\0';
	ae_set(c, ae, "stopped", "", "%s %s: stopped before retrying (last: %s)", c->method, path,
	       last);
}

static int
hdr_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *n = curl_slist_append(*l, s);

	if (n == NULL)
		return -1;
	*l = n;
	return 0;
}

/* 1 when p is a path we will put into a URL as is. */
static int
path_ok(const char *p)
{
	if (p == NULL || *p != '/')
		return 0;
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
			return 0;
	return 1;
}

#define SETOPT(opt, val) do { \
	if ((cc = curl_easy_setopt(c->h, opt, val)) != CURLE_OK) { \
		ae_set(c, ae, "invalid_request", "curl", "%s %s: curl option %s: %s", method, \
		       path, #opt, curl_easy_strerror(cc)); \
		goto out; \
	} \
} while (0)

static int
api_call(struct api_client *c, const char *method, const char *path, const struct api_params *p,
         const char *idem_key, json_t **out, int64_t *server_time, struct api_error *ae)
{
	struct curl_slist *hdrs = NULL;
	char *query = NULL, *url = NULL, *idem_hdr = NULL;
	size_t n;
	long wait;
	int is_post = strcmp(method, "POST") == 0;
	int retry = 0, rc = -1;
	CURLcode cc;

	memset(ae, 0, sizeof *ae);
	ae->should_retry = -1;
	if (out != NULL)
		*out = NULL;
	if (server_time != NULL)
		*server_time = 0;
	c->method = method;
	c->stopped = 0;
	if (!path_ok(path)) {
		ae_set(c, ae, "invalid_request", "bad_path", "%s %.100s: not an API path (it must "
		       "start with '/' and hold no spaces or control characters)", method,
		       path ? path : "(null)");
		c->stats.errors++;
		return -1;
	}
	if (is_post && (idem_key == NULL || !header_token_ok(idem_key, API_IDEM_MAX))) {
		ae_set(c, ae, "invalid_request", "bad_idempotency_key", "%s %s: an Idempotency-Key "
		       "of 1 to %d printable characters is required", method, path, API_IDEM_MAX);
		c->stats.errors++;
		return -1;
	}

	query = api_params_encode(p);
	n = strlen(c->base) + strlen(path) + strlen(query) + 2;
	url = xmalloc(n);
	if (!is_post && *query != '\0')
		snprintf(url, n, "%s%s%c%s", c->base, path, strchr(path, '?') ? '&' : '?', query);
	else
		snprintf(url, n, "%s%s", c->base, path);

	if (is_post) {
		n = strlen("Idempotency-Key: ") + strlen(idem_key) + 1;
		idem_hdr = xmalloc(n);
		snprintf(idem_hdr, n, "Idempotency-Key: %s", idem_key);
	}
	if (hdr_add(&hdrs, c->auth) < 0 ||
	    (c->version_hdr != NULL && hdr_add(&hdrs, c->version_hdr) < 0) ||
	    hdr_add(&hdrs, "Accept: application/json") < 0 ||
	    (is_post && (hdr_add(&hdrs, idem_hdr) < 0 ||
	                 hdr_add(&hdrs, "Content-Type: application/x-www-form-urlencoded") < 0 ||
	                 hdr_add(&hdrs, "Expect:") < 0))) {
		ae_set(c, ae, "invalid_request", "curl", "%s %s: out of memory building the headers",
		       method, path);
		goto out;
	}

	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	if (is_post) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(query));
		SETOPT(CURLOPT_POSTFIELDS, query);
	} else {
		SETOPT(CURLOPT_HTTPGET, 1L);
	}

	for (;;) {
		if (rate_wait(c) < 0) {
			set_stopped(c, ae, path);
			break;
		}
		ae->attempts++;
		c->stats.requests++;
		if (attempt(c, path, out, server_time, ae) == 0) {
			rc = 0;
			break;
		}
		if (strcmp(ae->type, "stopped") == 0)
			break;
		if (retry >= c->max_retries || !api_error_transient(ae))
			break;
		wait = backoff_ms(c, retry, ae->should_retry == 0 ? -1 : retry_after_ms(&c->r));
		if (sleep_until(c, mono_ns() + (int64_t)wait * 1000000) < 0) {
			set_stopped(c, ae, path);
			break;
		}
		retry++;
		c->stats.retries++;
	}
out:
	if (rc != 0 && strcmp(ae->type, "stopped") != 0)
		c->stats.errors++;
	/* The handle must not keep pointers to what is freed here.  Setting
	 * these to NULL cannot fail. */
	(void)curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
	if (is_post)
		(void)curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hdrs);
	free(idem_hdr);
	free(url);
	free(query);
	return rc;
}

#undef SETOPT

int
api_get(struct api_client *c, const char *path, const struct api_params *p, json_t **out,
        int64_t *server_time, struct api_error *ae)
{
	return api_call(c, "GET", path, p, NULL, out, server_time, ae);
}

int
api_post(struct api_client *c, const char *path, const struct api_params *p, const char *idem_key,
         json_t **out, struct api_error *ae)
{
	return api_call(c, "POST", path, p, idem_key, out, NULL, ae);
}

/* --- errors -------------------------------------------------------------- */

void
api_error_format(const struct api_error *ae, char *dst, size_t n)
{
	char raw[1024];
	size_t len = 0;
	int more = 0;

#define PUT(...) do { \
	if (len < sizeof raw) { \
		int w_ = snprintf(raw + len, sizeof raw - len, __VA_ARGS__); \
		len += w_ > 0 ? (size_t)w_ : 0; \
	} \
} while (0)
	if (n == 0)
		return;
	if (ae->status != 0)
		PUT("%ld ", ae->status);
	PUT("%s", ae->type[0] != '\0' ? ae->type : "error");
	if (ae->code[0] != '\0')
		PUT(" [%s]", ae->code);
	PUT(": %s", ae->message[0] != '\0' ? ae->message : "(no message)");
	if (ae->param[0] != '\0')
		PUT("%sparam %s", more++ ? "; " : " (", ae->param);
	if (ae->request_id[0] != '\0')
		PUT("%srequest %s", more++ ? "; " : " (", ae->request_id);
	if (ae->attempts > 1)
		PUT("%s%d attempts", more++ ? "; " : " (", ae->attempts);
	if (more)
		PUT(")");
#undef PUT
	if (len >= sizeof raw)
		len = sizeof raw - 1;
	text_clean(raw, len, dst, n);
}

int
api_error_transient(const struct api_error *ae)
{
	/* Without a response, only a network error (not tls, invalid_request,
	 * stopped) is worth another try. */
	if (ae->status == 0 || strcmp(ae->type, "stopped") == 0)
		return ae->status == 0 && strcmp(ae->type, "network") == 0;
	if (ae->should_retry >= 0)
		return ae->should_retry;
	if (ae->status == 409 || ae->status == 429 || ae->status >= 500)
		return 1;
	/* A 2xx whose body did not parse was most likely cut in transit. */
	if (ae->status >= 200 && ae->status < 300)
		return strcmp(ae->type, "invalid_response") == 0 &&
		       strcmp(ae->code, "response_too_large") != 0;
	return 0;
}
