#!/usr/bin/env python3
"""The python3 baseline of `make bench` (doc/bench.md, SPEC 12).

A straightforward ingester of tally's webhook and usage logs, written the
way one would with the standard library only (json, sqlite3, and hmac for
the signatures), into a mirror with tally's schema and tally's connection
settings.  It does the same kinds of work as `tally ingest`, value by value:

  - reads each log as a stream of JSON values (compact lines and
    pretty-printed values), keeping byte offsets; bad input is quarantined
    with file and offset;
  - verifies the Stripe-Signature of signed delivery records;
  - stores each event once by id, with its raw body; records each delivery
    once (by event, received time, attempt and endpoint) and counts it;
  - upserts the object (customer, subscription and items, invoice and lines,
    checkout session, charge, refund or dispute, price) behind a version
    guard (older events are superseded), with customer placeholders;
  - grants plan credits for paid invoices and top-ups for paid checkouts,
    consumes credits for each new usage identifier (repeats counted), each
    entry once by key with the cached balance updated beside it;
  - commits every 10000 values together with the file's cursor.

As a straightforward script would, it leaves SQLite's page size and cache
at their defaults (4 KiB pages, a 2 MiB cache), but it does what any
careful one does for durability and speed: WAL with synchronous=NORMAL and
batched commits (PERF-NOTES.md: one transaction per event is 3.6 times
slower).  BENCH_PYTHON_TUNED=1 gives it tally's own settings instead
(16 KiB pages, the 256 MiB cache of a bulk load, 50000 values per
transaction), to compare the languages alone.

It leaves out what tally does beyond that (drift marks and re-checks,
clawbacks, expiry settlement, same-second ordering, refetch marks), so it
is, if anything, a baseline that flatters python.

    ingest_baseline.py --db FILE --schema DIR --catalog FILE [--secret S]
                       [--max-seconds N] [--webhooks FILE...] [--usage FILE...]

Prints one JSON line: values read, per kind, the seconds taken, "bytes" of
the logs consumed of "total_bytes", and "complete": false when it stopped
at --max-seconds (after committing what it had read), so that a benchmark
can bound its time and compare rates.
"""
import argparse
import glob
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import time

TUNED = os.environ.get("BENCH_PYTHON_TUNED") == "1"
BATCH = 50000 if TUNED else 10000


def connect(path, schema_dir):
    db = sqlite3.connect(path, isolation_level=None)
    if TUNED:
        db.execute("PRAGMA page_size = 16384")
        db.execute("PRAGMA cache_size = -262144")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA temp_store = MEMORY")
    if db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
        for f in sorted(glob.glob(os.path.join(schema_dir, "*.sql"))):
            with open(f, encoding="utf-8") as fh:
                db.executescript(fh.read())
    return db


def values(path):
    """(offset, size, value or None, reason, raw) for each value of a log:
    compact values one a line, or pretty-printed ones (a "{" line ... a "}"
    line); a "{" at column 0 while a value is open ends the open one as bad
    input (a half-written line)."""
    offset = 0
    buf = []
    start = 0
    with open(path, "rb") as f:
        for line in f:
            n = len(line)
            if buf and line[:1] == b"{":
                raw = b"".join(buf).rstrip()
                yield start, len(raw), None, "truncated value", raw
                buf = []
            if not buf:
                if not line.strip():
                    offset += n
                    continue
                start = offset
            buf.append(line)
            offset += n
            text = line.rstrip()
            if not text.endswith(b"}") or (len(buf) > 1 and text != b"}"):
                continue
            raw = b"".join(buf).rstrip()
            buf = []
            try:
                v = json.loads(raw)
            except ValueError as e:
                yield start, len(raw), None, "invalid JSON: %s" % e, raw
                continue
            if not isinstance(v, dict):
                yield start, len(raw), None, "not a JSON object", raw
                continue
            yield start, len(raw), v, None, raw
    # An incomplete value at the end is left for the next run.


def check_signature(header, body, secrets, received, tolerance=300):
    parts = dict()
    v1 = []
    for p in header.split(","):
        k, _, v = p.strip().partition("=")
        if k == "v1":
            v1.append(v)
        else:
            parts[k] = v
    t = parts.get("t")
    if not t or not t.isdigit() or not v1:
        return False
    ok = False
    for s in secrets:
        mac = hmac.new(s.encode(), (t + ".").encode() + body.encode(), hashlib.sha256).hexdigest()
        for x in v1:
            ok |= hmac.compare_digest(mac, x)
    return ok and (tolerance == 0 or received - int(t) <= tolerance)


def ref(v):
    if isinstance(v, dict):
        return v.get("id")
    return v


class Stop(Exception):
    """--max-seconds reached."""


class Ingest:
    def __init__(self, db, catalog, secrets, deadline=None):
        self.deadline = deadline
        self.bytes = 0
        self.db = db
        self.plans = catalog.get("plans", {})
        self.topups = catalog.get("topups", {})
        self.meters = catalog.get("meters", {})
        self.secrets = secrets
        self.now = int(os.environ.get("BENCH_NOW", time.time()))
        self.n = {"values": 0, "applied": 0, "duplicate": 0, "superseded": 0,
                  "quarantined": 0, "invalid_signature": 0, "ledger_entries": 0}

    def quarantine(self, kind, path, offset, size, reason, raw):
        self.n["quarantined"] += 1
        excerpt = raw[:256]
        h = hash((reason, excerpt)) & 0x7fffffffffffffff
        self.db.execute("INSERT INTO quarantine(kind, source, source_offset, reason, size, excerpt, "
                        "hash, quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(source, source_offset, hash) DO NOTHING",
                        (kind, path, offset, reason, size, excerpt, h, self.now))

    def credit(self, customer, amount, kind, key, stype, sid, at, expires, reason):
        cur = self.db.execute(
            "INSERT INTO ledger(customer, amount, kind, key, source_type, source_id, effective_at, "
            "expires_at, recorded_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO NOTHING",
            (customer, amount, kind, key, stype, sid, at, expires, self.now, reason))
        if cur.rowcount:
            self.n["ledger_entries"] += 1
            self.db.execute("INSERT INTO balances(customer, balance, updated_at) VALUES (?, ?, ?) "
                            "ON CONFLICT(customer) DO UPDATE SET balance = balance + excluded.balance, "
                            "updated_at = excluded.updated_at", (customer, amount, self.now))

    def placeholder(self, customer):
        if customer:
            self.db.execute("INSERT INTO customers(id, placeholder, updated_at) VALUES (?, 1, ?) "
                            "ON CONFLICT(id) DO NOTHING", (customer, self.now))

    TABLES = {"customer": "customers", "subscription": "subscriptions", "invoice": "invoices",
              "checkout.session": "checkout_sessions", "charge": "charges", "refund": "reversals",
              "dispute": "reversals", "price": "prices"}

    def put(self, o, ver, h):
        kind = o.get("object")
        table = self.TABLES.get(kind)
        if table is None:
            return "stored"
        row = self.db.execute("SELECT ver FROM %s WHERE id = ?" % table, (o["id"],)).fetchone()
        if row is not None and row[0] > ver:
            return "superseded"
        db, now, oid = self.db, self.now, o["id"]
        if kind == "customer":
            db.execute("INSERT OR REPLACE INTO customers(id, email, name, currency, created, deleted, "
                       "placeholder, ver, raw_hash, refetch, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?)",
                       (oid, o.get("email"), o.get("name"), o.get("currency"), o.get("created"),
                        1 if o.get("deleted") else 0, ver, h, now))
        elif kind == "subscription":
            cust = ref(o.get("customer"))
            self.placeholder(cust)
            items = (o.get("items") or {}).get("data") or []
            ps = o.get("current_period_start") or (items[0].get("current_period_start") if items else None)
            pe = o.get("current_period_end") or (items[0].get("current_period_end") if items else None)
            db.execute("INSERT OR REPLACE INTO subscriptions(id, customer, status, current_period_start, "
                       "current_period_end, cancel_at, canceled_at, ended_at, trial_end, created, "
                       "placeholder, ver, raw_hash, refetch, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?)",
                       (oid, cust, o.get("status"), ps, pe, o.get("cancel_at"), o.get("canceled_at"),
                        o.get("ended_at"), o.get("trial_end"), o.get("created"), ver, h, now))
            db.execute("DELETE FROM subscription_items WHERE subscription = ?", (oid,))
            for it in items:
                db.execute("INSERT OR REPLACE INTO subscription_items(subscription, id, price, quantity, "
                           "current_period_start, current_period_end) VALUES (?, ?, ?, ?, ?, ?)",
                           (oid, it.get("id") or "", ref(it.get("price")), it.get("quantity") or 1,
                            it.get("current_period_start") or ps, it.get("current_period_end") or pe))
        elif kind == "invoice":
            cust = ref(o.get("customer"))
            self.placeholder(cust)
            sub = ref(o.get("subscription")) or \
                ((o.get("parent") or {}).get("subscription_details") or {}).get("subscription")
            pi = ref(o.get("payment_intent"))
            if pi is None:
                for p in ((o.get("payments") or {}).get("data") or []):
                    pi = pi or (p.get("payment") or {}).get("payment_intent")
            paid_at = (o.get("status_transitions") or {}).get("paid_at")
            db.execute("INSERT OR REPLACE INTO invoices(id, customer, subscription, status, "
                       "billing_reason, currency, amount_due, amount_paid, charge, payment_intent, "
                       "period_start, period_end, paid_at, created, placeholder, ver, raw_hash, "
                       "refetch, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?)",
                       (oid, cust, sub, o.get("status"), o.get("billing_reason"), o.get("currency"),
                        o.get("amount_due"), o.get("amount_paid"), ref(o.get("charge")), pi,
                        o.get("period_start"), o.get("period_end"), paid_at, o.get("created"),
                        ver, h, now))
            lines = (o.get("lines") or {}).get("data") or []
            db.execute("DELETE FROM invoice_lines WHERE invoice = ?", (oid,))
            grant, expires = 0, 0
            for i, l in enumerate(lines):
                price = ref(l.get("price")) or ref(l.get("plan")) or \
                    ((l.get("pricing") or {}).get("price_details") or {}).get("price")
                qty = l.get("quantity") or 1
                period = l.get("period") or {}
                db.execute("INSERT OR REPLACE INTO invoice_lines(invoice, id, price, quantity, amount, "
                           "period_start, period_end) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (oid, l.get("id") or "line-%d" % i, price, qty, l.get("amount"),
                            period.get("start"), period.get("end")))
                if price in self.plans:
                    grant += self.plans[price]["credits_per_period"] * qty
                    expires = max(expires, period.get("end") or 0)
            if o.get("status") == "paid" and grant > 0 and cust:
                self.credit(cust, grant, "grant", "grant:invoice:%s" % oid, "invoice", oid,
                            paid_at or o.get("created") or ver, expires or None,
                            "plan credits for paid invoice %s" % oid)
        elif kind == "checkout.session":
            cust = ref(o.get("customer"))
            self.placeholder(cust)
            price = (o.get("metadata") or {}).get("price")
            db.execute("INSERT OR REPLACE INTO checkout_sessions(id, customer, mode, status, "
                       "payment_status, payment_intent, invoice, price, quantity, amount_total, "
                       "currency, created, ver, raw_hash, refetch, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                       (oid, cust, o.get("mode"), o.get("status"), o.get("payment_status"),
                        ref(o.get("payment_intent")), ref(o.get("invoice")), price, 1,
                        o.get("amount_total"), o.get("currency"), o.get("created"), ver, h, now))
            t = self.topups.get(price)
            if (t and cust and o.get("mode") == "payment" and o.get("status") == "complete"
                    and o.get("payment_status") == "paid" and not o.get("invoice")):
                at = o.get("created") or ver
                days = t.get("expires_after_days") or 0
                self.credit(cust, t["credits"], "topup", "topup:checkout:%s" % oid, "checkout_session",
                            oid, at, at + days * 86400 if days else None,
                            "top-up %s bought in checkout session %s" % (price, oid))
        elif kind == "charge":
            cust = ref(o.get("customer"))
            self.placeholder(cust)
            db.execute("INSERT OR REPLACE INTO charges(id, customer, invoice, payment_intent, currency, "
                       "amount, amount_refunded, disputed, created, ver, raw_hash, refetch, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                       (oid, cust, ref(o.get("invoice")), ref(o.get("payment_intent")),
                        o.get("currency"), o.get("amount"), o.get("amount_refunded"),
                        1 if o.get("disputed") else 0, o.get("created"), ver, h, now))
        elif kind in ("refund", "dispute"):
            db.execute("INSERT OR REPLACE INTO reversals(id, kind, charge, payment_intent, status, "
                       "currency, amount, created, ver, raw_hash, refetch, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                       (oid, kind, ref(o.get("charge")), ref(o.get("payment_intent")), o.get("status"),
                        o.get("currency"), o.get("amount"), o.get("created"), ver, h, now))
        elif kind == "price":
            db.execute("INSERT OR REPLACE INTO prices(id, product, type, currency, unit_amount, "
                       "interval, lookup_key, nickname, active, ver, raw_hash, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (oid, ref(o.get("product")), o.get("type"), o.get("currency"),
                        o.get("unit_amount"), (o.get("recurring") or {}).get("interval"),
                        o.get("lookup_key"), o.get("nickname"), 1 if o.get("active") else 0,
                        ver, h, now))
        return "applied"

    def event(self, ev, body):
        obj = (ev.get("data") or {}).get("object") or {}
        cust = obj.get("id") if obj.get("object") == "customer" else ref(obj.get("customer"))
        cur = self.db.execute(
            "INSERT INTO events(id, type, created, api_version, livemode, object_type, object_id, "
            "customer, state, delivery_count, first_seen_at, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT(id) DO NOTHING",
            (ev["id"], ev.get("type"), ev.get("created"), ev.get("api_version"),
             1 if ev.get("livemode") else 0, obj.get("object"), obj.get("id"), cust, self.now, body))
        if cur.rowcount == 0:
            self.n["duplicate"] += 1
            return
        h = hash(json.dumps(obj, sort_keys=True, separators=(",", ":"))) & 0x7fffffffffffffff
        state = self.put(obj, ev.get("created") or 0, h)
        self.n[state if state in self.n else "applied"] += 1
        self.db.execute("UPDATE events SET state = ? WHERE id = ?", (state, ev["id"]))

    def delivery(self, dkey, event_id, rec, sig_state, path, offset, body=None):
        cur = self.db.execute(
            "INSERT INTO deliveries(dkey, event_id, received_at, endpoint, attempt, status, "
            "http_status, error, sig_state, body, source, source_offset, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dkey) DO NOTHING",
            (dkey, event_id, rec.get("received_at"), rec.get("endpoint"), rec.get("attempt"),
             rec.get("status") or "ok", rec.get("http_status"), rec.get("error"), sig_state,
             body, path, offset, self.now))
        if cur.rowcount and event_id:
            self.db.execute("UPDATE events SET delivery_count = delivery_count + 1 WHERE id = ?",
                            (event_id,))

    def webhook(self, path, offset, v, raw):
        if v.get("object") == "event":
            self.event(v, raw.decode("utf-8").strip())
            self.delivery("%s|%d" % (path, offset), v["id"], {}, "unsigned", path, offset)
            return
        body = v.get("body")
        if not isinstance(body, str):
            ev = v.get("event")
            if not isinstance(ev, dict):
                self.quarantine("webhook", path, offset, len(raw), "neither an event nor a delivery record", raw)
                return
            body = json.dumps(ev, separators=(",", ":"))
        received = v.get("received_at") or 0
        sig = v.get("signature") or ""
        if self.secrets:
            state = "valid" if check_signature(sig, body, self.secrets, received) else "invalid"
        else:
            state = "unverified" if sig else "unsigned"
        try:
            ev = json.loads(body)
        except ValueError:
            ev = None
        eid = ev.get("id") if isinstance(ev, dict) else None
        dkey = "%s|%d|%d|%s" % (eid, received, v.get("attempt") or 0, v.get("endpoint") or "") \
            if received and eid else "%s|%d" % (path, offset)
        if state == "invalid":
            self.n["invalid_signature"] += 1
            self.delivery(dkey, eid, v, state, path, offset, body)
            return
        if not isinstance(ev, dict) or not eid:
            self.delivery(dkey, None, v, state, path, offset, body)
            self.quarantine("webhook", path, offset, len(raw), "delivery body is not a JSON object", raw)
            return
        self.event(ev, body)
        self.delivery(dkey, eid, v, state, path, offset)

    def usage(self, path, offset, v, raw):
        payload = v.get("payload") or {}
        ident, meter = v.get("identifier"), v.get("event_name")
        cust = payload.get("stripe_customer_id")
        try:
            value = int(payload.get("value"))
            ts = int(v.get("timestamp"))
        except (TypeError, ValueError):
            value = ts = None
        if not ident or not meter or not cust or value is None or value < 0:
            self.quarantine("usage", path, offset, len(raw), "usage: not a meter event", raw)
            return
        row = self.db.execute("SELECT event_name, customer, value, timestamp FROM usage "
                              "WHERE identifier = ?", (ident,)).fetchone()
        if row is not None:
            if row == (meter, cust, value, ts):
                self.n["duplicate"] += 1
                self.db.execute("UPDATE usage SET repeats = repeats + 1 WHERE identifier = ?", (ident,))
            else:
                self.quarantine("usage-conflict", path, offset, 0,
                                "usage identifier %s repeated with a different payload" % ident,
                                ident.encode())
            return
        self.placeholder(cust)
        self.db.execute("INSERT INTO usage(identifier, event_name, customer, value, timestamp, source, "
                        "source_offset, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (ident, meter, cust, value, ts, path, offset, self.now))
        m = self.meters.get(meter)
        if m is None:
            self.quarantine("usage-unpriced", path, offset, 0, "meter %s not in the catalog" % meter,
                            ident.encode())
            return
        self.n["applied"] += 1
        self.credit(cust, -value * m["credits_per_unit"], "consume", "consume:usage:%s" % ident,
                    "usage", ident, ts, None, "%d %s" % (value, meter))

    def file(self, path, kind):
        path = os.path.realpath(path)
        st = os.stat(path)
        take = self.webhook if kind == "webhook" else self.usage
        self.db.execute("BEGIN IMMEDIATE")
        done, end = 0, 0
        stopped = False
        for offset, size, v, why, raw in values(path):
            if self.deadline is not None and time.monotonic() >= self.deadline:
                stopped = True
                break
            self.n["values"] += 1
            if v is None:
                self.quarantine(kind, path, offset, size, why, raw)
            else:
                take(path, offset, v, raw)
            end = offset + size
            done += 1
            if done >= BATCH:
                self.cursor(path, kind, st, end)
                self.db.execute("COMMIT")
                self.db.execute("BEGIN IMMEDIATE")
                done = 0
        self.cursor(path, kind, st, end)
        self.db.execute("COMMIT")
        self.bytes += end
        if stopped:
            raise Stop()

    def cursor(self, path, kind, st, offset):
        self.db.execute("INSERT OR REPLACE INTO cursors(path, kind, inode, offset, head_len, head_hash, "
                        "updated_at) VALUES (?, ?, ?, ?, 0, 0, ?)",
                        (path, kind, st.st_ino, offset, self.now))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--secret", action="append", default=[])
    ap.add_argument("--max-seconds", type=float)
    ap.add_argument("--webhooks", nargs="*", default=[])
    ap.add_argument("--usage", nargs="*", default=[])
    a = ap.parse_args()
    with open(a.catalog, encoding="utf-8") as f:
        catalog = json.load(f)
    t0 = time.monotonic()
    db = connect(a.db, a.schema)
    ing = Ingest(db, catalog, a.secret, t0 + a.max_seconds if a.max_seconds else None)
    complete = True
    try:
        for p in a.webhooks:
            ing.file(p, "webhook")
        for p in a.usage:
            ing.file(p, "usage")
    except Stop:
        complete = False
    db.close()
    ing.n["seconds"] = round(time.monotonic() - t0, 3)
    ing.n["complete"] = complete
    ing.n["bytes"] = ing.bytes
    ing.n["total_bytes"] = sum(os.path.getsize(p) for p in a.webhooks + a.usage)
    print(json.dumps(ing.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
