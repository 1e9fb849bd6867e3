/*
 * demo-history: the billing history behind `tally demo` (see demo.h).
 *
 * A simulation of one Stripe account selling usage on a plan catalog.  Each
 * customer is generated alone, from its own random stream (xoshiro256**
 * seeded from the seed and the customer's index), in the order of its own
 * life: sign-up, a subscription with monthly or yearly invoices (some paid
 * after failed attempts, some never), upgrades, cancellations at period end,
 * top-ups bought in checkout sessions (some paid asynchronously, some making
 * an invoice), refunds and lost disputes, and usage drawn against the credits
 * bought.  So a customer's history does not depend on how many others there
 * are, and ids are unique by construction (a bijective mix of the customer's
 * index and a counter), never by luck.
 *
 * What a customer does is emitted as Stripe events, rendered in the API
 * version the account had at that moment (2024-06-20 for the first half of
 * the history, then 2025-03-31.basil: the invoice's subscription moves under
 * `parent`, prices under `pricing`, periods onto subscription items, and the
 * invoice and charge stop naming each other).  Each event gets deliveries:
 * mostly signed records, some bare events (`stripe listen` output, compact or
 * pretty-printed), some failed first and retried, some delivered twice, some
 * late enough to arrive after a newer event about the same object.  Usage is
 * emitted as meter events, a few repeated (a client retry).
 *
 * Bodies go to a spill file (unlinked at once) as they are made, with a
 * small index row each (the event, and each delivery and usage line); when
 * every customer is done the rows are sorted by the time they were received,
 * and the logs are written from them up to any moment asked
 * (demo_history_write_until), bodies read back from the spill, so that a
 * mirror can follow the logs as they grow.  Memory is the index rows, a few
 * dozen bytes each, never the bodies.  state.json gets each customer's
 * objects in their final state (in the current API shape) when the customer
 * is done, then every event, oldest first, from the spill.
 *
 * Planted customers (one per drift rule condition, demo.h) sit at indices the
 * seed picks; each is a short script on the same primitives.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "catalog.h"
#include "demo.h"
#include "sig.h"
#include "util.h"

#define OLD_API "2024-06-20"
#define NEW_API "2025-03-31.basil"
#define ENDPOINT "https://app.example.com/stripe/webhook"
#define ENDPOINT_ID "we_tally_demo_0000000000"
/* The secret the endpoint used before its rotation: no longer configured. */
#define OLD_SECRET "whsec_tally_demo_rotated_out_2f6b1d9e83c04a57"
#define MIN 60
#define HOUR 3600
#define DAY 86400
#define SPILL_FLUSH (4 << 20)

/* --- prices --------------------------------------------------------------- */

/* What the account sells.  Credits come from the catalog; this says what
 * Stripe knows that the catalog does not: amounts, intervals, products. */
struct dprice {
	const char *id, *product, *nickname;
	int64_t unit_amount;    /* cents */
	int months;             /* billing interval; 0 = one-time */
};

enum {
	P_STARTER, P_PRO, P_PRO_YEARLY, P_TEAM, P_SCALE, P_LEGACY, P_TOP10K, P_TOP100K, P_COUNT
};

static const struct dprice prices[P_COUNT] = {
	{ "price_starter_monthly", "prod_starter", "Starter", 2000, 1 },
	{ "price_pro_monthly", "prod_pro", "Pro monthly", 4900, 1 },
	{ "price_pro_yearly", "prod_pro", "Pro yearly", 49000, 12 },
	{ "price_team_monthly", "prod_team", "Team seat", 3000, 1 },
	{ DEMO_LATE_PRICE, "prod_scale", "Scale", 19900, 1 },
	{ "price_legacy_annual_2023", "prod_legacy", "Enterprise 2023 (grandfathered)", 99000, 12 },
	{ "price_topup_10k", "prod_topups", "10k credits", 1000, 0 },
	{ "price_topup_100k", "prod_topups", "100k credits", 8000, 0 },
};

/* --- names ------------------------------------------------------------------ */

struct first_name {
	const char *name, *ascii, *local;       /* local: a UTF-8 mailbox (RFC 6531) */
};

static const struct first_name firsts[] = {
	{ "Ada", "ada", "ada" }, { "Grace", "grace", "grace" }, { "Linus", "linus", "linus" },
	{ "Margaret", "margaret", "margaret" }, { "Ken", "ken", "ken" },
	{ "Barbara", "barbara", "barbara" }, { "Dennis", "dennis", "dennis" },
	{ "Frances", "frances", "frances" }, { "José", "jose", "josé" }, { "Zoë", "zoe", "zoë" },
	{ "Søren", "soren", "søren" }, { "Amélie", "amelie", "amélie" },
	{ "Chloé", "chloe", "chloé" }, { "Björn", "bjorn", "björn" }, { "Ngozi", "ngozi", "ngozi" },
	{ "Hiroshi", "hiroshi", "hiroshi" }, { "Priya", "priya", "priya" }, { "Wei", "wei", "wei" },
	{ "Olga", "olga", "olga" }, { "Mateo", "mateo", "mateo" }, { "Łukasz", "lukasz", "łukasz" },
	{ "Ayşe", "ayse", "ayşe" }, { "Siobhán", "siobhan", "siobhán" }, { "Thảo", "thao", "thảo" },
};

static const char *const lasts[] = {
	"Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen",
	"García", "Müller", "Kierkegaard", "Poulain", "Okafor", "Tanaka", "Patel", "Zhang",
	"Ivanova", "Fernández", "O'Brien", "Nakamura", "Wójcik", "Yılmaz", "Ó Súilleabháin",
	"Nguyễn",
};

/* Whole names in other scripts, and companies: name, mailbox, domain. */
static const char *const others[][3] = {
	{ "王芳", "wang.fang", "example.cn" },
	{ "佐藤 花子", "hanako.sato", "example.jp" },
	{ "김민준", "minjun.kim", "example.kr" },
	{ "Ольга Смирнова", "ольга", "example.ru" },
	{ "Γιώργος Παπαδόπουλος", "giorgos", "example.gr" },
	{ "Acme Robotics GmbH", "billing", "acme-robotics.example" },
	{ "Zürich Analytics AG", "finance", "zurich-analytics.example" },
	{ "Nordlys AS", "faktura", "nordlys.example" },
	{ "株式会社さくらラボ", "keiri", "sakura-lab.example" },
	{ "Café Olé Ltd", "accounts", "cafe-ole.example" },
	{ "Ørsted Data ApS", "billing", "orsted-data.example" },
	{ "Brûlerie Numérique SAS", "compta", "brulerie.example" },
	{ "Kraków Bytes sp. z o.o.", "faktury", "krakow-bytes.example" },
	{ "Tiny Llama Inc.", "ap", "tinyllama.example" },
	{ "Fjord & Fable Studio", "hello", "fjordfable.example" },
};

/* A customer name an attacker chose: OSC title, clear screen, colours, and
 * a C1 CSI (U+009B).  The console must show it inert. */
static const char escape_name[] =
	"Mallory \x1b]0;you have been pwned\x07\x1b[2J\x1b[31mEvil Corp\x1b[0m \xc2\x9b" "5mblink";

static const char *const http_errors[] = {
	"db timeout", "upstream connect error", "deadlock detected"
};

/* --- random numbers ---------------------------------------------------------- */

/* splitmix64's finalizer: a bijection on 64-bit values. */
static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct rng {
	uint64_t s[4];
};

static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ mix64(stream * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL);
	int i;

	for (i = 0; i < 4; i++) {
		x += 0x9e3779b97f4a7c15ULL;
		r->s[i] = mix64(x);
	}
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** */
static uint64_t
rng_next(struct rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [lo, hi); lo when the range is empty. */
static int64_t
rnd(struct rng *r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo));
}

/* True with probability pct/1000. */
static int
permille(struct rng *r, int pct)
{
	return rnd(r, 0, 1000) < pct;
}

static int64_t
pick(struct rng *r, const int64_t *v, size_t n)
{
	return v[rnd(r, 0, (int64_t)n)];
}

#define PICK(r, ...) pick((r), (const int64_t[]){ __VA_ARGS__ }, \
	sizeof (const int64_t[]){ __VA_ARGS__ } / sizeof(int64_t))

/* --- calendar ------------------------------------------------------------------ */

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
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

static void
civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int
day_of_month(int64_t ts)
{
	int64_t y, m, d;

	civil_from_days(floor_div(ts, DAY), &y, &m, &d);
	return (int)d;
}

/* ts moved by k calendar months, on day `anchor` (0: ts's own) clamped to
 * the month's length, at the same time of day. */
static int64_t
add_months(int64_t ts, int k, int anchor)
{
	int64_t days = floor_div(ts, DAY), secs = ts - days * DAY, y, m, d, mi, last;

	civil_from_days(days, &y, &m, &d);
	if (anchor > 0)
		d = anchor;
	mi = m - 1 + k;
	y += floor_div(mi, 12);
	m = mi - floor_div(mi, 12) * 12 + 1;
	last = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) -
	    days_from_civil(y, m, 1);
	if (d > last)
		d = last;
	return days_from_civil(y, m, d) * DAY + secs;
}

/* --- JSON writing -------------------------------------------------------------- */

static void
put(struct buf *b, const char *s)
{
	(void)buf_append(b, s, strlen(s));
}

static void
putc1(struct buf *b, char c)
{
	(void)buf_append(b, &c, 1);
}

static void
put_int(struct buf *b, int64_t v)
{
	char t[24], *p = t + sizeof t;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	(void)buf_append(b, p, (size_t)(t + sizeof t - p));
}

/* A JSON string: quotes, backslashes and control characters escaped, UTF-8
 * passed through. */
static void
put_strn(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	putc1(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		(void)buf_append(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			(void)buf_append(b, esc, 2);
		} else if (c == '\n') {
			put(b, "\\n");
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			(void)buf_append(b, esc, 6);
		}
	}
	(void)buf_append(b, s + run, n - run);
	putc1(b, '"');
}

static void
put_str(struct buf *b, const char *s)
{
	put_strn(b, s, strlen(s));
}

/* A comma unless the value opens its container or follows its key. */
static void
sep(struct buf *b)
{
	char last = b->len > 0 ? b->data[b->len - 1] : '{';

	if (last != '{' && last != '[' && last != ':')
		putc1(b, ',');
}

/* `"k":` (keys are literals without escapes), or a bare separator for an
 * array element (k NULL). */
static void
key(struct buf *b, const char *k)
{
	sep(b);
	if (k != NULL) {
		putc1(b, '"');
		put(b, k);
		put(b, "\":");
	}
}

static void kstr(struct buf *b, const char *k, const char *v)
{
	key(b, k);
	if (v == NULL || *v == '\0')
		put(b, "null");
	else
		put_str(b, v);
}

static void kint(struct buf *b, const char *k, int64_t v)
{
	key(b, k);
	put_int(b, v);
}

/* An integer that Stripe shows as null when unset. */
static void kintn(struct buf *b, const char *k, int64_t v)
{
	key(b, k);
	if (v == 0)
		put(b, "null");
	else
		put_int(b, v);
}

static void kbool(struct buf *b, const char *k, int v)
{
	key(b, k);
	put(b, v ? "true" : "false");
}

static void kraw(struct buf *b, const char *k, const char *raw)
{
	key(b, k);
	put(b, raw);
}

static void kobj(struct buf *b, const char *k)
{
	key(b, k);
	putc1(b, '{');
}

static void karr(struct buf *b, const char *k)
{
	key(b, k);
	putc1(b, '[');
}

static void end(struct buf *b, char c)
{
	putc1(b, c);
}

/* Compact JSON re-indented by two spaces, as `stripe listen` pretty-prints. */
static void
pretty(struct buf *out, const char *s, size_t n)
{
	static const char spaces[] = "                                                                ";
	size_t i;
	int depth = 0, instr = 0;

#define NL() do { putc1(out, '\n'); (void)buf_append(out, spaces, \
	(size_t)(2 * depth < 64 ? 2 * depth : 64)); } while (0)
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (instr) {
			putc1(out, c);
			if (c == '\\' && i + 1 < n)
				putc1(out, s[++i]);
			else if (c == '"')
				instr = 0;
			continue;
		}
		switch (c) {
		case '"':
			instr = 1;
			putc1(out, c);
			break;
		case '{':
		case '[':
			putc1(out, c);
			if (i + 1 < n && (s[i + 1] == '}' || s[i + 1] == ']')) {
				putc1(out, s[++i]);
				break;
			}
			depth++;
			NL();
			break;
		case '}':
		case ']':
			depth--;
			NL();
			putc1(out, c);
			break;
		case ',':
			putc1(out, c);
			NL();
			break;
		case ':':
			put(out, ": ");
			break;
		default:
			putc1(out, c);
			break;
		}
	}
#undef NL
}

/* --- the model ---------------------------------------------------------------- */

enum gkind { GK_CUSTOMER, GK_SUB, GK_INVOICE, GK_CHARGE, GK_PI, GK_CS, GK_REFUND, GK_DISPUTE,
	GK_ENTS };

/* What every simulated Stripe object starts with. */
struct gobj {
	enum gkind kind;
	char id[64];
	int64_t ver;            /* created of its last event */
	int emitted;            /* some event showed it: Stripe has it */
	struct gobj *next;      /* the customer's objects, for state.json */
};

struct gcust {
	struct gobj o;
	int64_t created;
	char name[160], email[160], prefix[12], phone[16];
	int support;
	uint32_t ev_created;    /* its customer.created event */
};

struct gsub {
	struct gobj o;
	struct gcust *c;
	char item[32], latest[64];
	int price;
	int64_t qty, anchor, ps, pe, cancel_at, canceled_at, ended_at;
	const char *status;
	int cape;               /* cancel_at_period_end */
	struct ginv *first_paid, *last_paid;
};

struct gcharge;

struct ginv {
	struct gobj o;
	struct gcust *c;
	struct gsub *sub;       /* NULL: a one-off invoice */
	struct gcharge *ch;
	const char *status, *reason;
	int price, attempted, paid_shown, pi_shown;
	int64_t qty, amount, amount_paid, attempts, created, finalized_at, paid_at, voided_at,
	    uncollectible_at, lps, lpe;
	char number[32], line[40], charge[64], pi[64], paid_evid[48];
	uint32_t ev_paid;
};

struct gcharge {
	struct gobj o;
	struct gcust *c;
	char pi[64], invoice[64];
	int64_t amount, refunded, created;
	int disputed;
};

struct gpi {
	struct gobj o;
	struct gcust *c;
	char charge[64];
	int64_t amount, created;
};

struct gcs {
	struct gobj o;
	struct gcust *c;
	const char *mode, *payment_status;
	char sub[64], invoice[64], pi[64], li[40];
	int price;
	int64_t qty, amount, created;
};

struct grefund {
	struct gobj o;
	char charge[64], pi[64], ticket[16];
	int64_t amount, created;
};

struct gdispute {
	struct gobj o;
	char charge[64], pi[64];
	int64_t amount, created;
	const char *status;
};

struct gents {
	struct gobj o;
	struct gcust *c;
	const char *features[8];
	char ids[8][32];
	int n;
};

/* An event: its body is in the spill at off. */
struct evrec {
	int64_t created, off;
	uint32_t len, flags;
};
#define EV_NOSTATE 0x1          /* forged: not in Stripe's state */

enum dform { F_SIGNED, F_BARE, F_PRETTY, F_OLD_SECRET, F_STALE_SIG, F_FORGED, F_DEAD };
enum dstatus { S_OK, S_FAILED, S_REJECTED };

/* A delivery: one value in the webhook log. */
struct dlv {
	int64_t at, created, sig_t;     /* sig_t: the signature's t, 0 = at */
	uint32_t ev;
	uint16_t attempt;
	uint8_t status, form;
};

/* A usage line. */
struct urec {
	int64_t order, ts, value;       /* order: when it was written */
	uint32_t cidx, seq;
	uint8_t meter, flags;
};
#define U_NUMBER 0x1            /* value as a JSON number, not a string */
#define U_REPEAT 0x2            /* a retry: same identifier and payload */
#define U_CONFLICT 0x4          /* same identifier, another payload */
#define U_NOID 0x8              /* no identifier at all */

enum dmode { DM_NORMAL, DM_CLEAN, DM_LOST };

enum plant_kind {
	PL_LATE_PLAN, PL_UNKNOWN_PRICE, PL_DUP_GRANT, PL_USAGE_CONFLICT, PL_SUB_CONFLICT,
	PL_EXPIRED_ACTIVE, PL_AFTER_CANCEL, PL_PASTDUE_ENT, PL_GOODWILL, PL_REFUND_LOST,
	PL_BALANCE, PL_NEGATIVE, PL_OUT_OF_ORDER, PL_WEBHOOK_FAILED, PL_SIGNATURES, PL_ESCAPE,
	PL_COUNT
};

struct gen {
	const struct demo_opts *o;
	const struct catalog *cat;
	struct demo_result *res;
	uint64_t idkey, ukey;
	int64_t start, now, upgrade;

	int spill;                      /* fd, unlinked */
	struct buf spillbuf;
	int64_t spill_size;
	FILE *state, *wh, *ul;
	char state_tmp[4096];
	size_t dl_next, us_next;        /* the next delivery and usage line to write */
	int torn_done;

	struct evrec *ev;
	size_t nev, evcap;
	struct dlv *dl;
	size_t ndl, dlcap;
	struct urec *us;
	size_t nus, uscap;
	char (*cid)[24];                /* customer ids, by index (0 unused) */
	unsigned char *plant_at;        /* plant kind + 1, by index */

	/* The customer being made. */
	struct rng r;
	uint32_t cidx, idctr, useq;
	struct arena ar;
	struct gobj *objs, *objs_tail;
	size_t dl0, us0;
	enum dmode dmode;
	int64_t drop_after;             /* events from then on are never delivered */

	char last_evid[48];
	uint32_t last_ev;
	struct buf body, out;
	int64_t future;                 /* events a flow tried to emit after now */
	int ioerr;
	struct err *e;
};

/* --- ids -------------------------------------------------------------------- */

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* prefix + len characters: the first 11 encode a bijection of (customer,
 * counter), so no two ids of one generation are equal; the rest pad. */
static void
mkid(struct gen *g, char *out, size_t outsz, const char *prefix, int len)
{
	uint64_t v = mix64((((uint64_t)g->cidx << 24) | (g->idctr++ & 0xffffff)) ^ g->idkey);
	uint64_t pad = mix64(v ^ 0x5851f42d4c957f2dULL);
	size_t n = strlen(prefix);
	int i;

	if (n + (size_t)len + 1 > outsz)
		len = (int)(outsz - n - 1);
	memcpy(out, prefix, n);
	for (i = 0; i < len; i++) {
		if (i < 11) {
			out[n + i] = b62[v % 62];
			v /= 62;
		} else {
			out[n + i] = b62[pad % 62];
			pad = pad / 62 ^ mix64(pad + (uint64_t)i);
		}
	}
	out[n + len] = '\0';
}

static void
usage_identifier(const struct gen *g, uint32_t cidx, uint32_t seq, char out[32])
{
	uint64_t v = mix64((((uint64_t)cidx) << 32 | seq) ^ g->ukey);

	snprintf(out, 32, "req_%016llx%08llx", (unsigned long long)v,
	    (unsigned long long)(mix64(v) >> 32));
}

static void *
gnew(struct gen *g, enum gkind kind, size_t size, const char *prefix, int len, int link)
{
	struct gobj *o = arena_alloc(&g->ar, size);

	o->kind = kind;
	if (prefix != NULL)
		mkid(g, o->id, sizeof o->id, prefix, len);
	if (link) {
		if (g->objs_tail != NULL)
			g->objs_tail->next = o;
		else
			g->objs = o;
		g->objs_tail = o;
	}
	return o;
}

/* --- output plumbing ------------------------------------------------------- */

static void
io_fail(struct gen *g, const char *what)
{
	if (!g->ioerr)
		err_set(g->e, "%s: %s", what, strerror(errno));
	g->ioerr = 1;
}

static void
spill_flush(struct gen *g)
{
	size_t off = 0;

	while (off < g->spillbuf.len) {
		ssize_t n = write(g->spill, g->spillbuf.data + off, g->spillbuf.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			io_fail(g, "writing the demo's spill file");
			break;
		}
		off += (size_t)n;
	}
	buf_reset(&g->spillbuf);
}

static void
out_write(struct gen *g, FILE *f, const void *p, size_t n, const char *what)
{
	if (n > 0 && fwrite(p, 1, n, f) != n)
		io_fail(g, what);
}

static void *
grow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? *cap * 2 : 1024;
	if (*cap < need)
		*cap = need;
	return xrealloc(p, *cap * elem);
}

/* --- rendering --------------------------------------------------------------- */

static void
render_price(struct buf *b, int p)
{
	const struct dprice *d = &prices[p];

	putc1(b, '{');
	kstr(b, "id", d->id);
	kstr(b, "object", "price");
	kbool(b, "active", 1);
	kstr(b, "billing_scheme", "per_unit");
	kint(b, "created", DEMO_START - 90 * DAY);
	kstr(b, "currency", "usd");
	kbool(b, "livemode", 0);
	kraw(b, "lookup_key", "null");
	kraw(b, "metadata", "{}");
	kstr(b, "nickname", d->nickname);
	kstr(b, "product", d->product);
	if (d->months > 0) {
		kobj(b, "recurring");
		kstr(b, "interval", d->months == 12 ? "year" : "month");
		kint(b, "interval_count", 1);
		kstr(b, "usage_type", "licensed");
		end(b, '}');
	} else {
		kraw(b, "recurring", "null");
	}
	kstr(b, "type", d->months > 0 ? "recurring" : "one_time");
	kint(b, "unit_amount", d->unit_amount);
	end(b, '}');
}

static void
render_customer(struct buf *b, const struct gcust *c)
{
	putc1(b, '{');
	kstr(b, "id", c->o.id);
	kstr(b, "object", "customer");
	kraw(b, "address", "null");
	kint(b, "balance", 0);
	kint(b, "created", c->created);
	kstr(b, "currency", "usd");
	kraw(b, "default_source", "null");
	kbool(b, "delinquent", 0);
	kraw(b, "description", "null");
	kstr(b, "email", c->email);
	kstr(b, "invoice_prefix", c->prefix);
	kbool(b, "livemode", 0);
	kobj(b, "metadata");
	if (c->support)
		kstr(b, "plan_hint", "support");
	end(b, '}');
	kstr(b, "name", c->name);
	kstr(b, "phone", c->support ? c->phone : NULL);
	kraw(b, "preferred_locales", "[\"en\"]");
	kstr(b, "tax_exempt", "none");
	kraw(b, "test_clock", "null");
	end(b, '}');
}

static void
render_sub(struct buf *b, const struct gsub *s, int n)
{
	putc1(b, '{');
	kstr(b, "id", s->o.id);
	kstr(b, "object", "subscription");
	kint(b, "billing_cycle_anchor", s->anchor);
	kintn(b, "cancel_at", s->cancel_at);
	kbool(b, "cancel_at_period_end", s->cape);
	kintn(b, "canceled_at", s->canceled_at);
	kstr(b, "collection_method", "charge_automatically");
	kint(b, "created", s->anchor);
	kstr(b, "currency", "usd");
	if (!n) {
		kint(b, "current_period_end", s->pe);
		kint(b, "current_period_start", s->ps);
	}
	kstr(b, "customer", s->c->o.id);
	kraw(b, "days_until_due", "null");
	kintn(b, "ended_at", s->ended_at);
	kobj(b, "items");
	kstr(b, "object", "list");
	karr(b, "data");
	kobj(b, NULL);
	kstr(b, "id", s->item);
	kstr(b, "object", "subscription_item");
	kint(b, "created", s->anchor);
	if (n) {
		kint(b, "current_period_end", s->pe);
		kint(b, "current_period_start", s->ps);
	}
	kraw(b, "metadata", "{}");
	key(b, "price");
	render_price(b, s->price);
	kint(b, "quantity", s->qty);
	kstr(b, "subscription", s->o.id);
	end(b, '}');
	end(b, ']');
	kbool(b, "has_more", 0);
	kint(b, "total_count", 1);
	key(b, "url");
	put(b, "\"/v1/subscription_items?subscription=");
	put(b, s->o.id);
	putc1(b, '"');
	end(b, '}');
	kstr(b, "latest_invoice", s->latest);
	kbool(b, "livemode", 0);
	kraw(b, "metadata", "{}");
	kint(b, "start_date", s->anchor);
	kstr(b, "status", s->status);
	kraw(b, "trial_end", "null");
	kraw(b, "trial_start", "null");
	end(b, '}');
}

static void
render_invoice(struct buf *b, const struct ginv *v, int n, int state)
{
	const struct dprice *d = &prices[v->price];
	char desc[96];

	putc1(b, '{');
	kstr(b, "id", v->o.id);
	kstr(b, "object", "invoice");
	kstr(b, "account_country", "US");
	kint(b, "amount_due", v->amount);
	kint(b, "amount_paid", v->amount_paid);
	kint(b, "amount_remaining", v->amount - v->amount_paid);
	kint(b, "attempt_count", v->attempts);
	kbool(b, "attempted", v->attempted);
	kbool(b, "auto_advance", v->sub != NULL);
	kstr(b, "billing_reason", v->reason);
	if (!n)
		kstr(b, "charge", v->paid_shown ? v->charge : NULL);
	kstr(b, "collection_method", "charge_automatically");
	kint(b, "created", v->created);
	kstr(b, "currency", "usd");
	kstr(b, "customer", v->c->o.id);
	kstr(b, "customer_email", v->c->email);
	kstr(b, "customer_name", v->c->name);
	if (strcmp(v->status, "draft") == 0) {
		kraw(b, "hosted_invoice_url", "null");
	} else {
		key(b, "hosted_invoice_url");
		put(b, "\"https://invoice.stripe.com/i/acct_1TallyDemo/");
		put(b, v->o.id);
		putc1(b, '"');
	}
	kbool(b, "livemode", 0);
	kraw(b, "metadata", "{}");
	kstr(b, "number", v->number[0] ? v->number : NULL);
	if (n) {
		if (v->sub != NULL) {
			kobj(b, "parent");
			kraw(b, "quote_details", "null");
			kobj(b, "subscription_details");
			kraw(b, "metadata", "{}");
			kstr(b, "subscription", v->sub->o.id);
			end(b, '}');
			kstr(b, "type", "subscription_details");
			end(b, '}');
		} else {
			kraw(b, "parent", "null");
		}
	} else {
		kstr(b, "payment_intent", v->pi_shown ? v->pi : NULL);
	}
	kint(b, "period_end", v->created);
	kint(b, "period_start", v->created);
	kstr(b, "status", v->status);
	kobj(b, "status_transitions");
	kintn(b, "finalized_at", v->finalized_at);
	kintn(b, "marked_uncollectible_at", v->uncollectible_at);
	kintn(b, "paid_at", v->paid_at);
	kintn(b, "voided_at", v->voided_at);
	end(b, '}');
	if (!n)
		kstr(b, "subscription", v->sub != NULL ? v->sub->o.id : NULL);
	kint(b, "subtotal", v->amount);
	kint(b, "total", v->amount);

	kobj(b, "lines");
	kstr(b, "object", "list");
	karr(b, "data");
	kobj(b, NULL);
	kstr(b, "id", v->line);
	kstr(b, "object", "line_item");
	kint(b, "amount", v->amount);
	kstr(b, "currency", "usd");
	snprintf(desc, sizeof desc, "%lld × %s", (long long)v->qty, d->nickname);
	kstr(b, "description", desc);
	kbool(b, "discountable", 1);
	kbool(b, "livemode", 0);
	kraw(b, "metadata", "{}");
	if (n) {
		kobj(b, "parent");
		if (v->sub != NULL) {
			kraw(b, "invoice_item_details", "null");
			kobj(b, "subscription_item_details");
			kbool(b, "proration", 0);
			kstr(b, "subscription", v->sub->o.id);
			kstr(b, "subscription_item", v->sub->item);
			end(b, '}');
			kstr(b, "type", "subscription_item_details");
		} else {
			kobj(b, "invoice_item_details");
			key(b, "invoice_item");
			put(b, "\"ii_");
			put(b, v->line + 4);
			putc1(b, '"');
			kbool(b, "proration", 0);
			kraw(b, "subscription", "null");
			end(b, '}');
			kraw(b, "subscription_item_details", "null");
			kstr(b, "type", "invoice_item_details");
		}
		end(b, '}');
	}
	kobj(b, "period");
	kint(b, "end", v->lpe);
	kint(b, "start", v->lps);
	end(b, '}');
	if (n) {
		kobj(b, "pricing");
		kobj(b, "price_details");
		kstr(b, "price", d->id);
		kstr(b, "product", d->product);
		end(b, '}');
		kstr(b, "type", "price_details");
		key(b, "unit_amount_decimal");
		putc1(b, '"');
		put_int(b, d->unit_amount);
		putc1(b, '"');
		end(b, '}');
	} else {
		kraw(b, "plan", "null");
		key(b, "price");
		render_price(b, v->price);
		kbool(b, "proration", 0);
	}
	kint(b, "quantity", v->qty);
	if (!n) {
		kstr(b, "subscription", v->sub != NULL ? v->sub->o.id : NULL);
		kstr(b, "type", v->sub != NULL ? "subscription" : "invoiceitem");
	}
	end(b, '}');
	end(b, ']');
	kbool(b, "has_more", 0);
	kint(b, "total_count", 1);
	key(b, "url");
	put(b, "\"/v1/invoices/");
	put(b, v->o.id);
	put(b, "/lines\"");
	end(b, '}');

	/* Since basil an invoice names its payment only through its invoice
	 * payments, which tally's sync asks for (expand[]=data.payments). */
	if (state && v->paid_shown) {
		kobj(b, "payments");
		kstr(b, "object", "list");
		karr(b, "data");
		kobj(b, NULL);
		key(b, "id");
		put(b, "\"inpay_");
		put(b, v->o.id + 4);
		putc1(b, '"');
		kstr(b, "object", "invoice_payment");
		kint(b, "amount_paid", v->amount_paid);
		kint(b, "created", v->paid_at);
		kstr(b, "currency", "usd");
		kstr(b, "invoice", v->o.id);
		kbool(b, "is_default", 1);
		kbool(b, "livemode", 0);
		kobj(b, "payment");
		kstr(b, "payment_intent", v->pi);
		kstr(b, "type", "payment_intent");
		end(b, '}');
		kstr(b, "status", "paid");
		end(b, '}');
		end(b, ']');
		kbool(b, "has_more", 0);
		kstr(b, "url", "/v1/invoice_payments");
		end(b, '}');
	}
	end(b, '}');
}

static void
render_charge(struct buf *b, const struct gcharge *c, int n)
{
	putc1(b, '{');
	kstr(b, "id", c->o.id);
	kstr(b, "object", "charge");
	kint(b, "amount", c->amount);
	kint(b, "amount_captured", c->amount);
	kint(b, "amount_refunded", c->refunded);
	kbool(b, "captured", 1);
	kint(b, "created", c->created);
	kstr(b, "currency", "usd");
	kstr(b, "customer", c->c->o.id);
	kraw(b, "description", "null");
	kbool(b, "disputed", c->disputed);
	if (!n)
		kstr(b, "invoice", c->invoice);
	kbool(b, "livemode", 0);
	kraw(b, "metadata", "{}");
	kbool(b, "paid", 1);
	kstr(b, "payment_intent", c->pi);
	kbool(b, "refunded", c->refunded >= c->amount);
	kstr(b, "status", "succeeded");
	end(b, '}');
}

static void
render_pi(struct buf *b, const struct gpi *p)
{
	putc1(b, '{');
	kstr(b, "id", p->o.id);
	kstr(b, "object", "payment_intent");
	kint(b, "amount", p->amount);
	kint(b, "amount_received", p->amount);
	kint(b, "created", p->created);
	kstr(b, "currency", "usd");
	kstr(b, "customer", p->c->o.id);
	kstr(b, "latest_charge", p->charge);
	kbool(b, "livemode", 0);
	kstr(b, "status", "succeeded");
	end(b, '}');
}

static void
render_cs(struct buf *b, const struct gcs *s)
{
	const struct dprice *d = &prices[s->price];
	int pay = strcmp(s->mode, "payment") == 0;

	putc1(b, '{');
	kstr(b, "id", s->o.id);
	kstr(b, "object", "checkout.session");
	kint(b, "amount_subtotal", s->amount);
	kint(b, "amount_total", s->amount);
	kint(b, "created", s->created);
	kstr(b, "currency", "usd");
	kstr(b, "customer", s->c->o.id);
	kraw(b, "customer_email", "null");
	kint(b, "expires_at", s->created + DAY);
	kstr(b, "invoice", s->invoice);
	if (pay && s->qty != 1) {
		kobj(b, "line_items");
		kstr(b, "object", "list");
		karr(b, "data");
		kobj(b, NULL);
		kstr(b, "id", s->li);
		kstr(b, "object", "item");
		kint(b, "amount_total", s->amount);
		kstr(b, "currency", "usd");
		key(b, "price");
		render_price(b, s->price);
		kint(b, "quantity", s->qty);
		end(b, '}');
		end(b, ']');
		kbool(b, "has_more", 0);
		key(b, "url");
		put(b, "\"/v1/checkout/sessions/");
		put(b, s->o.id);
		put(b, "/line_items\"");
		end(b, '}');
	}
	kbool(b, "livemode", 0);
	kobj(b, "metadata");
	if (pay) {
		char q[24];

		snprintf(q, sizeof q, "%lld", (long long)s->qty);
		kstr(b, "price", d->id);
		kstr(b, "quantity", q);
	}
	end(b, '}');
	kstr(b, "mode", s->mode);
	kstr(b, "payment_intent", pay ? s->pi : NULL);
	kstr(b, "payment_status", s->payment_status);
	kstr(b, "status", "complete");
	kstr(b, "subscription", s->sub);
	kstr(b, "success_url", "https://app.example.com/billing?ok=1");
	kraw(b, "url", "null");
	end(b, '}');
}

static void
render_refund(struct buf *b, const struct grefund *r)
{
	putc1(b, '{');
	kstr(b, "id", r->o.id);
	kstr(b, "object", "refund");
	kint(b, "amount", r->amount);
	kstr(b, "charge", r->charge);
	kint(b, "created", r->created);
	kstr(b, "currency", "usd");
	kobj(b, "metadata");
	if (r->ticket[0])
		kstr(b, "ticket", r->ticket);
	end(b, '}');
	kstr(b, "payment_intent", r->pi);
	kstr(b, "reason", "requested_by_customer");
	kstr(b, "status", "succeeded");
	end(b, '}');
}

static void
render_dispute(struct buf *b, const struct gdispute *d)
{
	putc1(b, '{');
	kstr(b, "id", d->o.id);
	kstr(b, "object", "dispute");
	kint(b, "amount", d->amount);
	kstr(b, "charge", d->charge);
	kint(b, "created", d->created);
	kstr(b, "currency", "usd");
	kbool(b, "is_charge_refundable", 0);
	kbool(b, "livemode", 0);
	kraw(b, "metadata", "{}");
	kstr(b, "payment_intent", d->pi);
	kstr(b, "reason", "fraudulent");
	kstr(b, "status", d->status);
	end(b, '}');
}

static void
render_entitlement(struct buf *b, const struct gents *s, int i, int with_customer)
{
	char feat[48];

	snprintf(feat, sizeof feat, "feat_tallydemo_%s", s->features[i]);
	putc1(b, '{');
	kstr(b, "id", s->ids[i]);
	kstr(b, "object", "entitlements.active_entitlement");
	if (with_customer)
		kstr(b, "customer", s->c->o.id);
	kstr(b, "feature", feat);
	kbool(b, "livemode", 0);
	kstr(b, "lookup_key", s->features[i]);
	end(b, '}');
}

static void
render_ents(struct buf *b, const struct gents *s)
{
	int i;

	putc1(b, '{');
	kstr(b, "object", "entitlements.active_entitlement_summary");
	kstr(b, "customer", s->c->o.id);
	kobj(b, "entitlements");
	kstr(b, "object", "list");
	karr(b, "data");
	for (i = 0; i < s->n; i++) {
		key(b, NULL);
		render_entitlement(b, s, i, 0);
	}
	end(b, ']');
	kbool(b, "has_more", 0);
	key(b, "url");
	put(b, "\"/v1/customer/");
	put(b, s->c->o.id);
	put(b, "/entitlements\"");
	end(b, '}');
	kbool(b, "livemode", 0);
	end(b, '}');
}

/* The object as API version `n` (new) renders it; `state`: as the API
 * returns it to a sync today. */
static void
render(struct buf *b, const struct gobj *o, int n, int state)
{
	switch (o->kind) {
	case GK_CUSTOMER:       render_customer(b, (const struct gcust *)o); break;
	case GK_SUB:            render_sub(b, (const struct gsub *)o, n); break;
	case GK_INVOICE:        render_invoice(b, (const struct ginv *)o, n, state); break;
	case GK_CHARGE:         render_charge(b, (const struct gcharge *)o, n); break;
	case GK_PI:             render_pi(b, (const struct gpi *)o); break;
	case GK_CS:             render_cs(b, (const struct gcs *)o); break;
	case GK_REFUND:         render_refund(b, (const struct grefund *)o); break;
	case GK_DISPUTE:        render_dispute(b, (const struct gdispute *)o); break;
	case GK_ENTS:           render_ents(b, (const struct gents *)o); break;
	}
}

/* --- events and deliveries ----------------------------------------------------- */

static void
dl_add(struct gen *g, uint32_t ev, int64_t at, int attempt, int status, int form)
{
	struct dlv *d;

	if (at > g->now)
		at = g->now;
	g->dl = grow(g->dl, &g->dlcap, g->ndl + 1, sizeof *g->dl);
	d = &g->dl[g->ndl++];
	memset(d, 0, sizeof *d);
	d->at = at;
	d->created = g->ev[ev].created;
	d->ev = ev;
	d->attempt = (uint16_t)attempt;
	d->status = (uint8_t)status;
	d->form = (uint8_t)form;
}

/* What Stripe's delivery of an event looked like from the endpoint's log. */
static void
deliver(struct gen *g, uint32_t ev, int64_t t)
{
	int64_t at = t + PICK(&g->r, 0, 0, 1, 1, 2, 3, 7);
	int quiet = t > g->now - 8 * HOUR, attempt = 1, k;

	if (!quiet && permille(&g->r, 20))
		at += rnd(&g->r, 10 * MIN, HOUR);       /* queued: may land after newer events */
	if (permille(&g->r, 150)) {
		dl_add(g, ev, at, 0, S_OK, permille(&g->r, 300) ? F_PRETTY : F_BARE);
		return;
	}
	if (!quiet && permille(&g->r, 60)) {
		for (k = (int)PICK(&g->r, 1, 1, 2); k > 0; k--) {
			dl_add(g, ev, at, attempt++, S_FAILED, F_SIGNED);
			at += PICK(&g->r, MIN, 5 * MIN, 30 * MIN, HOUR, 2 * HOUR);
		}
	}
	dl_add(g, ev, at, attempt, S_OK, F_SIGNED);
	if (!quiet && permille(&g->r, 30))      /* the 200 was lost: delivered again */
		dl_add(g, ev, at + rnd(&g->r, MIN, 4 * HOUR), attempt + 1, S_OK, F_SIGNED);
}

/* Store one event body; returns its index. */
static uint32_t
event_add(struct gen *g, const struct buf *b, int64_t created, uint32_t flags)
{
	struct evrec *r;

	g->ev = grow(g->ev, &g->evcap, g->nev + 1, sizeof *g->ev);
	r = &g->ev[g->nev];
	r->created = created;
	r->off = g->spill_size;
	r->len = (uint32_t)b->len;
	r->flags = flags;
	(void)buf_append(&g->spillbuf, b->data, b->len);
	g->spill_size += (int64_t)b->len;
	if (g->spillbuf.len >= SPILL_FLUSH)
		spill_flush(g);
	return (uint32_t)g->nev++;
}

/* The event envelope around o as it is at t. */
static uint32_t
event_make(struct gen *g, const char *type, const struct gobj *o, int64_t t, uint32_t flags)
{
	struct buf *b = &g->body;
	int n = t >= g->upgrade;
	char id[48], req[32];

	mkid(g, id, sizeof id, "evt_1", 24);
	buf_reset(b);
	putc1(b, '{');
	kstr(b, "id", id);
	kstr(b, "object", "event");
	kstr(b, "api_version", n ? NEW_API : OLD_API);
	kint(b, "created", t);
	kobj(b, "data");
	key(b, "object");
	render(b, o, n, 0);
	end(b, '}');
	kbool(b, "livemode", 0);
	kint(b, "pending_webhooks", 1);
	kobj(b, "request");
	if (permille(&g->r, 500)) {
		mkid(g, req, sizeof req, "req_", 14);
		kstr(b, "id", req);
	} else {
		kraw(b, "id", "null");
	}
	kraw(b, "idempotency_key", "null");
	end(b, '}');
	kstr(b, "type", type);
	end(b, '}');
	snprintf(g->last_evid, sizeof g->last_evid, "%s", id);
	g->last_ev = event_add(g, b, t, flags);
	return g->last_ev;
}

/*
 * An event about o at t, and its deliveries.  Two events about one object
 * never share a second with different content unless asked (same_ok): t
 * moves past the object's last event.  Returns the time used.  Nothing
 * happens after the history's end: such an event is not made.
 */
static int64_t
emit(struct gen *g, const char *type, struct gobj *o, int64_t t, int same_ok)
{
	uint32_t ev;

	if (o->ver != 0 && t <= o->ver && !same_ok)
		t = o->ver + 1;
	if (t >= g->now) {
		g->future++;
		return t;
	}
	if (t > o->ver)
		o->ver = t;
	o->emitted = 1;
	ev = event_make(g, type, o, t, 0);
	if (g->dmode == DM_LOST || (g->drop_after > 0 && t >= g->drop_after))
		return t;
	if (g->dmode == DM_CLEAN)
		dl_add(g, ev, t, 1, S_OK, F_SIGNED);
	else
		deliver(g, ev, t);
	return t;
}

/* Drop the deliveries made so far for an event of the current customer. */
static void
undeliver(struct gen *g, uint32_t ev)
{
	size_t i;

	for (i = g->dl0; i < g->ndl; i++)
		if (g->dl[i].ev == ev)
			g->dl[i].form = F_DEAD;
}

/* --- usage --------------------------------------------------------------------- */

static void
usage_add(struct gen *g, int64_t order, int64_t ts, uint32_t seq, int meter, int64_t value,
          int flags)
{
	struct urec *u;

	if (order > g->now)
		order = g->now;
	g->us = grow(g->us, &g->uscap, g->nus + 1, sizeof *g->us);
	u = &g->us[g->nus++];
	u->order = order;
	u->ts = ts;
	u->value = value;
	u->cidx = g->cidx;
	u->seq = seq;
	u->meter = (uint8_t)meter;
	u->flags = (uint8_t)flags;
}

/*
 * Usage from `from` to `to` spending about `per_month` credits every 30
 * days: 12 to 34 lines a month, each 30% to 170% of the mean, 85% on the
 * api_tokens meter (1 credit a unit) and the rest images (40 a unit).  About
 * 3% of lines are sent twice (a client retry), within two minutes.
 */
static void
usage_span(struct gen *g, int64_t from, int64_t to, int64_t per_month)
{
	int64_t n = rnd(&g->r, 12, 35), mean, t, credits, value, step;
	int meter;

	if (to > g->now - MIN)
		to = g->now - MIN;
	if (per_month <= 0 || to <= from)
		return;
	mean = per_month / n;
	if (mean < 1)
		mean = 1;
	step = 30 * DAY / n;
	t = from + rnd(&g->r, MIN, 6 * HOUR);
	while (t < to) {
		uint32_t seq = g->useq++;
		int flags = permille(&g->r, 100) ? U_NUMBER : 0;

		meter = permille(&g->r, 850) ? 0 : 1;
		credits = mean * rnd(&g->r, 30, 171) / 100;
		value = meter == 0 ? credits : credits / 40;
		if (value < 1)
			value = 1;
		usage_add(g, t, t, seq, meter, value, flags);
		if (permille(&g->r, 30))
			usage_add(g, t + rnd(&g->r, 1, 121), t, seq, meter, value, flags | U_REPEAT);
		t += rnd(&g->r, step / 2, step * 3 / 2 + 1);
	}
}

/* --- the plan catalog ---------------------------------------------------------- */

static int64_t
plan_credits(const struct gen *g, int price)
{
	const struct catalog_plan *p = catalog_plan(g->cat, prices[price].id);

	return p != NULL ? p->credits_per_period : 0;
}

static int64_t
topup_credits(const struct gen *g, int price)
{
	const struct catalog_topup *t = catalog_topup(g->cat, prices[price].id);

	return t != NULL ? t->credits : 0;
}

/* Credits a month of a plan is worth. */
static int64_t
plan_month(const struct gen *g, int price, int64_t qty)
{
	return plan_credits(g, price) * qty / (prices[price].months > 0 ? prices[price].months : 1);
}

/* --- plants ---------------------------------------------------------------------- */

static void
plant_add(struct gen *g, const char *rule, const char *customer, const char *subject,
          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
plant_add(struct gen *g, const char *rule, const char *customer, const char *subject,
          const char *fmt, ...)
{
	struct demo_plant *p;
	va_list ap;

	if (g->res->nplants >= DEMO_MAX_PLANTS)
		return;
	p = &g->res->plants[g->res->nplants++];
	snprintf(p->rule, sizeof p->rule, "%s", rule);
	snprintf(p->customer, sizeof p->customer, "%s", customer ? customer : "");
	snprintf(p->subject, sizeof p->subject, "%s", subject ? subject : "");
	va_start(ap, fmt);
	vsnprintf(p->detail, sizeof p->detail, fmt, ap);
	va_end(ap);
}

static const char *
day_str(int64_t t, char *buf, size_t n)
{
	time_fmt(t, buf, n);
	if (strlen(buf) > 10)
		buf[10] = '\0';
	return buf;
}

/* --- customers ------------------------------------------------------------------ */

static void
name_pick(struct gen *g, struct gcust *c, const char *forced)
{
	struct rng *r = &g->r;
	int k = (int)rnd(r, 0, 100);

	if (forced != NULL) {
		snprintf(c->name, sizeof c->name, "%s", forced);
		snprintf(c->email, sizeof c->email, "mallory.%u@example.com", g->cidx);
	} else if (k < 78) {
		const struct first_name *f = &firsts[rnd(r, 0, sizeof firsts / sizeof firsts[0])];
		const char *l = lasts[rnd(r, 0, sizeof lasts / sizeof lasts[0])];

		snprintf(c->name, sizeof c->name, "%s %s", f->name, l);
		snprintf(c->email, sizeof c->email, "%s.%u@example.com",
		    permille(r, 150) ? f->local : f->ascii, g->cidx);
	} else {
		const char *const *o = others[rnd(r, 0, sizeof others / sizeof others[0])];

		snprintf(c->name, sizeof c->name, "%s", o[0]);
		snprintf(c->email, sizeof c->email, "%s+%u@%s", o[1], g->cidx, o[2]);
	}
}

/* A customer who signs up at t0 (customer.created), perhaps updated later. */
static struct gcust *
cust_new(struct gen *g, int64_t t0, const char *name, int may_update)
{
	struct gcust *c = gnew(g, GK_CUSTOMER, sizeof *c, "cus_", 14, 1);
	int i;

	memcpy(g->cid[g->cidx], c->o.id, strlen(c->o.id) + 1);
	name_pick(g, c, name);
	c->created = t0;
	for (i = 0; i < 8; i++)
		c->prefix[i] = b62[10 + rnd(&g->r, 0, 26)];
	snprintf(c->phone, sizeof c->phone, "+1555%07lld", (long long)rnd(&g->r, 0, 10000000));
	emit(g, "customer.created", &c->o, t0, 0);
	c->ev_created = g->last_ev;
	if (may_update && permille(&g->r, 300)) {
		int64_t t = t0 + rnd(&g->r, HOUR, 20 * DAY);

		if (t < g->now - HOUR) {
			c->support = 1;
			emit(g, "customer.updated", &c->o, t, 0);
		}
	}
	return c;
}

static struct gcharge *
charge_new(struct gen *g, struct gcust *c, const char *id, const char *pi, int64_t amount,
           int64_t t, const char *invoice)
{
	struct gcharge *ch = gnew(g, GK_CHARGE, sizeof *ch, NULL, 0, 1);

	snprintf(ch->o.id, sizeof ch->o.id, "%s", id);
	ch->c = c;
	snprintf(ch->pi, sizeof ch->pi, "%s", pi);
	snprintf(ch->invoice, sizeof ch->invoice, "%s", invoice ? invoice : "");
	ch->amount = amount;
	ch->created = t;
	return ch;
}

static void
pi_succeeded(struct gen *g, struct gcust *c, const char *id, const char *charge, int64_t amount,
             int64_t created, int64_t t)
{
	struct gpi *p = gnew(g, GK_PI, sizeof *p, NULL, 0, 1);

	snprintf(p->o.id, sizeof p->o.id, "%s", id);
	p->c = c;
	snprintf(p->charge, sizeof p->charge, "%s", charge);
	p->amount = amount;
	p->created = created;
	emit(g, "payment_intent.succeeded", &p->o, t, 0);
}

/* One full refund, or one or two partial ones, of a charge. */
static void
refunds(struct gen *g, struct gcharge *ch, int64_t t)
{
	struct rng *r = &g->r;
	int64_t amounts[2];
	int n = (int)PICK(r, 1, 1, 2), i;

	if (n == 1 && permille(r, 400))
		amounts[0] = ch->amount;
	else
		for (i = 0; i < n; i++) {
			amounts[i] = ch->amount * PICK(r, 10, 25, 30, 50) / 100;
			if (amounts[i] < 1)
				amounts[i] = 1;
		}
	for (i = 0; i < n; i++) {
		struct grefund *re;

		t += rnd(r, HOUR, 10 * DAY);
		if (t >= g->now - HOUR || ch->refunded + amounts[i] > ch->amount)
			return;
		re = gnew(g, GK_REFUND, sizeof *re, "re_3", 24, 1);
		re->amount = amounts[i];
		snprintf(re->charge, sizeof re->charge, "%s", ch->o.id);
		snprintf(re->pi, sizeof re->pi, "%s", ch->pi);
		re->created = t;
		emit(g, "refund.created", &re->o, t, 0);
		ch->refunded += amounts[i];
		emit(g, "charge.refunded", &ch->o, t + 1, 0);
		if (permille(r, 300)) {
			int64_t tu = t + rnd(r, MIN, HOUR);

			if (tu < g->now) {
				snprintf(re->ticket, sizeof re->ticket, "T-%lld", (long long)rnd(r, 1000, 9999));
				emit(g, "refund.updated", &re->o, tu, 0);
			}
		}
	}
}

/* A dispute the merchant loses. */
static void
dispute(struct gen *g, struct gcharge *ch, int64_t t_paid)
{
	struct gdispute *d;
	int64_t t = t_paid + rnd(&g->r, 5 * DAY, 20 * DAY);

	if (t + 15 * DAY >= g->now)
		return;
	d = gnew(g, GK_DISPUTE, sizeof *d, "dp_1", 24, 1);
	d->amount = ch->amount;
	snprintf(d->charge, sizeof d->charge, "%s", ch->o.id);
	snprintf(d->pi, sizeof d->pi, "%s", ch->pi);
	d->created = t;
	d->status = "needs_response";
	emit(g, "charge.dispute.created", &d->o, t, 0);
	d->status = "under_review";
	emit(g, "charge.dispute.updated", &d->o, t + rnd(&g->r, DAY, 5 * DAY), 0);
	d->status = "lost";
	ch->disputed = 1;
	emit(g, "charge.dispute.closed", &d->o, t + 15 * DAY, 0);
}

/* Failures that go on until the end of the history: still past_due. */
#define FAIL_FOREVER 1000

/* How a subscription's life may go; -1 fields are left to chance. */
struct subopts {
	int cancel_after;       /* cancel at the end of period N; 0 never */
	int upgrade_at;         /* starter -> pro at renewal N; 0 never */
	int failures;           /* 0: payments never fail; -1: 10% do */
	int fail_k, fail_n;     /* force fail_n failures on invoice fail_k */
	int reversals;          /* refunds and disputes may happen */
};

static const struct subopts steady = { 0, 0, 0, -1, 0, 0 };
static const struct subopts chance_all = { -1, -1, -1, -1, 0, 1 };

static struct gsub *
sub_new(struct gen *g, struct gcust *c, int price, int64_t qty, int64_t t0)
{
	struct gsub *s = gnew(g, GK_SUB, sizeof *s, "sub_1", 24, 1);

	mkid(g, s->item, sizeof s->item, "si_", 14);
	s->c = c;
	s->price = price;
	s->qty = qty;
	s->anchor = t0;
	s->ps = t0;
	s->pe = add_months(t0, prices[price].months, 0);
	s->status = "incomplete";
	if (permille(&g->r, 350)) {
		/* Signed up through a subscription-mode checkout: no credits by itself. */
		struct gcs *cs = gnew(g, GK_CS, sizeof *cs, "cs_test_a1", 40, 1);

		cs->c = c;
		cs->mode = "subscription";
		cs->payment_status = "paid";
		snprintf(cs->sub, sizeof cs->sub, "%s", s->o.id);
		cs->price = price;
		cs->qty = qty;
		cs->amount = prices[price].unit_amount * qty;
		cs->created = t0 - rnd(&g->r, 30, 300);
		emit(g, "checkout.session.completed", &cs->o, t0 + 5, 0);
	}
	emit(g, "customer.subscription.created", &s->o, t0, 0);
	return s;
}

/*
 * One subscription invoice: created, finalized, then paid (perhaps after
 * failed attempts) or given up on.  Returns the time paid, or 0.
 */
static int64_t
invoice_cycle(struct gen *g, struct gsub *s, int k, int64_t ps, int64_t pe, int failures,
              const struct subopts *so)
{
	struct rng *r = &g->r;
	struct ginv *v = gnew(g, GK_INVOICE, sizeof *v, "in_1", 24, 1);
	int64_t tf, t, paid_at;
	int a;

	v->c = s->c;
	v->sub = s;
	v->price = s->price;
	v->qty = s->qty;
	v->amount = prices[s->price].unit_amount * s->qty;
	v->status = "draft";
	v->reason = k == 0 ? "subscription_create" : "subscription_cycle";
	v->created = ps;
	v->lps = ps;
	v->lpe = pe;
	mkid(g, v->line, sizeof v->line, "il_1", 24);
	mkid(g, v->charge, sizeof v->charge, "ch_3", 24);
	mkid(g, v->pi, sizeof v->pi, "pi_3", 24);
	snprintf(s->latest, sizeof s->latest, "%s", v->o.id);
	emit(g, "invoice.created", &v->o, ps, 0);
	tf = ps + HOUR + rnd(r, 0, 120);
	v->status = "open";
	snprintf(v->number, sizeof v->number, "%s-%04d", s->c->prefix, k + 1);
	v->finalized_at = tf;
	emit(g, "invoice.finalized", &v->o, tf, 0);
	t = tf + 2;
	if (k == 0 && failures > 0) {
		/* A first payment is not retried: the card is fixed within the
		 * day, or the subscription expires incomplete. */
		v->attempts = 1;
		v->attempted = 1;
		v->pi_shown = 1;
		t = emit(g, "invoice.payment_failed", &v->o, t, 0);
		if (failures > 3) {
			t += 23 * HOUR;
			if (t >= g->now - 2)
				return 0;
			v->status = "void";
			v->voided_at = t;
			emit(g, "invoice.voided", &v->o, t, 0);
			s->status = "incomplete_expired";
			s->ended_at = t + 1;
			emit(g, "customer.subscription.updated", &s->o, t + 1, 0);
			return 0;
		}
		t += rnd(r, 10 * MIN, 20 * HOUR);
		failures = 0;
	}
	for (a = 0; a < failures && (a < 3 || failures >= FAIL_FOREVER); a++) {
		if (t >= g->now - 2)
			return 0;
		v->attempts = a + 1;
		v->attempted = 1;
		v->pi_shown = 1;
		t = emit(g, "invoice.payment_failed", &v->o, t, 0);
		if (a == 0) {
			s->status = "past_due";
			emit(g, "customer.subscription.updated", &s->o, t + 1, 0);
		}
		t += PICK(r, 1, 3, 5) * DAY + rnd(r, 0, HOUR);
	}
	if (failures > 3) {
		if (t >= g->now - 2 || failures >= FAIL_FOREVER)
			return 0;
		if (permille(r, 500)) {
			v->status = "uncollectible";
			v->uncollectible_at = t;
			t = emit(g, "invoice.marked_uncollectible", &v->o, t, 0);
		} else {
			v->status = "void";
			v->voided_at = t;
			t = emit(g, "invoice.voided", &v->o, t, 0);
		}
		s->status = "canceled";
		s->canceled_at = t + 1;
		s->ended_at = t + 1;
		emit(g, "customer.subscription.deleted", &s->o, t + 1, 0);
		return 0;
	}
	if (t >= g->now - 2)
		return 0;
	paid_at = t;
	v->status = "paid";
	v->amount_paid = v->amount;
	v->attempts++;
	v->attempted = 1;
	v->paid_at = paid_at;
	v->paid_shown = 1;
	v->pi_shown = 1;
	v->ch = charge_new(g, s->c, v->charge, v->pi, v->amount, paid_at, v->o.id);
	emit(g, "charge.succeeded", &v->ch->o, paid_at, 0);
	pi_succeeded(g, s->c, v->pi, v->charge, v->amount, tf, paid_at);
	/* Stripe sends both, in the same second, with the same invoice. */
	if (permille(r, 500)) {
		t = emit(g, "invoice.paid", &v->o, paid_at, 0);
		v->ev_paid = g->last_ev;
		snprintf(v->paid_evid, sizeof v->paid_evid, "%s", g->last_evid);
		emit(g, "invoice.payment_succeeded", &v->o, t, 1);
	} else {
		t = emit(g, "invoice.payment_succeeded", &v->o, paid_at, 0);
		emit(g, "invoice.paid", &v->o, t, 1);
		v->ev_paid = g->last_ev;
		snprintf(v->paid_evid, sizeof v->paid_evid, "%s", g->last_evid);
	}
	if (s->first_paid == NULL)
		s->first_paid = v;
	s->last_paid = v;
	/* Refunds and disputes need the invoice and charge to name each
	 * other, which they stop doing in basil: old shape only. */
	if (so->reversals && paid_at < g->upgrade) {
		int x = (int)rnd(r, 0, 1000);

		if (x < 60)
			refunds(g, v->ch, paid_at);
		else if (x < 80)
			dispute(g, v->ch, paid_at);
	}
	return paid_at;
}

/* A subscription's periods until the end, a cancellation or the end of
 * dunning.  Returns when its access ends. */
static int64_t
sub_run(struct gen *g, struct gsub *s, const struct subopts *so)
{
	struct rng *r = &g->r;
	int months = prices[s->price].months, anchor = day_of_month(s->anchor), k = 0;
	int cancel_after = so->cancel_after, upgrade_at = so->upgrade_at, failures;
	int64_t ps = s->anchor, pe, paid_at, access_end = s->anchor;

	if (cancel_after < 0)
		cancel_after = permille(r, 200) ? (int)rnd(r, 1, g->o->months + 1) : 0;
	if (upgrade_at < 0)
		upgrade_at = s->price == P_STARTER && permille(r, 250) ?
		    (int)rnd(r, 1, (g->o->months > 2 ? g->o->months - 1 : 1) + 1) : 0;
	while (ps < g->now - 10 * MIN) {
		pe = add_months(s->anchor, months * (k + 1), anchor);
		if (upgrade_at > 0 && k == upgrade_at && s->price == P_STARTER)
			s->price = P_PRO;
		s->ps = ps;
		s->pe = pe;
		if (k > 0) {
			s->status = "active";
			emit(g, "customer.subscription.updated", &s->o, ps, 0);
		}
		failures = 0;
		if (so->failures < 0 && permille(r, 100))
			failures = (int)PICK(r, 1, 1, 2, 4);
		if (so->fail_k == k)
			failures = so->fail_n;
		paid_at = invoice_cycle(g, s, k, ps, pe, failures, so);
		if (paid_at == 0)
			return access_end;
		access_end = pe;
		if (strcmp(s->status, "active") != 0) {
			s->status = "active";
			emit(g, "customer.subscription.updated", &s->o, paid_at + 1, 0);
		}
		k++;
		if (cancel_after > 0 && k >= cancel_after && pe < g->now) {
			int64_t tc = ps + rnd(r, DAY, pe - ps - DAY > DAY ? pe - ps - DAY : DAY + 1);

			s->cape = 1;
			s->cancel_at = pe;
			s->canceled_at = tc;
			emit(g, "customer.subscription.updated", &s->o, tc, 0);
			s->status = "canceled";
			s->ended_at = pe;
			emit(g, "customer.subscription.deleted", &s->o, pe, 0);
			return pe;
		}
		ps = pe;
	}
	return g->now;
}

enum { TK_RANDOM, TK_PLAIN };

/* A top-up bought in a payment-mode checkout session at about t.  Returns
 * the credits it bought (0 if it was never paid). */
static int64_t
topup(struct gen *g, struct gcust *c, int64_t t, int price, int64_t qty, int kind,
      int reversals)
{
	struct rng *r = &g->r;
	struct gcs *cs = gnew(g, GK_CS, sizeof *cs, "cs_test_a1", 40, 1);
	struct ginv *v = NULL;
	struct gcharge *ch;
	char charge[64];
	int x;

	cs->c = c;
	cs->mode = "payment";
	cs->payment_status = "paid";
	cs->price = price >= 0 ? price : permille(r, 800) ? P_TOP10K : P_TOP100K;
	cs->qty = qty > 0 ? qty : permille(r, 850) ? 1 : 2;
	cs->amount = prices[cs->price].unit_amount * cs->qty;
	cs->created = t - rnd(r, 20, 900);
	mkid(g, cs->pi, sizeof cs->pi, "pi_3", 24);
	mkid(g, charge, sizeof charge, "ch_3", 24);
	if (cs->qty != 1)
		mkid(g, cs->li, sizeof cs->li, "li_1", 24);
	x = kind == TK_PLAIN ? 1000 : (int)rnd(r, 0, 1000);
	if (x < 150) {
		/* Paid asynchronously (a bank debit): completed unpaid, then paid. */
		cs->payment_status = "unpaid";
		emit(g, "checkout.session.completed", &cs->o, t, 0);
		t += rnd(r, DAY, 4 * DAY);
		if (t >= g->now - HOUR)
			return 0;
		cs->payment_status = "paid";
		emit(g, "checkout.session.async_payment_succeeded", &cs->o, t, 0);
	} else if (x < 250) {
		/* invoice_creation on: the session makes a paid invoice too. */
		v = gnew(g, GK_INVOICE, sizeof *v, "in_1", 24, 1);
		v->c = c;
		v->price = cs->price;
		v->qty = cs->qty;
		v->amount = v->amount_paid = cs->amount;
		v->attempts = 1;
		v->attempted = v->paid_shown = v->pi_shown = 1;
		v->status = "paid";
		v->reason = "manual";
		v->created = v->finalized_at = v->lps = v->lpe = t - 2;
		v->paid_at = t - 1;
		snprintf(v->number, sizeof v->number, "%s-T%03u", c->prefix, g->idctr % 1000);
		mkid(g, v->line, sizeof v->line, "il_1", 24);
		snprintf(v->charge, sizeof v->charge, "%s", charge);
		snprintf(v->pi, sizeof v->pi, "%s", cs->pi);
		snprintf(cs->invoice, sizeof cs->invoice, "%s", v->o.id);
		emit(g, "invoice.paid", &v->o, t - 1, 0);
		emit(g, "invoice.payment_succeeded", &v->o, t - 1, 1);
		emit(g, "checkout.session.completed", &cs->o, t, 0);
	} else {
		emit(g, "checkout.session.completed", &cs->o, t, 0);
	}
	ch = charge_new(g, c, charge, cs->pi, cs->amount, t, v != NULL ? v->o.id : NULL);
	if (v != NULL)
		v->ch = ch;
	emit(g, "charge.succeeded", &ch->o, t, 0);
	if (reversals && permille(r, 120))
		refunds(g, ch, t);
	return topup_credits(g, cs->price) * cs->qty;
}

/* An ordinary customer, as most are. */
static struct gcust *
cust_regular(struct gen *g, const char *name)
{
	struct rng *r = &g->r;
	int64_t t0, span = g->now - g->start, tops[3], first = 0, credits = 0;
	struct gcust *c;
	int ntop, i, x;

	if (permille(r, 600))
		t0 = g->start + rnd(r, 0, 10 * DAY);
	else
		t0 = g->start + rnd(r, 0, span - 20 * DAY > 1 ? span - 20 * DAY : 1);
	c = cust_new(g, t0, name, 1);
	x = (int)rnd(r, 0, 1000);
	if (x >= 120) {
		int price = x < 450 ? P_STARTER : x < 720 ? P_PRO : x < 820 ? P_PRO_YEARLY : P_TEAM;
		int64_t qty = price == P_TEAM ? rnd(r, 2, 7) : 1, end_at, pct = rnd(r, 20, 76);
		struct gsub *s = sub_new(g, c, price, qty, t0 + rnd(r, MIN, 10 * MIN));

		end_at = sub_run(g, s, &chance_all);
		usage_span(g, s->anchor + rnd(r, MIN, 6 * HOUR), end_at,
		    plan_month(g, price, qty) * pct / 100);
		ntop = (int)PICK(r, 0, 0, 0, 1, 1, 2, 3);
	} else {
		ntop = (int)rnd(r, 1, 4);
	}
	for (i = 0; i < ntop; i++) {
		tops[i] = t0 + rnd(r, HOUR, g->now - t0 - 3 * DAY > HOUR + 1 ? g->now - t0 - 3 * DAY : HOUR + 1);
		credits += topup(g, c, tops[i], -1, 0, TK_RANDOM, 1);
		if (first == 0 || tops[i] < first)
			first = tops[i];
	}
	if (x < 120 && credits > 0) {
		/* Pay as you go: spend about a third to three quarters of what
		 * was bought, from the first top-up on. */
		int64_t months_left = (g->now - first) / (30 * DAY) + 1;

		usage_span(g, first + rnd(r, MIN, 6 * HOUR), g->now,
		    credits * rnd(r, 30, 76) / 100 / months_left);
	}
	return c;
}

/* A customer on one plan who neither fails, upgrades nor cancels. */
static struct gsub *
cust_steady(struct gen *g, int price, int64_t qty, int64_t t0, struct gcust **cp)
{
	struct gcust *c = cust_new(g, t0, NULL, 1);
	struct gsub *s = sub_new(g, c, price, qty, t0 + rnd(&g->r, MIN, 10 * MIN));
	int64_t end_at = sub_run(g, s, &steady);

	usage_span(g, s->anchor + HOUR, end_at, plan_month(g, price, qty) * rnd(&g->r, 25, 60) / 100);
	*cp = c;
	return s;
}

/* --- planted customers ------------------------------------------------------------ */

static void
plant(struct gen *g, int kind)
{
	struct rng *r = &g->r;
	int months = g->o->months;
	struct gcust *c = NULL;
	struct gsub *s;
	struct subopts so = steady;
	int64_t t0, t, R;
	char d1[24], d2[24];

	switch (kind) {
	case PL_LATE_PLAN: {
		/* Bought credits, then moved to the Scale plan, which the
		 * catalog learnt of only after the mirror had read the payment. */
		t0 = g->start + rnd(r, DAY, 10 * DAY);
		c = cust_new(g, t0, NULL, 0);
		topup(g, c, t0 + 2 * HOUR, P_TOP100K, 1, TK_PLAIN, 0);
		s = sub_new(g, c, P_SCALE, 1, g->now - 20 * DAY);
		sub_run(g, s, &so);
		usage_span(g, t0 + 3 * HOUR, g->now, 100000 * 45 / 100 / (months + 1));
		plant_add(g, "grant-missing", c->o.id, s->first_paid ? s->first_paid->o.id : "",
		    "invoice %s for " DEMO_LATE_PRICE " paid %s; the catalog the mirror was "
		    "ingested with lacked the plan (catalog.json has it now), so no grant was "
		    "written: the repair grants %lld credits",
		    s->first_paid ? s->first_paid->o.id : "?",
		    day_str(s->first_paid ? s->first_paid->paid_at : 0, d1, sizeof d1),
		    (long long)plan_credits(g, P_SCALE));
		break;
	}
	case PL_UNKNOWN_PRICE: {
		/* A grandfathered annual price no catalog lists, renewed in the
		 * window; the customer was created long before it. */
		struct ginv *v;

		R = g->now - 25 * DAY;
		c = gnew(g, GK_CUSTOMER, sizeof *c, "cus_", 14, 1);
		memcpy(g->cid[g->cidx], c->o.id, strlen(c->o.id) + 1);
		name_pick(g, c, NULL);
		c->created = add_months(R, -14, 0);
		memcpy(c->prefix, "LEGACY23", 9);
		c->support = 1;
		snprintf(c->phone, sizeof c->phone, "+15550100%03u", g->cidx % 1000);
		emit(g, "customer.updated", &c->o, g->start + rnd(r, DAY, 5 * DAY), 0);
		topup(g, c, g->start + rnd(r, 6 * DAY, 12 * DAY), P_TOP100K, 1, TK_PLAIN, 0);
		s = gnew(g, GK_SUB, sizeof *s, "sub_1", 24, 1);
		mkid(g, s->item, sizeof s->item, "si_", 14);
		s->c = c;
		s->price = P_LEGACY;
		s->qty = 1;
		s->anchor = add_months(R, -12, 0);
		s->status = "active";
		s->ps = R;
		s->pe = add_months(R, 12, 0);
		emit(g, "customer.subscription.updated", &s->o, R, 0);
		invoice_cycle(g, s, 1, R, s->pe, 0, &so);
		v = s->first_paid;
		usage_span(g, g->start + 14 * DAY, g->now, 100000 * 40 / 100 / (months + 1));
		plant_add(g, "grant-missing", c->o.id, v ? v->o.id : "",
		    "invoice %s paid %s for price_legacy_annual_2023, a grandfathered price no "
		    "catalog lists: a paid invoice that grants nothing",
		    v ? v->o.id : "?", day_str(v ? v->paid_at : 0, d1, sizeof d1));
		break;
	}
	case PL_DUP_GRANT: {
		/* One payment credited twice: a top-up session that names no
		 * invoice, and a one-off invoice paid by the same payment intent. */
		struct gcs *cs;
		struct ginv *v;
		struct gcharge *ch;

		t0 = g->start + rnd(r, DAY, 10 * DAY);
		c = cust_new(g, t0, NULL, 1);
		t = t0 + rnd(r, 2 * DAY, 20 * DAY);
		if (t > g->upgrade - 2 * DAY)
			t = g->upgrade - 2 * DAY;
		cs = gnew(g, GK_CS, sizeof *cs, "cs_test_a1", 40, 1);
		cs->c = c;
		cs->mode = "payment";
		cs->payment_status = "paid";
		cs->price = P_TOP100K;
		cs->qty = 1;
		cs->amount = prices[P_TOP100K].unit_amount;
		cs->created = t - 300;
		mkid(g, cs->pi, sizeof cs->pi, "pi_3", 24);
		v = gnew(g, GK_INVOICE, sizeof *v, "in_1", 24, 1);
		v->c = c;
		v->price = P_TOP100K;
		v->qty = 1;
		v->amount = v->amount_paid = cs->amount;
		v->attempts = 1;
		v->attempted = v->paid_shown = v->pi_shown = 1;
		v->status = "paid";
		v->reason = "manual";
		v->created = v->finalized_at = v->lps = v->lpe = t + 30;
		v->paid_at = t + 40;
		snprintf(v->number, sizeof v->number, "%s-0001", c->prefix);
		mkid(g, v->line, sizeof v->line, "il_1", 24);
		mkid(g, v->charge, sizeof v->charge, "ch_3", 24);
		snprintf(v->pi, sizeof v->pi, "%s", cs->pi);
		g->dmode = DM_CLEAN;
		emit(g, "checkout.session.completed", &cs->o, t, 0);
		ch = charge_new(g, c, v->charge, cs->pi, cs->amount, t, v->o.id);
		v->ch = ch;
		emit(g, "charge.succeeded", &ch->o, t, 0);
		pi_succeeded(g, c, cs->pi, v->charge, cs->amount, t - 300, t);
		emit(g, "invoice.paid", &v->o, t + 40, 0);
		emit(g, "invoice.payment_succeeded", &v->o, t + 40, 1);
		g->dmode = DM_NORMAL;
		usage_span(g, t + HOUR, g->now, 100000 * 50 / 100 / (months + 1));
		plant_add(g, "grant-duplicate", c->o.id, cs->pi,
		    "one payment (%s, %s) credited twice: checkout session %s (topup:checkout) "
		    "names no invoice, and one-off invoice %s paid by the same payment intent "
		    "(topup:invoice)", cs->pi, day_str(t, d1, sizeof d1), cs->o.id, v->o.id);
		break;
	}
	case PL_USAGE_CONFLICT: {
		size_t i, pickd = 0, nmine = 0, want;
		char ident[32];

		cust_steady(g, P_PRO, 1, g->start + rnd(r, DAY, 10 * DAY), &c);
		for (i = g->us0; i < g->nus; i++)
			if (!(g->us[i].flags & U_REPEAT))
				nmine++;
		if (nmine == 0)
			break;
		want = nmine / 2;
		for (i = g->us0, nmine = 0; i < g->nus; i++)
			if (!(g->us[i].flags & U_REPEAT) && nmine++ == want) {
				pickd = i;
				break;
			}
		{
			struct urec u = g->us[pickd];

			usage_add(g, u.order + 45, u.ts, u.seq, u.meter, u.value * 10 + 7,
			    (u.flags & U_NUMBER) | U_CONFLICT);
			usage_identifier(g, g->cidx, u.seq, ident);
			plant_add(g, "usage-conflict", c->o.id, ident,
			    "usage identifier %s sent again 45 s later with value %lld instead of "
			    "%lld: quarantined, not applied", ident, (long long)(u.value * 10 + 7),
			    (long long)u.value);
			/* And a line the product wrote without its identifier. */
			usage_add(g, u.order + 3600, u.ts + 3600, g->useq++, 0, 1500, U_NOID);
			plant_add(g, "quarantine", c->o.id, "usage.log",
			    "a usage line for %s with no identifier (it could be counted twice): "
			    "quarantined", c->o.id);
		}
		break;
	}
	case PL_SUB_CONFLICT: {
		/* Two updates in one second with different content: the second
		 * is a conflict, the row is marked for refetch, and the mirror
		 * keeps the first, which the API no longer agrees with. */
		s = cust_steady(g, P_TEAM, 3, g->start + rnd(r, DAY, 10 * DAY), &c);
		/* And, so that every demo has one, a dispute lost on the first
		 * invoice (clawed back like a refund). */
		if (s->first_paid != NULL && s->first_paid->ch != NULL)
			dispute(g, s->first_paid->ch, s->first_paid->paid_at);
		t = g->now - 3 * DAY - 5 * HOUR;
		g->dmode = DM_CLEAN;
		s->cape = 1;
		s->cancel_at = s->pe;
		s->canceled_at = t;
		t = emit(g, "customer.subscription.updated", &s->o, t, 0);
		s->cape = 0;
		s->cancel_at = 0;
		s->canceled_at = 0;
		emit(g, "customer.subscription.updated", &s->o, t, 1);
		g->dmode = DM_NORMAL;
		plant_add(g, "subscription-stale", c->o.id, s->o.id,
		    "two customer.subscription.updated events in the same second (%s): cancel at "
		    "period end, then not; the mirror keeps the first and marks %s for refetch, "
		    "the API says it is not canceling", day_str(t, d1, sizeof d1), s->o.id);
		break;
	}
	case PL_EXPIRED_ACTIVE: {
		/* The renewal eight days ago never reached the log. */
		R = g->now - 8 * DAY;
		t0 = add_months(R, -(months - 1), 0);
		c = cust_new(g, t0 - HOUR, NULL, 0);
		topup(g, c, t0 + DAY, P_TOP100K, 1, TK_PLAIN, 0);
		s = sub_new(g, c, P_PRO, 1, t0);
		g->drop_after = R - MIN;
		sub_run(g, s, &so);
		g->drop_after = 0;
		usage_span(g, t0 + 2 * HOUR, g->now, 100000 * 35 / 100);
		plant_add(g, "access-after-expiry", c->o.id, s->o.id,
		    "renewal of %s on %s (subscription update, invoice %s) never reached the "
		    "log: the mirror still has it active for a period that ended then",
		    s->o.id, day_str(R, d1, sizeof d1), s->latest);
		break;
	}
	case PL_AFTER_CANCEL: {
		int kk = months - 1 < 2 ? months - 1 : 2;
		int64_t ended;

		R = g->now - 20 * DAY;
		t0 = add_months(R, -kk, 0);
		c = cust_new(g, t0 - 2 * HOUR, NULL, 0);
		s = sub_new(g, c, P_PRO, 1, t0);
		so.cancel_after = kk;
		ended = sub_run(g, s, &so);
		usage_span(g, t0 + HOUR, ended, 100000 * 40 / 100);
		usage_span(g, ended + 4 * HOUR, g->now - DAY, 30000);
		plant_add(g, "usage-after-cancel", c->o.id, s->o.id,
		    "subscription %s ended %s (canceled at period end); usage kept coming until "
		    "%s (a batch job still calling the API)", s->o.id,
		    day_str(ended, d1, sizeof d1), day_str(g->now - DAY, d2, sizeof d2));
		break;
	}
	case PL_PASTDUE_ENT: {
		struct gents *en;
		static const char *const feats[] = { "chat", "api", "images", "export" };
		int i;

		R = g->now - 9 * DAY;
		t0 = add_months(R, -(months - 1), 0);
		c = cust_new(g, t0 - HOUR, NULL, 0);
		topup(g, c, t0 + DAY, P_TOP100K, 1, TK_PLAIN, 0);
		en = gnew(g, GK_ENTS, sizeof *en, NULL, 0, 1);
		en->c = c;
		for (i = 0; i < 4; i++) {
			en->features[i] = feats[i];
			mkid(g, en->ids[i], sizeof en->ids[i], "ent_", 14);
		}
		en->n = 4;
		s = sub_new(g, c, P_PRO, 1, t0);
		emit(g, "entitlements.active_entitlement_summary.updated", &en->o, t0 + 2 * HOUR, 0);
		so.fail_k = months - 1;
		so.fail_n = FAIL_FOREVER;
		sub_run(g, s, &so);
		usage_span(g, t0 + 3 * HOUR, g->now, 100000 * 35 / 100);
		plant_add(g, "payment-failed-access", c->o.id, s->o.id,
		    "renewal invoice %s of %s failed since %s; past_due beyond the 3-day grace "
		    "while Stripe Entitlements still grant chat, api, images and export",
		    s->latest, s->o.id, day_str(R, d1, sizeof d1));
		break;
	}
	case PL_REFUND_LOST: {
		struct ginv *v;
		struct grefund *re;

		s = cust_steady(g, P_PRO, 1, g->start + rnd(r, DAY, 5 * DAY), &c);
		if ((v = s->first_paid) == NULL || v->ch == NULL)
			break;
		t = v->paid_at + rnd(r, 2 * DAY, 6 * DAY);
		re = gnew(g, GK_REFUND, sizeof *re, "re_3", 24, 1);
		re->amount = v->amount;
		snprintf(re->charge, sizeof re->charge, "%s", v->ch->o.id);
		snprintf(re->pi, sizeof re->pi, "%s", v->pi);
		re->created = t;
		g->dmode = DM_LOST;
		emit(g, "refund.created", &re->o, t, 0);
		g->dmode = DM_NORMAL;
		v->ch->refunded = v->amount;
		emit(g, "charge.refunded", &v->ch->o, t + 1, 0);
		plant_add(g, "refund-without-clawback", c->o.id, v->ch->o.id,
		    "invoice %s (%lld credits) refunded in full on %s: charge.refunded arrived "
		    "but refund.created (%s) never reached the log, so no clawback was derived",
		    v->o.id, (long long)plan_credits(g, P_PRO), day_str(t, d1, sizeof d1), re->o.id);
		break;
	}
	case PL_BALANCE:
		cust_steady(g, P_STARTER, 1, g->start + rnd(r, DAY, 10 * DAY), &c);
		plant_add(g, "balance-mismatch", c->o.id, c->o.id,
		    "the cached balance is edited after the ingest, behind the ledger's back");
		break;
	case PL_NEGATIVE:
		t0 = g->start + rnd(r, DAY, 20 * DAY);
		c = cust_new(g, t0, NULL, 1);
		topup(g, c, t0 + HOUR, P_TOP10K, 1, TK_PLAIN, 0);
		usage_span(g, t0 + 2 * HOUR, g->now, (int64_t)14500 * 30 * DAY / (g->now - t0 - 2 * HOUR));
		plant_add(g, "negative-balance", c->o.id, c->o.id,
		    "bought 10000 credits once and has used about 14500 since");
		break;
	case PL_OUT_OF_ORDER: {
		/* Two customer.updated hours apart; the older one reaches the log
		 * three hours after the newer (Stripe does not promise order). */
		uint32_t late;
		char evid[48];

		cust_steady(g, P_STARTER, 1, g->start + rnd(r, DAY, 10 * DAY), &c);
		t = g->now - 9 * HOUR;
		g->dmode = DM_LOST;
		c->support = 1;
		t = emit(g, "customer.updated", &c->o, t, 0);
		late = g->last_ev;
		snprintf(evid, sizeof evid, "%s", g->last_evid);
		g->dmode = DM_CLEAN;
		snprintf(c->email, sizeof c->email, "billing.%u@example.org", g->cidx);
		emit(g, "customer.updated", &c->o, t + HOUR, 0);
		g->dmode = DM_NORMAL;
		dl_add(g, late, t + 4 * HOUR, 1, S_OK, F_SIGNED);
		plant_add(g, "event-out-of-order", c->o.id, evid,
		    "customer.updated %s (created %s) reached the log three hours after the "
		    "newer customer.updated that changed the email: recorded as superseded",
		    evid, day_str(t, d1, sizeof d1));
		break;
	}
	case PL_GOODWILL: {
		/* A refund clawed back, then given back by support as goodwill:
		 * a refunded payment whose credits were not taken back. */
		struct ginv *v;
		struct grefund *re;
		struct demo_action *a;

		s = cust_steady(g, P_PRO, 1, g->start + rnd(r, DAY, 10 * DAY), &c);
		if ((v = s->first_paid) == NULL || v->ch == NULL)
			break;
		t = v->paid_at + rnd(r, 2 * DAY, 6 * DAY);
		re = gnew(g, GK_REFUND, sizeof *re, "re_3", 24, 1);
		re->amount = v->amount * 3 / 10;
		snprintf(re->charge, sizeof re->charge, "%s", v->ch->o.id);
		snprintf(re->pi, sizeof re->pi, "%s", v->pi);
		re->created = t;
		g->dmode = DM_CLEAN;
		emit(g, "refund.created", &re->o, t, 0);
		v->ch->refunded = re->amount;
		emit(g, "charge.refunded", &v->ch->o, t + 1, 0);
		g->dmode = DM_NORMAL;
		if (g->res->nactions < DEMO_MAX_ACTIONS) {
			a = &g->res->actions[g->res->nactions++];
			memset(a, 0, sizeof *a);
			a->at = t + DAY + 5 * HOUR;
			a->kind = DEMO_ACT_REVERSE;
			snprintf(a->operator_name, sizeof a->operator_name, "support@example.com");
			snprintf(a->customer, sizeof a->customer, "%s", c->o.id);
			snprintf(a->entry, sizeof a->entry, "clawback:refund:%s", re->o.id);
			snprintf(a->reason, sizeof a->reason, "goodwill: the customer keeps the "
			    "credits of the refunded month (ticket T-4821)");
		}
		plant_add(g, "refund-without-clawback", c->o.id, re->o.id,
		    "refund %s of 30%% of invoice %s was clawed back, then support reversed the "
		    "clawback the next day as goodwill (audit log): the credits stay with the "
		    "customer", re->o.id, v->o.id);
		break;
	}
	case PL_WEBHOOK_FAILED: {
		struct ginv *v;

		s = cust_steady(g, P_PRO, 1, g->start + rnd(r, DAY, 10 * DAY), &c);
		v = s->last_paid;
		if (v != NULL && v->paid_at > g->now - 2 * DAY)
			v = s->first_paid;
		if (v == NULL)
			break;
		undeliver(g, v->ev_paid);
		dl_add(g, v->ev_paid, v->paid_at + 1, 1, S_FAILED, F_SIGNED);
		dl_add(g, v->ev_paid, v->paid_at + HOUR, 2, S_FAILED, F_SIGNED);
		dl_add(g, v->ev_paid, v->paid_at + 6 * HOUR, 3, S_FAILED, F_SIGNED);
		if (g->res->nactions < DEMO_MAX_ACTIONS) {
			struct demo_action *a = &g->res->actions[g->res->nactions++];

			memset(a, 0, sizeof *a);
			a->at = v->paid_at + 2 * DAY + 3 * HOUR;
			a->kind = DEMO_ACT_ADJUST;
			snprintf(a->operator_name, sizeof a->operator_name, "ops@example.com");
			snprintf(a->customer, sizeof a->customer, "%s", c->o.id);
			a->amount = 5000;
			snprintf(a->reason, sizeof a->reason, "service credit for the webhook "
			    "outage of %s (INC-2207)", day_str(v->paid_at, d1, sizeof d1));
		}
		plant_add(g, "webhook-failed", c->o.id, v->paid_evid,
		    "invoice.paid %s for %s: three deliveries on %s all failed (HTTP 500), none "
		    "succeeded; tally applied it from the log, the product never did",
		    v->paid_evid, v->o.id, day_str(v->paid_at, d1, sizeof d1));
		break;
	}
	case PL_SIGNATURES: {
		struct ginv *v, forged;
		uint32_t ev;
		char evid[48];

		s = cust_steady(g, P_PRO, 1, g->start + rnd(r, DAY, 10 * DAY), &c);
		/* Signed with the secret the endpoint had before its rotation. */
		undeliver(g, c->ev_created);
		dl_add(g, c->ev_created, c->created + 1, 1, S_REJECTED, F_OLD_SECRET);
		dl_add(g, c->ev_created, c->created + HOUR, 2, S_OK, F_SIGNED);
		plant_add(g, "signature-invalid", c->o.id, c->o.id,
		    "customer.created for %s signed with the secret rotated out before the "
		    "history began (no-match); Stripe's retry an hour later verifies", c->o.id);
		/* A captured request replayed days later with its old signature. */
		if ((v = s->first_paid) != NULL) {
			struct dlv *d;

			dl_add(g, v->ev_paid, g->now - 3 * DAY, 1, S_REJECTED, F_STALE_SIG);
			d = &g->dl[g->ndl - 1];
			d->sig_t = v->paid_at;
			plant_add(g, "signature-invalid", c->o.id, v->paid_evid,
			    "invoice.paid %s replayed on %s with the signature captured on %s "
			    "(too-old)", v->paid_evid, day_str(d->at, d1, sizeof d1),
			    day_str(v->paid_at, d2, sizeof d2));
		}
		/* A forged invoice.paid: 10 x 100k credits, signed with a guess. */
		memset(&forged, 0, sizeof forged);
		forged.o.kind = GK_INVOICE;
		mkid(g, forged.o.id, sizeof forged.o.id, "in_1", 24);
		forged.c = c;
		forged.price = P_TOP100K;
		forged.qty = 10;
		forged.amount = forged.amount_paid = 10 * prices[P_TOP100K].unit_amount;
		forged.attempts = 1;
		forged.attempted = forged.paid_shown = forged.pi_shown = 1;
		forged.status = "paid";
		forged.reason = "manual";
		t = g->now - DAY - 3 * HOUR;
		forged.created = forged.finalized_at = forged.lps = forged.lpe = t - 60;
		forged.paid_at = t - 30;
		mkid(g, forged.line, sizeof forged.line, "il_1", 24);
		mkid(g, forged.charge, sizeof forged.charge, "ch_3", 24);
		mkid(g, forged.pi, sizeof forged.pi, "pi_3", 24);
		ev = event_make(g, "invoice.paid", &forged.o, t - 30, EV_NOSTATE);
		snprintf(evid, sizeof evid, "%s", g->last_evid);
		dl_add(g, ev, t, 1, S_REJECTED, F_FORGED);
		plant_add(g, "signature-invalid", c->o.id, evid,
		    "a forged invoice.paid (%s, invoice %s: 10 x price_topup_100k for %s) with a "
		    "made-up signature: never applied", evid, forged.o.id, c->o.id);
		break;
	}
	case PL_ESCAPE:
		c = cust_regular(g, escape_name);
		plant_add(g, "escape-name", c->o.id, c->o.id,
		    "customer name carries an OSC title sequence, a screen clear, colours, a BEL "
		    "and a C1 CSI: the console must show it inert");
		break;
	default:
		break;
	}
}

/* --- one customer -------------------------------------------------------------- */

/* Render every object the customer left, in its final state, into state.json. */
static void
state_objects(struct gen *g)
{
	struct gobj *o;
	int i;

	for (o = g->objs; o != NULL; o = o->next) {
		if (!o->emitted)
			continue;
		if (o->kind == GK_ENTS) {
			const struct gents *s = (const struct gents *)o;

			for (i = 0; i < s->n; i++) {
				buf_reset(&g->out);
				put(&g->out, ",\n");
				render_entitlement(&g->out, s, i, 1);
				out_write(g, g->state, g->out.data, g->out.len, "state.json");
			}
			continue;
		}
		buf_reset(&g->out);
		put(&g->out, ",\n");
		render(&g->out, o, 1, 1);
		out_write(g, g->state, g->out.data, g->out.len, "state.json");
	}
}

static void
customer(struct gen *g, uint32_t cidx)
{
	rng_seed(&g->r, g->o->seed, cidx);
	g->cidx = cidx;
	g->idctr = 0;
	g->useq = 0;
	arena_reset(&g->ar);
	g->objs = g->objs_tail = NULL;
	g->dl0 = g->ndl;
	g->us0 = g->nus;
	g->dmode = DM_NORMAL;
	g->drop_after = 0;
	if (g->plant_at[cidx] != 0)
		plant(g, g->plant_at[cidx] - 1);
	else
		cust_regular(g, NULL);
	state_objects(g);
}

/* --- writing the logs ------------------------------------------------------------- */

static int
cmp_dlv(const void *a, const void *b)
{
	const struct dlv *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	if (x->ev != y->ev)
		return x->ev < y->ev ? -1 : 1;
	if (x->attempt != y->attempt)
		return x->attempt < y->attempt ? -1 : 1;
	return (int)x->form - (int)y->form;
}

static int
cmp_urec(const void *a, const void *b)
{
	const struct urec *x = a, *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->cidx != y->cidx)
		return x->cidx < y->cidx ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (int)x->flags - (int)y->flags;
}

/* An event's place in state.json: oldest first, then in the order made. */
struct evorder {
	int64_t created;
	uint32_t ev;
};

static int
cmp_ev(const void *a, const void *b)
{
	const struct evorder *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return x->ev < y->ev ? -1 : x->ev > y->ev;
}

/* Read an event's body back from the spill into b. */
static int
body_read(struct gen *g, uint32_t ev, struct buf *b)
{
	const struct evrec *r = &g->ev[ev];
	size_t got = 0;

	buf_reset(b);
	if (b->alloc < (size_t)r->len + 1) {
		b->data = xrealloc(b->data, (size_t)r->len + 1);
		b->alloc = (size_t)r->len + 1;
	}
	while (got < r->len) {
		ssize_t n = pread(g->spill, b->data + got, r->len - got, (off_t)(r->off + (int64_t)got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			io_fail(g, "reading the demo's spill file");
			return -1;
		}
		got += (size_t)n;
	}
	b->len = r->len;
	b->data[b->len] = '\0';
	return 0;
}

static FILE *
open_out(struct gen *g, const char *name, char *tmp, size_t tmpsz)
{
	FILE *f;
	int fd;

	snprintf(tmp, tmpsz, "%s/%s.tmp", g->o->dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		err_set(g->e, "%s: cannot create: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		g->ioerr = 1;
		return NULL;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

static int
close_out(struct gen *g, FILE *f, const char *tmp, const char *name, int64_t *bytes)
{
	char path[4096];
	long size = ftell(f);

	if (fflush(f) != 0 || ferror(f))
		io_fail(g, tmp);
	if (fclose(f) != 0)
		io_fail(g, tmp);
	if (g->ioerr) {
		unlink(tmp);
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s", g->o->dir, name);
	if (rename(tmp, path) != 0) {
		io_fail(g, path);
		return -1;
	}
	if (bytes != NULL)
		*bytes = size;
	return 0;
}

static void
write_record(struct gen *g, const struct dlv *d, struct buf *o)
{
	const struct buf *body = &g->body;
	char sig[128], mac[65];
	int64_t t = d->sig_t != 0 ? d->sig_t : d->at;

	buf_reset(o);
	if (d->form == F_BARE) {
		(void)buf_append(o, body->data, body->len);
		put(o, "\n\n");
		return;
	}
	if (d->form == F_PRETTY) {
		pretty(o, body->data, body->len);
		putc1(o, '\n');
		return;
	}
	switch (d->form) {
	case F_OLD_SECRET:
		sig_sign(OLD_SECRET, t, body->data, body->len, sig, sizeof sig);
		break;
	case F_FORGED: {
		uint64_t v = mix64(g->idkey ^ d->ev);

		snprintf(mac, sizeof mac, "%016llx%016llx%016llx%016llx", (unsigned long long)v,
		    (unsigned long long)mix64(v + 1), (unsigned long long)mix64(v + 2),
		    (unsigned long long)mix64(v + 3));
		snprintf(sig, sizeof sig, "t=%lld,v1=%s", (long long)t, mac);
		break;
	}
	default:
		sig_sign(DEMO_WEBHOOK_SECRET, t, body->data, body->len, sig, sizeof sig);
		break;
	}
	putc1(o, '{');
	kint(o, "received_at", d->at);
	kstr(o, "endpoint", ENDPOINT);
	kint(o, "attempt", d->attempt);
	kstr(o, "status", d->status == S_OK ? "ok" : "failed");
	kint(o, "http_status", d->status == S_OK ? 200 : d->status == S_FAILED ? 500 : 400);
	if (d->status == S_FAILED)
		kstr(o, "error", http_errors[(d->ev + d->attempt) % 3]);
	else if (d->status == S_REJECTED)
		kstr(o, "error", "webhook signature verification failed");
	kstr(o, "signature", sig);
	key(o, "body");
	put_strn(o, body->data, body->len);
	put(o, "}\n");
}

/* The endpoint's process was killed in the middle of a write: half a
 * record, then a newline. */
static void
write_torn(struct gen *g, int64_t at)
{
	buf_reset(&g->out);
	put(&g->out, "{\"received_at\":");
	put_int(&g->out, at);
	put(&g->out, ",\"endpoint\":\"" ENDPOINT "\",\"attempt\":1,\"status\":\"ok\","
	    "\"http_status\":200,\"body\":\"{\\\"id\\\":\\\"evt_1");
	putc1(&g->out, '\n');
	out_write(g, g->wh, g->out.data, g->out.len, "webhooks.log");
	plant_add(g, "quarantine", "", "webhooks.log",
	    "a half-written delivery record (the endpoint died mid-write) in the middle of "
	    "webhooks.log: quarantined, reading goes on");
	g->res->deliveries++;
	g->torn_done = 1;
}

static void
write_usage_line(struct gen *g, const struct urec *u)
{
	static const char *const meters[] = { "api_tokens", "images" };
	struct buf *o = &g->out;
	char ident[32];

	if (!(u->flags & (U_REPEAT | U_CONFLICT | U_NOID)))
		g->res->usage_identifiers++;
	buf_reset(o);
	putc1(o, '{');
	if (!(u->flags & U_NOID)) {
		usage_identifier(g, u->cidx, u->seq, ident);
		kstr(o, "identifier", ident);
	}
	kstr(o, "event_name", meters[u->meter]);
	kint(o, "timestamp", u->ts);
	kobj(o, "payload");
	kstr(o, "stripe_customer_id", g->cid[u->cidx]);
	key(o, "value");
	if (u->flags & U_NUMBER) {
		put_int(o, u->value);
	} else {
		putc1(o, '"');
		put_int(o, u->value);
		putc1(o, '"');
	}
	put(o, "}}\n");
	out_write(g, g->ul, o->data, o->len, "usage.log");
	g->res->usage_lines++;
}

/* Append what was received up to t to both logs, and flush them. */
static int
logs_until(struct gen *g, int64_t t)
{
	while (g->dl_next < g->ndl && g->dl[g->dl_next].at <= t && !g->ioerr) {
		const struct dlv *d = &g->dl[g->dl_next];

		if (g->dl_next == g->ndl / 2 && !g->torn_done)
			write_torn(g, d->at);
		g->dl_next++;
		if (d->form == F_DEAD)
			continue;
		if (body_read(g, d->ev, &g->body) != 0)
			break;
		write_record(g, d, &g->out);
		out_write(g, g->wh, g->out.data, g->out.len, "webhooks.log");
		g->res->deliveries++;
	}
	while (g->us_next < g->nus && g->us[g->us_next].order <= t && !g->ioerr)
		write_usage_line(g, &g->us[g->us_next++]);
	if (fflush(g->wh) != 0)
		io_fail(g, "webhooks.log");
	if (fflush(g->ul) != 0)
		io_fail(g, "usage.log");
	return g->ioerr ? -1 : 0;
}

/* Open a log for appending from empty, under its final name: a mirror may
 * follow it while it grows. */
static FILE *
open_log(struct gen *g, const char *name)
{
	char path[4096];
	FILE *f;
	int fd;

	snprintf(path, sizeof path, "%s/%s", g->o->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		err_set(g->e, "%s: cannot create: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		g->ioerr = 1;
		return NULL;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

static int
close_log(struct gen *g, FILE **fp, const char *name, int64_t *bytes)
{
	FILE *f = *fp;

	*fp = NULL;
	if (f == NULL)
		return 0;
	*bytes = (int64_t)ftell(f);
	if (fflush(f) != 0 || ferror(f))
		io_fail(g, name);
	if (fclose(f) != 0)
		io_fail(g, name);
	return g->ioerr ? -1 : 0;
}

static void
state_begin(struct gen *g)
{
	struct buf *o = &g->out;
	int p;

	buf_reset(o);
	putc1(o, '{');
	kstr(o, "api_key", DEMO_API_KEY);
	kint(o, "now", g->now);
	kstr(o, "api_version", NEW_API);
	karr(o, "webhook_endpoints");
	kobj(o, NULL);
	kstr(o, "id", ENDPOINT_ID);
	kstr(o, "object", "webhook_endpoint");
	kraw(o, "api_version", "null");
	kraw(o, "application", "null");
	kint(o, "created", g->start);
	kraw(o, "description", "null");
	kraw(o, "enabled_events", "[\"*\"]");
	kbool(o, "livemode", 0);
	kraw(o, "metadata", "{}");
	kstr(o, "status", "enabled");
	kstr(o, "url", ENDPOINT);
	end(o, '}');
	end(o, ']');
	put(o, ",\n\"objects\":[\n");
	for (p = 0; p < P_COUNT; p++) {
		if (p > 0)
			put(o, ",\n");
		render_price(o, p);
	}
	out_write(g, g->state, o->data, o->len, "state.json");
}

static int
state_end(struct gen *g)
{
	struct evorder *order = xcalloc(g->nev ? g->nev : 1, sizeof *order);
	size_t i, n = 0;
	int rc;

	for (i = 0; i < g->nev; i++)
		if (!(g->ev[i].flags & EV_NOSTATE)) {
			order[n].created = g->ev[i].created;
			order[n++].ev = (uint32_t)i;
		}
	qsort(order, n, sizeof *order, cmp_ev);
	out_write(g, g->state, "\n],\n\"events\":[\n", 15, "state.json");
	for (i = 0; i < n && !g->ioerr; i++) {
		if (body_read(g, order[i].ev, &g->body) != 0)
			break;
		if (i > 0)
			out_write(g, g->state, ",\n", 2, "state.json");
		out_write(g, g->state, g->body.data, g->body.len, "state.json");
	}
	out_write(g, g->state, "\n]}\n", 4, "state.json");
	g->res->events = (int64_t)n;
	free(order);
	rc = close_out(g, g->state, g->state_tmp, "state.json", &g->res->state_bytes);
	g->state = NULL;
	return rc;
}

/* --- the whole history --------------------------------------------------------------- */

/* Which customers are planted: one index per plant, picked by the seed. */
static void
plants_place(struct gen *g)
{
	uint32_t n = (uint32_t)g->o->customers, k, idx;

	for (k = 0; k < PL_COUNT; k++) {
		idx = (uint32_t)(mix64(g->o->seed ^ (0xd1b54a32d192ed03ULL * (k + 1))) % n) + 1;
		while (g->plant_at[idx] != 0)
			idx = idx % n + 1;
		g->plant_at[idx] = (unsigned char)(k + 1);
	}
}

struct demo_history {
	struct gen g;
};

int
demo_history_new(const struct demo_opts *o, const struct catalog *cat, struct demo_result *r,
                 struct demo_history **out, struct err *e)
{
	struct demo_history *h;
	struct gen *g;
	char spill[4096];
	uint32_t i;

	*out = NULL;
	if (o->customers < DEMO_MIN_CUSTOMERS || o->customers > DEMO_MAX_CUSTOMERS ||
	    o->months < DEMO_MIN_MONTHS || o->months > DEMO_MAX_MONTHS)
		return err_set(e, "the demo needs %d to %d customers and %d to %d months",
		    DEMO_MIN_CUSTOMERS, DEMO_MAX_CUSTOMERS, DEMO_MIN_MONTHS, DEMO_MAX_MONTHS);
	h = xcalloc(1, sizeof *h);
	g = &h->g;
	g->o = o;
	g->cat = cat;
	g->res = r;
	g->e = e;
	g->spill = -1;
	g->idkey = mix64(o->seed ^ 0x243f6a8885a308d3ULL);
	g->ukey = mix64(o->seed ^ 0x13198a2e03707344ULL);
	g->start = DEMO_START;
	g->now = add_months(g->start, o->months, 0);
	g->upgrade = g->start + (g->now - g->start) / 2;
	r->start = g->start;
	r->now = g->now;
	r->api_upgrade_at = g->upgrade;
	r->customers = o->customers;
	arena_init(&g->ar);
	buf_init(&g->spillbuf, 0);
	buf_init(&g->body, 0);
	buf_init(&g->out, 0);
	g->cid = xcalloc((size_t)o->customers + 1, sizeof *g->cid);
	g->plant_at = xcalloc((size_t)o->customers + 1, 1);
	*out = h;

	snprintf(spill, sizeof spill, "%s/.demo-spill-XXXXXX", o->dir);
	if ((g->spill = mkstemp(spill)) < 0)
		return err_set(e, "%s: cannot create a scratch file: %s", spill, strerror(errno));
	unlink(spill);
	if ((g->state = open_out(g, "state.json", g->state_tmp, sizeof g->state_tmp)) == NULL ||
	    (g->wh = open_log(g, "webhooks.log")) == NULL ||
	    (g->ul = open_log(g, "usage.log")) == NULL)
		return -1;
	state_begin(g);
	plants_place(g);
	for (i = 1; i <= (uint32_t)o->customers && !g->ioerr; i++)
		customer(g, i);
	spill_flush(g);
	if (g->ioerr)
		return -1;
	qsort(g->dl, g->ndl, sizeof *g->dl, cmp_dlv);
	qsort(g->us, g->nus, sizeof *g->us, cmp_urec);
	if (g->future > 0 && getenv("TALLY_DEMO_DEBUG") != NULL)
		fprintf(stderr, "demo: %lld events fell after the end of the history\n",
		    (long long)g->future);
	return 0;
}

int
demo_history_write_until(struct demo_history *h, int64_t t, struct err *e)
{
	h->g.e = e;
	return logs_until(&h->g, t);
}

int
demo_history_finish(struct demo_history *h, struct err *e)
{
	struct gen *g = &h->g;

	g->e = e;
	if (logs_until(g, INT64_MAX) != 0 ||
	    close_log(g, &g->wh, "webhooks.log", &g->res->webhook_bytes) != 0 ||
	    close_log(g, &g->ul, "usage.log", &g->res->usage_bytes) != 0)
		return -1;
	return state_end(g);
}

void
demo_history_free(struct demo_history *h)
{
	struct gen *g;

	if (h == NULL)
		return;
	g = &h->g;
	if (g->state != NULL) {
		fclose(g->state);
		unlink(g->state_tmp);
	}
	if (g->wh != NULL)
		fclose(g->wh);
	if (g->ul != NULL)
		fclose(g->ul);
	if (g->spill >= 0)
		close(g->spill);
	free(g->ev);
	free(g->dl);
	free(g->us);
	free(g->cid);
	free(g->plant_at);
	arena_done(&g->ar);
	buf_done(&g->spillbuf);
	buf_done(&g->body);
	buf_done(&g->out);
	free(h);
}
