#!/usr/bin/env python3
"""Deterministic generator of a realistic Stripe billing history for tally.

It simulates N customers over M calendar months against the catalog in
data/catalog.example.json and writes what the product's webhook endpoint and
meter would have logged:

  webhooks.log  delivery records ({"received_at", "endpoint", "attempt",
                "status", "http_status", "error", "signature", "body"}, the
                body signed like Stripe-Signature when a secret is given) and
                bare events (`stripe listen --format JSON` output, compact or
                pretty-printed), in the order they were received;
  usage.log     meter events, one JSON line each, in the order they were sent;
  expected.json what the history implies (see below).

The history has subscriptions on every catalog plan (team plans with seats),
monthly and yearly renewals with paid invoices, failed payments
(invoice.payment_failed, subscription past_due, recovered or ending in an
uncollectible invoice and a cancellation), voluntary cancellations at period
end, plan upgrades, top-ups bought in payment-mode checkout sessions (some
paid asynchronously, some creating an invoice), refunds (partial and full) and
lost disputes, types tally only stores, and usage.  The account upgrades its
API version half way through, so events come in both shapes: before it the
invoice's subscription is top level, lines carry `price` objects and the
subscription carries its period; after it (2025-03-31.basil) the invoice's
subscription is under parent.subscription_details, lines carry
pricing.price_details.price and the period sits on the subscription items.

Options (Options fields, CLI flags) add what Stripe really sends but tally
may not take well: `upcoming` (--upcoming) emits invoice.upcoming, whose
invoice preview has no id; `same_second` (--same-second) charges invoices in
the second they are finalized, so invoice.finalized and invoice.paid share
`created`; `checkout_invoices` (on by default, --no-checkout-invoices) lets
some top-up sessions create an invoice, so one top-up arrives both as a
checkout session and as a paid invoice.

Delivery noise: some deliveries fail (status "failed", http_status 500) and
are retried with a later attempt; some are delivered twice; usage lines are
sometimes repeated (same identifier, same payload: a retry).

Everything is a function of --seed (the history) and --order-seed (the order
used by --shuffle and --duplicate-all), so two runs with the same seed and
different order seeds describe exactly the same billing state.

expected.json holds:
  now         the end of the history (use it as TALLY_NOW)
  entries     the ledger entries the history implies, except expiries:
              {customer, key, kind, amount, effective_at, expires_at}
              (effective_at null where the history leaves it open)
  event_ids   every event id, once
  usage_ids   every usage identifier, once
  counts      sizes of what was written

Use as a module:

    import stripe_events as se
    h = se.generate(se.Options(seed=7, customers=30, months=6))
    se.write_logs(h, "/tmp/out", secret="whsec_x", shuffle=True, order_seed=3)

or from the command line (python3 stripe_events.py --help).

State for the fake Stripe API server (tests/lib/fake_stripe.py): with
--stripe-state DIR (or write_stripe_state(h, DIR)) the same history is also
written as DIR/state.json: the final state of every object (the object of its
last event, rendered in the current API shape, 2025-03-31.basil, whatever the
version of that event), the catalog's prices, every event (full bodies, as in
the logs), "now" = the end of the history, a webhook endpoint and the API key
sk_test_tally_fake_0000000000.  The logs and expected.json are unchanged.
Standard library only.
"""

import argparse
import calendar
import copy
import datetime
import hashlib
import hmac
import json
import os
import random
import sys

DEFAULT_START = 1735689600          # 2025-01-01T00:00:00Z
OLD_API = "2024-06-20"
NEW_API = "2025-03-31.basil"

# What the example catalog says (data/catalog.example.json); prices in cents.
PLANS = {
    "price_starter_monthly": {"credits": 20000, "months": 1, "unit_amount": 2000,
                              "rollover": False, "product": "prod_starter"},
    "price_pro_monthly": {"credits": 100000, "months": 1, "unit_amount": 4900,
                          "rollover": False, "product": "prod_pro"},
    "price_pro_yearly": {"credits": 1200000, "months": 12, "unit_amount": 49000,
                         "rollover": False, "product": "prod_pro"},
    "price_team_monthly": {"credits": 80000, "months": 1, "unit_amount": 3000,
                           "rollover": True, "product": "prod_team"},
}
TOPUPS = {
    "price_topup_10k": {"credits": 10000, "days": 365, "unit_amount": 1000},
    "price_topup_100k": {"credits": 100000, "days": 365, "unit_amount": 8000},
}
METERS = {"api_tokens": 1, "images": 40}

ENDPOINT = "https://api.example.com/webhooks/stripe"

FIRST = ["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances",
         "José", "Zoë", "Søren", "Amélie", "Chloé", "Björn", "Ngozi", "Hiroshi",
         "Priya", "Wei", "Olga", "Mateo"]
LAST = ["Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
        "Allen", "García", "Müller", "Kierkegaard", "Poulain", "Okafor", "Tanaka",
        "Patel", "Zhang", "Ivanova", "Fernández", "O'Brien", "Nakamura"]


class Options:
    """What to generate.  Every field has a default; see the CLI help."""

    def __init__(self, seed=1, customers=30, months=6, start=DEFAULT_START,
                 upgrade_fraction=0.5, usage_per_month=(6, 18), upcoming=False, checkout_invoices=True,
                 same_second=False):
        self.seed = seed
        self.same_second = same_second
        self.checkout_invoices = checkout_invoices
        self.upcoming = upcoming
        self.customers = customers
        self.months = months
        self.start = start
        self.upgrade_fraction = upgrade_fraction
        self.usage_per_month = usage_per_month


class History:
    """A generated history: events (in creation order), usage lines (in the
    order sent, repeats included), deliveries (webhook log entries in the
    order received, each a dict with kind "record" or "bare"), the expected
    ledger entries and the end of the history."""

    def __init__(self):
        self.events = []
        self.deliveries = []
        self.usage = []
        self.entries = []
        self.seed = 0
        self.now = 0
        self.start = 0
        self.api_upgrade_at = 0
        self.final = {}             # object id -> its last event (new shape) or raw state


def add_months(ts, k, anchor_day=None):
    """ts moved by k calendar months, keeping the day (clamped) and time."""
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    day = anchor_day or d.day
    m = d.month - 1 + k
    y = d.year + m // 12
    m = m % 12 + 1
    day = min(day, calendar.monthrange(y, m)[1])
    return int(d.replace(year=y, month=m, day=day).timestamp())


def hmac_signature(secret, t, body):
    """The Stripe-Signature header for body (str) signed at t."""
    mac = hmac.new(secret.encode(), ("%d." % t).encode() + body.encode("utf-8"),
                   hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


class _Gen:
    def __init__(self, opts):
        self.o = opts
        self.rng = random.Random(opts.seed)
        self.h = History()
        self.h.seed = opts.seed
        self.h.start = opts.start
        self.end = add_months(opts.start, opts.months)
        self.h.now = self.end
        # The account moves its API version to basil part way through.
        self.h.api_upgrade_at = opts.start + int((self.end - opts.start) * opts.upgrade_fraction)
        self.last_ver = {}          # object id -> created of its last event
        self.ids = set()

    # --- ids and times ------------------------------------------------------
    def rid(self, prefix, n=24):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        while True:
            s = prefix + "".join(self.rng.choice(alphabet) for _ in range(n))
            if s not in self.ids:
                self.ids.add(s)
                return s

    def hexid(self, prefix, n=24):
        while True:
            s = prefix + "%0*x" % (n, self.rng.getrandbits(4 * n))
            if s not in self.ids:
                self.ids.add(s)
                return s

    def new_shape(self, t):
        return t >= self.h.api_upgrade_at

    # --- events -------------------------------------------------------------
    def emit(self, etype, obj, t, same_second_ok=False):
        """Record an event about obj at time t (bumped so that two events
        about one object never share a second with different content)."""
        oid = obj.get("id") or ("upcoming:" + obj.get("customer", ""))
        last = self.last_ver.get(oid)
        if last is not None and t <= last and not same_second_ok:
            t = last + 1
        self.last_ver[oid] = max(t, last or t)
        new = self.new_shape(t)
        ev = {
            "id": self.rid("evt_1"),
            "object": "event",
            "api_version": NEW_API if new else OLD_API,
            "created": t,
            "data": {"object": self.render(obj, new)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": self.rid("req_", 14) if self.rng.random() < 0.5 else None,
                        "idempotency_key": None},
            "type": etype,
        }
        self.h.events.append(ev)
        if obj.get("id"):
            # The object's latest state: this event when it is already in
            # the current shape, else a raw copy to render in it later.
            self.h.final[obj["id"]] = ev if new else copy.deepcopy(obj)
        return t

    def render(self, obj, new):
        """The object as the event's API version renders it."""
        return _render(obj, new)

    # --- the history --------------------------------------------------------
    def run(self):
        for i in range(self.o.customers):
            self.customer(i)
        h = self.h
        h.events.sort(key=lambda e: (e["created"], e["id"]))
        self.usage_repeats()
        self.deliver()
        return h

    def customer(self, i):
        rng = self.rng
        start, end = self.o.start, self.end
        cid = self.rid("cus_", 14)
        name = "%s %s" % (rng.choice(FIRST), rng.choice(LAST))
        email = "%s.%d@example.com" % (name.split()[0].lower().encode("ascii", "ignore").decode()
                                       or "user", i)
        # Most sign up in the first month, the rest spread over the history.
        if rng.random() < 0.6:
            t0 = start + rng.randrange(0, 10 * 86400)
        else:
            t0 = start + rng.randrange(0, max(1, end - start - 20 * 86400))
        cust = {"id": cid, "object": "customer", "address": None, "balance": 0,
                "created": t0, "currency": "usd", "default_source": None,
                "delinquent": False, "description": None, "email": email,
                "invoice_prefix": self.rid("", 8).upper(), "livemode": False,
                "metadata": {"tenant": "t_%04d" % i}, "name": name, "phone": None,
                "preferred_locales": ["en"], "tax_exempt": "none", "test_clock": None}
        self.emit("customer.created", cust, t0)
        if rng.random() < 0.3:
            cust["metadata"]["plan_hint"] = "support"
            cust["phone"] = "+1555%07d" % rng.randrange(10 ** 7)
            self.emit("customer.updated", cust, t0 + rng.randrange(3600, 20 * 86400))

        access = []         # (from, to) intervals in which the customer has credits
        r = rng.random()
        if r < 0.12:
            pass            # pay as you go: top-ups only
        else:
            if r < 0.45:
                price, qty = "price_starter_monthly", 1
            elif r < 0.72:
                price, qty = "price_pro_monthly", 1
            elif r < 0.82:
                price, qty = "price_pro_yearly", 1
            else:
                price, qty = "price_team_monthly", rng.randint(2, 6)
            access.append(self.subscription(cust, price, qty, t0 + rng.randrange(60, 600)))
        ntop = rng.choice([0, 0, 0, 1, 1, 2, 3]) if access else rng.randint(1, 3)
        for _ in range(ntop):
            tt = t0 + rng.randrange(3600, max(3601, end - t0 - 3 * 86400))
            self.topup(cust, tt)
            access.append((tt, end))
        self.usage_for(cid, access)

    def subscription(self, cust, price, qty, t0):
        rng = self.rng
        end = self.end
        sid = self.rid("sub_1")
        si = self.rid("si_", 14)
        months = PLANS[price]["months"]
        sub = {"id": sid, "object": "subscription", "billing_cycle_anchor": t0,
               "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
               "collection_method": "charge_automatically", "created": t0,
               "currency": "usd", "customer": cust["id"], "days_until_due": None,
               "ended_at": None, "latest_invoice": None, "livemode": False,
               "metadata": {}, "start_date": t0, "status": "incomplete",
               "trial_end": None, "trial_start": None,
               "items": {"object": "list", "has_more": False, "total_count": 1,
                         "url": "/v1/subscription_items?subscription=" + sid,
                         "data": [{"id": si, "object": "subscription_item",
                                   "created": t0, "metadata": {}, "quantity": qty,
                                   "subscription": sid, "_price": price}]},
               "_period": (t0, add_months(t0, months))}
        anchor = datetime.datetime.fromtimestamp(t0, datetime.timezone.utc).day
        if rng.random() < 0.35:
            # Signed up through a subscription-mode checkout: no credits by itself.
            cs = {"id": self.rid("cs_test_a1", 40), "object": "checkout.session",
                  "mode": "subscription", "status": "complete", "payment_status": "paid",
                  "customer": cust["id"], "subscription": sid, "invoice": None,
                  "payment_intent": None, "amount_total": PLANS[price]["unit_amount"] * qty,
                  "currency": "usd", "created": t0 - rng.randrange(30, 300),
                  "metadata": {}, "livemode": False, "url": None}
            self.emit("checkout.session.completed", cs, t0 + 5)
        self.emit("customer.subscription.created", sub, t0)

        # Plan changes at a renewal, cancellations at period end.
        cancel_after = None
        if rng.random() < 0.2:
            cancel_after = rng.randint(1, max(1, self.o.months))     # periods paid
        upgrade_at = None
        if price == "price_starter_monthly" and rng.random() < 0.25:
            upgrade_at = rng.randint(1, max(1, self.o.months - 1))

        k = 0
        ps = t0
        access_end = t0
        while ps < end - 86400:
            pe = add_months(t0, months * (k + 1), anchor)
            if upgrade_at is not None and k == upgrade_at:
                price = "price_pro_monthly"
                sub["items"]["data"][0]["_price"] = price
            sub["_period"] = (ps, pe)
            if k > 0:
                sub["status"] = "active"
                self.emit("customer.subscription.updated", sub, ps)
            ok, paid_at = self.invoice(cust, sub, price, qty, ps, pe, k)
            if ok:
                access_end = pe
                if sub["status"] != "active":
                    sub["status"] = "active"
                    self.emit("customer.subscription.updated", sub, paid_at + 1)
            else:
                # Dunning exhausted: the subscription is canceled.
                return (t0, access_end)
            k += 1
            if cancel_after is not None and k >= cancel_after and pe < end:
                tc = ps + rng.randrange(86400, max(86401, pe - ps - 86400))
                sub["cancel_at_period_end"] = True
                sub["cancel_at"] = pe
                sub["canceled_at"] = tc
                self.emit("customer.subscription.updated", sub, tc)
                sub["status"] = "canceled"
                sub["ended_at"] = pe
                self.emit("customer.subscription.deleted", sub, pe)
                # A few usage lines still trickle in after the end (F6).
                return (t0, pe + 3 * 86400)
            if pe - 3 * 86400 < end and pe >= end and rng.random() < 0.5:
                # invoice.upcoming: an invoice preview without an id.
                nxt = add_months(t0, months * (k + 1), anchor)
                up = {"object": "invoice", "customer": cust["id"], "status": "draft",
                      "amount_due": PLANS[price]["unit_amount"] * qty, "amount_paid": 0,
                      "currency": "usd", "billing_reason": "upcoming", "created": pe - 3 * 86400,
                      "period_start": ps, "period_end": pe, "_subscription": sid,
                      "lines": {"object": "list", "has_more": False, "total_count": 1,
                                "url": "/v1/invoices/upcoming/lines?subscription=" + sid,
                                "data": [{"id": "il_tmp_" + si[3:], "object": "line_item",
                                          "amount": PLANS[price]["unit_amount"] * qty,
                                          "currency": "usd", "quantity": qty,
                                          "period": {"start": pe, "end": nxt},
                                          "_price": price, "_subscription": sid, "_si": si}]}}
                if self.o.upcoming:
                    self.emit("invoice.upcoming", up, pe - 3 * 86400)
            ps = pe
        return (t0, end)

    def invoice(self, cust, sub, price, qty, ps, pe, k):
        """One subscription invoice: created, finalized, then paid (perhaps
        after failures) or given up on.  Returns (paid?, paid_at)."""
        rng = self.rng
        amount = PLANS[price]["unit_amount"] * qty
        iid = self.rid("in_1")
        charge, pi = self.rid("ch_3"), self.rid("pi_3")
        inv = {"id": iid, "object": "invoice", "account_country": "US",
               "amount_due": amount, "amount_paid": 0, "amount_remaining": amount,
               "attempt_count": 0, "attempted": False, "auto_advance": True,
               "billing_reason": "subscription_create" if k == 0 else "subscription_cycle",
               "collection_method": "charge_automatically", "created": ps,
               "currency": "usd", "customer": cust["id"], "customer_email": cust["email"],
               "customer_name": cust["name"], "hosted_invoice_url": None,
               "livemode": False, "metadata": {}, "number": None,
               "period_start": ps, "period_end": ps, "status": "draft",
               "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                                      "paid_at": None, "voided_at": None},
               "subtotal": amount, "total": amount,
               "_subscription": sub["id"], "_charge": None, "_payment_intent": None,
               "lines": {"object": "list", "has_more": False, "total_count": 1,
                         "url": "/v1/invoices/%s/lines" % iid,
                         "data": [{"id": self.rid("il_1"), "object": "line_item",
                                   "amount": amount, "currency": "usd",
                                   "description": "%d × %s" % (qty, price),
                                   "discountable": True, "livemode": False,
                                   "metadata": {}, "period": {"start": ps, "end": pe},
                                   "quantity": qty, "_price": price,
                                   "_subscription": sub["id"],
                                   "_si": sub["items"]["data"][0]["id"]}]}}
        self.emit("invoice.created", inv, ps)
        tf = ps + 3600 + rng.randrange(0, 120)
        inv["status"] = "open"
        inv["number"] = "%s-%04d" % (cust["invoice_prefix"], k + 1)
        inv["status_transitions"]["finalized_at"] = tf
        inv["hosted_invoice_url"] = "https://invoice.stripe.com/i/acct_test/" + iid
        self.emit("invoice.finalized", inv, tf)
        t = tf + 2
        failures = 0
        if rng.random() < 0.1:
            failures = rng.choice([1, 1, 2, 4])     # 4 = never recovers
        if k == 0 and failures:
            # A first payment is not retried: the customer fixes the card
            # within the day, or the subscription expires incomplete.
            inv["attempt_count"] = 1
            inv["attempted"] = True
            inv["_payment_intent"] = pi
            t = self.emit("invoice.payment_failed", inv, t)
            if failures > 3:
                t += 23 * 3600
                inv["status"] = "void"
                inv["status_transitions"]["voided_at"] = t
                self.emit("invoice.voided", inv, t)
                sub["status"] = "incomplete_expired"
                sub["ended_at"] = t + 1
                self.emit("customer.subscription.updated", sub, t + 1)
                return False, 0
            t += rng.randrange(600, 20 * 3600)
            failures = 0
        for attempt in range(min(failures, 3)):
            inv["attempt_count"] = attempt + 1
            inv["attempted"] = True
            inv["_payment_intent"] = pi
            t = self.emit("invoice.payment_failed", inv, t)
            if attempt == 0:
                sub["status"] = "past_due"
                self.emit("customer.subscription.updated", sub, t + 1)
            t += rng.choice([1, 3, 5]) * 86400 + rng.randrange(0, 3600)
        if failures > 3:
            inv["status"] = rng.choice(["uncollectible", "void"])
            key = "marked_uncollectible_at" if inv["status"] == "uncollectible" else "voided_at"
            inv["status_transitions"][key] = t
            self.emit("invoice.marked_uncollectible" if inv["status"] == "uncollectible"
                      else "invoice.voided", inv, t)
            sub["status"] = "canceled"
            sub["canceled_at"] = t + 1
            sub["ended_at"] = t + 1
            self.emit("customer.subscription.deleted", sub, t + 1)
            return False, 0
        if t >= self.end:
            return False, 0
        same = self.o.same_second and t == tf + 2
        if same:
            t = tf          # charged in the second it was finalized, as Stripe often does
        paid_at = t
        inv["status"] = "paid"
        inv["paid"] = True
        inv["amount_paid"] = amount
        inv["amount_remaining"] = 0
        inv["attempt_count"] += 1
        inv["attempted"] = True
        inv["status_transitions"]["paid_at"] = paid_at
        inv["_charge"] = charge
        inv["_payment_intent"] = pi
        ch = self.charge_obj(charge, pi, cust["id"], amount, paid_at, iid)
        self.emit("charge.succeeded", ch, paid_at)
        self.emit("payment_intent.succeeded", {"id": pi, "object": "payment_intent",
                  "amount": amount, "amount_received": amount, "currency": "usd",
                  "customer": cust["id"], "latest_charge": charge, "status": "succeeded",
                  "created": tf}, paid_at)
        # Stripe sends both, at the same second, with the same invoice.
        order = ["invoice.paid", "invoice.payment_succeeded"]
        rng.shuffle(order)
        self.emit(order[0], inv, paid_at, same_second_ok=same)
        self.emit(order[1], inv, paid_at, same_second_ok=True)
        plan = PLANS[price]
        self.expect(cust["id"], "grant:invoice:" + iid, "grant", plan["credits"] * qty,
                    paid_at, None if plan["rollover"] else pe)
        # Refunds and disputes need the charge on the invoice: old shape only.
        if not self.new_shape(paid_at):
            r = rng.random()
            if r < 0.06:
                self.refunds(cust["id"], ch, "grant:invoice:" + iid, plan["credits"] * qty,
                             amount, paid_at)
            elif r < 0.08:
                self.dispute(cust["id"], ch, plan["credits"] * qty, amount, paid_at)
        return True, paid_at

    def charge_obj(self, charge, pi, customer, amount, t, invoice=None):
        return {"id": charge, "object": "charge", "amount": amount, "amount_captured": amount,
                "amount_refunded": 0, "captured": True, "created": t, "currency": "usd",
                "customer": customer, "description": None, "disputed": False,
                "invoice": invoice, "livemode": False, "metadata": {}, "paid": True,
                "payment_intent": pi, "refunded": False, "status": "succeeded",
                "refunds": {"object": "list", "data": [], "has_more": False,
                            "total_count": 0, "url": "/v1/charges/%s/refunds" % charge}}

    def refunds(self, customer, ch, source_key, credited, paid, t_paid):
        """One full refund, or one or two partial ones."""
        rng = self.rng
        n = rng.choice([1, 1, 2])
        if rng.random() < 0.4 and n == 1:
            amounts = [paid]
        else:
            amounts = [max(1, paid * rng.choice([10, 25, 30, 50]) // 100) for _ in range(n)]
        t = t_paid
        for amt in amounts:
            t = t + rng.randrange(3600, 10 * 86400)
            if t >= self.end:
                return
            rid = self.rid("re_3")
            ref = {"id": rid, "object": "refund", "amount": amt, "charge": ch["id"],
                   "created": t, "currency": "usd", "metadata": {},
                   "payment_intent": ch["payment_intent"], "reason": "requested_by_customer",
                   "status": "succeeded"}
            self.emit("refund.created", ref, t)
            ch["amount_refunded"] += amt
            ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
            ch["refunds"]["data"].insert(0, copy.deepcopy(ref))
            ch["refunds"]["total_count"] += 1
            self.emit("charge.refunded", ch, t + 1)
            if rng.random() < 0.3:
                self.emit("refund.updated", dict(ref, metadata={"ticket": "T-%d" % rng.randrange(9999)}),
                          t + rng.randrange(60, 3600))
            take = credited if amt >= paid else credited * amt // paid
            if take > 0:
                self.expect(customer, "clawback:refund:" + rid, "clawback", -take, t, None)

    def dispute(self, customer, ch, credited, paid, t_paid):
        """A dispute the merchant loses."""
        rng = self.rng
        t = t_paid + rng.randrange(5 * 86400, 20 * 86400)
        if t + 15 * 86400 >= self.end:
            return
        dp = {"id": self.rid("dp_1"), "object": "dispute", "amount": paid, "charge": ch["id"],
              "created": t, "currency": "usd", "is_charge_refundable": False,
              "livemode": False, "metadata": {}, "payment_intent": ch["payment_intent"],
              "reason": "fraudulent", "status": "needs_response"}
        self.emit("charge.dispute.created", dp, t)
        dp["status"] = "under_review"
        self.emit("charge.dispute.updated", dp, t + rng.randrange(86400, 5 * 86400))
        dp["status"] = "lost"
        self.emit("charge.dispute.closed", dp, t + 15 * 86400)
        self.expect(customer, "clawback:dispute:" + dp["id"], "clawback", -credited, t, None)

    def topup(self, cust, t):
        """A top-up bought in a payment-mode checkout session."""
        rng = self.rng
        price = "price_topup_10k" if rng.random() < 0.8 else "price_topup_100k"
        qty = 1 if rng.random() < 0.85 else 2
        tp = TOPUPS[price]
        amount = tp["unit_amount"] * qty
        csid = self.rid("cs_test_a1", 40)
        pi, charge = self.rid("pi_3"), self.rid("ch_3")
        created = t - rng.randrange(20, 900)
        cs = {"id": csid, "object": "checkout.session", "mode": "payment",
              "status": "complete", "payment_status": "paid", "customer": cust["id"],
              "customer_email": None, "invoice": None, "subscription": None,
              "payment_intent": pi, "amount_subtotal": amount, "amount_total": amount,
              "currency": "usd", "created": created, "expires_at": created + 86400,
              "livemode": False, "metadata": {"price": price, "quantity": str(qty)},
              "success_url": "https://app.example.com/billing?ok=1", "url": None}
        kind = rng.random()
        if qty != 1:
            # metadata.price names one unit; a real integration sends line_items
            # when it buys several.
            cs["line_items"] = {"object": "list", "has_more": False, "url": "/v1/checkout/sessions/%s/line_items" % csid,
                                "data": [{"id": self.rid("li_1"), "object": "item",
                                          "amount_total": amount, "currency": "usd",
                                          "price": _price_object(price), "quantity": qty}]}
        if kind < 0.15:
            # Paid asynchronously (bank debit): completed unpaid, then succeeded.
            cs["payment_status"] = "unpaid"
            self.emit("checkout.session.completed", cs, t)
            t = t + rng.randrange(86400, 4 * 86400)
            if t >= self.end:
                return
            cs["payment_status"] = "paid"
            self.emit("checkout.session.async_payment_succeeded", cs, t)
            key = "topup:checkout:" + csid
        elif kind < 0.25 and self.o.checkout_invoices:
            # invoice_creation enabled: the session makes a paid invoice too.
            iid = self.rid("in_1")
            cs["invoice"] = iid
            inv = {"id": iid, "object": "invoice", "account_country": "US",
                   "amount_due": amount, "amount_paid": amount, "amount_remaining": 0,
                   "attempt_count": 1, "attempted": True, "auto_advance": False,
                   "billing_reason": "manual", "collection_method": "charge_automatically",
                   "created": t - 2, "currency": "usd", "customer": cust["id"],
                   "livemode": False, "metadata": {}, "number": None,
                   "period_start": t - 2, "period_end": t - 2, "status": "paid",
                   "paid": True,
                   "status_transitions": {"finalized_at": t - 2, "marked_uncollectible_at": None,
                                          "paid_at": t - 1, "voided_at": None},
                   "subtotal": amount, "total": amount,
                   "_subscription": None, "_charge": charge, "_payment_intent": pi,
                   "lines": {"object": "list", "has_more": False, "total_count": 1,
                             "url": "/v1/invoices/%s/lines" % iid,
                             "data": [{"id": self.rid("il_1"), "object": "line_item",
                                       "amount": amount, "currency": "usd",
                                       "description": price, "discountable": True,
                                       "livemode": False, "metadata": {},
                                       "period": {"start": t - 2, "end": t - 2},
                                       "quantity": qty, "_price": price}]}}
            self.emit("invoice.paid", inv, t - 1)
            self.emit("invoice.payment_succeeded", inv, t - 1, same_second_ok=True)
            self.emit("checkout.session.completed", cs, t)
            key = "topup:invoice:" + iid
        else:
            self.emit("checkout.session.completed", cs, t)
            key = "topup:checkout:" + csid
        ch = self.charge_obj(charge, pi, cust["id"], amount, t, cs["invoice"])
        self.emit("charge.succeeded", ch, t)
        credits = tp["credits"] * qty
        if key.startswith("topup:invoice:"):
            # Which of the two writes came first decides the time; leave it open.
            self.expect(cust["id"], key, "topup", credits, None, None, open_time=True)
        else:
            self.expect(cust["id"], key, "topup", credits, created, created + tp["days"] * 86400)
        if rng.random() < 0.12:
            self.refunds(cust["id"], ch, key, credits, amount, t)

    def usage_for(self, cid, access):
        """Usage lines while the customer has (or recently had) credits."""
        rng = self.rng
        lo, hi = self.o.usage_per_month
        for a, b in access:
            b = min(b, self.end - 60)
            t = a + rng.randrange(60, 6 * 3600)
            while t < b:
                meter = "api_tokens" if rng.random() < 0.85 else "images"
                value = rng.randrange(50, 4000) if meter == "api_tokens" else rng.randint(1, 12)
                line = {"identifier": self.hexid("req_"), "event_name": meter,
                        "timestamp": t,
                        "payload": {"stripe_customer_id": cid,
                                    "value": str(value) if rng.random() < 0.9 else value}}
                self.h.usage.append(line)
                self.expect(cid, "consume:usage:" + line["identifier"], "consume",
                            -value * METERS[meter], t, None)
                t += rng.randrange(1, int(30 * 86400 / rng.randint(lo, hi)) + 1)

    def usage_repeats(self):
        """Sort usage by time and repeat about 3% of lines shortly after (a
        retry with the same identifier and payload)."""
        rng = self.rng
        self.h.usage.sort(key=lambda u: (u["timestamp"], u["identifier"]))
        out = []
        pending = []
        for u in self.h.usage:
            while pending and pending[0][0] <= u["timestamp"]:
                out.append(pending.pop(0)[1])
            out.append(u)
            if rng.random() < 0.03:
                pending.append((u["timestamp"] + rng.randrange(1, 120), copy.deepcopy(u)))
                pending.sort(key=lambda p: p[0])
        out.extend(p[1] for p in pending)
        self.h.usage = out

    def expect(self, customer, key, kind, amount, effective_at, expires_at, open_time=False):
        self.h.entries.append({"customer": customer, "key": key, "kind": kind,
                               "amount": amount,
                               "effective_at": None if open_time else effective_at,
                               "expires_at": None if open_time else expires_at})

    # --- deliveries ---------------------------------------------------------
    def deliver(self):
        """Each event is delivered once or more: mostly as signed records,
        some as bare events; some first attempts fail and are retried; some
        are delivered twice."""
        rng = self.rng
        out = []
        for ev in self.h.events:
            t = ev["created"] + rng.choice([0, 0, 1, 1, 2, 3, 7])
            if rng.random() < 0.15:
                out.append({"kind": "bare", "event": ev, "at": t,
                            "pretty": rng.random() < 0.3})
                continue
            body = json.dumps(ev, indent=2, ensure_ascii=False)
            attempt = 1
            if rng.random() < 0.06:
                for _ in range(rng.choice([1, 1, 2])):
                    out.append({"kind": "record", "event": ev, "body": body, "at": t,
                                "attempt": attempt, "status": "failed", "http_status": 500,
                                "error": rng.choice(["db timeout", "upstream connect error",
                                                     "deadlock detected"])})
                    attempt += 1
                    t += rng.choice([60, 300, 1800, 3600, 7200])
            out.append({"kind": "record", "event": ev, "body": body, "at": t,
                        "attempt": attempt, "status": "ok", "http_status": 200, "error": None})
            if rng.random() < 0.03:
                # Delivered again (the 200 was lost on the way back).
                out.append({"kind": "record", "event": ev, "body": body,
                            "at": t + rng.randrange(60, 4 * 3600), "attempt": attempt + 1,
                            "status": "ok", "http_status": 200, "error": None})
        out.sort(key=lambda d: (d["at"], d["event"]["created"], d["event"]["id"],
                                d.get("attempt", 0)))
        self.h.deliveries = out


def _render(obj, new):
    """obj (raw, with the generator's "_" fields) as API version NEW_API (new)
    or OLD_API renders it."""
    o = copy.deepcopy(obj)
    kind = o.get("object")
    if kind == "invoice":
        sub = o.pop("_subscription", None)
        charge = o.pop("_charge", None)
        pi = o.pop("_payment_intent", None)
        for line in o["lines"]["data"]:
            price = line.pop("_price")
            lsub = line.pop("_subscription", None)
            if new:
                line["pricing"] = {"type": "price_details",
                                   "price_details": {"price": price,
                                                     "product": _product(price)},
                                   "unit_amount_decimal": str(_unit_amount(price))}
                line["parent"] = ({"type": "subscription_item_details",
                                   "subscription_item_details": {
                                       "subscription": lsub, "proration": False,
                                       "subscription_item": line.get("_si")},
                                   "invoice_item_details": None}
                                  if lsub else
                                  {"type": "invoice_item_details",
                                   "invoice_item_details": {"invoice_item": _invoice_item_id(line),
                                                            "proration": False,
                                                            "subscription": None},
                                   "subscription_item_details": None})
            else:
                line["price"] = _price_object(price)
                line["plan"] = None
                line["subscription"] = lsub
                line["proration"] = False
                line["type"] = "subscription" if lsub else "invoiceitem"
            line.pop("_si", None)
        if new:
            o["parent"] = ({"type": "subscription_details", "quote_details": None,
                            "subscription_details": {"metadata": {}, "subscription": sub}}
                           if sub else None)
        else:
            o["subscription"] = sub
            o["charge"] = charge
            o["payment_intent"] = pi
    elif kind == "subscription":
        ps, pe = o.pop("_period")
        for it in o["items"]["data"]:
            if new:
                it["current_period_start"] = ps
                it["current_period_end"] = pe
            it["price"] = _price_object(it.pop("_price"))
        if not new:
            o["current_period_start"] = ps
            o["current_period_end"] = pe
    elif kind == "charge":
        if new:
            o.pop("refunds", None)      # not included since 2022-11-15
            o.pop("invoice", None)      # gone in basil
    return o


def _invoice_item_id(line):
    """A stable invoice item id for a one-off line (new shape)."""
    return "ii_" + hashlib.sha1(line["id"].encode()).hexdigest()[:24]


def _product(price):
    if price in PLANS:
        return PLANS[price]["product"]
    return "prod_topups"


def _unit_amount(price):
    return (PLANS.get(price) or TOPUPS.get(price))["unit_amount"]


def _price_object(price):
    plan = PLANS.get(price)
    return {"id": price, "object": "price", "active": True, "billing_scheme": "per_unit",
            "created": DEFAULT_START - 86400 * 90, "currency": "usd", "livemode": False,
            "lookup_key": None, "metadata": {}, "nickname": None, "product": _product(price),
            "recurring": ({"interval": "year" if plan["months"] == 12 else "month",
                           "interval_count": 1, "usage_type": "licensed"} if plan else None),
            "type": "recurring" if plan else "one_time",
            "unit_amount": _unit_amount(price)}


STATE_API_KEY = "sk_test_tally_fake_0000000000"
STATE_ENDPOINT_ID = "we_tally_fake_0000000000"


def stripe_state(h):
    """The fake Stripe server's state.json contents for h (see the module
    docstring)."""
    objs = [_price_object(p) for p in list(PLANS) + list(TOPUPS)]
    objs += [copy.deepcopy(f["data"]["object"]) if f.get("object") == "event" else _invoice_payments(f)
             for f in h.final.values()]
    # Newest last; the fake orders lists by created, ties by position here.
    objs.sort(key=lambda o: o.get("created") or 0)
    endpoint = {"id": STATE_ENDPOINT_ID, "object": "webhook_endpoint", "api_version": None,
                "application": None, "created": h.start, "description": None,
                "enabled_events": ["*"], "livemode": False, "metadata": {},
                "status": "enabled", "url": ENDPOINT}
    return {"api_key": STATE_API_KEY, "now": h.now, "api_version": NEW_API,
            "objects": objs, "events": h.events, "webhook_endpoints": [endpoint]}


def _invoice_payments(f):
    """f rendered as the API returns it to tally's sync, which lists invoices
    with expand[]=data.payments: since basil an invoice names its payment
    only through its invoice payments."""
    o = _render(f, True)
    pi = f.get("_payment_intent") if f.get("object") == "invoice" else None
    if pi:
        o["payments"] = {"object": "list", "has_more": False, "url": "/v1/invoice_payments",
                         "data": [{"id": "inpay_" + hashlib.sha1(o["id"].encode()).hexdigest()[:24],
                                   "object": "invoice_payment", "invoice": o["id"],
                                   "amount_paid": o.get("amount_paid"), "currency": o.get("currency"),
                                   "is_default": True, "livemode": False,
                                   "payment": {"type": "payment_intent", "payment_intent": pi},
                                   "status": "paid", "created": o.get("created")}]}
    return o


def write_stripe_state(h, out_dir):
    """Write out_dir/state.json for the fake Stripe server; returns its
    contents."""
    os.makedirs(out_dir, exist_ok=True)
    st = stripe_state(h)
    tmp = os.path.join(out_dir, "state.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(st, f, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, os.path.join(out_dir, "state.json"))
    return st


def generate(opts=None, **kw):
    """Generate a History from Options (or keyword arguments for Options)."""
    if opts is None:
        opts = Options(**kw)
    return _Gen(opts).run()


# --- rendering ---------------------------------------------------------------

def render_delivery(d, secret=None):
    """One webhook log entry as text (ending in a newline)."""
    if d["kind"] == "bare":
        if d.get("pretty"):
            return json.dumps(d["event"], indent=2, ensure_ascii=False) + "\n"
        return json.dumps(d["event"], separators=(",", ":"), ensure_ascii=False) + "\n\n"
    rec = {"received_at": d["at"], "endpoint": ENDPOINT, "attempt": d["attempt"],
           "status": d["status"], "http_status": d["http_status"]}
    if d.get("error"):
        rec["error"] = d["error"]
    if secret:
        rec["signature"] = hmac_signature(secret, d["at"], d["body"])
    rec["body"] = d["body"]
    return json.dumps(rec, separators=(",", ":")) + "\n"


def render_usage(u):
    return json.dumps(u, separators=(",", ":")) + "\n"


def _order(items, shuffle, duplicate_all, rng):
    items = list(items)
    if duplicate_all:
        # Each entry again, somewhere after its first copy.
        out = []
        spread = 2 * max(1, len(items) // 10)
        for i, it in enumerate(items):
            out.append((i * 2.0, it))
            out.append((i * 2.0 + 1 + rng.random() * spread, it))
        out.sort(key=lambda p: p[0])
        items = [p[1] for p in out]
    if shuffle:
        rng.shuffle(items)
    return items


def render(h, secret=None):
    """The webhook log entries and usage lines of h as text, in the order
    they were received."""
    return ([render_delivery(d, secret) for d in h.deliveries],
            [render_usage(u) for u in h.usage])


def expected(h, files=None):
    """What h implies (the contents of expected.json)."""
    ids = []
    seen = set()
    for ev in h.events:
        if ev["id"] not in seen:
            seen.add(ev["id"])
            ids.append(ev["id"])
    uids = sorted({u["identifier"] for u in h.usage})
    counts = {"customers": len({e["customer"] for e in h.entries}),
              "events": len(h.events), "deliveries": len(h.deliveries),
              "usage_lines": len(h.usage), "usage_identifiers": len(uids),
              "entries": len(h.entries)}
    return {"now": h.now, "start": h.start, "api_upgrade_at": h.api_upgrade_at,
            "files": files or {}, "counts": counts,
            "entries": sorted(h.entries, key=lambda e: e["key"]),
            "event_ids": ids, "usage_ids": uids}


def write_rendered(h, rendered, out_dir, shuffle=False, duplicate_all=False, order_seed=0,
                   parts=1):
    """Write already rendered logs (see render) into out_dir, ordered as
    asked, with expected.json.  With parts > 1 each log is cut into that
    many consecutive files, webhooks-1.log ... and usage-1.log ...  Returns
    expected.json's contents."""
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(order_seed)
    webhooks = _order(rendered[0], shuffle, duplicate_all, rng)
    usage = _order(rendered[1], shuffle, duplicate_all, rng)

    def put(name, chunks):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="") as f:
            f.writelines(chunks)

    files = {"webhooks": [], "usage": []}
    for name, chunks in (("webhooks", webhooks), ("usage", usage)):
        if parts <= 1:
            put(name + ".log", chunks)
            files[name].append(name + ".log")
            continue
        step = (len(chunks) + parts - 1) // parts
        for p in range(parts):
            fn = "%s-%d.log" % (name, p + 1)
            put(fn, chunks[p * step:(p + 1) * step])
            files[name].append(fn)
    exp = expected(h, files)
    exp["counts"]["webhook_entries"] = len(webhooks)
    exp["counts"]["usage_entries"] = len(usage)
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1, sort_keys=True)
        f.write("\n")
    return exp


def write_logs(h, out_dir, secret=None, shuffle=False, duplicate_all=False, order_seed=None,
               parts=1):
    """Render h and write it into out_dir (see write_rendered).  order_seed
    None takes one derived from the history's seed."""
    if order_seed is None:
        order_seed = h.seed * 7919 + 17
    return write_rendered(h, render(h, secret), out_dir, shuffle=shuffle,
                          duplicate_all=duplicate_all, order_seed=order_seed, parts=parts)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Write a deterministic, realistic Stripe billing history as a webhook "
        "log and a usage log for tally (plus expected.json: the ledger entries it implies).")
    p.add_argument("--seed", type=int, default=1, help="seed of the history (default 1)")
    p.add_argument("--customers", type=int, default=30, help="number of customers (default 30)")
    p.add_argument("--months", type=int, default=6, help="months of history (default 6)")
    p.add_argument("--start", type=int, default=DEFAULT_START,
                   help="Unix time the history starts (default %d, 2025-01-01)" % DEFAULT_START)
    p.add_argument("--secret", default=None,
                   help="webhook signing secret (whsec_...); without it records are unsigned")
    p.add_argument("--out-dir", default=".", help="where to write the files (default .)")
    p.add_argument("--shuffle", action="store_true",
                   help="shuffle the order of webhook log entries and of usage lines")
    p.add_argument("--duplicate-all", action="store_true",
                   help="write every webhook log entry and usage line twice")
    p.add_argument("--order-seed", type=int, default=None,
                   help="seed of --shuffle and --duplicate-all (default: from --seed); the "
                   "history itself depends only on --seed")
    p.add_argument("--parts", type=int, default=1,
                   help="cut each log into this many consecutive files "
                   "(webhooks-1.log ..., usage-1.log ...)")
    p.add_argument("--upcoming", action="store_true",
                   help="also emit invoice.upcoming events (an invoice preview has no id)")
    p.add_argument("--no-checkout-invoices", action="store_true",
                   help="no top-up checkout sessions that also create an invoice")
    p.add_argument("--same-second", action="store_true",
                   help="charge an invoice in the second it is finalized (invoice.finalized "
                   "and invoice.paid then share `created`), as Stripe often does")
    p.add_argument("--stripe-state", metavar="DIR", default=None,
                   help="also write DIR/state.json for the fake Stripe API server "
                   "(tests/lib/fake_stripe.py): the final objects and every event")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    a = p.parse_args(argv)
    if a.customers < 0 or a.months < 1 or a.parts < 1:
        p.error("--customers must be >= 0, --months and --parts >= 1")
    opts = Options(seed=a.seed, customers=a.customers, months=a.months, start=a.start,
                   upcoming=a.upcoming, checkout_invoices=not a.no_checkout_invoices,
                   same_second=a.same_second)
    h = generate(opts)
    s = write_logs(h, a.out_dir, secret=a.secret, shuffle=a.shuffle,
                   duplicate_all=a.duplicate_all, order_seed=a.order_seed, parts=a.parts)
    if a.stripe_state:
        write_stripe_state(h, a.stripe_state)
    if not a.quiet:
        c = s["counts"]
        print("%d customers, %d events in %d webhook log entries, %d usage lines "
              "(%d identifiers), %d expected ledger entries; TALLY_NOW=%d"
              % (a.customers, c["events"], c["webhook_entries"], c["usage_entries"],
                 c["usage_identifiers"], c["entries"], s["now"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
