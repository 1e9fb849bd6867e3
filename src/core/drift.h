/*
 * drift: where the mirror has drifted from what it should be (SPEC 7), as
 * alerts an operator can read, acknowledge and repair.
 *
 * The rules are one table in drift.c: for each, its id, severity, the SQL
 * that finds its instances (one template, compiled twice: for the whole
 * mirror and for one customer), the evidence it records (a JSON object the
 * SQL builds) and the repair it offers.  A few rules are global (the
 * mirror's age, deliveries whose signature failed): they have no
 * per-customer form and run only on full scans.
 *
 * Alerts are keyed by rule + subject (an invoice, a subscription, a
 * delivery, "mirror"...): evaluating a rule again finds the same alert,
 * never a second one.  An instance that is no longer found resolves its
 * alert (resolved_at, a history row); one found again reopens it.  An
 * acknowledged alert stays acknowledged while its condition holds.  The
 * evidence is a function of the mirror and the thresholds only, never of
 * the clock, so evaluating an unchanged mirror again writes nothing.
 *
 * Incremental checks.  Whatever changes a customer (an applied event or
 * object, a usage line, a delivery of its event, a ledger entry) marks it
 * in drift_dirty in the same transaction (drift_mark_dirty*).  Later, in
 * any write transaction, drift_check_dirty re-evaluates the marked
 * customers and clears the marks; when many are marked, one full scan is
 * cheaper and is run instead.  A crash loses no mark: they commit with the
 * change.  ingest_finish and the end of each sync round call it (see
 * doc/drift.md for why there).
 *
 * Every function needs the store's thread; the writing ones a write
 * transaction the caller opened (as ledger.c), except drift_ack and
 * drift_repair, which are operator actions and open their own.  A struct
 * drift belongs to one store (connection) and thread.
 */
#ifndef TALLY_DRIFT_H
#define TALLY_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "err.h"
#include "store.h"

/* The rule table, for display and documentation. */
struct drift_rule_info {
	const char *id;
	const char *severity;           /* info | warning | critical */
	int global;                     /* no per-customer form: full scans only */
	const char *finds;              /* what an instance is, in words */
	const char *evidence;           /* the evidence's fields, in words */
	const char *repair;             /* the fix offered, in words; NULL: none */
};
/* The rules, in table order (static). */
size_t drift_rule_count(void);
const struct drift_rule_info *drift_rule_at(size_t i);     /* NULL past the end */
/* One rule by id, or NULL. */
const struct drift_rule_info *drift_rule(const char *id);
/* Rule i's SQL: for the whole mirror, or for one customer (NULL for a
 * global rule).  For tests (EXPLAIN QUERY PLAN) and benchmarks. */
const char *drift_rule_sql(size_t i, int one_customer);

/* Mark a customer (NULL or "" is ignored), the customer of a stored event,
 * or the customers of a payment (a refund's or dispute's charge and
 * payment intent) for re-checking.  In the caller's write transaction. */
int drift_mark_dirty(struct store *s, const char *customer, struct err *e);
int drift_mark_dirty_event(struct store *s, const char *event_id, struct err *e);
int drift_mark_dirty_payment(struct store *s, const char *charge, const char *payment_intent,
                             struct err *e);

struct drift;

/* A checker over store s, with the catalog (borrowed; NULL: none) and the
 * thresholds of cfg (copied).  It loads the catalog's prices and plan
 * features into temp tables of this connection (no write to the mirror,
 * so a read-only store works too).  *out is new; drift_close frees it. */
int drift_open(struct store *s, const struct catalog *cat, const struct config *cfg,
               struct drift **out, struct err *e);
void drift_close(struct drift *d);      /* NULL is a no-op */

#define DRIFT_DRY 0x1           /* evaluate and report; write nothing (no
                                   transaction needed, read-only stores too) */

enum drift_change_kind { DRIFT_OPENED, DRIFT_REOPENED, DRIFT_RESOLVED };

/* What an evaluation changed.  Strings are owned by the report. */
struct drift_change {
	enum drift_change_kind kind;
	int64_t alert;                  /* 0 for an alert a dry run would open */
	char *rule, *subject, *customer, *severity, *summary;   /* customer may be NULL */
	int acknowledged;               /* DRIFT_RESOLVED: it was acknowledged, not open */
};

struct drift_report {
	struct drift_change *v;
	size_t n, alloc;
	int full;                       /* a full scan ran */
	int64_t customers;              /* customers re-checked one by one */
	int64_t found;                  /* instances found */
	int64_t rules;                  /* rule evaluations */
};
void drift_report_init(struct drift_report *r);
void drift_report_done(struct drift_report *r);

/* Evaluate every rule over the whole mirror as of `now`, reconcile the
 * alerts, clear every dirty mark and record meta drift.scanned_at.  r may be
 * NULL.  0 or -1. */
int drift_scan(struct drift *d, int64_t now, int flags, struct drift_report *r, struct err *e);

/* Evaluate the per-customer rules for one customer (and clear its mark). */
int drift_check_customer(struct drift *d, const char *customer, int64_t now, int flags,
                         struct drift_report *r, struct err *e);

/* Re-check every customer marked dirty, or run a full scan when that is
 * cheaper (more than DRIFT_FULL_AFTER marked).  Write transaction. */
#define DRIFT_FULL_AFTER 1000
int drift_check_dirty(struct drift *d, int64_t now, struct drift_report *r, struct err *e);
/* 1 when some customer is marked, 0 when none, -1 on error (no
 * transaction needed: lets a caller skip opening one for nothing). */
int drift_has_dirty(struct store *s, struct err *e);

/* --- operator actions: each opens and commits its own transaction --- */

struct drift_alert {
	int64_t id;
	char rule[32], state[16], severity[16];
	char subject[256], customer[256];       /* customer "" when none */
	char summary[512], repair[256];
	char *evidence;                         /* JSON text; owned; may be NULL */
	int64_t first_seen_at, acked_at, resolved_at;
	char acked_by[128];
};
/* Load alert id: 0, 1 when there is none, -1.  Free with drift_alert_done. */
int drift_alert_load(struct store *s, int64_t id, struct drift_alert *a, struct err *e);
void drift_alert_done(struct drift_alert *a);

/* Acknowledge an open alert: state acknowledged, who, when, the note, a
 * history row and an audit row.  Returns 0, DRIFT_ENOENT, DRIFT_ESTATE (e
 * says why: already acknowledged, or resolved) or -1. */
#define DRIFT_ENOENT 1
#define DRIFT_ESTATE 2
#define DRIFT_ECLEARED 3        /* drift_repair_run: the condition no longer holds */
int drift_ack(struct store *s, int64_t id, const char *op, const char *note, int64_t now,
              struct err *e);

enum drift_repair_kind {
	DRIFT_REPAIR_NONE,              /* the rule offers no automatic fix */
	DRIFT_REPAIR_LEDGER,            /* entries (or the balance cache) in the mirror */
	DRIFT_REPAIR_RESYNC             /* refetch the customer from the API */
};

/* What a repair did or would do.  Before/after are JSON texts for the audit
 * row (owned). */
#define DRIFT_REPAIR_MAX_ENTRIES 50
struct drift_repair {
	enum drift_repair_kind kind;
	char what[300];                 /* the fix, in words */
	char refused[1024];             /* set: it cannot be done here; why and what to do */
	char customer[256];
	char idem_key[300];             /* the ledger key (first one) or resync:<customer> */
	int nentries;                   /* entries appended (all of them) */
	struct {
		int64_t seq, amount, effective_at, expires_at;
		char key[300], kind[16];
	} entries[DRIFT_REPAIR_MAX_ENTRIES];
	int cache_fixed;                /* the balance cache was recomputed */
	int64_t balance_before, balance_after;  /* cached balance */
	int64_t sum_before, sum_after;          /* ledger sum */
	char state_after[16];           /* the alert's state after (re-checked) */
	int64_t seq_before;             /* the ledger's last seq before the repair */
	char *before, *after;           /* JSON */
};
void drift_repair_done(struct drift_repair *r);

/*
 * Repair alert `id` with its rule's offered fix, as operator `op` with
 * `reason` (NULL: the alert's summary).  Always re-checks the alert's
 * customer first (an alert whose condition has cleared resolves and needs
 * no repair).  Ledger repairs go through the canonical keys (the grant of
 * an invoice through apply_effects_invoice, a clawback through
 * apply_effects_reversal, a duplicate through ledger_reverse), so a late
 * webhook afterwards lands on a key already taken.
 *
 * With DRIFT_DRY the repair runs in a transaction that is rolled back: *r
 * says exactly what would change and nothing does.  Otherwise it commits
 * with one audit row (who, when, why, before/after) and the re-check.
 *
 * A resync (kind DRIFT_REPAIR_RESYNC) needs the network, which this
 * function does not touch: it returns with r->kind set and changes nothing;
 * the caller fetches the customer (sync_customer_fetch) and then calls
 * drift_repair_resynced.
 *
 * Returns 0 (see r->refused, r->kind), DRIFT_ENOENT, DRIFT_ESTATE (the
 * alert is resolved), DRIFT_ECLEARED (it resolved on the re-check, which
 * is committed unless DRIFT_DRY; e says so) or -1.
 */
int drift_repair_run(struct drift *d, int64_t id, const char *op, const char *reason,
                     int64_t now, int flags, struct drift_repair *r, struct err *e);

/* The resync of r->customer, after its objects were fetched (no
 * transaction open meanwhile): in one transaction, `apply(arg)` writes
 * them (sync_customer_apply), the alert's customer is re-checked, the
 * entries that appeared are listed in r and one audit row is written
 * (result ok, or failed with `failure`, when the fetch failed and apply is
 * not called).  With DRIFT_DRY everything is rolled back: r says what the
 * resync would change.  0 or -1. */
int drift_repair_resynced(struct drift *d, int64_t id, const char *op, const char *reason,
                          int (*apply)(void *arg, struct err *e), void *arg,
                          const char *failure, int64_t now, int flags,
                          struct drift_repair *r, struct err *e);

#endif
