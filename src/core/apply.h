/*
 * apply: the one way Stripe state, usage and deliveries enter the mirror.
 * The log reader (ingest.c) and the API sync both call it, inside a write
 * transaction they own; an event and all its effects land in the caller's
 * transaction, so a crash leaves it wholly applied or not at all.
 *
 * Order and duplicates (SPEC 5): an event is stored once by id (a repeat
 * changes nothing); each mirrored object keeps `ver`, the created time of
 * the event or fetch that last wrote it, and an older write is recorded as
 * superseded; a write at the same ver with other content marks the object
 * for refetch (the API decides); an object named before it is seen (an
 * invoice's customer) gets a placeholder row.
 *
 * Effects come from the mirrored state, never from the event type: after an
 * invoice, checkout session, charge, refund or dispute is written, the
 * credits its state implies are appended under their canonical keys
 * (grant:invoice:<in>, topup:invoice:<in> or topup:checkout:<cs>,
 * clawback:refund:<re>, clawback:dispute:<dp>), which makes every path
 * idempotent.  See doc/ledger.md.
 */
#ifndef TALLY_APPLY_H
#define TALLY_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "err.h"
#include "store.h"
#include "stripe-decode.h"
#include "usage.h"

/*
 * Errors.  The functions below return 0, -1 on a storage error (the caller's
 * transaction must be rolled back and the run stopped), or APPLY_EINPUT when
 * the value itself cannot be applied: a deletion stub of a kind Stripe never
 * deletes, credits (quantity × credits, usage value × credits per unit) that
 * overflow 64 bits.  Then e names the object and the problem, and the value
 * must be set aside (quarantined), not retried: it fails the same way every
 * time.  Writes the call made before finding the problem may be in the
 * transaction; the caller discards them (ingest.c rolls the value back)
 * before recording the value as quarantined.
 */
#define APPLY_EINPUT (-2)

enum apply_result {
	APPLY_APPLIED,          /* state written (and effects derived) */
	APPLY_DUPLICATE,        /* seen before: nothing changed */
	APPLY_SUPERSEDED,       /* older than what the mirror holds: recorded only */
	APPLY_CONFLICT,         /* same version, other content: marked for refetch */
	APPLY_STORED,           /* a type tally keeps but does not act on */
	APPLY_UNPRICED          /* usage for a meter the catalog does not know */
};

struct apply_ctx {
	struct store *s;
	const struct catalog *cat;
	int64_t now;
	int ledger_entries;     /* entries appended through this context, expiry
	                         * corrections included */
	const char *note;       /* why the last object was not written, when the
	                         * reason is more than its result says (static) */
};

/* Store an event once and apply its object.  `raw` is the body exactly as
 * received (kept for replays); `hash` identifies data.object's content.
 * *res says what happened.  0, APPLY_EINPUT or -1 (above). */
int apply_event(struct apply_ctx *c, const struct stripe_event *ev, const char *raw,
                size_t rawlen, int64_t hash, enum apply_result *res, struct err *e);

/* Apply an object fetched from the API at time `ver` (no event).  0,
 * APPLY_EINPUT or -1.
 *
 * A deletion stub ({"id", "object", "deleted": true}) of a customer,
 * subscription, invoice or price marks the mirrored row deleted (customers
 * `deleted = 1`, subscriptions and invoices `status = 'deleted'`, prices
 * `active = 0`), keeping what else is known; for an object never seen it
 * writes a row that says only that (customer '' for a subscription or
 * invoice), so older events about it are superseded.  A stub of any other
 * kind is APPLY_EINPUT.
 *
 * Same-second writes of an invoice with other content are ordered by status
 * where it can be: draft < open < paid, uncollectible, void, deleted; the
 * status further along wins (the other is APPLY_SUPERSEDED).  Otherwise
 * they are APPLY_CONFLICT and the row is marked for refetch. */
int apply_object(struct apply_ctx *c, const struct stripe_object *o, int64_t ver,
                 int64_t hash, enum apply_result *res, struct err *e);

/* Record usage once per identifier and consume its credits
 * (consume:usage:<identifier>).  A repeat with the same payload is a
 * duplicate; one with another payload is quarantined as a conflict
 * (APPLY_CONFLICT), never applied.  A value whose credits overflow 64 bits
 * is APPLY_EINPUT, found before anything is written. */
int apply_usage(struct apply_ctx *c, const struct usage_rec *u, const char *source,
                int64_t offset, enum apply_result *res, struct err *e);

struct delivery {
	const char *event_id;           /* NULL if the body could not be read */
	int64_t received_at;
	const char *endpoint;
	int64_t attempt;
	const char *status;             /* "ok" | "failed" */
	int64_t http_status;
	const char *error;
	const char *sig_state;          /* valid | invalid | unsigned | unverified */
	const char *sig_error;
	const char *body;               /* kept only when the event was not stored */
	const char *dkey;               /* identity of this delivery (see ingest.c) */
	const char *source;
	int64_t source_offset;
	int64_t latency_ms;             /* a replay's: send to answer (kept when response is set) */
	const char *response;           /* a replay's: the answer's first bytes; NULL = none */
};

/* Record a delivery once (by dkey).  Bumps the event's delivery count when
 * the delivery is new and the event is stored.  *inserted (may be NULL) says
 * whether it was new. */
int apply_delivery(struct apply_ctx *c, const struct delivery *d, int *inserted,
                   struct err *e);

/* Keep bad input with where it came from and why (once per source, offset
 * and content). */
int apply_quarantine(struct apply_ctx *c, const char *kind, const char *source,
                     int64_t offset, int64_t size, const char *reason,
                     const void *excerpt, size_t excerptlen, struct err *e);

/* Re-derive the credits implied by one invoice / checkout session's state
 * (used after writes, and by repairs).  An invoice marked for refetch (its
 * line list incomplete, or its state in doubt) grants nothing until the API
 * sync has written it again.  0, APPLY_EINPUT or -1. */
int apply_effects_invoice(struct apply_ctx *c, const char *invoice_id, struct err *e);
int apply_effects_checkout(struct apply_ctx *c, const char *session_id, struct err *e);
/* The clawback (or its reversal) one refund or dispute's state implies
 * (clawback:<refund|dispute>:<id>; doc/ledger.md), as after its write; used
 * by drift repairs.  0, APPLY_EINPUT or -1. */
int apply_effects_reversal(struct apply_ctx *c, const char *id, struct err *e);

const char *apply_result_name(enum apply_result r);

#endif
