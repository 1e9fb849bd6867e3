/*
 * test-decode: stripe-decode against the real Stripe fixtures in
 * $SHARED/stripe/fixtures, and against hand-written old and new API shapes
 * and broken objects.  In the hand-written JSON, ' stands for ".
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "stripe-decode.h"
#include "t.h"

static char fixdir[1024];

static json_t *
fixture(const char *name)
{
	char path[1200];
	json_error_t jerr;
	json_t *j;

	snprintf(path, sizeof path, "%s/%s.json", fixdir, name);
	j = json_load_file(path, 0, &jerr);
	if (j == NULL)
		printf("# %s: %s (line %d)\n", path, jerr.text, jerr.line);
	return j;
}

/* Decode a fixture; the json is freed before the caller looks at the
 * result, which proves the strings were copied. */
static int
dec_fixture(struct arena *a, const char *name, struct stripe_object *o)
{
	struct err e;
	json_t *j = fixture(name);
	int rc;

	err_clear(&e);
	memset(o, 0, sizeof *o);
	if (j == NULL)
		return -99;
	rc = stripe_object_decode(a, j, o, &e);
	json_decref(j);
	if (rc != 0)
		printf("# %s: %s\n", name, e.msg);
	return rc;
}

static json_t *
parse(const char *text)
{
	json_error_t jerr;
	char *s = xstrdup(text), *p;
	json_t *j;

	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			*p = '"';
	}
	j = json_loads(s, 0, &jerr);
	if (j == NULL)
		printf("# bad test JSON: %s at column %d: %s\n", jerr.text, jerr.column, s);
	free(s);
	return j;
}

static int
dec(struct arena *a, const char *text, struct stripe_object *o, struct err *e)
{
	json_t *j = parse(text);
	int rc;

	err_clear(e);
	memset(o, 0, sizeof *o);
	if (j == NULL)
		return -99;
	rc = stripe_object_decode(a, j, o, e);
	json_decref(j);
	if (rc != 0)
		printf("# %s\n", e->msg);
	return rc;
}

static int
dec_event(struct arena *a, const char *text, struct stripe_event *ev, struct err *e)
{
	json_t *j = parse(text);
	int rc;

	err_clear(e);
	if (j == NULL)
		return -99;
	rc = stripe_event_decode(a, j, ev, e);
	json_decref(j);
	return rc;
}

static void
want_err(struct arena *a, const char *text, const char *want)
{
	struct stripe_object o;
	struct err e;
	json_t *j = parse(text);
	int rc = -99;

	err_clear(&e);
	if (j != NULL) {
		rc = stripe_object_decode(a, j, &o, &e);
		json_decref(j);
	}
	if (!ok(rc == -1 && strcmp(e.msg, want) == 0, "error: %s", want))
		printf("# rc %d, got \"%s\"\n", rc, e.msg);
}

static void
want_event_err(struct arena *a, const char *text, const char *want)
{
	struct stripe_event ev;
	struct err e;
	int rc = dec_event(a, text, &ev, &e);

	if (!ok(rc == -1 && strcmp(e.msg, want) == 0, "event error: %s", want))
		printf("# rc %d, got \"%s\"\n", rc, e.msg);
}

static void
test_fixture_customer(struct arena *a)
{
	struct stripe_object o;

	is_int(dec_fixture(a, "customer", &o), 0, "customer decodes");
	is_int(o.kind, SK_CUSTOMER, "customer kind");
	is_str(o.type, "customer", "customer type");
	is_str(o.id, "cus_QXg1o8vcGmoR32", "customer id");
	is_str(o.u.customer.currency, "usd", "customer currency");
	is_int(o.u.customer.created, 1234567890, "customer created");
	is_str(o.u.customer.email, NULL, "customer email null");
	is_str(o.u.customer.name, NULL, "customer name null");
	is_int(o.u.customer.deleted, 0, "customer not deleted");
	is_int(o.deleted, 0, "customer not a deletion stub");
	is_str(stripe_object_customer(&o), "cus_QXg1o8vcGmoR32", "customer's customer is itself");

	is_int(dec_fixture(a, "deleted_customer", &o), 0, "deleted_customer decodes");
	is_int(o.kind, SK_CUSTOMER, "deleted_customer kind");
	is_str(o.id, "cus_QXg1o8vcGmoR32", "deleted_customer id");
	is_int(o.u.customer.deleted, 1, "deleted_customer deleted");
	is_int(o.deleted, 1, "deleted_customer is a stub");
}

static void
test_fixture_subscription(struct arena *a)
{
	const struct s_subscription *s;
	struct stripe_object o;

	is_int(dec_fixture(a, "subscription", &o), 0, "subscription decodes");
	s = &o.u.subscription;
	is_int(o.kind, SK_SUBSCRIPTION, "subscription kind");
	is_str(o.id, "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw", "subscription id");
	is_str(s->customer, "cus_QXg1o8vcGmoR32", "subscription customer");
	is_str(stripe_object_customer(&o), "cus_QXg1o8vcGmoR32", "subscription's customer");
	is_str(s->status, "active", "subscription status");
	is_int(s->created, 1234567890, "subscription created");
	is_int(s->cancel_at, 1234567890, "subscription cancel_at");
	is_int(s->canceled_at, 1234567890, "subscription canceled_at");
	is_int(s->ended_at, 1234567890, "subscription ended_at");
	is_int(s->trial_end, 1234567890, "subscription trial_end");
	is_int(s->cancel_at_period_end, 1, "subscription cancel_at_period_end");
	is_int(s->nitems, 1, "subscription has one item");
	is_int(s->items_more, 0, "subscription items complete");
	if (s->nitems == 1) {
		is_str(s->items[0].id, "si_QXhVnC2h0Jczwc", "subscription_item id");
		is_str(s->items[0].price, "price_1PgafmB7WZ01zgkW6dKueIc5",
		       "subscription_item price from the price object, not the plan");
		is_int(s->items[0].quantity, 1, "subscription_item quantity");
		is_int(s->items[0].period_start, 1896570518, "subscription_item period start");
		is_int(s->items[0].period_end, 976287773, "subscription_item period end");
	}
	/* The fixture is 2025+: no period on the subscription itself. */
	is_int(s->period_start, 1896570518, "subscription period start from its item");
	is_int(s->period_end, 976287773, "subscription period end from its item");

	is_int(dec_fixture(a, "subscription_item", &o), 0, "subscription_item alone decodes");
	is_int(o.kind, SK_UNKNOWN, "subscription_item alone is not mirrored");
	is_str(o.type, "subscription_item", "subscription_item type kept");
	is_str(o.id, "si_QXhVBoJ7NQdNXh", "subscription_item id kept");
}

static void
test_fixture_invoice(struct arena *a)
{
	const struct s_invoice *inv;
	struct stripe_object o;

	is_int(dec_fixture(a, "invoice", &o), 0, "invoice decodes");
	inv = &o.u.invoice;
	is_int(o.kind, SK_INVOICE, "invoice kind");
	is_str(o.id, "in_1Pgc6tB7WZ01zgkWu9fdqL6I", "invoice id");
	is_str(inv->customer, "cus_QXg1o8vcGmoR32", "invoice customer");
	is_str(inv->status, "draft", "invoice status");
	/* Top-level subscription is null; the new place has one. */
	is_str(inv->subscription, "subscription", "invoice subscription from parent");
	is_str(inv->billing_reason, "manual", "invoice billing_reason");
	is_str(inv->currency, "usd", "invoice currency");
	is_str(inv->charge, NULL, "invoice charge absent");
	is_str(inv->payment_intent, NULL, "invoice payment_intent absent");
	is_int(inv->amount_due, 1000, "invoice amount_due");
	is_int(inv->amount_paid, 0, "invoice amount_paid");
	is_int(inv->created, 1234567890, "invoice created");
	is_int(inv->period_start, 1234567890, "invoice period_start");
	is_int(inv->period_end, 1234567890, "invoice period_end");
	is_int(inv->paid_at, 0, "invoice paid_at null");
	is_int(inv->lines_more, 0, "invoice lines complete");
	is_int(inv->nlines, 1, "invoice has one line");
	if (inv->nlines == 1) {
		const struct s_inv_line *l = &inv->lines[0];

		is_str(l->id, "il_1Pgc6sB7WZ01zgkWFnxLrLCq", "line id");
		is_str(l->price, NULL, "line has no price (pricing without price_details)");
		is_int(l->quantity, 1, "line quantity");
		is_int(l->amount, 1000, "line amount");
		is_int(l->period_start, 1721954054, "line period start");
		is_int(l->period_end, 1721954054, "line period end");
		is_str(l->subscription, "subscription", "line subscription from parent");
		is_int(l->proration, 1, "line proration from parent");
	}
}

static void
test_fixture_prices(struct arena *a)
{
	struct stripe_object o;

	is_int(dec_fixture(a, "price", &o), 0, "price decodes");
	is_int(o.kind, SK_PRICE, "price kind");
	is_str(o.id, "price_1PgafmB7WZ01zgkW6dKueIc5", "price id");
	is_str(o.u.price.product, "prod_QXg1hqf4jFNsqG", "price product");
	is_str(o.u.price.type, "recurring", "price type");
	is_str(o.u.price.currency, "usd", "price currency");
	is_str(o.u.price.interval, "month", "price interval");
	is_str(o.u.price.lookup_key, NULL, "price lookup_key null");
	is_int(o.u.price.unit_amount, 2000, "price unit_amount");
	is_int(o.u.price.created, 1234567890, "price created");
	is_int(o.u.price.active, 1, "price active");
	is_str(stripe_object_customer(&o), NULL, "a price has no customer");

	is_int(dec_fixture(a, "plan", &o), 0, "plan decodes");
	is_int(o.kind, SK_PRICE, "plan is a price");
	is_str(o.type, "plan", "plan type kept");
	is_str(o.u.price.type, "recurring", "plan is recurring");
	is_str(o.u.price.interval, "month", "plan interval");
	is_int(o.u.price.unit_amount, 2000, "plan amount");
	is_str(o.u.price.product, "prod_QXg1hqf4jFNsqG", "plan product");

	is_int(dec_fixture(a, "deleted_price", &o), 0, "deleted_price decodes");
	is_int(o.kind, SK_PRICE, "deleted_price kind");
	is_int(o.deleted, 1, "deleted_price is a stub");
	is_int(dec_fixture(a, "deleted_invoice", &o), 0, "deleted_invoice decodes");
	is_int(o.deleted, 1, "deleted_invoice is a stub");
	is_str(o.u.invoice.customer, NULL, "deleted_invoice has no customer");
}

static void
test_fixture_payments(struct arena *a)
{
	struct stripe_object o;

	is_int(dec_fixture(a, "checkout.session", &o), 0, "checkout.session decodes");
	is_int(o.kind, SK_CHECKOUT_SESSION, "checkout kind");
	is_str(o.id, "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY", "checkout id");
	is_str(o.u.checkout.customer, NULL, "checkout customer null");
	is_str(o.u.checkout.mode, "payment", "checkout mode");
	is_str(o.u.checkout.status, "open", "checkout status");
	is_str(o.u.checkout.payment_status, "unpaid", "checkout payment_status");
	is_str(o.u.checkout.payment_intent, "pi_1PgafyB7WZ01zgkWSjxsAJo3", "checkout payment_intent");
	is_str(o.u.checkout.price, NULL, "checkout price unknown (no line items, empty metadata)");
	is_int(o.u.checkout.quantity, 1, "checkout quantity defaults to 1");
	is_int(o.u.checkout.amount_total, 0, "checkout amount_total null");
	is_int(o.u.checkout.created, 1234567890, "checkout created");

	is_int(dec_fixture(a, "charge", &o), 0, "charge decodes");
	is_int(o.kind, SK_CHARGE, "charge kind");
	is_str(o.id, "ch_1PgafuB7WZ01zgkWXYmPNZs8", "charge id");
	is_int(o.u.charge.amount, 100, "charge amount");
	is_int(o.u.charge.amount_refunded, 0, "charge amount_refunded");
	is_str(o.u.charge.currency, "usd", "charge currency");
	is_str(o.u.charge.customer, NULL, "charge customer null");
	is_int(o.u.charge.disputed, 0, "charge not disputed");
	is_int(o.u.charge.nrefunds, 0, "charge refunds empty");
	is_int(o.u.charge.created, 1234567890, "charge created");

	is_int(dec_fixture(a, "refund", &o), 0, "refund decodes");
	is_int(o.kind, SK_REFUND, "refund kind");
	is_str(o.id, "re_1Pgc72B7WZ01zgkWqPvrRrPE", "refund id");
	is_int(o.u.reversal.amount, 100, "refund amount");
	is_str(o.u.reversal.charge, "ch_1PgafuB7WZ01zgkWXYmPNZs8", "refund charge");
	is_str(o.u.reversal.status, "succeeded", "refund status");
	is_str(o.u.reversal.currency, "usd", "refund currency");
	is_str(o.u.reversal.payment_intent, NULL, "refund payment_intent null");

	is_int(dec_fixture(a, "dispute", &o), 0, "dispute decodes");
	is_int(o.kind, SK_DISPUTE, "dispute kind");
	is_str(o.id, "dp_1Pgc71B7WZ01zgkWMevJiAUx", "dispute id");
	is_int(o.u.reversal.amount, 1000, "dispute amount");
	is_str(o.u.reversal.charge, "ch_1PgafuB7WZ01zgkWXYmPNZs8", "dispute charge");
	is_str(o.u.reversal.status, "warning_needs_response", "dispute status");
	is_str(o.u.reversal.reason, "general", "dispute reason");
}

static void
test_fixture_billing(struct arena *a)
{
	struct stripe_object o;

	is_int(dec_fixture(a, "billing.credit_grant", &o), 0, "credit grant decodes");
	is_int(o.kind, SK_CREDIT_GRANT, "credit grant kind");
	is_str(o.id, "obj_123", "credit grant id");
	is_str(o.u.credit_grant.customer, "obj_123", "credit grant customer (expanded object)");
	is_str(o.u.credit_grant.category, "paid", "credit grant category");
	is_int(o.u.credit_grant.amount, 111972721, "credit grant amount.monetary.value");
	is_str(o.u.credit_grant.currency, "currency", "credit grant amount.monetary.currency");
	is_int(o.u.credit_grant.created, 1028554472, "credit grant created");
	is_int(o.u.credit_grant.expires_at, 0, "credit grant expires_at null");
	is_int(o.u.credit_grant.voided_at, 0, "credit grant voided_at null");

	is_int(dec_fixture(a, "entitlements.active_entitlement_summary", &o), 0,
	       "entitlement summary decodes");
	is_int(o.kind, SK_ENTITLEMENT_SUMMARY, "entitlement summary kind");
	is_str(o.id, NULL, "entitlement summary has no id");
	is_str(o.u.entitlements.customer, "customer", "entitlement summary customer");
	is_str(stripe_object_customer(&o), "customer", "entitlement summary's customer");
	is_int(o.u.entitlements.more, 1, "entitlement summary has_more");
	is_int(o.u.entitlements.n, 1, "entitlement summary has one");
	if (o.u.entitlements.n == 1) {
		is_str(o.u.entitlements.items[0].lookup_key, "lookup_key", "entitlement lookup_key");
		is_str(o.u.entitlements.items[0].feature, "obj_123", "entitlement feature (object)");
	}
}

static void
test_fixture_event(struct arena *a)
{
	struct stripe_event ev;
	struct err e;
	json_t *j = fixture("event");
	int rc = -99;

	err_clear(&e);
	if (j != NULL) {
		rc = stripe_event_decode(a, j, &ev, &e);
		json_decref(j);
	}
	is_int(rc, 0, "event decodes");
	if (rc != 0) {
		printf("# %s\n", e.msg);
		return;
	}
	is_str(ev.id, "evt_1Pgc76B7WZ01zgkWwyRHS12y", "event id");
	is_str(ev.type, "plan.created", "event type");
	is_int(ev.created, 1234567890, "event created");
	is_str(ev.api_version, NULL, "event api_version null");
	is_int(ev.livemode, 0, "event livemode");
	is_str(ev.request_id, NULL, "event request id null");
	is_int(ev.obj.kind, SK_PRICE, "event object is a plan");
	is_str(ev.obj.id, "price_1PgafmB7WZ01zgkW6dKueIc5", "event object id");
	is_int(ev.obj.u.price.unit_amount, 2000, "event object amount");
	is_int(ev.obj.u.price.created, 1721948530, "event object created");
}

static void
test_subscription_shapes(struct arena *a)
{
	const struct s_subscription *s;
	struct stripe_object o;
	struct err e;

	/* 2025-03-31.basil and later: the period only on the items. */
	is_int(dec(a, "{'object':'subscription','id':'sub_new','customer':'cus_1','status':'trialing',"
	              "'items':{'object':'list','has_more':true,'data':["
	              "{'id':'si_a','price':'price_a','quantity':2,"
	              "'current_period_start':1000,'current_period_end':5000},"
	              "{'id':'si_b','price':{'id':'price_b','object':'price'},"
	              "'current_period_start':900,'current_period_end':6000}]}}", &o, &e), 0,
	       "new-shape subscription decodes");
	s = &o.u.subscription;
	is_int(s->nitems, 2, "new shape: two items");
	is_int(s->items_more, 1, "new shape: items has_more");
	is_int(s->period_start, 900, "new shape: period start is the earliest item start");
	is_int(s->period_end, 6000, "new shape: period end is the latest item end");
	if (s->nitems == 2) {
		is_str(s->items[0].price, "price_a", "new shape: item price id");
		is_int(s->items[0].quantity, 2, "new shape: item quantity");
		is_str(s->items[1].price, "price_b", "new shape: item price object");
		is_int(s->items[1].quantity, 1, "new shape: absent quantity is 1");
		is_int(s->items[1].period_start, 900, "new shape: item period start");
	}
	is_int(s->cancel_at_period_end, 0, "new shape: cancel_at_period_end absent");
	is_int(s->canceled_at, 0, "new shape: canceled_at absent");

	/* Before basil: the period on the subscription; items with a plan. */
	is_int(dec(a, "{'object':'subscription','id':'sub_old','customer':{'id':'cus_exp','object':'customer',"
	              "'email':'a@example.com'},'status':'past_due',"
	              "'current_period_start':100,'current_period_end':200,'cancel_at':null,"
	              "'canceled_at':null,'ended_at':null,'trial_end':null,'cancel_at_period_end':false,"
	              "'items':{'object':'list','has_more':false,'data':["
	              "{'id':'si_old','plan':{'id':'plan_old','object':'plan'},'quantity':3}]}}", &o, &e), 0,
	       "old-shape subscription decodes");
	s = &o.u.subscription;
	is_str(s->customer, "cus_exp", "old shape: expanded customer object");
	is_str(s->status, "past_due", "old shape: status");
	is_int(s->period_start, 100, "old shape: period start from the subscription");
	is_int(s->period_end, 200, "old shape: period end from the subscription");
	is_int(s->nitems, 1, "old shape: one item");
	if (s->nitems == 1) {
		is_str(s->items[0].price, "plan_old", "old shape: item price from plan");
		is_int(s->items[0].quantity, 3, "old shape: item quantity");
		is_int(s->items[0].period_end, 0, "old shape: item has no period");
	}

	/* No items at all, and a real-valued timestamp (float64 round trip). */
	is_int(dec(a, "{'object':'subscription','id':'sub_bare','customer':'cus_1','status':'canceled',"
	              "'created':1700000000.0,'items':null}", &o, &e), 0, "subscription without items decodes");
	is_int(o.u.subscription.nitems, 0, "no items");
	is_int(o.u.subscription.created, 1700000000, "integral real accepted as an integer");
	is_int(o.u.subscription.period_end, 0, "no period at all");
}

static void
test_invoice_shapes(struct arena *a)
{
	const struct s_invoice *inv;
	struct stripe_object o;
	struct err e;

	/* basil and later: parent.subscription_details, pricing.price_details. */
	is_int(dec(a, "{'object':'invoice','id':'in_new','customer':'cus_1','status':'paid',"
	              "'billing_reason':'subscription_cycle','currency':'eur','amount_due':4900,"
	              "'amount_paid':4900,'status_transitions':{'paid_at':1750000100},"
	              "'parent':{'type':'subscription_details','quote_details':null,"
	              "'subscription_details':{'subscription':'sub_new','metadata':{}}},"
	              "'lines':{'object':'list','has_more':false,'data':[{'id':'il_1','object':'line_item',"
	              "'amount':4900,'quantity':3,'period':{'start':1750000000,'end':1752592000},"
	              "'pricing':{'type':'price_details','price_details':{'price':'price_new','product':'prod_1'}},"
	              "'parent':{'type':'subscription_item_details','invoice_item_details':null,"
	              "'subscription_item_details':{'subscription':'sub_new','subscription_item':'si_1',"
	              "'proration':false}}}]}}", &o, &e), 0, "new-shape invoice decodes");
	inv = &o.u.invoice;
	is_str(inv->subscription, "sub_new", "new shape: invoice subscription from parent");
	is_str(inv->status, "paid", "new shape: invoice status");
	is_str(inv->currency, "eur", "new shape: currency");
	is_int(inv->amount_paid, 4900, "new shape: amount_paid");
	is_int(inv->paid_at, 1750000100, "new shape: status_transitions.paid_at");
	is_str(inv->charge, NULL, "new shape: no charge");
	is_str(inv->payment_intent, NULL, "new shape: no payment_intent");
	is_int(inv->nlines, 1, "new shape: one line");
	if (inv->nlines == 1) {
		is_str(inv->lines[0].price, "price_new", "new shape: line price from pricing.price_details");
		is_str(inv->lines[0].subscription, "sub_new", "new shape: line subscription from parent");
		is_int(inv->lines[0].quantity, 3, "new shape: line quantity");
		is_int(inv->lines[0].period_end, 1752592000, "new shape: line period end");
		is_int(inv->lines[0].proration, 0, "new shape: not a proration");
	}

	/* Before basil: top-level subscription, charge, line.price and line.plan. */
	is_int(dec(a, "{'object':'invoice','id':'in_old','customer':{'id':'cus_exp','object':'customer'},"
	              "'status':'open','subscription':{'id':'sub_old','object':'subscription'},"
	              "'charge':'ch_1','payment_intent':{'id':'pi_1','object':'payment_intent'},"
	              "'lines':{'object':'list','has_more':true,'data':["
	              "{'id':'il_a','amount':100,'price':{'id':'price_obj','object':'price'},"
	              "'subscription':'sub_old','proration':true},"
	              "{'id':'il_b','amount':200,'quantity':null,'price':null,'plan':{'id':'plan_x','object':'plan'}},"
	              "{'id':'il_c','amount':300,'price':'price_str','plan':'plan_ignored'}]}}", &o, &e), 0,
	       "old-shape invoice decodes");
	inv = &o.u.invoice;
	is_str(inv->customer, "cus_exp", "old shape: expanded customer");
	is_str(stripe_object_customer(&o), "cus_exp", "old shape: the invoice's customer");
	is_str(inv->subscription, "sub_old", "old shape: top-level subscription (expanded)");
	is_str(inv->charge, "ch_1", "old shape: charge");
	is_str(inv->payment_intent, "pi_1", "old shape: expanded payment_intent");
	is_int(inv->lines_more, 1, "old shape: lines has_more");
	is_int(inv->nlines, 3, "old shape: three lines");
	if (inv->nlines == 3) {
		is_str(inv->lines[0].price, "price_obj", "old shape: line price object");
		is_str(inv->lines[0].subscription, "sub_old", "old shape: line subscription");
		is_int(inv->lines[0].proration, 1, "old shape: line proration");
		is_str(inv->lines[1].price, "plan_x", "old shape: line plan");
		is_int(inv->lines[1].quantity, 1, "old shape: null quantity is 1");
		is_str(inv->lines[2].price, "price_str", "old shape: price wins over plan");
		is_int(inv->lines[2].amount, 300, "old shape: line amount");
	}
}

static void
test_checkout_and_charge(struct arena *a)
{
	struct stripe_object o;
	struct err e;

	is_int(dec(a, "{'object':'checkout.session','id':'cs_meta','mode':'payment','status':'complete',"
	              "'payment_status':'paid','customer':'cus_1','amount_total':1000,'currency':'usd',"
	              "'metadata':{'price':'price_topup_10k'}}", &o, &e), 0,
	       "checkout with metadata.price decodes");
	is_str(o.u.checkout.price, "price_topup_10k", "checkout price from metadata.price");
	is_int(o.u.checkout.quantity, 1, "checkout metadata price: quantity 1");
	is_str(o.u.checkout.customer, "cus_1", "checkout customer");
	is_int(o.u.checkout.amount_total, 1000, "checkout amount_total");
	is_str(stripe_object_customer(&o), "cus_1", "checkout's customer");

	is_int(dec(a, "{'object':'checkout.session','id':'cs_items','mode':'subscription','status':'complete',"
	              "'customer':{'id':'cus_2','object':'customer'},'subscription':'sub_9','invoice':'in_9',"
	              "'metadata':{'price':'price_meta'},'line_items':{'object':'list','has_more':false,"
	              "'data':[{'id':'li_1','object':'item','price':{'id':'price_line','object':'price'},"
	              "'quantity':2}]}}", &o, &e), 0, "checkout with line_items decodes");
	is_str(o.u.checkout.price, "price_line", "checkout price from line_items.data[0].price");
	is_int(o.u.checkout.quantity, 2, "checkout line quantity");
	is_str(o.u.checkout.customer, "cus_2", "checkout expanded customer");
	is_str(o.u.checkout.subscription, "sub_9", "checkout subscription");
	is_str(o.u.checkout.invoice, "in_9", "checkout invoice");

	is_int(dec(a, "{'object':'charge','id':'ch_r','amount':5000,'amount_refunded':3000,'currency':'usd',"
	              "'customer':'cus_1','invoice':'in_1','payment_intent':'pi_1','disputed':true,"
	              "'refunds':{'object':'list','has_more':false,'data':["
	              "{'id':'re_1','object':'refund','amount':1000,'charge':'ch_r','status':'succeeded'},"
	              "{'id':'re_2','object':'refund','amount':2000,'charge':'ch_r','status':'pending',"
	              "'created':1750000000}]}}", &o, &e), 0, "charge with refunds decodes");
	is_int(o.u.charge.nrefunds, 2, "charge refunds.data");
	is_int(o.u.charge.disputed, 1, "charge disputed");
	is_str(o.u.charge.invoice, "in_1", "charge invoice");
	if (o.u.charge.nrefunds == 2) {
		is_str(o.u.charge.refund_ids[0], "re_1", "charge refund 0 id");
		is_int(o.u.charge.refunds[0].amount, 1000, "charge refund 0 amount");
		is_str(o.u.charge.refund_ids[1], "re_2", "charge refund 1 id");
		is_str(o.u.charge.refunds[1].status, "pending", "charge refund 1 status");
		is_int(o.u.charge.refunds[1].created, 1750000000, "charge refund 1 created");
	}
}

static void
test_events(struct arena *a)
{
	struct stripe_event ev;
	struct err e;

	is_int(dec_event(a, "{'id':'evt_del','object':'event','type':'customer.deleted','created':1750000000,"
	                    "'livemode':true,'api_version':'2026-07-29.dahlia',"
	                    "'request':{'id':'req_1','idempotency_key':'ik_1'},"
	                    "'data':{'object':{'id':'cus_gone','object':'customer','email':'x@example.com'}}}",
	                 &ev, &e), 0, "customer.deleted event decodes");
	is_int(ev.obj.u.customer.deleted, 1, "customer.deleted marks the customer deleted");
	is_str(ev.obj.u.customer.email, "x@example.com", "customer.deleted keeps the fields");
	is_str(ev.request_id, "req_1", "request.id");
	is_str(ev.idempotency_key, "ik_1", "request.idempotency_key");
	is_str(ev.api_version, "2026-07-29.dahlia", "api_version");
	is_int(ev.livemode, 1, "livemode");

	is_int(dec_event(a, "{'id':'evt_old','object':'event','type':'invoice.paid','created':1400000000,"
	                    "'request':'req_old','data':{'object':{'id':'in_1','object':'invoice',"
	                    "'customer':'cus_1','status':'paid'},'previous_attributes':{'status':'open'}}}",
	                 &ev, &e), 0, "pre-2017 event with a string request decodes");
	is_str(ev.request_id, "req_old", "string request is the request id");
	is_int(ev.obj.kind, SK_INVOICE, "event object kind");
	is_str(stripe_object_customer(&ev.obj), "cus_1", "event object customer");

	is_int(dec_event(a, "{'id':'evt_u','object':'event','type':'payment_intent.created','created':1,"
	                    "'data':{'object':{'id':'pi_1','object':'payment_intent','amount':'weird'}}}",
	                 &ev, &e), 0, "event with an unmirrored object decodes");
	is_int(ev.obj.kind, SK_UNKNOWN, "unmirrored object is SK_UNKNOWN");
	is_str(ev.obj.type, "payment_intent", "unmirrored type kept");
	is_str(ev.obj.id, "pi_1", "unmirrored id kept");

	want_event_err(a, "[]", "event: expected a JSON object");
	want_event_err(a, "{'object':'event','type':'x','created':1,'data':{'object':{}}}",
	               "event: id: missing");
	want_event_err(a, "{'id':'evt_1','object':'event','created':1,'data':{'object':{}}}",
	               "event evt_1: type: missing");
	want_event_err(a, "{'id':'evt_1','object':'event','type':'x','data':{'object':{}}}",
	               "event evt_1: created: missing");
	want_event_err(a, "{'id':'evt_1','object':'event','type':'x','created':'soon','data':{'object':{}}}",
	               "event evt_1: created: expected an integer");
	want_event_err(a, "{'id':'evt_1','object':'event','type':'x','created':1,'data':{}}",
	               "event evt_1: data.object: missing");
	want_event_err(a, "{'id':'evt_1','object':'event','type':'x','created':1,'data':'no'}",
	               "event evt_1: data: expected an object");
	want_event_err(a, "{'id':'evt_1','object':'event','type':'x','created':1,'data':{'object':[1]}}",
	               "event evt_1: data.object: expected an object");
	want_event_err(a, "{'id':'in_1','object':'invoice','type':'x','created':1,'data':{'object':{}}}",
	               "event in_1: object: expected \"event\", got \"invoice\"");
	want_event_err(a, "{'id':'evt_1','object':'event','type':'invoice.paid','created':1,"
	                  "'data':{'object':{'id':'in_1','object':'invoice','status':'paid'}}}",
	               "event evt_1: invoice in_1: customer: missing");
}

static void
test_errors(struct arena *a)
{
	want_err(a, "[1]", "Stripe object: expected a JSON object");
	want_err(a, "{'object':'customer'}", "customer: id: missing");
	want_err(a, "{'object':'invoice','id':5,'customer':'c','status':'paid'}", "invoice: id: expected a string");
	want_err(a, "{'object':'invoice','id':'in_123','status':'paid'}", "invoice in_123: customer: missing");
	want_err(a, "{'object':'invoice','id':'in_123','customer':null,'status':'paid'}",
	         "invoice in_123: customer: missing");
	want_err(a, "{'object':'invoice','id':'in_123','customer':'cus_1'}", "invoice in_123: status: missing");
	want_err(a, "{'object':'invoice','id':'in_123','customer':{'object':'customer'},'status':'paid'}",
	         "invoice in_123: customer: expected a string or an object with an id");
	want_err(a, "{'object':'invoice','id':'in_123','customer':'c','status':'paid','lines':{'data':[7]}}",
	         "invoice in_123: lines.data[0]: expected an object");
	want_err(a, "{'object':'invoice','id':'in_123','customer':'c','status':'paid','lines':{'data':{}}}",
	         "invoice in_123: lines.data: expected an array");
	want_err(a, "{'object':'invoice','id':'in_123','customer':'c','status':'paid',"
	            "'parent':{'subscription_details':'sub_1'}}",
	         "invoice in_123: parent.subscription_details: expected an object");
	want_err(a, "{'object':'invoice','id':'in_123','customer':'c','status':'paid',"
	            "'lines':{'data':[{'id':'il_1','pricing':{'price_details':{'price':3}}}]}}",
	         "invoice in_123: lines.data[0].pricing.price_details.price: "
	         "expected a string or an object with an id");
	want_err(a, "{'object':'invoice','id':'in_123','customer':'c','status':'paid','amount_due':'10'}",
	         "invoice in_123: amount_due: expected an integer");
	want_err(a, "{'object':'subscription','id':'sub_1','status':'active'}",
	         "subscription sub_1: customer: missing");
	want_err(a, "{'object':'subscription','id':'sub_1','customer':'cus_1'}",
	         "subscription sub_1: status: missing");
	want_err(a, "{'object':'subscription','id':'sub_1','customer':'cus_1','status':7}",
	         "subscription sub_1: status: expected a string");
	want_err(a, "{'object':'subscription','id':'sub_1','customer':'cus_1','status':'active',"
	            "'items':{'data':[{'price':'p0'},{'price':'p1'},{'price':42}]}}",
	         "subscription sub_1: items.data[2].price: expected a string or an object with an id");
	want_err(a, "{'object':'subscription','id':'sub_1','customer':'cus_1','status':'active',"
	            "'cancel_at_period_end':'yes'}",
	         "subscription sub_1: cancel_at_period_end: expected true or false");
	want_err(a, "{'object':'subscription','id':'sub_1','customer':'cus_1','status':'active','items':5}",
	         "subscription sub_1: items: expected a list");
	want_err(a, "{'object':'charge','id':'ch_1'}", "charge ch_1: amount: missing");
	want_err(a, "{'object':'charge','id':'ch_1','amount':10,'refunds':{'data':[{'id':'re_1'}]}}",
	         "charge ch_1: refunds.data[0].amount: missing");
	want_err(a, "{'object':'charge','id':'ch_1','amount':10,'refunds':{'data':[{'amount':1}]}}",
	         "charge ch_1: refunds.data[0].id: missing");
	want_err(a, "{'object':'refund','id':'re_1','charge':'ch_1'}", "refund re_1: amount: missing");
	want_err(a, "{'object':'dispute','id':'dp_1','amount':'1000'}", "dispute dp_1: amount: expected an integer");
	want_err(a, "{'object':'price','id':'price_1','unit_amount':1.5}",
	         "price price_1: unit_amount: expected an integer");
	want_err(a, "{'object':'checkout.session','id':'cs_1','metadata':{'price':1}}",
	         "checkout.session cs_1: metadata.price: expected a string");
	want_err(a, "{'object':'billing.credit_grant','id':'cg_1','amount':{'monetary':{'value':'5'}}}",
	         "billing.credit_grant cg_1: amount.monetary.value: expected an integer");
	want_err(a, "{'object':'entitlements.active_entitlement_summary','entitlements':{'data':[]}}",
	         "entitlements.active_entitlement_summary: customer: missing");
	want_err(a, "{'object':'entitlements.active_entitlement_summary','customer':'cus_1',"
	            "'entitlements':{'data':[{'lookup_key':'a','feature':{'name':'x'}}]}}",
	         "entitlements.active_entitlement_summary: entitlements.data[0].feature: "
	         "expected a string or an object with an id");
	want_err(a, "{'object':'customer','id':'cus_1','deleted':'yes'}",
	         "customer cus_1: deleted: expected true or false");
	/* An empty required string names nothing: a paid invoice of customer
	 * "" could be credited to no one. */
	want_err(a, "{'object':'invoice','id':'in_123','customer':'','status':'paid'}",
	         "invoice in_123: customer: empty");
	want_err(a, "{'object':'invoice','id':'in_123','customer':{'id':''},'status':'paid'}",
	         "invoice in_123: customer: empty");
	want_err(a, "{'object':'subscription','id':'sub_1','customer':'cus_1','status':''}",
	         "subscription sub_1: status: empty");
	want_err(a, "{'object':'invoice','id':'','customer':'cus_1','status':'paid'}",
	         "invoice: id: empty");
}

static void
test_unknown(struct arena *a)
{
	struct stripe_object o;
	struct err e;

	is_int(dec(a, "{'id':'x_1','object':'payment_intent'}", &o, &e), 0, "unknown type decodes");
	is_int(o.kind, SK_UNKNOWN, "unknown type kind");
	is_str(o.type, "payment_intent", "unknown type kept");
	is_str(o.id, "x_1", "unknown id kept");
	is_str(stripe_object_customer(&o), NULL, "unknown: no customer");
	is_int(dec(a, "{'hello':'world'}", &o, &e), 0, "object without a type decodes");
	is_int(o.kind, SK_UNKNOWN, "untyped is unknown");
	is_str(o.type, NULL, "untyped: no type");
	is_str(o.id, NULL, "untyped: no id");
}

/* Every fixture decodes, alone and as an event's data.object, and keeps its
 * type and id. */
static void
test_all_fixtures(struct arena *a)
{
	struct stripe_object o;
	struct stripe_event ev;
	struct dirent *de;
	json_t *j, *evj;
	struct err e;
	size_t n = 0, failed = 0, mirrored = 0, len;
	char name[256];
	DIR *d = opendir(fixdir);

	if (!ok(d != NULL, "open %s", fixdir))
		return;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 || de->d_name[0] == '_' ||
		    len - 5 >= sizeof name)
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		j = fixture(name);
		if (j == NULL) {
			failed++;
			continue;
		}
		n++;
		err_clear(&e);
		if (stripe_object_decode(a, j, &o, &e) != 0) {
			printf("# %s: %s\n", name, e.msg);
			failed++;
		} else {
			const char *type = json_string_value(json_object_get(j, "object"));
			const char *id = json_string_value(json_object_get(j, "id"));

			if (o.kind != SK_UNKNOWN)
				mirrored++;
			if (!((type == NULL) == (o.type == NULL) && (type == NULL || strcmp(type, o.type) == 0)) ||
			    (o.kind != SK_ENTITLEMENT_SUMMARY &&
			     !((id == NULL) == (o.id == NULL) && (id == NULL || strcmp(id, o.id) == 0)))) {
				printf("# %s: type or id not kept\n", name);
				failed++;
			}
		}
		evj = json_pack("{s:s, s:s, s:s, s:i, s:{s:O}}", "id", "evt_fixture", "object", "event",
		                "type", "fixture.test", "created", 1, "data", "object", j);
		err_clear(&e);
		if (evj == NULL || stripe_event_decode(a, evj, &ev, &e) != 0) {
			printf("# %s as an event: %s\n", name, e.msg);
			failed++;
		}
		json_decref(evj);
		json_decref(j);
		arena_reset(a);
	}
	closedir(d);
	ok(n >= 170, "read %zu fixture files", n);
	is_int(failed, 0, "every fixture decodes, alone and in an event, keeping type and id");
	is_int(mirrored, 15, "fixtures of mirrored types (incl. deleted_customer, _invoice, _price, _plan)");
}

int
main(void)
{
	const char *shared = getenv("SHARED");
	struct arena a;

	(void)t_dir;    /* unused here; t.h's attribute does not reach the function */
	if (shared == NULL || *shared == '\0') {
		printf("Bail out! SHARED is not set: it must name the shared directory "
		       "(with stripe/fixtures/)\n");
		return 99;
	}
	snprintf(fixdir, sizeof fixdir, "%s/stripe/fixtures", shared);
	arena_init(&a);
	test_fixture_customer(&a);
	test_fixture_subscription(&a);
	test_fixture_invoice(&a);
	test_fixture_prices(&a);
	test_fixture_payments(&a);
	test_fixture_billing(&a);
	test_fixture_event(&a);
	test_subscription_shapes(&a);
	test_invoice_shapes(&a);
	test_checkout_and_charge(&a);
	test_events(&a);
	test_errors(&a);
	test_unknown(&a);
	test_all_fixtures(&a);
	arena_done(&a);
	return t_done();
}
