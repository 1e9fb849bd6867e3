/*
 * demo: the demo mirror (SPEC 11).
 *
 * `tally demo` builds, deterministically from a seed, a realistic product on
 * Stripe and a mirror of it, with no Stripe key and no network.  It is made
 * the way a real mirror is: the generator (demo-history.c) writes what the
 * product's webhook endpoint and meter would have logged, plus the state of
 * the same account as the fake Stripe API serves it; then demo.c ingests
 * the logs into a fresh mirror through ingest_file/ingest_finish, the path
 * every real delivery takes.  Conditions that only an outside hand can
 * cause (a cached balance edited behind the ledger's back, a sync that last
 * succeeded days ago) are planted after the ingest, each named in the
 * result's `plants` and in doc/demo.md.
 *
 * The directory the files go to holds:
 *   webhooks.log   delivery records and bare events, in the order received
 *   usage.log      meter events, in the order sent
 *   catalog.json   the demo catalog (data/demo-catalog.json, embedded)
 *   state.json     the fake Stripe API's state (tests/lib/fake_stripe.py)
 *   plants.json    what was planted for each drift rule, and where
 *   tally.conf     a configuration naming all of the above and the mirror
 *
 * Everything is a function of (seed, customers, months): the same three give
 * the same bytes in every file and the same mirror.  The history runs from
 * DEMO_START for `months` calendar months; its end is the demo's fixed "now"
 * (result.now), which the mirror records as meta `demo.now`, and which must
 * be TALLY_NOW when the mirror is read, or every period will look long over.
 *
 * One thread; not reentrant with another build into the same directory.
 * demo_build sets TALLY_NOW in the process environment to result.now (the
 * ingest reads its clock there) and leaves it set.
 */
#ifndef TALLY_DEMO_H
#define TALLY_DEMO_H

#include <stdint.h>

#include "err.h"
#include "ingest.h"

#define DEMO_START 1735689600           /* 2025-01-01T00:00:00Z */
#define DEMO_MIN_CUSTOMERS 30           /* room for every planted customer */
#define DEMO_MAX_CUSTOMERS 1000000
#define DEMO_MIN_MONTHS 2
#define DEMO_MAX_MONTHS 36
#define DEMO_MAX_PLANTS 40

/* The demo catalog, data/demo-catalog.json, embedded at build time. */
extern const char demo_catalog_json[];

/* The price the catalog learnt late: ingest runs without it (grant-missing). */
#define DEMO_LATE_PRICE "price_scale_monthly"
#define DEMO_WEBHOOK_SECRET "whsec_tally_demo_5e4f0c2a9b7d41e8a6c3f1d2b0e9a7c5"
#define DEMO_API_KEY "sk_test_tally_demo_0000000000"

struct demo_opts {
	uint64_t seed;
	int customers;          /* DEMO_MIN_CUSTOMERS .. DEMO_MAX_CUSTOMERS */
	int months;             /* DEMO_MIN_MONTHS .. DEMO_MAX_MONTHS */
	const char *dir;        /* created if missing; its demo files are replaced */
	const char *db_path;    /* the mirror to build (replaced); demo_build only */
};

#define DEMO_MAX_ACTIONS 8

/* An operator action the history calls for at a given time (an audit row
 * and its ledger entry, made through actions.h when the mirror is built). */
enum demo_action_kind { DEMO_ACT_REVERSE, DEMO_ACT_ADJUST };
struct demo_action {
	int64_t at;
	enum demo_action_kind kind;
	char operator_name[64];
	char customer[40];
	char entry[160];        /* reverse: the entry's key */
	int64_t amount;         /* adjust: credits */
	char reason[200];
};

/* One planted condition. */
struct demo_plant {
	char rule[32];          /* a SPEC 7 rule id, or "escape-name", "quarantine" */
	char customer[40];      /* the customer it is about; "" for none */
	char subject[80];       /* the object an alert names (invoice, event, delivery...) */
	char detail[300];       /* what was done, in one sentence */
};

struct demo_result {
	int64_t start, now, api_upgrade_at;
	int64_t customers;
	int64_t events;                 /* distinct Stripe events in the history */
	int64_t deliveries;             /* webhook log values (records and bare events) */
	int64_t usage_lines;            /* usage log lines, repeats included */
	int64_t usage_identifiers;
	int64_t webhook_bytes, usage_bytes, state_bytes;
	/* After demo_build: */
	char db_path[4096], dir[4096];  /* absolute */
	struct ingest_counts webhooks, usage;
	int64_t expired;                /* expiries written by ingest_finish */
	int64_t ledger_entries;         /* rows in the mirror's ledger */
	int64_t alerts;                 /* open drift alerts after the final scan */
	double gen_seconds, ingest_seconds;
	struct demo_plant plants[DEMO_MAX_PLANTS];
	int nplants;
	struct demo_action actions[DEMO_MAX_ACTIONS];
	int nactions;
};

/*
 * The history (demo-history.c), written in three steps so that a mirror can
 * follow the logs as they grow, the way a real one does:
 *   demo_history_new        simulates every customer (bodies go to a scratch
 *                           file in o->dir, which must exist), starts
 *                           state.json and empties webhooks.log and
 *                           usage.log; fills r's history fields, plants and
 *                           actions;
 *   demo_history_write_until appends to the logs everything received up to
 *                           time t (flushed: ingest may read it at once);
 *   demo_history_finish     writes the rest, the events of state.json, and
 *                           closes the files.
 * cat is the full demo catalog (the credits of each plan and top-up); it
 * is borrowed until demo_history_free.  0, or -1 with e naming the file.
 */
struct catalog;
struct demo_history;
int demo_history_new(const struct demo_opts *o, const struct catalog *cat,
                     struct demo_result *r, struct demo_history **out, struct err *e);
int demo_history_write_until(struct demo_history *h, int64_t t, struct err *e);
int demo_history_finish(struct demo_history *h, struct err *e);
void demo_history_free(struct demo_history *h);         /* NULL is a no-op */

/* The whole demo: the directory and every file in it, then the mirror at
 * o->db_path (built beside it and renamed into place; an existing file
 * there must be a demo mirror, see demo_check_target).  0, or -1 with e. */
int demo_build(const struct demo_opts *o, struct demo_result *r, struct err *e);

/* 0 when path does not exist or is a demo mirror (meta demo.seed), so it may
 * be replaced; -1 with e saying why not (it is some other file or mirror). */
int demo_check_target(const char *path, struct err *e);

/* The default demo mirror: $XDG_DATA_HOME/tally/demo.db, else
 * ~/.local/share/tally/demo.db, else ./tally-demo.db.  New string. */
char *demo_default_path(void);

/* The directory of a mirror's demo files: the path without a ".db" suffix,
 * plus ".d" (demo.db -> demo.d).  New string. */
char *demo_dir_for(const char *db_path);

#endif
