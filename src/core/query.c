/*
 * query: the table of named reads.  See query.h.
 */
#include <string.h>

#include "query.h"
#include "util.h"

struct query {
	const char *name;
	int nparams;
	const char *sql;
};

static const struct query queries[] = {
	{ "customers", 2,
	  "SELECT c.id, c.name, c.email, COALESCE(b.balance, 0) AS balance, "
	  "(SELECT group_concat(status, ',') FROM subscriptions AS s WHERE s.customer = c.id "
	  " AND s.placeholder = 0) AS subscriptions, c.placeholder, c.deleted "
	  "FROM customers AS c LEFT JOIN balances AS b ON b.customer = c.id "
	  "WHERE c.id > COALESCE(?1, '') ORDER BY c.id LIMIT ?2" },
	{ "customer", 1,
	  "SELECT c.id, c.name, c.email, c.currency, c.created, c.deleted, c.placeholder, "
	  "c.refetch, c.ver, COALESCE(b.balance, 0) AS balance, "
	  "(SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE customer = c.id) AS ledger_sum "
	  "FROM customers AS c LEFT JOIN balances AS b ON b.customer = c.id WHERE c.id = ?1" },
	{ "customer-subscriptions", 1,
	  "SELECT s.id, s.status, i.price, i.quantity, "
	  "COALESCE(i.current_period_start, s.current_period_start) AS current_period_start, "
	  "COALESCE(i.current_period_end, s.current_period_end) AS current_period_end, "
	  "s.cancel_at, s.canceled_at, s.ended_at, s.placeholder, s.refetch, s.ver "
	  "FROM subscriptions AS s LEFT JOIN subscription_items AS i ON i.subscription = s.id "
	  "WHERE s.customer = ?1 ORDER BY s.id, i.id" },
	{ "customer-invoices", 1,
	  "SELECT id, status, subscription, amount_paid, currency, billing_reason, paid_at, "
	  "period_start, period_end, created, "
	  "(SELECT group_concat(key, ' ') FROM ledger WHERE source_id = invoices.id "
	  " AND kind IN ('grant', 'topup')) AS credits "
	  "FROM invoices WHERE customer = ?1 ORDER BY created DESC, id LIMIT 100" },
	{ "ledger", 3,
	  "SELECT seq, effective_at, kind, amount, key, expires_at, actor, reason, ref, recorded_at "
	  "FROM ledger WHERE customer = ?1 AND seq > COALESCE(?2, 0) "
	  "ORDER BY seq LIMIT ?3" },
	/* After ?3, an event id: the events after it in (created, id) order. */
	{ "events", 4,
	  "SELECT id, type, created, state, delivery_count, object_id, customer, note "
	  "FROM events WHERE (?1 IS NULL OR customer = ?1) AND (?2 IS NULL OR created < ?2) "
	  "AND (?3 IS NULL OR (created, id) < (SELECT created, id FROM events WHERE id = ?3)) "
	  "ORDER BY created DESC, id DESC LIMIT ?4" },
	{ "event-exists", 1,
	  "SELECT 1 FROM events WHERE id = ?1" },
	{ "deliveries", 4,
	  "SELECT d.id, d.event_id, e.type, d.received_at, d.status, d.http_status, d.sig_state, "
	  "d.sig_error, d.error, d.endpoint, d.attempt, d.source, d.source_offset "
	  "FROM deliveries AS d LEFT JOIN events AS e ON e.id = d.event_id "
	  "WHERE (?1 = 0 OR d.status = 'failed' OR d.sig_state = 'invalid') "
	  "AND (?2 IS NULL OR e.customer = ?2) AND (?3 IS NULL OR d.id < ?3) "
	  "ORDER BY d.id DESC LIMIT ?4" },
	{ "quarantine", 2,
	  "SELECT id, kind, source, source_offset, size, reason, quarantined_at, "
	  "CAST(excerpt AS TEXT) AS excerpt FROM quarantine WHERE id > COALESCE(?1, 0) "
	  "ORDER BY id LIMIT ?2" },
	{ "customer-exists", 1,
	  "SELECT 1 FROM customers WHERE id = ?1 "
	  "UNION ALL SELECT 1 FROM ledger WHERE customer = ?1 LIMIT 1" },
	/* The audit log (doc/actions.md), newest first: action, target,
	 * result, --pending (adjustments whose push Stripe has not confirmed:
	 * the key's last push row is pending or failed, and no event in the
	 * mirror carries the key), then the cursor (an audit id). */
	{ "audit", 6,
	  "SELECT a.id, a.at AS done_at, a.operator, a.action, a.target, a.result, a.reason, "
	  "a.idem_key, a.request_id, a.detail, a.before, a.after FROM audit AS a "
	  "WHERE (?1 IS NULL OR a.action = ?1) AND (?2 IS NULL OR a.target = ?2) "
	  "AND (?3 IS NULL OR a.result = ?3) "
	  "AND (?4 = 0 OR (a.action = 'adjust' AND a.result IN ('pending', 'failed') "
	  " AND a.id = (SELECT max(b.id) FROM audit AS b WHERE b.idem_key = a.idem_key "
	  "  AND b.action = 'adjust' AND b.result IN ('ok', 'pending', 'failed')) "
	  " AND NOT EXISTS (SELECT 1 FROM events AS ev WHERE ev.created >= a.at - 86400 "
	  "  AND ev.type IN ('customer.updated', 'customer.balance_transaction.created', "
	  "  'billing.credit_grant.created') AND CASE WHEN json_valid(ev.body) THEN "
	  "  json_extract(ev.body, '$.request.idempotency_key') END = a.idem_key))) "
	  "AND (?5 IS NULL OR a.id < ?5) ORDER BY a.id DESC LIMIT ?6" },
	{ "audit-exists", 1,
	  "SELECT 1 FROM audit WHERE id = ?1" },
	/* Drift alerts (doc/drift.md), newest first: rule, state (NULL: open
	 * and acknowledged; 'all'), customer, then the cursor (an alert id). */
	{ "alerts", 5,
	  "SELECT id, severity, state, rule, subject, customer, summary, first_seen_at, "
	  "last_seen_at, acked_by, acked_at, ack_note, resolved_at, repair, evidence "
	  "FROM alerts WHERE (?1 IS NULL OR rule = ?1) "
	  "AND CASE WHEN ?2 IS NULL THEN state IN ('open', 'acknowledged') "
	  " WHEN ?2 = 'all' THEN 1 ELSE state = ?2 END "
	  "AND (?3 IS NULL OR customer = ?3) AND (?4 IS NULL OR id < ?4) "
	  "ORDER BY id DESC LIMIT ?5" },
	{ "customer-alerts", 1,
	  "SELECT id, severity, state, rule, subject, summary, first_seen_at, acked_by, "
	  "repair, evidence FROM alerts WHERE customer = ?1 "
	  "AND state IN ('open', 'acknowledged') ORDER BY id" },
};

/* Step a bound statement, handing each row to fn; resets it. */
static int
run_rows(struct store *s, sqlite3_stmt *st, const char *name, query_row_fn fn, void *arg,
         struct err *e)
{
	struct qval cols[32];
	size_t i;
	int rc, n, rows = 0;

	n = sqlite3_column_count(st);
	if (n > (int)(sizeof cols / sizeof cols[0]))
		n = (int)(sizeof cols / sizeof cols[0]);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; i < (size_t)n; i++) {
			cols[i].name = sqlite3_column_name(st, (int)i);
			switch (sqlite3_column_type(st, (int)i)) {
			case SQLITE_NULL:
				cols[i].type = QV_NULL;
				break;
			case SQLITE_INTEGER:
				cols[i].type = QV_INT;
				cols[i].i = sqlite3_column_int64(st, (int)i);
				break;
			default:
				cols[i].type = QV_TEXT;
				cols[i].s = col_text(st, (int)i);
				break;
			}
		}
		rows++;
		if (fn != NULL && fn(cols, n, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_err(s, e, name);
	return rows;
}

int
query_run_sql(struct store *s, const char *sql, const struct qval *params, int nparams,
              query_row_fn fn, void *arg, struct err *e)
{
	sqlite3_stmt *st;
	int i;

	if ((st = store_stmt(s, sql, e)) == NULL)
		return -1;
	if (!sqlite3_stmt_readonly(st))
		return err_set(e, "internal error: a front end's read would write: %.80s", sql);
	for (i = 0; i < nparams; i++) {
		if (params[i].type == QV_INT)
			bind_int(st, i + 1, params[i].i);
		else
			bind_text(st, i + 1, params[i].type == QV_TEXT ? params[i].s : NULL);
	}
	return run_rows(s, st, "query", fn, arg, e);
}

int
query_run(struct store *s, const char *name, const char *const *params, int nparams,
          query_row_fn fn, void *arg, struct err *e)
{
	const struct query *q = NULL;
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < sizeof queries / sizeof queries[0]; i++)
		if (strcmp(queries[i].name, name) == 0)
			q = &queries[i];
	if (q == NULL)
		return err_set(e, "internal error: no query named '%s'", name);
	if (nparams != q->nparams)
		return err_set(e, "internal error: query '%s' takes %d parameters, not %d", name,
		    q->nparams, nparams);
	if ((st = store_stmt(s, q->sql, e)) == NULL)
		return -1;
	for (i = 0; i < (size_t)nparams; i++) {
		int64_t v;

		/* Numbers (limits, cursors, flags) bind as integers. */
		if (params[i] != NULL && parse_int64(params[i], &v) == 0)
			bind_int(st, (int)i + 1, v);
		else
			bind_text(st, (int)i + 1, params[i]);
	}
	return run_rows(s, st, name, fn, arg, e);
}
