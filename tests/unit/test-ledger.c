/*
 * test-ledger: consumption order, expiry of remainders, corrections for
 * entries recorded late, reversal, and convergence of the replay whatever
 * the order entries are recorded in.
 */
#include <stdlib.h>

#include "ledger.h"
#include "store.h"
#include "t.h"

static struct store *
fresh(void)
{
	static int n;
	char path[512];
	struct store *s;
	struct err e;

	snprintf(path, sizeof path, "%s/l%d.db", t_dir(), n++);
	if (store_open(path, 0, &s, &e) != 0) {
		printf("Bail out! %s\n", e.msg);
		exit(99);
	}
	return s;
}

static int
add(struct store *s, const char *kind, const char *key, int64_t amount, int64_t at,
    int64_t expires, int64_t now)
{
	struct ledger_entry en;
	struct err e;
	int rc;

	memset(&en, 0, sizeof en);
	en.customer = "cus_1";
	en.kind = kind;
	en.key = key;
	en.amount = amount;
	en.effective_at = at;
	en.expires_at = expires;
	store_begin(s, &e);
	rc = ledger_append(s, &en, now, NULL, &e);
	if (rc < 0)
		printf("# %s\n", e.msg);
	store_commit(s, &e);
	return rc;
}

static int64_t
expire_due(struct store *s, int64_t now)
{
	struct err e;
	int n = 0;

	store_begin(s, &e);
	if (ledger_expire_due(s, now, &n, &e) != 0)
		printf("# %s\n", e.msg);
	store_commit(s, &e);
	return n;
}

static int64_t
balance(struct store *s)
{
	int64_t b = 0, sum = 0;
	struct err e;

	ledger_balance(s, "cus_1", &b, &e);
	ledger_sum(s, "cus_1", &sum, &e);
	if (b != sum)
		printf("# cached %lld != sum %lld\n", (long long)b, (long long)sum);
	return b == sum ? b : -999999999;
}

static int64_t
expired(struct store *s, const char *grant)
{
	sqlite3_stmt *st;
	int64_t v;

	sqlite3_prepare_v2(store_db(s), "SELECT COALESCE(SUM(amount),0) FROM ledger "
	    "WHERE kind = 'expire' AND ref = ?", -1, &st, NULL);
	sqlite3_bind_text(st, 1, grant, -1, SQLITE_STATIC);
	sqlite3_step(st);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
main(void)
{
	struct store *s;
	struct err e;

	/* Consumption draws from the grant that expires first. */
	s = fresh();
	add(s, "topup", "topup:checkout:cs_1", 10000, 100, 100000, 100);
	add(s, "grant", "grant:invoice:in_1", 100000, 100, 2000, 100);
	add(s, "consume", "consume:usage:a", -90000, 500, 0, 500);
	is_int(expire_due(s, 1000), 0, "nothing expires before its time");
	is_int(expire_due(s, 3000), 1, "one grant expires");
	is_int(expired(s, "grant:invoice:in_1"), -10000, "only the grant's remainder expires");
	is_int(expired(s, "topup:checkout:cs_1"), 0, "the later-expiring top-up was not drawn on");
	is_int(balance(s), 10000, "balance is the top-up");
	is_int(expire_due(s, 3000), 0, "a second pass writes nothing");

	/* Usage recorded after the expiry, for a time before it, corrects it. */
	is_int(add(s, "consume", "consume:usage:late", -4000, 1500, 0, 4000), LEDGER_APPENDED,
	    "late usage is recorded");
	is_int(expired(s, "grant:invoice:in_1"), -6000, "expiry corrected for the late usage");
	is_int(balance(s), 10000, "balance still the untouched top-up");
	is_int(add(s, "consume", "consume:usage:late", -4000, 1500, 0, 4000), LEDGER_EXISTS,
	    "the late usage again is a no-op");
	is_int(expired(s, "grant:invoice:in_1"), -6000, "and corrects nothing twice");
	store_close(s);

	/* A grant fully consumed expires with a zero entry, once. */
	s = fresh();
	add(s, "grant", "grant:invoice:in_2", 100, 10, 50, 10);
	add(s, "consume", "consume:usage:b", -150, 20, 0, 20);
	is_int(expire_due(s, 60), 1, "a settled grant gets its expiry entry");
	is_int(expired(s, "grant:invoice:in_2"), 0, "of zero");
	is_int(balance(s), -50, "overdraft stays visible");
	/* Usage before any credit is paid by the next credit. */
	add(s, "grant", "grant:invoice:in_3", 100, 70, 90, 70);
	is_int(expire_due(s, 100), 1, "next grant expires");
	is_int(expired(s, "grant:invoice:in_3"), -50, "after paying the 50 deficit");
	is_int(balance(s), 0, "balance is zero");
	store_close(s);

	/* The count of entries written includes the corrections a late entry
	 * causes. */
	s = fresh();
	add(s, "grant", "grant:invoice:in_5", 100, 10, 50, 10);
	is_int(expire_due(s, 60), 1, "the grant expires");
	{
		struct ledger_entry en;
		int n = 0;

		memset(&en, 0, sizeof en);
		en.customer = "cus_1";
		en.kind = "consume";
		en.key = "consume:usage:c";
		en.amount = -30;
		en.effective_at = 20;
		store_begin(s, &e);
		is_int(ledger_append(s, &en, 70, &n, &e), LEDGER_APPENDED, "late usage is appended");
		is_int(n, 2, "counted with the expiry correction it caused");
		is_int(ledger_append(s, &en, 70, &n, &e), LEDGER_EXISTS, "again: a no-op");
		is_int(n, 2, "counting nothing");
		is_int(ledger_reverse(s, "consume:usage:c", "ops", "x", 80, &n, &e), LEDGER_APPENDED,
		    "a reversal is appended");
		is_int(n, 3, "and counted");
		store_commit(s, &e);
	}
	is_int(expired(s, "grant:invoice:in_5"), -70, "the correction: 70 of 100 expired");
	store_close(s);

	/* Reversal: once, never of a reversal. */
	s = fresh();
	add(s, "grant", "grant:invoice:in_4", 700, 10, 0, 10);
	store_begin(s, &e);
	is_int(ledger_reverse(s, "grant:invoice:in_4", "ops", "wrong price", 20, NULL, &e),
	    LEDGER_APPENDED, "a grant is reversed");
	is_int(ledger_reverse(s, "grant:invoice:in_4", "ops", "again", 21, NULL, &e), LEDGER_EXISTS,
	    "a second reversal is refused");
	ok(strstr(e.msg, "already reversed") != NULL, "and says so: %s", e.msg);
	ok(ledger_reverse(s, "reverse:grant:invoice:in_4", "ops", "x", 22, NULL, &e) < 0 &&
	    strstr(e.msg, "itself a reversal") != NULL, "a reversal is not reversed: %s", e.msg);
	ok(ledger_reverse(s, "grant:invoice:nope", "ops", "x", 22, NULL, &e) < 0, "unknown key: %s",
	    e.msg);
	store_commit(s, &e);
	is_int(balance(s), 0, "reversed grant leaves zero");
	store_close(s);

	/* The replay is a function of the set of entries: every recording
	 * order gives the same expiries and balance. */
	{
		static const struct { const char *kind, *key; int64_t amount, at, exp; } es[] = {
			{ "grant", "grant:invoice:g1", 1000, 0, 100 },
			{ "grant", "grant:invoice:g2", 1000, 50, 200 },
			{ "topup", "topup:checkout:t1", 500, 10, 0 },
			{ "consume", "consume:usage:u1", -700, 20, 0 },
			{ "consume", "consume:usage:u2", -900, 120, 0 },
			{ "consume", "consume:usage:u3", -300, 60, 0 },
			{ "consume", "consume:usage:u4", -800, 150, 0 },
		};
		const int n = (int)(sizeof es / sizeof es[0]);
		int64_t want_bal = 0, want_g1 = 0, want_g2 = 0;
		int perm[7], trial, i, j, same = 1;

		srand(7);
		for (trial = 0; trial < 30; trial++) {
			for (i = 0; i < n; i++)
				perm[i] = i;
			for (i = n - 1; trial > 0 && i > 0; i--) {
				int k = rand() % (i + 1), t = perm[i];

				perm[i] = perm[k];
				perm[k] = t;
			}
			s = fresh();
			for (i = 0; i < n; i++) {
				j = perm[i];
				/* Settle now and then while recording, as ingest runs would. */
				add(s, es[j].kind, es[j].key, es[j].amount, es[j].at, es[j].exp, 300);
				if (rand() % 3 == 0)
					expire_due(s, 300);
			}
			expire_due(s, 300);
			if (trial == 0) {
				want_bal = balance(s);
				want_g1 = expired(s, "grant:invoice:g1");
				want_g2 = expired(s, "grant:invoice:g2");
			} else if (balance(s) != want_bal || expired(s, "grant:invoice:g1") != want_g1 ||
			    expired(s, "grant:invoice:g2") != want_g2) {
				same = 0;
				printf("# trial %d: balance %lld g1 %lld g2 %lld\n", trial,
				    (long long)balance(s), (long long)expired(s, "grant:invoice:g1"),
				    (long long)expired(s, "grant:invoice:g2"));
			}
			store_close(s);
		}
		/* By hand: g1 (exp 100) pays u1 700 and u3 300 -> 0 left;
		 * g2 (exp 200) pays u2 900 and 100 of u4; t1 pays 500 of u4;
		 * 200 of u4 is a deficit.  Balance 2500 - 2700 = -200. */
		is_int(want_g1, 0, "g1 fully consumed before expiry");
		is_int(want_g2, 0, "g2 fully consumed before expiry");
		is_int(want_bal, -200, "balance after expiries");
		ok(same, "30 recording orders give identical expiries and balances");
	}
	return t_done();
}
