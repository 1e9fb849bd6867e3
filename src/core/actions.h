/*
 * actions: the operator's actions on the mirror (SPEC 9): adjust credits,
 * reverse an entry, resync a customer, replay a webhook.  Both front ends
 * (the command line's cmd-adjust.c ... and the console's action table) are
 * thin clients of this file, so an action previews, confirms, applies and
 * audits the same way wherever it is started.
 *
 * Each action is split in two:
 *
 *   actions_X_preview   reads the mirror and says exactly what would
 *                       happen: the ledger rows, the balance before and
 *                       after, the HTTP request (method, URL, form or raw
 *                       body, Idempotency-Key, Stripe-Signature; never the
 *                       API key), what the operator must confirm (nothing,
 *                       y/N, or a typed text), or why it is a no-op or is
 *                       refused.  It writes nothing.
 *   actions_X_apply     does it: decides again inside its own write
 *                       transaction (the state may have moved since the
 *                       preview), appends the ledger rows and exactly one
 *                       audit row for the attempt, and calls Stripe or the
 *                       webhook endpoint outside any transaction.
 *
 * The caller asks for the confirmation in between (a dialog, a y/N prompt,
 * a typed text, --yes); a declined one is recorded with
 * actions_record_declined.  Nothing is ever updated or deleted: the ledger
 * and the audit log are append-only, and a pushed adjustment's later
 * outcome is a new audit row under the same key.  doc/actions.md has the
 * whole contract, including how a pending push is represented and
 * resolved.
 *
 * Threads: every function runs on the caller's thread with the caller's
 * store (doc/threading.md).  Those that reach the network (a push, a
 * replay, a resync) open their own API client for the call, hold no
 * transaction while waiting, and block up to the client's timeouts;
 * env->stop ends the wait early.  Read-only mode (cfg->read_only) makes
 * every apply refuse without writing.
 */
#ifndef TALLY_ACTIONS_H
#define TALLY_ACTIONS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "err.h"
#include "store.h"
#include "sync.h"
#include "util.h"

struct action_env {
	struct store *s;                /* the caller's connection, on its thread */
	const struct config *cfg;       /* borrowed: operator, read_only, adjust_cap, key, ... */
	const struct catalog *cat;      /* borrowed; never NULL (an empty one without a catalog) */
	const atomic_int *stop;         /* may be NULL */
};

enum action_kind { ACTION_ADJUST, ACTION_REVERSE, ACTION_RESYNC, ACTION_REPLAY };
const char *action_kind_name(enum action_kind k);       /* "adjust", ... */

/* An attempt's result, as the audit row records it. */
enum action_result { ACTION_OK, ACTION_NOOP, ACTION_REFUSED, ACTION_FAILED, ACTION_PENDING };
const char *action_result_name(enum action_result r);   /* "ok", "noop", ... */

enum action_confirm {
	ACTION_CONFIRM_NONE,            /* nothing to confirm (a no-op, a refusal, a resync) */
	ACTION_CONFIRM_YES,             /* a y/N question */
	ACTION_CONFIRM_TYPED            /* the operator types confirm_text */
};

enum action_push { ACTION_PUSH_NONE, ACTION_PUSH_BALANCE, ACTION_PUSH_GRANT };
const char *action_push_name(enum action_push p);       /* "none", "balance", "grant" */
/* "none", "balance" or "grant" into *out: 0, or -1 for another word. */
int action_push_parse(const char *s, enum action_push *out);

/* Why a preview refuses: what was asked (exit 2 on the command line) or
 * the state of the mirror (exit 1: not found, already reversed). */
enum action_refusal { ACTION_REFUSED_INPUT = 1, ACTION_REFUSED_STATE = 2 };

#define ACTION_MAX_ROWS 2
#define ACTION_MAX_NOTES 8

struct action_row {                     /* a ledger entry the action appends */
	char key[320];
	char kind[16];
	char customer[256];
	int64_t amount;
	char ref[320];                  /* "" for none */
};

struct action_http {                    /* the exact request, without the key */
	char method[8];
	char url[1280];
	char idem_key[320];             /* Idempotency-Key; "" for none */
	char signature[160];            /* Stripe-Signature of a replay; "" otherwise */
	char content_type[64];
	char *body;                     /* owned by the preview; NUL-terminated */
	size_t bodylen;
};

struct action_preview {
	enum action_kind kind;
	char target[320];               /* customer, entry key, event id */
	char customer[256];             /* "" when none */
	char idem_key[320];             /* the key the action runs under */
	int key_derived;                /* adjust: the key was derived (no --key) */
	char summary[512];              /* one line: what the action does */
	int refused;                    /* an enum action_refusal, 0 when not refused */
	int noop;                       /* already done: nothing would change */
	char why[600];                  /* why refused or a no-op */
	int has_balance;
	int64_t balance_before, balance_after;
	char unit[32];
	int nrows;
	struct action_row rows[ACTION_MAX_ROWS];
	int has_http;
	struct action_http http;
	char state[512];                /* replay: what tally's own state would do */
	enum action_confirm confirm;
	char confirm_text[320];         /* for ACTION_CONFIRM_TYPED */
	char confirm_why[256];          /* why it is typed */
	int nnotes;
	char notes[ACTION_MAX_NOTES][400];
	int64_t count;                  /* a bulk replay: how many events */
};
/* Free what a preview owns (the body); the struct may be filled again. */
void action_preview_done(struct action_preview *pv);

/* The preview as plain lines for a person, outside text cleaned (no
 * control characters): the same text on the command line and in the
 * console's dialog.  Appends to b. */
void action_preview_render(const struct action_preview *pv, struct buf *b);

#define ACTION_MAX_FEATURES 24
#define ACTION_MAX_ENTRIES 16

/* What a resync changed. */
struct action_resync_report {
	struct sync_customer_counts counts;
	int nentries;                   /* ledger entries appended (the first
	                                   ACTION_MAX_ENTRIES are listed) */
	struct action_row entries[ACTION_MAX_ENTRIES];
	int nfeatures;                  /* the catalog's features, access before and after */
	struct {
		char feature[64];
		int before, after;      /* 1 allow, 0 deny */
		char reason_before[48], reason_after[48];
	} features[ACTION_MAX_FEATURES];
	int drift_checked;              /* 1: the customer's alerts were re-evaluated */
	int nalerts;                    /* alerts that opened, reopened or resolved */
	char alerts[8][300];            /* the first of them: "opened rule subject: summary" */
};

struct action_outcome {
	enum action_result result;
	int refused;                    /* an enum action_refusal when refused */
	char message[1200];             /* one line (or two) for the operator */
	int64_t audit_id;               /* the last audit row written; 0 for none */
	int has_balance;
	int64_t balance_before, balance_after;
	int entries;                    /* ledger entries appended, expiry corrections included */
	char entry_key[320];
	int64_t entry_seq;
	char request_id[64];            /* Stripe's Request-Id when Stripe was called */
	char object_id[128];            /* what Stripe created or confirmed (cbtxn_, credgr_) */
	long http_status;               /* a push or replay: the answer's status; 0 none */
	int64_t latency_ms;
	char response[257];             /* a replay: the first bytes of the answer */
	int64_t delivery_id;            /* a replay: the delivery row recorded */
	char dkey[320];
	struct action_resync_report resync;
};

/* ---- adjust ------------------------------------------------------------ */

struct action_adjust {
	const char *customer;
	int64_t amount;                 /* signed, in the catalog's unit; not 0 */
	const char *reason;             /* required */
	const char *key;                /* NULL: derived from customer, amount, reason and operator */
	enum action_push push;
};

/* The key an adjustment runs under when no --key is given:
 * "<customer>:<amount>:<12 hex of SHA-256 over customer, amount, reason,
 * operator>", without the "adjust:" prefix.  Deterministic, so a retried
 * submission lands on the same entry.  Writes into out (>= 300 bytes). */
void actions_adjust_key(const char *customer, int64_t amount, const char *reason,
                        const char *operator_name, char *out, size_t outsz);

int actions_adjust_preview(const struct action_env *env, const struct action_adjust *r,
                           struct action_preview *pv, struct err *e);
int actions_adjust_apply(const struct action_env *env, const struct action_adjust *r,
                         struct action_outcome *out, struct err *e);

/* ---- reverse ----------------------------------------------------------- */

struct action_reverse {
	const char *entry;              /* a seq number or an entry key */
	const char *reason;             /* required */
};
int actions_reverse_preview(const struct action_env *env, const struct action_reverse *r,
                            struct action_preview *pv, struct err *e);
int actions_reverse_apply(const struct action_env *env, const struct action_reverse *r,
                          struct action_outcome *out, struct err *e);

/* ---- resync ------------------------------------------------------------ */

struct action_resync {
	const char *customer;
	const char *reason;             /* may be NULL */
	int dry_run;                    /* fetch and apply, report, then roll back */
};
/* No network: the requests a resync makes.  Resync only reads from Stripe
 * and applies what sync would, so it asks for no confirmation. */
int actions_resync_preview(const struct action_env *env, const struct action_resync *r,
                           struct action_preview *pv, struct err *e);
/* Fetch, apply in one transaction, report (out->resync), audit; a dry run
 * rolls back and audits nothing. */
int actions_resync_run(const struct action_env *env, const struct action_resync *r,
                       struct action_outcome *out, struct err *e);

/* ---- replay ------------------------------------------------------------ */

struct action_replay {
	const char *target;             /* a delivery id (digits) or an event id */
	const char *to_url;             /* NULL: cfg->webhook_endpoint_url */
	int via_stripe;                 /* POST /v1/events/{id}/retry instead */
	const char *reason;             /* may be NULL */
};
int actions_replay_preview(const struct action_env *env, const struct action_replay *r,
                           struct action_preview *pv, struct err *e);
int actions_replay_apply(const struct action_env *env, const struct action_replay *r,
                         struct action_outcome *out, struct err *e);

/* Bulk: the stored events that have a failed delivery (received at or
 * after `since`, 0 = any) and no successful one, of `type` (NULL = any; a
 * trailing '*' matches a prefix), oldest first. */
struct action_replay_filter {
	int64_t since;
	const char *type;
};
/* The preview of a bulk replay (count, the first few events, the request
 * each one gets, the rate) and the event ids (*ids, a new array of new
 * strings the caller frees with actions_ids_free). */
int actions_replay_bulk_preview(const struct action_env *env, const struct action_replay_filter *f,
                                const struct action_replay *tmpl, struct action_preview *pv,
                                char ***ids, size_t *nids, struct err *e);
void actions_ids_free(char **ids, size_t n);
/* Wait until the next send is allowed at cfg->replay_rate per second
 * (call before each one; *next is 0 before the first).  Returns -1 when
 * env->stop was set. */
int actions_replay_pace(const struct action_env *env, int64_t *next_ms);

/* ---- a drift repair that resyncs ---------------------------------------- */

struct drift;
struct drift_alert;
struct drift_repair;

/* The repair of alert a whose plan (drift_repair_run) is a resync of its
 * customer, for both front ends: fetch the customer's objects (no
 * transaction open meanwhile, env->stop ends the wait), then
 * drift_repair_resynced: apply, re-check and audit in one transaction,
 * rolled back with DRIFT_DRY.  A failed fetch is audited as a failed
 * repair (not on a dry run) and returned as an error naming the customer.
 * *n (may be NULL) counts what was fetched.  0 or -1. */
int actions_repair_resync(const struct action_env *env, struct drift *d,
                          const struct drift_alert *a, const char *reason, int flags,
                          struct drift_repair *r, struct sync_customer_counts *n,
                          struct err *e);

/* ---- shared ------------------------------------------------------------ */

/* Record one audit row with result "refused" for an attempt the operator
 * declined (or could not confirm), from its preview. */
int actions_record_declined(const struct action_env *env, const struct action_preview *pv,
                            const char *reason, const char *why, struct action_outcome *out,
                            struct err *e);

#endif
