/*
 * catalog: what each Stripe price means to the product (SPEC 3.4).
 *
 *   {"unit": "credits",
 *    "plans":  {"price_pro_monthly": {"name": "Pro", "credits_per_period": 100000,
 *                                     "features": ["chat", "api"], "rollover": false,
 *                                     "limits": {"api_tokens": 5000000}}},
 *    "topups": {"price_topup_10k": {"credits": 10000, "expires_after_days": 365}},
 *    "meters": {"api_tokens": {"feature": "api", "credits_per_unit": 1}},
 *    "overage_floor": 0,
 *    "grace": {"past_due_days": 3, "after_period_end_minutes": 60}}
 *
 * Unknown keys are errors that name them with their path; so are wrong types,
 * negative credits, a meter whose feature no plan lists, a limit for an
 * unknown meter.  Loaded once; read-only afterwards, so any thread may read
 * a loaded catalog.
 */
#ifndef TALLY_CATALOG_H
#define TALLY_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct catalog_limit {
	char *meter;
	int64_t limit;          /* units per period */
};

struct catalog_plan {
	char *price;
	char *name;
	int64_t credits_per_period;
	char **features;
	size_t nfeatures;
	int rollover;
	struct catalog_limit *limits;
	size_t nlimits;
};

struct catalog_topup {
	char *price;
	int64_t credits;
	int64_t expires_after_days;     /* 0 = never expires */
};

struct catalog_meter {
	char *name;
	char *feature;
	int64_t credits_per_unit;
};

struct catalog {
	char *unit;                     /* "credits" when absent */
	struct catalog_plan *plans;
	size_t nplans;
	struct catalog_topup *topups;
	size_t ntopups;
	struct catalog_meter *meters;
	size_t nmeters;
	int64_t overage_floor;
	int64_t grace_past_due_days;            /* default 3 */
	int64_t grace_after_period_end_minutes; /* default 60 */
	/* "credit_value": {"currency": "usd", "credits": 100, "minor_units": 1}:
	 * `credits` credits are worth `minor_units` of the currency's minor
	 * unit.  Optional; what an adjustment pushed to Stripe is converted
	 * with (doc/actions.md).  value_currency NULL = not defined. */
	char *value_currency;
	int64_t value_credits, value_minor_units;
};

/* Load from a file.  Errors name the file and the JSON path
 * ("catalog.json: plans.price_pro.credits_per_period: expected an integer"),
 * or line/column for a JSON syntax error. */
int catalog_load(const char *path, struct catalog **out, struct err *e);
/* The same from a buffer; `name` is used in messages. */
int catalog_parse(const char *text, size_t len, const char *name,
                  struct catalog **out, struct err *e);
void catalog_free(struct catalog *c);   /* NULL is a no-op */

/* An empty catalog (no plans): what tally uses when none is configured. */
struct catalog *catalog_new_empty(void);

const struct catalog_plan *catalog_plan(const struct catalog *c, const char *price);
const struct catalog_topup *catalog_topup(const struct catalog *c, const char *price);
const struct catalog_meter *catalog_meter(const struct catalog *c, const char *name);
/* The meter that names this feature (metered feature), or NULL. */
const struct catalog_meter *catalog_meter_for_feature(const struct catalog *c, const char *feature);
int catalog_plan_has_feature(const struct catalog_plan *p, const char *feature);
/* The plan's limit for a meter, or -1 for none. */
int64_t catalog_plan_limit(const struct catalog_plan *p, const char *meter);
/* Credits converted to minor units of value_currency with credit_value:
 * 0 with *minor set when the conversion is exact, 1 when the catalog has
 * no credit_value, 2 when the amount does not convert to a whole number of
 * minor units (or overflows). */
int catalog_credits_to_minor(const struct catalog *c, int64_t credits, int64_t *minor);

/* 1 if any plan lists the feature or any meter names it. */
int catalog_feature_known(const struct catalog *c, const char *feature);

#endif
