/*
 * access: "does this customer have this feature, and why" (SPEC 6).
 *
 * The rules run in order and each leaves a line in the trace:
 *   1. the customer is known: it has a row that is not deleted and is not a
 *      placeholder (a customer only named by another object is not known);
 *   2. the feature is in the catalog;
 *   3. a subscription whose plan lists the feature is active or trialing, or
 *      past_due within grace.past_due_days of its period start, and its
 *      period has not ended more than grace.after_period_end_minutes ago
 *      (the period end is checked, not only the status);
 *   4. for a metered feature: the balance is above the overage floor and the
 *      period's usage is under the plan's limit;
 *   5. when Stripe Entitlements are synced for the customer, the feature's
 *      lookup key is active there.
 * When several subscriptions qualify and none passes, the deny reports one
 * of them, the one that came closest to passing (reason, detail and
 * subscription all from it); the trace has a line for each one examined.
 * Every answer carries the mirror's age (since the last ingest or sync) and
 * whether it is past the staleness threshold.  See doc/access.md.
 */
#ifndef TALLY_ACCESS_H
#define TALLY_ACCESS_H

#include <stdint.h>

#include "catalog.h"
#include "err.h"
#include "store.h"

#define ACCESS_MAX_TRACE 32

struct access_answer {
	int allow;
	char reason[48];                /* code: see doc/access.md */
	char detail[400];               /* one sentence for a person */
	char subscription[256];         /* the one that allowed, or that a subscription
	                                   deny is about; "" when none qualified */
	int64_t balance;
	int64_t mirror_age;             /* seconds; -1 if never synced or ingested */
	int stale;
	int ntrace;
	struct access_step {
		char rule[32];
		int pass;
		char detail[300];
	} trace[ACCESS_MAX_TRACE];
};

/* Answer for customer and feature as of `now`, from the mirror (reads only;
 * the caller's thread, on its own connection).  Fills *out; returns 0, or -1
 * on a storage error (message in e).  A deny is an answer, not an error. */
int access_check(struct store *s, const struct catalog *cat, const char *customer,
                 const char *feature, int64_t now, int64_t stale_after,
                 struct access_answer *out, struct err *e);

/* Seconds since the last ingest or sync, or -1. */
int access_mirror_age(struct store *s, int64_t now, int64_t *age, struct err *e);

#endif
