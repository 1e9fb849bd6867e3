/*
 * sync: keeps the mirror current from the Stripe API and the logs.
 *
 * A round does, in order:
 *   1. the logs: every configured webhook and usage log from its cursor
 *      (ingest.c), then the expiries now due;
 *   2. with an API key: the events cursor, taken before the first backfill
 *      so nothing that happens during it is missed;
 *   3. a reconciliation pass when one is due (the first backfill, then every
 *      reconcile_interval): each resource listed page by page (limit=100,
 *      starting_after), each page applied in its own transaction together
 *      with the resource's cursor, so a restart resumes at the next page;
 *   4. refetches: every placeholder and every object marked for refetch
 *      (same-second conflicts, invoices whose lines were cut short) is
 *      fetched by id;
 *   5. event catch-up from /v1/events, oldest first from the newest event
 *      already seen (ending_before), each page in one transaction with the
 *      events cursor.
 * Everything goes through apply.c, the path the logs take: one way to
 * change state.  An object fetched from the API is versioned by the
 * response's Date (Stripe's clock), so an event and a list page that both
 * describe an object converge to whichever is newer.
 *
 * The state of the sync lives in the mirror (sync_resources, meta sync.*),
 * never only in memory: it can be stopped and restarted at any point.
 *
 * A `struct sync` uses the store it is given and one API client; it belongs
 * to one thread.  sync_thread runs rounds on a thread of its own with its
 * own connection; see doc/threading.md.
 */
#ifndef TALLY_SYNC_H
#define TALLY_SYNC_H

#include <stdatomic.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "err.h"
#include "ingest.h"
#include "store.h"

/* What a round did (added to by each round). */
struct sync_counts {
	int64_t pages;                  /* list pages applied */
	int64_t objects;                /* objects applied from lists and refetches */
	int64_t refetched;
	int64_t events;                 /* events read from /v1/events */
	int64_t events_applied;
	int64_t quarantined;            /* API values that could not be read */
	int64_t requests;               /* HTTP requests, retries included */
	int64_t retries;
	struct ingest_counts logs;
};

/* Where a round is, for a progress line. */
enum sync_phase {
	SYNC_IDLE, SYNC_LOGS, SYNC_BACKFILL, SYNC_REFETCH, SYNC_EVENTS
};
const char *sync_phase_name(enum sync_phase p);

struct sync_opts {
	const struct config *cfg;       /* borrowed for the sync's life */
	const struct catalog *cat;      /* may be NULL */
	const atomic_int *stop;         /* may be NULL */
	/* Called after every commit, on the syncing thread.  May be NULL. */
	void (*on_progress)(enum sync_phase phase, const char *what,
	                    const struct sync_counts *n, void *arg);
	void *arg;
};

struct sync;

int sync_open(struct store *s, const struct sync_opts *o, struct sync **out, struct err *e);
void sync_close(struct sync *y);         /* NULL is a no-op */

#define SYNC_RECONCILE 0x1      /* start a full pass even if none is due */
#define SYNC_LOGS_ONLY 0x2      /* step 1 only */

/* One round (see above), as `flags` say.  0 ok; -1 with e set, and the error recorded in the
 * mirror as sync.last_error (a stop request is not recorded).  An API
 * error that retrying cannot help (401, 403) is also -1: the caller should
 * not loop on it. */
int sync_round(struct sync *y, int flags, struct err *e);

const struct sync_counts *sync_counts(const struct sync *y);

/* 1 when the last failure was one no retry will fix (bad key, permission). */
int sync_fatal(const struct sync *y);

/*
 * One customer, now (`tally resync`, the console's resync action).
 *
 * sync_customer_fetch GETs the customer, then, customer by customer filter,
 * its subscriptions (status=all), invoices (expand[]=data.payments),
 * checkout sessions, charges and credit grants (every page, nested lists
 * completed), the refunds and disputes of its charges that have some, its
 * active entitlements when the account uses Entitlements, and Stripe's
 * credit balance when it has credit grants.  Network only: no transaction
 * is open meanwhile.  It needs an API key (an error saying so otherwise);
 * a customer Stripe does not know is an error.
 *
 * sync_customer_apply writes what was fetched through the apply path (the
 * same version guard and ledger keys as every other way in), in the
 * caller's write transaction, so the caller can look at the mirror before
 * and after and then commit, or roll back for a dry run.
 */
struct sync_fetched;
struct sync_customer_counts {
	int64_t objects;                /* fetched */
	int64_t changed;                /* written (newer than the mirror) */
	int64_t unchanged;              /* the mirror had it already, or newer */
	int64_t conflicts;              /* same version, other content: marked for refetch */
	int64_t quarantined;            /* could not be read */
	int ledger_entries;             /* entries appended by their effects */
};
int sync_customer_fetch(struct sync *y, const char *customer, struct sync_fetched **out,
                        struct err *e);
int sync_customer_apply(struct sync *y, struct sync_fetched *f, struct sync_customer_counts *n,
                        struct err *e);
void sync_fetched_free(struct sync_fetched *f);         /* NULL is a no-op */

/* The Request-Id of the sync's last API answer ("" for none).  Borrowed
 * until the next call. */
const char *sync_last_request_id(const struct sync *y);

/* What `tally status` and the console's overview show: the sync's state
 * as the mirror holds it.  Reads only; any connection. */
#define SYNC_STATUS_MAX 16
struct sync_status {
	int64_t last_sync_at, last_ingest_at, last_success_at, last_error_at;
	int64_t reconciled_at, pass, pass_done, requests, retries, events_since;
	char last_error[512], last_request_id[64], events_cursor[128];
	int nres;
	struct {
		char name[32], cursor[128];
		int64_t pass, pages, objects, started_at, finished_at;
		int done;
	} res[SYNC_STATUS_MAX];
	int nlogs;
	struct {
		char path[512], kind[16];
		int64_t offset, updated_at;
	} logs[SYNC_STATUS_MAX];
	/* How much the mirror holds. */
	int64_t customers, subscriptions, invoices, events, deliveries, deliveries_failed;
	int64_t ledger_entries, quarantined, refetch_pending;
};
int sync_status(struct store *s, struct sync_status *st, struct err *e);

/* The background thread. */
struct sync_thread;

/* Start a thread that opens its own connection to db_path and runs rounds
 * every cfg->sync_interval seconds (the logs are also polled every second).
 * cfg and cat are borrowed and must outlive the thread. */
int sync_thread_start(const char *db_path, const struct config *cfg, const struct catalog *cat,
                      struct sync_thread **out, struct err *e);

/* A file descriptor that becomes readable whenever the thread has committed
 * something or changed phase; the listener drains it (read until EAGAIN)
 * and re-reads the mirror. */
int sync_thread_fd(const struct sync_thread *t);

/* A copy of the thread's progress, taken under its lock. */
struct sync_snapshot {
	enum sync_phase phase;
	char what[64];
	struct sync_counts counts;
	int64_t rounds;
	int running;                    /* 0 once the thread has ended */
	int fatal;
	char last_error[512];
};
void sync_thread_snapshot(struct sync_thread *t, struct sync_snapshot *out);

/* Ask for a round now (e.g. an operator pressed refresh). */
void sync_thread_kick(struct sync_thread *t);

/* Ask the thread to stop, wait for it to finish its current transaction,
 * and free it.  NULL is a no-op. */
void sync_thread_stop(struct sync_thread *t);

#endif
