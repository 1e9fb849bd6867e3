/*
 * cmd-sync: bring the mirror up to date from the Stripe API and the logs.
 *
 *   tally sync [--once]      one round in this process, then a summary
 *   tally sync --follow      the background sync thread until SIGINT/SIGTERM
 *   --reconcile              start a full pass now even if none is due
 *
 * A progress line goes to stderr when it is a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "out.h"
#include "sync.h"
#include "util.h"

static int signal_pipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;
	ssize_t w = write(signal_pipe[1], "s", 1);

	(void)w;
	(void)sig;
	errno = saved;
}

static void
progress_line(enum sync_phase phase, const char *what, const struct sync_counts *n)
{
	char buf[80];

	fprintf(stderr, "\r\033[Ksync: %s %s: %lld pages, %lld objects, %lld events, "
	    "%lld log values, %lld requests",
	    sync_phase_name(phase), out_clean(what, buf, sizeof buf), (long long)n->pages,
	    (long long)n->objects, (long long)n->events, (long long)n->logs.values,
	    (long long)n->requests);
}

static void
on_progress(enum sync_phase phase, const char *what, const struct sync_counts *n, void *arg)
{
	(void)arg;
	progress_line(phase, what, n);
}

static void
print_summary(const struct cmd_ctx *c, const struct sync_counts *n, int ok, const char *error)
{
	char buf[600];

	if (c->json) {
		out_json(json_pack("{sb sI sI sI sI sI sI sI sI sI sI sI sI ss?}",
		    "ok", ok, "pages", (json_int_t)n->pages, "objects", (json_int_t)n->objects,
		    "refetched", (json_int_t)n->refetched, "events", (json_int_t)n->events,
		    "events_applied", (json_int_t)n->events_applied,
		    "quarantined", (json_int_t)(n->quarantined + n->logs.quarantined),
		    "requests", (json_int_t)n->requests, "retries", (json_int_t)n->retries,
		    "log_values", (json_int_t)n->logs.values, "log_applied", (json_int_t)n->logs.applied,
		    "ledger_entries", (json_int_t)n->logs.ledger_entries,
		    "invalid_signature", (json_int_t)n->logs.invalid_signature,
		    "error", error));
		return;
	}
	printf("api: %lld pages, %lld objects, %lld refetched, %lld events (%lld applied), "
	    "%lld requests, %lld retries\n",
	    (long long)n->pages, (long long)n->objects, (long long)n->refetched,
	    (long long)n->events, (long long)n->events_applied, (long long)n->requests,
	    (long long)n->retries);
	printf("logs: %lld values, %lld applied, %lld quarantined, %lld invalid signature\n",
	    (long long)n->logs.values, (long long)n->logs.applied,
	    (long long)(n->logs.quarantined + n->quarantined), (long long)n->logs.invalid_signature);
	if (!ok)
		printf("error: %s\n", out_clean(error, buf, sizeof buf));
}

static int
run_once(struct cmd_ctx *c, int flags)
{
	struct sync_opts o;
	struct sync *y;
	struct err e;
	int rc;

	memset(&o, 0, sizeof o);
	o.cfg = &c->cfg;
	o.cat = c->cat;
	if (isatty(STDERR_FILENO))
		o.on_progress = on_progress;
	if (sync_open(c->s, &o, &y, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	rc = sync_round(y, flags, &e);
	if (isatty(STDERR_FILENO))
		fputc('\n', stderr);
	print_summary(c, sync_counts(y), rc == 0, rc == 0 ? NULL : e.msg);
	sync_close(y);
	if (rc != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	return EXIT_OK;
}

static int
run_follow(struct cmd_ctx *c)
{
	struct sync_thread *t;
	struct sync_snapshot snap;
	struct sigaction sa;
	struct pollfd pfd[2];
	struct err e;
	int64_t rounds = 0;
	int tty = isatty(STDERR_FILENO), done = 0;
	char drain[64], buf[600];

	if (pipe(signal_pipe) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "pipe: %s", strerror(errno));
	fcntl(signal_pipe[1], F_SETFL, O_NONBLOCK);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (sync_thread_start(store_path(c->s), &c->cfg, c->cat, &t, &e) != 0)
		return cmd_fail(c, EXIT_RUNTIME, "%s", e.msg);
	pfd[0].fd = sync_thread_fd(t);
	pfd[0].events = POLLIN;
	pfd[1].fd = signal_pipe[0];
	pfd[1].events = POLLIN;
	while (!done) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		while (read(pfd[0].fd, drain, sizeof drain) > 0)
			;
		sync_thread_snapshot(t, &snap);
		if (tty)
			progress_line(snap.phase, snap.what, &snap.counts);
		if (snap.rounds != rounds) {
			rounds = snap.rounds;
			if (!tty)
				fprintf(stderr, "tally sync: round %lld done: %lld objects, %lld events, "
				    "%lld log values\n", (long long)rounds, (long long)snap.counts.objects,
				    (long long)snap.counts.events, (long long)snap.counts.logs.values);
		}
		done = !snap.running;
	}
	sync_thread_snapshot(t, &snap);
	sync_thread_stop(t);
	if (tty)
		fputc('\n', stderr);
	print_summary(c, &snap.counts, !snap.fatal, snap.fatal ? snap.last_error : NULL);
	if (snap.fatal)
		return cmd_fail(c, EXIT_RUNTIME, "%s", out_clean(snap.last_error, buf, sizeof buf));
	return EXIT_OK;
}

static int
run(struct cmd_ctx *c)
{
	int i, follow = 0, flags = 0;

	for (i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--once") == 0)
			follow = 0;
		else if (strcmp(c->argv[i], "--follow") == 0)
			follow = 1;
		else if (strcmp(c->argv[i], "--reconcile") == 0)
			flags |= SYNC_RECONCILE;
		else
			return cmd_usage(c, "unknown option '%s'", c->argv[i]);
	}
	if ((c->cfg.api_key == NULL || c->cfg.api_key[0] == '\0') &&
	    c->cfg.webhook_logs.n == 0 && c->cfg.usage_logs.n == 0)
		return cmd_usage(c, "nothing to sync: no API key (STRIPE_API_KEY, api_key) "
		    "and no logs configured (webhook_log, usage_log)");
	return follow ? run_follow(c) : run_once(c, flags);
}

const struct cmd_entry cmd_sync_entry = {
	"sync", "[--once | --follow] [--reconcile]",
	"bring the mirror up to date from the Stripe API and the configured logs",
	CMD_STORE | CMD_WRITES | CMD_CATALOG, run
};
