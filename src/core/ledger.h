/*
 * ledger: the append-only credit ledger (SPEC 4).
 *
 * Every entry carries a unique idempotency key derived from its business
 * source (grant:invoice:in_..., topup:checkout:cs_..., consume:usage:<id>,
 * clawback:refund:re_..., expire:<grant key>, adjust:<key>, reverse:<key>),
 * so a duplicate webhook, a retry, a replay, a backfill and an operator's
 * repair all land on the same key and only the first writes.  Entries are
 * never updated or deleted (the schema's triggers refuse it).
 *
 * Balance is the sum of entries; `balances` caches it per customer and is
 * updated in the same transaction as each entry.
 *
 * Expiry.  Credits sit in buckets, one per positive entry; consumption draws
 * from the open bucket that expires first, then the oldest.  When a bucket's
 * expiry passes, its unconsumed remainder is expired by one entry
 * (`expire:<grant key>`, ref = the grant key).  The remainder is computed by
 * replaying the customer's entries in effective-time order, so it does not
 * depend on the order they were recorded in.  If an entry is recorded later
 * with an effective time before an expiry already written (a late usage
 * line), the customer is re-settled and a correcting entry
 * `expire:<grant key>:<n>` brings that grant's expired total to the replayed
 * value: nothing is consumed twice and nothing expires twice.
 *
 * All functions need a write transaction already open on the store (the
 * caller's: one transaction per event and all its effects).  One thread per
 * store, as store.h says.
 */
#ifndef TALLY_LEDGER_H
#define TALLY_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct ledger_entry {
	int64_t seq;                    /* set on read; ignored on append */
	const char *customer;
	int64_t amount;                 /* signed, in the catalog's unit */
	const char *kind;               /* grant topup consume expire adjust reverse clawback */
	const char *key;
	const char *source_type;        /* "invoice", "checkout.session", "usage", "refund", ... */
	const char *source_id;
	const char *ref;                /* the entry this one closes, reverses or takes back */
	int64_t effective_at;
	int64_t expires_at;             /* 0 = never */
	int64_t recorded_at;            /* set on append from `now` */
	const char *actor;              /* NULL = "system" */
	const char *reason;
};

enum {
	LEDGER_APPENDED = 0,
	LEDGER_EXISTS = 1               /* the key was already there: nothing written */
};

/* Every function below that writes entries adds the number it wrote to
 * *appended (which may be NULL): the entry itself and every expiry or
 * expiry correction written with it, so a caller's count is of rows added
 * to the ledger. */

/* Append one entry under its key, update the cached balance, and re-settle
 * the customer's expiries if the entry lands before one already written
 * (which may append `expire:<key>:<n>` corrections).  Returns
 * LEDGER_APPENDED, LEDGER_EXISTS, or -1. */
int ledger_append(struct store *s, const struct ledger_entry *en, int64_t now, int *appended,
                  struct err *e);

/* Write the expiry entries now due for one customer (and corrections). */
int ledger_settle(struct store *s, const char *customer, int64_t now, int *appended,
                  struct err *e);

/* Settle every customer with a grant whose expiry has passed unsettled. */
int ledger_expire_due(struct store *s, int64_t now, int *appended, struct err *e);

/* Append the reversal of the entry with this key (`reverse:<key>`, the
 * negated amount, ref = key).  Refuses to reverse a reversal, and a second
 * reversal of the same entry returns LEDGER_EXISTS with a message in e. */
int ledger_reverse(struct store *s, const char *key, const char *actor,
                   const char *reason, int64_t now, int *appended, struct err *e);

/* The cached balance (0 for an unknown customer) and the sum of entries. */
int ledger_balance(struct store *s, const char *customer, int64_t *out, struct err *e);
int ledger_sum(struct store *s, const char *customer, int64_t *out, struct err *e);

/* Total credited by entries of this source (grants and top-ups of one
 * invoice or checkout session), for proportional clawbacks. */
int ledger_credited(struct store *s, const char *source_id, int64_t *out,
                    char *first_key, size_t keysz, struct err *e);

#endif
