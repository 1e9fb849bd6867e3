/*
 * audit: the append-only record of every operator action (SPEC 9).
 *
 * One row per action attempt: who, when, what (action and target), why,
 * under which idempotency key, the state before and after (JSON), the
 * result, and Stripe's request id when Stripe was called.  The schema
 * refuses UPDATE and DELETE; a later change of outcome (a pending push
 * confirmed) is a new row naming the same key.
 *
 * audit_append writes in the caller's transaction, so an action and its
 * audit row commit together or not at all.
 */
#ifndef TALLY_AUDIT_H
#define TALLY_AUDIT_H

#include <stdint.h>

#include "err.h"
#include "store.h"

struct audit_entry {
	const char *operator_name;      /* required */
	const char *action;             /* adjust | reverse | repair | resync | replay | ack | ... */
	const char *target;             /* required: customer, entry, alert, delivery or event */
	const char *reason;
	const char *idem_key;
	const char *before, *after;     /* JSON text, or NULL */
	const char *result;             /* ok | noop | refused | failed | pending */
	const char *request_id;
	const char *detail;             /* one line for an operator */
	int64_t at;                     /* 0 = tally_now() */
};

/* Append one row; *id (may be NULL) receives its id. */
int audit_append(struct store *s, const struct audit_entry *a, int64_t *id, struct err *e);

#endif
