/*
 * config: tally's settings, from three layers, each overriding the last:
 *   1. the configuration file (--config, else $TALLY_CONFIG, else
 *      ~/.config/tally/config; a missing default file is not an error, a
 *      missing named one is);
 *   2. the environment: TALLY_DB, TALLY_CATALOG, TALLY_OPERATOR,
 *      STRIPE_API_KEY (or STRIPE_API_KEY_FILE, which must not be readable by
 *      group or others), STRIPE_WEBHOOK_SECRET (comma-separated whsec_...),
 *      STRIPE_API_BASE;
 *   3. flags, which the command line sets on the struct after config_load.
 *
 * The file is "key = value" lines; '#' starts a comment; blank lines are
 * ignored; list keys (webhook_log, usage_log, webhook_secret) may repeat.
 * An unknown key or a bad value is an error naming file:line and the key.
 * Secrets are never printed: use config_describe for display, which masks
 * them.  See doc/tally.conf.5.
 */
#ifndef TALLY_CONFIG_H
#define TALLY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct strlist {
	char **v;
	size_t n;
};
void strlist_add(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

struct config {
	char *db_path;                  /* default: ~/.local/share/tally/mirror.db */
	char *catalog_path;             /* NULL = no catalog */
	struct strlist webhook_logs;
	struct strlist usage_logs;
	char *api_key;                  /* secret */
	struct strlist webhook_secrets; /* secrets */
	char *api_base;                 /* default https://api.stripe.com */
	char *stripe_version;           /* default "2026-07-29.dahlia" */
	char *operator_name;            /* default $USER */
	int read_only;
	int64_t webhook_tolerance;      /* seconds, default 300; 0 disables */
	int64_t max_value_bytes;        /* log value cap, default 4 MiB */
	int64_t stale_after;            /* seconds before the mirror is stale, default 900 */
	int64_t sync_interval;          /* seconds between event catch-ups, default 60 */
	int64_t reconcile_interval;     /* seconds between full reconciliations, default 21600 */
	double rate_limit;              /* Stripe requests per second, default 20 */
	int64_t adjust_cap;             /* credits above which confirmation is typed, default 100000 */
	/* Operator actions (doc/actions.md). */
	char *webhook_endpoint_url;     /* where `tally replay` re-delivers; NULL = --to only */
	char *webhook_endpoint_id;      /* we_...: the endpoint `replay --via-stripe` names */
	double replay_rate;             /* replays per second in a bulk replay, default 2 */
	/* Drift rule thresholds (doc/drift.md). */
	int64_t webhook_failed_after;   /* seconds a failed delivery may wait for a later
	                                   success, default 3600 */
	int64_t subscription_stale_after; /* seconds a subscription may go unrefreshed, default 86400 */
	int64_t out_of_order_window;    /* seconds an out-of-order event stays an alert, default 86400 */
	char *source;                   /* the file read, or NULL */
};

/* Defaults, then the file (path may be NULL for the default location), then
 * the environment.  On error the struct is left usable (defaults). */
int config_load(struct config *c, const char *path, struct err *e);
void config_init(struct config *c);     /* defaults only */
void config_done(struct config *c);

/* Parse file contents (name is used in messages).  Exposed for tests and fuzzing. */
int config_parse(struct config *c, const char *text, size_t len, const char *name,
                 struct err *e);

/* 1 when the API key is a live-mode key (sk_live_, rk_live_). */
int config_is_live(const struct config *c);

struct buf;
/* Append the settings to b in the file's "key = value" form, secrets masked
 * with secret_mask, for display.  Reads c only; any thread. */
void config_describe(const struct config *c, struct buf *b);

#endif
