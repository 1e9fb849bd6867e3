/*
 * test-catalog: the example catalog in data/ loads and its lookups work;
 * defaults; and every error path with its message.  In the hand-written
 * JSON, ' stands for ".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "util.h"
#include "t.h"

static char *
quote(const char *text)
{
	char *s = xstrdup(text), *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return s;
}

static struct catalog *
parse_ok(const char *text, const char *name)
{
	struct catalog *c = NULL;
	struct err e;
	char *s = quote(text);

	err_clear(&e);
	if (!ok(catalog_parse(s, strlen(s), "cat.json", &c, &e) == 0 && c != NULL, "%s parses", name))
		printf("# %s\n", e.msg);
	free(s);
	return c;
}

static void
want_err(const char *text, const char *want)
{
	struct catalog *c = (struct catalog *)1;
	struct err e;
	char *s = quote(text);
	int rc;

	err_clear(&e);
	rc = catalog_parse(s, strlen(s), "cat.json", &c, &e);
	if (!ok(rc < 0 && c == NULL && strcmp(e.msg, want) == 0, "error: %s", want))
		printf("# rc %d, got \"%s\"\n", rc, e.msg);
	free(s);
	catalog_free(rc == 0 ? c : NULL);
}

/* The start of the message only: for jansson's own wording. */
static void
want_err_prefix(const char *text, const char *want, const char *name)
{
	struct catalog *c = NULL;
	struct err e;
	char *s = quote(text);
	int rc;

	err_clear(&e);
	rc = catalog_parse(s, strlen(s), "cat.json", &c, &e);
	if (!ok(rc < 0 && c == NULL && strncmp(e.msg, want, strlen(want)) == 0, "%s: %s...", name, want))
		printf("# rc %d, got \"%s\"\n", rc, e.msg);
	else
		printf("# %s\n", e.msg);
	free(s);
	catalog_free(rc == 0 ? c : NULL);
}

static void
test_example(void)
{
	const char *srcdir = getenv("SRCDIR");
	const struct catalog_plan *p;
	const struct catalog_topup *t;
	const struct catalog_meter *m;
	struct catalog *c = NULL;
	char path[1024];
	struct err e;

	if (srcdir == NULL || *srcdir == '\0') {
		printf("Bail out! SRCDIR is not set: it must name the source tree (with data/)\n");
		exit(99);
	}
	snprintf(path, sizeof path, "%s/data/catalog.example.json", srcdir);
	err_clear(&e);
	if (!ok(catalog_load(path, &c, &e) == 0 && c != NULL, "the example catalog loads")) {
		printf("# %s\n", e.msg);
		return;
	}
	is_str(c->unit, "credits", "unit");
	is_int(c->nplans, 4, "four plans");
	is_int(c->ntopups, 2, "two top-ups");
	is_int(c->nmeters, 2, "two meters");
	is_int(c->overage_floor, 0, "overage_floor");
	is_int(c->grace_past_due_days, 3, "grace past_due_days");
	is_int(c->grace_after_period_end_minutes, 60, "grace after_period_end_minutes");
	is_str(c->plans[0].price, "price_starter_monthly", "plans keep the file's order");

	p = catalog_plan(c, "price_pro_monthly");
	ok(p != NULL, "price_pro_monthly is a plan");
	if (p != NULL) {
		is_str(p->name, "Pro", "pro name");
		is_int(p->credits_per_period, 100000, "pro credits_per_period");
		is_int(p->rollover, 0, "pro does not roll over");
		ok(catalog_plan_has_feature(p, "api"), "pro has api");
		ok(catalog_plan_has_feature(p, "images"), "pro has images");
		ok(!catalog_plan_has_feature(p, "sso"), "pro lacks sso");
		ok(!catalog_plan_has_feature(p, NULL), "NULL feature is not a feature");
		is_int(catalog_plan_limit(p, "api_tokens"), 5000000, "pro api_tokens limit");
		is_int(catalog_plan_limit(p, "images"), 500, "pro images limit");
		is_int(catalog_plan_limit(p, "nothing"), -1, "no limit for an unknown meter");
	}
	p = catalog_plan(c, "price_pro_yearly");
	ok(p != NULL && p->credits_per_period == 1200000, "yearly pro grants a year's credits");
	p = catalog_plan(c, "price_team_monthly");
	ok(p != NULL, "price_team_monthly is a plan");
	if (p != NULL) {
		is_int(p->rollover, 1, "team rolls over");
		is_int(p->nlimits, 0, "team has no limits");
		is_int(catalog_plan_limit(p, "api_tokens"), -1, "team: no api_tokens limit");
		ok(catalog_plan_has_feature(p, "sso"), "team has sso");
	}
	ok(catalog_plan(c, "price_topup_10k") == NULL, "a top-up is not a plan");
	ok(catalog_plan(c, "price_nope") == NULL, "unknown price is not a plan");
	ok(catalog_plan(c, NULL) == NULL, "NULL price is not a plan");

	t = catalog_topup(c, "price_topup_10k");
	ok(t != NULL && t->credits == 10000 && t->expires_after_days == 365, "top-up 10k");
	t = catalog_topup(c, "price_topup_100k");
	ok(t != NULL && t->credits == 100000, "top-up 100k");
	ok(catalog_topup(c, "price_pro_monthly") == NULL, "a plan is not a top-up");

	m = catalog_meter(c, "api_tokens");
	ok(m != NULL, "meter api_tokens");
	if (m != NULL) {
		is_str(m->feature, "api", "api_tokens meters api");
		is_int(m->credits_per_unit, 1, "api_tokens credits_per_unit");
	}
	m = catalog_meter_for_feature(c, "images");
	ok(m != NULL && strcmp(m->name, "images") == 0 && m->credits_per_unit == 40, "images is metered");
	ok(catalog_meter_for_feature(c, "chat") == NULL, "chat is not metered");
	ok(catalog_meter(c, "chat") == NULL, "no meter named chat");

	ok(catalog_feature_known(c, "chat"), "chat is known");
	ok(catalog_feature_known(c, "shared_workspaces"), "shared_workspaces is known");
	ok(catalog_feature_known(c, "images"), "images is known");
	ok(!catalog_feature_known(c, "teleport"), "teleport is not known");
	catalog_free(c);
}

static void
test_defaults(void)
{
	const struct catalog_plan *p;
	struct catalog *c;

	c = catalog_new_empty();
	is_str(c->unit, "credits", "empty: unit");
	is_int(c->nplans + c->ntopups + c->nmeters, 0, "empty: nothing");
	is_int(c->grace_past_due_days, 3, "empty: grace days");
	is_int(c->grace_after_period_end_minutes, 60, "empty: grace minutes");
	ok(catalog_plan(c, "price_x") == NULL, "empty: no plan");
	ok(!catalog_feature_known(c, "api"), "empty: no feature");
	catalog_free(c);
	catalog_free(NULL);
	ok(1, "catalog_free(NULL) is a no-op");

	c = parse_ok("{}", "an empty object");
	if (c != NULL) {
		is_str(c->unit, "credits", "{}: unit defaults to credits");
		is_int(c->overage_floor, 0, "{}: overage_floor 0");
		is_int(c->grace_past_due_days, 3, "{}: grace past_due_days 3");
		is_int(c->grace_after_period_end_minutes, 60, "{}: grace after_period_end_minutes 60");
		is_int(c->nplans, 0, "{}: no plans");
	}
	catalog_free(c);

	c = parse_ok("{'unit':'tokens','overage_floor':-500,'grace':{'past_due_days':7},"
	             "'plans':{'price_basic':{},'price_api':{'features':['api']}},"
	             "'topups':{'price_t':{'credits':5}},'meters':{'calls':{'feature':'api'}}}",
	             "a sparse catalog");
	if (c != NULL) {
		is_str(c->unit, "tokens", "sparse: unit");
		is_int(c->overage_floor, -500, "sparse: a negative floor allows overage");
		is_int(c->grace_past_due_days, 7, "sparse: grace days");
		is_int(c->grace_after_period_end_minutes, 60, "sparse: grace minutes default");
		p = catalog_plan(c, "price_basic");
		ok(p != NULL, "sparse: empty plan");
		if (p != NULL) {
			is_str(p->name, "price_basic", "sparse: name defaults to the price");
			is_int(p->credits_per_period, 0, "sparse: credits default 0");
			is_int(p->rollover, 0, "sparse: rollover default false");
			is_int(p->nfeatures, 0, "sparse: no features");
			is_int(p->nlimits, 0, "sparse: no limits");
		}
		ok(catalog_topup(c, "price_t") != NULL && catalog_topup(c, "price_t")->expires_after_days == 0,
		   "sparse: top-up never expires by default");
		ok(catalog_meter(c, "calls") != NULL && catalog_meter(c, "calls")->credits_per_unit == 1,
		   "sparse: credits_per_unit defaults to 1");
	}
	catalog_free(c);
}

static void
test_errors(void)
{
	/* Syntax: file, line and column. */
	want_err_prefix("{\n  'unit': 'credits',\n  'plans': {,}\n}", "cat.json:3:13: invalid JSON: ",
	                "syntax error");
	want_err_prefix("{'unit': 'credits', 'unit': 'tokens'}", "cat.json:1:", "duplicate key");
	want_err_prefix("", "cat.json:", "empty file");
	want_err_prefix("{'overage_floor': 99999999999999999999}", "cat.json:1:", "integer too big");

	/* Shape and unknown keys. */
	want_err("[]", "cat.json: expected a JSON object at the top level");
	want_err("{'plan':{}}",
	         "cat.json: plan: unknown key (known: unit, plans, topups, meters, overage_floor, grace, "
	         "credit_value)");
	want_err("{'plans':{'price_pro':{'credit':5}}}",
	         "cat.json: plans.price_pro.credit: unknown key "
	         "(known: name, credits_per_period, features, rollover, limits)");
	want_err("{'topups':{'price_t':{'credits':5,'expires':3}}}",
	         "cat.json: topups.price_t.expires: unknown key (known: credits, expires_after_days)");
	want_err("{'meters':{'m':{'feature':'api','unit':'x'}}}",
	         "cat.json: meters.m.unit: unknown key (known: feature, credits_per_unit)");
	want_err("{'grace':{'days':3}}",
	         "cat.json: grace.days: unknown key (known: past_due_days, after_period_end_minutes)");

	/* Types. */
	want_err("{'unit':3}", "cat.json: unit: expected a non-empty string");
	want_err("{'unit':''}", "cat.json: unit: expected a non-empty string");
	want_err("{'plans':[]}", "cat.json: plans: expected an object");
	want_err("{'topups':'none'}", "cat.json: topups: expected an object");
	want_err("{'meters':null}", "cat.json: meters: expected an object");
	want_err("{'grace':3}", "cat.json: grace: expected an object");
	want_err("{'overage_floor':'0'}", "cat.json: overage_floor: expected an integer");
	want_err("{'plans':{'price_pro':5}}", "cat.json: plans.price_pro: expected an object");
	want_err("{'plans':{'price_pro':{'name':null}}}", "cat.json: plans.price_pro.name: expected a non-empty string");
	want_err("{'plans':{'price_pro':{'credits_per_period':'100'}}}",
	         "cat.json: plans.price_pro.credits_per_period: expected an integer");
	want_err("{'plans':{'price_pro':{'credits_per_period':1.5}}}",
	         "cat.json: plans.price_pro.credits_per_period: expected an integer");
	want_err("{'plans':{'price_pro':{'rollover':'no'}}}",
	         "cat.json: plans.price_pro.rollover: expected true or false");
	want_err("{'plans':{'price_pro':{'features':'api'}}}",
	         "cat.json: plans.price_pro.features: expected an array of strings");
	want_err("{'plans':{'price_pro':{'features':['chat','']}}}",
	         "cat.json: plans.price_pro.features[1]: expected a non-empty string");
	want_err("{'plans':{'price_pro':{'features':['chat',7]}}}",
	         "cat.json: plans.price_pro.features[1]: expected a non-empty string");
	want_err("{'plans':{'price_pro':{'features':['chat','api','chat']}}}",
	         "cat.json: plans.price_pro.features[2]: 'chat' is listed twice");
	want_err("{'plans':{'price_pro':{'limits':[]}}}", "cat.json: plans.price_pro.limits: expected an object");
	want_err("{'plans':{'price_pro':{'features':['api'],'limits':{'tok':'lots'}}},"
	         "'meters':{'tok':{'feature':'api'}}}",
	         "cat.json: plans.price_pro.limits.tok: expected an integer");
	want_err("{'topups':{'price_t':[]}}", "cat.json: topups.price_t: expected an object");
	want_err("{'topups':{'price_t':{'credits':true}}}", "cat.json: topups.price_t.credits: expected an integer");
	want_err("{'meters':{'tok':{'feature':['api']}}}", "cat.json: meters.tok.feature: expected a non-empty string");
	want_err("{'meters':{'tok':'api'}}", "cat.json: meters.tok: expected an object");
	want_err("{'grace':{'past_due_days':'3'}}", "cat.json: grace.past_due_days: expected an integer");

	/* Missing and negative. */
	want_err("{'topups':{'price_t':{}}}", "cat.json: topups.price_t.credits: missing");
	want_err("{'meters':{'tok':{'credits_per_unit':1}}}", "cat.json: meters.tok.feature: missing");
	want_err("{'plans':{'price_pro':{'credits_per_period':-5}}}",
	         "cat.json: plans.price_pro.credits_per_period: must be >= 0, not -5");
	want_err("{'topups':{'price_t':{'credits':-1}}}", "cat.json: topups.price_t.credits: must be >= 0, not -1");
	want_err("{'topups':{'price_t':{'credits':1,'expires_after_days':-30}}}",
	         "cat.json: topups.price_t.expires_after_days: must be >= 0, not -30");
	want_err("{'plans':{'p':{'features':['api']}},'meters':{'tok':{'feature':'api','credits_per_unit':-2}}}",
	         "cat.json: meters.tok.credits_per_unit: must be >= 0, not -2");
	want_err("{'plans':{'p':{'features':['api'],'limits':{'tok':-1}}},'meters':{'tok':{'feature':'api'}}}",
	         "cat.json: plans.p.limits.tok: must be >= 0, not -1");
	want_err("{'grace':{'after_period_end_minutes':-60}}",
	         "cat.json: grace.after_period_end_minutes: must be >= 0, not -60");
	want_err("{'plans':{'':{}}}", "cat.json: plans: a price id is empty");
	want_err("{'topups':{'':{'credits':1}}}", "cat.json: topups: a price id is empty");
	want_err("{'meters':{'':{'feature':'x'}}}", "cat.json: meters: a meter name is empty");

	/* Cross references. */
	want_err("{'plans':{'price_pro':{'features':['chat']}},'meters':{'api_tokens':{'feature':'api'}}}",
	         "cat.json: meters.api_tokens.feature: 'api' is not listed by any plan");
	want_err("{'plans':{'price_pro':{'features':['api'],'limits':{'bogus':10}}},"
	         "'meters':{'api_tokens':{'feature':'api'}}}",
	         "cat.json: plans.price_pro.limits.bogus: 'bogus' is not a meter");
	want_err("{'plans':{'price_x':{}},'topups':{'price_x':{'credits':1}}}",
	         "cat.json: price 'price_x' is both a plan and a top-up");
	want_err("{'plans':{'p':{'features':['api']}},"
	         "'meters':{'a':{'feature':'api'},'b':{'feature':'api'}}}",
	         "cat.json: meters.b.feature: 'api' is already metered by 'a'");
}

static void
test_load_errors(void)
{
	const char *dir = t_dir();
	struct catalog *c = NULL;
	char path[512], want[600];
	struct err e;
	FILE *f;

	snprintf(path, sizeof path, "%s/missing.json", dir);
	err_clear(&e);
	ok(catalog_load(path, &c, &e) < 0 && c == NULL, "a missing file fails");
	snprintf(want, sizeof want, "%s: cannot open the catalog: No such file or directory", path);
	is_str(e.msg, want, "missing file message");

	snprintf(path, sizeof path, "%s/bad.json", dir);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs("{\n  \"plans\": {\n    \"price_pro\": {\"credits_per_period\": 10,}\n  }\n}\n", f);
		fclose(f);
	}
	err_clear(&e);
	ok(catalog_load(path, &c, &e) < 0 && c == NULL, "a bad file fails");
	snprintf(want, sizeof want, "%s:3:", path);
	ok(strncmp(e.msg, want, strlen(want)) == 0, "bad file message names the file and line: %s", e.msg);

	snprintf(path, sizeof path, "%s/neg.json", dir);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs("{\"topups\": {\"price_t\": {\"credits\": -10}}}\n", f);
		fclose(f);
	}
	err_clear(&e);
	ok(catalog_load(path, &c, &e) < 0 && c == NULL, "a wrong file fails");
	snprintf(want, sizeof want, "%s: topups.price_t.credits: must be >= 0, not -10", path);
	is_str(e.msg, want, "wrong file message names the file and path");

	remove(path);
	snprintf(path, sizeof path, "%s/bad.json", dir);
	remove(path);
	remove(dir);
}

/* credit_value: what credits are worth, for pushed adjustments. */
static void
test_credit_value(void)
{
	struct catalog *c;
	int64_t m = 0;

	c = parse_ok("{'credit_value':{'currency':'usd','credits':100,'minor_units':1}}",
	    "credit_value");
	if (c != NULL) {
		ok(catalog_credits_to_minor(c, 500, &m) == 0 && m == 5, "500 credits = 5 cents");
		ok(catalog_credits_to_minor(c, -300, &m) == 0 && m == -3, "-300 credits = -3 cents");
		ok(catalog_credits_to_minor(c, 250, &m) == 2, "250 credits is not whole cents");
		ok(catalog_credits_to_minor(c, INT64_MAX, &m) == 2, "an amount that does not divide");
		catalog_free(c);
	}
	c = parse_ok("{'credit_value':{'currency':'eur','credits':1,'minor_units':5}}", "5 cents a credit");
	if (c != NULL) {
		ok(catalog_credits_to_minor(c, 7, &m) == 0 && m == 35, "7 credits = 35 cents");
		ok(catalog_credits_to_minor(c, INT64_MAX, &m) == 2, "overflow is refused");
		catalog_free(c);
	}
	c = parse_ok("{}", "no credit_value");
	if (c != NULL) {
		ok(catalog_credits_to_minor(c, 100, &m) == 1, "no credit_value: no conversion");
		catalog_free(c);
	}
	want_err("{'credit_value':{'currency':'USD','credits':1,'minor_units':1}}",
	         "cat.json: credit_value.currency: expected a three-letter ISO currency code in "
	         "lower case, like \"usd\"");
	want_err("{'credit_value':{'currency':'usd','credits':0,'minor_units':1}}",
	         "cat.json: credit_value.credits: must be >= 1, not 0");
	want_err("{'credit_value':{'currency':'usd','credits':1}}",
	         "cat.json: credit_value.minor_units: missing");
	want_err("{'credit_value':{'currency':'usd','credits':1,'minor_units':1,'rate':2}}",
	         "cat.json: credit_value.rate: unknown key (known: currency, credits, minor_units)");
}

int
main(void)
{
	test_example();
	test_defaults();
	test_errors();
	test_load_errors();
	test_credit_value();
	return t_done();
}
