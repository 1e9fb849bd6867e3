#!/usr/bin/env python3
"""Write the input logs of the F1-F9 scenarios (SPEC 1).

Each scenario is a folder: webhooks.log, usage.log, `steps` (the tally
commands to run, each with its expected exit code) and expect/NAME.json (the
expected --json output, reviewed by hand).  This script only writes the logs
and steps, so they can be read and regenerated; the expectations are data.

    python3 tests/scenarios/make-scenarios.py      # rewrites the logs
"""
import hashlib
import hmac
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "whsec_scenario_secret"
T0 = 1763000000          # 2025-11-13T02:13:20Z
DAY = 86400
MONTH = 30 * DAY


def customer(cid, name, email):
    return {"id": cid, "object": "customer", "name": name, "email": email,
            "created": T0 - DAY, "livemode": False, "metadata": {}}


def subscription(sid, cus, status, start, end, price="price_pro_monthly", new_shape=True,
                 **extra):
    item = {"id": "si_" + sid[4:], "object": "subscription_item", "quantity": 1,
            "price": {"id": price, "object": "price"}}
    sub = {"id": sid, "object": "subscription", "customer": cus, "status": status,
           "created": T0 - DAY, "items": {"object": "list", "has_more": False, "data": [item]}}
    if new_shape:
        item["current_period_start"] = start
        item["current_period_end"] = end
    else:
        sub["current_period_start"] = start
        sub["current_period_end"] = end
    sub.update(extra)
    return sub


def invoice(iid, cus, sub, status, start, end, price="price_pro_monthly", paid_at=None,
            amount=2000, charge=None, new_shape=True):
    line = {"id": "il_" + iid[3:], "object": "line_item", "amount": amount, "quantity": 1,
            "period": {"start": start, "end": end}}
    inv = {"id": iid, "object": "invoice", "customer": cus, "status": status,
           "amount_due": amount, "amount_paid": amount if status == "paid" else 0,
           "currency": "usd", "created": start, "billing_reason": "subscription_cycle",
           "lines": {"object": "list", "has_more": False, "data": [line]},
           "status_transitions": {"paid_at": paid_at}}
    if new_shape:
        inv["parent"] = {"type": "subscription_details",
                         "subscription_details": {"subscription": sub}}
        line["pricing"] = {"type": "price_details", "price_details": {"price": price}}
    else:
        inv["subscription"] = sub
        line["price"] = {"id": price, "object": "price"}
    if charge:
        inv["charge"] = charge
    return inv


def event(eid, etype, created, obj):
    return {"id": eid, "object": "event", "api_version": "2026-07-29.dahlia",
            "created": created, "livemode": False, "pending_webhooks": 1, "type": etype,
            "data": {"object": obj}, "request": {"id": None, "idempotency_key": None}}


def record(ev, received_at, attempt=1, status="ok", http_status=200, error=None,
           secret=SECRET):
    body = json.dumps(ev, separators=(",", ":"))
    mac = hmac.new(secret.encode(), f"{received_at}.{body}".encode(), hashlib.sha256)
    rec = {"received_at": received_at, "endpoint": "https://app.example.com/stripe/webhook",
           "attempt": attempt, "status": status, "http_status": http_status,
           "signature": f"t={received_at},v1={mac.hexdigest()}", "body": body}
    if error:
        rec["error"] = error
    return rec


def usage(ident, cus, value, ts, meter="api_tokens"):
    return {"identifier": ident, "event_name": meter, "timestamp": ts,
            "payload": {"stripe_customer_id": cus, "value": str(value)}}


def write(name, webhooks, usages, steps, env=None):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "webhooks.log"), "w") as f:
        for v in webhooks:
            f.write(json.dumps(v, separators=(",", ":")) + "\n")
    with open(os.path.join(d, "usage.log"), "w") as f:
        for v in usages:
            f.write(json.dumps(v, separators=(",", ":")) + "\n")
    with open(os.path.join(d, "steps"), "w") as f:
        f.write("# name  expected-exit  tally arguments (run with --json)\n")
        for s in steps:
            f.write(s + "\n")
    env = dict(env or {})
    env.setdefault("TALLY_NOW", str(T0 + 5 * DAY))
    env.setdefault("STRIPE_WEBHOOK_SECRET", SECRET)
    with open(os.path.join(d, "env"), "w") as f:
        for k, v in sorted(env.items()):
            f.write(f"{k}={v}\n")


INGEST = "ingest 0 ingest --webhooks webhooks.log --usage usage.log"


def f1():
    """Payment succeeded, but the product's handler failed: tally still grants."""
    cus = customer("cus_F1", "Ada Lovelace", "ada@example.com")
    sub = subscription("sub_F1", "cus_F1", "active", T0, T0 + MONTH)
    inv = invoice("in_F1", "cus_F1", "sub_F1", "paid", T0, T0 + MONTH, paid_at=T0 + 60)
    evs = [record(event("evt_F1_cus", "customer.created", T0, cus), T0 + 1),
           record(event("evt_F1_sub", "customer.subscription.created", T0 + 10, sub), T0 + 11),
           record(event("evt_F1_paid", "invoice.paid", T0 + 60, inv), T0 + 61,
                  status="failed", http_status=500, error="db timeout"),
           record(event("evt_F1_paid", "invoice.paid", T0 + 60, inv), T0 + 3661, attempt=2,
                  status="failed", http_status=500, error="db timeout")]
    write("F1-payment-without-credits", evs, [],
          [INGEST, "ledger 0 ledger cus_F1", "balance 0 balance cus_F1",
           "failed 0 deliveries --failed", "access 0 access cus_F1 api"])


def f2():
    """Duplicate deliveries and two event types for one payment grant once."""
    cus = customer("cus_F2", "Grace Hopper", "grace@example.com")
    sub = subscription("sub_F2", "cus_F2", "active", T0, T0 + MONTH)
    inv = invoice("in_F2", "cus_F2", "sub_F2", "paid", T0, T0 + MONTH, paid_at=T0 + 60,
                  new_shape=False)
    paid = event("evt_F2_paid", "invoice.paid", T0 + 60, inv)
    evs = [record(event("evt_F2_cus", "customer.created", T0, cus), T0 + 1),
           record(event("evt_F2_sub", "customer.subscription.created", T0 + 10, sub), T0 + 11),
           record(paid, T0 + 61), record(paid, T0 + 120, attempt=2),
           record(paid, T0 + 600, attempt=3),
           record(event("evt_F2_succ", "invoice.payment_succeeded", T0 + 60, inv), T0 + 62),
           paid]
    write("F2-duplicate-webhooks", evs, [],
          [INGEST, "ledger 0 ledger cus_F2", "balance 0 balance cus_F2"])


def f3():
    """A retried request logs the same usage identifier again: consumed once."""
    cus = customer("cus_F3", "Alan Turing", "alan@example.com")
    sub = subscription("sub_F3", "cus_F3", "active", T0, T0 + MONTH)
    inv = invoice("in_F3", "cus_F3", "sub_F3", "paid", T0, T0 + MONTH, paid_at=T0 + 60)
    evs = [record(event("evt_F3_cus", "customer.created", T0, cus), T0 + 1),
           record(event("evt_F3_sub", "customer.subscription.created", T0 + 10, sub), T0 + 11),
           record(event("evt_F3_paid", "invoice.paid", T0 + 60, inv), T0 + 61)]
    use = [usage("req_F3_a", "cus_F3", 1250, T0 + 1000),
           usage("req_F3_a", "cus_F3", 1250, T0 + 1000),
           usage("req_F3_a", "cus_F3", 1250, T0 + 1000),
           usage("req_F3_b", "cus_F3", 700, T0 + 2000),
           usage("req_F3_b", "cus_F3", 7000, T0 + 2000)]
    write("F3-retry-consumes-once", evs, use,
          [INGEST, "ledger 0 ledger cus_F3", "balance 0 balance cus_F3",
           "quarantine 0 quarantine"])


def f4():
    """Subscription updates arrive out of order; the newest state wins."""
    cus = customer("cus_F4", "Edsger Dijkstra", "edsger@example.com")
    active = subscription("sub_F4", "cus_F4", "active", T0, T0 + MONTH)
    past_due = subscription("sub_F4", "cus_F4", "past_due", T0, T0 + MONTH)
    canceled = subscription("sub_F4", "cus_F4", "canceled", T0, T0 + MONTH,
                            canceled_at=T0 + 3 * DAY, ended_at=T0 + 3 * DAY)
    other = subscription("sub_F4", "cus_F4", "unpaid", T0, T0 + MONTH)
    evs = [record(event("evt_F4_cus", "customer.created", T0, cus), T0 + 1),
           record(event("evt_F4_del", "customer.subscription.deleted", T0 + 3 * DAY, canceled),
                  T0 + 3 * DAY + 1),
           record(event("evt_F4_pd", "customer.subscription.updated", T0 + DAY, past_due),
                  T0 + 3 * DAY + 2),
           record(event("evt_F4_new", "customer.subscription.created", T0 + 10, active),
                  T0 + 3 * DAY + 3),
           record(event("evt_F4_same", "customer.subscription.updated", T0 + 3 * DAY, other),
                  T0 + 3 * DAY + 4)]
    write("F4-stale-subscription-state", evs, [],
          [INGEST, "customer 0 customer cus_F4", "events 0 events --customer cus_F4",
           "access 1 access cus_F4 chat"])


def f5():
    """An 'active' subscription whose period ended is denied after the grace."""
    cus = customer("cus_F5", "Barbara Liskov", "barbara@example.com")
    sub = subscription("sub_F5", "cus_F5", "active", T0, T0 + MONTH)
    evs = [record(event("evt_F5_cus", "customer.created", T0, cus), T0 + 1),
           record(event("evt_F5_sub", "customer.subscription.created", T0 + 10, sub), T0 + 11)]
    write("F5-expired-still-active", evs, [],
          [INGEST, "within 0 access cus_F5 chat",
           "grace 0 access cus_F5 chat @TALLY_NOW=%d" % (T0 + MONTH + 1800),
           "after 1 access cus_F5 chat @TALLY_NOW=%d" % (T0 + MONTH + 3601)],
          env={"TALLY_NOW": str(T0 + 20 * DAY)})


def f6():
    """A canceled subscription keeps sending usage: recorded, access denied."""
    cus = customer("cus_F6", "Ken Thompson", "ken@example.com")
    sub = subscription("sub_F6", "cus_F6", "active", T0, T0 + MONTH)
    inv = invoice("in_F6", "cus_F6", "sub_F6", "paid", T0, T0 + MONTH, paid_at=T0 + 60)
    gone = subscription("sub_F6", "cus_F6", "canceled", T0, T0 + MONTH,
                        canceled_at=T0 + 2 * DAY, ended_at=T0 + 2 * DAY)
    evs = [record(event("evt_F6_cus", "customer.created", T0, cus), T0 + 1),
           record(event("evt_F6_sub", "customer.subscription.created", T0 + 10, sub), T0 + 11),
           record(event("evt_F6_paid", "invoice.paid", T0 + 60, inv), T0 + 61),
           record(event("evt_F6_del", "customer.subscription.deleted", T0 + 2 * DAY, gone),
                  T0 + 2 * DAY + 1)]
    use = [usage("req_F6_before", "cus_F6", 500, T0 + DAY),
           usage("req_F6_after", "cus_F6", 900, T0 + 3 * DAY)]
    write("F6-canceled-keeps-consuming", evs, use,
          [INGEST, "access 1 access cus_F6 api", "ledger 0 ledger cus_F6"])


def f7():
    """Balance is the ledger's sum; credits expire from the grant that ends first."""
    cus = customer("cus_F7", "Donald Knuth", "don@example.com")
    sub = subscription("sub_F7", "cus_F7", "active", T0, T0 + MONTH)
    inv = invoice("in_F7", "cus_F7", "sub_F7", "paid", T0, T0 + MONTH, paid_at=T0 + 60)
    cs = {"id": "cs_F7", "object": "checkout.session", "customer": "cus_F7", "mode": "payment",
          "status": "complete", "payment_status": "paid", "amount_total": 1000,
          "currency": "usd", "created": T0 + 120, "metadata": {"price": "price_topup_10k"}}
    evs = [record(event("evt_F7_cus", "customer.created", T0, cus), T0 + 1),
           record(event("evt_F7_sub", "customer.subscription.created", T0 + 10, sub), T0 + 11),
           record(event("evt_F7_paid", "invoice.paid", T0 + 60, inv), T0 + 61),
           record(event("evt_F7_cs", "checkout.session.completed", T0 + 120, cs), T0 + 121)]
    use = [usage("req_F7_1", "cus_F7", 60000, T0 + DAY),
           usage("req_F7_2", "cus_F7", 30000, T0 + 2 * DAY)]
    write("F7-balance-is-the-ledger", evs, use,
          [INGEST, "ledger 0 ledger cus_F7", "balance 0 balance cus_F7"],
          env={"TALLY_NOW": str(T0 + MONTH + DAY)})


def f8():
    """Events arrive out of order: invoice before its customer, old after new."""
    cus = customer("cus_F8", "Frances Allen", "frances@example.com")
    sub = subscription("sub_F8", "cus_F8", "active", T0, T0 + MONTH)
    open_inv = invoice("in_F8", "cus_F8", "sub_F8", "open", T0, T0 + MONTH)
    paid_inv = invoice("in_F8", "cus_F8", "sub_F8", "paid", T0, T0 + MONTH, paid_at=T0 + 300)
    evs = [record(event("evt_F8_paid", "invoice.paid", T0 + 300, paid_inv), T0 + 301),
           record(event("evt_F8_fin", "invoice.finalized", T0 + 100, open_inv), T0 + 302),
           record(event("evt_F8_sub", "customer.subscription.created", T0 + 10, sub), T0 + 303),
           record(event("evt_F8_cus", "customer.created", T0, cus), T0 + 304)]
    write("F8-out-of-order", evs, [],
          [INGEST, "customer 0 customer cus_F8", "events 0 events --customer cus_F8",
           "ledger 0 ledger cus_F8"])


def f9():
    """Access answers carry the mirror's age and say when it is stale."""
    cus = customer("cus_F9", "Niklaus Wirth", "niklaus@example.com")
    sub = subscription("sub_F9", "cus_F9", "active", T0, T0 + MONTH)
    evs = [record(event("evt_F9_cus", "customer.created", T0, cus), T0 + 1),
           record(event("evt_F9_sub", "customer.subscription.created", T0 + 10, sub), T0 + 11)]
    write("F9-stale-access-check", evs, [],
          [INGEST, "fresh 0 access cus_F9 chat",
           "stale 0 access cus_F9 chat @TALLY_NOW=%d" % (T0 + 5 * DAY + 7200)])


if __name__ == "__main__":
    for f in (f1, f2, f3, f4, f5, f6, f7, f8, f9):
        f()
