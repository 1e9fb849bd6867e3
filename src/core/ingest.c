/*
 * ingest: log files into the mirror, in batches committed with their cursor.
 * See ingest.h.
 *
 * A delivery's identity (dkey) is what Stripe would repeat for it: the event,
 * the time received, the attempt and the endpoint; a bare event or a record
 * without a received time is identified by where it sits in the log.
 *
 * Values the input makes unappliable.  Most bad input is found before
 * anything is written (it does not read or decode) and is quarantined at
 * once.  Some is found only while applying: apply.c returns APPLY_EINPUT
 * (credits that overflow, a deletion stub of a kind that is never deleted),
 * possibly after writing part of the value.  Then the batch is rolled back
 * and read again from its first value, this time with a savepoint around
 * each value, so that the faulty value alone is rolled back and quarantined
 * (with the reason apply gave) and the rest of the batch is applied.  The
 * savepoints cost about a third of ingest's speed, so they are used only for
 * the rest of a batch that needs them; a batch without such a value is
 * written without them.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "ingest.h"
#include "ledger.h"
#include "logread.h"
#include "sig.h"
#include "stripe-decode.h"
#include "usage.h"
#include "util.h"

#define DEFAULT_BATCH 2000
#define MAX_ID 255

struct run {
	struct apply_ctx ac;
	const struct ingest_opts *o;
	const char *path;
	struct ingest_counts *n;
	struct arena arena;
};

int64_t
ingest_json_hash(const json_t *v)
{
	char *s;
	int64_t h;

	if (v == NULL)
		return 0;
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (s == NULL)
		return 0;
	h = hash64(s, strlen(s));
	free(s);
	return h;
}

static int
quarantine(struct run *r, const char *kind, int64_t offset, int64_t size, const char *reason,
           const void *raw, size_t rawlen, struct err *e)
{
	if (rawlen > LOGREAD_EXCERPT)
		rawlen = LOGREAD_EXCERPT;
	r->n->quarantined++;
	return apply_quarantine(&r->ac, kind, r->path, offset, size, reason, raw, rawlen, e);
}

static int
id_too_long(const char *id)
{
	return id != NULL && strlen(id) > MAX_ID;
}

/* Decode and apply one event, then record its delivery. */
static int
take_event(struct run *r, const json_t *evjson, const char *raw, size_t rawlen,
           struct delivery *d, int64_t offset, int64_t size, struct err *e)
{
	struct stripe_event ev;
	enum apply_result res;
	struct err de;
	int64_t hash;
	int rc;

	arena_reset(&r->arena);
	if (stripe_event_decode(&r->arena, evjson, &ev, &de) != 0)
		return quarantine(r, "webhook", offset, size, de.msg, raw, rawlen, e);
	if (id_too_long(ev.id) || id_too_long(ev.obj.id)) {
		snprintf(de.msg, sizeof de.msg, "event %.40s...: an id is longer than %d characters",
		    ev.id, MAX_ID);
		return quarantine(r, "webhook", offset, size, de.msg, raw, rawlen, e);
	}
	hash = ingest_json_hash(json_object_get(json_object_get(evjson, "data"), "object"));
	if ((rc = apply_event(&r->ac, &ev, raw, rawlen, hash, &res, e)) != 0)
		return rc;
	switch (res) {
	case APPLY_APPLIED:     r->n->applied++; break;
	case APPLY_DUPLICATE:   r->n->duplicate++; break;
	case APPLY_SUPERSEDED:  r->n->superseded++; break;
	case APPLY_CONFLICT:    r->n->conflict++; break;
	default:                r->n->stored++; break;
	}
	d->event_id = ev.id;
	return apply_delivery(&r->ac, d, NULL, e);
}

static const char *
get_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int64_t
get_int(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int
take_record(struct run *r, const struct logread_item *it, struct err *e)
{
	const json_t *rec = it->json, *body = json_object_get(rec, "body");
	const json_t *evobj = json_object_get(rec, "event"), *rt = json_object_get(rec, "received_at");
	const char *sig = get_str(rec, "signature"), *status = get_str(rec, "status");
	int has_received = rt != NULL && !json_is_null(rt);
	char why[512], dkey[700];
	struct delivery d;
	json_t *parsed = NULL;
	json_error_t jerr;
	char *dumped = NULL;
	const char *raw;
	size_t rawlen;
	int64_t received = 0;
	int rc = -1;

	memset(&d, 0, sizeof d);
	if (has_received) {
		if (json_is_integer(rt))
			received = json_integer_value(rt);
		else if (!json_is_string(rt) || time_parse(json_string_value(rt), &received) != 0) {
			snprintf(why, sizeof why, "delivery record: received_at: expected Unix seconds "
			    "or an RFC 3339 time");
			return quarantine(r, "webhook", it->offset, it->end - it->offset, why,
			    it->raw, it->rawlen, e);
		}
	}
	if (status == NULL)
		status = "ok";
	if (strcmp(status, "ok") != 0 && strcmp(status, "failed") != 0) {
		snprintf(why, sizeof why, "delivery record: status: expected \"ok\" or \"failed\", got \"%.40s\"",
		    status);
		return quarantine(r, "webhook", it->offset, it->end - it->offset, why, it->raw,
		    it->rawlen, e);
	}
	d.received_at = received;
	d.endpoint = get_str(rec, "endpoint");
	d.attempt = get_int(rec, "attempt");
	d.status = status;
	d.http_status = get_int(rec, "http_status");
	d.error = get_str(rec, "error");
	d.source = r->path;
	d.source_offset = it->offset;

	if (json_is_string(body)) {
		raw = json_string_value(body);
		rawlen = json_string_length(body);
		parsed = json_loadb(raw, rawlen, 0, &jerr);
		if (r->o->nsecrets == 0) {
			d.sig_state = sig != NULL && *sig != '\0' ? "unverified" : "unsigned";
			if (sig != NULL && *sig != '\0')
				r->n->unverified++;
		} else {
			enum sig_result sr = sig_verify(sig ? sig : "", raw, rawlen, r->o->secrets,
			    r->o->nsecrets, received, r->o->tolerance);

			d.sig_state = sr == SIG_VALID ? "valid" : "invalid";
			if (sr != SIG_VALID)
				d.sig_error = sig_result_name(sr);
			if (sr == SIG_VALID && received <= 0 && r->o->tolerance > 0) {
				/* Its age cannot be judged (no time, or 0): a
				 * replay of an old delivery would pass.  Set
				 * aside, not trusted. */
				snprintf(why, sizeof why, "signed delivery without received_at: the "
				    "signature's age cannot be checked; not applied");
				rc = quarantine(r, "webhook", it->offset, it->end - it->offset, why,
				    it->raw, it->rawlen, e);
				goto out;
			}
		}
	} else if (json_is_object(evobj)) {
		dumped = json_dumps(evobj, JSON_COMPACT);
		raw = dumped;
		rawlen = dumped ? strlen(dumped) : 0;
		parsed = json_incref((json_t *)evobj);
		d.sig_state = "unsigned";
	} else {
		snprintf(why, sizeof why, "neither a Stripe event (\"object\": \"event\") nor a "
		    "delivery record (\"body\" or \"event\")");
		return quarantine(r, "webhook", it->offset, it->end - it->offset, why, it->raw,
		    it->rawlen, e);
	}

	if (received != 0 && json_is_object(parsed) && get_str(parsed, "id") != NULL)
		snprintf(dkey, sizeof dkey, "%s|%lld|%lld|%s", get_str(parsed, "id"),
		    (long long)received, (long long)d.attempt, d.endpoint ? d.endpoint : "");
	else
		snprintf(dkey, sizeof dkey, "%s|%lld", r->path, (long long)it->offset);
	d.dkey = dkey;

	if (strcmp(d.sig_state, "invalid") == 0) {
		/* Kept and shown, never applied. */
		r->n->invalid_signature++;
		d.event_id = json_is_object(parsed) ? get_str(parsed, "id") : NULL;
		d.body = raw;
		rc = apply_delivery(&r->ac, &d, NULL, e);
		goto out;
	}
	if (!json_is_object(parsed)) {
		snprintf(why, sizeof why, "delivery body is not a JSON object%s%s",
		    parsed == NULL ? ": " : "", parsed == NULL ? jerr.text : "");
		d.body = raw;
		if (apply_delivery(&r->ac, &d, NULL, e) != 0)
			goto out;
		rc = quarantine(r, "webhook", it->offset, it->end - it->offset, why, raw, rawlen, e);
		goto out;
	}
	rc = take_event(r, parsed, raw, rawlen, &d, it->offset, it->end - it->offset, e);
out:
	json_decref(parsed);
	free(dumped);
	return rc;
}

static int
take_webhook(struct run *r, const struct logread_item *it, struct err *e)
{
	const char *object = get_str(it->json, "object");
	struct delivery d;
	char dkey[600];

	if (object != NULL && strcmp(object, "event") == 0) {
		memset(&d, 0, sizeof d);
		snprintf(dkey, sizeof dkey, "%s|%lld", r->path, (long long)it->offset);
		d.dkey = dkey;
		d.status = "ok";
		d.sig_state = "unsigned";
		d.source = r->path;
		d.source_offset = it->offset;
		return take_event(r, it->json, it->raw, it->rawlen, &d, it->offset,
		    it->end - it->offset, e);
	}
	return take_record(r, it, e);
}

static int
take_usage(struct run *r, const struct logread_item *it, struct err *e)
{
	struct usage_rec u;
	enum apply_result res;
	struct err de;
	int rc;

	arena_reset(&r->arena);
	if (usage_decode(&r->arena, it->json, &u, &de) != 0)
		return quarantine(r, "usage", it->offset, it->end - it->offset, de.msg, it->raw,
		    it->rawlen, e);
	if (id_too_long(u.identifier) || id_too_long(u.customer)) {
		snprintf(de.msg, sizeof de.msg, "usage: identifier or customer longer than %d characters",
		    MAX_ID);
		return quarantine(r, "usage", it->offset, it->end - it->offset, de.msg, it->raw,
		    it->rawlen, e);
	}
	if ((rc = apply_usage(&r->ac, &u, r->path, it->offset, &res, e)) != 0)
		return rc;
	switch (res) {
	case APPLY_APPLIED:     r->n->applied++; break;
	case APPLY_DUPLICATE:   r->n->duplicate++; break;
	case APPLY_CONFLICT:    r->n->conflict++; r->n->quarantined++; break;
	case APPLY_UNPRICED:    r->n->unpriced++; break;
	default:                break;
	}
	return 0;
}

static int
cursor_load(struct store *s, const char *path, struct logread_cursor *c, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "SELECT inode, offset, head_len, head_hash FROM cursors WHERE path = ?", e);
	int rc;

	memset(c, 0, sizeof *c);
	if (st == NULL)
		return -1;
	bind_text(st, 1, path);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		c->inode = sqlite3_column_int64(st, 0);
		c->offset = sqlite3_column_int64(st, 1);
		c->head_len = sqlite3_column_int64(st, 2);
		c->head_hash = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(s, e, "reading log cursor");
	return 0;
}

static int
cursor_save(struct store *s, const char *path, enum ingest_kind kind,
            const struct logread_cursor *c, int64_t now, struct err *e)
{
	sqlite3_stmt *st = store_stmt(s,
	    "INSERT OR REPLACE INTO cursors(path, kind, inode, offset, head_len, head_hash, "
	    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", e);

	if (st == NULL)
		return -1;
	bind_text(st, 1, path);
	bind_text(st, 2, kind == INGEST_WEBHOOK ? "webhook" : "usage");
	bind_int(st, 3, c->inode);
	bind_int(st, 4, c->offset);
	bind_int(st, 5, c->head_len);
	bind_int(st, 6, c->head_hash);
	bind_int(st, 7, now);
	return store_step_done(s, st, e);
}

/* Apply one item.  With `careful`, a savepoint around it lets a value that
 * apply finds unappliable (APPLY_EINPUT) be rolled back alone and
 * quarantined; without, APPLY_EINPUT is returned and the caller starts the
 * batch again carefully. */
static int
take(struct run *r, enum ingest_kind kind, const struct logread_item *it, int careful,
     struct err *e)
{
	const char *what = kind == INGEST_WEBHOOK ? "webhook" : "usage";
	struct ingest_counts n0;
	int ledger0 = r->ac.ledger_entries, rc;
	char why[sizeof e->msg];

	if (it->kind == LOGREAD_BAD)
		return quarantine(r, what, it->offset, it->size, it->reason, it->raw, it->rawlen, e);
	if (!careful)
		return kind == INGEST_WEBHOOK ? take_webhook(r, it, e) : take_usage(r, it, e);
	n0 = *r->n;
	if (store_exec(r->ac.s, "SAVEPOINT value", e) != 0)
		return -1;
	rc = kind == INGEST_WEBHOOK ? take_webhook(r, it, e) : take_usage(r, it, e);
	if (rc != APPLY_EINPUT)
		return rc != 0 ? rc : store_exec(r->ac.s, "RELEASE value", e);
	snprintf(why, sizeof why, "%s", e->msg);
	*r->n = n0;
	r->ac.ledger_entries = ledger0;
	if (store_exec(r->ac.s, "ROLLBACK TO value", e) != 0 ||
	    store_exec(r->ac.s, "RELEASE value", e) != 0)
		return -1;
	return quarantine(r, what, it->offset, it->end - it->offset, why, it->raw, it->rawlen, e);
}

int
ingest_file(struct store *s, const struct ingest_opts *o, enum ingest_kind kind,
            const char *path, struct ingest_counts *n, struct err *e)
{
	struct logread *lr = NULL;
	struct logread_cursor cur, first;
	struct logread_item it;
	struct ingest_counts n0;
	struct run r;
	char *real = NULL, why[256];
	int restarted = 0, in_batch = 0, batch = o->batch > 0 ? o->batch : DEFAULT_BATCH;
	int careful = 0, ledger0, rc = -1, trc;

	memset(&r, 0, sizeof r);
	arena_init(&r.arena);
	real = realpath(path, NULL);
	if (real == NULL)
		real = xstrdup(path);
	r.o = o;
	r.path = real;
	r.n = n;
	r.ac.s = s;
	r.ac.cat = o->cat;
	r.ac.now = tally_now();

	if (cursor_load(s, real, &cur, e) != 0)
		goto out;
	why[0] = '\0';
	if (logread_open(real, &cur, o->cap, &lr, &restarted, why, sizeof why, e) != 0)
		goto out;
	if (restarted)
		n->restarted++;
	if (store_begin(s, e) != 0)
		goto out;
	/* Where the batch started, to read it again. */
	logread_cursor(lr, &first);
	n0 = *n;
	ledger0 = r.ac.ledger_entries;
	for (;;) {
		if (logread_next(lr, &it, e) != 0)
			goto fail;
		if (it.kind == LOGREAD_EOF)
			break;
		n->values++;
		trc = take(&r, kind, &it, careful, e);
		if (trc == APPLY_EINPUT) {
			/* Part of a value that cannot be applied is in the batch:
			 * read the batch again, a savepoint around each value. */
			store_rollback(s);
			*n = n0;
			r.ac.ledger_entries = ledger0;
			logread_close(lr);
			lr = NULL;
			if (logread_open(real, &first, o->cap, &lr, &restarted, why, sizeof why, e) != 0)
				goto out;
			if (restarted) {
				err_set(e, "%s: the log changed while it was being read (%s); run ingest "
				    "again", real, why);
				goto out;
			}
			if (store_begin(s, e) != 0)
				goto out;
			careful = 1;
			in_batch = 0;
			continue;
		}
		if (trc != 0) {
			err_prefix(e, "%s offset %lld: ", real, (long long)it.offset);
			goto fail;
		}
		if (++in_batch >= batch) {
			logread_cursor(lr, &cur);
			if (cursor_save(s, real, kind, &cur, r.ac.now, e) != 0 || store_commit(s, e) != 0)
				goto fail;
			if (o->on_commit != NULL)
				o->on_commit(real, cur.offset, o->arg);
			in_batch = 0;
			careful = 0;
			first = cur;
			n0 = *n;
			ledger0 = r.ac.ledger_entries;
			if (store_begin(s, e) != 0)
				goto out;
		}
	}
	logread_cursor(lr, &cur);
	if (cursor_save(s, real, kind, &cur, r.ac.now, e) != 0 || store_commit(s, e) != 0)
		goto fail;
	if (o->on_commit != NULL)
		o->on_commit(real, cur.offset, o->arg);
	n->pending_bytes += logread_pending(lr);
	rc = 0;
	goto out;
fail:
	store_rollback(s);
out:
	n->ledger_entries += r.ac.ledger_entries;
	logread_close(lr);
	arena_done(&r.arena);
	free(real);
	return rc;
}

int
ingest_finish(struct store *s, const struct ingest_opts *o, struct ingest_counts *n,
              struct err *e)
{
	int64_t now = tally_now();
	int appended = 0;

	if (store_begin(s, e) != 0)
		return -1;
	/* Drift is checked once, here, rather than at each batch's commit:
	 * the marks commit with the batches (a crash keeps them), and a
	 * customer touched by many batches is re-checked once, after the
	 * expiries that may touch it too (doc/drift.md). */
	if (ledger_expire_due(s, now, &appended, e) != 0 ||
	    store_meta_set_int(s, "last_ingest_at", now, e) != 0 ||
	    (o->drift != NULL && drift_check_dirty(o->drift, now, NULL, e) != 0)) {
		store_rollback(s);
		return -1;
	}
	if (store_commit(s, e) != 0)
		return -1;
	n->ledger_entries += appended;
	return 0;
}
