/*
 * stripe-decode: Stripe JSON to plain structs, at the edge.  See
 * stripe-decode.h for the shapes it reads.
 *
 * Every field is read through a few helpers that know the JSON path of what
 * they read, so an error can say "subscription sub_1: items.data[2].price:
 * expected a string or an object with an id".  A path may be dotted
 * ("parent.subscription_details.subscription"); an absent or null step on
 * the way makes the field absent, a step of another type is an error.
 * Nothing here keeps a json_t: strings are copied into the caller's arena.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "stripe-decode.h"

/* What is being decoded, for messages. */
struct dec {
	struct arena *a;
	struct err *e;
	const char *type;       /* the "object" string */
	const char *id;         /* NULL until known */
};

/* A field path for messages: pre (may be "") joined to path with a dot. */
static void
path_join(char *out, size_t outsz, const char *pre, const char *path, size_t pathlen)
{
	snprintf(out, outsz, "%s%s%.*s", pre, *pre != '\0' && pathlen > 0 ? "." : "",
	         (int)pathlen, path);
}

static int __attribute__((format(printf, 5, 6)))
dec_fail(struct dec *d, const char *pre, const char *path, size_t pathlen, const char *fmt, ...)
{
	char where[512], what[512];
	va_list ap;

	path_join(where, sizeof where, pre, path, pathlen);
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (d->id != NULL)
		return err_set(d->e, "%s %s: %s: %s", d->type ? d->type : "object", d->id, where, what);
	return err_set(d->e, "%s: %s: %s", d->type ? d->type : "object", where, what);
}

/* Find the value at a dotted path below o.  *out is NULL when any step is
 * absent or null.  -1 when a step on the way is not an object. */
static int
dec_lookup(struct dec *d, const json_t *o, const char *pre, const char *path, const json_t **out)
{
	const char *p = path, *dot;
	char key[128];
	size_t n;

	*out = NULL;
	for (;;) {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof key)
			n = sizeof key - 1;
		memcpy(key, p, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		if (o == NULL || json_is_null(o))
			return 0;
		if (dot == NULL)
			break;
		if (!json_is_object(o))
			return dec_fail(d, pre, path, (size_t)(dot - path), "expected an object");
		p = dot + 1;
	}
	*out = o;
	return 0;
}

static int
dec_missing(struct dec *d, const char *pre, const char *path)
{
	return dec_fail(d, pre, path, strlen(path), "missing");
}

static int
get_str(struct dec *d, const json_t *o, const char *pre, const char *path, int req,
        const char **out)
{
	const json_t *v;

	*out = NULL;
	if (dec_lookup(d, o, pre, path, &v) < 0)
		return -1;
	if (v == NULL)
		return req ? dec_missing(d, pre, path) : 0;
	if (!json_is_string(v))
		return dec_fail(d, pre, path, strlen(path), "expected a string");
	if (req && json_string_length(v) == 0)
		return dec_fail(d, pre, path, strlen(path), "empty");
	*out = arena_strndup(d->a, json_string_value(v), json_string_length(v));
	return 0;
}

/* Integers; a real with an integral value is accepted (JSON that went
 * through a float64, as `stripe listen` prints it). */
static int
get_int(struct dec *d, const json_t *o, const char *pre, const char *path, int req,
        int64_t *out)
{
	const json_t *v;
	double r;

	if (dec_lookup(d, o, pre, path, &v) < 0)
		return -1;
	if (v == NULL)
		return req ? dec_missing(d, pre, path) : 0;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		r = json_real_value(v);
		if (r >= -9007199254740992.0 && r <= 9007199254740992.0 && r == (double)(int64_t)r) {
			*out = (int64_t)r;
			return 0;
		}
	}
	return dec_fail(d, pre, path, strlen(path), "expected an integer");
}

static int
get_bool(struct dec *d, const json_t *o, const char *pre, const char *path, int *out)
{
	const json_t *v;

	if (dec_lookup(d, o, pre, path, &v) < 0)
		return -1;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return dec_fail(d, pre, path, strlen(path), "expected true or false");
	*out = json_is_true(v);
	return 0;
}

/* An expandable field: an id string, or an object with an id string. */
static int
get_ref(struct dec *d, const json_t *o, const char *pre, const char *path, int req,
        const char **out)
{
	const json_t *v, *id;

	*out = NULL;
	if (dec_lookup(d, o, pre, path, &v) < 0)
		return -1;
	if (v == NULL)
		return req ? dec_missing(d, pre, path) : 0;
	id = json_is_object(v) ? json_object_get(v, "id") : v;
	if (!json_is_string(id))
		return dec_fail(d, pre, path, strlen(path), "expected a string or an object with an id");
	if (req && json_string_length(id) == 0)
		return dec_fail(d, pre, path, strlen(path), "empty");
	*out = arena_strndup(d->a, json_string_value(id), json_string_length(id));
	return 0;
}

/* A nested object, or NULL when absent or null. */
static int
get_obj(struct dec *d, const json_t *o, const char *pre, const char *path, const json_t **out)
{
	if (dec_lookup(d, o, pre, path, out) < 0)
		return -1;
	if (*out != NULL && !json_is_object(*out)) {
		*out = NULL;
		return dec_fail(d, pre, path, strlen(path), "expected an object");
	}
	return 0;
}

/* A list envelope {"data": [...], "has_more": bool}; a bare array is taken
 * as its data.  *data is NULL when the list is absent. */
static int
get_list(struct dec *d, const json_t *o, const char *pre, const char *path,
         const json_t **data, int *more)
{
	char where[256];
	const json_t *v;

	*data = NULL;
	if (dec_lookup(d, o, pre, path, &v) < 0)
		return -1;
	if (v == NULL)
		return 0;
	if (json_is_array(v)) {
		*data = v;
		return 0;
	}
	if (!json_is_object(v))
		return dec_fail(d, pre, path, strlen(path), "expected a list");
	path_join(where, sizeof where, pre, path, strlen(path));
	if (get_bool(d, v, where, "has_more", more) < 0)
		return -1;
	v = json_object_get(v, "data");
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return dec_fail(d, where, "data", 4, "expected an array");
	*data = v;
	return 0;
}

/* The path of element i of a list at path, and the element, which must be
 * an object. */
static int
list_elem(struct dec *d, const json_t *data, size_t i, const char *path, char *where,
          size_t wsz, const json_t **out)
{
	snprintf(where, wsz, "%s.data[%zu]", path, i);
	*out = json_array_get(data, i);
	if (!json_is_object(*out))
		return dec_fail(d, where, "", 0, "expected an object");
	return 0;
}

static int
decode_customer(struct dec *d, const json_t *o, struct s_customer *c)
{
	if (get_str(d, o, "", "email", 0, &c->email) < 0 ||
	    get_str(d, o, "", "name", 0, &c->name) < 0 ||
	    get_str(d, o, "", "currency", 0, &c->currency) < 0 ||
	    get_int(d, o, "", "created", 0, &c->created) < 0 ||
	    get_bool(d, o, "", "deleted", &c->deleted) < 0)
		return -1;
	return 0;
}

static int
decode_sub_item(struct dec *d, const json_t *o, const char *pre, struct s_sub_item *it)
{
	it->quantity = 1;
	if (get_str(d, o, pre, "id", 0, &it->id) < 0 ||
	    get_ref(d, o, pre, "price", 0, &it->price) < 0 ||
	    get_int(d, o, pre, "quantity", 0, &it->quantity) < 0 ||
	    get_int(d, o, pre, "current_period_start", 0, &it->period_start) < 0 ||
	    get_int(d, o, pre, "current_period_end", 0, &it->period_end) < 0)
		return -1;
	if (it->price == NULL && get_ref(d, o, pre, "plan", 0, &it->price) < 0)
		return -1;
	return 0;
}

static int
decode_subscription(struct dec *d, const json_t *o, struct s_subscription *s)
{
	const json_t *data, *el;
	char where[64];
	int start_absent, end_absent;
	size_t i;

	if (get_ref(d, o, "", "customer", 1, &s->customer) < 0 ||
	    get_str(d, o, "", "status", 1, &s->status) < 0 ||
	    get_int(d, o, "", "created", 0, &s->created) < 0 ||
	    get_int(d, o, "", "current_period_start", 0, &s->period_start) < 0 ||
	    get_int(d, o, "", "current_period_end", 0, &s->period_end) < 0 ||
	    get_int(d, o, "", "cancel_at", 0, &s->cancel_at) < 0 ||
	    get_int(d, o, "", "canceled_at", 0, &s->canceled_at) < 0 ||
	    get_int(d, o, "", "ended_at", 0, &s->ended_at) < 0 ||
	    get_int(d, o, "", "trial_end", 0, &s->trial_end) < 0 ||
	    get_bool(d, o, "", "cancel_at_period_end", &s->cancel_at_period_end) < 0 ||
	    get_list(d, o, "", "items", &data, &s->items_more) < 0)
		return -1;
	start_absent = s->period_start == 0;
	end_absent = s->period_end == 0;
	s->nitems = json_array_size(data);
	s->items = arena_alloc(d->a, (s->nitems ? s->nitems : 1) * sizeof *s->items);
	for (i = 0; i < s->nitems; i++) {
		if (list_elem(d, data, i, "items", where, sizeof where, &el) < 0 ||
		    decode_sub_item(d, el, where, &s->items[i]) < 0)
			return -1;
	}
	/* 2025-03-31.basil moved the period to the items: the subscription's
	 * is then the earliest item start and the latest item end. */
	for (i = 0; i < s->nitems; i++) {
		const struct s_sub_item *it = &s->items[i];

		if (start_absent && it->period_start > 0 &&
		    (s->period_start == 0 || it->period_start < s->period_start))
			s->period_start = it->period_start;
		if (end_absent && it->period_end > s->period_end)
			s->period_end = it->period_end;
	}
	return 0;
}

static int
decode_inv_line(struct dec *d, const json_t *o, const char *pre, struct s_inv_line *l)
{
	int sub_pro = 0, item_pro = 0;

	l->quantity = 1;
	if (get_str(d, o, pre, "id", 0, &l->id) < 0 ||
	    get_int(d, o, pre, "quantity", 0, &l->quantity) < 0 ||
	    get_int(d, o, pre, "amount", 0, &l->amount) < 0 ||
	    get_int(d, o, pre, "period.start", 0, &l->period_start) < 0 ||
	    get_int(d, o, pre, "period.end", 0, &l->period_end) < 0 ||
	    get_ref(d, o, pre, "price", 0, &l->price) < 0 ||
	    get_ref(d, o, pre, "subscription", 0, &l->subscription) < 0 ||
	    get_bool(d, o, pre, "proration", &l->proration) < 0)
		return -1;
	if (l->price == NULL && get_ref(d, o, pre, "plan", 0, &l->price) < 0)
		return -1;
	if (l->price == NULL && get_ref(d, o, pre, "pricing.price_details.price", 0, &l->price) < 0)
		return -1;
	/* New shapes: parent.type names which of the two details is set;
	 * read whichever is present. */
	if (l->subscription == NULL &&
	    get_ref(d, o, pre, "parent.subscription_item_details.subscription", 0, &l->subscription) < 0)
		return -1;
	if (l->subscription == NULL &&
	    get_ref(d, o, pre, "parent.invoice_item_details.subscription", 0, &l->subscription) < 0)
		return -1;
	if (get_bool(d, o, pre, "parent.subscription_item_details.proration", &sub_pro) < 0 ||
	    get_bool(d, o, pre, "parent.invoice_item_details.proration", &item_pro) < 0)
		return -1;
	l->proration = l->proration || sub_pro || item_pro;
	return 0;
}

static int
decode_invoice(struct dec *d, const json_t *o, struct s_invoice *inv)
{
	const json_t *data, *el;
	char where[64];
	size_t i;

	if (get_ref(d, o, "", "customer", 1, &inv->customer) < 0 ||
	    get_str(d, o, "", "status", 1, &inv->status) < 0 ||
	    get_ref(d, o, "", "subscription", 0, &inv->subscription) < 0 ||
	    get_str(d, o, "", "billing_reason", 0, &inv->billing_reason) < 0 ||
	    get_str(d, o, "", "currency", 0, &inv->currency) < 0 ||
	    get_ref(d, o, "", "charge", 0, &inv->charge) < 0 ||
	    get_ref(d, o, "", "payment_intent", 0, &inv->payment_intent) < 0 ||
	    get_int(d, o, "", "amount_due", 0, &inv->amount_due) < 0 ||
	    get_int(d, o, "", "amount_paid", 0, &inv->amount_paid) < 0 ||
	    get_int(d, o, "", "created", 0, &inv->created) < 0 ||
	    get_int(d, o, "", "period_start", 0, &inv->period_start) < 0 ||
	    get_int(d, o, "", "period_end", 0, &inv->period_end) < 0 ||
	    get_int(d, o, "", "status_transitions.paid_at", 0, &inv->paid_at) < 0 ||
	    get_list(d, o, "", "lines", &data, &inv->lines_more) < 0)
		return -1;
	if (inv->subscription == NULL &&
	    get_ref(d, o, "", "parent.subscription_details.subscription", 0, &inv->subscription) < 0)
		return -1;
	/* Since basil an invoice names its payment only through its invoice
	 * payments (present when expanded, as sync lists invoices): the
	 * first paid one's intent. */
	if (inv->payment_intent == NULL) {
		const json_t *pays;
		const char *status;
		int pmore;

		if (get_list(d, o, "", "payments", &pays, &pmore) < 0)
			return -1;
		for (i = 0; i < json_array_size(pays) && inv->payment_intent == NULL; i++) {
			if (list_elem(d, pays, i, "payments", where, sizeof where, &el) < 0 ||
			    get_str(d, el, where, "status", 0, &status) < 0)
				return -1;
			if (status != NULL && strcmp(status, "paid") == 0 &&
			    get_ref(d, el, where, "payment.payment_intent", 0, &inv->payment_intent) < 0)
				return -1;
		}
	}
	inv->nlines = json_array_size(data);
	inv->lines = arena_alloc(d->a, (inv->nlines ? inv->nlines : 1) * sizeof *inv->lines);
	for (i = 0; i < inv->nlines; i++) {
		if (list_elem(d, data, i, "lines", where, sizeof where, &el) < 0 ||
		    decode_inv_line(d, el, where, &inv->lines[i]) < 0)
			return -1;
	}
	return 0;
}

static int
decode_price(struct dec *d, const json_t *o, int is_plan, struct s_price *p)
{
	if (get_ref(d, o, "", "product", 0, &p->product) < 0 ||
	    get_str(d, o, "", "type", 0, &p->type) < 0 ||
	    get_str(d, o, "", "currency", 0, &p->currency) < 0 ||
	    get_str(d, o, "", is_plan ? "interval" : "recurring.interval", 0, &p->interval) < 0 ||
	    get_str(d, o, "", "lookup_key", 0, &p->lookup_key) < 0 ||
	    get_str(d, o, "", "nickname", 0, &p->nickname) < 0 ||
	    get_int(d, o, "", is_plan ? "amount" : "unit_amount", 0, &p->unit_amount) < 0 ||
	    get_int(d, o, "", "created", 0, &p->created) < 0 ||
	    get_bool(d, o, "", "active", &p->active) < 0)
		return -1;
	if (is_plan && p->type == NULL)
		p->type = "recurring";  /* a plan is a recurring price; static string */
	return 0;
}

static int
decode_checkout(struct dec *d, const json_t *o, struct s_checkout *c)
{
	const json_t *data, *el;
	char where[64];
	int more = 0;

	c->quantity = 1;
	if (get_ref(d, o, "", "customer", 0, &c->customer) < 0 ||
	    get_str(d, o, "", "mode", 0, &c->mode) < 0 ||
	    get_str(d, o, "", "status", 0, &c->status) < 0 ||
	    get_str(d, o, "", "payment_status", 0, &c->payment_status) < 0 ||
	    get_ref(d, o, "", "payment_intent", 0, &c->payment_intent) < 0 ||
	    get_ref(d, o, "", "invoice", 0, &c->invoice) < 0 ||
	    get_ref(d, o, "", "subscription", 0, &c->subscription) < 0 ||
	    get_str(d, o, "", "currency", 0, &c->currency) < 0 ||
	    get_int(d, o, "", "amount_total", 0, &c->amount_total) < 0 ||
	    get_int(d, o, "", "created", 0, &c->created) < 0 ||
	    get_list(d, o, "", "line_items", &data, &more) < 0)
		return -1;
	if (json_array_size(data) > 0) {
		if (list_elem(d, data, 0, "line_items", where, sizeof where, &el) < 0 ||
		    get_ref(d, el, where, "price", 0, &c->price) < 0 ||
		    get_int(d, el, where, "quantity", 0, &c->quantity) < 0)
			return -1;
	}
	if (c->price == NULL && get_str(d, o, "", "metadata.price", 0, &c->price) < 0)
		return -1;
	return 0;
}

static int
decode_reversal(struct dec *d, const json_t *o, const char *pre, struct s_reversal *r)
{
	if (get_int(d, o, pre, "amount", 1, &r->amount) < 0 ||
	    get_ref(d, o, pre, "charge", 0, &r->charge) < 0 ||
	    get_ref(d, o, pre, "payment_intent", 0, &r->payment_intent) < 0 ||
	    get_ref(d, o, pre, "customer", 0, &r->customer) < 0 ||
	    get_str(d, o, pre, "status", 0, &r->status) < 0 ||
	    get_str(d, o, pre, "reason", 0, &r->reason) < 0 ||
	    get_str(d, o, pre, "currency", 0, &r->currency) < 0 ||
	    get_int(d, o, pre, "created", 0, &r->created) < 0)
		return -1;
	return 0;
}

static int
decode_charge(struct dec *d, const json_t *o, struct s_charge *c)
{
	const json_t *data, *el;
	char where[64];
	size_t i;

	if (get_int(d, o, "", "amount", 1, &c->amount) < 0 ||
	    get_ref(d, o, "", "customer", 0, &c->customer) < 0 ||
	    get_ref(d, o, "", "invoice", 0, &c->invoice) < 0 ||
	    get_ref(d, o, "", "payment_intent", 0, &c->payment_intent) < 0 ||
	    get_str(d, o, "", "currency", 0, &c->currency) < 0 ||
	    get_int(d, o, "", "amount_refunded", 0, &c->amount_refunded) < 0 ||
	    get_int(d, o, "", "created", 0, &c->created) < 0 ||
	    get_bool(d, o, "", "disputed", &c->disputed) < 0 ||
	    get_list(d, o, "", "refunds", &data, &c->refunds_more) < 0)
		return -1;
	c->nrefunds = json_array_size(data);
	c->refund_ids = arena_alloc(d->a, (c->nrefunds ? c->nrefunds : 1) * sizeof *c->refund_ids);
	c->refunds = arena_alloc(d->a, (c->nrefunds ? c->nrefunds : 1) * sizeof *c->refunds);
	for (i = 0; i < c->nrefunds; i++) {
		if (list_elem(d, data, i, "refunds", where, sizeof where, &el) < 0 ||
		    get_str(d, el, where, "id", 1, &c->refund_ids[i]) < 0 ||
		    decode_reversal(d, el, where, &c->refunds[i]) < 0)
			return -1;
	}
	return 0;
}

static int
decode_credit_grant(struct dec *d, const json_t *o, struct s_credit_grant *g)
{
	if (get_ref(d, o, "", "customer", 0, &g->customer) < 0 ||
	    get_str(d, o, "", "category", 0, &g->category) < 0 ||
	    get_str(d, o, "", "amount.monetary.currency", 0, &g->currency) < 0 ||
	    get_int(d, o, "", "amount.monetary.value", 0, &g->amount) < 0 ||
	    get_int(d, o, "", "created", 0, &g->created) < 0 ||
	    get_int(d, o, "", "effective_at", 0, &g->effective_at) < 0 ||
	    get_int(d, o, "", "expires_at", 0, &g->expires_at) < 0 ||
	    get_int(d, o, "", "voided_at", 0, &g->voided_at) < 0)
		return -1;
	return 0;
}

static int
decode_entitlements(struct dec *d, const json_t *o, struct s_entitlement_summary *s)
{
	const json_t *data, *el;
	char where[64];
	size_t i;

	if (get_ref(d, o, "", "customer", 1, &s->customer) < 0 ||
	    get_list(d, o, "", "entitlements", &data, &s->more) < 0)
		return -1;
	s->n = json_array_size(data);
	s->items = arena_alloc(d->a, (s->n ? s->n : 1) * sizeof *s->items);
	for (i = 0; i < s->n; i++) {
		if (list_elem(d, data, i, "entitlements", where, sizeof where, &el) < 0 ||
		    get_str(d, el, where, "lookup_key", 0, &s->items[i].lookup_key) < 0 ||
		    get_ref(d, el, where, "feature", 0, &s->items[i].feature) < 0)
			return -1;
	}
	return 0;
}

static const struct {
	const char *type;
	enum stripe_kind kind;
} kinds[] = {
	{ "customer", SK_CUSTOMER },
	{ "subscription", SK_SUBSCRIPTION },
	{ "invoice", SK_INVOICE },
	{ "price", SK_PRICE },
	{ "plan", SK_PRICE },
	{ "checkout.session", SK_CHECKOUT_SESSION },
	{ "charge", SK_CHARGE },
	{ "refund", SK_REFUND },
	{ "dispute", SK_DISPUTE },
	{ "billing.credit_grant", SK_CREDIT_GRANT },
	{ "entitlements.active_entitlement_summary", SK_ENTITLEMENT_SUMMARY },
};

static enum stripe_kind
kind_of(const char *type)
{
	size_t i;

	if (type == NULL)
		return SK_UNKNOWN;
	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strcmp(kinds[i].type, type) == 0)
			return kinds[i].kind;
	}
	return SK_UNKNOWN;
}

int
stripe_object_decode(struct arena *a, const json_t *obj, struct stripe_object *out,
                     struct err *e)
{
	struct dec d = { a, e, NULL, NULL };
	const json_t *v;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!json_is_object(obj)) {
		err_set(e, "Stripe object: expected a JSON object");
		goto out;
	}
	v = json_object_get(obj, "object");
	if (json_is_string(v))
		out->type = arena_strdup(a, json_string_value(v));
	v = json_object_get(obj, "id");
	if (json_is_string(v))
		out->id = arena_strdup(a, json_string_value(v));
	out->kind = kind_of(out->type);
	/* An upcoming invoice (invoice.upcoming) has no id: nothing to mirror,
	 * but its event is stored and shown like any other. */
	if (out->kind == SK_INVOICE && json_object_get(obj, "id") == NULL)
		out->kind = SK_UNKNOWN;
	d.type = out->type;
	d.id = out->id;
	if (out->kind == SK_UNKNOWN) {
		rc = 0;
		goto out;
	}
	if (out->kind != SK_ENTITLEMENT_SUMMARY && (out->id == NULL || *out->id == '\0')) {
		d.id = NULL;
		if (get_str(&d, obj, "", "id", 1, &out->id) < 0)
			goto out;
	}
	if (get_bool(&d, obj, "", "deleted", &out->deleted) < 0)
		goto out;
	if (out->deleted) {
		/* A deletion stub: {"id", "object", "deleted": true}. */
		if (out->kind == SK_CUSTOMER)
			rc = decode_customer(&d, obj, &out->u.customer);
		else
			rc = 0;
		goto out;
	}
	switch (out->kind) {
	case SK_CUSTOMER:
		rc = decode_customer(&d, obj, &out->u.customer);
		break;
	case SK_SUBSCRIPTION:
		rc = decode_subscription(&d, obj, &out->u.subscription);
		break;
	case SK_INVOICE:
		rc = decode_invoice(&d, obj, &out->u.invoice);
		break;
	case SK_PRICE:
		rc = decode_price(&d, obj, strcmp(out->type, "plan") == 0, &out->u.price);
		break;
	case SK_CHECKOUT_SESSION:
		rc = decode_checkout(&d, obj, &out->u.checkout);
		break;
	case SK_CHARGE:
		rc = decode_charge(&d, obj, &out->u.charge);
		break;
	case SK_REFUND:
	case SK_DISPUTE:
		rc = decode_reversal(&d, obj, "", &out->u.reversal);
		break;
	case SK_CREDIT_GRANT:
		rc = decode_credit_grant(&d, obj, &out->u.credit_grant);
		break;
	case SK_ENTITLEMENT_SUMMARY:
		rc = decode_entitlements(&d, obj, &out->u.entitlements);
		break;
	case SK_UNKNOWN:
		rc = 0;
		break;
	}
out:
	return rc;
}

int
stripe_event_decode(struct arena *a, const json_t *ev, struct stripe_event *out, struct err *e)
{
	struct dec d = { a, e, "event", NULL };
	const json_t *obj, *req;
	const char *object;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!json_is_object(ev)) {
		err_set(e, "event: expected a JSON object");
		goto out;
	}
	if (get_str(&d, ev, "", "id", 1, &out->id) < 0)
		goto out;
	d.id = out->id;
	if (get_str(&d, ev, "", "object", 0, &object) < 0)
		goto out;
	if (object != NULL && strcmp(object, "event") != 0) {
		dec_fail(&d, "", "object", 6, "expected \"event\", got \"%s\"", object);
		goto out;
	}
	if (get_str(&d, ev, "", "type", 1, &out->type) < 0 ||
	    get_int(&d, ev, "", "created", 1, &out->created) < 0 ||
	    get_str(&d, ev, "", "api_version", 0, &out->api_version) < 0 ||
	    get_bool(&d, ev, "", "livemode", &out->livemode) < 0)
		goto out;
	/* request: {"id", "idempotency_key"}, or before 2017-05-25 the id. */
	req = json_object_get(ev, "request");
	if (json_is_string(req)) {
		out->request_id = arena_strdup(a, json_string_value(req));
	} else if (get_str(&d, ev, "", "request.id", 0, &out->request_id) < 0 ||
	           get_str(&d, ev, "", "request.idempotency_key", 0, &out->idempotency_key) < 0) {
		goto out;
	}
	if (get_obj(&d, ev, "", "data.object", &obj) < 0)
		goto out;
	if (obj == NULL) {
		dec_missing(&d, "", "data.object");
		goto out;
	}
	if (stripe_object_decode(a, obj, &out->obj, e) < 0) {
		err_prefix(e, "event %s: ", out->id);
		goto out;
	}
	if (out->obj.kind == SK_CUSTOMER && strcmp(out->type, "customer.deleted") == 0)
		out->obj.u.customer.deleted = 1;
	rc = 0;
out:
	return rc;
}

const char *
stripe_object_customer(const struct stripe_object *o)
{
	switch (o->kind) {
	case SK_CUSTOMER:
		return o->id;
	case SK_SUBSCRIPTION:
		return o->u.subscription.customer;
	case SK_INVOICE:
		return o->u.invoice.customer;
	case SK_CHECKOUT_SESSION:
		return o->u.checkout.customer;
	case SK_CHARGE:
		return o->u.charge.customer;
	case SK_REFUND:
		return o->u.reversal.customer;
	case SK_CREDIT_GRANT:
		return o->u.credit_grant.customer;
	case SK_ENTITLEMENT_SUMMARY:
		return o->u.entitlements.customer;
	case SK_PRICE:
	case SK_DISPUTE:
	case SK_UNKNOWN:
		break;
	}
	return NULL;
}
