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
	char when[32], allow_detail[300] = "", best_detail[400] = "", best_reason[48] = "";
	int64_t p_start = 0, p_end = 0;
	int rc, found = 0, ok = 0, any_sub = 0;

	memset(a, 0, sizeof *a);
	if (access_mirror_age(s, now, &a->mirror_age, e) != 0)
		return -1;
	a->stale = a->mirror_age < 0 || (stale_after > 0 && a->mirror_age > stale_after);

	/* 1. the customer */
	st = store_stmt(s, "SELECT placeholder, deleted FROM customers WHERE id = ?", e);
	if (st == NULL)
		return -1;
	bind_text(st, 1, customer);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		found = 1;
		if (sqlite3_column_int(st, 1))
			found = -1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading customer");
	if (found == 0) {
		step(a, "customer", 0, "customer %s is not in the mirror", customer);
		return decide(a, 0, "customer-unknown", a->trace[a->ntrace - 1].detail);
	}
	if (found < 0) {
		step(a, "customer", 0, "customer %s was deleted in Stripe", customer);
		return decide(a, 0, "customer-deleted", a->trace[a->ntrace - 1].detail);
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
		char detail[300];
		int pass = 0;

		if (p == NULL || !catalog_plan_has_feature(p, feature))
			continue;
		any_sub = 1;
		time_fmt(end, when, sizeof when);
		if (strcmp(status, "active") == 0 || strcmp(status, "trialing") == 0) {
			if (end > 0 && now > end + after) {
				snprintf(detail, sizeof detail, "subscription %s status %s but period ended %s "
				    "and no renewal seen (grace %lld min)", sid, status, when,
				    (long long)(after / 60));
				snprintf(best_reason, sizeof best_reason, "period-ended");
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
				snprintf(best_reason, sizeof best_reason, "past-due-beyond-grace");
			}
		} else {
			snprintf(detail, sizeof detail, "subscription %s status %s does not grant access",
			    sid, status[0] ? status : "unknown");
			if (best_reason[0] == '\0')
				snprintf(best_reason, sizeof best_reason, "subscription-inactive");
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
			snprintf(best_detail, sizeof best_detail, "%s", detail);
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
	if (!ok)
		return decide(a, 0, best_reason, best_detail);

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
