/*
 * operator: the console's operator actions (SPEC 9), each a thin client of
 * the core as the command line's cmd-*.c are: adjust credits, reverse a
 * ledger entry, replay a webhook, resync a customer (actions.h);
 * acknowledge and repair a drift alert (drift.h).
 *
 * The flow is the command line's act_run (cli/confirm.c) in dialogs: ask
 * for what the action needs (dialog_ask), show the preview exactly as
 * action_preview_render writes it and ask as pv.confirm says (dialog_show:
 * y/N, or the text to type for a live key or an amount above adjust_cap),
 * then apply, which decides again from what is committed now and writes
 * the attempt's one audit row.  A declined dialog is an attempt too
 * (actions_record_declined: a "refused" row); a refused or no-op preview
 * is shown and then recorded by the apply, as on the command line.  The
 * outcome goes to the message line, and the view re-reads, keeping its
 * selection, so the new ledger row, delivery or audit row shows at once
 * (the console's own commits do not move the data_version the live
 * refresh watches).
 *
 * The network (a replay, a resync, a push, a resync repair) is called
 * here, on the UI thread: the message line says first what is waited for,
 * the client's timeouts bound the wait, a signal ends it (env.stop), and
 * the core holds no transaction meanwhile.  The sync thread keeps writing
 * through its own connection; SQLite's busy timeout orders the two
 * writers (doc/threading.md).
 *
 * Read-only mode never reaches these handlers (tui_dispatch refuses
 * A_WRITES) and the core's applies refuse too.  Main thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "drift.h"
#include "sync.h"
#include "tui-int.h"
#include "util.h"

#define FIELD 512

static void
env_init(struct tui *t, struct action_env *env)
{
	memset(env, 0, sizeof *env);
	env->s = t->s;
	env->cfg = t->cfg;
	env->cat = t->cat;
	env->stop = t->stop;
}

static const int result_role[] = {
	[ACTION_OK] = R_GOOD, [ACTION_NOOP] = R_NORMAL, [ACTION_REFUSED] = R_BAD,
	[ACTION_FAILED] = R_BAD, [ACTION_PENDING] = R_WARN,
};

/* The view re-reads first (which may report an error), then the outcome
 * takes the message line. */
static void
outcome_show(struct tui *t, const char *name, const struct action_outcome *out)
{
	tui_reread(t);
	tui_message(t, result_role[out->result], "%s %s: %s", name,
	    action_result_name(out->result), out->message);
}

/* A copy of the selection's key (the view's rows may be re-read before it
 * is used); NULL when there is none. */
static const char *
sel_copy(struct tui *t, char *out, size_t n)
{
	const char *k = tui_selected_key(t);

	if (k == NULL)
		return NULL;
	snprintf(out, n, "%s", k);
	return out;
}

/* The customer: the customer view's own, or the customers list's row. */
static const char *
sel_customer(struct tui *t, struct view *v, char *out, size_t n)
{
	if (v->ops->bit == V_CUSTOMER) {
		snprintf(out, n, "%s", v->arg);
		return out;
	}
	return sel_copy(t, out, n);
}

/* Ask until the answer is not empty (required) or the operator cancels. */
static int
ask_required(struct tui *t, const char *title, const char *intro, const char *label,
             char *out, size_t n)
{
	const char *err = NULL;

	for (;;) {
		if (!dialog_ask(t, title, intro, err, label, out, out, n))
			return 0;
		if (out[strspn(out, " ")] != '\0')
			return 1;
		err = "required: say why, for the audit log";
	}
}

/* ---- the preview, the question, the apply ----------------------------------- */

typedef int (*op_preview_fn)(const struct action_env *env, const void *req,
                             struct action_preview *pv, struct err *e);
typedef int (*op_apply_fn)(const struct action_env *env, const void *req,
                           struct action_outcome *out, struct err *e);

static void
op_run(struct tui *t, const char *name, op_preview_fn preview, op_apply_fn apply,
       const void *req, const char *reason)
{
	struct action_env env;
	struct action_preview pv;
	struct action_outcome out;
	struct err e;
	struct buf b;
	char title[400];
	int ok = 1;

	env_init(t, &env);
	if (preview(&env, req, &pv, &e) != 0) {
		tui_error(t, name, e.msg);
		return;
	}
	buf_init(&b, 0);
	action_preview_render(&pv, &b);
	snprintf(title, sizeof title, "%s %s", name, pv.target);
	if (pv.refused || pv.noop)
		dialog_show(t, title, b.data, DIALOG_CLOSE, NULL);
	else if (pv.confirm != ACTION_CONFIRM_NONE)
		ok = dialog_show(t, title, b.data, pv.confirm == ACTION_CONFIRM_TYPED ?
		    DIALOG_TYPED : DIALOG_YES, pv.confirm_text);
	buf_done(&b);
	if (t->quit)
		goto out;               /* a signal: no answer was given */
	if (!ok) {
		if (actions_record_declined(&env, &pv, reason, "declined in the console", &out,
		    &e) != 0)
			tui_error(t, name, e.msg);
		else
			outcome_show(t, name, &out);
		goto out;
	}
	if (pv.has_http && !pv.refused && !pv.noop)
		tui_busy(t, "%s: %s %s: waiting for the answer (the client's timeouts bound it)...",
		    name, pv.http.method, pv.http.url);
	if (apply(&env, req, &out, &e) != 0)
		tui_error(t, name, e.msg);
	else
		outcome_show(t, name, &out);
out:
	action_preview_done(&pv);
}

/* ---- adjust --------------------------------------------------------------------- */

static int
adjust_preview(const struct action_env *env, const void *req, struct action_preview *pv,
               struct err *e)
{
	return actions_adjust_preview(env, req, pv, e);
}

static int
adjust_apply(const struct action_env *env, const void *req, struct action_outcome *out,
             struct err *e)
{
	return actions_adjust_apply(env, req, out, e);
}

static int
ask_amount(struct tui *t, const char *intro, int64_t *amount)
{
	char text[FIELD] = "", err[FIELD] = "";

	for (;;) {
		if (!dialog_ask(t, "adjust", intro, err, "amount", text, text, sizeof text))
			return 0;
		if (parse_int64(text, amount) == 0 && *amount != 0 && *amount != INT64_MIN)
			return 1;
		snprintf(err, sizeof err, "expected a signed whole number of credits, not 0 "
		    "(got '%s')", text);
	}
}

/* Only with an API key: the push is a request to Stripe. */
static int
ask_push(struct tui *t, const char *intro, enum action_push *push)
{
	char text[FIELD] = "none", err[FIELD] = "";

	*push = ACTION_PUSH_NONE;
	if (t->cfg->api_key == NULL || t->cfg->api_key[0] == '\0')
		return 1;
	for (;;) {
		if (!dialog_ask(t, "adjust", intro, err, "push to Stripe (none, balance, grant)",
		    text, text, sizeof text))
			return 0;
		if (action_push_parse(text, push) == 0)
			return 1;
		snprintf(err, sizeof err, "expected none, balance or grant (got '%s')", text);
	}
}

int
act_adjust(struct tui *t, struct view *v, int act)
{
	struct action_adjust r;
	char cus[256], reason[FIELD] = "", key[FIELD] = "", intro[1400];

	if (sel_customer(t, v, cus, sizeof cus) == NULL)
		return 0;
	memset(&r, 0, sizeof r);
	snprintf(intro, sizeof intro, "adjust the %s of %s: a positive amount gives, a "
	    "negative one takes.", t->cat->unit, cus);
	if (!ask_amount(t, intro, &r.amount))
		return 0;
	snprintf(intro, sizeof intro, "adjust %s by %+lld %s.", cus, (long long)r.amount,
	    t->cat->unit);
	if (!ask_required(t, "adjust", intro, "reason", reason, sizeof reason))
		return 0;
	snprintf(intro + strlen(intro), sizeof intro - strlen(intro), "\nreason: %s\n\nThe key "
	    "names this adjustment once: the same submission again does nothing.  Empty: derived "
	    "from the customer, amount, reason and operator.", reason);
	if (!dialog_ask(t, "adjust", intro, NULL, "key (optional)", NULL, key, sizeof key) ||
	    !ask_push(t, intro, &r.push))
		return 0;
	r.customer = cus;
	r.reason = reason;
	r.key = key[0] != '\0' ? key : NULL;
	op_run(t, "adjust", adjust_preview, adjust_apply, &r, reason);
	return 0;
}

/* ---- reverse -------------------------------------------------------------------- */

static int
reverse_preview(const struct action_env *env, const void *req, struct action_preview *pv,
                struct err *e)
{
	return actions_reverse_preview(env, req, pv, e);
}

static int
reverse_apply(const struct action_env *env, const void *req, struct action_outcome *out,
              struct err *e)
{
	return actions_reverse_apply(env, req, out, e);
}

/* The entry: the ledger's row (its seq), or on the customer view a line of
 * its latest entries ("L:seq") or of an invoice's ("TL:seq"). */
static const char *
sel_entry(struct tui *t, struct view *v, char *out, size_t n)
{
	static const char *const prefixes[] = { "L:", "TL:" };
	size_t i;

	if (sel_copy(t, out, n) == NULL)
		return NULL;
	if (v->ops->bit != V_CUSTOMER)
		return out;
	for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(out, prefixes[i], strlen(prefixes[i])) == 0) {
			memmove(out, out + strlen(prefixes[i]), strlen(out) - strlen(prefixes[i]) + 1);
			return out;
		}
	return NULL;
}

int
act_reverse_entry(struct tui *t, struct view *v, int act)
{
	struct action_reverse r;
	char entry[320], reason[FIELD] = "", intro[600];

	if (sel_entry(t, v, entry, sizeof entry) == NULL) {
		tui_message(t, R_WARN, "reverse-entry: select a ledger entry first (the latest "
		    "entries, or one under an invoice)");
		return 0;
	}
	snprintf(intro, sizeof intro, "reverse ledger entry %s: one entry appended, its amount "
	    "negated.", entry);
	if (!ask_required(t, "reverse", intro, "reason", reason, sizeof reason))
		return 0;
	memset(&r, 0, sizeof r);
	r.entry = entry;
	r.reason = reason;
	op_run(t, "reverse", reverse_preview, reverse_apply, &r, reason);
	return 0;
}

/* ---- replay --------------------------------------------------------------------- */

static int
replay_preview(const struct action_env *env, const void *req, struct action_preview *pv,
               struct err *e)
{
	return actions_replay_preview(env, req, pv, e);
}

static int
replay_apply(const struct action_env *env, const void *req, struct action_outcome *out,
             struct err *e)
{
	return actions_replay_apply(env, req, out, e);
}

/* To webhook_endpoint_url when there is one; otherwise through Stripe when
 * it can (a key and webhook_endpoint_id); otherwise the preview says what
 * to configure. */
int
act_replay(struct tui *t, struct view *v, int act)
{
	const struct config *cfg = t->cfg;
	struct action_replay r;
	char target[320];

	if (sel_copy(t, target, sizeof target) == NULL)
		return 0;
	memset(&r, 0, sizeof r);
	r.target = target;
	r.via_stripe = cfg->webhook_endpoint_url == NULL && cfg->webhook_endpoint_id != NULL &&
	    cfg->api_key != NULL && cfg->api_key[0] != '\0';
	op_run(t, "replay", replay_preview, replay_apply, &r, NULL);
	return 0;
}

/* ---- resync --------------------------------------------------------------------- */

static void
resync_report(const struct action_outcome *out, struct buf *b)
{
	const struct action_resync_report *rep = &out->resync;
	int i;

	buf_printf(b, "objects: %lld fetched, %lld written (newer than the mirror), %lld "
	    "unchanged, %lld conflicts (marked for refetch), %lld quarantined\n",
	    (long long)rep->counts.objects, (long long)rep->counts.changed,
	    (long long)rep->counts.unchanged, (long long)rep->counts.conflicts,
	    (long long)rep->counts.quarantined);
	buf_printf(b, "balance: %lld -> %lld\n", (long long)out->balance_before,
	    (long long)out->balance_after);
	buf_printf(b, "ledger:  %d entries added\n", rep->nentries);
	for (i = 0; i < rep->nentries && i < ACTION_MAX_ENTRIES; i++)
		buf_printf(b, "         + %s %+lld %s\n", rep->entries[i].kind,
		    (long long)rep->entries[i].amount, rep->entries[i].key);
	if (rep->nentries > ACTION_MAX_ENTRIES)
		buf_printf(b, "         ... and %d more\n", rep->nentries - ACTION_MAX_ENTRIES);
	for (i = 0; i < rep->nfeatures; i++)
		buf_printf(b, "%s %-16s %s (%s) -> %s (%s)%s\n", i == 0 ? "access: " : "        ",
		    rep->features[i].feature, rep->features[i].before ? "allow" : "deny",
		    rep->features[i].reason_before, rep->features[i].after ? "allow" : "deny",
		    rep->features[i].reason_after,
		    rep->features[i].before != rep->features[i].after ? "  CHANGED" : "");
	buf_printf(b, "alerts:  %d changed%s\n", rep->nalerts,
	    rep->drift_checked ? "" : " (not re-evaluated)");
	for (i = 0; i < rep->nalerts && i < 8; i++)
		buf_printf(b, "         %s\n", rep->alerts[i]);
}

/* Resync only reads from Stripe and applies what sync would: no question
 * (as on the command line); the report is shown after. */
int
act_resync(struct tui *t, struct view *v, int act)
{
	struct action_env env;
	struct action_resync r;
	struct action_outcome out;
	struct err e;
	struct buf b;
	char cus[256], title[300];

	if (sel_customer(t, v, cus, sizeof cus) == NULL)
		return 0;
	memset(&r, 0, sizeof r);
	r.customer = cus;
	env_init(t, &env);
	tui_busy(t, "resync %s: fetching it from Stripe (the client's timeouts bound the wait)...",
	    cus);
	if (actions_resync_run(&env, &r, &out, &e) != 0) {
		tui_reread(t);
		tui_error(t, "resync", e.msg);
		return 0;
	}
	if (out.result == ACTION_OK) {
		buf_init(&b, 0);
		buf_printf(&b, "%s\n\n", out.message);
		resync_report(&out, &b);
		snprintf(title, sizeof title, "resync %s", cus);
		dialog_show(t, title, b.data, DIALOG_CLOSE, NULL);
		buf_done(&b);
	}
	outcome_show(t, "resync", &out);
	return 0;
}

/* ---- drift alerts: ack and repair ------------------------------------------------- */

/* The selected alert's id and the alert, loaded; 0, or -1 reported. */
static int
sel_alert(struct tui *t, struct drift_alert *a)
{
	char text[64];
	struct err e;
	int64_t id;
	int rc;

	memset(a, 0, sizeof *a);
	if (sel_copy(t, text, sizeof text) == NULL || parse_int64(text, &id) != 0)
		return -1;
	rc = drift_alert_load(t->s, id, a, &e);
	if (rc == DRIFT_ENOENT)
		tui_message(t, R_BAD, "no alert %lld in the mirror", (long long)id);
	else if (rc != 0)
		tui_error(t, "reading the alert", e.msg);
	return rc == 0 ? 0 : -1;
}

static void
alert_text(const struct drift_alert *a, struct buf *b)
{
	buf_printf(b, "alert %lld: %s %s %s%s%s%s (%s)\n  %s\n", (long long)a->id, a->severity,
	    a->rule, a->subject, a->customer[0] ? " (" : "", a->customer,
	    a->customer[0] ? ")" : "", a->state, a->summary);
}

int
act_ack(struct tui *t, struct view *v, int act)
{
	struct drift_alert a;
	struct err e;
	struct buf b;
	char note[FIELD] = "", title[64];
	int asked, rc;

	if (sel_alert(t, &a) != 0)
		return 0;
	buf_init(&b, 0);
	alert_text(&a, &b);
	buf_printf(&b, "\nIt stays acknowledged while its condition holds; the note, you and the "
	    "time go to its history and the audit log.");
	snprintf(title, sizeof title, "acknowledge alert %lld", (long long)a.id);
	asked = ask_required(t, title, b.data, "note", note, sizeof note);
	buf_done(&b);
	if (asked) {
		rc = drift_ack(t->s, a.id, t->cfg->operator_name, note, tally_now(), &e);
		tui_reread(t);
		if (rc == 0)
			tui_message(t, R_GOOD, "alert %lld acknowledged by %s: %s", (long long)a.id,
			    t->cfg->operator_name, note);
		else if (rc == DRIFT_ENOENT || rc == DRIFT_ESTATE)
			tui_message(t, R_BAD, "ack: %s", e.msg);
		else
			tui_error(t, "ack", e.msg);
	}
	drift_alert_done(&a);
	return 0;
}

static void
repair_text(const struct drift_repair *r, struct buf *b)
{
	char t1[32], t2[32];
	int i;

	buf_printf(b, "would: %s\n", r->what);
	for (i = 0; i < r->nentries && i < DRIFT_REPAIR_MAX_ENTRIES; i++) {
		time_fmt(r->entries[i].effective_at, t1, sizeof t1);
		time_fmt(r->entries[i].expires_at, t2, sizeof t2);
		buf_printf(b, "  + entry %lld %s %s %+lld  effective %s%s%s\n",
		    (long long)r->entries[i].seq, r->entries[i].kind, r->entries[i].key,
		    (long long)r->entries[i].amount, t1, r->entries[i].expires_at ? ", expires " : "",
		    r->entries[i].expires_at ? t2 : "");
	}
	if (r->nentries > DRIFT_REPAIR_MAX_ENTRIES)
		buf_printf(b, "  ... and %d more entries\n", r->nentries - DRIFT_REPAIR_MAX_ENTRIES);
	if (r->cache_fixed)
		buf_printf(b, "  cached balance recomputed from the ledger\n");
	if (r->customer[0] != '\0')
		buf_printf(b, "  balance of %s: %lld -> %lld (ledger sum %lld -> %lld)\n",
		    r->customer, (long long)r->balance_before, (long long)r->balance_after,
		    (long long)r->sum_before, (long long)r->sum_after);
	buf_printf(b, "  the alert after the re-check: %s\n",
	    r->state_after[0] != '\0' ? r->state_after : "-");
}

/* A repair that is a resync of the alert's customer, as `tally repair`
 * does it (actions_repair_resync), with the message line saying what it
 * waits for. */
static int
repair_resync(struct tui *t, struct drift *d, const struct drift_alert *a,
              struct drift_repair *r, struct err *e)
{
	struct action_env env;

	env_init(t, &env);
	tui_busy(t, "repair %lld: fetching %s from Stripe (the client's timeouts bound the "
	    "wait)...", (long long)a->id, a->customer);
	return actions_repair_resync(&env, d, a, NULL, 0, r, NULL, e);
}

/* What drift_repair_run said, on the message line. */
static void
repair_said(struct tui *t, int64_t id, int rc, const struct drift_repair *r, const char *msg)
{
	if (rc == DRIFT_ECLEARED)
		tui_message(t, R_GOOD, "repair: %s", msg);
	else if (rc == DRIFT_ENOENT || rc == DRIFT_ESTATE)
		tui_message(t, R_BAD, "repair: %s", msg);
	else if (rc != 0)
		tui_error(t, "repair", msg);
	else if (r->refused[0] != '\0')
		tui_message(t, R_BAD, "repair of alert %lld refused: %s", (long long)id, r->refused);
	else
		tui_message(t, R_GOOD, "repair done: %d entr%s appended; alert %lld is %s",
		    r->nentries, r->nentries == 1 ? "y" : "ies", (long long)id,
		    r->state_after[0] != '\0' ? r->state_after : "re-checked");
}

/* The plan (the repair run and rolled back), the question, the repair. */
static void
repair_run(struct tui *t, struct drift *d, const struct drift_alert *a)
{
	struct drift_repair plan, done;
	struct err e;
	struct buf b;
	char title[64];
	int rc, ok;

	memset(&plan, 0, sizeof plan);
	memset(&done, 0, sizeof done);
	rc = drift_repair_run(d, a->id, t->cfg->operator_name, NULL, tally_now(), DRIFT_DRY,
	    &plan, &e);
	if (rc == DRIFT_ECLEARED)      /* record the re-check that resolved it */
		rc = drift_repair_run(d, a->id, t->cfg->operator_name, NULL, tally_now(), 0, &done,
		    &e);
	if (rc != 0 || plan.refused[0] != '\0' ||
	    (plan.kind == DRIFT_REPAIR_RESYNC && (t->cfg->api_key == NULL ||
	    t->cfg->api_key[0] == '\0'))) {
		if (rc == 0 && plan.refused[0] == '\0')
			snprintf(plan.refused, sizeof plan.refused, "this repair resyncs %s from the "
			    "Stripe API, and no API key is configured", a->customer);
		tui_reread(t);          /* a cleared condition was recorded */
		repair_said(t, a->id, rc, &plan, e.msg);
		goto out;
	}
	buf_init(&b, 0);
	alert_text(a, &b);
	if (plan.kind == DRIFT_REPAIR_RESYNC)
		buf_printf(&b, "would: %s\n  GET /v1/customers/%s, then its subscriptions, invoices, "
		    "checkout sessions, charges, refunds, disputes, credit grants and balance, "
		    "applied like a sync\n", plan.what, a->customer);
	else
		repair_text(&plan, &b);
	snprintf(title, sizeof title, "repair alert %lld", (long long)a->id);
	ok = dialog_show(t, title, b.data, DIALOG_YES, NULL);
	buf_done(&b);
	if (!ok) {
		if (!t->quit)
			tui_message(t, R_NORMAL, "repair declined: nothing changed");
		goto out;
	}
	if (plan.kind == DRIFT_REPAIR_RESYNC)
		rc = repair_resync(t, d, a, &done, &e);
	else
		rc = drift_repair_run(d, a->id, t->cfg->operator_name, NULL, tally_now(), 0, &done,
		    &e);
	tui_reread(t);
	repair_said(t, a->id, rc, &done, e.msg);
out:
	drift_repair_done(&plan);
	drift_repair_done(&done);
}

int
act_repair(struct tui *t, struct view *v, int act)
{
	struct drift_alert a;
	struct drift *d = NULL;
	struct err e;

	if (sel_alert(t, &a) != 0)
		return 0;
	if (drift_open(t->s, t->cat, t->cfg, &d, &e) != 0)
		tui_error(t, "repair", e.msg);
	else
		repair_run(t, d, &a);
	drift_close(d);
	drift_alert_done(&a);
	return 0;
}
