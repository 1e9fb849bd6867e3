#!/usr/bin/env python3
"""Input logs for tests/drift.sh: one small mirror per drift rule.

    logs.py OUT_DIR

writes OUT_DIR/NAME.log (webhook logs: bare events and delivery records,
signed with SECRET where a signature matters) and OUT_DIR/NAME.usage (usage
logs), and OUT_DIR/stripe/state.json for tests/lib/fake_stripe.py (the state
the API holds for the resync repairs).  Times are T0-relative (T0 =
2025-11-13T02:13:20Z); tests/drift.sh sets TALLY_NOW to match.  Each name is
documented where it is written.
"""
import hashlib
import hmac
import json
import os
import sys

T0 = 1763000000
H = 3600
DAY = 86400
MONTH = 30 * DAY
SECRET = "whsec_drift_test_secret"
KEY = "sk_test_tally_drift_0000000000"
PRO = "price_pro_monthly"
TOPUP = "price_topup_10k"


def customer(cid):
    return {"id": cid, "object": "customer", "name": "Customer " + cid[4:],
            "email": cid[4:].lower() + "@example.com", "created": T0 - DAY, "livemode": False,
            "metadata": {}}


def subscription(sid, cus, status, start, end, price=PRO, **extra):
    item = {"id": "si_" + sid[4:], "object": "subscription_item", "quantity": 1,
            "price": {"id": price, "object": "price"},
            "current_period_start": start, "current_period_end": end}
    sub = {"id": sid, "object": "subscription", "customer": cus, "status": status,
           "created": T0 - DAY, "items": {"object": "list", "has_more": False, "data": [item]}}
    sub.update(extra)
    return sub


def invoice(iid, cus, sub, status, start, end, price=PRO, amount=2000, **extra):
    line = {"id": "il_" + iid[3:], "object": "line_item", "amount": amount, "quantity": 1,
            "period": {"start": start, "end": end},
            "pricing": {"type": "price_details", "price_details": {"price": price}}}
    inv = {"id": iid, "object": "invoice", "customer": cus, "status": status,
           "amount_due": amount, "amount_paid": amount if status == "paid" else 0,
           "currency": "usd", "created": start, "billing_reason": "subscription_cycle",
           "lines": {"object": "list", "has_more": False, "data": [line]},
           "status_transitions": {"paid_at": start + 60 if status == "paid" else None}}
    if sub:
        inv["parent"] = {"type": "subscription_details",
                         "subscription_details": {"subscription": sub}}
    inv.update(extra)
    return inv


def session(cid, cus, pi, created, invoice_id=None, price=TOPUP, amount=1000):
    s = {"id": cid, "object": "checkout.session", "customer": cus, "mode": "payment",
         "status": "complete", "payment_status": "paid", "payment_intent": pi,
         "currency": "usd", "amount_total": amount, "created": created,
         "metadata": {"price": price}}
    if invoice_id:
        s["invoice"] = invoice_id
    return s


def refund(rid, charge, pi, amount, created, status="succeeded"):
    return {"id": rid, "object": "refund", "charge": charge, "payment_intent": pi,
            "amount": amount, "currency": "usd", "status": status, "created": created}


def charge(chid, cus, pi, amount, created, invoice_id=None, refunded=0, refunds=None):
    """A charge; refunded without refunds is the current API shape, where a
    charge no longer carries its refunds list."""
    c = {"id": chid, "object": "charge", "customer": cus, "payment_intent": pi,
         "amount": amount, "currency": "usd", "created": created, "amount_refunded": refunded,
         "refunded": refunded >= amount, "disputed": False}
    if refunds is not None or not refunded:
        c["refunds"] = {"object": "list", "has_more": False, "data": refunds or []}
    if invoice_id:
        c["invoice"] = invoice_id
    return c


def entitlements(cus, keys):
    return {"object": "entitlements.active_entitlement_summary", "customer": cus,
            "entitlements": {"object": "list", "has_more": False,
                             "data": [{"id": "ent_" + k, "object": "entitlements.active_entitlement",
                                       "feature": "feat_" + k, "lookup_key": k} for k in keys]}}


def event(eid, etype, created, obj):
    return {"id": eid, "object": "event", "api_version": "2025-03-31.basil", "created": created,
            "livemode": False, "pending_webhooks": 1, "type": etype, "data": {"object": obj},
            "request": {"id": None, "idempotency_key": None}}


def record(ev, received_at, attempt=1, status="ok", secret=SECRET, http_status=None):
    body = json.dumps(ev, separators=(",", ":"))
    mac = hmac.new(secret.encode(), f"{received_at}.{body}".encode(), hashlib.sha256)
    rec = {"received_at": received_at, "endpoint": "https://app.example.com/stripe/webhook",
           "attempt": attempt, "status": status,
           "http_status": http_status or (200 if status == "ok" else 500),
           "signature": f"t={received_at},v1={mac.hexdigest()}", "body": body}
    if status != "ok":
        rec["error"] = "handler crashed"
    return rec


def usage(ident, cus, value, ts, meter="api_tokens"):
    return {"identifier": ident, "event_name": meter, "timestamp": ts,
            "payload": {"stripe_customer_id": cus, "value": str(value)}}


def basics(cus, sub, start=T0, end=T0 + MONTH, status="active", paid=True):
    """A customer on Pro, its subscription and (paid) its first invoice."""
    evs = [event("evt_c_" + cus, "customer.created", start - 100, customer(cus)),
           event("evt_s_" + sub, "customer.subscription.created", start,
                 subscription(sub, cus, status, start, end))]
    if paid:
        evs.append(event("evt_i_" + sub, "invoice.paid", start + 60,
                         invoice("in_" + sub[4:], cus, sub, "paid", start, end)))
    return evs


def main(out):
    os.makedirs(os.path.join(out, "stripe"), exist_ok=True)
    logs = {}

    def put(name, values):
        logs[name] = values

    # grant-missing: gm-paid.log is read with a catalog that lacks Pro, so
    # in_GM is paid with no grant; in_GMX's price is in no catalog; in_GMOK
    # and the open in_GMO are the near misses (read with the full catalog).
    put("gm-paid", basics("cus_GM", "sub_GM") + [
        event("evt_gmx", "invoice.paid", T0 + 70,
              invoice("in_GMX", "cus_GM", None, "paid", T0, T0 + MONTH, price="price_mystery"))])
    put("gm-ok", basics("cus_GMOK", "sub_GMOK") + [
        event("evt_gmo", "invoice.finalized", T0 + 80,
              invoice("in_GMO", "cus_GMOK", None, "open", T0, T0 + MONTH))])
    # the late webhook: another event for the same paid invoice
    put("gm-late", [event("evt_gm_late", "invoice.payment_succeeded", T0 + 120,
                          invoice("in_GM", "cus_GM", "sub_GM", "paid", T0, T0 + MONTH))])

    # grant-duplicate: a top-up session (no invoice named) credited, then the
    # invoice of the same payment intent credited too.  cus_GDOK's session
    # names its invoice from the start: one credit.
    put("gd", [event("evt_gd_c", "customer.created", T0, customer("cus_GD")),
               event("evt_gd_cs", "checkout.session.completed", T0 + 10,
                     session("cs_GD", "cus_GD", "pi_GD", T0 + 10)),
               event("evt_gd_in", "invoice.paid", T0 + 20,
                     invoice("in_GD", "cus_GD", None, "paid", T0, T0 + MONTH, price=TOPUP,
                             amount=1000, payment_intent="pi_GD")),
               event("evt_gdok_c", "customer.created", T0, customer("cus_GDOK")),
               event("evt_gdok_cs", "checkout.session.completed", T0 + 10,
                     session("cs_GDOK", "cus_GDOK", "pi_GDOK", T0 + 10, invoice_id="in_GDOK")),
               event("evt_gdok_in", "invoice.paid", T0 + 20,
                     invoice("in_GDOK", "cus_GDOK", None, "paid", T0, T0 + MONTH, price=TOPUP,
                             amount=1000, payment_intent="pi_GDOK"))])
    # the late webhook: the session again, now naming its invoice
    put("gd-late", [event("evt_gd_cs2", "checkout.session.async_payment_succeeded", T0 + 30,
                          session("cs_GD", "cus_GD", "pi_GD", T0 + 10, invoice_id="in_GD"))])

    # usage-conflict: req_UC repeated with another value; req_UD repeated
    # with the same payload (a retry: the near miss).
    put("uc", basics("cus_UC", "sub_UC"))
    put("uc.usage", [usage("req_UC", "cus_UC", 100, T0 + DAY), usage("req_UD", "cus_UC", 5, T0 + DAY),
                     usage("req_UC", "cus_UC", 200, T0 + DAY), usage("req_UD", "cus_UC", 5, T0 + DAY)])

    # subscription-stale: an invoice names sub_SS, never seen itself (a
    # placeholder); cus_SSOK's subscription was seen.
    put("ss", [event("evt_ss_c", "customer.created", T0, customer("cus_SS")),
               event("evt_ss_i", "invoice.finalized", T0 + 10,
                     invoice("in_SS", "cus_SS", "sub_SS", "open", T0, T0 + MONTH))]
        + basics("cus_SSOK", "sub_SSOK"))
    # its own webhook, late (older than what the API returned)
    put("ss-late", [event("evt_ss_s", "customer.subscription.created", T0 + 5,
                          subscription("sub_SS", "cus_SS", "active", T0, T0 + MONTH))])

    # access-after-expiry: sub_AE active until T0 + MONTH, then nothing;
    # sub_AEOK active likewise but its renewal invoice was paid.
    put("ae", basics("cus_AE", "sub_AE") + basics("cus_AEOK", "sub_AEOK") + [
        event("evt_aeok_r", "invoice.paid", T0 + MONTH + 60,
              invoice("in_AEOK2", "cus_AEOK", "sub_AEOK", "paid", T0 + MONTH, T0 + 2 * MONTH))])
    # the renewal's own webhook, late
    put("ae-late", [event("evt_ae_r", "customer.subscription.updated", T0 + MONTH + 30,
                          subscription("sub_AE", "cus_AE", "active", T0 + MONTH, T0 + 2 * MONTH))])

    # usage-after-cancel: sub_UA canceled, ended T0 + 10 days; usage two
    # days later.  cus_UAOK's usage is within the grace (30 min after).
    ended = T0 + 10 * DAY
    put("ua", basics("cus_UA", "sub_UA") + basics("cus_UAOK", "sub_UAOK") + [
        event("evt_ua_x", "customer.subscription.deleted", ended,
              subscription("sub_UA", "cus_UA", "canceled", T0, T0 + MONTH, ended_at=ended,
                           canceled_at=ended)),
        event("evt_uaok_x", "customer.subscription.deleted", ended,
              subscription("sub_UAOK", "cus_UAOK", "canceled", T0, T0 + MONTH, ended_at=ended,
                           canceled_at=ended))])
    put("ua.usage", [usage("req_UA1", "cus_UA", 700, ended + 2 * DAY),
                     usage("req_UA2", "cus_UA", 300, ended + 3 * DAY),
                     usage("req_UA0", "cus_UA", 50, ended - DAY),
                     usage("req_UAOK", "cus_UAOK", 700, ended + 30 * 60)])

    # the late webhook: cus_UA subscribed again two days after its last usage
    put("ua-late", [event("evt_ua_new", "customer.subscription.created", ended + 5 * DAY,
                          subscription("sub_UA2", "cus_UA", "active", ended + 5 * DAY,
                                       ended + 5 * DAY + MONTH))])

    # payment-failed-access: sub_PF past_due since its period started at
    # T0; Stripe Entitlements still list chat for cus_PF.  cus_PFOK's
    # entitlements list a feature of no plan.
    put("pf", basics("cus_PF", "sub_PF", status="past_due", paid=False) +
        basics("cus_PFOK", "sub_PFOK", status="past_due", paid=False) + [
            event("evt_pf_e", "entitlements.active_entitlement_summary.updated", T0 + 100,
                  entitlements("cus_PF", ["chat", "beta_lab"])),
            event("evt_pfok_e", "entitlements.active_entitlement_summary.updated", T0 + 100,
                  entitlements("cus_PFOK", ["beta_lab"]))])
    # the late webhooks: the invoice is paid, the subscription active again
    put("pf-late", [event("evt_pf_i", "invoice.paid", T0 + 6 * DAY,
                          invoice("in_PF", "cus_PF", "sub_PF", "paid", T0, T0 + MONTH)),
                    event("evt_pf_s", "customer.subscription.updated", T0 + 6 * DAY + 5,
                          subscription("sub_PF", "cus_PF", "active", T0, T0 + MONTH))])

    # refund-without-clawback: the refund of pi_RC arrives first, then the
    # session (naming its invoice), then the invoice without a payment: the
    # top-up is granted and nothing took the refund's part back.  cus_RN's
    # refund of its invoice's charge is clawed back as it arrives.
    put("rc", [event("evt_rc_c", "customer.created", T0, customer("cus_RC")),
               event("evt_rc_r", "refund.created", T0 + 50,
                     refund("re_RC", "ch_RC", "pi_RC", 500, T0 + 50)),
               event("evt_rc_cs", "checkout.session.completed", T0 + 10,
                     session("cs_RC", "cus_RC", "pi_RC", T0 + 10, invoice_id="in_RC")),
               event("evt_rc_in", "invoice.paid", T0 + 20,
                     invoice("in_RC", "cus_RC", None, "paid", T0, T0 + MONTH, price=TOPUP,
                             amount=1000))] +
        basics("cus_RN", "sub_RN") + [
            event("evt_rn_ch", "charge.succeeded", T0 + 61,
                  charge("ch_RN", "cus_RN", "pi_RN", 2000, T0 + 61, invoice_id="in_RN")),
            event("evt_rn_r", "refund.created", T0 + 100,
                  refund("re_RN", "ch_RN", "pi_RN", 1000, T0 + 100))])
    # the late webhook: the charge, naming the payment intent
    put("rc-late", [event("evt_rc_ch", "charge.succeeded", T0 + 11,
                          charge("ch_RC", "cus_RC", "pi_RC", 1000, T0 + 11))])

    # refund-without-clawback from the charge alone: ch_RF (paying in_RF) is
    # refunded 1000 of 2000, seen only as charge.refunded in the current API
    # shape (no refunds list), so no refund object and no clawback.  Near
    # misses: ch_RFOK's charge.refunded carries its refund (clawed back as
    # it arrives); ch_RFP's refund of 500 is seen, and is all it was refunded.
    put("rf", basics("cus_RF", "sub_RF") + [
        event("evt_rf_ch", "charge.succeeded", T0 + 61,
              charge("ch_RF", "cus_RF", "pi_RF", 2000, T0 + 61, invoice_id="in_RF")),
        event("evt_rf_chr", "charge.refunded", T0 + 200,
              charge("ch_RF", "cus_RF", "pi_RF", 2000, T0 + 61, invoice_id="in_RF",
                     refunded=1000))] +
        basics("cus_RFOK", "sub_RFOK") + [
        event("evt_rfok_chr", "charge.refunded", T0 + 200,
              charge("ch_RFOK", "cus_RFOK", "pi_RFOK", 2000, T0 + 61, invoice_id="in_RFOK",
                     refunded=1000, refunds=[refund("re_RFOK", "ch_RFOK", "pi_RFOK", 1000,
                                                    T0 + 200)]))] +
        basics("cus_RFP", "sub_RFP") + [
        event("evt_rfp_r", "refund.created", T0 + 150,
              refund("re_RFP", "ch_RFP", "pi_RFP", 500, T0 + 150)),
        event("evt_rfp_chr", "charge.refunded", T0 + 200,
              charge("ch_RFP", "cus_RFP", "pi_RFP", 2000, T0 + 61, invoice_id="in_RFP",
                     refunded=500))])
    # the late webhook: the refund object itself
    put("rf-late", [event("evt_rf_r", "refund.created", T0 + 200,
                          refund("re_RF", "ch_RF", "pi_RF", 1000, T0 + 200))])

    # balance-mismatch and negative-balance: cus_BM (its cache is tampered
    # with by the test), cus_BS (Stripe's summary differs), cus_NB (consumes
    # past its grant), cus_NBOK (consumes exactly its grant).
    # cus_BSOK's summary is worth its ledger to within a cent (the test's
    # catalog makes 100 credits one cent).
    put("bal", basics("cus_BM", "sub_BM") + basics("cus_BS", "sub_BS") +
        basics("cus_BSOK", "sub_BSOK") +
        basics("cus_NB", "sub_NB") + basics("cus_NBOK", "sub_NBOK"))
    put("bal.usage", [usage("req_NB", "cus_NB", 150000, T0 + DAY),
                      usage("req_NBOK", "cus_NBOK", 100000, T0 + DAY),
                      usage("req_BSOK", "cus_BSOK", 50, T0 + DAY)])
    put("bal2.usage", [usage("req_BM2", "cus_BM", 10, T0 + 2 * DAY)])
    # cus_NB's late top-up
    put("nb-late", [event("evt_nb_cs", "checkout.session.completed", T0 + 3 * DAY,
                          session("cs_NB", "cus_NB", "pi_NB", T0 + 3 * DAY))])

    # event-out-of-order: sub_EO's update at T0 + 20 applied, then one made
    # at T0 + 10 arrives; re_EOR's likewise (a refund names no customer: the
    # alert is its payment's, cus_EOR's); cus_EOOK's arrive in order.
    put("eo", basics("cus_EO", "sub_EO") + [
        event("evt_eo_2", "customer.subscription.updated", T0 + 20,
              subscription("sub_EO", "cus_EO", "active", T0, T0 + MONTH, cancel_at=T0 + MONTH)),
        event("evt_eo_1", "customer.subscription.updated", T0 + 10,
              subscription("sub_EO", "cus_EO", "active", T0, T0 + MONTH))] +
        basics("cus_EOR", "sub_EOR") + [
        event("evt_eor_ch", "charge.succeeded", T0 + 61,
              charge("ch_EOR", "cus_EOR", "pi_EOR", 2000, T0 + 61, invoice_id="in_EOR")),
        event("evt_eor_2", "refund.updated", T0 + 20 * 60,
              refund("re_EOR", "ch_EOR", "pi_EOR", 500, T0 + 600)),
        event("evt_eor_1", "refund.created", T0 + 10 * 60,
              refund("re_EOR", "ch_EOR", "pi_EOR", 500, T0 + 600, status="pending"))] +
        basics("cus_EOOK", "sub_EOOK") + [
        event("evt_eook_1", "customer.subscription.updated", T0 + 10,
              subscription("sub_EOOK", "cus_EOOK", "active", T0, T0 + MONTH)),
        event("evt_eook_2", "customer.subscription.updated", T0 + 20,
              subscription("sub_EOOK", "cus_EOOK", "active", T0, T0 + MONTH, cancel_at=T0 + MONTH))])

    # webhook-failed (signed records): evt_WF failed at T0 + 1000; evt_WR
    # failed then succeeded; evt_WN failed just now (at the test's clock).
    wf = event("evt_WF", "customer.updated", T0 + 900, customer("cus_WF"))
    wr = event("evt_WR", "customer.updated", T0 + 900, customer("cus_WR"))
    wn = event("evt_WN", "customer.updated", T0 + 900, customer("cus_WN"))
    put("wf", [record(wf, T0 + 1000, status="failed"),
               record(wr, T0 + 1000, status="failed"), record(wr, T0 + 1300, attempt=2),
               record(wn, T0 + 3 * H - 600, status="failed")])
    # the late resolution: the retry that succeeded
    put("wf-late", [record(wf, T0 + 3 * H + 100, attempt=2)])

    # signature-invalid: one record signed with another secret, one good.
    bad = event("evt_SI", "customer.created", T0 + 5, customer("cus_SI"))
    good = event("evt_SIOK", "customer.created", T0 + 5, customer("cus_SIOK"))
    put("si", [record(bad, T0 + 10, secret="whsec_not_the_endpoints"), record(good, T0 + 10)])

    for name, values in logs.items():
        path = os.path.join(out, name if "." in name else name + ".log")
        with open(path, "w") as f:
            for v in values:
                f.write(json.dumps(v, separators=(",", ":")) + "\n")

    # What the API holds for the resync repairs, in the current shape.
    objects = [customer("cus_SS"), subscription("sub_SS", "cus_SS", "active", T0, T0 + MONTH),
               invoice("in_SS", "cus_SS", "sub_SS", "open", T0, T0 + MONTH),
               customer("cus_AE"), subscription("sub_AE", "cus_AE", "active", T0 + MONTH,
                                                T0 + 2 * MONTH),
               invoice("in_AE", "cus_AE", "sub_AE", "paid", T0, T0 + MONTH),
               invoice("in_AE2", "cus_AE", "sub_AE", "paid", T0 + MONTH, T0 + 2 * MONTH),
               customer("cus_RF"), subscription("sub_RF", "cus_RF", "active", T0, T0 + MONTH),
               invoice("in_RF", "cus_RF", "sub_RF", "paid", T0, T0 + MONTH),
               charge("ch_RF", "cus_RF", "pi_RF", 2000, T0 + 61, invoice_id="in_RF",
                      refunded=1000),
               refund("re_RF", "ch_RF", "pi_RF", 1000, T0 + 200)]
    state = {"api_key": KEY, "now": T0 + MONTH + 3 * H, "api_version": "2025-03-31.basil",
             "objects": objects, "events": []}
    with open(os.path.join(out, "stripe", "state.json"), "w") as f:
        json.dump(state, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
