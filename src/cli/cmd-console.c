/*
 * cmd-console: `tally console`, the operator console (src/tui, doc/console.md).
 * `tally` with no command opens it too when standard input and output are
 * a terminal.  The hidden --keys-roff prints the man page's KEYS section
 * from the console's action table (doc/tally.1 holds exactly that text).
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "tui.h"

static int
run(struct cmd_ctx *c)
{
	if (c->argc == 2 && strcmp(c->argv[1], "--keys-roff") == 0) {
		tui_keys_roff(stdout);
		return EXIT_OK;
	}
	if (c->argc != 1)
		return cmd_usage(c, "unexpected argument '%s'", c->argv[1]);
	return tui_run(c);
}

/* Not CMD_STORE: tui_run opens the mirror itself (read-only in read-only
 * mode), so tally demo can hand it a context of its own. */
const struct cmd_entry cmd_console_entry = {
	"console", "", "the operator console: browse the mirror live (the default on a terminal)",
	CMD_CATALOG, run
};
