#!/bin/bash
# The fake Stripe API server (tests/lib/fake_stripe.py) behaves like Stripe
# where tally's tests rely on it (TAP): authentication errors, list paging
# with starting_after and ending_before, unknown and bad parameters,
# idempotent POSTs (replay, mismatch, validation failures not saved), every
# fault kind, a lost response retried with the same Idempotency-Key applied
# once, the rate limiter, the request log, and a state written by
# stripe_events.py --stripe-state that lists every generated customer.
#
# Environment: SRCDIR, PYTHON3 (set by make check); KEEP=1 keeps the work
# directory.
set -u
. "${SRCDIR:-.}/tests/lib/tap.sh"
tap_setup fake-stripe

PLAN=60
echo "1..$PLAN"

mkdir -p "$tmp/state" "$tmp/logs"
"$PYTHON3" "$GEN" --seed 4242 --customers 23 --months 4 --out-dir "$tmp/logs" --quiet \
	--stripe-state "$tmp/state"
report "stripe_events.py --stripe-state writes state.json" $?

fake_start "$tmp/state"
[ -s "$tmp/state/port" ]
report "the fake starts and writes its port file" $?
PORT=$(cat "$tmp/state/port" 2>/dev/null)

FAKE_PORT=$PORT FAKE_STATE="$tmp/state" FAKE_FIRST=$((n + 1)) "$PYTHON3" - >"$tmp/py.out" 2>"$tmp/py.err" <<'PY'
import http.client, json, os, socket, sys, time, urllib.parse

PORT = int(os.environ["FAKE_PORT"])
STATE = os.environ["FAKE_STATE"]
n = int(os.environ["FAKE_FIRST"]) - 1
KEY = "sk_test_tally_fake_0000000000"
st = json.load(open(os.path.join(STATE, "state.json")))


def ok(desc, cond, diag=None):
    global n
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, desc))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:8]:
            print("# " + line)
    sys.stdout.flush()


def call(method, path, params=None, key=KEY, headers=None, body=None, timeout=10):
    """(status, headers, parsed JSON or None, raw bytes, error) of one request."""
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = "Bearer " + key
    if params is not None and method == "GET":
        path += "?" + urllib.parse.urlencode(params, doseq=True)
    elif params is not None:
        body = urllib.parse.urlencode(params, doseq=True)
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        raw = r.read()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        return r.status, r, data, raw, None
    except (http.client.HTTPException, OSError) as e:
        return None, None, None, b"", e
    finally:
        c.close()


def err(data):
    return (data or {}).get("error") or {}


def writes():
    p = os.path.join(STATE, "writes.jsonl")
    if not os.path.exists(p):
        return []
    return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]


def set_faults(rules):
    s, _, d, _, _ = call("POST", "/_fake/faults", key=None, body=json.dumps(rules),
                         headers={"Content-Type": "application/json"})
    assert s == 200, d


s, _, d, _, _ = call("GET", "/_fake/health", key=None)
ok("health answers", s == 200 and d["ok"] is True and d["objects"] == len(st["objects"]), d)

# --- authentication ---------------------------------------------------------
s, r, d, _, _ = call("GET", "/v1/customers", key=None)
ok("no API key: 401 'You did not provide an API key'", s == 401 and
   err(d).get("message", "").startswith("You did not provide an API key")
   and err(d).get("type") == "invalid_request_error" and r.getheader("Request-Id", "").startswith("req_"), d)
s, _, d, _, _ = call("GET", "/v1/customers", key="sk_test_wrongwrongwrongabcd")
m = err(d).get("message", "")
ok("wrong key: 401 with the key masked", s == 401 and m.startswith("Invalid API Key provided: sk_test_")
   and m.endswith("abcd") and "wrongwrong" not in m, d)
c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
import base64
c.request("GET", "/v1/customers?limit=1",
          headers={"Authorization": "Basic " + base64.b64encode((KEY + ":").encode()).decode()})
r = c.getresponse(); r.read(); c.close()
ok("HTTP Basic with the key as user name is accepted", r.status == 200)

# --- lists --------------------------------------------------------------------
customers = [o for o in st["objects"] if o["object"] == "customer"]
seen, after, pages, last = [], None, 0, None
while True:
    p = {"limit": 7}
    if after:
        p["starting_after"] = after
    s, _, d, _, _ = call("GET", "/v1/customers", p)
    if s != 200:
        break
    pages += 1
    seen += [c["id"] for c in d["data"]]
    last = d
    if not d["has_more"]:
        break
    after = d["data"][-1]["id"]
ok("customers paged with starting_after: every generated customer once",
   sorted(seen) == sorted(c["id"] for c in customers) and len(seen) == len(set(seen))
   and pages == -(-len(customers) // 7), (pages, len(seen), len(customers)))
created = {c["id"]: c["created"] for c in customers}
ok("newest first", [created[i] for i in seen] == sorted((created[i] for i in seen), reverse=True))
ok("list envelope", last is not None and last["object"] == "list" and last["url"] == "/v1/customers"
   and last["has_more"] is False, last)

events = []
after = None
while True:
    p = {"limit": 100}
    if after:
        p["starting_after"] = after
    s, _, d, _, _ = call("GET", "/v1/events", p)
    events += [e["id"] for e in d["data"]]
    if not d["has_more"]:
        break
    after = d["data"][-1]["id"]
ok("all events listed", sorted(events) == sorted(e["id"] for e in st["events"]), len(events))
i = len(events) // 2
s, _, d, _, _ = call("GET", "/v1/events", {"ending_before": events[i], "limit": 3})
ok("ending_before: the 3 events just newer, newest first, has_more", s == 200 and
   [e["id"] for e in d["data"]] == events[i - 3:i] and d["has_more"] is True, d and [e["id"] for e in d["data"]])
s, _, d, _, _ = call("GET", "/v1/events", {"ending_before": events[2], "limit": 5})
ok("ending_before near the top: what is left, has_more false",
   [e["id"] for e in d["data"]] == events[0:2] and d["has_more"] is False)
s, _, d, _, _ = call("GET", "/v1/events", {"ending_before": events[0]})
ok("ending_before the newest: empty", d["data"] == [] and d["has_more"] is False)
s, _, d, _, _ = call("GET", "/v1/events", {"type": "customer.subscription.*", "limit": 100})
ok("type with a wildcard", s == 200 and d["data"] and
   all(e["type"].startswith("customer.subscription.") for e in d["data"]))
s, _, d, _, _ = call("GET", "/v1/events", {"type": "invoice.paid", "types[]": ["invoice.paid"]})
ok("type and types together: 400", s == 400)
s, _, d, _, _ = call("GET", "/v1/events", {"starting_after": events[3], "ending_before": events[1]})
ok("starting_after with ending_before: 400", s == 400 and err(d).get("type") == "invalid_request_error")
s, _, d, _, _ = call("GET", "/v1/events", {"starting_after": "evt_nope"})
ok("unknown cursor: resource_missing", s in (400, 404) and err(d).get("code") == "resource_missing")
s, _, d, _, _ = call("GET", "/v1/customers", {"frobnicate": "1"})
ok("unknown parameter: 400 'Received unknown parameter: frobnicate'", s == 400 and
   err(d).get("message") == "Received unknown parameter: frobnicate" and err(d).get("param") == "frobnicate", d)
s1, _, d1, _, _ = call("GET", "/v1/customers", {"limit": 0})
s2, _, d2, _, _ = call("GET", "/v1/customers", {"limit": 101})
ok("limit 0 and 101: 400 on limit", s1 == 400 and s2 == 400 and err(d1).get("param") == "limit"
   and err(d2).get("param") == "limit")
s, _, d, _, _ = call("GET", "/v1/customers/cus_nope")
ok("retrieve a missing customer: 404 No such customer", s == 404 and
   err(d).get("message") == "No such customer: 'cus_nope'" and err(d).get("param") == "id"
   and err(d).get("code") == "resource_missing", d)
subs = [o for o in st["objects"] if o["object"] == "subscription"]
s, _, d, _, _ = call("GET", "/v1/subscriptions", {"limit": 100})
s2, _, d2, _, _ = call("GET", "/v1/subscriptions", {"limit": 100, "status": "all"})
ok("subscriptions: canceled ones only with status=all",
   len(d["data"]) == sum(1 for x in subs if x["status"] != "canceled")
   and len(d2["data"]) == len(subs), (len(d["data"]), len(d2["data"]), len(subs)))
inv = next(o for o in st["objects"] if o["object"] == "invoice")
s, _, d, _, _ = call("GET", "/v1/invoices/%s" % inv["id"], {"expand[]": "customer"})
ok("retrieve with expand[]", s == 200 and d["id"] == inv["id"] and isinstance(d["customer"], dict)
   and d["customer"]["id"] == inv["customer"])

# --- writes and idempotency ----------------------------------------------------
cus = customers[0]["id"]
w0 = len(writes())
form = {"amount": "-500", "currency": "usd", "description": "fake test", "metadata[why]": "t"}
s, r, d, raw1, _ = call("POST", "/v1/customers/%s/balance_transactions" % cus, form,
                        headers={"Idempotency-Key": "k-one"})
ok("POST balance transaction", s == 200 and d["object"] == "customer_balance_transaction"
   and d["amount"] == -500 and d["ending_balance"] == -500 and d["metadata"] == {"why": "t"}, d)
txn = d["id"] if d else None
s, r, d, raw2, _ = call("POST", "/v1/customers/%s/balance_transactions" % cus, form,
                        headers={"Idempotency-Key": "k-one"})
ok("same key, same params: replayed with Idempotent-Replayed", s == 200 and raw2 == raw1
   and r.getheader("Idempotent-Replayed") == "true")
ok("applied once (writes.jsonl)", len(writes()) == w0 + 1 and writes()[-1]["object"] == txn)
s, _, d, _, _ = call("GET", "/v1/customers/" + cus)
ok("the customer's balance changed once", d["balance"] == -500, d and d.get("balance"))
s, _, d, _, _ = call("POST", "/v1/customers/%s/balance_transactions" % cus,
                     dict(form, amount="-600"), headers={"Idempotency-Key": "k-one"})
ok("same key, other params: 400 idempotency_error", s == 400 and err(d).get("type") == "idempotency_error", d)
s, _, d, _, _ = call("POST", "/v1/customers/%s/balance_transactions" % cus, {"currency": "usd"},
                     headers={"Idempotency-Key": "k-two"})
s2, _, d2, _, _ = call("POST", "/v1/customers/%s/balance_transactions" % cus,
                       {"amount": "100", "currency": "usd"}, headers={"Idempotency-Key": "k-two"})
ok("a validation failure is not saved under its key", s == 400 and err(d).get("code") == "parameter_missing"
   and s2 == 200 and d2["amount"] == 100, (d, d2))
s, _, d, _, _ = call("POST", "/v1/customers/%s/balance_transactions" % cus,
                     body='{"amount": 1}', headers={"Content-Type": "application/json"})
ok("a JSON body: 400", s == 400)
s, _, d, _, _ = call("GET", "/v1/events", {"type": "customer.updated", "limit": 1})
ok("the write appended a customer.updated event", d["data"][0]["data"]["object"]["id"] == cus
   and d["data"][0]["request"]["idempotency_key"] == "k-two")
s, _, d, _, _ = call("POST", "/v1/billing/credit_grants",
                     {"customer": cus, "amount[type]": "monetary", "amount[monetary][value]": "2500",
                      "amount[monetary][currency]": "usd",
                      "applicability_config[scope][price_type]": "metered", "category": "paid",
                      "name": "test grant", "metadata[k]": "v"})
ok("POST credit grant (bracket notation)", s == 200 and d["object"] == "billing.credit_grant"
   and d["amount"]["monetary"]["value"] == 2500
   and d["applicability_config"] == {"scope": {"price_type": "metered"}}, d)
s, _, d, _, _ = call("GET", "/v1/billing/credit_balance_summary",
                     {"customer": cus, "filter[type]": "applicability_scope",
                      "filter[applicability_scope][price_type]": "metered"})
ok("credit balance summary sums the grants", s == 200 and
   d["balances"][0]["available_balance"]["monetary"]["value"] == 2500, d)
ev = events[5]
s, _, d, _, _ = call("POST", "/v1/events/%s/retry" % ev, {"webhook_endpoint": st["webhook_endpoints"][0]["id"]})
ok("event retry is recorded", s == 200 and d["id"] == ev and writes()[-1]["kind"] == "event.retry"
   and writes()[-1]["object"] == ev, d)

# --- faults ----------------------------------------------------------------------
set_faults([{"kind": "429", "path": "/v1/customers", "retry_after": 2, "should_retry": "true"}])
s, r, d, _, _ = call("GET", "/v1/customers")
s2, _, _, _, _ = call("GET", "/v1/customers")
ok("fault 429: Retry-After, Stripe-Should-Retry, then once only", s == 429
   and r.getheader("Retry-After") == "2" and r.getheader("Stripe-Should-Retry") == "true"
   and err(d).get("code") == "rate_limit" and s2 == 200)
set_faults([{"kind": "500", "method": "GET"}, {"kind": "503", "method": "GET"},
            {"kind": "409", "method": "GET"}])
got = [call("GET", "/v1/prices")[0] for _ in range(4)]
ok("faults 500, 503, 409 in turn", got == [500, 503, 409, 200], got)
set_faults([{"kind": "slow", "delay_ms": 700}])
t0 = time.time()
s, _, _, _, _ = call("GET", "/v1/prices")
ok("fault slow", s == 200 and time.time() - t0 >= 0.65)
set_faults([{"kind": "truncate", "path": "/v1/customers/"}])
s, _, _, _, e = call("GET", "/v1/customers/" + cus)
ok("fault truncate: the body ends early", isinstance(e, http.client.IncompleteRead), repr(e))
set_faults([{"kind": "drop", "after": 1}])
s1, _, _, _, e1 = call("GET", "/v1/prices")
s2, _, _, _, e2 = call("GET", "/v1/prices")
ok("fault drop (after 1): no answer the second time", s1 == 200 and s2 is None and e2 is not None, repr(e2))
w0 = len(writes())
set_faults([{"kind": "drop", "method": "POST"}, {"kind": "500", "method": "POST"},
            {"kind": "truncate", "method": "POST"}, {"kind": "429", "method": "POST"}])
res = [call("POST", "/v1/customers/%s/balance_transactions" % cus, {"amount": "7", "currency": "usd"},
            headers={"Idempotency-Key": "k-faulted"})[0] for _ in range(4)]
ok("faulted POSTs are not applied", len(writes()) == w0 and res[1] == 500 and res[3] == 429, (res, len(writes()) - w0))
s, r, d, _, _ = call("POST", "/v1/customers/%s/balance_transactions" % cus, {"amount": "7", "currency": "usd"},
                     headers={"Idempotency-Key": "k-faulted"})
ok("and the same key then applies once", s == 200 and r.getheader("Idempotent-Replayed") is None
   and len(writes()) == w0 + 1)

set_faults([{"kind": "lost_response", "method": "POST", "path": "/v1/billing/credit_grants"}])
w0 = len(writes())
gform = {"customer": cus, "amount[type]": "monetary", "amount[monetary][value]": "300",
         "amount[monetary][currency]": "usd", "applicability_config[scope][price_type]": "metered"}
s, _, _, _, e = call("POST", "/v1/billing/credit_grants", gform, headers={"Idempotency-Key": "k-lost"})
ok("lost_response: applied, no answer", s is None and e is not None and len(writes()) == w0 + 1)
s, r, d, _, _ = call("POST", "/v1/billing/credit_grants", gform, headers={"Idempotency-Key": "k-lost"})
ok("the retry with the same key is a replay, applied once", s == 200 and
   r.getheader("Idempotent-Replayed") == "true" and len(writes()) == w0 + 1
   and d["id"] == writes()[-1]["object"], (s, len(writes()) - w0))
s, _, d, _, _ = call("GET", "/v1/billing/credit_grants", {"customer": cus})
ok("one grant created by it", s == 200 and sum(1 for g in d["data"] if g["amount"]["monetary"]["value"] == 300) == 1)

set_faults([{"kind": "500", "method": "POST", "save": True}])
w0 = len(writes())
s1, _, d1, raw1, _ = call("POST", "/v1/billing/credit_grants", dict(gform, name="x"),
                          headers={"Idempotency-Key": "k-500"})
s2, r2, d2, raw2, _ = call("POST", "/v1/billing/credit_grants", dict(gform, name="x"),
                           headers={"Idempotency-Key": "k-500"})
ok("a saved 500 is replayed", s1 == 500 and s2 == 500 and raw1 == raw2
   and r2.getheader("Idempotent-Replayed") == "true" and len(writes()) == w0)
set_faults([{"kind": "slow", "delay_ms": 800, "method": "POST"}])
import threading
w0 = len(writes())
first = {}
th = threading.Thread(target=lambda: first.update(r=call(
    "POST", "/v1/customers/%s/balance_transactions" % cus, {"amount": "9", "currency": "usd"},
    headers={"Idempotency-Key": "k-conc"})))
th.start()
time.sleep(0.3)
s, _, d, _, _ = call("POST", "/v1/customers/%s/balance_transactions" % cus,
                     {"amount": "9", "currency": "usd"}, headers={"Idempotency-Key": "k-conc"})
th.join()
ok("a concurrent request with a key still in use: 409, the first one applies once",
   first["r"][0] == 200 and s == 409 and err(d).get("code") == "idempotency_key_in_use"
   and len(writes()) == w0 + 1, (first["r"][0], s, d))
set_faults([])

s, _, d, _, _ = call("POST", "/_fake/faults", key=None, body='[{"kind": "explode"}]')
ok("a bad fault rule is refused", s == 400)

# --- the request log ------------------------------------------------------------------
log = [json.loads(l) for l in open(os.path.join(STATE, "requests.jsonl"), encoding="utf-8")]
s, _, d, _, _ = call("GET", "/_fake/requests", key=None)
ok("requests.jsonl and /_fake/requests agree, control requests not logged",
   s == 200 and len(d) == len(log) and not any(x["path"].startswith("/_fake/") for x in log))
keys = {"t", "method", "path", "query", "form", "idempotency_key", "stripe_version", "auth",
        "status", "request_id", "fault", "replayed"}
ok("each line has the documented fields", all(keys <= set(x) for x in log))
ok("auth recorded: missing, bad, ok", [x["auth"] for x in log[:3]] == ["missing", "bad", "ok"],
   [x["auth"] for x in log[:3]])
lost = [x for x in log if x["idempotency_key"] == "k-lost"]
ok("the lost response and its replay are logged", [x["fault"] for x in lost] == ["lost_response", None]
   and [x["replayed"] for x in lost] == [False, True] and lost[0]["form"]["amount[monetary][value]"] == ["300"])
ok("faults are logged by kind", {"429", "500", "503", "409", "slow", "truncate", "drop"} <=
   {x["fault"] for x in log})
s, r, _, _, _ = call("GET", "/v1/prices", headers={"Stripe-Version": "2026-07-29.dahlia"})
ok("Stripe-Version echoed, Date from the state's clock", r.getheader("Stripe-Version") == "2026-07-29.dahlia"
   and abs(__import__("email.utils").utils.parsedate_to_datetime(r.getheader("Date")).timestamp()
           - st["now"]) < 120)

# --- rate limit and reload ---------------------------------------------------------------
st2 = dict(st, rate_limit=4)
json.dump(st2, open(os.path.join(STATE, "state.json"), "w"))
s, _, d, _, _ = call("POST", "/_fake/reload", key=None)
got = [call("GET", "/v1/prices", {"limit": 1}) for _ in range(8)]
codes = [g[0] for g in got]
ok("rate limit 4/s: the 5th request in a second is a 429 with Retry-After",
   s == 200 and codes[:4] == [200] * 4 and 429 in codes[4:]
   and next(g for g in got if g[0] == 429)[1].getheader("Retry-After") is not None, codes)
json.dump(st, open(os.path.join(STATE, "state.json"), "w"))
s, _, d, _, _ = call("POST", "/_fake/reload", key=None)
s2, _, d2, _, _ = call("GET", "/v1/customers/" + cus)
ok("reload re-reads state.json (the API's writes are gone)", s == 200 and s2 == 200 and d2["balance"] == 0, d2)
s, _, d, _, _ = call("GET", "/v1/events/" + events[0])
ok("retrieve an event", s == 200 and d["id"] == events[0])
print("#count %d" % n)
PY
py=$?
grep -v '^#count' "$tmp/py.out"
last=$(sed -n 's/^#count //p' "$tmp/py.out")
if [ -n "$last" ]; then n=$last; else
	n=$((n + $(grep -c '^\(not \)\?ok' "$tmp/py.out")))
	sed 's/^/# /' "$tmp/py.err" | tail -20
fi
[ "$py" = 0 ]; report "the client script ran to the end" $?

# The same faults as libcurl sees them: an empty reply and a short body.
if command -v curl >/dev/null; then
	curl -s -X POST -d '[{"kind": "drop"}, {"kind": "truncate"}]' "http://127.0.0.1:$PORT/_fake/faults" >/dev/null
	curl -s -H "Authorization: Bearer sk_test_tally_fake_0000000000" "http://127.0.0.1:$PORT/v1/prices" >/dev/null
	report "curl: drop is an empty reply (exit 52)" $(( $? != 52 ))
	curl -s -H "Authorization: Bearer sk_test_tally_fake_0000000000" "http://127.0.0.1:$PORT/v1/prices" >/dev/null
	report "curl: truncate is a partial body (exit 18)" $(( $? != 18 ))
else
	n=$((n + 1)); echo "ok $n # SKIP no curl"
	n=$((n + 1)); echo "ok $n # SKIP no curl"
fi

kill -TERM "$fakepid"; wait "$fakepid"; rc=$?; fakepid=
report "SIGTERM: exit 0" "$rc"
! grep -q Traceback "$tmp/state/fake.err"; report "no traceback on the fake's stderr" $?
