/*
 * drift: the rule table, the evaluation that turns what the rules find into
 * alerts, and the operator's acknowledgements and repairs.  See drift.h for
 * the model and doc/drift.md for every rule.
 *
 * A rule's SQL is written once, as a macro over four helpers: W(col), the
 * customer filter; E(col), an event id narrowed to the customer's events;
 * J, a join whose order is written; M, how a common table expression is
 * evaluated.  RULE_SQL expands it twice, at compile time, into two string
 * literals (store_stmt caches statements by the text's address): the
 * whole-mirror form, where W and E are "1", J is CROSS JOIN (SQLite keeps
 * the order written: from the few rows a rule looks for to their
 * neighbours) and M is MATERIALIZED (computed once), and the one-customer
 * form, where W is "col = :cust", E "col IN (the customer's events)", J a
 * plain JOIN and M NOT MATERIALIZED (so the planner starts from the
 * customer's rows).  Every form returns the same four columns: subject,
 * customer, summary and evidence (a JSON object the SQL builds).  Every
 * scan is set-based and goes through an index (most of them the covering
 * partial indexes of data/schema/005-drift-indexes.sql):
 * tests/unit/test-drift.c checks the plans, doc/drift.md says why each rule
 * is written as it is.  Nothing loops over the mirror's rows in C: C sees
 * only the instances found and the alerts that exist.
 *
 * The catalog lives in memory, not in the mirror; drift_open copies what
 * the rules need of it (each plan and top-up price with its credits, each
 * plan price's features) into two temp tables of the connection.
 *
 * Named parameters a rule's SQL may use: :cust, :now, :grace (seconds after
 * a period end, from the catalog), :past_due (past_due grace, seconds),
 * :floor (overage floor), :failed_after, :sub_stale, :ooo_window,
 * :stale_after (the configuration's thresholds), :vcred, :vminor, :vcur
 * (the catalog's credit_value).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apply.h"
#include "audit.h"
#include "drift.h"
#include "ledger.h"
#include "util.h"

struct drift {
	struct store *s;
	const struct catalog *cat;
	int64_t grace, past_due, floor;
	int64_t failed_after, sub_stale, ooo_window, stale_after;
	/* credit_value: vcred credits are worth vminor minor units of vcur
	 * (borrowed from the catalog); vcred 0 when the catalog has none. */
	int64_t vcred, vminor;
	const char *vcur;
};

/* --- the rules ------------------------------------------------------------ */

#define W_ALL(col) "1"
#define W_ONE(col) col " = :cust"
#define E_ALL(col) "1"
#define E_ONE(col) col " IN (SELECT e2.id FROM events AS e2 WHERE e2.customer = :cust)"
#define J_ALL "CROSS JOIN"
#define J_ONE "JOIN"
#define M_ALL "MATERIALIZED"
#define M_ONE "NOT MATERIALIZED"
#define RULE_SQL(m) m(W_ALL, E_ALL, J_ALL, M_ALL), m(W_ONE, E_ONE, J_ONE, M_ONE)
#define GLOBAL_SQL(m) m(W_ALL, E_ALL, J_ALL, M_ALL), NULL
#define T(x) "strftime('%Y-%m-%dT%H:%M:%SZ', " x ", 'unixepoch')"

/* A credit entry of source src whose key satisfies K: the canonical keys
 * are only ever written for their source (apply.c), so this is the lookup
 * by key, through the small covering partial index ledger_credits instead
 * of the ledger's unique key. */
#define HAS_CREDIT(src, K) \
	"EXISTS (SELECT 1 FROM ledger AS g INDEXED BY ledger_credits WHERE g.source_id = " src \
	" AND g.kind IN ('grant', 'topup') AND " K ")"

/* A paid invoice whose prices imply credits (or that the catalog cannot
 * price at all) with no credit entry; a paid top-up checkout session without
 * its top-up.  The paid invoices come from the covering partial index
 * invoices_paid, and only those without credits read their row. */
#define SQL_GRANT_MISSING(W, E, J, M) \
	"SELECT id, customer, printf('invoice %s was paid%s but granted no credits: %s', id, " \
	"  CASE WHEN paid_at IS NOT NULL THEN ' ' || " T("paid_at") " ELSE '' END, cause), " \
	" json_object('invoice', id, 'amount_paid', amount_paid, 'currency', currency, " \
	"  'paid_at', paid_at, 'prices', prices, 'plan_credits', plan, 'topup_credits', topup, " \
	"  'keys', json_array(CASE WHEN plan > 0 THEN 'grant:invoice:' || id END, " \
	"   CASE WHEN topup > 0 THEN 'topup:invoice:' || id END), 'cause', cause, " \
	"  'refetch', refetch) " \
	"FROM (SELECT *, CASE WHEN refetch = 1 THEN 'its line items are incomplete; it waits " \
	"for the API sync' " \
	"  WHEN plan > 0 OR topup > 0 THEN 'its prices are in the catalog but the credits were " \
	"never applied' " \
	"  WHEN prices IS NULL THEN 'no line items are mirrored' " \
	"  ELSE 'no price of it is in the catalog (' || prices || ')' END AS cause " \
	" FROM (SELECT i.id, i.customer, i.amount_paid, i.currency, i.paid_at, i.refetch, " \
	"  (SELECT SUM(p.credits * MAX(l.quantity, 1)) FROM invoice_lines AS l " \
	"   JOIN temp.drift_prices AS p ON p.price = l.price AND p.kind = 'plan' " \
	"   WHERE l.invoice = i.id) AS plan, " \
	"  (SELECT SUM(p.credits * MAX(l.quantity, 1)) FROM invoice_lines AS l " \
	"   JOIN temp.drift_prices AS p ON p.price = l.price AND p.kind = 'topup' " \
	"   WHERE l.invoice = i.id) AS topup, " \
	"  (SELECT group_concat(DISTINCT l.price) FROM invoice_lines AS l WHERE l.invoice = i.id) " \
	"   AS prices " \
	"  FROM invoices AS i INDEXED BY invoices_paid " \
	"  WHERE " W("i.customer") " AND i.status = 'paid' AND i.placeholder = 0 " \
	"  AND i.customer <> '' AND NOT " \
	HAS_CREDIT("i.id", "g.key IN ('grant:invoice:' || i.id, 'topup:invoice:' || i.id)") ")) " \
	"WHERE plan > 0 OR topup > 0 OR refetch = 1 " \
	" OR (plan IS NULL AND topup IS NULL AND amount_paid > 0) " \
	"UNION ALL " \
	"SELECT cs.id, cs.customer, printf('checkout session %s bought top-up %s but granted no " \
	"credits', cs.id, cs.price), " \
	" json_object('checkout_session', cs.id, 'price', cs.price, 'quantity', cs.quantity, " \
	"  'amount_total', cs.amount_total, 'currency', cs.currency, 'created', cs.created, " \
	"  'topup_credits', p.credits * MAX(cs.quantity, 1), " \
	"  'keys', json_array('topup:checkout:' || cs.id), " \
	"  'cause', 'its price is in the catalog but the credits were never applied') " \
	"FROM checkout_sessions AS cs JOIN temp.drift_prices AS p ON p.price = cs.price " \
	" AND p.kind = 'topup' " \
	"WHERE " W("cs.customer") " AND cs.mode = 'payment' AND cs.status = 'complete' " \
	" AND cs.payment_status IN ('paid', 'no_payment_required') AND cs.invoice IS NULL " \
	" AND NOT " HAS_CREDIT("cs.id", "g.key = 'topup:checkout:' || cs.id")

/* One payment credited twice: a checkout session's own top-up and the
 * credits of the invoice the same payment made (named by the session, or
 * sharing its payment intent), the session's entry not reversed.  The OR
 * join is two index lookups (the invoice's key, invoices_payment_intent);
 * the credits are read from ledger_credits, probed once per session. */
#define INVOICE_CREDITS(what) \
	"(SELECT " what " FROM ledger AS g INDEXED BY ledger_credits WHERE g.source_id = i.id " \
	" AND g.kind IN ('grant', 'topup'))"
#define SQL_GRANT_DUPLICATE(W, E, J, M) \
	"SELECT cs.id, cs.customer, printf('checkout session %s and invoice %s both credited " \
	"one payment (%s and %s)', cs.id, i.id, t.key, " INVOICE_CREDITS("group_concat(g.key, ', ')") \
	"), json_object('checkout_session', cs.id, 'invoice', i.id, " \
	"  'payment_intent', cs.payment_intent, " \
	"  'session_entry', json_object('seq', t.seq, 'key', t.key, 'amount', t.amount), " \
	"  'invoice_entries', " INVOICE_CREDITS("json_group_array(json_object('seq', g.seq, " \
	"   'key', g.key, 'amount', g.amount))") ", " \
	"  'reverse', t.key) " \
	"FROM checkout_sessions AS cs " \
	J " ledger AS t INDEXED BY ledger_credits ON t.source_id = cs.id " \
	" AND t.kind IN ('grant', 'topup') AND t.key = 'topup:checkout:' || cs.id " \
	"JOIN invoices AS i ON i.id = cs.invoice " \
	" OR (cs.invoice IS NULL AND i.payment_intent = cs.payment_intent) " \
	"WHERE " W("cs.customer") " AND " HAS_CREDIT("i.id", "1") \
	" AND NOT EXISTS (SELECT 1 FROM ledger AS r WHERE r.key = 'reverse:' || t.key)"

/* A usage identifier repeated with another payload (quarantined, never
 * applied): from the quarantine's usage-conflict rows to the usage applied
 * under that identifier. */
#define SQL_USAGE_CONFLICT(W, E, J, M) \
	"SELECT u.identifier, u.customer, printf('usage %s was repeated with a different payload " \
	"(%d time(s)); the repeat was not applied', u.identifier, COUNT(*)), " \
	" json_object('identifier', u.identifier, 'applied', json_object('event_name', " \
	"  u.event_name, 'customer', u.customer, 'value', u.value, 'timestamp', u.timestamp, " \
	"  'source', u.source, 'offset', u.source_offset), 'conflicts', COUNT(*), " \
	"  'quarantine', json_group_array(q.id)) " \
	"FROM quarantine AS q JOIN usage AS u ON u.identifier = CAST(q.excerpt AS TEXT) " \
	"WHERE q.kind = 'usage-conflict' AND " W("u.customer") " " \
	"GROUP BY u.identifier"

/* A subscription known only by reference, or waiting for the API to settle
 * a conflict, for longer than the threshold; or, once the API sync has
 * completed a pass (so it refreshes every live subscription), a live one it
 * has not refreshed within the threshold. */
#define SQL_SUBSCRIPTION_STALE(W, E, J, M) \
	"SELECT s.id, s.customer, printf('subscription %s %s since %s', s.id, " \
	"  CASE WHEN s.placeholder = 1 THEN 'is known only as a reference (never fetched)' " \
	"  WHEN s.refetch = 1 THEN 'waits for the API to settle a conflict' " \
	"  ELSE 'has not been refreshed from the API' END, " T("s.updated_at") "), " \
	" json_object('subscription', s.id, 'status', s.status, 'placeholder', s.placeholder, " \
	"  'refetch', s.refetch, 'updated_at', s.updated_at, 'threshold_seconds', :sub_stale) " \
	"FROM subscriptions AS s " \
	"WHERE " W("s.customer") " AND s.customer <> '' AND s.updated_at <= :now - :sub_stale " \
	" AND (s.placeholder = 1 OR s.refetch = 1 " \
	"  OR (s.status IN ('active', 'trialing', 'past_due') " \
	"   AND EXISTS (SELECT 1 FROM meta WHERE key = 'sync.pass_done')))"

/* active or trialing, whose items' periods (put_subscription copies the
 * subscription's period onto its items; access.c reads only items) all
 * ended more than the grace ago, and no paid invoice of the subscription
 * for a later period.  Driven from the items, so only expired ones reach
 * the subscription. */
#define SQL_ACCESS_AFTER_EXPIRY(W, E, J, M) \
	"SELECT s.id, s.customer, printf('subscription %s is %s but its period ended %s and no " \
	"renewal was seen', s.id, s.status, " T("MAX(it.current_period_end)") "), " \
	" json_object('subscription', s.id, 'status', s.status, " \
	"  'period_end', MAX(it.current_period_end), 'grace_seconds', :grace) " \
	"FROM subscription_items AS it JOIN subscriptions AS s ON s.id = it.subscription " \
	"WHERE " W("s.customer") " AND it.current_period_end + :grace < :now " \
	" AND NOT EXISTS (SELECT 1 FROM subscription_items AS i2 " \
	"  WHERE i2.subscription = it.subscription " \
	"  AND (i2.current_period_end IS NULL OR i2.current_period_end + :grace >= :now)) " \
	" AND s.placeholder = 0 AND s.status IN ('active', 'trialing') " \
	" AND NOT EXISTS (SELECT 1 FROM invoices AS i JOIN invoice_lines AS l ON l.invoice = i.id " \
	"  WHERE i.customer = s.customer AND i.subscription = s.id AND +i.status = 'paid' " \
	"  AND l.period_end > it.current_period_end) " \
	"GROUP BY s.id"

/* Consumption effective after the customer's last subscription ended (plus
 * the grace), with no live subscription left, not reversed.  The first and
 * the latest such entry are found by walking ledger_customer_time from each
 * end, so the cost does not grow with the consumption. */
#define AFTER_END(dir) \
	"(SELECT l.seq FROM ledger AS l WHERE l.customer = e.customer " \
	" AND l.effective_at > e.end_at + :grace AND l.kind = 'consume' " \
	" AND NOT EXISTS (SELECT 1 FROM ledger AS r WHERE r.key = 'reverse:' || l.key) " \
	" ORDER BY l.effective_at " dir ", l.seq " dir " LIMIT 1)"
#define SQL_USAGE_AFTER_CANCEL(W, E, J, M) \
	"SELECT e.sub, e.customer, printf('%s consumed credits after subscription %s ended %s: " \
	"%s at %s%s', e.customer, e.sub, " T("e.end_at") ", f.key, " T("f.effective_at") ", " \
	" CASE WHEN z.seq <> f.seq THEN ', ..., latest ' || z.key || ' at ' || " \
	T("z.effective_at") " ELSE '' END), " \
	" json_object('subscription', e.sub, 'status', e.status, 'ended_at', e.end_at, " \
	"  'grace_seconds', :grace, 'first', f.key, 'first_at', f.effective_at, " \
	"  'latest', z.key, 'latest_at', z.effective_at) " \
	"FROM (SELECT s.customer, s.id AS sub, s.status, MAX(COALESCE(s.ended_at, " \
	"   s.current_period_end, (SELECT MAX(it.current_period_end) FROM subscription_items AS it " \
	"   WHERE it.subscription = s.id), s.canceled_at)) AS end_at " \
	"  FROM subscriptions AS s WHERE " W("s.customer") " AND s.placeholder = 0 " \
	"  AND s.status IN ('canceled', 'incomplete_expired') GROUP BY s.customer) AS e " \
	"JOIN ledger AS f ON f.seq = " AFTER_END("ASC") " " \
	"JOIN ledger AS z ON z.seq = " AFTER_END("DESC") " " \
	"WHERE e.end_at IS NOT NULL " \
	" AND NOT EXISTS (SELECT 1 FROM subscriptions AS a WHERE a.customer = e.customer " \
	"  AND a.placeholder = 0 AND a.status IN ('active', 'trialing', 'past_due', 'unpaid'))"

/* unpaid, or past_due for longer than the grace from its period start,
 * while the customer's Stripe Entitlements still list a feature of its plan
 * that no subscription in good standing grants. */
#define SQL_PAYMENT_FAILED_ACCESS(W, E, J, M) \
	"SELECT s.id, s.customer, printf('subscription %s is %s beyond its grace but Stripe " \
	"Entitlements still grant %s', s.id, s.status, group_concat(DISTINCT en.lookup_key)), " \
	" json_object('subscription', s.id, 'status', s.status, " \
	"  'period_start', MIN(COALESCE(it.current_period_start, s.current_period_start)), " \
	"  'past_due_grace_seconds', :past_due, " \
	"  'features', json_group_array(DISTINCT en.lookup_key)) " \
	"FROM subscriptions AS s JOIN subscription_items AS it ON it.subscription = s.id " \
	"JOIN temp.drift_plan_features AS pf ON pf.price = it.price " \
	"JOIN entitlements AS en ON en.customer = s.customer AND en.lookup_key = pf.feature " \
	"WHERE " W("s.customer") " AND s.placeholder = 0 AND (s.status = 'unpaid' " \
	" OR (s.status = 'past_due' AND COALESCE(it.current_period_start, " \
	"  s.current_period_start, 0) + :past_due < :now)) " \
	" AND NOT EXISTS (SELECT 1 FROM subscriptions AS s2 " \
	"  JOIN subscription_items AS i2 ON i2.subscription = s2.id " \
	"  JOIN temp.drift_plan_features AS f2 ON f2.price = i2.price AND f2.feature = en.lookup_key " \
	"  WHERE s2.customer = s.customer AND s2.id <> s.id AND s2.placeholder = 0 " \
	"  AND s2.status IN ('active', 'trialing') " \
	"  AND (COALESCE(i2.current_period_end, s2.current_period_end) IS NULL " \
	"   OR COALESCE(i2.current_period_end, s2.current_period_end) + :grace >= :now)) " \
	"GROUP BY s.id"

/* The payment something taken back (the rows of X that F keeps, with charge
 * r.CH and payment intent r.PI) belongs to, found as apply.c's payment_find
 * finds it (an invoice by charge or payment intent, the invoice of its
 * charge, a checkout session by payment intent), the first match winning:
 * one row (rid, src, customer, paid) per row kept.  The whole-mirror form
 * evaluates F once per row of X (M: MATERIALIZED), a few rows left, and
 * starts each part from them (J: CROSS JOIN); the one-customer form starts
 * from the customer's payments. */
#define PAY_OF(W, J, M, X, F, CH, PI) \
	"(WITH tb AS " M " (SELECT * FROM " X " WHERE " F ") " \
	"SELECT rid, src, customer, paid, MIN(prio) FROM (" \
	"SELECT r.id AS rid, i.id AS src, i.customer AS customer, i.amount_paid AS paid, " \
	" 1 AS prio FROM tb AS r " J " invoices AS i " \
	" ON i.charge = r." CH " OR i.payment_intent = r." PI " WHERE " W("i.customer") " " \
	"UNION ALL SELECT r.id, i.id, i.customer, i.amount_paid, 2 " \
	" FROM tb AS r " J " charges AS ch ON ch.id = r." CH " " \
	" " J " invoices AS i ON i.id = ch.invoice WHERE " W("i.customer") " " \
	"UNION ALL SELECT r.id, COALESCE(cs.invoice, cs.id), cs.customer, cs.amount_total, 3 " \
	" FROM tb AS r " J " checkout_sessions AS cs ON cs.payment_intent = r." PI " " \
	" WHERE " W("cs.customer") " " \
	"UNION ALL SELECT r.id, COALESCE(cs.invoice, cs.id), cs.customer, cs.amount_total, 3 " \
	" FROM tb AS r " J " charges AS ch ON ch.id = r." CH " " \
	" " J " checkout_sessions AS cs ON cs.payment_intent = ch.payment_intent " \
	" WHERE " W("cs.customer") \
	") GROUP BY rid)"
/* The credits a payment granted (partial index ledger_credits); the part of
 * them `amount` of `paid` takes. */
#define CREDITED(src) \
	"(SELECT SUM(g.amount) FROM ledger AS g INDEXED BY ledger_credits WHERE g.source_id = " src \
	" AND g.kind IN ('grant', 'topup'))"
#define TAKE "CASE WHEN paid <= 0 OR amount >= paid THEN credited ELSE credited * amount / paid END"
#define REFUND_ACTIVE(r) "COALESCE(" r ".status, '') NOT IN ('failed', 'canceled')"
#define REVERSAL_ACTIVE(r) \
	"CASE " r ".kind WHEN 'refund' THEN " REFUND_ACTIVE(r) \
	" ELSE COALESCE(" r ".status, '') NOT IN ('won', 'warning_closed') END"
/* What a reversal's clawbacks took, net of what was given back (partial
 * index ledger_clawbacks). */
#define TAKEN(r) \
	"(SELECT COALESCE(SUM(c.amount), 0) + COALESCE((SELECT SUM(x.amount) " \
	" FROM ledger AS c2 INDEXED BY ledger_clawbacks " \
	" JOIN ledger AS x ON x.ref = c2.key AND x.kind = 'reverse' " \
	" WHERE c2.source_id = " r ".id AND c2.kind = 'clawback'), 0) " \
	" FROM ledger AS c INDEXED BY ledger_clawbacks " \
	" WHERE c.source_id = " r ".id AND c.kind = 'clawback')"
/* The part of a charge's refunded amount no active refund in the mirror
 * accounts for. */
#define UNSEEN_REFUND(ch) \
	"(" ch ".amount_refunded - (SELECT COALESCE(SUM(x.amount), 0) FROM reversals AS x " \
	" WHERE x.kind = 'refund' AND " REFUND_ACTIVE("x") " AND (x.charge = " ch ".id " \
	" OR (x.charge IS NULL AND x.payment_intent = " ch ".payment_intent))))"

/* An active refund or dispute of a credited payment that has taken nothing
 * back (no clawback, or one given back); and a charge refunded by more than
 * the refunds the mirror holds (a charge.refunded seen without its refund
 * objects, which the API's rendering of a charge leaves out): the part no
 * refund accounts for was never clawed back.  Partial index
 * charges_refunded holds the refunded charges. */
#define SQL_REFUND_WITHOUT_CLAWBACK(W, E, J, M) \
	"SELECT id, customer, printf('%s %s of %d on %s took back none of its %d credits " \
	"(%s)', kind, id, amount, src, credited, CASE WHEN has_key THEN 'the clawback was " \
	"given back' ELSE 'no clawback' END), " \
	" json_object('reversal', id, 'kind', kind, 'status', status, 'amount', amount, " \
	"  'payment', src, 'paid', paid, 'credited', credited, 'take', take, " \
	"  'key', 'clawback:' || kind || ':' || id, 'given_back', has_key) " \
	"FROM (SELECT *, " TAKE " AS take " \
	" FROM (SELECT r.id, r.kind, r.status, r.amount, p.src, p.customer, p.paid, " \
	CREDITED("p.src") " AS credited, " \
	"  EXISTS (SELECT 1 FROM ledger AS k WHERE k.key = 'clawback:' || r.kind || ':' || r.id) " \
	"   AS has_key " \
	"  FROM " PAY_OF(W, J, M, "reversals AS r", REVERSAL_ACTIVE("r") " AND " TAKEN("r") " = 0", \
	    "charge", "payment_intent") " AS p " \
	"  JOIN reversals AS r ON r.id = p.rid)) " \
	"WHERE credited > 0 AND take > 0 " \
	"UNION ALL " \
	"SELECT id, customer, printf('charge %s was refunded %d on %s, %d of it by no refund the " \
	"mirror holds, and took back none of its %d credits', id, refunded, src, amount, " \
	"credited), " \
	" json_object('charge', id, 'kind', 'refund', 'amount_refunded', refunded, " \
	"  'refunds_seen', refunded - amount, 'amount', amount, 'payment', src, 'paid', paid, " \
	"  'credited', credited, 'take', take) " \
	"FROM (SELECT *, " TAKE " AS take " \
	" FROM (SELECT ch.id, p.src, p.customer, p.paid, ch.amount_refunded AS refunded, " \
	UNSEEN_REFUND("ch") " AS amount, " CREDITED("p.src") " AS credited " \
	"  FROM " PAY_OF(W, J, M, "charges AS r", "r.amount_refunded > 0 AND " UNSEEN_REFUND("r") " > 0", \
	    "id", "payment_intent") " AS p " \
	"  JOIN charges AS ch ON ch.id = p.rid)) " \
	"WHERE credited > 0 AND take > 0"

/* The cached balance against the sum of the ledger (covering index
 * ledger_customer_amount); and Stripe's credit balance summary, money in
 * the minor units of its currency, against the ledger's credits converted
 * by the catalog's credit_value (:vcred credits are worth :vminor minor
 * units), when no entry is effective after the summary was taken.  Both
 * sides are whole numbers of their own unit, so they differ only by at
 * least one of the coarser unit: compared cross-multiplied, exactly. */
#define SQL_BALANCE_MISMATCH(W, E, J, M) \
	"SELECT 'cache:' || customer, customer, printf('cached balance %d of %s differs from " \
	"its ledger sum %d', balance, customer, total), " \
	" json_object('customer', customer, 'cached_balance', balance, 'ledger_sum', total, " \
	"  'difference', balance - total) " \
	"FROM (SELECT b.customer, b.balance, (SELECT COALESCE(SUM(l.amount), 0) FROM ledger AS l " \
	"  WHERE l.customer = b.customer) AS total FROM balances AS b WHERE " W("b.customer") ") " \
	"WHERE total <> balance " \
	"UNION ALL " \
	"SELECT 'stripe:' || customer, customer, printf('Stripe credit balance %d %s of %s " \
	"(%d credits) differs from its ledger sum %d', available, :vcur, customer, " \
	"  stripe_credits, total), " \
	" json_object('customer', customer, 'stripe_available', available, 'currency', :vcur, " \
	"  'credit_value', json_object('credits', :vcred, 'minor_units', :vminor), " \
	"  'stripe_credits', stripe_credits, 'as_of', ver, 'ledger_sum', total, " \
	"  'difference', stripe_credits - total) " \
	"FROM (SELECT *, (2 * available * :vcred + :vminor) / (2 * :vminor) AS stripe_credits " \
	" FROM (SELECT cb.customer, cb.available, cb.ver, " \
	"  (SELECT COALESCE(SUM(l.amount), 0) FROM ledger AS l WHERE l.customer = cb.customer) " \
	"  AS total FROM credit_balances AS cb WHERE " W("cb.customer") \
	"  AND :vcred > 0 AND COALESCE(cb.currency, :vcur) = :vcur " \
	"  AND NOT EXISTS (SELECT 1 FROM ledger AS l2 WHERE l2.customer = cb.customer " \
	"   AND l2.effective_at > cb.ver))) " \
	"WHERE abs(total * :vminor - available * :vcred) >= max(:vcred, :vminor)"

#define SQL_NEGATIVE_BALANCE(W, E, J, M) \
	"SELECT b.customer, b.customer, printf('balance of %s is %d, below the overage floor %d', " \
	"  b.customer, b.balance, :floor), " \
	" json_object('customer', b.customer, 'balance', b.balance, 'floor', :floor) " \
	"FROM balances AS b WHERE " W("b.customer") " AND b.balance < :floor"

/* The customer of a refund or dispute, which names none: its charge's, else
 * its payment's (one of those drift_mark_dirty_payment marks). */
#define REVERSAL_CUSTOMER(id) \
	"(SELECT COALESCE((SELECT ch.customer FROM charges AS ch WHERE ch.id = rv.charge), " \
	"  (SELECT i.customer FROM invoices AS i WHERE i.charge = rv.charge), " \
	"  (SELECT i.customer FROM invoices AS i WHERE i.payment_intent = rv.payment_intent), " \
	"  (SELECT cs.customer FROM checkout_sessions AS cs " \
	"   WHERE cs.payment_intent = rv.payment_intent)) " \
	" FROM reversals AS rv WHERE rv.id = " id ")"

/* Objects that received an event older than their mirrored state (recorded
 * as superseded) within the window; partial index events_superseded.  An
 * event of a refund or dispute is the customer's of its payment, so the
 * customer's own re-check finds it as a full scan does. */
#define SQL_EVENT_OUT_OF_ORDER(W, E, J, M) \
	"SELECT ev.object_id, ev.cust, printf('%s %s received %d event(s) older than its " \
	"mirrored state, last at %s', COALESCE(ev.object_type, 'object'), ev.object_id, " \
	"  COUNT(*), " T("MAX(ev.first_seen_at)") "), " \
	" json_object('object', ev.object_id, 'type', ev.object_type, " \
	"  'superseded', (SELECT json_group_array(x.id) FROM (SELECT e2.id FROM events AS e2 " \
	"   WHERE e2.object_id = ev.object_id AND e2.state = 'superseded' " \
	"   AND e2.first_seen_at > :now - :ooo_window ORDER BY e2.created, e2.id) AS x), " \
	"  'last_seen_at', MAX(ev.first_seen_at), " \
	"  'window_seconds', :ooo_window) " \
	"FROM (SELECT e.object_id, e.object_type, e.first_seen_at, e.customer AS cust " \
	"  FROM events AS e INDEXED BY events_superseded " \
	"  WHERE e.customer IS NOT NULL AND " W("e.customer") \
	"  AND e.state = 'superseded' AND e.first_seen_at > :now - :ooo_window " \
	" UNION ALL " \
	" SELECT object_id, object_type, first_seen_at, cust FROM (SELECT e.object_id, " \
	"  e.object_type, e.first_seen_at, CASE WHEN e.object_type IN ('refund', 'dispute') " \
	"  THEN " REVERSAL_CUSTOMER("e.object_id") " END AS cust " \
	"  FROM events AS e WHERE e.customer IS NULL AND e.state = 'superseded' " \
	"  AND e.first_seen_at > :now - :ooo_window) WHERE " W("cust") ") AS ev " \
	"GROUP BY +ev.object_id"

/* Events whose failed deliveries (partial index deliveries_failed) are
 * not followed by a good one, the first failure after the last good
 * delivery older than the threshold.  One pass over the failures, each
 * probing its event's last good delivery in the covering partial index
 * deliveries_good: an event whose failures all precede a success has no
 * failure left after it and drops out without reading a row. */
#define LAST_OK(ev) \
	"(SELECT MAX(COALESCE(ok.received_at, 9223372036854775807)) " \
	" FROM deliveries AS ok INDEXED BY deliveries_good " \
	" WHERE ok.event_id = " ev " AND ok.status = 'ok' AND ok.sig_state <> 'invalid')"
#define SQL_WEBHOOK_FAILED(W, E, J, M) \
	"SELECT x.event_id, ev.customer, printf('event %s (%s) failed delivery %d time(s) since " \
	"%s with no later success', x.event_id, ev.type, x.failures, " T("x.first_failed") "), " \
	" json_object('event', x.event_id, 'type', ev.type, 'failures', x.failures, " \
	"  'first_failed_at', x.first_failed, 'last_failed_at', x.last_failed, " \
	"  'http_status', d.http_status, 'error', d.error, 'endpoint', d.endpoint, " \
	"  'threshold_seconds', :failed_after) " \
	"FROM (SELECT f.event_id, COUNT(*) AS failures, MIN(COALESCE(f.received_at, 0)) " \
	"   AS first_failed, MAX(COALESCE(f.received_at, 0)) AS last_failed " \
	"  FROM deliveries AS f INDEXED BY deliveries_failed " \
	"  WHERE f.status = 'failed' AND " E("f.event_id") \
	"  AND COALESCE(f.received_at, 0) > COALESCE(" LAST_OK("f.event_id") ", -1) " \
	"  GROUP BY f.event_id HAVING MIN(COALESCE(f.received_at, 0)) <= :now - :failed_after) AS x " \
	"JOIN events AS ev ON ev.id = x.event_id " \
	"JOIN deliveries AS d ON d.id = (SELECT l.id FROM deliveries AS l " \
	" WHERE l.event_id = x.event_id AND l.status = 'failed' " \
	" ORDER BY COALESCE(l.received_at, 0) DESC, l.id DESC LIMIT 1) " \
	"WHERE " W("ev.customer")

/* Global: every delivery whose signature did not verify (partial index
 * deliveries_invalid); the customer is read from the kept body. */
#define SQL_SIGNATURE_INVALID(W, E, J, M) \
	"SELECT 'delivery:' || d.id, CASE WHEN json_valid(d.body) THEN CASE " \
	"  WHEN json_type(d.body, '$.data.object.customer') = 'text' " \
	"  THEN json_extract(d.body, '$.data.object.customer') " \
	"  WHEN json_extract(d.body, '$.data.object.object') = 'customer' " \
	"  THEN json_extract(d.body, '$.data.object.id') END END, " \
	" printf('delivery %d of event %s failed signature verification (%s), from %s', d.id, " \
	"  COALESCE(d.event_id, '?'), COALESCE(d.sig_error, 'invalid'), " \
	"  COALESCE(d.endpoint, d.source, '?')), " \
	" json_object('delivery', d.id, 'event', d.event_id, 'received_at', d.received_at, " \
	"  'endpoint', d.endpoint, 'sig_error', d.sig_error, 'status', d.status, " \
	"  'source', d.source, 'offset', d.source_offset) " \
	"FROM deliveries AS d WHERE d.sig_state = 'invalid'"

/* Global: the last successful API sync (once the mirror has used the API)
 * or ingest, against stale_after. */
#define SQL_SYNC_STALE(W, E, J, M) \
	"SELECT 'mirror', NULL, CASE WHEN last IS NULL THEN printf('the mirror has never had " \
	"a successful %s', what) ELSE printf('the last successful %s was at %s, more than " \
	"%d s ago', what, " T("last") ", :stale_after) END, " \
	" json_object('source', what, 'last_success_at', last, 'last_sync_at', syn, " \
	"  'last_ingest_at', ing, 'last_error', err, 'last_error_at', err_at, " \
	"  'threshold_seconds', :stale_after) " \
	"FROM (SELECT *, CASE WHEN api THEN 'API sync' ELSE 'sync or ingest' END AS what, " \
	"  CASE WHEN api THEN ok WHEN ing IS NULL THEN syn WHEN syn IS NULL THEN ing " \
	"  ELSE MAX(ing, syn) END AS last " \
	" FROM (SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'sync.pass') AS api, " \
	"  (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sync.last_success_at') AS ok, " \
	"  (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_sync_at') AS syn, " \
	"  (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_ingest_at') AS ing, " \
	"  (SELECT value FROM meta WHERE key = 'sync.last_error') AS err, " \
	"  (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sync.last_error_at') AS err_at)) " \
	"WHERE last IS NULL OR last < :now - :stale_after"

/* A rule's repair, on an alert just re-checked and still open (see
 * drift_repair_run): it fills r (what it does, its key, or why it is
 * refused) and writes in the caller's transaction. */
typedef int repair_fn(struct drift *d, const struct drift_alert *a, const char *op,
                      const char *reason, int64_t now, struct drift_repair *r, struct err *e);
static repair_fn repair_grant, repair_duplicate, repair_resync, repair_after_cancel,
    repair_clawback, repair_balance, repair_negative;

struct rule {
	struct drift_rule_info info;
	const char *sql_all;            /* instances in the whole mirror */
	const char *sql_one;            /* instances of one customer (:cust); NULL: global */
	repair_fn *repair;              /* NULL: no automatic repair */
};

static const struct rule rules[] = {
	{ { "grant-missing", "critical", 0,
	    "an invoice paid per Stripe (or a paid top-up checkout session) with no credit "
	    "entry: unknown price, failed apply, lines still incomplete",
	    "invoice or checkout_session, amount and currency, paid_at, prices, the credits the "
	    "catalog implies, the missing keys, the cause",
	    "apply the grant under its canonical key (grant:invoice:<in>, topup:...)" },
	  RULE_SQL(SQL_GRANT_MISSING), repair_grant },
	{ { "grant-duplicate", "critical", 0,
	    "one payment credited twice: a checkout session's top-up and the credits of the "
	    "invoice of the same payment",
	    "checkout_session, invoice, payment_intent, both entries, the key to reverse",
	    "reverse the session's entry (reverse:topup:checkout:<cs>)" },
	  RULE_SQL(SQL_GRANT_DUPLICATE), repair_duplicate },
	{ { "usage-conflict", "warning", 0,
	    "a usage identifier repeated with a different payload (quarantined, never applied)",
	    "identifier, the payload applied, the number of conflicting lines, quarantine ids",
	    NULL },
	  RULE_SQL(SQL_USAGE_CONFLICT), NULL },
	{ { "subscription-stale", "warning", 0,
	    "a subscription known only by reference or waiting for a refetch longer than "
	    "subscription_stale_after, or (once the API sync has completed a pass) a live one "
	    "not refreshed within it",
	    "subscription, status, placeholder, refetch, updated_at, threshold",
	    "resync the customer from the API" },
	  RULE_SQL(SQL_SUBSCRIPTION_STALE), repair_resync },
	{ { "access-after-expiry", "warning", 0,
	    "a subscription still active or trialing past its period end plus the grace, with "
	    "no renewal invoice seen",
	    "subscription, status, period_end, grace",
	    "resync the customer from the API (access is already denied)" },
	  RULE_SQL(SQL_ACCESS_AFTER_EXPIRY), repair_resync },
	{ { "usage-after-cancel", "warning", 0,
	    "consumption effective after the customer's last subscription ended (plus the "
	    "grace), with no live subscription",
	    "subscription, status, ended_at, grace, the first and the latest such consumption",
	    "reverse that consumption (or acknowledge to accept it), with a reason" },
	  RULE_SQL(SQL_USAGE_AFTER_CANCEL), repair_after_cancel },
	{ { "payment-failed-access", "critical", 0,
	    "a subscription unpaid, or past_due beyond the grace, while Stripe Entitlements "
	    "still grant a feature of its plan that no subscription in good standing grants",
	    "subscription, status, period_start, grace, the features still granted",
	    "resync the customer from the API (then revoke in Stripe if it holds)" },
	  RULE_SQL(SQL_PAYMENT_FAILED_ACCESS), repair_resync },
	{ { "refund-without-clawback", "critical", 0,
	    "an active refund or dispute of a credited payment that took no credits back; a "
	    "charge refunded by more than the refunds the mirror holds (charge.refunded seen "
	    "without its refund objects)",
	    "reversal (or charge), kind, status, amount, payment, paid, credited, the take, the "
	    "key, whether a clawback was given back (for a charge: amount_refunded, refunds_seen)",
	    "claw back under its key (clawback:<refund|dispute>:<id>); for a charge, resync the "
	    "customer, which fetches its refunds and claws back under their keys" },
	  RULE_SQL(SQL_REFUND_WITHOUT_CLAWBACK), repair_clawback },
	{ { "balance-mismatch", "critical", 0,
	    "a cached balance that differs from the ledger sum (cache:<customer>), or Stripe's "
	    "credit balance summary, money converted to credits by the catalog's credit_value, "
	    "that differs from it by a unit or more (stripe:<customer>)",
	    "customer, the two amounts, the difference (for Stripe: its amount and currency, "
	    "the credit_value, the credits that is worth, the summary's time)",
	    "recompute the cache; adjust the ledger to the credits Stripe's balance is worth" },
	  RULE_SQL(SQL_BALANCE_MISMATCH), repair_balance },
	{ { "negative-balance", "warning", 0,
	    "a balance below the catalog's overage floor",
	    "customer, balance, floor",
	    "adjust the balance up to the floor" },
	  RULE_SQL(SQL_NEGATIVE_BALANCE), repair_negative },
	{ { "event-out-of-order", "info", 0,
	    "an object that received an event older than its mirrored state within "
	    "out_of_order_window (recorded as superseded, not applied)",
	    "object, type, the superseded events, when the last arrived, the window",
	    NULL },
	  RULE_SQL(SQL_EVENT_OUT_OF_ORDER), NULL },
	{ { "webhook-failed", "warning", 0,
	    "an event whose delivery failed with no later success for longer than "
	    "webhook_failed_after",
	    "event, type, failures, first and last failure, http status, error, endpoint",
	    "replay the event (tally replay); fix the product's endpoint" },
	  RULE_SQL(SQL_WEBHOOK_FAILED), NULL },
	{ { "signature-invalid", "critical", 1,
	    "a delivery whose signature does not verify (security: its event was not applied)",
	    "delivery, event, received_at, endpoint, the verification error, status, log and "
	    "offset",
	    NULL },
	  GLOBAL_SQL(SQL_SIGNATURE_INVALID), NULL },
	{ { "sync-stale", "warning", 1,
	    "the last successful API sync (or, without one, sync or ingest) older than "
	    "stale_after",
	    "what was checked, last success, last sync, last ingest, last error, threshold",
	    NULL },
	  GLOBAL_SQL(SQL_SYNC_STALE), NULL },
};
#define NRULES (sizeof rules / sizeof rules[0])

size_t
drift_rule_count(void)
{
	return NRULES;
}

const struct drift_rule_info *
drift_rule_at(size_t i)
{
	return i < NRULES ? &rules[i].info : NULL;
}

const char *
drift_rule_sql(size_t i, int one_customer)
{
	if (i >= NRULES)
		return NULL;
	return one_customer ? rules[i].sql_one : rules[i].sql_all;
}

static const struct rule *
rule_find(const char *id)
{
	size_t i;

	for (i = 0; i < NRULES; i++)
		if (strcmp(rules[i].info.id, id) == 0)
			return &rules[i];
	return NULL;
}

const struct drift_rule_info *
drift_rule(const char *id)
{
	const struct rule *r = rule_find(id);

	return r != NULL ? &r->info : NULL;
}

/* --- dirty marks ------------------------------------------------------------ */

int
drift_mark_dirty(struct store *s, const char *customer, struct err *e)
{
	sqlite3_stmt *st;

	if (customer == NULL || *customer == '\0')
		return 0;
	if ((st = store_stmt(s, "INSERT OR IGNORE INTO drift_dirty(customer) VALUES (?)", e)) == NULL)
		return -1;
	bind_text(st, 1, customer);
	return store_step_done(s, st, e);
}

int
drift_mark_dirty_event(struct store *s, const char *event_id, struct err *e)
{
	sqlite3_stmt *st;

	if (event_id == NULL)
		return 0;
	st = store_stmt(s,
	    "INSERT OR IGNORE INTO drift_dirty(customer) SELECT customer FROM events "
	    "WHERE id = ? AND customer IS NOT NULL AND customer <> ''", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, event_id);
	return store_step_done(s, st, e);
}

int
drift_mark_dirty_payment(struct store *s, const char *charge, const char *payment_intent,
                         struct err *e)
{
	sqlite3_stmt *st;

	if (charge == NULL && payment_intent == NULL)
		return 0;
	st = store_stmt(s,
	    "INSERT OR IGNORE INTO drift_dirty(customer) SELECT customer FROM ("
	    "SELECT customer FROM charges WHERE id = ?1 "
	    "UNION SELECT customer FROM invoices WHERE charge = ?1 "
	    "UNION SELECT customer FROM invoices WHERE payment_intent = ?2 "
	    "UNION SELECT i.customer FROM charges AS ch JOIN invoices AS i ON i.id = ch.invoice "
	    " WHERE ch.id = ?1 "
	    "UNION SELECT customer FROM checkout_sessions WHERE payment_intent = ?2 "
	    "UNION SELECT cs.customer FROM charges AS ch JOIN checkout_sessions AS cs "
	    " ON cs.payment_intent = ch.payment_intent WHERE ch.id = ?1) "
	    "WHERE customer IS NOT NULL AND customer <> ''", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, charge);
	bind_text(st, 2, payment_intent);
	return store_step_done(s, st, e);
}

/* --- the checker -------------------------------------------------------------- */

/* The catalog, as the rules' SQL reads it. */
static int
catalog_load_temp(struct store *s, const struct catalog *cat, struct err *e)
{
	sqlite3_stmt *st;
	size_t i, j;

	if (store_exec(s,
	    "CREATE TEMP TABLE IF NOT EXISTS drift_prices(price TEXT PRIMARY KEY, "
	    "kind TEXT NOT NULL, credits INTEGER NOT NULL) WITHOUT ROWID", e) != 0 ||
	    store_exec(s,
	    "CREATE TEMP TABLE IF NOT EXISTS drift_plan_features(price TEXT NOT NULL, "
	    "feature TEXT NOT NULL, PRIMARY KEY (price, feature)) WITHOUT ROWID", e) != 0 ||
	    store_exec(s, "DELETE FROM temp.drift_prices", e) != 0 ||
	    store_exec(s, "DELETE FROM temp.drift_plan_features", e) != 0)
		return -1;
	if (cat == NULL)
		return 0;
	/* A price that is both a plan and a top-up is a plan, as apply.c reads it. */
	for (i = 0; i < cat->nplans + cat->ntopups; i++) {
		int plan = i < cat->nplans;

		st = store_stmt(s, "INSERT OR IGNORE INTO temp.drift_prices(price, kind, credits) "
		    "VALUES (?, ?, ?)", e);
		if (st == NULL)
			return -1;
		bind_text(st, 1, plan ? cat->plans[i].price : cat->topups[i - cat->nplans].price);
		bind_text(st, 2, plan ? "plan" : "topup");
		bind_int(st, 3, plan ? cat->plans[i].credits_per_period
		    : cat->topups[i - cat->nplans].credits);
		if (store_step_done(s, st, e) != 0)
			return -1;
	}
	for (i = 0; i < cat->nplans; i++)
		for (j = 0; j < cat->plans[i].nfeatures; j++) {
			st = store_stmt(s, "INSERT OR IGNORE INTO temp.drift_plan_features(price, feature) "
			    "VALUES (?, ?)", e);
			if (st == NULL)
				return -1;
			bind_text(st, 1, cat->plans[i].price);
			bind_text(st, 2, cat->plans[i].features[j]);
			if (store_step_done(s, st, e) != 0)
				return -1;
		}
	return 0;
}

int
drift_open(struct store *s, const struct catalog *cat, const struct config *cfg,
           struct drift **out, struct err *e)
{
	struct drift *d = xcalloc(1, sizeof *d);

	d->s = s;
	d->cat = cat;
	d->grace = cat != NULL ? cat->grace_after_period_end_minutes * 60 : 3600;
	d->past_due = cat != NULL ? cat->grace_past_due_days * 86400 : 3 * 86400;
	d->floor = cat != NULL ? cat->overage_floor : 0;
	d->failed_after = cfg->webhook_failed_after;
	d->sub_stale = cfg->subscription_stale_after;
	d->ooo_window = cfg->out_of_order_window;
	d->stale_after = cfg->stale_after;
	d->vcred = cat != NULL && cat->value_currency != NULL ? cat->value_credits : 0;
	d->vminor = d->vcred > 0 ? cat->value_minor_units : 1;
	d->vcur = d->vcred > 0 ? cat->value_currency : "";
	if (catalog_load_temp(s, cat, e) != 0) {
		free(d);
		return err_prefix(e, "drift: loading the catalog: ");
	}
	*out = d;
	return 0;
}

void
drift_close(struct drift *d)
{
	free(d);
}

void
drift_report_init(struct drift_report *r)
{
	memset(r, 0, sizeof *r);
}

void
drift_report_done(struct drift_report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].rule);
		free(r->v[i].subject);
		free(r->v[i].customer);
		free(r->v[i].severity);
		free(r->v[i].summary);
	}
	free(r->v);
	memset(r, 0, sizeof *r);
}

/* Room for element n of a growing array v of `alloc` elements of `size`
 * bytes: v, or its larger copy. */
static void *
grow(void *v, size_t n, size_t *alloc, size_t size)
{
	if (n < *alloc)
		return v;
	*alloc = *alloc ? *alloc * 2 : 16;
	return xrealloc(v, *alloc * size);
}

/* Append a change to r (NULL: nothing is reported): the new entry, or NULL. */
static struct drift_change *
report_add(struct drift_report *r, enum drift_change_kind kind, int64_t alert, const char *rule,
           const char *subject, const char *customer, const char *severity, const char *summary)
{
	struct drift_change *c;

	if (r == NULL)
		return NULL;
	r->v = grow(r->v, r->n, &r->alloc, sizeof *r->v);
	c = &r->v[r->n++];
	c->kind = kind;
	c->alert = alert;
	c->rule = xstrdup(rule);
	c->subject = xstrdup(subject);
	c->customer = customer != NULL && *customer != '\0' ? xstrdup(customer) : NULL;
	c->severity = xstrdup(severity);
	c->summary = xstrdup(summary);
	c->acknowledged = 0;
	return c;
}

/* --- evaluation --------------------------------------------------------------- */

/* One instance a rule found. */
struct found {
	const struct rule *rule;
	char *subject, *customer, *summary, *evidence;
};

struct foundset {
	struct found *v;
	size_t n, alloc;
};

static void
bind_named(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i > 0)
		bind_int(st, i, v);
}

static void
bind_named_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i > 0)
		bind_text(st, i, v);
}

static void
bind_params(const struct drift *d, sqlite3_stmt *st, const char *customer, int64_t now)
{
	bind_named_text(st, ":cust", customer);
	bind_named_text(st, ":vcur", d->vcur);
	bind_named(st, ":vcred", d->vcred);
	bind_named(st, ":vminor", d->vminor);
	bind_named(st, ":now", now);
	bind_named(st, ":grace", d->grace);
	bind_named(st, ":past_due", d->past_due);
	bind_named(st, ":floor", d->floor);
	bind_named(st, ":failed_after", d->failed_after);
	bind_named(st, ":sub_stale", d->sub_stale);
	bind_named(st, ":ooo_window", d->ooo_window);
	bind_named(st, ":stale_after", d->stale_after);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : xstrdup(col_text(st, i));
}

/* Run one rule (whole mirror, or one customer) and add what it finds. */
static int
evaluate(struct drift *d, const struct rule *ru, const char *customer, int64_t now,
         struct foundset *f, struct err *e)
{
	sqlite3_stmt *st = store_stmt(d->s, customer != NULL ? ru->sql_one : ru->sql_all, e);
	int rc;

	if (st == NULL)
		return err_prefix(e, "drift rule %s: ", ru->info.id);
	bind_params(d, st, customer, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct found *x;

		if (sqlite3_column_type(st, 0) == SQLITE_NULL || *col_text(st, 0) == '\0')
			continue;
		f->v = grow(f->v, f->n, &f->alloc, sizeof *f->v);
		x = &f->v[f->n++];
		x->rule = ru;
		x->subject = xstrdup(col_text(st, 0));
		x->customer = col_dup(st, 1);
		if (x->customer != NULL && *x->customer == '\0') {
			free(x->customer);
			x->customer = NULL;
		}
		x->summary = xstrdup(col_text(st, 2));
		x->evidence = col_dup(st, 3);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_err(d->s, e, ru->info.id);
	return 0;
}

/* Instances are keyed by rule and subject (an alert's key). */
static int
found_cmp(const void *pa, const void *pb)
{
	const struct found *a = pa, *b = pb;
	int c = strcmp(a->rule->info.id, b->rule->info.id);

	return c != 0 ? c : strcmp(a->subject, b->subject);
}

static int
text_cmp(const char *a, const char *b)
{
	return a == NULL || b == NULL ? (a != NULL) - (b != NULL) : strcmp(a, b);
}

/* The sort order: by key, then by content, so that of two instances with
 * one key (a session whose payment intent two invoices share) the same one
 * is kept every time, and a rescan records the same evidence. */
static int
found_order(const void *pa, const void *pb)
{
	const struct found *a = pa, *b = pb;
	int c = found_cmp(a, b);

	if (c == 0)
		c = text_cmp(a->summary, b->summary);
	return c != 0 ? c : text_cmp(a->evidence, b->evidence);
}

static int
history_add(struct store *s, int64_t alert, int64_t at, const char *state, const char *op,
            const char *note, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "INSERT INTO alert_history(alert, at, state, operator, note) VALUES (?, ?, ?, ?, ?)", e);

	if (st == NULL)
		return -1;
	bind_int(st, 1, alert);
	bind_int(st, 2, at);
	bind_text(st, 3, state);
	bind_text(st, 4, op);
	bind_text(st, 5, note);
	return store_step_done(s, st, e);
}

/* What recording an instance writes, by what its alert was: none yet,
 * resolved, or open with other evidence.  Named parameters: :id, :rule,
 * :subject, :customer, :severity, :summary, :evidence, :repair, :now. */
static const struct alert_write {
	const char *sql;
	const char *history;            /* the history row; NULL: the condition held all along */
	int reported;                   /* a change the report lists, as `kind` */
	enum drift_change_kind kind;
} alert_writes[] = {
	{ "INSERT INTO alerts(rule, subject, customer, severity, state, summary, evidence, repair, "
	  "first_seen_at, last_seen_at) VALUES (:rule, :subject, :customer, :severity, 'open', "
	  ":summary, :evidence, :repair, :now, :now)", "opened", 1, DRIFT_OPENED },
	{ "UPDATE alerts SET state = 'open', customer = :customer, severity = :severity, "
	  "summary = :summary, evidence = :evidence, repair = :repair, last_seen_at = :now, "
	  "resolved_at = NULL, acked_at = NULL, acked_by = NULL, ack_note = NULL WHERE id = :id",
	  "reopened", 1, DRIFT_REOPENED },
	{ "UPDATE alerts SET customer = :customer, severity = :severity, summary = :summary, "
	  "evidence = :evidence, last_seen_at = :now WHERE id = :id", NULL, 0, DRIFT_OPENED },
};

static int
alert_write(struct drift *d, const struct alert_write *w, const struct found *x, int64_t now,
            int64_t *id, struct err *e)
{
	sqlite3_stmt *st = store_stmt(d->s, w->sql, e);

	if (st == NULL)
		return -1;
	bind_named(st, ":id", *id);
	bind_named_text(st, ":rule", x->rule->info.id);
	bind_named_text(st, ":subject", x->subject);
	bind_named_text(st, ":customer", x->customer);
	bind_named_text(st, ":severity", x->rule->info.severity);
	bind_named_text(st, ":summary", x->summary);
	bind_named_text(st, ":evidence", x->evidence);
	bind_named_text(st, ":repair", x->rule->info.repair);
	bind_named(st, ":now", now);
	if (store_step_done(d->s, st, e) != 0)
		return -1;
	if (*id == 0)
		*id = sqlite3_last_insert_rowid(store_db(d->s));
	return w->history != NULL ? history_add(d->s, *id, now, w->history, NULL, NULL, e) : 0;
}

/* Record one instance: open a new alert, reopen a resolved one, or bring an
 * existing one's evidence up to date.  An alert whose evidence and summary
 * are unchanged is not touched. */
static int
record_found(struct drift *d, const struct found *x, int64_t now, int dry,
             struct drift_report *r, struct err *e)
{
	const char *sev = x->rule->info.severity;
	const struct alert_write *w;
	sqlite3_stmt *st;
	int64_t id = 0;
	char state[16] = "";
	int rc, same = 0;

	st = store_stmt(d->s, "SELECT id, state, customer, severity, summary, evidence "
	    "FROM alerts WHERE rule = ? AND subject = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, x->rule->info.id);
	bind_text(st, 2, x->subject);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *cust = sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL : col_text(st, 2);
		const char *ev = sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : col_text(st, 5);

		id = sqlite3_column_int64(st, 0);
		snprintf(state, sizeof state, "%s", col_text(st, 1));
		same = text_cmp(cust, x->customer) == 0 && strcmp(col_text(st, 3), sev) == 0 &&
		    strcmp(col_text(st, 4), x->summary) == 0 && text_cmp(ev, x->evidence) == 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(d->s, e, "reading alerts");

	if (id == 0)
		w = &alert_writes[0];
	else if (strcmp(state, "resolved") == 0)
		w = &alert_writes[1];
	else if (same)
		return 0;
	else
		w = &alert_writes[2];
	if (!dry && alert_write(d, w, x, now, &id, e) != 0)
		return -1;
	if (w->reported)
		report_add(r, w->kind, id, x->rule->info.id, x->subject, x->customer, sev, x->summary);
	return 0;
}

static void
found_free(struct found *x)
{
	free(x->subject);
	free(x->customer);
	free(x->summary);
	free(x->evidence);
}

/* Sort what the rules found, keep one instance per key, record each. */
static int
record_all(struct drift *d, struct foundset *f, int64_t now, int dry, struct drift_report *r,
           struct err *e)
{
	size_t i, k;

	if (f->n > 0)           /* qsort(NULL, 0) is undefined */
		qsort(f->v, f->n, sizeof *f->v, found_order);
	for (i = 0, k = 0; i < f->n; i++) {
		if (k > 0 && found_cmp(&f->v[k - 1], &f->v[i]) == 0)
			found_free(&f->v[i]);
		else
			f->v[k++] = f->v[i];
	}
	f->n = k;
	if (r != NULL)
		r->found += (int64_t)f->n;
	for (i = 0; i < f->n; i++)
		if (record_found(d, &f->v[i], now, dry, r, e) != 0)
			return -1;
	return 0;
}

/* The alerts of a scope (customer NULL: the whole mirror) that are not
 * resolved and whose instance the scope's evaluation did not find, as
 * DRIFT_RESOLVED changes in *gone. */
static int
alerts_gone(struct drift *d, const struct foundset *f, const char *customer,
            struct drift_report *gone, struct err *e)
{
	sqlite3_stmt *st;
	int step;

	st = customer == NULL
	    ? store_stmt(d->s, "SELECT id, rule, subject, customer, severity, summary, state "
	        "FROM alerts WHERE state IN ('open', 'acknowledged')", e)
	    : store_stmt(d->s, "SELECT id, rule, subject, customer, severity, summary, state "
	        "FROM alerts WHERE customer = ? AND state IN ('open', 'acknowledged')", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct found key;
		struct drift_change *c;

		/* A rule this build does not know, or one this scope did not
		 * evaluate, says nothing about its alerts. */
		key.rule = rule_find(col_text(st, 1));
		key.subject = (char *)col_text(st, 2);
		if (key.rule == NULL || (customer != NULL && key.rule->sql_one == NULL) ||
		    (f->n > 0 && bsearch(&key, f->v, f->n, sizeof *f->v, found_cmp) != NULL))
			continue;
		c = report_add(gone, DRIFT_RESOLVED, sqlite3_column_int64(st, 0), col_text(st, 1),
		    col_text(st, 2), col_text(st, 3), col_text(st, 4), col_text(st, 5));
		c->acknowledged = strcmp(col_text(st, 6), "acknowledged") == 0;
	}
	sqlite3_reset(st);
	return step == SQLITE_DONE ? 0 : store_err(d->s, e, "reading alerts");
}

/*
 * Reconcile the alerts with what the rules found in one scope: the whole
 * mirror (customer NULL: every alert that is not resolved), or one customer
 * (its alerts of per-customer rules).  Instances found are recorded; alerts
 * in the scope whose instance was not found resolve.
 */
static int
reconcile(struct drift *d, struct foundset *f, const char *customer, int64_t now, int dry,
          struct drift_report *r, struct err *e)
{
	struct drift_report gone;
	sqlite3_stmt *st;
	size_t i;
	int rc = -1;

	drift_report_init(&gone);
	if (record_all(d, f, now, dry, r, e) != 0 || alerts_gone(d, f, customer, &gone, e) != 0)
		goto out;
	for (i = 0; i < gone.n; i++) {
		const struct drift_change *g = &gone.v[i];
		struct drift_change *c;

		if (!dry) {
			if ((st = store_stmt(d->s, "UPDATE alerts SET state = 'resolved', resolved_at = ? "
			    "WHERE id = ?", e)) == NULL)
				goto out;
			bind_int(st, 1, now);
			bind_int(st, 2, g->alert);
			if (store_step_done(d->s, st, e) != 0 ||
			    history_add(d->s, g->alert, now, "resolved", NULL, NULL, e) != 0)
				goto out;
		}
		c = report_add(r, g->kind, g->alert, g->rule, g->subject, g->customer, g->severity,
		    g->summary);
		if (c != NULL)
			c->acknowledged = g->acknowledged;
	}
	rc = 0;
out:
	drift_report_done(&gone);
	return rc;
}

/* The marks a scope's evaluation clears: all of them after a full scan
 * (which also records its time: a sync round asks how old it is), the
 * customer's after its re-check. */
static int
marks_clear(struct drift *d, const char *customer, int64_t now, struct err *e)
{
	sqlite3_stmt *st;

	if (customer == NULL)
		return store_exec(d->s, "DELETE FROM drift_dirty", e) != 0 ||
		    store_meta_set_int(d->s, "drift.scanned_at", now, e) != 0 ? -1 : 0;
	if ((st = store_stmt(d->s, "DELETE FROM drift_dirty WHERE customer = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, customer);
	return store_step_done(d->s, st, e);
}

/* Evaluate the rules of a scope (customer NULL: every rule over the whole
 * mirror; else the per-customer rules, for that customer) and reconcile. */
static int
check_scope(struct drift *d, const char *customer, int64_t now, int flags,
            struct drift_report *r, struct err *e)
{
	struct foundset f = { NULL, 0, 0 };
	size_t i;
	int rc = -1, dry = flags & DRIFT_DRY;

	for (i = 0; i < NRULES; i++) {
		if (customer != NULL && rules[i].sql_one == NULL)
			continue;
		if (evaluate(d, &rules[i], customer, now, &f, e) != 0)
			goto out;
		if (r != NULL)
			r->rules++;
	}
	if (reconcile(d, &f, customer, now, dry, r, e) != 0 ||
	    (!dry && marks_clear(d, customer, now, e) != 0))
		goto out;
	rc = 0;
out:
	for (i = 0; i < f.n; i++)
		found_free(&f.v[i]);
	free(f.v);
	return rc;
}

int
drift_scan(struct drift *d, int64_t now, int flags, struct drift_report *r, struct err *e)
{
	if (check_scope(d, NULL, now, flags, r, e) != 0)
		return -1;
	if (r != NULL)
		r->full = 1;
	return 0;
}

int
drift_check_customer(struct drift *d, const char *customer, int64_t now, int flags,
                     struct drift_report *r, struct err *e)
{
	if (customer == NULL || *customer == '\0')
		return 0;
	if (check_scope(d, customer, now, flags, r, e) != 0)
		return -1;
	if (r != NULL)
		r->customers++;
	return 0;
}

int
drift_has_dirty(struct store *s, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM drift_dirty LIMIT 1", e);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_err(s, e, "reading drift marks");
}

/* Step st (bound, from store_stmt) to its end: its first column's texts
 * into *v (new; free with strings_free), *n of them. */
static int
strings_of(struct store *s, sqlite3_stmt *st, char ***v, size_t *n, struct err *e)
{
	size_t alloc = 0;
	int step;

	*v = NULL;
	*n = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		*v = grow(*v, *n, &alloc, sizeof **v);
		(*v)[(*n)++] = xstrdup(col_text(st, 0));
	}
	sqlite3_reset(st);
	return step == SQLITE_DONE ? 0 : store_err(s, e, "reading the mirror");
}

static void
strings_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
drift_check_dirty(struct drift *d, int64_t now, struct drift_report *r, struct err *e)
{
	sqlite3_stmt *st;
	char **cs;
	size_t n, i;
	int rc;

	/* Read one more than the limit: past it, a full scan is cheaper. */
	if ((st = store_stmt(d->s, "SELECT customer FROM drift_dirty LIMIT ?", e)) == NULL)
		return -1;
	bind_int(st, 1, DRIFT_FULL_AFTER + 1);
	rc = strings_of(d->s, st, &cs, &n, e);
	if (rc == 0 && n > DRIFT_FULL_AFTER)
		rc = drift_scan(d, now, 0, r, e);
	else
		for (i = 0; i < n && rc == 0; i++)
			rc = drift_check_customer(d, cs[i], now, 0, r, e);
	strings_free(cs, n);
	return rc;
}

/* --- alerts, acknowledgements, the audit ----------------------------------- */

int
drift_alert_load(struct store *s, int64_t id, struct drift_alert *a, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT id, rule, state, severity, subject, customer, summary, repair, evidence, "
	    "first_seen_at, acked_at, resolved_at, acked_by FROM alerts WHERE id = ?", e);
	int rc;

	memset(a, 0, sizeof *a);
	if (st == NULL)
		return -1;
	bind_int(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		a->id = sqlite3_column_int64(st, 0);
		snprintf(a->rule, sizeof a->rule, "%s", col_text(st, 1));
		snprintf(a->state, sizeof a->state, "%s", col_text(st, 2));
		snprintf(a->severity, sizeof a->severity, "%s", col_text(st, 3));
		snprintf(a->subject, sizeof a->subject, "%s", col_text(st, 4));
		snprintf(a->customer, sizeof a->customer, "%s", col_text(st, 5));
		snprintf(a->summary, sizeof a->summary, "%s", col_text(st, 6));
		snprintf(a->repair, sizeof a->repair, "%s", col_text(st, 7));
		a->evidence = col_dup(st, 8);
		a->first_seen_at = sqlite3_column_int64(st, 9);
		a->acked_at = sqlite3_column_int64(st, 10);
		a->resolved_at = sqlite3_column_int64(st, 11);
		snprintf(a->acked_by, sizeof a->acked_by, "%s", col_text(st, 12));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return DRIFT_ENOENT;
	return store_err(s, e, "reading alert");
}

void
drift_alert_done(struct drift_alert *a)
{
	free(a->evidence);
	a->evidence = NULL;
}

/* One row of the audit log (audit.h). */
static int
audit_add(struct store *s, int64_t at, const char *op, const char *action, const char *target,
          const char *reason, const char *idem, const char *before, const char *after,
          const char *result, const char *detail, struct err *e)
{
	struct audit_entry a;

	memset(&a, 0, sizeof a);
	a.operator_name = op;
	a.action = action;
	a.target = target;
	a.reason = reason;
	a.idem_key = idem;
	a.before = before;
	a.after = after;
	a.result = result;
	a.detail = detail;
	a.at = at;
	return audit_append(s, &a, NULL, e);
}

/* A compact JSON text (new, caller frees), from a json_t it steals. */
static char *
json_text(json_t *v)
{
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(v);
	return s != NULL ? s : xstrdup("null");
}

int
drift_ack(struct store *s, int64_t id, const char *op, const char *note, int64_t now,
          struct err *e)
{
	struct drift_alert a;
	sqlite3_stmt *st;
	char target[32], detail[900], when[32];
	char *before = NULL, *after = NULL;
	int rc;

	if (store_begin(s, e) != 0)
		return -1;
	rc = drift_alert_load(s, id, &a, e);
	if (rc != 0) {
		if (rc == DRIFT_ENOENT)
			err_set(e, "no alert %lld (see tally alerts)", (long long)id);
		store_rollback(s);
		return rc;
	}
	if (strcmp(a.state, "open") != 0) {
		if (strcmp(a.state, "resolved") == 0) {
			time_fmt(a.resolved_at, when, sizeof when);
			err_set(e, "alert %lld (%s %s) resolved at %s: nothing to acknowledge",
			    (long long)id, a.rule, a.subject, when);
		} else {
			time_fmt(a.acked_at, when, sizeof when);
			err_set(e, "alert %lld (%s %s) was already acknowledged by %s at %s",
			    (long long)id, a.rule, a.subject, a.acked_by, when);
		}
		drift_alert_done(&a);
		store_rollback(s);
		return DRIFT_ESTATE;
	}
	st = store_stmt(s, "UPDATE alerts SET state = 'acknowledged', acked_at = ?, acked_by = ?, "
	    "ack_note = ? WHERE id = ?", e);
	if (st == NULL)
		goto fail;
	bind_int(st, 1, now);
	bind_text(st, 2, op);
	bind_text(st, 3, note);
	bind_int(st, 4, id);
	if (store_step_done(s, st, e) != 0 || history_add(s, id, now, "acknowledged", op, note, e) != 0)
		goto fail;
	snprintf(target, sizeof target, "alert:%lld", (long long)id);
	snprintf(detail, sizeof detail, "%s %s: %s", a.rule, a.subject, a.summary);
	before = json_text(json_pack("{ss}", "state", "open"));
	after = json_text(json_pack("{ss ss ss}", "state", "acknowledged", "by", op, "note", note));
	if (audit_add(s, now, op, "ack", target, note, NULL, before, after, "ok", detail, e) != 0)
		goto fail;
	free(before);
	free(after);
	drift_alert_done(&a);
	return store_commit(s, e);
fail:
	free(before);
	free(after);
	drift_alert_done(&a);
	store_rollback(s);
	return -1;
}

/* --- repairs -------------------------------------------------------------------- */

void
drift_repair_done(struct drift_repair *r)
{
	free(r->before);
	free(r->after);
	r->before = r->after = NULL;
}

static void
apply_ctx_for(struct drift *d, struct apply_ctx *c, int64_t now)
{
	memset(c, 0, sizeof *c);
	c->s = d->s;
	c->cat = d->cat;
	c->now = now;
}

static int
one_int64(struct store *s, const char *sql, const char *arg, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s, sql, e);
	int rc;

	*out = 0;
	if (st == NULL)
		return -1;
	if (arg != NULL)
		bind_text(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_err(s, e, "reading the mirror");
}

/* grant-missing: the credits the invoice's (or session's) state implies, by
 * the path the webhook takes, so its late arrival finds the keys taken.  An
 * invoice waiting for its line items needs the API first. */
static int
repair_grant(struct drift *d, const struct drift_alert *a, const char *op, const char *reason,
             int64_t now, struct drift_repair *r, struct err *e)
{
	struct apply_ctx c;
	sqlite3_stmt *st;
	int64_t session = 0, waiting = 0;
	int rc;

	(void)op;
	(void)reason;
	if (one_int64(d->s, "SELECT COUNT(*) FROM checkout_sessions WHERE id = ?", a->subject,
	    &session, e) != 0 ||
	    one_int64(d->s, "SELECT refetch FROM invoices WHERE id = ?", a->subject, &waiting, e) != 0)
		return -1;
	if (!session && waiting) {
		r->kind = DRIFT_REPAIR_RESYNC;
		snprintf(r->what, sizeof r->what, "resync %s from the API: invoice %s waits for its "
		    "complete line items before it can grant", a->customer, a->subject);
		return 0;
	}
	snprintf(r->what, sizeof r->what, "apply the credits of %s %s under their canonical keys",
	    session ? "checkout session" : "invoice", a->subject);
	snprintf(r->idem_key, sizeof r->idem_key, "%s:%s",
	    session ? "topup:checkout" : "grant:invoice", a->subject);
	apply_ctx_for(d, &c, now);
	rc = session ? apply_effects_checkout(&c, a->subject, e) : apply_effects_invoice(&c, a->subject, e);
	if (rc == APPLY_EINPUT) {
		snprintf(r->refused, sizeof r->refused, "%s", e->msg);
		return 0;
	}
	if (rc != 0)
		return -1;
	if (c.ledger_entries == 0) {
		char prices[300] = "";

		st = store_stmt(d->s, "SELECT group_concat(DISTINCT price) FROM invoice_lines "
		    "WHERE invoice = ?", e);
		if (st == NULL)
			return -1;
		bind_text(st, 1, a->subject);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(prices, sizeof prices, "%s", col_text(st, 0));
		sqlite3_reset(st);
		snprintf(r->refused, sizeof r->refused, "no credits follow from %s under the current "
		    "catalog%s%s%s: add its price to the catalog (catalog, --catalog) and repair again, "
		    "or adjust the balance by hand", a->subject, prices[0] ? " (its prices: " : "",
		    prices, prices[0] ? ")" : "");
	}
	return 0;
}

/* grant-duplicate: the invoice is the payment's one source (doc/ledger.md),
 * so the session's entry is the one reversed. */
static int
repair_duplicate(struct drift *d, const struct drift_alert *a, const char *op,
                 const char *reason, int64_t now, struct drift_repair *r, struct err *e)
{
	char key[300];
	int rc, n = 0;

	snprintf(key, sizeof key, "topup:checkout:%s", a->subject);
	snprintf(r->what, sizeof r->what, "reverse %s; the invoice's credits stay", key);
	snprintf(r->idem_key, sizeof r->idem_key, "reverse:%s", key);
	rc = ledger_reverse(d->s, key, op, reason, now, &n, e);
	if (rc == LEDGER_EXISTS) {
		snprintf(r->refused, sizeof r->refused, "%s", e->msg);
		return 0;
	}
	return rc < 0 ? -1 : 0;
}

static int
repair_resync(struct drift *d, const struct drift_alert *a, const char *op, const char *reason,
              int64_t now, struct drift_repair *r, struct err *e)
{
	(void)d;
	(void)op;
	(void)reason;
	(void)now;
	(void)e;
	r->kind = DRIFT_REPAIR_RESYNC;
	snprintf(r->what, sizeof r->what, "resync %s from the API and re-check its alerts",
	    a->customer);
	return 0;
}

/* usage-after-cancel: reverse each consumption the (just re-checked)
 * evidence counts: effective after the end plus the grace, not reversed. */
static int
repair_after_cancel(struct drift *d, const struct drift_alert *a, const char *op,
                    const char *reason, int64_t now, struct drift_repair *r, struct err *e)
{
	sqlite3_stmt *st;
	char **keys;
	size_t n, i;
	int rc, appended = 0;

	snprintf(r->what, sizeof r->what, "reverse the consumption recorded after subscription %s "
	    "ended", a->subject);
	st = store_stmt(d->s,
	    "SELECT l.key FROM alerts AS a JOIN ledger AS l ON l.customer = a.customer "
	    "AND l.kind = 'consume' AND l.effective_at > json_extract(a.evidence, '$.ended_at') + "
	    "json_extract(a.evidence, '$.grace_seconds') "
	    "WHERE a.id = ? AND NOT EXISTS (SELECT 1 FROM ledger AS r WHERE r.key = 'reverse:' || l.key) "
	    "ORDER BY l.effective_at, l.seq", e);
	if (st == NULL)
		return -1;
	bind_int(st, 1, a->id);
	rc = strings_of(d->s, st, &keys, &n, e);
	if (rc == 0 && n > 0)
		snprintf(r->idem_key, sizeof r->idem_key, "reverse:%s", keys[0]);
	for (i = 0; i < n && rc == 0; i++)
		if (ledger_reverse(d->s, keys[i], op, reason, now, &appended, e) < 0)
			rc = -1;
	strings_free(keys, n);
	return rc;
}

/* refund-without-clawback: the clawback apply.c would have taken, under its
 * key.  One that was given back (the refund failed, then succeeded again)
 * has its key taken: that needs an adjustment by hand.  A charge refunded
 * without its refund objects has no key to take back under yet: the resync
 * fetches the refunds, and applying them claws back under their keys (so
 * their late webhooks find the keys taken). */
static int
repair_clawback(struct drift *d, const struct drift_alert *a, const char *op,
                const char *reason, int64_t now, struct drift_repair *r, struct err *e)
{
	struct apply_ctx c;
	sqlite3_stmt *st;
	char kind[16] = "";
	int64_t taken = 0;
	int rc;

	(void)op;
	(void)reason;
	if ((st = store_stmt(d->s, "SELECT kind FROM reversals WHERE id = ?", e)) == NULL)
		return -1;
	bind_text(st, 1, a->subject);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(kind, sizeof kind, "%s", col_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(d->s, e, "reading refund");
	if (kind[0] == '\0') {
		r->kind = DRIFT_REPAIR_RESYNC;
		snprintf(r->what, sizeof r->what, "resync %s from the API: it fetches the refunds of "
		    "charge %s and claws back under their keys", a->customer, a->subject);
		return 0;
	}
	if (one_int64(d->s, "SELECT COUNT(*) FROM ledger WHERE source_id = ? AND kind = 'clawback'",
	    a->subject, &taken, e) != 0)
		return -1;
	snprintf(r->what, sizeof r->what, "claw back the credits of %s %s under its key", kind,
	    a->subject);
	snprintf(r->idem_key, sizeof r->idem_key, "clawback:%s:%s", kind, a->subject);
	if (taken > 0) {
		snprintf(r->refused, sizeof r->refused, "%s was already used and given back "
		    "(reverse:%s) when the %s stopped being active; it is active again, and the key "
		    "cannot be used twice: take the credits back with an adjustment", r->idem_key,
		    r->idem_key, kind);
		return 0;
	}
	apply_ctx_for(d, &c, now);
	rc = apply_effects_reversal(&c, a->subject, e);
	if (rc == APPLY_EINPUT) {
		snprintf(r->refused, sizeof r->refused, "%s", e->msg);
		return 0;
	}
	if (rc != 0)
		return -1;
	if (c.ledger_entries == 0)
		snprintf(r->refused, sizeof r->refused, "nothing to take back for %s: its payment or "
		    "the payment's credits are not in the mirror", a->subject);
	return 0;
}

/* One adjustment a repair appends under `key` (the repair's idempotency
 * key), from the alert; a key already in the ledger refuses, saying
 * `again`. */
static int
repair_adjust(struct drift *d, const struct drift_alert *a, const char *key, int64_t amount,
              int64_t effective_at, const char *op, const char *reason, const char *again,
              int64_t now, struct drift_repair *r, struct err *e)
{
	struct ledger_entry en;
	int rc, n = 0;

	snprintf(r->idem_key, sizeof r->idem_key, "%s", key);
	memset(&en, 0, sizeof en);
	en.customer = a->customer;
	en.amount = amount;
	en.kind = "adjust";
	en.key = key;
	en.source_type = "alert";
	en.source_id = a->subject;
	en.effective_at = effective_at;
	en.actor = op;
	en.reason = reason;
	rc = ledger_append(d->s, &en, now, &n, e);
	if (rc == LEDGER_EXISTS)
		snprintf(r->refused, sizeof r->refused, "%s is already in the ledger%s", key, again);
	return rc < 0 ? -1 : 0;
}

/* balance-mismatch: the cache is recomputed from the ledger; a difference
 * with Stripe's summary is adjusted to the credits the summary is worth
 * (its evidence, as the re-check just computed it), once per summary (the
 * key names its time), effective when the summary was taken. */
static int
repair_balance(struct drift *d, const struct drift_alert *a, const char *op, const char *reason,
               int64_t now, struct drift_repair *r, struct err *e)
{
	const char *cust = a->customer;
	sqlite3_stmt *st;
	char key[400];
	int64_t credits = 0, ver = 0, sum = 0;
	int rc;

	if (strncmp(a->subject, "cache:", 6) == 0) {
		snprintf(r->what, sizeof r->what, "recompute the cached balance of %s from its ledger",
		    cust);
		snprintf(r->idem_key, sizeof r->idem_key, "recompute:%s", cust);
		st = store_stmt(d->s, "UPDATE balances SET balance = (SELECT COALESCE(SUM(amount), 0) "
		    "FROM ledger WHERE customer = ?1), updated_at = ?2 WHERE customer = ?1", e);
		if (st == NULL)
			return -1;
		bind_text(st, 1, cust);
		bind_int(st, 2, now);
		if (store_step_done(d->s, st, e) != 0)
			return -1;
		r->cache_fixed = 1;
		return 0;
	}
	st = store_stmt(d->s, "SELECT json_extract(evidence, '$.stripe_credits'), "
	    "json_extract(evidence, '$.as_of') FROM alerts WHERE id = ?", e);
	if (st == NULL)
		return -1;
	bind_int(st, 1, a->id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		credits = sqlite3_column_int64(st, 0);
		ver = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : store_err(d->s, e, "reading the alert");
	if (ledger_sum(d->s, cust, &sum, e) != 0)
		return -1;
	snprintf(key, sizeof key, "adjust:drift:stripe-balance:%s:%lld", cust, (long long)ver);
	snprintf(r->what, sizeof r->what, "adjust the ledger of %s by %+lld to Stripe's credit "
	    "balance, worth %lld credits", cust, (long long)(credits - sum), (long long)credits);
	return repair_adjust(d, a, key, credits - sum, ver, op, reason,
	    ": this summary was adjusted to once; resync to refresh it", now, r, e);
}

/* negative-balance: one adjustment up to the floor, keyed by the entry
 * that left the balance there. */
static int
repair_negative(struct drift *d, const struct drift_alert *a, const char *op,
                const char *reason, int64_t now, struct drift_repair *r, struct err *e)
{
	char key[400];
	int64_t balance = 0, last = 0;

	if (ledger_balance(d->s, a->customer, &balance, e) != 0 ||
	    one_int64(d->s, "SELECT MAX(seq) FROM ledger WHERE customer = ?", a->customer, &last, e) != 0)
		return -1;
	snprintf(key, sizeof key, "adjust:drift:negative-balance:%s:%lld", a->customer,
	    (long long)last);
	snprintf(r->what, sizeof r->what, "adjust the balance of %s by %+lld, up to the overage "
	    "floor %lld", a->customer, (long long)(d->floor - balance), (long long)d->floor);
	return repair_adjust(d, a, key, d->floor - balance, now, op, reason, "", now, r, e);
}

/* The customer's cached balance and ledger sum. */
static int
balances_of(struct drift *d, const char *customer, int64_t *cache, int64_t *sum, struct err *e)
{
	*cache = *sum = 0;
	if (customer == NULL || *customer == '\0')
		return 0;
	if (ledger_balance(d->s, customer, cache, e) != 0 || ledger_sum(d->s, customer, sum, e) != 0)
		return -1;
	return 0;
}

/* Re-check what the alert is about: its customer, or the whole mirror. */
static int
recheck(struct drift *d, const struct drift_alert *a, int64_t now, struct err *e)
{
	const struct rule *ru = rule_find(a->rule);

	if (ru != NULL && ru->sql_one != NULL && a->customer[0] != '\0')
		return drift_check_customer(d, a->customer, now, 0, NULL, e);
	return drift_scan(d, now, 0, NULL, e);
}

static int
alert_state(struct store *s, int64_t id, char *state, size_t n, struct err *e)
{
	struct drift_alert a;
	int rc = drift_alert_load(s, id, &a, e);

	if (rc == 0)
		snprintf(state, n, "%s", a.state);
	drift_alert_done(&a);
	return rc;
}

/* The entries appended after seq_before (for this customer, when given). */
static int
entries_since(struct drift *d, struct drift_repair *r, const char *customer, struct err *e)
{
	sqlite3_stmt *st = store_stmt(d->s,
	    "SELECT seq, key, kind, amount, effective_at, COALESCE(expires_at, 0) FROM ledger "
	    "WHERE seq > ?1 AND (?2 IS NULL OR customer = ?2) ORDER BY seq", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_int(st, 1, r->seq_before);
	bind_text(st, 2, customer);
	r->nentries = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nentries < DRIFT_REPAIR_MAX_ENTRIES) {
			int k = r->nentries;

			r->entries[k].seq = sqlite3_column_int64(st, 0);
			snprintf(r->entries[k].key, sizeof r->entries[k].key, "%s", col_text(st, 1));
			snprintf(r->entries[k].kind, sizeof r->entries[k].kind, "%s", col_text(st, 2));
			r->entries[k].amount = sqlite3_column_int64(st, 3);
			r->entries[k].effective_at = sqlite3_column_int64(st, 4);
			r->entries[k].expires_at = sqlite3_column_int64(st, 5);
		}
		r->nentries++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_err(d->s, e, "reading ledger");
}

/* The audit's before and after. */
static void
repair_json(struct drift_repair *r, const struct drift_alert *a)
{
	json_t *entries = json_array();
	int i;

	for (i = 0; i < r->nentries && i < DRIFT_REPAIR_MAX_ENTRIES; i++)
		json_array_append_new(entries, json_pack("{sI ss ss sI}",
		    "seq", (json_int_t)r->entries[i].seq, "key", r->entries[i].key,
		    "kind", r->entries[i].kind, "amount", (json_int_t)r->entries[i].amount));
	free(r->before);
	free(r->after);
	r->before = json_text(json_pack("{sI ss ss ss sI sI}", "alert", (json_int_t)a->id,
	    "rule", a->rule, "subject", a->subject, "state", a->state,
	    "balance", (json_int_t)r->balance_before, "ledger_sum", (json_int_t)r->sum_before));
	r->after = json_text(json_pack("{ss sI sI si so sb}", "state", r->state_after,
	    "balance", (json_int_t)r->balance_after, "ledger_sum", (json_int_t)r->sum_after,
	    "entries_appended", r->nentries, "entries", entries, "cache_recomputed", r->cache_fixed));
}

int
drift_repair_run(struct drift *d, int64_t id, const char *op, const char *reason, int64_t now,
                 int flags, struct drift_repair *r, struct err *e)
{
	struct drift_alert a;
	const struct rule *ru;
	char target[32], detail[900], why[600];
	int rc;

	memset(r, 0, sizeof *r);
	if (store_begin(d->s, e) != 0)
		return -1;
	rc = drift_alert_load(d->s, id, &a, e);
	if (rc != 0) {
		if (rc == DRIFT_ENOENT)
			err_set(e, "no alert %lld (see tally alerts)", (long long)id);
		store_rollback(d->s);
		return rc;
	}
	snprintf(r->customer, sizeof r->customer, "%s", a.customer);
	ru = rule_find(a.rule);
	if (strcmp(a.state, "resolved") == 0) {
		err_set(e, "alert %lld (%s %s) is resolved: nothing to repair", (long long)id, a.rule,
		    a.subject);
		rc = DRIFT_ESTATE;
		goto rollback;
	}
	if (ru == NULL || ru->repair == NULL) {
		snprintf(r->refused, sizeof r->refused, "%s offers no automatic repair%s%s",
		    a.rule, ru != NULL && ru->info.repair != NULL ? ": " : "",
		    ru != NULL && ru->info.repair != NULL ? ru->info.repair
		    : "; acknowledge it once handled (tally ack)");
		rc = 0;
		goto rollback;
	}
	/* Repair only what still holds. */
	if (recheck(d, &a, now, e) != 0 || alert_state(d->s, id, r->state_after,
	    sizeof r->state_after, e) != 0)
		goto fail;
	if (strcmp(r->state_after, "resolved") == 0) {
		err_set(e, "alert %lld (%s %s) no longer holds: it resolved on a re-check; nothing to "
		    "repair", (long long)id, a.rule, a.subject);
		drift_alert_done(&a);
		if (flags & DRIFT_DRY) {
			store_rollback(d->s);
			return DRIFT_ECLEARED;
		}
		return store_commit(d->s, e) != 0 ? -1 : DRIFT_ECLEARED;
	}
	if (balances_of(d, a.customer, &r->balance_before, &r->sum_before, e) != 0 ||
	    one_int64(d->s, "SELECT COALESCE(MAX(seq), 0) FROM ledger", NULL, &r->seq_before, e) != 0)
		goto fail;
	snprintf(why, sizeof why, "%s", reason != NULL ? reason : a.summary);
	r->kind = DRIFT_REPAIR_LEDGER;
	if (ru->repair(d, &a, op, why, now, r, e) != 0)
		goto fail;
	if (r->kind == DRIFT_REPAIR_RESYNC || r->refused[0] != '\0') {
		rc = 0;
		goto rollback;
	}
	if (entries_since(d, r, NULL, e) != 0 ||
	    balances_of(d, a.customer, &r->balance_after, &r->sum_after, e) != 0 ||
	    recheck(d, &a, now, e) != 0 ||
	    alert_state(d->s, id, r->state_after, sizeof r->state_after, e) != 0)
		goto fail;
	repair_json(r, &a);
	if (flags & DRIFT_DRY) {
		rc = 0;
		goto rollback;
	}
	snprintf(target, sizeof target, "alert:%lld", (long long)id);
	snprintf(detail, sizeof detail, "%s %s: %s", a.rule, a.subject, r->what);
	if (audit_add(d->s, now, op, "repair", target, why, r->idem_key[0] ? r->idem_key : NULL,
	    r->before, r->after, r->nentries > 0 || r->cache_fixed ? "ok" : "noop", detail, e) != 0)
		goto fail;
	drift_alert_done(&a);
	return store_commit(d->s, e);
fail:
	rc = -1;
rollback:
	drift_alert_done(&a);
	store_rollback(d->s);
	return rc;
}

int
drift_repair_resynced(struct drift *d, int64_t id, const char *op, const char *reason,
                      int (*apply)(void *arg, struct err *e), void *arg, const char *failure,
                      int64_t now, int flags, struct drift_repair *r, struct err *e)
{
	struct drift_alert a;
	char target[32], detail[1400], why[600];
	int rc;

	if (store_begin(d->s, e) != 0)
		return -1;
	if ((rc = drift_alert_load(d->s, id, &a, e)) != 0) {
		store_rollback(d->s);
		return rc == DRIFT_ENOENT ? err_set(e, "no alert %lld", (long long)id) : -1;
	}
	if (balances_of(d, a.customer, &r->balance_before, &r->sum_before, e) != 0 ||
	    one_int64(d->s, "SELECT COALESCE(MAX(seq), 0) FROM ledger", NULL, &r->seq_before, e) != 0)
		goto fail;
	if (apply != NULL && failure == NULL && apply(arg, e) != 0)
		goto fail;
	if (recheck(d, &a, now, e) != 0 ||
	    alert_state(d->s, id, r->state_after, sizeof r->state_after, e) != 0 ||
	    entries_since(d, r, NULL, e) != 0 ||
	    balances_of(d, a.customer, &r->balance_after, &r->sum_after, e) != 0)
		goto fail;
	snprintf(r->idem_key, sizeof r->idem_key, "resync:%s", a.customer);
	repair_json(r, &a);
	if (flags & DRIFT_DRY) {
		drift_alert_done(&a);
		store_rollback(d->s);
		return 0;
	}
	snprintf(why, sizeof why, "%s", reason != NULL ? reason : a.summary);
	snprintf(target, sizeof target, "alert:%lld", (long long)id);
	snprintf(detail, sizeof detail, "%s %s: %s%s%s", a.rule, a.subject, r->what,
	    failure ? ": failed: " : "", failure ? failure : "");
	if (audit_add(d->s, now, op, "repair", target, why, r->idem_key, r->before, r->after,
	    failure ? "failed" : "ok", detail, e) != 0)
		goto fail;
	drift_alert_done(&a);
	return store_commit(d->s, e);
fail:
	drift_alert_done(&a);
	store_rollback(d->s);
	return -1;
}
