#!/bin/bash
# Bad input (TAP): a webhook log and a usage log hold, between good values,
# every kind of bad input tally must set aside and go on from (SPEC 3):
# truncated JSON (inside a string, and followed by the next value at column
# 0), a 10 MB value, binary garbage with NUL bytes, JSON values that are not
# objects, events without id, type or data.object, a delivery record whose
# body is not JSON, a deletion stub of a charge (Stripe never deletes one),
# signed delivery records without received_at or received at 0 (their age
# cannot be checked), records whose signature fails (a wrong secret; a
# signature older than the tolerance when received), usage lines without an
# identifier, with value "12.5", without a customer, whose credits overflow
# 64 bits, and a conflicting repeat (same identifier, another value); and at
# the very end of the usage log a value still being written.  Between them, deletion
# stubs that are not bad: a draft invoice deleted, an invoice and a
# subscription deleted before they were seen.
#
# Checks: ingest exits 0; each bad value is in `tally quarantine --json` with
# its file, byte offset (computed here while writing the logs), size and a
# reason naming the problem, and the good value after it was applied; nothing
# else is quarantined; the failed signatures are in `tally deliveries
# --failed --json` with sig_state "invalid" and their events are not applied;
# the ledger holds exactly the good values' entries and the balances their
# sums; the deletion stubs are applied and their rows marked deleted; the
# incomplete last value is left pending, not quarantined; a second ingest
# changes nothing.
#
# Environment: TALLY, SRCDIR, PYTHON3 (set by make check); KEEP=1 keeps the
# work directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup bad-input
SECRET=whsec_bad_input_test_secret
mkdir -p "$tmp/logs"
export STRIPE_WEBHOOK_SECRET="$SECRET"

# --- the logs, and what must come of them ------------------------------------

"$PYTHON3" - "$tmp/logs" "$SECRET" >"$tmp/gen.err" 2>&1 <<'EOF'
import hashlib, hmac, json, os, sys

out, secret = sys.argv[1], sys.argv[2]
T0 = 1767225600                       # 2026-01-01
PERIOD_END = T0 + 31 * 86400
NOW = T0 + 10 * 86400
CUSTOMERS = ["cus_badinputA", "cus_badinputB", "cus_badinputC"]

def sign(body, t, key=secret):
    mac = hmac.new(key.encode(), b"%d." % t + body.encode("utf-8"), hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)

def invoice_event(evt, inv, customer, t, price="price_starter_monthly", qty=1):
    return {"id": evt, "object": "event", "api_version": "2024-06-20", "created": t,
            "type": "invoice.paid", "livemode": False,
            "data": {"object": {"id": inv, "object": "invoice", "customer": customer,
                                "status": "paid", "amount_paid": 2000, "charge": "ch_" + inv[3:],
                                "subscription": "sub_" + customer[4:], "created": t - 60,
                                "status_transitions": {"paid_at": t},
                                "lines": {"object": "list", "has_more": False, "data": [
                                    {"id": "il_" + inv[3:], "object": "line_item",
                                     "price": {"id": price, "object": "price"}, "quantity": qty,
                                     "amount": 2000, "period": {"start": T0, "end": PERIOD_END}}]}}}}

class Log:
    def __init__(self, name):
        self.path = os.path.join(out, name)
        self.f = open(self.path, "wb")
        self.off = 0

    def put(self, data):
        """Append bytes; return the offset of their first byte."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        at = self.off
        self.f.write(data)
        self.off += len(data)
        return at

exp = {"now": NOW, "bad": [], "ledger": {}, "invalid": [], "pending": 0, "deleted": {}}
good_after = []                       # the key of the good value after each bad one

def bad(log, label, data, reason, kind=None, size=None, newline=b"\n"):
    if isinstance(data, str):
        data = data.encode("utf-8")
    at = log.put(data + newline)
    exp["bad"].append({"label": label, "source": os.path.realpath(log.path), "offset": at,
                       "size": len(data.rstrip(b" \t\r\n")) if size is None else size,
                       "reason": reason, "kind": kind})

w, u = Log("webhooks.log"), Log("usage.log")
n = [0]

def good_webhook(style=None):
    """A paid invoice for 20000 credits, as a bare event or a signed record."""
    i = n[0] = n[0] + 1
    cus = CUSTOMERS[i % 3]
    t = T0 + 3600 * i
    ev = invoice_event("evt_good%02d" % i, "in_good%02d" % i, cus, t)
    style = style or ["bare", "record", "pretty"][i % 3]
    if style == "bare":
        w.put(json.dumps(ev, separators=(",", ":")) + "\n")
    elif style == "pretty":
        w.put(json.dumps(ev, indent=2) + "\n\n")
    else:
        body = json.dumps(ev, indent=2)
        w.put(json.dumps({"received_at": t + 1, "endpoint": "https://example.com/hook",
                          "attempt": 1, "status": "ok", "http_status": 200,
                          "signature": sign(body, t + 1), "body": body}) + "\n")
    key = "grant:invoice:in_good%02d" % i
    exp["ledger"][key] = [cus, 20000]
    for b in exp["bad"]:
        b.setdefault("next", key)

m = [0]
def good_usage():
    """A usage line; returns its text."""
    i = m[0] = m[0] + 1
    cus = CUSTOMERS[i % 3]
    value = 100 * i + 7
    ident = "req_good%02d" % i
    text = json.dumps({"identifier": ident, "event_name": "api_tokens", "timestamp": T0 + 600 * i,
                       "payload": {"stripe_customer_id": cus, "value": str(value)}}) + "\n"
    u.put(text)
    key = "consume:usage:" + ident
    exp["ledger"][key] = [cus, -value]
    for b in exp["bad"]:
        b.setdefault("next", key)
    return text

# -- webhooks ------------------------------------------------------------------
good_webhook()
trunc = json.dumps(invoice_event("evt_trunc1", "in_trunc1", CUSTOMERS[0], T0 + 5))
bad(w, "webhook: truncated inside a string", trunc[:trunc.index("in_trunc1") + 4],
    r"truncat|cut short|incomplete|ends inside a string")
good_webhook("bare")                  # starts with '{' at column 0
bad(w, "webhook: truncated, next value at column 0", trunc[:trunc.index('"lines"') - 1],
    r"truncat|cut short|incomplete|column 0")
good_webhook("bare")
big = invoice_event("evt_big", "in_big", CUSTOMERS[1], T0 + 7)
big["data"]["object"]["description"] = "x" * (10 << 20)
bad(w, "webhook: a 10 MB value", json.dumps(big, separators=(",", ":")),
    r"exceeds|too large|too big|cap|limit")
good_webhook()
bad(w, "webhook: binary garbage with NUL bytes",
    b"\x00\x00\x00\x01PK\x03\x04\x14\x00\x08\x00\xff\xd8\xff\xe0 \x00JFIF\x00\x7f\x80\x9c"
    b"{\"id\":\x00}\r\x00\xc3\x28 \x1b[31m",
    r"not JSON|binary|garbage|unexpected|invalid")
good_webhook()
bad(w, "webhook: a JSON array", '[{"object":"event","id":"evt_in_array"}]',
    r"not a JSON object|not an object|array")
good_webhook()
bad(w, "webhook: a JSON number", "42", r"not a JSON object|not an object|number|integer")
good_webhook()
ev = invoice_event("evt_x", "in_noid", CUSTOMERS[2], T0 + 9)
del ev["id"]
bad(w, "webhook: event without id", json.dumps(ev), r"\bid\b.*missing|missing.*\bid\b")
good_webhook()
ev = invoice_event("evt_notype", "in_notype", CUSTOMERS[2], T0 + 9)
del ev["type"]
bad(w, "webhook: event without type", json.dumps(ev), r"\btype\b.*missing|missing.*\btype\b")
good_webhook()
ev = invoice_event("evt_nodataobject", "in_nodataobject", CUSTOMERS[2], T0 + 9)
ev["data"] = {"previous_attributes": {}}
bad(w, "webhook: event without data.object", json.dumps(ev),
    r"data\.object.*missing|missing.*data\.object")
good_webhook()
body = "<html><body><h1>502 Bad Gateway</h1></body></html>\n"
bad(w, "webhook: delivery record whose body is not JSON",
    json.dumps({"received_at": T0 + 100, "endpoint": "https://example.com/hook", "attempt": 1,
                "status": "ok", "http_status": 200, "signature": sign(body, T0 + 100),
                "body": body}), r"body.*(not|invalid).*JSON|JSON.*body")
good_webhook()

def stub(evt, etype, obj, oid, t):
    return {"id": evt, "object": "event", "api_version": "2024-06-20", "created": t,
            "type": etype, "livemode": False,
            "data": {"object": {"id": oid, "object": obj, "deleted": True}}}

# Deletion stubs are applied: the rows are marked deleted, nothing blocks.
draft = invoice_event("evt_draft01", "in_draft01", CUSTOMERS[0], T0 + 300)
draft["type"] = "invoice.created"
draft["data"]["object"].update(status="draft", amount_paid=0, status_transitions={"paid_at": None})
w.put(json.dumps(draft) + "\n")
for evt, etype, obj, oid, table, customer in (
        ("evt_deleted01", "invoice.deleted", "invoice", "in_draft01", "invoices", CUSTOMERS[0]),
        ("evt_deleted02", "invoice.deleted", "invoice", "in_unseen01", "invoices", ""),
        ("evt_deleted03", "customer.subscription.deleted", "subscription", "sub_unseen01",
         "subscriptions", "")):
    w.put(json.dumps(stub(evt, etype, obj, oid, T0 + 400)) + "\n")
    exp["deleted"][evt] = [table, oid, customer]
good_webhook()
bad(w, "webhook: deletion stub of a charge",
    json.dumps(stub("evt_stubcharge", "charge.updated", "charge", "ch_stub01", T0 + 400)),
    r"evt_stubcharge.*deletion stub")
good_webhook()
ev = invoice_event("evt_noreceived", "in_noreceived", CUSTOMERS[1], T0 + 500)
body = json.dumps(ev, indent=2)
bad(w, "webhook: signed delivery without received_at",
    json.dumps({"endpoint": "https://example.com/hook", "attempt": 1, "status": "ok",
                "http_status": 200, "signature": sign(body, T0 + 500), "body": body}),
    r"signed delivery without received_at")
good_webhook()
ev = invoice_event("evt_received0", "in_received0", CUSTOMERS[2], T0 + 500)
body = json.dumps(ev, indent=2)
bad(w, "webhook: signed delivery received at 0",
    json.dumps({"received_at": 0, "endpoint": "https://example.com/hook", "attempt": 1,
                "status": "ok", "http_status": 200, "signature": sign(body, T0 + 500),
                "body": body}),
    r"signed delivery without received_at")
good_webhook()
# Signature failures: recorded as deliveries, never applied, not quarantined.
for label, evt, key, t_sig, why in (
        ("signed with another secret", "evt_forged", "whsec_not_the_secret", T0 + 200, "no-match"),
        ("signed an hour before it was received", "evt_stale", secret, T0 + 200 - 3600, "too-old")):
    ev = invoice_event(evt, "in_" + evt[4:], CUSTOMERS[0], T0 + 190, price="price_pro_monthly")
    body = json.dumps(ev, indent=2)
    at = w.put(json.dumps({"received_at": T0 + 200, "endpoint": "https://example.com/hook",
                           "attempt": 1, "status": "ok", "http_status": 200,
                           "signature": sign(body, t_sig, key), "body": body}) + "\n")
    exp["invalid"].append({"label": label, "event_id": evt, "source": os.path.realpath(w.path),
                           "offset": at, "sig_error": why, "key": "grant:invoice:in_" + evt[4:]})
    good_webhook("record")
# An old log verifies as it did when written: signed and received long ago.
good_webhook("record")

# -- usage ---------------------------------------------------------------------
first_text = good_usage()
first = json.loads(first_text)["identifier"]
bad(u, "usage: line without identifier",
    json.dumps({"event_name": "api_tokens", "timestamp": T0 + 50,
                "payload": {"stripe_customer_id": CUSTOMERS[0], "value": "999"}}),
    r"identifier.*missing|missing.*identifier")
good_usage()
bad(u, 'usage: value "12.5"',
    json.dumps({"identifier": "req_fraction", "event_name": "api_tokens", "timestamp": T0 + 51,
                "payload": {"stripe_customer_id": CUSTOMERS[1], "value": "12.5"}}),
    r"value.*(whole|integer)|12\.5")
good_usage()
bad(u, "usage: line without customer",
    json.dumps({"identifier": "req_nocustomer", "event_name": "api_tokens", "timestamp": T0 + 52,
                "payload": {"value": "5"}}),
    r"stripe_customer_id.*missing|customer.*missing|missing.*customer")
good_usage()
bad(u, "usage: value times credits per unit overflows 64 bits",
    json.dumps({"identifier": "req_overflow", "event_name": "images", "timestamp": T0 + 55,
                "payload": {"stripe_customer_id": CUSTOMERS[0], "value": str(2 ** 62)}}),
    r"req_overflow.*overflow", kind="usage")
good_usage()
u.put(first_text)                      # an exact repeat: a duplicate, not bad
bad(u, "usage: conflicting repeat (same identifier, other value)",
    json.dumps({"identifier": first, "event_name": "api_tokens", "timestamp": T0 + 600,
                "payload": {"stripe_customer_id": CUSTOMERS[1], "value": "5000"}}),
    r"repeat|conflict|different", kind="usage-conflict", size=-1)
good_usage()
trunc = json.dumps({"identifier": "req_trunc", "event_name": "api_tokens", "timestamp": T0 + 53,
                    "payload": {"stripe_customer_id": CUSTOMERS[2], "value": "77"}})
bad(u, "usage: truncated line", trunc[:trunc.index("cus_") + 6],
    r"truncat|cut short|incomplete|ends inside a string")
good_usage()
line = {"identifier": "req_big", "event_name": "api_tokens", "timestamp": T0 + 54,
        "payload": {"stripe_customer_id": CUSTOMERS[2], "value": "3", "pad": "y" * (10 << 20)}}
bad(u, "usage: a 10 MB line", json.dumps(line), r"exceeds|too large|too big|cap|limit")
good_usage()
bad(u, "usage: binary garbage with NUL bytes", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\xff",
    r"not JSON|binary|garbage|unexpected|invalid")
good_usage()
bad(u, "usage: a JSON string", '"req_just_a_string"', r"not a JSON object|not an object|string")
good_usage()
bad(u, "usage: JSON null", "null", r"not a JSON object|not an object|null")
good_usage()
# Still being written: no newline, incomplete.  Left for the next read.
partial = '{"identifier":"req_partial","event_name":"api_to'
u.put(partial)
exp["pending"] = len(partial)
w.f.close()
u.f.close()
for b in exp["bad"]:
    b.setdefault("next", None)
exp["customers"] = CUSTOMERS
with open(os.path.join(out, "expect.json"), "w") as f:
    json.dump(exp, f, indent=1)
EOF
st=$?

if [ $st != 0 ]; then
	echo "1..1"
	report "write the bad logs" 1 "$tmp/gen.err"
	exit 1
fi
TALLY_NOW=$(now_of "$tmp/logs/expect.json")
export TALLY_NOW
nbad=$("$PYTHON3" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["bad"]))' "$tmp/logs/expect.json")
ninvalid=$("$PYTHON3" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["invalid"]))' "$tmp/logs/expect.json")
echo "1..$((nbad + ninvalid + 8))"

t() { "$TALLY" --db "$tmp/m.db" --catalog "$CATALOG" --json "$@"; }

# --- ingest ------------------------------------------------------------------

t ingest --webhooks "$tmp/logs/webhooks.log" --usage "$tmp/logs/usage.log" >"$tmp/ingest.json" 2>"$tmp/ingest.err"
rc=$?
echo "ingest exited $rc" >>"$tmp/ingest.err"
report "ingest of logs with bad input exits 0" $rc "$tmp/ingest.err"
for c in "quarantine --limit 100000" "deliveries --failed --limit 100000" "events --limit 100000"; do
	name=${c%% *}
	# shellcheck disable=SC2086
	t $c >"$tmp/$name.json" 2>"$tmp/$name.err" || echo "tally $c failed" >>"$tmp/$name.err"
done
customers=$("$PYTHON3" -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))["customers"]))' "$tmp/logs/expect.json")
: >"$tmp/ledger.json"
for c in $customers; do
	{ printf '{"customer": "%s", "entries": ' "$c"; t ledger "$c"; printf ', "balance": '; t balance "$c"; echo '}'; } >>"$tmp/ledger.json" 2>>"$tmp/ledger.err"
done

# --- checks ------------------------------------------------------------------

"$PYTHON3" - "$tmp" <<'EOF'
import json, re, sys

tmp = sys.argv[1]
def load(name):
    try:
        with open("%s/%s" % (tmp, name)) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print("# cannot read %s: %s" % (name, e))
        return None

exp = load("logs/expect.json")
quar = load("quarantine.json") or []
failed = load("deliveries.json") or []
events = load("events.json") or []
ingest = load("ingest.json") or {}
led = {}
bal = {}
with open(tmp + "/ledger.json") as f:
    dec = json.JSONDecoder()
    text = f.read()
    i = 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        v, i = dec.raw_decode(text, i)
        bal[v["customer"]] = v["balance"]
        for e in v["entries"]:
            led[e["key"]] = [v["customer"], e["amount"], e["kind"]]

n = [1]
def report(desc, ok, diag=()):
    n[0] += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n[0], desc))
    if not ok:
        for d in diag:
            print("# " + str(d)[:400])

matched = set()
for b in exp["bad"]:
    rows = [q for q in quar if q["source"] == b["source"] and q["source_offset"] == b["offset"]]
    diag = []
    ok = True
    if len(rows) != 1:
        ok = False
        diag.append("%d quarantine rows at %s offset %d (want 1); rows near it: %s" % (
            len(rows), b["source"], b["offset"],
            [(q["source_offset"], q["reason"][:80]) for q in quar
             if q["source"] == b["source"] and abs(q["source_offset"] - b["offset"]) < 20000]))
    for q in rows:
        matched.add(q["id"])
        if not re.search(b["reason"], q["reason"], re.I):
            ok = False
            diag.append("reason %r does not match /%s/" % (q["reason"], b["reason"]))
        if b["kind"] and q["kind"] != b["kind"]:
            ok = False
            diag.append("kind %r, want %r" % (q["kind"], b["kind"]))
        if b["size"] >= 0 and q["size"] != b["size"]:
            ok = False
            diag.append("size %r, want %d" % (q["size"], b["size"]))
    if b["next"] and b["next"] not in led:
        ok = False
        diag.append("the good value after it (%s) was not applied" % b["next"])
    report("quarantined: %s (offset %d)%s" % (b["label"], b["offset"],
           ", and the good value after it applied" if b["next"] else ""), ok, diag)

extra = [q for q in quar if q["id"] not in matched]
report("nothing else is quarantined (%d rows for %d bad values)" % (len(quar), len(exp["bad"])),
       not extra, ["unexpected: %s" % json.dumps(q)[:300] for q in extra])

for v in exp["invalid"]:
    rows = [d for d in failed if d["source"] == v["source"] and d["source_offset"] == v["offset"]]
    diag = []
    ok = len(rows) == 1
    if not ok:
        diag.append("%d failed deliveries at offset %d: %s" % (len(rows), v["offset"], failed[:3]))
    for d in rows:
        if d["sig_state"] != "invalid":
            ok = False
            diag.append("sig_state %r" % d["sig_state"])
        if d["event_id"] != v["event_id"]:
            ok = False
            diag.append("event_id %r, want %r" % (d["event_id"], v["event_id"]))
        if d["sig_error"] != v["sig_error"]:
            ok = False
            diag.append("sig_error %r, want %r" % (d["sig_error"], v["sig_error"]))
    if any(e["id"] == v["event_id"] for e in events):
        ok = False
        diag.append("its event %s was stored" % v["event_id"])
    if v["key"] in led:
        ok = False
        diag.append("its grant %s is in the ledger" % v["key"])
    if any(q["source_offset"] == v["offset"] and q["source"] == v["source"] for q in quar):
        diag.append("(also quarantined)")
    report("signature %s: a failed delivery with sig_state invalid (%s), event not applied"
           % (v["label"], v["sig_error"]), ok, diag)

others = [d for d in failed if (d["source"], d["source_offset"]) not in
          {(v["source"], v["offset"]) for v in exp["invalid"]}
          and d["sig_state"] == "invalid"]
report("no other delivery failed its signature", not others,
       ["unexpected: %s" % json.dumps(d)[:300] for d in others])

want = {k: v for k, v in exp["ledger"].items()}
got = {k: v[:2] for k, v in led.items()}
diag = ["missing: %s %s" % (k, want[k]) for k in sorted(set(want) - set(got))]
diag += ["unexpected: %s %s" % (k, got[k]) for k in sorted(set(got) - set(want))]
diag += ["wrong: %s %s, want %s" % (k, got[k], want[k]) for k in sorted(set(got) & set(want))
         if got[k] != want[k]]
report("the ledger holds exactly the %d good values' entries" % len(want), not diag, diag)

diag = []
for cus in exp["customers"]:
    total = sum(v[1] for v in want.values() if v[0] == cus)
    b = bal.get(cus) or {}
    if (b.get("balance"), b.get("ledger_sum"), b.get("consistent")) != (total, total, True):
        diag.append("%s: %s, want %d" % (cus, json.dumps(b), total))
report("balances are the sums of the good values (cached = ledger sum)", not diag, diag)

w, u = ingest.get("webhooks", {}), ingest.get("usage", {})
nw = sum(1 for b in exp["bad"] if b["label"].startswith("webhook"))
nu = len(exp["bad"]) - nw
diag = []
if w.get("quarantined") != nw or w.get("invalid_signature") != len(exp["invalid"]):
    diag.append("webhooks: %s quarantined (want %d), %s invalid signatures (want %d)" % (
        w.get("quarantined"), nw, w.get("invalid_signature"), len(exp["invalid"])))
if u.get("quarantined") != nu or u.get("duplicate") != 1:
    diag.append("usage: %s quarantined (want %d), %s duplicates (want 1)" % (
        u.get("quarantined"), nu, u.get("duplicate")))
if u.get("pending_bytes") != exp["pending"] or w.get("pending_bytes") != 0:
    diag.append("pending bytes: usage %s (want %d: the value still being written), webhooks %s"
                % (u.get("pending_bytes"), exp["pending"], w.get("pending_bytes")))
report("ingest counts the quarantined values, the signature failures, the repeat, and "
       "leaves the incomplete last line pending", not diag, diag)

import sqlite3
db = sqlite3.connect("file:%s/m.db?mode=ro" % tmp, uri=True)
state = {e["id"]: e["state"] for e in events}
diag = []
for evt, (table, oid, customer) in sorted(exp["deleted"].items()):
    row = db.execute("SELECT status, customer FROM %s WHERE id = ?" % table, (oid,)).fetchone()
    if state.get(evt) != "applied":
        diag.append("%s: state %r, want 'applied'" % (evt, state.get(evt)))
    if row != ("deleted", customer):
        diag.append("%s %s: (status, customer) %r, want ('deleted', %r)" % (table, oid, row, customer))
report("deletion stubs are applied: the rows are marked deleted (%d)" % len(exp["deleted"]),
       not diag, diag)
EOF
n=$((n + nbad + ninvalid + 6))

# A second ingest: nothing new in the mirror (and the pending line still pending).
cp "$tmp/quarantine.json" "$tmp/quarantine.1.json"
cp "$tmp/ledger.json" "$tmp/ledger.1.json"
t ingest --webhooks "$tmp/logs/webhooks.log" --usage "$tmp/logs/usage.log" >"$tmp/ingest2.json" 2>"$tmp/ingest2.err"
rc=$?
t quarantine --limit 100000 >"$tmp/quarantine.json" 2>>"$tmp/ingest2.err"
: >"$tmp/ledger.json"
for c in $customers; do
	{ printf '{"customer": "%s", "entries": ' "$c"; t ledger "$c"; printf ', "balance": '; t balance "$c"; echo '}'; } >>"$tmp/ledger.json" 2>>"$tmp/ingest2.err"
done
st=$rc
cmp -s "$tmp/quarantine.json" "$tmp/quarantine.1.json" || { st=1; echo "the quarantine changed" >>"$tmp/ingest2.err"; }
cmp -s "$tmp/ledger.json" "$tmp/ledger.1.json" || { st=1; echo "the ledger changed" >>"$tmp/ingest2.err"; }
report "a second ingest exits 0 and changes neither the quarantine nor the ledger" $st "$tmp/ingest2.err"
