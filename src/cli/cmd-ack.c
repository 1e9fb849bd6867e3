/*
 * cmd-ack: acknowledge an open drift alert with a note.  The alert stays
 * acknowledged while its condition holds; the note, the operator and the
 * time go to its history and to the audit log.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "drift.h"
#include "out.h"
#include "util.h"

static int
run(struct cmd_ctx *c)
{
	const char *note = NULL, *idtext = NULL;
	char buf[600];
	struct err e;
	int64_t id;
	int i, rc;

	for (i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--note") == 0) {
			if (i + 1 >= c->argc)
				return cmd_usage(c, "--note needs a value");
			note = c->argv[++i];
		} else if (c->argv[i][0] == '-' && c->argv[i][1] != '\0') {
			return cmd_usage(c, "unknown option '%s'", c->argv[i]);
		} else if (idtext == NULL) {
			idtext = c->argv[i];
		} else {
			return cmd_usage(c, "unexpected argument '%s'", c->argv[i]);
		}
	}
	if (idtext == NULL || parse_int64(idtext, &id) != 0 || id <= 0)
		return cmd_usage(c, "expected an alert id (a number, see tally alerts)");
	if (note == NULL || note[0] == '\0')
		return cmd_usage(c, "--note is required: say why the alert can wait");
	rc = drift_ack(c->s, id, c->cfg.operator_name, note, tally_now(), &e);
	if (rc == DRIFT_ENOENT || rc == DRIFT_ESTATE)
		return cmd_fail(c, EXIT_NO, "%s", out_clean(e.msg, buf, sizeof buf));
	if (rc != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	if (c->json)
		out_json(json_pack("{sI ss ss ss}", "alert", (json_int_t)id, "state", "acknowledged",
		    "operator", c->cfg.operator_name, "note", note));
	else
		printf("alert %lld acknowledged by %s: %s\n", (long long)id,
		    out_clean(c->cfg.operator_name, buf, 200), out_clean(note, buf + 200, 400));
	return EXIT_OK;
}

const struct cmd_entry cmd_ack_entry = {
	"ack", "ID --note TEXT", "acknowledge an open drift alert, with a note",
	CMD_STORE | CMD_WRITES, run
};
