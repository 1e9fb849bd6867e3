/*
 * view-customer: one customer as a tree an operator can open:
 *
 *   the customer (name, email, balance with a sparkline over its recent
 *   ledger), access per catalog feature with its reason (access.h; open a
 *   feature for the trace), subscriptions → their invoices → the ledger
 *   entries each granted → the deliveries of the events about it; then its
 *   latest ledger entries, deliveries, alerts and audit entries, each
 *   section's title opening the full list for the customer.
 *
 * Only open nodes are queried, each child list is bounded (LIMIT), and the
 * sparkline reads at most SPARK_ENTRIES entries back from the cached
 * balance, so the tree costs the same for a customer with ten entries or a
 * hundred thousand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "tui-int.h"
#include "util.h"

#define SPARK_ENTRIES 2000
#define SPARK_WIDTH 40
#define GRID_ROWS 64
#define GRID_COLS 10

/* A few rows copied out of a query, so children can be queried after. */
struct grid {
	int n;
	struct qval v[GRID_ROWS][GRID_COLS];
};

static int
grid_add(const struct qval *cols, int ncols, void *arg)
{
	struct grid *g = arg;
	int i;

	if (g->n >= GRID_ROWS)
		return 1;
	for (i = 0; i < ncols && i < GRID_COLS; i++) {
		g->v[g->n][i] = cols[i];
		g->v[g->n][i].s = cols[i].type == QV_TEXT ? xstrdup(cols[i].s) : NULL;
	}
	g->n++;
	return 0;
}

static void
grid_free(struct grid *g)
{
	int r, c;

	for (r = 0; r < g->n; r++)
		for (c = 0; c < GRID_COLS; c++)
			free((char *)g->v[r][c].s);
	g->n = 0;
}

static const char *
gs(const struct grid *g, int r, int c)
{
	return g->v[r][c].type == QV_TEXT ? g->v[r][c].s : "";
}

static int64_t
gi(const struct grid *g, int r, int c)
{
	return g->v[r][c].type == QV_INT ? g->v[r][c].i : 0;
}

static const char *
gt(const struct grid *g, int r, int c, char *buf, size_t n)
{
	fmt_time(gi(g, r, c), buf, n);
	return buf;
}

/* Make the line just added a tree node (open or closed by its key) and
 * give it what Enter opens. */
static struct dline *
node(struct doc *d, int expandable, const char *target)
{
	struct dline *l = &d->lines[d->n - 1];

	l->node = expandable ? (doc_is_open(d, l->key) ? 2 : 1) : 0;
	if (target != NULL)
		l->target = xstrdup(target);
	return l;
}

/* ---- the sparkline ------------------------------------------------------ */

struct spark {
	int64_t t[SPARK_ENTRIES], amt[SPARK_ENTRIES];
	int n;
};

static int
spark_add(const struct qval *c, int n, void *arg)
{
	struct spark *s = arg;

	if (s->n >= SPARK_ENTRIES)
		return 1;
	s->t[s->n] = c[0].i;
	s->amt[s->n++] = c[1].i;
	return 0;
}

static void
sparkline(struct tui *t, const char *cus, int64_t balance, char *out, size_t outsz, int *nent,
          int64_t *since)
{
	static const char *const blocks_u[] = { "\u2581", "\u2582", "\u2583", "\u2584", "\u2585",
		"\u2586", "\u2587", "\u2588" };
	static const char *const blocks_a[] = { "_", ".", "-", "~", "=", "+", "*", "#" };
	const char *const *blocks = theme_utf8() ? blocks_u : blocks_a;
	struct spark *s = xcalloc(1, sizeof *s);
	int64_t bal[SPARK_WIDTH], lo, hi, t0, t1, b;
	struct qval p[1] = { qv_text(cus) };
	size_t o = 0;
	int i, k;

	out[0] = '\0';
	*nent = 0;
	tui_query(t, "SELECT effective_at, amount FROM ledger WHERE customer = ?1 "
	    "ORDER BY effective_at DESC, seq DESC LIMIT 2000", p, 1, spark_add, s);
	if (s->n == 0) {
		free(s);
		return;
	}
	*nent = s->n;
	t0 = s->t[s->n - 1];
	t1 = s->t[0] > tally_now() ? s->t[0] : tally_now();
	*since = t0;
	if (t1 <= t0)
		t1 = t0 + 1;
	/* Walk back from the cached balance: the balance at the end of each
	 * bucket is the one after the last entry at or before it. */
	b = balance;
	k = 0;
	for (i = SPARK_WIDTH - 1; i >= 0; i--) {
		int64_t end = t0 + (t1 - t0) * (i + 1) / SPARK_WIDTH;

		while (k < s->n && s->t[k] > end)
			b -= s->amt[k++];
		bal[i] = b;
	}
	lo = hi = bal[0];
	for (i = 0; i < SPARK_WIDTH; i++) {
		if (bal[i] < lo)
			lo = bal[i];
		if (bal[i] > hi)
			hi = bal[i];
	}
	for (i = 0; i < SPARK_WIDTH; i++) {
		int lvl = hi > lo ? (int)((bal[i] - lo) * 7 / (hi - lo)) : 3;

		o += (size_t)snprintf(out + o, outsz > o ? outsz - o : 0, "%s", blocks[lvl]);
	}
	free(s);
}

/* ---- the tree -------------------------------------------------------------- */

static void
add_deliveries_of(struct tui *t, struct doc *d, const char *object, int depth)
{
	struct grid g = { 0 };
	struct qval p[1] = { qv_text(object) };
	char key[300], target[64], tm[32];
	int r;

	tui_query(t, "SELECT d.id, e.type, d.status, d.http_status, d.received_at, d.sig_state "
	    "FROM events AS e JOIN deliveries AS d ON d.event_id = e.id WHERE e.object_id = ?1 "
	    "ORDER BY d.id LIMIT 20", p, 1, grid_add, &g);
	for (r = 0; r < g.n; r++) {
		snprintf(target, sizeof target, "D:%lld", (long long)gi(&g, r, 0));
		snprintf(key, sizeof key, "T%s:%s", target, object);
		doc_add(d, strcmp(gs(&g, r, 2), "failed") == 0 ? R_BAD : R_NORMAL, depth, key,
		    "delivery %lld  %s  %s %lld  %s  signature %s", (long long)gi(&g, r, 0),
		    gs(&g, r, 1), gs(&g, r, 2), (long long)gi(&g, r, 3), gt(&g, r, 4, tm, sizeof tm),
		    gs(&g, r, 5));
		node(d, 0, target);
	}
	if (g.n == 0)
		doc_add(d, R_DIM, depth, NULL, "no deliveries about %s", object);
	grid_free(&g);
}

static void
add_entries_of(struct tui *t, struct doc *d, const char *source, int depth)
{
	struct grid g = { 0 };
	struct qval p[1] = { qv_text(source) };
	char key[300], amt[32], tm[32];
	int r;

	tui_query(t, "SELECT seq, kind, amount, key, effective_at, source_id FROM ledger "
	    "WHERE source_id = ?1 ORDER BY seq LIMIT 20", p, 1, grid_add, &g);
	for (r = 0; r < g.n; r++) {
		snprintf(key, sizeof key, "TL:%lld", (long long)gi(&g, r, 0));
		fmt_amount(gi(&g, r, 2), amt, sizeof amt);
		doc_add(d, R_NORMAL, depth, key, "entry %lld  %s %s  %s  %s", (long long)gi(&g, r, 0),
		    gs(&g, r, 1), amt, gt(&g, r, 4, tm, sizeof tm), gs(&g, r, 3));
		node(d, 1, NULL);
		if (doc_is_open(d, key))
			add_deliveries_of(t, d, gs(&g, r, 5), depth + 1);
	}
	if (g.n == 0)
		doc_add(d, R_DIM, depth, NULL, "no ledger entry from %s", source);
	grid_free(&g);
}

static void
add_invoices(struct tui *t, struct doc *d, const char *cus, const char *sub, int depth)
{
	struct grid g = { 0 };
	struct qval p[2] = { qv_text(cus), qv_text(sub) };
	char key[300], amt[32], tm[32];
	int r;

	tui_query(t, "SELECT id, status, amount_paid, currency, billing_reason, created FROM invoices "
	    "WHERE customer = ?1 AND subscription IS ?2 AND placeholder = 0 "
	    "ORDER BY created DESC, id LIMIT 24", p, 2, grid_add, &g);
	for (r = 0; r < g.n; r++) {
		snprintf(key, sizeof key, "I:%s", gs(&g, r, 0));
		fmt_amount(gi(&g, r, 2), amt, sizeof amt);
		doc_add(d, strcmp(gs(&g, r, 1), "paid") == 0 ? R_NORMAL : R_WARN, depth, key,
		    "%s  %s  %s %s  %s  %s", gs(&g, r, 0), gs(&g, r, 1), amt, gs(&g, r, 3),
		    gt(&g, r, 5, tm, sizeof tm), gs(&g, r, 4));
		node(d, 1, NULL);
		if (doc_is_open(d, key))
			add_entries_of(t, d, gs(&g, r, 0), depth + 1);
	}
	if (g.n == 0)
		doc_add(d, R_DIM, depth, NULL, "no invoices");
	else if (g.n == 24)
		doc_add(d, R_DIM, depth, NULL, "(the 24 newest; :ledger %s for all entries)", cus);
	grid_free(&g);
}

static void
add_access(struct tui *t, struct doc *d, const char *cus)
{
	const struct catalog *cat = t->cat;
	const char *seen[64];
	int nseen = 0, i, j, k;
	size_t pi, fi;
	char key[200];

	doc_add(d, R_HEADER, 0, "h:access", "access");
	if (cat == NULL || (cat->nplans == 0 && cat->nmeters == 0)) {
		doc_add(d, R_DIM, 1, NULL, "no catalog: no features to check (--catalog)");
		return;
	}
	for (pi = 0; pi < cat->nplans; pi++)
		for (fi = 0; fi < cat->plans[pi].nfeatures && nseen < 64; fi++) {
			for (j = 0; j < nseen && strcmp(seen[j], cat->plans[pi].features[fi]) != 0; j++)
				;
			if (j == nseen)
				seen[nseen++] = cat->plans[pi].features[fi];
		}
	for (pi = 0; pi < cat->nmeters && nseen < 64; pi++) {
		for (j = 0; j < nseen && strcmp(seen[j], cat->meters[pi].feature) != 0; j++)
			;
		if (j == nseen)
			seen[nseen++] = cat->meters[pi].feature;
	}
	for (i = 0; i < nseen; i++) {
		struct access_answer *a = xcalloc(1, sizeof *a);
		struct err e;

		snprintf(key, sizeof key, "acc:%s", seen[i]);
		if (access_check(t->s, cat, cus, seen[i], tally_now(), t->cfg->stale_after, a, &e) != 0) {
			doc_add(d, R_BAD, 1, key, "%-12s error: %s", seen[i], e.msg);
			free(a);
			continue;
		}
		doc_add(d, a->allow ? R_GOOD : R_BAD, 1, key, "%-12s %-5s %s: %s%s", seen[i],
		    a->allow ? "allow" : "deny", a->reason, a->detail, a->stale ? " (stale mirror)" : "");
		node(d, 1, NULL);
		if (doc_is_open(d, key))
			for (k = 0; k < a->ntrace; k++)
				doc_add(d, a->trace[k].pass ? R_DIM : R_WARN, 2, NULL, "%-6s %-14s %s",
				    a->trace[k].pass ? "pass" : "fail", a->trace[k].rule, a->trace[k].detail);
		free(a);
	}
}

struct cust_priv {
	int seeded;
};

static int
build(struct view *v, struct tui *t)
{
	struct doc *d = &v->doc;
	struct cust_priv *cp = v->priv;
	struct grid g = { 0 }, subs = { 0 };
	const char *cus = v->arg;
	struct qval p[1] = { qv_text(cus) };
	char key[300], tm[32], tm2[32], amt[32], spark[SPARK_WIDTH * 4 + 1];
	int64_t balance, since = 0;
	int r, nent;

	if (cp == NULL)
		v->priv = cp = xcalloc(1, sizeof *cp);
	doc_begin(d);
	view_set_title(v, "customer %s", cus);
	if (tui_query(t, "SELECT c.id, c.name, c.email, c.currency, c.created, c.deleted, "
	    "c.placeholder, COALESCE(b.balance, 0) FROM customers AS c "
	    "LEFT JOIN balances AS b ON b.customer = c.id WHERE c.id = ?1", p, 1, grid_add, &g) < 0)
		return doc_end(d), -1;
	if (g.n == 0) {
		doc_add(d, R_WARN, 0, NULL, "%s is not in the mirror", cus);
		doc_end(d);
		return 0;
	}
	balance = gi(&g, 0, 7);
	doc_add(d, R_TITLE, 0, "h:customer", "%s  %s  <%s>%s%s", gs(&g, 0, 0), gs(&g, 0, 1),
	    gs(&g, 0, 2), gi(&g, 0, 5) ? "  (deleted)" : "", gi(&g, 0, 6) ? "  (placeholder)" : "");
	doc_add(d, R_DIM, 1, NULL, "created %s, currency %s", gt(&g, 0, 4, tm, sizeof tm),
	    gs(&g, 0, 3)[0] ? gs(&g, 0, 3) : "-");
	grid_free(&g);
	sparkline(t, cus, balance, spark, sizeof spark, &nent, &since);
	fmt_amount(balance, amt, sizeof amt);
	fmt_time(since, tm, sizeof tm);
	doc_add(d, balance < 0 ? R_BAD : R_GOOD, 1, "h:balance", "balance %s %s  %s  %s%d entr%s since %s",
	    amt, t->cat != NULL ? t->cat->unit : "credits", spark, nent ? "over " : "", nent,
	    nent == 1 ? "y" : "ies", tm);

	add_access(t, d, cus);

	doc_add(d, R_HEADER, 0, "h:subs", "subscriptions → invoices → ledger entries → deliveries");
	tui_query(t, "SELECT s.id, s.status, group_concat(i.price, ','), "
	    "COALESCE(min(i.current_period_start), s.current_period_start), "
	    "COALESCE(max(i.current_period_end), s.current_period_end), s.cancel_at, s.ended_at "
	    "FROM subscriptions AS s LEFT JOIN subscription_items AS i ON i.subscription = s.id "
	    "WHERE s.customer = ?1 AND s.placeholder = 0 GROUP BY s.id "
	    "ORDER BY s.created DESC, s.id LIMIT 50", p, 1, grid_add, &subs);
	for (r = 0; r < subs.n; r++) {
		const char *st = gs(&subs, r, 1);

		snprintf(key, sizeof key, "S:%s", gs(&subs, r, 0));
		if (!cp->seeded)
			doc_toggle(d, key, 1);
		doc_add(d, strcmp(st, "active") == 0 || strcmp(st, "trialing") == 0 ? R_GOOD : R_WARN,
		    1, key, "%s  %s  %s  %s → %s%s%s", gs(&subs, r, 0), st, gs(&subs, r, 2),
		    gt(&subs, r, 3, tm, sizeof tm), gt(&subs, r, 4, tm2, sizeof tm2),
		    gi(&subs, r, 5) ? "  cancels at period end" : "",
		    gi(&subs, r, 6) ? "  ended" : "");
		node(d, 1, NULL);
		if (doc_is_open(d, key))
			add_invoices(t, d, cus, gs(&subs, r, 0), 2);
	}
	doc_add(d, R_NORMAL, 1, "S:-", "invoices without a subscription (top-ups, one-off)");
	node(d, 1, NULL);
	if (doc_is_open(d, "S:-"))
		add_invoices(t, d, cus, NULL, 2);
	grid_free(&subs);
	cp->seeded = 1;

	doc_add(d, R_HEADER, 0, "h:ledger", "latest ledger entries (Enter: the whole ledger)");
	node(d, 0, "view:ledger");
	tui_query(t, "SELECT seq, kind, amount, key, effective_at FROM ledger WHERE customer = ?1 "
	    "ORDER BY effective_at DESC, seq DESC LIMIT 8", p, 1, grid_add, &g);
	for (r = 0; r < g.n; r++) {
		snprintf(key, sizeof key, "L:%lld", (long long)gi(&g, r, 0));
		fmt_amount(gi(&g, r, 2), amt, sizeof amt);
		doc_add(d, gi(&g, r, 2) < 0 ? R_WARN : R_NORMAL, 1, key, "%-8lld %-8s %12s  %s  %s",
		    (long long)gi(&g, r, 0), gs(&g, r, 1), amt, gt(&g, r, 4, tm, sizeof tm),
		    gs(&g, r, 3));
		node(d, 0, key);
	}
	if (g.n == 0)
		doc_add(d, R_DIM, 1, NULL, "none");
	grid_free(&g);

	doc_add(d, R_HEADER, 0, "h:deliveries", "latest deliveries (Enter: all of them)");
	node(d, 0, "view:deliveries");
	tui_query(t, "SELECT d.id, e.type, d.status, d.http_status, d.received_at FROM events AS e "
	    "JOIN deliveries AS d ON d.event_id = e.id WHERE e.customer = ?1 "
	    "ORDER BY d.id DESC LIMIT 8", p, 1, grid_add, &g);
	for (r = 0; r < g.n; r++) {
		snprintf(key, sizeof key, "D:%lld", (long long)gi(&g, r, 0));
		doc_add(d, strcmp(gs(&g, r, 2), "failed") == 0 ? R_BAD : R_NORMAL, 1, key,
		    "%-8lld %-6s %3lld  %s  %s", (long long)gi(&g, r, 0), gs(&g, r, 2),
		    (long long)gi(&g, r, 3), gt(&g, r, 4, tm, sizeof tm), gs(&g, r, 1));
		node(d, 0, key);
	}
	if (g.n == 0)
		doc_add(d, R_DIM, 1, NULL, "none");
	grid_free(&g);

	doc_add(d, R_HEADER, 0, "h:alerts", "alerts not resolved (Enter: all of them)");
	node(d, 0, "view:alerts");
	tui_query(t, "SELECT id, severity, rule, state, summary FROM alerts WHERE customer = ?1 "
	    "AND state IN ('open', 'acknowledged') ORDER BY id DESC LIMIT 20", p, 1, grid_add, &g);
	for (r = 0; r < g.n; r++) {
		snprintf(key, sizeof key, "A:%lld", (long long)gi(&g, r, 0));
		doc_add(d, strcmp(gs(&g, r, 1), "critical") == 0 ? R_BAD : R_WARN, 1, key,
		    "%-6lld %-8s %-22s %-12s %s", (long long)gi(&g, r, 0), gs(&g, r, 1), gs(&g, r, 2),
		    gs(&g, r, 3), gs(&g, r, 4));
		node(d, 0, key);
	}
	if (g.n == 0)
		doc_add(d, R_GOOD, 1, NULL, "none");
	grid_free(&g);

	doc_add(d, R_HEADER, 0, "h:audit", "latest operator actions on it");
	tui_query(t, "SELECT id, at, operator, action, result, COALESCE(reason, '') FROM audit "
	    "WHERE target = ?1 ORDER BY id DESC LIMIT 8", p, 1, grid_add, &g);
	for (r = 0; r < g.n; r++) {
		snprintf(key, sizeof key, "U:%lld", (long long)gi(&g, r, 0));
		doc_add(d, R_NORMAL, 1, key, "%-6lld %s  %-10s %-8s %-8s %s", (long long)gi(&g, r, 0),
		    gt(&g, r, 1, tm, sizeof tm), gs(&g, r, 2), gs(&g, r, 3), gs(&g, r, 4),
		    gs(&g, r, 5));
		node(d, 0, key);
	}
	if (g.n == 0)
		doc_add(d, R_DIM, 1, NULL, "none");
	grid_free(&g);
	doc_end(d);
	return 0;
}

static int
on_action(struct view *v, struct tui *t, int act)
{
	struct doc *d = &v->doc;
	const struct dline *l = doc_selected(d);
	const char *tg;
	int i;

	if (l == NULL)
		return 0;
	if (act == ACT_CLOSE) {
		if (l->node == 2) {
			doc_toggle(d, l->key, 0);
			build(v, t);
			return 1;
		}
		for (i = d->sel - 1; i >= 0; i--)
			if (d->lines[i].depth < l->depth) {
				d->sel = i;
				return 1;
			}
		return 0;       /* at the top: back */
	}
	if (act != ACT_OPEN)
		return 0;
	if (l->node != 0 && l->key != NULL) {
		doc_toggle(d, l->key, l->node == 1);
		build(v, t);
		return 1;
	}
	tg = l->target;
	if (tg == NULL) {
		tui_message(t, R_DIM, "nothing to open on this line");
		return 1;
	}
	if (strncmp(tg, "view:", 5) == 0) {
		for (i = 0; view_table[i] != NULL; i++)
			if (strcmp(tg + 5, view_table[i]->name) == 0)
				tui_push(t, view_table[i], v->arg);
	} else if (strncmp(tg, "L:", 2) == 0) {
		view_detail_open(t, DETAIL_LEDGER, tg + 2);
	} else if (strncmp(tg, "D:", 2) == 0) {
		view_detail_open(t, DETAIL_DELIVERY, tg + 2);
	} else if (strncmp(tg, "A:", 2) == 0) {
		view_detail_open(t, DETAIL_ALERT, tg + 2);
	} else if (strncmp(tg, "U:", 2) == 0) {
		view_detail_open(t, DETAIL_AUDIT, tg + 2);
	}
	return 1;
}

static void
close_view(struct view *v)
{
	free(v->priv);
	v->priv = NULL;
}

const struct view_ops view_customer_ops = {
	.name = "customer",
	.aliases = "",
	.bit = V_CUSTOMER,
	.rows = build,
	.on_action = on_action,
	.close = close_view,
};
