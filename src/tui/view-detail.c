/*
 * view-detail: one record in full: a ledger entry, an event and its
 * deliveries, a delivery and the body it carried, an alert with its
 * evidence and history, an audit entry with its before and after, a
 * quarantined value.  JSON is pretty-printed; every value is cleaned.
 * The arg is "KIND:ID".  Enter on a line that names another record opens
 * it (an event's delivery, a delivery's event).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui-int.h"
#include "util.h"

struct rec {
	struct doc *d;
	const char *const *bodies;      /* columns shown as bodies, after the fields */
	char *body[4];
	int nbody;
	int rows;
};

static int
is_time_col(const char *name)
{
	size_t n = strlen(name);

	return (n > 3 && strcmp(name + n - 3, "_at") == 0) || strcmp(name, "created") == 0 ||
	    strcmp(name, "at") == 0 || strcmp(name, "period_start") == 0 ||
	    strcmp(name, "period_end") == 0;
}

/* One row as "name  value" lines; the body columns are kept for later. */
static int
add_record(const struct qval *cols, int ncols, void *arg)
{
	struct rec *r = arg;
	char t[32];
	int i, j, body;

	r->rows++;
	for (i = 0; i < ncols; i++) {
		body = 0;
		for (j = 0; r->bodies != NULL && r->bodies[j] != NULL; j++)
			if (strcmp(r->bodies[j], cols[i].name) == 0 && r->nbody < 4) {
				r->body[r->nbody++] = cols[i].type == QV_TEXT ? xstrdup(cols[i].s) : NULL;
				body = 1;
			}
		if (body)
			continue;
		if (cols[i].type == QV_NULL)
			doc_add(r->d, R_DIM, 0, NULL, "%-16s -", cols[i].name);
		else if (cols[i].type == QV_INT && is_time_col(cols[i].name)) {
			fmt_time(cols[i].i, t, sizeof t);
			doc_add(r->d, R_NORMAL, 0, NULL, "%-16s %s  (%lld)", cols[i].name, t,
			    (long long)cols[i].i);
		} else if (cols[i].type == QV_INT)
			doc_add(r->d, R_NORMAL, 0, NULL, "%-16s %lld", cols[i].name, (long long)cols[i].i);
		else
			doc_add(r->d, R_NORMAL, 0, NULL, "%-16s %s", cols[i].name, cols[i].s);
	}
	return 0;
}

static void
add_bodies(struct rec *r, const char *const *titles)
{
	int i;

	for (i = 0; i < r->nbody; i++) {
		doc_add(r->d, R_NORMAL, 0, NULL, "%s", "");
		doc_add(r->d, R_HEADER, 0, NULL, "%s", titles[i]);
		if (r->body[i] == NULL)
			doc_add(r->d, R_DIM, 1, NULL, "(none)");
		else
			doc_add_body(r->d, r->body[i], 1);
		free(r->body[i]);
		r->body[i] = NULL;
	}
	r->nbody = 0;
}

struct sub {
	struct doc *d;
	const char *prefix;     /* target prefix for Enter */
	int n;
};

/* A list line: the first column is the id Enter opens, the rest joined. */
static int
add_line(const struct qval *cols, int ncols, void *arg)
{
	struct sub *s = arg;
	char line[1024], key[300], t[32];
	size_t o = 0;
	int i;
	struct dline *l;

	line[0] = '\0';
	for (i = 0; i < ncols && o < sizeof line; i++) {
		const char *v = "-";
		char num[32];

		if (cols[i].type == QV_INT && is_time_col(cols[i].name)) {
			fmt_time(cols[i].i, t, sizeof t);
			v = t;
		} else if (cols[i].type == QV_INT) {
			snprintf(num, sizeof num, "%lld", (long long)cols[i].i);
			v = num;
		} else if (cols[i].type == QV_TEXT) {
			v = cols[i].s;
		}
		o += (size_t)snprintf(line + o, sizeof line - o, "%s%s", i ? "  " : "", v);
	}
	if (cols[0].type == QV_INT)
		snprintf(key, sizeof key, "%s%lld", s->prefix, (long long)cols[0].i);
	else
		snprintf(key, sizeof key, "%s%s", s->prefix, cols[0].type == QV_TEXT ? cols[0].s : "");
	l = doc_add(s->d, R_NORMAL, 1, key, "%s", line);
	l->target = xstrdup(key);
	s->n++;
	return 0;
}

static int
build(struct view *v, struct tui *t)
{
	struct doc *d = &v->doc;
	const char *colon = strchr(v->arg, ':');
	int kind = atoi(v->arg);
	const char *id = colon != NULL ? colon + 1 : "";
	struct qval p[1] = { qv_text(id) };
	struct rec r = { d, NULL, { NULL }, 0, 0 };
	struct sub s = { d, "", 0 };
	int rc = 0;

	doc_begin(d);
	switch (kind) {
	case DETAIL_LEDGER:
		view_set_title(v, "ledger entry %s", id);
		rc = tui_query(t, "SELECT * FROM ledger WHERE seq = ?1", p, 1, add_record, &r);
		if (rc > 0) {
			doc_add(d, R_NORMAL, 0, NULL, "%s", "");
			doc_add(d, R_HEADER, 0, NULL, "entries that refer to it");
			s.prefix = "L:";
			rc = tui_query(t, "SELECT seq, kind, amount, key, effective_at FROM ledger "
			    "WHERE ref = (SELECT key FROM ledger WHERE seq = ?1) ORDER BY seq LIMIT 50",
			    p, 1, add_line, &s);
			if (s.n == 0)
				doc_add(d, R_DIM, 1, NULL, "(none)");
		}
		break;
	case DETAIL_EVENT: {
		static const char *const bodies[] = { "body", NULL };
		static const char *const titles[] = { "body" };

		view_set_title(v, "event %s", id);
		r.bodies = bodies;
		rc = tui_query(t, "SELECT * FROM events WHERE id = ?1", p, 1, add_record, &r);
		if (rc > 0) {
			doc_add(d, R_NORMAL, 0, NULL, "%s", "");
			doc_add(d, R_HEADER, 0, NULL, "deliveries (Enter opens one)");
			s.prefix = "D:";
			tui_query(t, "SELECT id, received_at, status, http_status, sig_state, "
			    "COALESCE(error, '') FROM deliveries WHERE event_id = ?1 ORDER BY id LIMIT 100",
			    p, 1, add_line, &s);
			if (s.n == 0)
				doc_add(d, R_DIM, 1, NULL, "(none)");
		}
		add_bodies(&r, titles);
		break;
	}
	case DETAIL_DELIVERY: {
		static const char *const bodies[] = { "body", "event_body", NULL };
		static const char *const titles[] = { "body as received (not stored as an event)",
			"the event's body" };
		static const char *const titles2[] = { "the event's body" };

		view_set_title(v, "delivery %s", id);
		r.bodies = bodies;
		rc = tui_query(t, "SELECT d.*, e.body AS event_body FROM deliveries AS d "
		    "LEFT JOIN events AS e ON e.id = d.event_id WHERE d.id = ?1", p, 1, add_record, &r);
		if (rc > 0) {
			s.prefix = "E:";
			doc_add(d, R_HEADER, 0, NULL, "its event (Enter opens it)");
			tui_query(t, "SELECT e.id, e.type, e.created, e.state FROM deliveries AS d "
			    "JOIN events AS e ON e.id = d.event_id WHERE d.id = ?1", p, 1, add_line, &s);
			if (s.n == 0)
				doc_add(d, R_DIM, 1, NULL, "(not stored)");
		}
		if (r.nbody == 2 && r.body[0] == NULL) {
			/* The usual case: the body lives once, in events. */
			free(r.body[0]);
			r.body[0] = r.body[1];
			r.nbody = 1;
			add_bodies(&r, titles2);
		} else {
			add_bodies(&r, titles);
		}
		break;
	}
	case DETAIL_ALERT: {
		static const char *const bodies[] = { "evidence", NULL };
		static const char *const titles[] = { "evidence" };

		view_set_title(v, "alert %s", id);
		r.bodies = bodies;
		rc = tui_query(t, "SELECT * FROM alerts WHERE id = ?1", p, 1, add_record, &r);
		add_bodies(&r, titles);
		if (rc > 0) {
			doc_add(d, R_NORMAL, 0, NULL, "%s", "");
			doc_add(d, R_HEADER, 0, NULL, "history");
			s.prefix = "H:";
			tui_query(t, "SELECT id, at, state, COALESCE(operator, 'scanner'), "
			    "COALESCE(note, '') FROM alert_history WHERE alert = ?1 ORDER BY id LIMIT 200",
			    p, 1, add_line, &s);
		}
		break;
	}
	case DETAIL_AUDIT: {
		static const char *const bodies[] = { "before", "after", NULL };
		static const char *const titles[] = { "before", "after" };

		view_set_title(v, "audit entry %s", id);
		r.bodies = bodies;
		rc = tui_query(t, "SELECT * FROM audit WHERE id = ?1", p, 1, add_record, &r);
		add_bodies(&r, titles);
		break;
	}
	case DETAIL_QUARANTINE: {
		static const char *const bodies[] = { "excerpt", NULL };
		static const char *const titles[] = { "excerpt" };

		view_set_title(v, "quarantined %s", id);
		r.bodies = bodies;
		rc = tui_query(t, "SELECT id, kind, source, source_offset, size, reason, hash, "
		    "quarantined_at, CAST(excerpt AS TEXT) AS excerpt FROM quarantine WHERE id = ?1",
		    p, 1, add_record, &r);
		add_bodies(&r, titles);
		break;
	}
	}
	if (rc >= 0 && r.rows == 0)
		doc_add(d, R_WARN, 0, NULL, "not in the mirror (any more)");
	doc_end(d);
	return rc < 0 ? -1 : 0;
}

static int
on_action(struct view *v, struct tui *t, int act)
{
	const struct dline *l = doc_selected(&v->doc);

	if (act != ACT_OPEN)
		return 0;
	if (l == NULL || l->target == NULL) {
		tui_message(t, R_DIM, "nothing to open on this line");
		return 1;
	}
	if (strncmp(l->target, "D:", 2) == 0)
		view_detail_open(t, DETAIL_DELIVERY, l->target + 2);
	else if (strncmp(l->target, "L:", 2) == 0)
		view_detail_open(t, DETAIL_LEDGER, l->target + 2);
	else if (strncmp(l->target, "E:", 2) == 0)
		view_detail_open(t, DETAIL_EVENT, l->target + 2);
	else
		tui_message(t, R_DIM, "nothing to open on this line");
	return 1;
}

int
view_detail_open(struct tui *t, enum detail_kind kind, const char *id)
{
	char arg[256];

	snprintf(arg, sizeof arg, "%d:%s", (int)kind, id);
	return tui_push(t, &view_detail_ops, arg);
}

const struct view_ops view_detail_ops = {
	.name = "detail",
	.aliases = "",
	.bit = V_DETAIL,
	.rows = build,
	.on_action = on_action,
};
