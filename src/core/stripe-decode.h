/*
 * stripe-decode: turns Stripe JSON (events, and the objects tally mirrors)
 * into plain structs at the edge, so no json_t travels into the ledger, the
 * rules or the UI.
 *
 * It reads both old and new API shapes and tolerates unknown and missing
 * optional fields:
 *   - a subscription's period is on the subscription (old) or on each item
 *     (2025-03-31.basil and later); the subscription's period is then the
 *     earliest item start and the latest item end;
 *   - an invoice's subscription is top level (old) or under
 *     parent.subscription_details.subscription (new);
 *   - an invoice line's price is `price` (an id or an object), `plan`, or
 *     pricing.price_details.price (new); its subscription likewise moved
 *     under parent.subscription_item_details;
 *   - an invoice's charge/payment_intent are top level (old) or absent (new:
 *     then left NULL);
 *   - an expandable field is an id string or an object with an id;
 *   - a deleted object ({"id": ..., "object": ..., "deleted": true}) needs
 *     only its id, and sets `deleted`.
 * Strings live in the caller's arena.  Optional absent integers are 0,
 * optional absent strings NULL.
 *
 * Errors name the object and the field: "invoice in_123: customer: missing".
 * Required fields are missing when absent or null, and may not be empty
 * strings (an invoice of customer "" could not be credited to anyone); a
 * field that is present with the wrong JSON type is an error even when it is
 * optional (tally would otherwise misread a shape it does not know).
 */
#ifndef TALLY_STRIPE_DECODE_H
#define TALLY_STRIPE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "util.h"

enum stripe_kind {
	SK_UNKNOWN = 0,          /* an object tally stores but does not mirror */
	SK_CUSTOMER,
	SK_SUBSCRIPTION,
	SK_INVOICE,
	SK_PRICE,
	SK_CHECKOUT_SESSION,
	SK_CHARGE,
	SK_REFUND,
	SK_DISPUTE,
	SK_CREDIT_GRANT,
	SK_ENTITLEMENT_SUMMARY
};

struct s_customer {
	const char *email, *name, *currency;
	int64_t created;
	int deleted;            /* "deleted": true, or object "customer" of a customer.deleted event */
};

struct s_sub_item {
	const char *id, *price;
	int64_t quantity;       /* 1 when absent */
	int64_t period_start, period_end;
};

struct s_subscription {
	const char *customer, *status;
	int64_t created, period_start, period_end;
	int64_t cancel_at, canceled_at, ended_at, trial_end;
	int cancel_at_period_end;
	size_t nitems;
	struct s_sub_item *items;
	int items_more;         /* items.has_more: the list is not complete */
};

struct s_inv_line {
	const char *id, *price;
	const char *subscription;       /* top level (old) or parent.subscription_item_details (new) */
	int64_t quantity;       /* 1 when absent */
	int64_t amount;
	int64_t period_start, period_end;
	int proration;          /* proration (old) or parent.*_details.proration (new) */
};

struct s_invoice {
	const char *customer, *subscription, *status, *billing_reason, *currency;
	const char *charge, *payment_intent;
	int64_t amount_due, amount_paid, created, period_start, period_end;
	int64_t paid_at;        /* status_transitions.paid_at, 0 if absent */
	size_t nlines;
	struct s_inv_line *lines;
	int lines_more;         /* lines.has_more: the list is not complete */
};

struct s_checkout {
	const char *customer, *mode, *status, *payment_status, *payment_intent;
	const char *invoice, *currency, *subscription;
	const char *price;      /* line_items.data[0].price.id, else metadata.price */
	int64_t quantity;       /* of that line, 1 when absent */
	int64_t amount_total, created;
};

struct s_reversal {             /* a refund or a dispute */
	const char *charge, *payment_intent, *status, *currency;
	const char *customer;   /* refunds only, and only in newer versions */
	const char *reason;
	int64_t amount, created;
};

struct s_charge {
	const char *customer, *invoice, *payment_intent, *currency;
	int64_t amount, amount_refunded, created;
	int disputed;
	size_t nrefunds;        /* charge.refunds.data when present */
	const char **refund_ids;
	struct s_reversal *refunds;
	int refunds_more;       /* refunds.has_more: the list is not complete */
};

struct s_price {
	const char *product, *type, *currency, *interval, *lookup_key, *nickname;
	int64_t unit_amount, created;
	int active;
};

struct s_credit_grant {
	const char *customer, *category, *currency;
	int64_t amount;         /* amount.monetary.value */
	int64_t created, effective_at, expires_at, voided_at;
};

struct s_entitlement {
	const char *lookup_key, *feature;
};

struct s_entitlement_summary {
	const char *customer;
	size_t n;
	struct s_entitlement *items;
	int more;               /* entitlements.has_more: the list is not complete */
};

struct stripe_object {
	enum stripe_kind kind;
	const char *type;       /* the "object" string, e.g. "invoice" */
	const char *id;         /* NULL for entitlement summaries */
	int deleted;            /* "deleted": true (then only type and id are set) */
	union {
		struct s_customer customer;
		struct s_subscription subscription;
		struct s_invoice invoice;
		struct s_price price;
		struct s_checkout checkout;
		struct s_charge charge;
		struct s_reversal reversal;
		struct s_credit_grant credit_grant;
		struct s_entitlement_summary entitlements;
	} u;
};

struct stripe_event {
	const char *id, *type, *api_version;
	int64_t created;
	int livemode;
	const char *request_id, *idempotency_key;  /* request.id/idempotency_key, or NULL */
	struct stripe_object obj;   /* data.object */
};

/* Decode a Stripe object (borrowed json; strings are copied into a, so the
 * json may be freed afterwards).  0 ok, -1 with e naming the object id and
 * field.  An object whose type tally does not mirror decodes as SK_UNKNOWN
 * with type and id set (either may be NULL).  Any thread; a and e are the
 * caller's. */
int stripe_object_decode(struct arena *a, const json_t *obj,
                         struct stripe_object *out, struct err *e);

/* Decode an event ("object": "event"; id, type, created and data.object are
 * required).  For a customer.deleted event the customer is marked deleted.
 * Errors on data.object are prefixed with the event id. */
int stripe_event_decode(struct arena *a, const json_t *ev,
                        struct stripe_event *out, struct err *e);

/* The customer an object belongs to, or NULL. */
const char *stripe_object_customer(const struct stripe_object *o);

#endif
