/*
 * confirm: the action commands' shared flow.  See confirm.h and
 * doc/actions.md.
 *
 * The preview goes to standard output (or, with --json, one JSON document
 * at the end); the question goes to standard error and the answer is read
 * from standard input, and only when standard input is a terminal: a
 * script must say --yes (and, where the confirmation is typed, --confirm
 * TEXT) on purpose.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "confirm.h"
#include "out.h"
#include "util.h"

int
act_flag(struct cmd_ctx *c, int *i, struct act_opts *o)
{
	const char *a = c->argv[*i];

	if (strcmp(a, "--dry-run") == 0) {
		o->dry_run = 1;
		return 1;
	}
	if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) {
		o->yes = 1;
		return 1;
	}
	if (strcmp(a, "--confirm") != 0 && strcmp(a, "--reason") != 0)
		return 0;
	if (*i + 1 >= c->argc) {
		cmd_usage(c, "%s needs a value", a);
		return -1;
	}
	if (strcmp(a, "--confirm") == 0)
		o->confirm = c->argv[++*i];
	else
		o->reason = c->argv[++*i];
	return 1;
}

void
act_env_init(struct cmd_ctx *c, struct action_env *env)
{
	memset(env, 0, sizeof *env);
	env->s = c->s;
	env->cfg = &c->cfg;
	env->cat = c->cat;
}

json_t *
act_preview_json(const struct action_preview *pv)
{
	json_t *o = json_object(), *rows = json_array(), *notes = json_array();
	int i;

	json_object_set_new(o, "action", json_string(action_kind_name(pv->kind)));
	json_object_set_new(o, "target", json_string(pv->target));
	json_object_set_new(o, "summary", json_string(pv->summary));
	json_object_set_new(o, "idempotency_key", pv->idem_key[0] ? json_string(pv->idem_key)
	    : json_null());
	if (pv->kind == ACTION_ADJUST)
		json_object_set_new(o, "key_derived", json_boolean(pv->key_derived));
	json_object_set_new(o, "refused", json_boolean(pv->refused != 0));
	json_object_set_new(o, "noop", json_boolean(pv->noop));
	json_object_set_new(o, "why", pv->why[0] ? json_string(pv->why) : json_null());
	if (pv->has_balance) {
		json_object_set_new(o, "balance_before", json_integer(pv->balance_before));
		json_object_set_new(o, "balance_after", json_integer(pv->balance_after));
		json_object_set_new(o, "unit", json_string(pv->unit));
	}
	for (i = 0; i < pv->nrows; i++)
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:I, s:s?}",
		    "key", pv->rows[i].key, "kind", pv->rows[i].kind,
		    "customer", pv->rows[i].customer, "amount", (json_int_t)pv->rows[i].amount,
		    "ref", pv->rows[i].ref[0] ? pv->rows[i].ref : NULL));
	json_object_set_new(o, "ledger_rows", rows);
	if (pv->state[0])
		json_object_set_new(o, "mirror", json_string(pv->state));
	if (pv->has_http) {
		json_t *h = json_object(), *hdr = json_object();

		json_object_set_new(h, "method", json_string(pv->http.method));
		json_object_set_new(h, "url", json_string(pv->http.url));
		if (pv->http.content_type[0])
			json_object_set_new(hdr, "Content-Type", json_string(pv->http.content_type));
		if (pv->http.idem_key[0])
			json_object_set_new(hdr, "Idempotency-Key", json_string(pv->http.idem_key));
		if (pv->http.signature[0])
			json_object_set_new(hdr, "Stripe-Signature", json_string(pv->http.signature));
		json_object_set_new(h, "headers", hdr);
		json_object_set_new(h, "body", json_stringn(pv->http.body ? pv->http.body : "",
		    pv->http.bodylen));
		json_object_set_new(o, "request", h);
	}
	for (i = 0; i < pv->nnotes; i++)
		json_array_append_new(notes, json_string(pv->notes[i]));
	json_object_set_new(o, "notes", notes);
	json_object_set_new(o, "confirm", json_string(pv->confirm == ACTION_CONFIRM_TYPED ? "typed"
	    : pv->confirm == ACTION_CONFIRM_YES ? "yes" : "none"));
	if (pv->confirm == ACTION_CONFIRM_TYPED) {
		json_object_set_new(o, "confirm_text", json_string(pv->confirm_text));
		json_object_set_new(o, "confirm_why", json_string(pv->confirm_why));
	}
	if (pv->count > 0)
		json_object_set_new(o, "count", json_integer(pv->count));
	return o;
}

json_t *
act_outcome_json(const struct action_outcome *out)
{
	json_t *o = json_object();

	json_object_set_new(o, "result", json_string(action_result_name(out->result)));
	json_object_set_new(o, "message", json_string(out->message));
	json_object_set_new(o, "audit_id", out->audit_id ? json_integer(out->audit_id) : json_null());
	if (out->has_balance) {
		json_object_set_new(o, "balance_before", json_integer(out->balance_before));
		json_object_set_new(o, "balance_after", json_integer(out->balance_after));
	}
	if (out->entry_key[0]) {
		json_object_set_new(o, "entry_key", json_string(out->entry_key));
		json_object_set_new(o, "entry_seq", out->entry_seq ? json_integer(out->entry_seq)
		    : json_null());
	}
	json_object_set_new(o, "ledger_entries", json_integer(out->entries));
	json_object_set_new(o, "request_id", out->request_id[0] ? json_string(out->request_id)
	    : json_null());
	if (out->object_id[0])
		json_object_set_new(o, "stripe_object", json_string(out->object_id));
	if (out->dkey[0]) {
		json_object_set_new(o, "delivery_id", json_integer(out->delivery_id));
		json_object_set_new(o, "dkey", json_string(out->dkey));
		json_object_set_new(o, "http_status", json_integer(out->http_status));
		json_object_set_new(o, "latency_ms", json_integer(out->latency_ms));
		json_object_set_new(o, "response", json_string(out->response));
	}
	return o;
}

void
act_print_preview(struct cmd_ctx *c, const struct action_preview *pv)
{
	struct buf b;

	if (c->json)
		return;
	buf_init(&b, 0);
	action_preview_render(pv, &b);
	fputs(b.data != NULL ? b.data : "", stdout);
	buf_done(&b);
	fflush(stdout);
}

/* One line from standard input, without its newline. */
static int
read_answer(char *buf, size_t n)
{
	size_t len;

	if (fgets(buf, (int)n, stdin) == NULL)
		return -1;
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return 0;
}

int
act_confirm(const struct action_preview *pv, const struct act_opts *o, char *why, size_t n)
{
	char answer[400];
	int tty = isatty(STDIN_FILENO);

	why[0] = '\0';
	if (pv->confirm == ACTION_CONFIRM_NONE)
		return 1;
	if (pv->confirm == ACTION_CONFIRM_TYPED) {
		if (o->confirm != NULL) {
			if (strcmp(o->confirm, pv->confirm_text) == 0)
				return 1;
			snprintf(why, n, "--confirm did not match: %s needs %s typed", pv->confirm_why,
			    pv->confirm_text);
			return 0;
		}
		if (!tty) {
			snprintf(why, n, "a typed confirmation is needed (%s) and there is no terminal: "
			    "pass --confirm %s", pv->confirm_why, pv->confirm_text);
			return -1;
		}
		fprintf(stderr, "%s: type %s to confirm, anything else cancels: ", pv->confirm_why,
		    pv->confirm_text);
		fflush(stderr);
		if (read_answer(answer, sizeof answer) != 0 || strcmp(answer, pv->confirm_text) != 0) {
			snprintf(why, n, "declined at the typed confirmation");
			return 0;
		}
		return 1;
	}
	if (o->yes)
		return 1;
	if (!tty) {
		snprintf(why, n, "no terminal to confirm on: pass --yes (--dry-run shows the same "
		    "preview and changes nothing)");
		return -1;
	}
	fprintf(stderr, "Proceed? [y/N] ");
	fflush(stderr);
	if (read_answer(answer, sizeof answer) != 0 ||
	    (strcmp(answer, "y") != 0 && strcmp(answer, "Y") != 0 && strcmp(answer, "yes") != 0)) {
		snprintf(why, n, "declined at the prompt");
		return 0;
	}
	return 1;
}

int
act_exit_code(const struct action_outcome *out)
{
	switch (out->result) {
	case ACTION_OK:
	case ACTION_NOOP:
		return EXIT_OK;
	case ACTION_REFUSED:
		return out->refused == ACTION_REFUSED_INPUT ? EXIT_USAGE : EXIT_NO;
	case ACTION_FAILED:
	case ACTION_PENDING:
		break;
	}
	return EXIT_RUNTIME;
}

static void
print_outcome(struct cmd_ctx *c, const struct action_preview *pv, const struct action_outcome *out)
{
	char buf[1400];

	if (c->json) {
		json_t *o = act_outcome_json(out);

		json_object_set_new(o, "preview", act_preview_json(pv));
		out_json(o);
		return;
	}
	printf("%s: %s\n", action_result_name(out->result), out_clean(out->message, buf, sizeof buf));
}

int
act_run(struct cmd_ctx *c, const struct act_opts *o, act_preview_fn preview, act_apply_fn apply,
        const void *req)
{
	struct action_env env;
	struct action_preview pv;
	struct action_outcome out;
	struct err e;
	char why[600];
	int rc, code;

	act_env_init(c, &env);
	if (preview(&env, req, &pv, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	act_print_preview(c, &pv);
	if (o->dry_run) {
		if (c->json) {
			json_t *j = json_object();

			json_object_set_new(j, "dry_run", json_true());
			json_object_set_new(j, "preview", act_preview_json(&pv));
			out_json(j);
		} else {
			printf("dry run: nothing was changed\n");
		}
		code = pv.refused == ACTION_REFUSED_INPUT ? EXIT_USAGE
		    : pv.refused == ACTION_REFUSED_STATE ? EXIT_NO : EXIT_OK;
		action_preview_done(&pv);
		return code;
	}
	if (!pv.refused && !pv.noop) {
		rc = act_confirm(&pv, o, why, sizeof why);
		if (rc <= 0) {
			if (actions_record_declined(&env, &pv, o->reason, why, &out, &e) != 0) {
				action_preview_done(&pv);
				return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
			}
			out.refused = rc < 0 ? ACTION_REFUSED_INPUT : ACTION_REFUSED_STATE;
			print_outcome(c, &pv, &out);
			action_preview_done(&pv);
			return rc < 0 ? EXIT_USAGE : EXIT_NO;
		}
	}
	/* The apply decides again from the mirror and records the attempt,
	 * a refusal or a no-op included. */
	if (apply(&env, req, &out, &e) != 0) {
		action_preview_done(&pv);
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	}
	print_outcome(c, &pv, &out);
	action_preview_done(&pv);
	return act_exit_code(&out);
}
