/*
 * audit: see audit.h.
 */
#include "audit.h"
#include "util.h"

int
audit_append(struct store *s, const struct audit_entry *a, int64_t *id, struct err *e)
{
	sqlite3_stmt *st;

	if (a->operator_name == NULL || a->operator_name[0] == '\0' || a->action == NULL ||
	    a->target == NULL || a->result == NULL)
		return err_set(e, "audit: operator, action, target and result are required");
	st = store_stmt(s,
	    "INSERT INTO audit(at, operator, action, target, reason, idem_key, before, after, "
	    "result, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", e);
	if (st == NULL)
		return -1;
	bind_int(st, 1, a->at > 0 ? a->at : tally_now());
	bind_text(st, 2, a->operator_name);
	bind_text(st, 3, a->action);
	bind_text(st, 4, a->target);
	bind_text(st, 5, a->reason);
	bind_text(st, 6, a->idem_key);
	bind_text(st, 7, a->before);
	bind_text(st, 8, a->after);
	bind_text(st, 9, a->result);
	bind_text(st, 10, a->request_id);
	bind_text(st, 11, a->detail);
	if (store_step_done(s, st, e) != 0)
		return -1;
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(store_db(s));
	return 0;
}
