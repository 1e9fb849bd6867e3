/*
 * catalog: the plan catalog file (SPEC 3.4) parsed into plain structs.  See
 * catalog.h for the shape.
 *
 * The parser is strict, because a typo in a catalog silently changes what
 * customers are granted: every key is known, every value has its type, and
 * the cross references (a meter's feature, a plan's limits) are checked once
 * the whole file is read.  Every message names the file and the JSON path
 * ("catalog.json: plans.price_pro.credits_per_period: expected an integer"),
 * or the line and column of a syntax error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"
#include "util.h"

#define CATALOG_MAX_BYTES (16u << 20)

/* The file being parsed, for messages. */
struct cparse {
	const char *name;
	struct err *e;
};

static int __attribute__((format(printf, 3, 4)))
cat_fail(struct cparse *cp, const char *path, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (*path == '\0')
		return err_set(cp->e, "%s: %s", cp->name, what);
	return err_set(cp->e, "%s: %s: %s", cp->name, path, what);
}

/* A JSON path for messages; a path too long for out ends in "...". */
static void __attribute__((format(printf, 3, 4)))
path_fmt(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= outsz && outsz > 4)
		memcpy(out + outsz - 4, "...", 4);
}

static void
path_key(char *out, size_t outsz, const char *path, const char *key)
{
	path_fmt(out, outsz, "%s%s%s", path, *path != '\0' ? "." : "", key);
}

/* Every key of o must be in allowed (NULL-terminated). */
static int
check_keys(struct cparse *cp, const json_t *o, const char *path, const char *const *allowed)
{
	char where[512], list[256];
	const char *key;
	const json_t *v;
	size_t i, n;

	json_object_foreach((json_t *)o, key, v) {
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(allowed[i], key) == 0)
				break;
		}
		if (allowed[i] != NULL)
			continue;
		list[0] = '\0';
		for (i = 0, n = 0; allowed[i] != NULL && n < sizeof list; i++)
			n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
		path_key(where, sizeof where, path, key);
		return cat_fail(cp, where, "unknown key (known: %s)", list);
	}
	return 0;
}

static int
get_object(struct cparse *cp, const json_t *o, const char *path, const char *key,
           const json_t **out)
{
	char where[512];

	*out = json_object_get(o, key);
	if (*out == NULL || json_is_object(*out))
		return 0;
	path_key(where, sizeof where, path, key);
	return cat_fail(cp, where, "expected an object");
}

/* An integer >= min; *out is left alone when the key is absent. */
static int
get_int(struct cparse *cp, const json_t *o, const char *path, const char *key, int req,
        int64_t min, int64_t *out)
{
	const json_t *v = json_object_get(o, key);
	char where[512];
	int64_t n;

	path_key(where, sizeof where, path, key);
	if (v == NULL)
		return req ? cat_fail(cp, where, "missing") : 0;
	if (!json_is_integer(v))
		return cat_fail(cp, where, "expected an integer");
	n = (int64_t)json_integer_value(v);
	if (n < min)
		return cat_fail(cp, where, "must be >= %lld, not %lld", (long long)min, (long long)n);
	*out = n;
	return 0;
}

static int
get_bool(struct cparse *cp, const json_t *o, const char *path, const char *key, int *out)
{
	const json_t *v = json_object_get(o, key);
	char where[512];

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		path_key(where, sizeof where, path, key);
		return cat_fail(cp, where, "expected true or false");
	}
	*out = json_is_true(v);
	return 0;
}

/* A non-empty string, copied; *out is left alone when the key is absent. */
static int
get_str(struct cparse *cp, const json_t *o, const char *path, const char *key, int req,
        char **out)
{
	const json_t *v = json_object_get(o, key);
	char where[512];

	path_key(where, sizeof where, path, key);
	if (v == NULL)
		return req ? cat_fail(cp, where, "missing") : 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return cat_fail(cp, where, "expected a non-empty string");
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static const char *const plan_keys[] = {
	"name", "credits_per_period", "features", "rollover", "limits", NULL
};

static int
parse_plan(struct cparse *cp, const char *price, const json_t *o, struct catalog_plan *p)
{
	char path[512], where[600];
	const json_t *features, *limits, *v;
	const char *key;
	size_t i, j;

	path_key(path, sizeof path, "plans", price);
	p->price = xstrdup(price);
	if (!json_is_object(o))
		return cat_fail(cp, path, "expected an object");
	if (check_keys(cp, o, path, plan_keys) < 0 ||
	    get_str(cp, o, path, "name", 0, &p->name) < 0 ||
	    get_int(cp, o, path, "credits_per_period", 0, 0, &p->credits_per_period) < 0 ||
	    get_bool(cp, o, path, "rollover", &p->rollover) < 0 ||
	    get_object(cp, o, path, "limits", &limits) < 0)
		return -1;
	if (p->name == NULL)
		p->name = xstrdup(price);
	features = json_object_get(o, "features");
	if (features != NULL && !json_is_array(features)) {
		path_key(where, sizeof where, path, "features");
		return cat_fail(cp, where, "expected an array of strings");
	}
	p->features = xcalloc(json_array_size(features) + 1, sizeof *p->features);
	for (i = 0; i < json_array_size(features); i++) {
		v = json_array_get(features, i);
		path_fmt(where, sizeof where, "%s.features[%zu]", path, i);
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return cat_fail(cp, where, "expected a non-empty string");
		for (j = 0; j < p->nfeatures; j++) {
			if (strcmp(p->features[j], json_string_value(v)) == 0)
				return cat_fail(cp, where, "'%s' is listed twice", p->features[j]);
		}
		p->features[p->nfeatures++] = xstrdup(json_string_value(v));
	}
	p->limits = xcalloc(json_object_size(limits) + 1, sizeof *p->limits);
	json_object_foreach((json_t *)limits, key, v) {
		struct catalog_limit *l = &p->limits[p->nlimits];

		path_fmt(where, sizeof where, "%s.limits", path);
		if (get_int(cp, limits, where, key, 1, 0, &l->limit) < 0)
			return -1;
		l->meter = xstrdup(key);
		p->nlimits++;
	}
	return 0;
}

static const char *const topup_keys[] = { "credits", "expires_after_days", NULL };

static int
parse_topup(struct cparse *cp, const char *price, const json_t *o, struct catalog_topup *t)
{
	char path[512];

	path_key(path, sizeof path, "topups", price);
	t->price = xstrdup(price);
	if (!json_is_object(o))
		return cat_fail(cp, path, "expected an object");
	if (check_keys(cp, o, path, topup_keys) < 0 ||
	    get_int(cp, o, path, "credits", 1, 0, &t->credits) < 0 ||
	    get_int(cp, o, path, "expires_after_days", 0, 0, &t->expires_after_days) < 0)
		return -1;
	return 0;
}

static const char *const meter_keys[] = { "feature", "credits_per_unit", NULL };

static int
parse_meter(struct cparse *cp, const char *name, const json_t *o, struct catalog_meter *m)
{
	char path[512];

	path_key(path, sizeof path, "meters", name);
	m->name = xstrdup(name);
	m->credits_per_unit = 1;
	if (!json_is_object(o))
		return cat_fail(cp, path, "expected an object");
	if (check_keys(cp, o, path, meter_keys) < 0 ||
	    get_str(cp, o, path, "feature", 1, &m->feature) < 0 ||
	    get_int(cp, o, path, "credits_per_unit", 0, 0, &m->credits_per_unit) < 0)
		return -1;
	return 0;
}

/* The cross references, once everything is read. */
static int
check_refs(struct cparse *cp, const struct catalog *c)
{
	char where[600];
	size_t i, j;

	for (i = 0; i < c->nplans; i++) {
		const struct catalog_plan *p = &c->plans[i];

		if (catalog_topup(c, p->price) != NULL)
			return cat_fail(cp, "", "price '%s' is both a plan and a top-up", p->price);
		for (j = 0; j < p->nlimits; j++) {
			if (catalog_meter(c, p->limits[j].meter) != NULL)
				continue;
			path_fmt(where, sizeof where, "plans.%s.limits.%s", p->price, p->limits[j].meter);
			return cat_fail(cp, where, "'%s' is not a meter", p->limits[j].meter);
		}
	}
	for (i = 0; i < c->nmeters; i++) {
		const struct catalog_meter *m = &c->meters[i];

		path_fmt(where, sizeof where, "meters.%s.feature", m->name);
		for (j = 0; j < c->nplans; j++) {
			if (catalog_plan_has_feature(&c->plans[j], m->feature))
				break;
		}
		if (j == c->nplans)
			return cat_fail(cp, where, "'%s' is not listed by any plan", m->feature);
		for (j = 0; j < i; j++) {
			if (strcmp(c->meters[j].feature, m->feature) == 0)
				return cat_fail(cp, where, "'%s' is already metered by '%s'",
				                m->feature, c->meters[j].name);
		}
	}
	return 0;
}

static const char *const top_keys[] = {
	"unit", "plans", "topups", "meters", "overage_floor", "grace", "credit_value", NULL
};
static const char *const value_keys[] = { "currency", "credits", "minor_units", NULL };

/* credit_value: what credits are worth, for adjustments pushed to Stripe. */
static int
parse_value(struct cparse *cp, const json_t *v, struct catalog *c)
{
	const char *p;

	if (check_keys(cp, v, "credit_value", value_keys) < 0 ||
	    get_str(cp, v, "credit_value", "currency", 1, &c->value_currency) < 0 ||
	    get_int(cp, v, "credit_value", "credits", 1, 1, &c->value_credits) < 0 ||
	    get_int(cp, v, "credit_value", "minor_units", 1, 1, &c->value_minor_units) < 0)
		return -1;
	for (p = c->value_currency; *p != '\0'; p++)
		if (*p < 'a' || *p > 'z')
			break;
	if (*p != '\0' || p - c->value_currency != 3)
		return cat_fail(cp, "credit_value.currency",
		    "expected a three-letter ISO currency code in lower case, like \"usd\"");
	return 0;
}
static const char *const grace_keys[] = { "past_due_days", "after_period_end_minutes", NULL };

static int
parse_root(struct cparse *cp, const json_t *root, struct catalog *c)
{
	const json_t *plans, *topups, *meters, *grace, *value, *v;
	const char *key;

	if (!json_is_object(root))
		return cat_fail(cp, "", "expected a JSON object at the top level");
	if (check_keys(cp, root, "", top_keys) < 0 ||
	    get_str(cp, root, "", "unit", 0, &c->unit) < 0 ||
	    get_int(cp, root, "", "overage_floor", 0, INT64_MIN, &c->overage_floor) < 0 ||
	    get_object(cp, root, "", "plans", &plans) < 0 ||
	    get_object(cp, root, "", "topups", &topups) < 0 ||
	    get_object(cp, root, "", "meters", &meters) < 0 ||
	    get_object(cp, root, "", "grace", &grace) < 0 ||
	    get_object(cp, root, "", "credit_value", &value) < 0)
		return -1;
	if (value != NULL && parse_value(cp, value, c) < 0)
		return -1;
	if (grace != NULL &&
	    (check_keys(cp, grace, "grace", grace_keys) < 0 ||
	     get_int(cp, grace, "grace", "past_due_days", 0, 0, &c->grace_past_due_days) < 0 ||
	     get_int(cp, grace, "grace", "after_period_end_minutes", 0, 0,
	             &c->grace_after_period_end_minutes) < 0))
		return -1;

	c->plans = xcalloc(json_object_size(plans) + 1, sizeof *c->plans);
	json_object_foreach((json_t *)plans, key, v) {
		if (*key == '\0')
			return cat_fail(cp, "plans", "a price id is empty");
		c->nplans++;
		if (parse_plan(cp, key, v, &c->plans[c->nplans - 1]) < 0)
			return -1;
	}
	c->topups = xcalloc(json_object_size(topups) + 1, sizeof *c->topups);
	json_object_foreach((json_t *)topups, key, v) {
		if (*key == '\0')
			return cat_fail(cp, "topups", "a price id is empty");
		c->ntopups++;
		if (parse_topup(cp, key, v, &c->topups[c->ntopups - 1]) < 0)
			return -1;
	}
	c->meters = xcalloc(json_object_size(meters) + 1, sizeof *c->meters);
	json_object_foreach((json_t *)meters, key, v) {
		if (*key == '\0')
			return cat_fail(cp, "meters", "a meter name is empty");
		c->nmeters++;
		if (parse_meter(cp, key, v, &c->meters[c->nmeters - 1]) < 0)
			return -1;
	}
	return check_refs(cp, c);
}

struct catalog *
catalog_new_empty(void)
{
	struct catalog *c = xcalloc(1, sizeof *c);

	c->unit = xstrdup("credits");
	c->overage_floor = 0;
	c->grace_past_due_days = 3;
	c->grace_after_period_end_minutes = 60;
	return c;
}

int
catalog_parse(const char *text, size_t len, const char *name, struct catalog **out,
              struct err *e)
{
	struct cparse cp = { name != NULL ? name : "catalog", e };
	struct catalog *c = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	int rc = -1;

	*out = NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		err_set(e, "%s:%d:%d: invalid JSON: %s", cp.name, jerr.line, jerr.column, jerr.text);
		goto out;
	}
	c = catalog_new_empty();
	if (parse_root(&cp, root, c) < 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	catalog_free(c);
	json_decref(root);
	return rc;
}

int
catalog_load(const char *path, struct catalog **out, struct err *e)
{
	struct buf b;
	char chunk[8192];
	FILE *f = NULL;
	size_t n;
	int rc = -1;

	*out = NULL;
	buf_init(&b, CATALOG_MAX_BYTES);
	f = fopen(path, "rb");
	if (f == NULL) {
		err_set(e, "%s: cannot open the catalog: %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			err_set(e, "%s: larger than %u MiB; is this the catalog?", path,
			        CATALOG_MAX_BYTES >> 20);
			goto out;
		}
	}
	if (ferror(f)) {
		err_set(e, "%s: cannot read the catalog: %s", path, strerror(errno));
		goto out;
	}
	rc = catalog_parse(b.data != NULL ? b.data : "", b.len, path, out, e);
out:
	if (f != NULL)
		fclose(f);
	buf_done(&b);
	return rc;
}

void
catalog_free(struct catalog *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->nplans; i++) {
		struct catalog_plan *p = &c->plans[i];

		free(p->price);
		free(p->name);
		for (j = 0; j < p->nfeatures; j++)
			free(p->features[j]);
		free(p->features);
		for (j = 0; j < p->nlimits; j++)
			free(p->limits[j].meter);
		free(p->limits);
	}
	for (i = 0; i < c->ntopups; i++)
		free(c->topups[i].price);
	for (i = 0; i < c->nmeters; i++) {
		free(c->meters[i].name);
		free(c->meters[i].feature);
	}
	free(c->plans);
	free(c->topups);
	free(c->meters);
	free(c->unit);
	free(c->value_currency);
	free(c);
}

const struct catalog_plan *
catalog_plan(const struct catalog *c, const char *price)
{
	size_t i;

	if (c == NULL || price == NULL)
		return NULL;
	for (i = 0; i < c->nplans; i++) {
		if (strcmp(c->plans[i].price, price) == 0)
			return &c->plans[i];
	}
	return NULL;
}

const struct catalog_topup *
catalog_topup(const struct catalog *c, const char *price)
{
	size_t i;

	if (c == NULL || price == NULL)
		return NULL;
	for (i = 0; i < c->ntopups; i++) {
		if (strcmp(c->topups[i].price, price) == 0)
			return &c->topups[i];
	}
	return NULL;
}

const struct catalog_meter *
catalog_meter(const struct catalog *c, const char *name)
{
	size_t i;

	if (c == NULL || name == NULL)
		return NULL;
	for (i = 0; i < c->nmeters; i++) {
		if (strcmp(c->meters[i].name, name) == 0)
			return &c->meters[i];
	}
	return NULL;
}

const struct catalog_meter *
catalog_meter_for_feature(const struct catalog *c, const char *feature)
{
	size_t i;

	if (c == NULL || feature == NULL)
		return NULL;
	for (i = 0; i < c->nmeters; i++) {
		if (strcmp(c->meters[i].feature, feature) == 0)
			return &c->meters[i];
	}
	return NULL;
}

int
catalog_plan_has_feature(const struct catalog_plan *p, const char *feature)
{
	size_t i;

	if (p == NULL || feature == NULL)
		return 0;
	for (i = 0; i < p->nfeatures; i++) {
		if (strcmp(p->features[i], feature) == 0)
			return 1;
	}
	return 0;
}

int64_t
catalog_plan_limit(const struct catalog_plan *p, const char *meter)
{
	size_t i;

	if (p == NULL || meter == NULL)
		return -1;
	for (i = 0; i < p->nlimits; i++) {
		if (strcmp(p->limits[i].meter, meter) == 0)
			return p->limits[i].limit;
	}
	return -1;
}

int
catalog_feature_known(const struct catalog *c, const char *feature)
{
	size_t i;

	if (c == NULL || feature == NULL)
		return 0;
	for (i = 0; i < c->nplans; i++) {
		if (catalog_plan_has_feature(&c->plans[i], feature))
			return 1;
	}
	return catalog_meter_for_feature(c, feature) != NULL;
}

int
catalog_credits_to_minor(const struct catalog *c, int64_t credits, int64_t *minor)
{
	__int128 v;

	if (c == NULL || c->value_currency == NULL || c->value_credits <= 0)
		return 1;
	v = (__int128)credits * c->value_minor_units;
	if (v % c->value_credits != 0)
		return 2;
	v /= c->value_credits;
	if (v > INT64_MAX || v < -INT64_MAX)
		return 2;
	*minor = (int64_t)v;
	return 0;
}
