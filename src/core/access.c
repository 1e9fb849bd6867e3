/*
 * access: the allow/deny resolution.  See access.h for the rules.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "ledger.h"
#include "util.h"

static void __attribute__((format(printf, 4, 5)))
step(struct access_answer *a, const char *rule, int pass, const char *fmt, ...)
{
	struct access_step *s;
	va_list ap;

	if (a->ntrace >= ACCESS_MAX_TRACE)
		return;
	s = &a->trace[a->ntrace++];
	snprintf(s->rule, sizeof s->rule, "%s", rule);
	s->pass = pass;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof s->detail, fmt, ap);
	va_end(ap);
}

static int
decide(struct access_answer *a, int allow, const char *reason, const char *detail)
{
	a->allow = allow;
	snprintf(a->reason, sizeof a->reason, "%s", reason);
	snprintf(a->detail, sizeof a->detail, "%s", detail);
	return 0;
}

int
access_mirror_age(struct store *s, int64_t now, int64_t *age, struct err *e)
{
	int64_t ingest = 0, sync = 0, last;

	if (store_meta_get_int(s, "last_ingest_at", &ingest) < 0 ||
	    store_meta_get_int(s, "last_sync_at", &sync) < 0)
		return store_err(s, e, "reading mirror age");
	last = ingest > sync ? ingest : sync;
	*age = last > 0 ? (now > last ? now - last : 0) : -1;
	return 0;
}

/* What the customer row is: none, deleted, a placeholder, or known. */
enum { CUSTOMER_NONE, CUSTOMER_DELETED, CUSTOMER_REFERENCE, CUSTOMER_KNOWN };

/* Where a placeholder customer was named: the object of the earliest event
 * that names it ("in_123"), else its earliest usage line ("usage line
 * req_1"), else "". */
static int
customer_reference(struct store *s, const char *customer, char *out, size_t outsz,
                   struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT object_id FROM events WHERE customer = ? AND object_id IS NOT NULL "
	    "ORDER BY created, id LIMIT 1", e);
	int rc;

	out[0] = '\0';
	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(out, outsz, "%s", col_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading events");
	if (out[0] != '\0')
		return 0;
	st = store_stmt(s,
	    "SELECT identifier FROM usage WHERE customer = ? ORDER BY timestamp, identifier LIMIT 1", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(out, outsz, "usage line %s", col_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading usage");
	return 0;
}

/* The failing subscription a deny reports.  Failures rank by how close they
 * came to passing: a lapsed period (active, only the date is past) over a
 * past_due beyond grace over a status that grants nothing; among equals the
 * most recent period (end, else start) wins, then the first examined.  The
 * reason, detail and subscription all come from the one chosen. */
struct sub_failure {
	int rank;               /* 0 = none yet */
	int64_t recency;
	char reason[48];
	char detail[300];
	char subscription[256];
};

static void
sub_failure_offer(struct sub_failure *best, int rank, int64_t recency, const char *reason,
                  const char *detail, const char *sid)
{
	if (rank < best->rank || (rank == best->rank && recency <= best->recency))
		return;
	best->rank = rank;
	best->recency = recency;
	snprintf(best->reason, sizeof best->reason, "%s", reason);
	snprintf(best->detail, sizeof best->detail, "%s", detail);
	snprintf(best->subscription, sizeof best->subscription, "%s", sid);
}

/* Usage of one meter by a customer in [from, to). */
static int
period_usage(struct store *s, const char *customer, const char *meter, int64_t from,
             int64_t to, int64_t *out, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT COALESCE(SUM(value), 0) FROM usage WHERE customer = ? AND event_name = ? "
	    "AND timestamp >= ? AND timestamp < ?", e);
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	bind_text(st, 2, meter);
	bind_int(st, 3, from);
	bind_int(st, 4, to);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return store_err(s, e, "reading usage");
	return 0;
}

int
access_check(struct store *s, const struct catalog *cat, const char *customer,
             const char *feature, int64_t now, int64_t stale_after,
             struct access_answer *a, struct err *e)
{
	const struct catalog_meter *meter;
	const struct catalog_plan *plan = NULL;
	sqlite3_stmt *st;
	struct sub_failure best;
	char when[32], allow_detail[300] = "", ref[300];
	int64_t p_start = 0, p_end = 0;
	int rc, found = CUSTOMER_NONE, ok = 0, any_sub = 0;

	memset(a, 0, sizeof *a);
	memset(&best, 0, sizeof best);
	if (access_mirror_age(s, now, &a->mirror_age, e) != 0)
		return -1;
	a->stale = a->mirror_age < 0 || (stale_after > 0 && a->mirror_age > stale_after);

	/* 1. the customer: a row that is neither deleted nor only a reference */
	st = store_stmt(s, "SELECT placeholder, deleted FROM customers WHERE id = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = sqlite3_column_int(st, 1) ? CUSTOMER_DELETED
		    : sqlite3_column_int(st, 0) ? CUSTOMER_REFERENCE : CUSTOMER_KNOWN;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading customer");
	switch (found) {
	case CUSTOMER_NONE:
		step(a, "customer", 0, "customer %s is not in the mirror", customer);
		return decide(a, 0, "customer-unknown", a->trace[a->ntrace - 1].detail);
	case CUSTOMER_DELETED:
		step(a, "customer", 0, "customer %s was deleted in Stripe", customer);
		return decide(a, 0, "customer-deleted", a->trace[a->ntrace - 1].detail);
	case CUSTOMER_REFERENCE:
		if (customer_reference(s, customer, ref, sizeof ref, e) != 0)
			return -1;
		step(a, "customer", 0, "customer %s is seen only as a reference%s%s; not yet fetched",
		    customer, ref[0] ? " from " : "", ref);
		return decide(a, 0, "customer-not-fetched", a->trace[a->ntrace - 1].detail);
	default:
		break;
	}
	step(a, "customer", 1, "customer %s is known", customer);

	/* 2. the feature */
	if (!catalog_feature_known(cat, feature)) {
		step(a, "feature", 0, "feature '%s' is not in the catalog", feature);
		return decide(a, 0, "feature-unknown", a->trace[a->ntrace - 1].detail);
	}
	meter = catalog_meter_for_feature(cat, feature);
	step(a, "feature", 1, "feature '%s' is in the catalog (%s)", feature,
	    meter ? "metered" : "granted by plan");

	/* 3. a subscription that grants it, judged by status and period end */
	st = store_stmt(s,
	    "SELECT s.id, s.status, COALESCE(i.current_period_start, s.current_period_start), "
	    "COALESCE(i.current_period_end, s.current_period_end), i.price "
	    "FROM subscriptions AS s JOIN subscription_items AS i ON i.subscription = s.id "
	    "WHERE s.customer = ? AND s.placeholder = 0 ORDER BY s.id, i.id", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	while (!ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sid = col_text(st, 0), *status = col_text(st, 1);
		const struct catalog_plan *p = catalog_plan(cat, col_text(st, 4));
		int64_t start = sqlite3_column_int64(st, 2), end = sqlite3_column_int64(st, 3);
		int64_t after = cat->grace_after_period_end_minutes * 60;
		int64_t pd_grace = cat->grace_past_due_days * 86400;
		const char *reason = NULL;
		char detail[300];
		int pass = 0, rank = 0;

		if (p == NULL || !catalog_plan_has_feature(p, feature))
			continue;
		any_sub = 1;
		time_fmt(end, when, sizeof when);
		if (strcmp(status, "active") == 0 || strcmp(status, "trialing") == 0) {
			if (end > 0 && now > end + after) {
				snprintf(detail, sizeof detail, "subscription %s status %s but period ended %s "
				    "and no renewal seen (grace %lld min)", sid, status, when,
				    (long long)(after / 60));
				reason = "period-ended";
				rank = 3;
			} else {
				pass = 1;
				snprintf(detail, sizeof detail, "subscription %s (%s) is %s until %s%s", sid,
				    p->name ? p->name : col_text(st, 4), status, when,
				    end > 0 && now > end ? " (within grace after period end)" : "");
			}
		} else if (strcmp(status, "past_due") == 0) {
			time_fmt(start + pd_grace, when, sizeof when);
			if (now <= start + pd_grace && (end == 0 || now <= end + after + pd_grace)) {
				pass = 1;
				snprintf(detail, sizeof detail, "subscription %s is past_due, within the "
				    "%lld-day grace until %s", sid, (long long)cat->grace_past_due_days, when);
			} else {
				snprintf(detail, sizeof detail, "subscription %s is past_due beyond the "
				    "%lld-day grace (ended %s)", sid, (long long)cat->grace_past_due_days, when);
				reason = "past-due-beyond-grace";
				rank = 2;
			}
		} else {
			snprintf(detail, sizeof detail, "subscription %s status %s does not grant access",
			    sid, status[0] ? status : "unknown");
			reason = "subscription-inactive";
			rank = 1;
		}
		step(a, "subscription", pass, "%s", detail);
		if (pass) {
			ok = 1;
			plan = p;
			p_start = start;
			p_end = end;
			snprintf(a->subscription, sizeof a->subscription, "%s", sid);
			snprintf(allow_detail, sizeof allow_detail, "%s", detail);
		} else {
			sub_failure_offer(&best, rank, end > 0 ? end : start, reason, detail, sid);
		}
	}
	sqlite3_reset(st);
	if (!ok && rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading subscriptions");
	if (!any_sub) {
		step(a, "subscription", 0, "no subscription of customer %s has a plan that lists '%s'",
		    customer, feature);
		return decide(a, 0, "no-subscription", a->trace[a->ntrace - 1].detail);
	}
	if (!ok) {
		snprintf(a->subscription, sizeof a->subscription, "%s", best.subscription);
		return decide(a, 0, best.reason, best.detail);
	}

	/* 4. metered: balance and period usage */
	if (meter != NULL) {
		int64_t used, limit;

		if (ledger_balance(s, customer, &a->balance, e) != 0)
			return -1;
		if (a->balance <= cat->overage_floor) {
			step(a, "balance", 0, "balance %lld %s is not above the overage floor %lld",
			    (long long)a->balance, cat->unit, (long long)cat->overage_floor);
			return decide(a, 0, "balance-exhausted", a->trace[a->ntrace - 1].detail);
		}
		step(a, "balance", 1, "balance %lld %s is above the overage floor %lld",
		    (long long)a->balance, cat->unit, (long long)cat->overage_floor);
		limit = catalog_plan_limit(plan, meter->name);
		if (limit >= 0) {
			if (period_usage(s, customer, meter->name, p_start, p_end ? p_end : now + 1,
			    &used, e) != 0)
				return -1;
			if (used >= limit) {
				step(a, "limit", 0, "%lld of %lld %s used this period", (long long)used,
				    (long long)limit, meter->name);
				return decide(a, 0, "usage-limit-reached", a->trace[a->ntrace - 1].detail);
			}
			step(a, "limit", 1, "%lld of %lld %s used this period", (long long)used,
			    (long long)limit, meter->name);
		}
	}

	/* 5. Stripe Entitlements, when synced for this customer */
	st = store_stmt(s,
	    "SELECT EXISTS (SELECT 1 FROM entitlement_summaries WHERE customer = ?1), "
	    "EXISTS (SELECT 1 FROM entitlements WHERE customer = ?1 AND lookup_key = ?2)", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	bind_text(st, 2, feature);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int(st, 0)) {
		int has = sqlite3_column_int(st, 1);

		sqlite3_reset(st);
		if (!has) {
			step(a, "entitlements", 0, "Stripe lists no active entitlement '%s' for %s",
			    feature, customer);
			return decide(a, 0, "entitlement-missing", a->trace[a->ntrace - 1].detail);
		}
		step(a, "entitlements", 1, "Stripe lists an active entitlement '%s'", feature);
	} else {
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			return store_err(s, e, "reading entitlements");
		step(a, "entitlements", 1, "Stripe Entitlements not synced for %s; not checked", customer);
	}
	return decide(a, 1, "subscription-active", allow_detail);
}
