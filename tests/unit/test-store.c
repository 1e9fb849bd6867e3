/*
 * test-store: the mirror file and its schema: created 0600, migrated,
 * newer schemas refused, and the ledger refuses UPDATE and DELETE.
 */
#include <sys/stat.h>

#include "ledger.h"
#include "store.h"
#include "t.h"

int
main(void)
{
	const char *dir = t_dir();
	char path[512];
	struct store *s;
	struct err e;
	struct stat st;
	struct ledger_entry en;
	int rc;

	snprintf(path, sizeof path, "%s/m.db", dir);
	ok(store_open(path, 0, &s, &e) == 0, "a new mirror opens");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mirror file is mode 0600 (%o)",
	    st.st_mode & 0777);
	ok(store_schema_version(s) >= 1, "schema migrated to version %d", store_schema_version(s));

	memset(&en, 0, sizeof en);
	en.customer = "cus_1";
	en.amount = 500;
	en.kind = "grant";
	en.key = "grant:invoice:in_1";
	en.effective_at = 100;
	store_begin(s, &e);
	is_int(ledger_append(s, &en, 100, NULL, &e), LEDGER_APPENDED, "first append writes");
	is_int(ledger_append(s, &en, 100, NULL, &e), LEDGER_EXISTS, "same key again is a no-op");
	store_commit(s, &e);

	rc = store_exec(s, "UPDATE ledger SET amount = 1000000", &e);
	ok(rc != 0 && strstr(e.msg, "append-only") != NULL, "UPDATE on the ledger is refused: %s", e.msg);
	rc = store_exec(s, "DELETE FROM ledger", &e);
	ok(rc != 0 && strstr(e.msg, "append-only") != NULL, "DELETE on the ledger is refused: %s", e.msg);
	rc = store_exec(s, "INSERT INTO ledger(customer, amount, kind, key, effective_at, recorded_at) "
	    "VALUES ('cus_1', 5, 'grant', 'grant:invoice:in_1', 1, 1)", &e);
	ok(rc != 0, "a second row under the same key is refused by the schema");
	rc = store_exec(s, "INSERT INTO ledger(customer, amount, kind, key, effective_at, recorded_at) "
	    "VALUES ('cus_1', 5, 'gift', 'gift:1', 1, 1)", &e);
	ok(rc != 0, "an unknown kind is refused by the schema");
	{
		int64_t bal, sum;

		ledger_balance(s, "cus_1", &bal, &e);
		ledger_sum(s, "cus_1", &sum, &e);
		is_int(bal, 500, "cached balance unchanged by refused writes");
		is_int(sum, 500, "ledger sum unchanged by refused writes");
	}
	store_exec(s, "PRAGMA user_version = 999", &e);
	store_close(s);

	ok(store_open(path, 0, &s, &e) != 0 && strstr(e.msg, "newer") != NULL,
	    "a newer schema is refused: %s", e.msg);

	snprintf(path, sizeof path, "%s/missing.db", dir);
	ok(store_open(path, STORE_NOCREATE, &s, &e) != 0 && strstr(e.msg, "no mirror") != NULL,
	    "a read of a missing mirror says so: %s", e.msg);
	ok(stat(path, &st) != 0, "and does not create it");
	return t_done();
}
