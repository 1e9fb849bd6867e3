/*
 * cmd-status: the state of the mirror and its sync: when it was last
 * brought up to date and from where, the last error, how far each resource
 * of the current reconciliation pass has got, the log cursors, and how much
 * the mirror holds.  Exit 1 when the mirror is stale.
 */
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "cmd.h"
#include "out.h"
#include "sync.h"
#include "util.h"

static const char *
when(int64_t t, char *buf, size_t n)
{
	if (t <= 0)
		return "never";
	time_fmt(t, buf, n);
	return buf;
}

static json_t *
opt_time(int64_t t)
{
	return t > 0 ? json_integer(t) : json_null();
}

static json_t *
status_json(const struct cmd_ctx *c, const struct sync_status *st, int64_t age, int stale)
{
	json_t *j, *res = json_array(), *logs = json_array();
	int i;

	for (i = 0; i < st->nres; i++)
		json_array_append_new(res, json_pack("{ss sI sb sI sI ss? so so}",
		    "name", st->res[i].name, "pass", (json_int_t)st->res[i].pass,
		    "done", st->res[i].done, "pages", (json_int_t)st->res[i].pages,
		    "objects", (json_int_t)st->res[i].objects,
		    "cursor", st->res[i].cursor[0] ? st->res[i].cursor : NULL,
		    "started_at", opt_time(st->res[i].started_at),
		    "finished_at", opt_time(st->res[i].finished_at)));
	for (i = 0; i < st->nlogs; i++)
		json_array_append_new(logs, json_pack("{ss ss sI so}",
		    "path", st->logs[i].path, "kind", st->logs[i].kind,
		    "offset", (json_int_t)st->logs[i].offset,
		    "updated_at", opt_time(st->logs[i].updated_at)));
	j = json_pack("{ss ss so sb so so so so so ss? ss? ss? sI sI sI sI so so}",
	    "mirror", store_path(c->s),
	    "mode", c->cfg.api_key == NULL ? "no-key" : config_is_live(&c->cfg) ? "live" : "test",
	    "age_seconds", age >= 0 ? json_integer(age) : json_null(),
	    "stale", stale,
	    "last_sync_at", opt_time(st->last_sync_at),
	    "last_ingest_at", opt_time(st->last_ingest_at),
	    "last_success_at", opt_time(st->last_success_at),
	    "last_error_at", opt_time(st->last_error_at),
	    "reconciled_at", opt_time(st->reconciled_at),
	    "last_error", st->last_error[0] ? st->last_error : NULL,
	    "last_request_id", st->last_request_id[0] ? st->last_request_id : NULL,
	    "events_cursor", st->events_cursor[0] ? st->events_cursor : NULL,
	    "pass", (json_int_t)st->pass, "pass_done", (json_int_t)st->pass_done,
	    "requests", (json_int_t)st->requests, "retries", (json_int_t)st->retries,
	    "resources", res, "logs", logs);
	json_object_set_new(j, "counts", json_pack("{sI sI sI sI sI sI sI sI sI}",
	    "customers", (json_int_t)st->customers, "subscriptions", (json_int_t)st->subscriptions,
	    "invoices", (json_int_t)st->invoices, "events", (json_int_t)st->events,
	    "deliveries", (json_int_t)st->deliveries,
	    "deliveries_failed", (json_int_t)st->deliveries_failed,
	    "ledger_entries", (json_int_t)st->ledger_entries,
	    "quarantined", (json_int_t)st->quarantined,
	    "refetch_pending", (json_int_t)st->refetch_pending));
	return j;
}

static void
status_text(const struct cmd_ctx *c, const struct sync_status *st, int64_t age, int stale)
{
	char t1[64], buf[600];
	int i;

	printf("mirror         %s\n", out_clean(store_path(c->s), buf, sizeof buf));
	printf("mode           %s\n", c->cfg.api_key == NULL ? "no API key (logs only)" :
	    config_is_live(&c->cfg) ? "LIVE" : "test");
	if (age < 0)
		printf("age            never brought up to date%s\n", stale ? " (STALE)" : "");
	else
		printf("age            %llds%s\n", (long long)age, stale ? " (STALE)" : "");
	printf("last sync      %s\n", when(st->last_sync_at, t1, sizeof t1));
	printf("last ingest    %s\n", when(st->last_ingest_at, t1, sizeof t1));
	printf("reconciled     %s (pass %lld%s)\n", when(st->reconciled_at, t1, sizeof t1),
	    (long long)st->pass, st->pass > st->pass_done ? ", in progress" : "");
	if (st->last_error[0] != '\0')
		printf("last error     %s: %s%s\n", when(st->last_error_at, t1, sizeof t1),
		    out_clean(st->last_error, buf, sizeof buf),
		    st->last_success_at > st->last_error_at ? " (recovered since)" : "");
	printf("requests       %lld (%lld retries)%s%s\n", (long long)st->requests,
	    (long long)st->retries, st->last_request_id[0] ? ", last " : "",
	    out_clean(st->last_request_id, buf, sizeof buf));
	if (st->events_cursor[0] != '\0')
		printf("events cursor  %s\n", out_clean(st->events_cursor, buf, sizeof buf));
	printf("holds          %lld customers, %lld subscriptions, %lld invoices, %lld events, "
	    "%lld deliveries (%lld failed), %lld ledger entries, %lld quarantined, "
	    "%lld waiting for a refetch\n",
	    (long long)st->customers, (long long)st->subscriptions, (long long)st->invoices,
	    (long long)st->events, (long long)st->deliveries, (long long)st->deliveries_failed,
	    (long long)st->ledger_entries, (long long)st->quarantined,
	    (long long)st->refetch_pending);
	if (st->nres > 0) {
		printf("\n%-18s %5s %6s %8s  %s\n", "resource", "pass", "pages", "objects", "state");
		for (i = 0; i < st->nres; i++)
			printf("%-18s %5lld %6lld %8lld  %s\n", st->res[i].name,
			    (long long)st->res[i].pass, (long long)st->res[i].pages,
			    (long long)st->res[i].objects,
			    st->res[i].done ? "done" : st->res[i].cursor[0] ? "after a cursor" : "pending");
	}
	if (st->nlogs > 0) {
		printf("\n%-8s %12s  %-20s %s\n", "log", "offset", "read at", "path");
		for (i = 0; i < st->nlogs; i++)
			printf("%-8s %12lld  %-20s %s\n", st->logs[i].kind, (long long)st->logs[i].offset,
			    when(st->logs[i].updated_at, t1, sizeof t1),
			    out_clean(st->logs[i].path, buf, sizeof buf));
	}
}

static int
run(struct cmd_ctx *c)
{
	struct sync_status st;
	struct err e;
	int64_t age;
	int stale;

	if (c->argc != 1)
		return cmd_usage(c, "unexpected argument '%s'", c->argv[1]);
	if (sync_status(c->s, &st, &e) != 0 || access_mirror_age(c->s, tally_now(), &age, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	stale = age < 0 || (c->cfg.stale_after > 0 && age > c->cfg.stale_after);
	if (c->json)
		out_json(status_json(c, &st, age, stale));
	else
		status_text(c, &st, age, stale);
	return stale ? EXIT_NO : EXIT_OK;
}

const struct cmd_entry cmd_status_entry = {
	"status", "",
	"the mirror's sync state: age, last error, cursors, request counts, what it holds",
	CMD_STORE, run
};
