/*
 * config: tally's settings: defaults, then the file, then the environment.
 * See config.h for the layers and doc/tally.conf.5 for the file.
 *
 * Every key is one row of config_keys[]: its name, the kind of value it takes
 * and where in struct config it lands.  One parser per kind turns the text
 * into the value or into a message that says what was expected and what was
 * found; the caller puts "FILE:LINE: key: " (or the environment variable's
 * name) in front.  Values of secret kinds are never echoed.
 *
 * A '#' starts a comment at the start of a line or after white space (so
 * "usage#1.jsonl" keeps its '#').  Paths may start with "~/"; others are
 * taken as given, relative to the working directory.
 *
 * Two rules guard the Stripe key: a file that holds it inline must be
 * private to its owner (mode 0600 or tighter), and so must a key file
 * (stripe_api_key_file, STRIPE_API_KEY_FILE).  A publishable key (pk_...) is
 * refused, since it cannot read anything tally needs.
 *
 * config_load takes a struct that config_init set up (or one zeroed), resets
 * it to the defaults and fills it; when it fails, the defaults are left, and
 * config_done is needed either way.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

#define CONFIG_FILE_MAX (1 << 20)      /* a config file is small; 1 MiB is not a config */
#define KEY_FILE_MAX 4096
#define SHOW_MAX 48                    /* bytes of a bad value echoed in a message */
#define MAX_VALUE_SIZE_MAX (1LL << 30) /* 1 GiB: a bigger log value is an error, not a buffer */

#define DEFAULT_API_BASE "https://api.stripe.com"
#define DEFAULT_STRIPE_VERSION "2026-07-29.dahlia"

enum config_kind {
	CK_PATH,          /* char *, "~/" expanded */
	CK_PATH_LIST,     /* struct strlist of paths */
	CK_API_KEY,       /* char *, secret */
	CK_API_KEY_FILE,  /* char * (the key read from the named file), secret */
	CK_SECRET_LIST,   /* struct strlist of secrets */
	CK_URL,           /* char *, http(s)://, trailing '/' dropped */
	CK_WORD,          /* char *, no white space */
	CK_TEXT,          /* char * */
	CK_BOOL,          /* int */
	CK_DURATION,      /* int64_t seconds; s, m, h, d suffixes */
	CK_SIZE,          /* int64_t bytes; k, M, G suffixes */
	CK_RATE,          /* double > 0 */
	CK_COUNT          /* int64_t */
};

struct config_key {
	const char *name;
	enum config_kind kind;
	size_t off;
	int64_t min, max;  /* for durations, sizes and counts */
};

#define F(field) offsetof(struct config, field)

static const struct config_key config_keys[] = {
	{"db", CK_PATH, F(db_path), 0, 0},
	{"catalog", CK_PATH, F(catalog_path), 0, 0},
	{"webhook_log", CK_PATH_LIST, F(webhook_logs), 0, 0},
	{"usage_log", CK_PATH_LIST, F(usage_logs), 0, 0},
	{"stripe_api_key", CK_API_KEY, F(api_key), 0, 0},
	{"stripe_api_key_file", CK_API_KEY_FILE, F(api_key), 0, 0},
	{"webhook_secret", CK_SECRET_LIST, F(webhook_secrets), 0, 0},
	{"api_base", CK_URL, F(api_base), 0, 0},
	{"stripe_version", CK_WORD, F(stripe_version), 0, 0},
	{"operator", CK_TEXT, F(operator_name), 0, 0},
	{"read_only", CK_BOOL, F(read_only), 0, 0},
	{"webhook_tolerance", CK_DURATION, F(webhook_tolerance), 0, INT64_MAX},
	{"max_value_size", CK_SIZE, F(max_value_bytes), 1, MAX_VALUE_SIZE_MAX},
	{"stale_after", CK_DURATION, F(stale_after), 1, INT64_MAX},
	{"sync_interval", CK_DURATION, F(sync_interval), 1, INT64_MAX},
	{"reconcile_interval", CK_DURATION, F(reconcile_interval), 1, INT64_MAX},
	{"rate_limit", CK_RATE, F(rate_limit), 0, 0},
	{"adjust_cap", CK_COUNT, F(adjust_cap), 0, INT64_MAX},
	{"webhook_endpoint_url", CK_URL, F(webhook_endpoint_url), 0, 0},
	{"webhook_endpoint_id", CK_WORD, F(webhook_endpoint_id), 0, 0},
	{"replay_rate", CK_RATE, F(replay_rate), 0, 0},
	{"webhook_failed_after", CK_DURATION, F(webhook_failed_after), 0, INT64_MAX},
	{"subscription_stale_after", CK_DURATION, F(subscription_stale_after), 1, INT64_MAX},
	{"out_of_order_window", CK_DURATION, F(out_of_order_window), 0, INT64_MAX},
};

#define NKEYS (sizeof config_keys / sizeof config_keys[0])

/* Zero memory that held a secret, in a way the compiler keeps. */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

void
strlist_add(struct strlist *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = xstrdup(s);
}

static void
strlist_wipe(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		wipe(l->v[i], strlen(l->v[i]));
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
str_set(char **field, char *value)
{
	free(*field);
	*field = value;
}

static void
secret_free(char *s)
{
	if (s != NULL) {
		wipe(s, strlen(s));
		free(s);
	}
}

static void
secret_set(char **field, char *value)
{
	secret_free(*field);
	*field = value;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

void
config_init(struct config *c)
{
	const char *home = env("HOME"), *user = env("USER");
	char path[4096];

	memset(c, 0, sizeof *c);
	if (home != NULL) {
		snprintf(path, sizeof path, "%s/.local/share/tally/mirror.db", home);
		c->db_path = xstrdup(path);
	} else {
		c->db_path = xstrdup("./tally.db");
	}
	c->api_base = xstrdup(DEFAULT_API_BASE);
	c->stripe_version = xstrdup(DEFAULT_STRIPE_VERSION);
	c->operator_name = xstrdup(user != NULL ? user : "unknown");
	c->read_only = 0;
	c->webhook_tolerance = 300;
	c->max_value_bytes = 4 << 20;
	c->stale_after = 900;
	c->sync_interval = 60;
	c->reconcile_interval = 21600;
	c->rate_limit = 20;
	c->adjust_cap = 100000;
	c->replay_rate = 2;
	c->webhook_failed_after = 3600;
	c->subscription_stale_after = 86400;
	c->out_of_order_window = 86400;
}

void
config_done(struct config *c)
{
	free(c->db_path);
	free(c->catalog_path);
	strlist_free(&c->webhook_logs);
	strlist_free(&c->usage_logs);
	secret_free(c->api_key);
	strlist_wipe(&c->webhook_secrets);
	strlist_free(&c->webhook_secrets);
	free(c->api_base);
	free(c->stripe_version);
	free(c->operator_name);
	free(c->webhook_endpoint_url);
	free(c->webhook_endpoint_id);
	free(c->source);
	memset(c, 0, sizeof *c);
}

int
config_is_live(const struct config *c)
{
	return c->api_key != NULL &&
	       (strncmp(c->api_key, "sk_live_", 8) == 0 || strncmp(c->api_key, "rk_live_", 8) == 0);
}

/* --- value parsers: 0, or -1 with "expected ..., got '...'" in e ---------- */

/* A printable excerpt of a (non-secret) value for a message. */
static const char *
show(const char *s, char *out, size_t outsz)
{
	size_t n = strlen(s);

	if (n > SHOW_MAX && outsz > SHOW_MAX + 4) {
		text_clean(s, SHOW_MAX, out, SHOW_MAX + 1);
		strcat(out, "...");
		return out;
	}
	return text_clean(s, n, out, outsz);
}

static int
has_space(const char *s)
{
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s))
			return 1;
	return 0;
}

static int
parse_path(const char *v, char **out, struct err *e)
{
	const char *home;
	size_t n;
	char *p;

	if (v[0] == '~' && (v[1] == '/' || v[1] == '\0')) {
		home = env("HOME");
		if (home == NULL)
			return err_set(e, "'%s' starts with ~ but HOME is not set; give the full path", v);
		n = strlen(home) + strlen(v);
		p = xmalloc(n);
		snprintf(p, n, "%s%s", home, v + 1);
		*out = p;
		return 0;
	}
	*out = xstrdup(v);
	return 0;
}

/* Shared by the file, the key file and STRIPE_API_KEY.  Never echoes v. */
static int
check_api_key(const char *v, struct err *e)
{
	if (has_space(v))
		return err_set(e, "the key contains white space; it should be one word (sk_... or rk_...)");
	if (strncmp(v, "pk_", 3) == 0)
		return err_set(e, "that is a publishable key (pk_...); tally needs a secret or "
		    "restricted key (sk_... or rk_...)");
	if (strncmp(v, "whsec_", 6) == 0)
		return err_set(e, "that is a webhook signing secret (whsec_...), not an API key; "
		    "put it in webhook_secret");
	return 0;
}

static int
check_webhook_secret(const char *v, struct err *e)
{
	if (has_space(v))
		return err_set(e, "the secret contains white space; it should be one word (whsec_...)");
	if (strncmp(v, "sk_", 3) == 0 || strncmp(v, "rk_", 3) == 0 || strncmp(v, "pk_", 3) == 0)
		return err_set(e, "that is an API key, not a webhook signing secret (whsec_...)");
	return 0;
}

/* Read a key from a file private to its owner.  Messages name the file,
 * never its contents. */
static int
read_key_file(const char *path, char **out, struct err *e)
{
	char buf[KEY_FILE_MAX + 1], *s, *end;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, "%s: cannot open the key file: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		err_set(e, "%s: the key file can be read by group or others (mode %04o); "
		    "run: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	while (len < sizeof buf - 1) {
		n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len == sizeof buf - 1) {
		err_set(e, "%s: larger than %d bytes; a key file holds only the key", path, KEY_FILE_MAX);
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		err_set(e, "%s: holds a NUL byte; a key file holds only the key", path);
		goto out;
	}
	for (s = buf; isspace((unsigned char)*s); s++)
		;
	for (end = buf + len; end > s && isspace((unsigned char)end[-1]); end--)
		;
	*end = '\0';
	if (*s == '\0') {
		err_set(e, "%s: the key file is empty", path);
		goto out;
	}
	if (check_api_key(s, e) != 0) {
		err_prefix(e, "%s: ", path);
		goto out;
	}
	*out = xstrdup(s);
	rc = 0;
out:
	wipe(buf, sizeof buf);
	close(fd);
	return rc;
}

static int
parse_url(const char *v, char **out, struct err *e)
{
	char shown[SHOW_MAX + 8];
	size_t n = strlen(v);
	size_t scheme = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;

	if (scheme == 0 || n == scheme || v[scheme] == '/' || has_space(v))
		return err_set(e, "expected a URL like https://api.stripe.com, got '%s'",
		    show(v, shown, sizeof shown));
	while (n > scheme && v[n - 1] == '/')
		n--;
	*out = xstrndup(v, n);
	return 0;
}

static int
parse_bool(const char *v, int *out, struct err *e)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	char shown[SHOW_MAX + 8];
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return err_set(e, "expected true or false (or yes/no, 1/0), got '%s'",
	    show(v, shown, sizeof shown));
}

/* Digits then at most one unit letter from units (with its multiplier). */
static int
parse_scaled(const char *v, const char *units, const int64_t *mult, int64_t *out)
{
	const char *p = v, *u;
	int64_t x = 0, m = 1;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (x > (INT64_MAX - (*p - '0')) / 10)
			return -2;
		x = x * 10 + (*p - '0');
	}
	if (*p != '\0') {
		u = strchr(units, *p);
		if (u == NULL || p[1] != '\0')
			return -1;
		m = mult[u - units];
	}
	if (x > INT64_MAX / m)
		return -2;
	*out = x * m;
	return 0;
}

static int
parse_duration(const char *v, const struct config_key *k, int64_t *out, struct err *e)
{
	static const int64_t mult[] = {1, 60, 3600, 86400};
	char shown[SHOW_MAX + 8];
	int64_t x;
	int rc;

	rc = parse_scaled(v, "smhd", mult, &x);
	if (rc == -2)
		return err_set(e, "duration too large, got '%s'", show(v, shown, sizeof shown));
	if (rc != 0)
		return err_set(e, "expected a duration like 15m, got '%s'", show(v, shown, sizeof shown));
	if (x < k->min)
		return err_set(e, "must be at least %llds, got '%s'", (long long)k->min,
		    show(v, shown, sizeof shown));
	*out = x;
	return 0;
}

static int
parse_size(const char *v, const struct config_key *k, int64_t *out, struct err *e)
{
	static const int64_t mult[] = {1024, 1024, 1 << 20, 1 << 30};
	char shown[SHOW_MAX + 8];
	int64_t x;
	int rc;

	rc = parse_scaled(v, "kKMG", mult, &x);
	if (rc == -1)
		return err_set(e, "expected a size like 4M or 512k, got '%s'",
		    show(v, shown, sizeof shown));
	if (rc == -2 || x < k->min || x > k->max)
		return err_set(e, "expected a size from 1 byte to 1G, got '%s'",
		    show(v, shown, sizeof shown));
	*out = x;
	return 0;
}

/* A positive decimal number; parsed by hand, as strtod follows the locale. */
static int
parse_rate(const char *v, double *out, struct err *e)
{
	char shown[SHOW_MAX + 8];
	const char *p = v;
	double x = 0, scale = 1;
	int digits = 0;

	for (; isdigit((unsigned char)*p) && digits < 12; p++, digits++)
		x = x * 10 + (*p - '0');
	if (*p == '.' && digits > 0) {
		for (p++; isdigit((unsigned char)*p); p++)
			if (scale > 1e-9)
				x += (*p - '0') * (scale /= 10);
	}
	if (digits == 0 || *p != '\0' || p[-1] == '.' || !(x > 0))
		return err_set(e, "expected a positive number of requests per second like 20 or 2.5, "
		    "got '%s'", show(v, shown, sizeof shown));
	*out = x;
	return 0;
}

static int
parse_count(const char *v, const struct config_key *k, int64_t *out, struct err *e)
{
	char shown[SHOW_MAX + 8];
	int64_t x;

	if (!isdigit((unsigned char)v[0]) || parse_int64(v, &x) != 0 || x < k->min)
		return err_set(e, "expected a whole number like 100000, got '%s'",
		    show(v, shown, sizeof shown));
	*out = x;
	return 0;
}

/* Set key k from text v.  Messages do not name the key (the caller does). */
static int
config_set(struct config *c, const struct config_key *k, const char *v, struct err *e)
{
	void *field = (char *)c + k->off;
	char shown[SHOW_MAX + 8], *s = NULL, *key = NULL;
	int rc;

	if (*v == '\0')
		return err_set(e, "empty value");
	switch (k->kind) {
	case CK_PATH:
		if (parse_path(v, &s, e) != 0)
			return -1;
		str_set(field, s);
		return 0;
	case CK_PATH_LIST:
		if (parse_path(v, &s, e) != 0)
			return -1;
		strlist_add(field, s);
		free(s);
		return 0;
	case CK_API_KEY:
		if (check_api_key(v, e) != 0)
			return -1;
		secret_set(field, xstrdup(v));
		return 0;
	case CK_API_KEY_FILE:
		if (parse_path(v, &s, e) != 0)
			return -1;
		rc = read_key_file(s, &key, e);
		free(s);
		if (rc != 0)
			return -1;
		secret_set(field, key);
		return 0;
	case CK_SECRET_LIST:
		if (check_webhook_secret(v, e) != 0)
			return -1;
		strlist_add(field, v);
		return 0;
	case CK_URL:
		if (parse_url(v, &s, e) != 0)
			return -1;
		str_set(field, s);
		return 0;
	case CK_WORD:
		if (has_space(v))
			return err_set(e, "expected one word, got '%s'", show(v, shown, sizeof shown));
		str_set(field, xstrdup(v));
		return 0;
	case CK_TEXT:
		str_set(field, xstrdup(v));
		return 0;
	case CK_BOOL:
		return parse_bool(v, field, e);
	case CK_DURATION:
		return parse_duration(v, k, field, e);
	case CK_SIZE:
		return parse_size(v, k, field, e);
	case CK_RATE:
		return parse_rate(v, field, e);
	case CK_COUNT:
		return parse_count(v, k, field, e);
	}
	return err_set(e, "internal error: key kind %d", (int)k->kind);
}

/* --- the file ------------------------------------------------------------ */

static const struct config_key *
key_find(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strlen(config_keys[i].name) == n && memcmp(config_keys[i].name, name, n) == 0)
			return &config_keys[i];
	return NULL;
}

/* A known key an unknown one probably meant: the same but for case and '-',
 * or a known key that ends in "_" + it (api_key -> stripe_api_key). */
static const char *
key_suggest(const char *name, size_t n)
{
	char norm[64];
	size_t i, kl;

	if (n == 0 || n >= sizeof norm)
		return NULL;
	for (i = 0; i < n; i++)
		norm[i] = name[i] == '-' ? '_' : (char)tolower((unsigned char)name[i]);
	norm[n] = '\0';
	for (i = 0; i < NKEYS; i++) {
		kl = strlen(config_keys[i].name);
		if (strcmp(config_keys[i].name, norm) == 0)
			return config_keys[i].name;
		if (kl > n && memcmp(config_keys[i].name + kl - n, norm, n) == 0 &&
		    config_keys[i].name[kl - n - 1] == '_')
			return config_keys[i].name;
	}
	return NULL;
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int
is_list(const struct config_key *k)
{
	return k->kind == CK_PATH_LIST || k->kind == CK_SECRET_LIST;
}

/* Parse text; *inline_key_line is set to the line of a stripe_api_key. */
static int
config_parse_lines(struct config *c, const char *text, size_t len, const char *name,
                   int *inline_key_line, struct err *e)
{
	int seen[NKEYS] = {0};
	const char *p = text, *end = text + len;
	char *line = NULL, shown[SHOW_MAX + 8];
	size_t linesz = 0;
	int lineno = 0, rc = -1;

	*inline_key_line = 0;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		const struct config_key *k, *other;
		char *s, *eq, *key, *val, *q;
		size_t i;

		lineno++;
		if (line != NULL)
			wipe(line, linesz);
		free(line);
		line = xstrndup(p, n);
		linesz = n + 1;
		p += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';

		/* The content ends at a comment: a '#' first or after white space. */
		for (i = 0; i < n; i++)
			if (line[i] == '#' && (i == 0 || is_blank(line[i - 1])))
				break;
		n = i;
		for (i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)line[i];

			if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
				err_set(e, "%s:%d: contains a control character (byte 0x%02x)", name, lineno,
				    ch);
				goto out;
			}
		}
		line[n] = '\0';
		for (s = line; is_blank(*s); s++)
			;
		if (*s == '\0')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			err_set(e, "%s:%d: expected 'key = value' (there is no '=' on this line)", name,
			    lineno);
			goto out;
		}
		key = s;
		for (q = eq; q > key && is_blank(q[-1]); q--)
			;
		*q = '\0';
		for (val = eq + 1; is_blank(*val); val++)
			;
		for (q = val + strlen(val); q > val && is_blank(q[-1]); q--)
			;
		*q = '\0';
		if (*key == '\0') {
			err_set(e, "%s:%d: expected 'key = value' (the key is missing)", name, lineno);
			goto out;
		}
		k = key_find(key, strlen(key));
		if (k == NULL) {
			const char *sug = key_suggest(key, strlen(key));

			err_set(e, "%s:%d: unknown key '%s'%s%s%s", name, lineno,
			    show(key, shown, sizeof shown), sug ? " (did you mean '" : "",
			    sug ? sug : "", sug ? "'?)" : "");
			goto out;
		}
		i = (size_t)(k - config_keys);
		if (seen[i] != 0 && !is_list(k)) {
			err_set(e, "%s:%d: %s: already set on line %d; keep one", name, lineno, k->name,
			    seen[i]);
			goto out;
		}
		/* stripe_api_key and stripe_api_key_file are one setting. */
		other = k->kind == CK_API_KEY ? key_find("stripe_api_key_file", 19) :
		        k->kind == CK_API_KEY_FILE ? key_find("stripe_api_key", 14) : NULL;
		if (other != NULL && seen[other - config_keys] != 0) {
			err_set(e, "%s:%d: %s: %s is already set on line %d; keep one", name, lineno,
			    k->name, other->name, seen[other - config_keys]);
			goto out;
		}
		if (config_set(c, k, val, e) != 0) {
			err_prefix(e, "%s:%d: %s: ", name, lineno, k->name);
			goto out;
		}
		seen[i] = lineno;
		if (k->kind == CK_API_KEY)
			*inline_key_line = lineno;
	}
	rc = 0;
out:
	if (line != NULL)
		wipe(line, linesz);
	free(line);
	return rc;
}

int
config_parse(struct config *c, const char *text, size_t len, const char *name, struct err *e)
{
	int key_line;

	return config_parse_lines(c, text, len, name, &key_line, e);
}

/* Read and parse a file.  A missing file is fine when it was not named. */
static int
config_read_file(struct config *c, const char *path, int named, struct err *e)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc = -1, key_line = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !named)
			return 0;
		return err_set(e, "%s: cannot open the configuration file: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err_set(e, "%s: is a directory, not a configuration file", path);
		goto out;
	}
	text = xmalloc(CONFIG_FILE_MAX + 1);
	while (len < CONFIG_FILE_MAX + 1) {
		n = read(fd, text + len, CONFIG_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_FILE_MAX) {
		err_set(e, "%s: larger than %d bytes; is this the configuration file?", path,
		    CONFIG_FILE_MAX);
		goto out;
	}
	if (config_parse_lines(c, text, len, path, &key_line, e) != 0)
		goto out;
	if (key_line != 0 && (st.st_mode & 077) != 0) {
		err_set(e, "%s: holds stripe_api_key (line %d) but can be read by group or others "
		    "(mode %04o); run: chmod 600 %s (or move the key to stripe_api_key_file)",
		    path, key_line, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	str_set(&c->source, xstrdup(path));
	rc = 0;
out:
	if (text != NULL) {
		wipe(text, len);
		free(text);
	}
	close(fd);
	return rc;
}

/* --- the environment ----------------------------------------------------- */

static int
config_env_path(char **field, const char *var, struct err *e)
{
	const char *v = env(var);
	char *s;

	if (v == NULL)
		return 0;
	if (parse_path(v, &s, e) != 0)
		return err_prefix(e, "%s: ", var);
	str_set(field, s);
	return 0;
}

static int
config_env_secrets(struct config *c, struct err *e)
{
	const char *v = env("STRIPE_WEBHOOK_SECRET"), *p, *q, *end;
	struct strlist l = {NULL, 0};
	char *one;
	int rc = -1;

	if (v == NULL)
		return 0;
	for (p = v;; p = end + 1) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		for (; p < end && isspace((unsigned char)*p); p++)
			;
		for (q = end; q > p && isspace((unsigned char)q[-1]); q--)
			;
		if (q > p) {
			one = xstrndup(p, (size_t)(q - p));
			if (check_webhook_secret(one, e) != 0) {
				err_prefix(e, "STRIPE_WEBHOOK_SECRET: secret %zu: ", l.n + 1);
				secret_free(one);
				goto out;
			}
			strlist_add(&l, one);
			secret_free(one);
		}
		if (*end == '\0')
			break;
	}
	if (l.n == 0) {
		err_set(e, "STRIPE_WEBHOOK_SECRET: set but holds no secret "
		    "(give one or more whsec_..., separated by commas)");
		goto out;
	}
	strlist_wipe(&c->webhook_secrets);
	strlist_free(&c->webhook_secrets);
	c->webhook_secrets = l;
	l.v = NULL;
	l.n = 0;
	rc = 0;
out:
	strlist_wipe(&l);
	strlist_free(&l);
	return rc;
}

static int
config_env(struct config *c, struct err *e)
{
	const char *key = env("STRIPE_API_KEY"), *key_file = env("STRIPE_API_KEY_FILE"), *v;
	char *s, *k = NULL;
	int rc;

	if (config_env_path(&c->db_path, "TALLY_DB", e) != 0 ||
	    config_env_path(&c->catalog_path, "TALLY_CATALOG", e) != 0)
		return -1;
	if ((v = env("TALLY_OPERATOR")) != NULL)
		str_set(&c->operator_name, xstrdup(v));
	if (key != NULL && key_file != NULL)
		return err_set(e, "STRIPE_API_KEY and STRIPE_API_KEY_FILE are both set; unset one");
	if (key != NULL) {
		if (check_api_key(key, e) != 0)
			return err_prefix(e, "STRIPE_API_KEY: ");
		secret_set(&c->api_key, xstrdup(key));
	}
	if (key_file != NULL) {
		if (parse_path(key_file, &s, e) != 0)
			return err_prefix(e, "STRIPE_API_KEY_FILE: ");
		rc = read_key_file(s, &k, e);
		free(s);
		if (rc != 0)
			return err_prefix(e, "STRIPE_API_KEY_FILE: ");
		secret_set(&c->api_key, k);
	}
	if (config_env_secrets(c, e) != 0)
		return -1;
	if ((v = env("STRIPE_API_BASE")) != NULL) {
		if (parse_url(v, &s, e) != 0)
			return err_prefix(e, "STRIPE_API_BASE: ");
		str_set(&c->api_base, s);
	}
	return 0;
}

int
config_load(struct config *c, const char *path, struct err *e)
{
	char def[4096];
	const char *home;
	int named = 1, rc = 0;

	config_done(c);
	config_init(c);
	if (path == NULL)
		path = env("TALLY_CONFIG");
	if (path == NULL && (home = env("HOME")) != NULL) {
		snprintf(def, sizeof def, "%s/.config/tally/config", home);
		path = def;
		named = 0;
	}
	if (path != NULL)
		rc = config_read_file(c, path, named, e);
	if (rc == 0)
		rc = config_env(c, e);
	if (rc != 0) {
		config_done(c);
		config_init(c);
	}
	return rc;
}

/* --- display ------------------------------------------------------------- */

/* n in the largest unit that divides it exactly ("15m", "6h", "4M"). */
static void
describe_scaled(struct buf *b, const char *name, int64_t n, const char *units,
                const int64_t *mult, int nunits)
{
	int i;

	for (i = nunits - 1; i >= 0; i--) {
		if (n != 0 && n % mult[i] == 0) {
			buf_printf(b, "%s = %lld%c\n", name, (long long)(n / mult[i]), units[i]);
			return;
		}
	}
	buf_printf(b, "%s = %lld\n", name, (long long)n);
}

void
config_describe(const struct config *c, struct buf *b)
{
	static const int64_t dmult[] = {1, 60, 3600, 86400};
	static const int64_t smult[] = {1024, 1 << 20, 1 << 30};
	char masked[64], rate[32], *comma;
	size_t i;

	if (c->source != NULL)
		buf_printf(b, "# from %s, then the environment; secrets are masked\n", c->source);
	else
		buf_printf(b, "# defaults and the environment; secrets are masked\n");
	buf_printf(b, "db = %s\n", c->db_path ? c->db_path : "");
	if (c->catalog_path != NULL)
		buf_printf(b, "catalog = %s\n", c->catalog_path);
	else
		buf_printf(b, "# catalog not set\n");
	for (i = 0; i < c->webhook_logs.n; i++)
		buf_printf(b, "webhook_log = %s\n", c->webhook_logs.v[i]);
	for (i = 0; i < c->usage_logs.n; i++)
		buf_printf(b, "usage_log = %s\n", c->usage_logs.v[i]);
	if (c->api_key != NULL) {
		secret_mask(c->api_key, masked, sizeof masked);
		buf_printf(b, "stripe_api_key = %s\n", masked);
	} else {
		buf_printf(b, "# stripe_api_key not set\n");
	}
	for (i = 0; i < c->webhook_secrets.n; i++) {
		secret_mask(c->webhook_secrets.v[i], masked, sizeof masked);
		buf_printf(b, "webhook_secret = %s\n", masked);
	}
	buf_printf(b, "api_base = %s\n", c->api_base ? c->api_base : "");
	buf_printf(b, "stripe_version = %s\n", c->stripe_version ? c->stripe_version : "");
	buf_printf(b, "operator = %s\n", c->operator_name ? c->operator_name : "");
	buf_printf(b, "read_only = %s\n", c->read_only ? "true" : "false");
	describe_scaled(b, "webhook_tolerance", c->webhook_tolerance, "smhd", dmult, 4);
	describe_scaled(b, "max_value_size", c->max_value_bytes, "kMG", smult, 3);
	describe_scaled(b, "stale_after", c->stale_after, "smhd", dmult, 4);
	describe_scaled(b, "sync_interval", c->sync_interval, "smhd", dmult, 4);
	describe_scaled(b, "reconcile_interval", c->reconcile_interval, "smhd", dmult, 4);
	snprintf(rate, sizeof rate, "%.6g", c->rate_limit);
	if ((comma = strchr(rate, ',')) != NULL)
		*comma = '.';
	buf_printf(b, "rate_limit = %s\n", rate);
	buf_printf(b, "adjust_cap = %lld\n", (long long)c->adjust_cap);
	if (c->webhook_endpoint_url != NULL)
		buf_printf(b, "webhook_endpoint_url = %s\n", c->webhook_endpoint_url);
	if (c->webhook_endpoint_id != NULL)
		buf_printf(b, "webhook_endpoint_id = %s\n", c->webhook_endpoint_id);
	snprintf(rate, sizeof rate, "%.6g", c->replay_rate);
	if ((comma = strchr(rate, ',')) != NULL)
		*comma = '.';
	buf_printf(b, "replay_rate = %s\n", rate);
	describe_scaled(b, "webhook_failed_after", c->webhook_failed_after, "smhd", dmult, 4);
	describe_scaled(b, "subscription_stale_after", c->subscription_stale_after, "smhd", dmult, 4);
	describe_scaled(b, "out_of_order_window", c->out_of_order_window, "smhd", dmult, 4);
}
