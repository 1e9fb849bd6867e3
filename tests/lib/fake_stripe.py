#!/usr/bin/env python3
"""A fake Stripe API server for tally's tests (Python 3 standard library only).

    python3 fake_stripe.py --state DIR [--port-file FILE] [--port N] [--verbose]

Binds 127.0.0.1 (port 0, the default, takes any free port), writes the port
number to FILE once it listens, and serves until SIGTERM or SIGINT (exit 0).

DIR/state.json holds what the fake knows:

    {"api_key": "sk_test_...",          required
     "now": <unix>,                     optional: the clock starts there and runs
                                        with the wall clock; else wall time
     "api_version": "2025-03-31.basil", optional: the account's default version
                                        (Stripe-Version response header when the
                                        request sends none; api_version of the
                                        events the fake creates)
     "rate_limit": <requests/s>,        optional, 0 = off
     "event_retention_days": <days>,    optional: events older than this are
                                        not listed or retrievable (Stripe: 30);
                                        default off
     "objects": [ {...}, ... ],         any type, each with "object" and "id"
     "events": [ {...}, ... ],          event objects
     "faults": [ {...}, ... ],          optional fault rules (see below)
     "webhook_endpoints": [{"id": "we_..", "url": ..}, ...]}   optional

The fake appends to DIR/requests.jsonl one line per API request (control
requests under /_fake/ excluded) and to DIR/writes.jsonl one line per write it
actually applied (never for an idempotent replay).  See doc/fake-stripe.md for
the endpoints, the fault rules and the control endpoints.
"""

import argparse
import base64
import collections
import copy
import email.utils
import json
import math
import os
import random
import re
import signal
import socket
import string
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT_KINDS = ("429", "500", "503", "409", "slow", "truncate", "drop", "lost_response")
FAULT_KEYS = {"kind", "method", "path", "count", "after", "retry_after", "should_retry",
              "delay_ms", "code", "message", "save", "name"}
MAX_BODY = 8 * 1024 * 1024
ALNUM = string.ascii_letters + string.digits

_rng = random.Random(int.from_bytes(os.urandom(16), "big"))
_rng_lock = threading.Lock()


def rand_id(prefix, n=24):
    with _rng_lock:
        return prefix + "".join(_rng.choice(ALNUM) for _ in range(n))


# --- errors --------------------------------------------------------------------

class ApiError(Exception):
    """An error answer: status and the fields of Stripe's error object."""

    def __init__(self, status, etype, message, code=None, param=None, headers=None,
                 save=False):
        Exception.__init__(self, message)
        self.status = status
        self.etype = etype
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.save = save        # an idempotent POST saves this answer

    def body(self, request_id, now):
        err = {}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        err["message"] = self.message
        if self.param is not None:
            err["param"] = self.param
        if self.status != 401:          # no account, no dashboard log
            err["request_log_url"] = "https://dashboard.stripe.com/test/logs/%s?t=%d" % (
                request_id, int(now))
        err["type"] = self.etype
        return {"error": err}


def invalid(message, param=None, code=None, status=400):
    return ApiError(status, "invalid_request_error", message, code=code, param=param)


def unknown_param(name):
    return invalid("Received unknown parameter: %s" % name, name, "parameter_unknown")


def missing_param(name):
    return invalid("Missing required param: %s." % name, name, "parameter_missing")


def no_such(kind, oid, param, status=400):
    return invalid("No such %s: '%s'" % (kind, oid), param, "resource_missing", status)


def unrecognized(method, path):
    return invalid("Unrecognized request URL (%s: %s). Please see https://stripe.com/docs "
                   "or we can help at https://support.stripe.com/." % (method, path),
                   status=404)


def mask_key(key):
    """An API key as Stripe shows it in "Invalid API Key provided"."""
    if len(key) <= 12:
        return "*" * max(0, len(key) - 4) + key[-4:]
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


# --- form / query parsing (bracket notation) -------------------------------------

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class _Idx(dict):
    """A dict built from indexed array keys (a[0][b]=..); becomes a list."""


def parse_params(pairs):
    """Nested dicts/lists from (key, value) pairs in Stripe's bracket notation:
    a[b][c]=v (hash), a[]=v (append), a[0][b]=v (indexed array).  A repeated
    scalar key keeps its last value."""
    root = {}
    for key, value in pairs:
        m = _KEY_RE.match(key)
        segs = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2)) if m else [key]
        _insert(root, segs, value, segs[0])
    return _finish(root)


def _insert(node, segs, value, name):
    seg, rest = segs[0], segs[1:]
    if not rest:
        if isinstance(node.get(seg), (dict, list)) and value != "":
            raise invalid("Invalid %s" % ("array" if isinstance(node[seg], list) else "hash"),
                          name)
        node[seg] = value
        return
    nxt = rest[0]
    cur = node.get(seg)
    if nxt == "":
        if cur is None or cur == "":
            cur = node[seg] = []
        elif isinstance(cur, _Idx) and all(k.isdigit() for k in cur):
            cur = node[seg] = [cur[k] for k in sorted(cur, key=int)]
        elif not isinstance(cur, list):
            raise invalid("Invalid array", name)
        if len(rest) == 1:
            cur.append(value)
            return
        if not cur or not isinstance(cur[-1], dict) or rest[1] in cur[-1]:
            cur.append({})
        _insert(cur[-1], rest[1:], value, name + "[]")
        return
    if cur is None or cur == "":
        cur = node[seg] = _Idx() if nxt.isdigit() and seg != "metadata" else {}
    elif isinstance(cur, list):
        cur = node[seg] = _Idx((str(i), v) for i, v in enumerate(cur))
    elif not isinstance(cur, dict):
        raise invalid("Invalid hash", name)
    _insert(cur, rest, value, "%s[%s]" % (name, nxt))


def _finish(v):
    if isinstance(v, _Idx):
        if all(k.isdigit() for k in v):
            return [_finish(v[k]) for k in sorted(v, key=int)]
        return {k: _finish(x) for k, x in v.items()}
    if isinstance(v, dict):
        return {k: _finish(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finish(x) for x in v]
    return v


# --- parameter checking ------------------------------------------------------------

def _int(v, name, lo=None, hi=None):
    if isinstance(v, (dict, list)):
        raise invalid("Invalid integer: %s" % json.dumps(v), name, "parameter_invalid_integer")
    if not re.fullmatch(r"-?\d+", v or ""):
        if v == "":
            raise empty_param(name)
        raise invalid("Invalid integer: %s" % v, name, "parameter_invalid_integer")
    n = int(v)
    if lo is not None and n < lo:
        raise invalid("This value must be greater than or equal to %d." % lo, name)
    if hi is not None and n > hi:
        raise invalid("This value must be less than or equal to %d." % hi, name)
    return n


def _bool(v, name):
    if v in ("true", "false"):
        return v == "true"
    if v == "":
        raise empty_param(name)
    raise invalid("Invalid boolean: %s" % (v if isinstance(v, str) else json.dumps(v)), name)


def _str(v, name, maxlen=5000):
    if not isinstance(v, str):
        raise invalid("Invalid string: %s" % json.dumps(v), name)
    if len(v) > maxlen:
        raise invalid("Invalid string: %s...; must be at most %d characters"
                      % (v[:10], maxlen), name)
    return v


def empty_param(name):
    return invalid("You passed an empty string for '%s'. We assume empty values are an attempt "
                   "to unset a parameter; however '%s' cannot be unset. You should remove "
                   "'%s' from your request or supply a non-empty value." % (name, name, name),
                   name, "parameter_invalid_empty")


def _enum(v, name, values):
    if v == "":
        raise empty_param(name)
    if v not in values:
        vals = list(values)
        choices = ", ".join(vals[:-1]) + (", or " if len(vals) > 2 else " or ") + vals[-1] \
            if len(vals) > 1 else vals[0]
        raise invalid("Invalid %s: must be one of %s" % (name.split("[")[-1].rstrip("]"),
                                                           choices), name)
    return v


def check(params, spec, prefix=""):
    """Check params (from parse_params) against spec, a dict name -> type:
    "str", "int", "bool", "ts", "id", ("enum", values), ("int", lo, hi),
    "metadata", "expand", "range", ("list", subspec), or a nested dict spec.
    Returns the checked values (ints converted).  Unknown names are errors."""
    if not isinstance(params, dict):
        raise invalid("Invalid hash", prefix or None)
    out = {}
    for k, v in params.items():
        name = "%s[%s]" % (prefix, k) if prefix else k
        if k not in spec:
            raise unknown_param(name)
        out[k] = _check_one(v, spec[k], name)
    return out


def _check_one(v, t, name):
    if isinstance(t, dict):
        if v == "":
            return None
        return check(v, t, name)
    if isinstance(t, tuple):
        if t[0] == "enum":
            return _enum(v, name, t[1])
        if t[0] == "int":
            return _int(v, name, t[1], t[2])
        if t[0] == "list":
            if v == "":
                return []
            if isinstance(v, dict):
                v = [v[k] for k in sorted(v, key=lambda x: int(x) if x.isdigit() else 0)]
            if not isinstance(v, list):
                raise invalid("Invalid array", name)
            return [_check_one(x, t[1], "%s[%d]" % (name, i)) for i, x in enumerate(v)]
        if t[0] == "strlist":
            if isinstance(v, str):
                v = [v]
            if isinstance(v, dict):
                v = list(v.values())
            if not isinstance(v, list) or len(v) > t[1]:
                raise invalid("Invalid array" if not isinstance(v, list) else
                              "Array %s exceeds the maximum length of %d" % (name, t[1]), name)
            return [_str(x, name) for x in v]
    if t == "str":
        return _str(v, name)
    if t == "id":
        v = _str(v, name)
        if v == "":
            raise empty_param(name)
        return v
    if t in ("int", "ts"):
        return _int(v, name)
    if t == "bool":
        return _bool(v, name)
    if t == "metadata":
        if v == "":
            return {}
        if not isinstance(v, dict):
            raise invalid("Invalid hash", name)
        for mk, mv in v.items():
            if not isinstance(mv, str):
                raise invalid("Invalid string: %s" % json.dumps(mv), "%s[%s]" % (name, mk))
            if len(mk) > 40:
                raise invalid("Metadata keys can have up to 40 characters", name)
            if len(mv) > 500:
                raise invalid("Metadata values can have up to 500 characters", name)
        return dict(v)
    if t == "expand":
        if isinstance(v, str):
            v = [v]
        if isinstance(v, dict):
            v = [v[k] for k in sorted(v)]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise invalid("Invalid array", name)
        for x in v:
            if x.count(".") >= 4:
                raise invalid("You cannot expand more than 4 levels of a property. "
                              "Property: %s" % x, name)
        return v
    if t == "range":
        if isinstance(v, dict):
            r = {}
            for rk, rv in v.items():
                if rk not in ("gt", "gte", "lt", "lte"):
                    raise unknown_param("%s[%s]" % (name, rk))
                r[rk] = _int(rv, "%s[%s]" % (name, rk))
            return r
        return {"eq": _int(v, name)}
    raise AssertionError("bad spec %r" % (t,))


def in_range(value, r):
    if r is None:
        return True
    if value is None:
        return False
    return (("eq" not in r or value == r["eq"]) and ("gt" not in r or value > r["gt"])
            and ("gte" not in r or value >= r["gte"]) and ("lt" not in r or value < r["lt"])
            and ("lte" not in r or value <= r["lte"]))


def ref_id(v):
    """The id of an expandable field (an id string or an expanded object)."""
    if isinstance(v, dict):
        return v.get("id")
    return v


LIST_SPEC = {"limit": ("int", 1, 100), "starting_after": "id", "ending_before": "id",
             "expand": "expand"}


# --- resources -----------------------------------------------------------------------

SUB_STATUSES = ("active", "all", "canceled", "ended", "incomplete", "incomplete_expired",
                "past_due", "paused", "trialing", "unpaid")
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")

# path -> (object type, extra list parameters)
TOP_RESOURCES = {
    "customers": ("customer", {"created": "range", "email": "id",
                               "test_clock": "id"}),
    "subscriptions": ("subscription", {"created": "range", "customer": "id",
                                       "customer_account": "id", "price": "id",
                                       "status": ("enum", SUB_STATUSES),
                                       "collection_method": ("enum", ("charge_automatically",
                                                                      "send_invoice")),
                                       "current_period_end": "range",
                                       "current_period_start": "range",
                                       "automatic_tax": {"enabled": "bool"},
                                       "test_clock": "id"}),
    "invoices": ("invoice", {"created": "range", "customer": "id", "customer_account": "id",
                             "subscription": "id", "status": ("enum", INVOICE_STATUSES),
                             "collection_method": ("enum", ("charge_automatically",
                                                            "send_invoice")),
                             "due_date": "range"}),
    "prices": ("price", {"created": "range", "active": "bool", "currency": "id",
                         "product": "id", "type": ("enum", ("one_time", "recurring")),
                         "lookup_keys": ("strlist", 10),
                         "recurring": {"interval": ("enum", ("day", "month", "week", "year")),
                                       "meter": "id",
                                       "usage_type": ("enum", ("licensed", "metered"))}}),
    "checkout/sessions": ("checkout.session", {"created": "range", "customer": "id",
                                               "customer_account": "id",
                                               "customer_details": {"email": "id"},
                                               "payment_intent": "id", "payment_link": "id",
                                               "status": ("enum", ("complete", "expired",
                                                                   "open")),
                                               "subscription": "id"}),
    "charges": ("charge", {"created": "range", "customer": "id", "payment_intent": "id",
                           "transfer_group": "id"}),
    "refunds": ("refund", {"created": "range", "charge": "id", "payment_intent": "id"}),
    "disputes": ("dispute", {"created": "range", "charge": "id", "payment_intent": "id"}),
    "billing/credit_grants": ("billing.credit_grant", {"customer": "id",
                                                       "customer_account": "id"}),
    "entitlements/active_entitlements": ("entitlements.active_entitlement", {"customer": "id"}),
    "subscription_items": ("subscription_item", {"subscription": "id"}),
}
RETRIEVE_ONLY = {"events": "event", "billing/credit_balance_transactions":
                 "billing.credit_balance_transaction"}


# --- the fake -----------------------------------------------------------------------

class Response:
    def __init__(self, status, body, headers=None, action=None):
        self.status = status
        self.body = body            # bytes
        self.headers = headers or {}
        self.action = action        # None, "drop", "truncate"


def json_bytes(obj):
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class Fake:
    def __init__(self, state_dir, verbose=False):
        self.dir = state_dir
        self.verbose = verbose
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.idem = {}              # key -> saved answer
        self.in_flight = set()
        self.requests = []          # this process's request log (dicts)
        self.window = collections.deque()
        self.req_path = os.path.join(state_dir, "requests.jsonl")
        self.writes_path = os.path.join(state_dir, "writes.jsonl")
        self.load()

    # --- state ---------------------------------------------------------------
    def load(self):
        path = os.path.join(self.dir, "state.json")
        with open(path, encoding="utf-8") as f:
            st = json.load(f)
        if not isinstance(st, dict):
            raise ValueError("%s: not a JSON object" % path)
        key = st.get("api_key")
        if not isinstance(key, str) or not key:
            raise ValueError("%s: api_key missing" % path)
        objects = st.get("objects") or []
        events = st.get("events") or []
        for i, o in enumerate(objects):
            if not isinstance(o, dict) or not isinstance(o.get("object"), str) \
                    or not isinstance(o.get("id"), str):
                raise ValueError("%s: objects[%d] needs \"object\" and \"id\"" % (path, i))
        for i, e in enumerate(events):
            if not isinstance(e, dict) or not isinstance(e.get("id"), str):
                raise ValueError("%s: events[%d] needs \"id\"" % (path, i))
        faults = self.check_faults(st.get("faults") or [])
        endpoints = st.get("webhook_endpoints") or []
        for i, w in enumerate(endpoints):
            if not isinstance(w, dict) or not isinstance(w.get("id"), str):
                raise ValueError("%s: webhook_endpoints[%d] needs \"id\"" % (path, i))
        with self.lock:
            self.api_key = key
            self.api_version = st.get("api_version")
            self.rate_limit = float(st.get("rate_limit") or 0)
            ret = st.get("event_retention_days")
            self.retention = float(ret) * 86400 if ret else None
            self.base_now = st.get("now")
            self.base_mono = time.monotonic()
            self.seq = 0
            self.objects = {}       # id -> object
            self.order = {}         # id -> position (later = newer on created ties)
            for o in objects:
                self._put(copy.deepcopy(o))
            self.events = {}
            self.event_order = {}
            for e in events:
                self._put_event(copy.deepcopy(e))
            self.faults = faults
            self.endpoints = {w["id"]: w for w in endpoints}
            if self.api_version is None:
                for e in reversed(events):
                    if e.get("api_version"):
                        self.api_version = e["api_version"]
                        break

    def _put(self, o):
        self.seq += 1
        self.objects[o["id"]] = o
        self.order[o["id"]] = self.seq

    def _put_event(self, e):
        self.seq += 1
        self.events[e["id"]] = e
        self.event_order[e["id"]] = self.seq

    def now(self):
        if self.base_now is not None:
            return float(self.base_now) + (time.monotonic() - self.base_mono)
        return time.time()

    @staticmethod
    def check_faults(rules):
        if not isinstance(rules, list):
            raise ValueError("faults: a JSON list of rules expected")
        out = []
        for i, r in enumerate(rules):
            if not isinstance(r, dict):
                raise ValueError("faults[%d]: not an object" % i)
            bad = set(r) - FAULT_KEYS
            if bad:
                raise ValueError("faults[%d]: unknown keys %s" % (i, ", ".join(sorted(bad))))
            kind = str(r.get("kind"))
            if kind not in FAULT_KINDS:
                raise ValueError("faults[%d]: kind must be one of %s" % (i, ", ".join(FAULT_KINDS)))
            rule = dict(r)
            rule["kind"] = kind
            for k, d in (("count", 1), ("after", 0)):
                v = rule.get(k, d)
                if not isinstance(v, int) or isinstance(v, bool):
                    raise ValueError("faults[%d]: %s must be an integer" % (i, k))
                rule[k] = v
            for k in ("retry_after", "delay_ms"):
                if k in rule and not isinstance(rule[k], (int, float)):
                    raise ValueError("faults[%d]: %s must be a number" % (i, k))
            if "should_retry" in rule:
                sr = rule["should_retry"]
                if isinstance(sr, bool):
                    sr = "true" if sr else "false"
                if sr not in ("true", "false"):
                    raise ValueError("faults[%d]: should_retry must be \"true\" or \"false\"" % i)
                rule["should_retry"] = sr
            rule["seen"] = 0
            rule["fired"] = 0
            out.append(rule)
        return out

    def pick_fault(self, method, path):
        """The fault rule this request triggers, if any (counts it)."""
        for r in self.faults:
            if r.get("method") and r["method"].upper() != method:
                continue
            if r.get("path") and not path.startswith(r["path"]):
                continue
            r["seen"] += 1
            if r["seen"] <= r["after"]:
                continue
            if r["count"] >= 0 and r["fired"] >= r["count"]:
                continue
            r["fired"] += 1
            return r
        return None

    # --- logs ------------------------------------------------------------------
    def log_request(self, entry):
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.log_lock:
            self.requests.append(entry)
            with open(self.req_path, "a", encoding="utf-8") as f:
                f.write(line)

    def log_write(self, entry):
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.log_lock:
            with open(self.writes_path, "a", encoding="utf-8") as f:
                f.write(line)

    # --- the request pipeline ------------------------------------------------------
    def handle(self, req):
        """Answer one API request.  req: dict with method, path, query (raw
        string), headers, body (bytes), request_id; fills req["log"]."""
        log = req["log"]
        method = req["method"]
        path = req["path"]
        headers = req["headers"]
        now = self.now()
        extra = {}
        with self.lock:
            # The rate limiter comes first (before faults, auth and idempotency).
            if self.rate_limit > 0:
                t = time.monotonic()
                while self.window and self.window[0] <= t - 1.0:
                    self.window.popleft()
                if len(self.window) >= self.rate_limit:
                    wait = max(1, int(math.ceil(self.window[0] + 1.0 - t)))
                    log["fault"] = "rate_limit"
                    raise ApiError(429, "invalid_request_error",
                                   "Request rate limit exceeded. Learn more about rate limits "
                                   "here https://stripe.com/docs/rate-limits.",
                                   code="rate_limit", headers={"Retry-After": str(wait)})
                self.window.append(t)
            fault = self.pick_fault(method, path)
            log["auth"] = self.auth_state(headers.get("Authorization"))
        kind = fault["kind"] if fault else None
        log["fault"] = kind
        if fault and fault.get("should_retry"):
            extra["Stripe-Should-Retry"] = fault["should_retry"]
        if kind == "drop":
            return Response(None, b"", action="drop")
        saved_500 = (kind == "500" and fault.get("save") and method == "POST"
                     and headers.get("Idempotency-Key"))
        if kind in ("429", "500", "503", "409") and not saved_500:
            raise self.fault_error(fault, extra)
        if kind == "truncate" and method != "GET":
            # A write must not be applied: half of an error answer.
            err = self.fault_error(dict(fault, kind="500"), {})
            body = json_bytes(err.body(req["request_id"], now))
            return Response(200, body, extra, action="truncate")
        try:
            self.check_auth(headers.get("Authorization"), log["auth"])
            resp = self.dispatch(req, fault)
        except ApiError as e:
            if kind not in ("truncate", "lost_response"):
                raise
            resp = Response(e.status, json_bytes(e.body(req["request_id"], self.now())),
                            dict(e.headers))
        resp.headers.update(extra)
        if kind == "truncate":
            resp.action = "truncate"
        elif kind == "lost_response":
            resp.action = "drop"
        return resp

    @staticmethod
    def delay(fault):
        if fault and fault["kind"] == "slow":
            time.sleep(max(0.0, float(fault.get("delay_ms", 1000))) / 1000.0)

    def fault_error(self, fault, extra):
        kind = fault["kind"]
        if kind == "429":
            code = fault.get("code", "rate_limit")
            msg = fault.get("message") or (
                "This object cannot be accessed right now because another API request or "
                "Stripe process is currently accessing it. If you see this error "
                "intermittently, retry the request. If you see this error frequently and are "
                "making multiple concurrent requests to a single object, make your requests "
                "serially or at a lower rate." if code == "lock_timeout" else
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.")
            h = dict(extra)
            if fault.get("retry_after") is not None:
                ra = fault["retry_after"]
                h["Retry-After"] = str(int(ra) if float(ra).is_integer() else ra)
            return ApiError(429, "invalid_request_error", msg, code=code, headers=h)
        if kind == "409":
            return ApiError(409, "invalid_request_error", fault.get("message") or
                            "There is currently another in-progress request using this "
                            "Idempotent Key (probably because of a timeout). Please retry this "
                            "request later.", code=fault.get("code", "idempotency_key_in_use"),
                            headers=extra)
        if kind == "503":
            return ApiError(503, "api_error", fault.get("message") or
                            "The Stripe API is temporarily unavailable. Please try again "
                            "later.", code=fault.get("code"), headers=extra)
        return ApiError(500, "api_error", fault.get("message") or
                        "An unknown error occurred", code=fault.get("code"), headers=extra,
                        save=bool(fault.get("save")))

    def auth_state(self, value):
        key = self.key_of(value)
        if not key:
            return "missing"
        return "ok" if key == self.api_key else "bad"

    @staticmethod
    def key_of(value):
        if not value:
            return ""
        value = value.strip()
        scheme, _, rest = value.partition(" ")
        rest = rest.strip()
        if scheme.lower() == "bearer":
            return rest
        if scheme.lower() == "basic":
            try:
                dec = base64.b64decode(rest, validate=True).decode("utf-8")
            except Exception:
                return "\x00invalid"
            return dec.partition(":")[0]
        return "\x00invalid"

    def check_auth(self, value, state):
        if state == "ok":
            return
        h = {"WWW-Authenticate": 'Bearer realm="Stripe"'}
        if state == "missing":
            raise ApiError(401, "invalid_request_error",
                           "You did not provide an API key. You need to provide your API key "
                           "in the Authorization header, using Bearer auth (e.g. "
                           "'Authorization: Bearer YOUR_SECRET_KEY'). See "
                           "https://stripe.com/docs/api#authentication for details, or we can "
                           "help at https://support.stripe.com/.", headers=h)
        key = self.key_of(value)
        if key.startswith("\x00"):
            raise ApiError(401, "invalid_request_error",
                           "Invalid API Key provided: the Authorization header must use "
                           "Bearer or Basic auth.", headers=h)
        raise ApiError(401, "invalid_request_error",
                       "Invalid API Key provided: %s" % mask_key(key), headers=h)

    # --- routing -------------------------------------------------------------------
    def dispatch(self, req, fault):
        method, path = req["method"], req["path"]
        if method in ("GET", "DELETE"):
            params = parse_params(urllib.parse.parse_qsl(req["query"], keep_blank_values=True))
            if method == "GET":
                self.delay(fault)
                with self.lock:
                    return self.ok(self.route_get(path, params))
            raise unrecognized(method, path)
        if method != "POST":
            raise unrecognized(method, path)
        ctype = req["headers"].get("Content-Type", "")
        base = ctype.split(";")[0].strip().lower()
        if req["body"] and base != "application/x-www-form-urlencoded":
            raise invalid("Invalid request: unsupported Content-Type %s. If error persists and "
                          "you need assistance, please contact support@stripe.com."
                          % (ctype or "(none)"))
        try:
            text = req["body"].decode("utf-8")
        except UnicodeDecodeError:
            raise invalid("Invalid request: the request body is not valid UTF-8.")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
        if req["query"]:
            pairs = urllib.parse.parse_qsl(req["query"], keep_blank_values=True) + pairs
        params = parse_params(pairs)
        route = self.route_post(path)
        if route is None:
            raise unrecognized(method, path)
        key = req["headers"].get("Idempotency-Key")
        if key is None or key == "":
            self.delay(fault)
            with self.lock:
                return self.ok(route(params, req))
        if len(key) > 255:
            raise invalid("Idempotency-Key must be at most 255 characters long.")
        fp = sorted(pairs)
        with self.lock:
            saved = self.idem.get(key)
            if saved is not None:
                if saved["path"] != path:
                    raise ApiError(400, "idempotency_error",
                                   "Keys for idempotent requests can only be used for the same "
                                   "endpoint they were first used for ('%s' vs '%s'). Try using "
                                   "a key other than '%s' if you meant to execute a different "
                                   "request." % (saved["path"], path, key))
                if saved["params"] != fp:
                    raise ApiError(400, "idempotency_error",
                                   "Keys for idempotent requests can only be used with the same "
                                   "parameters they were first used with. Try using a key other "
                                   "than '%s' if you meant to execute a different request."
                                   % key)
                req["log"]["replayed"] = True
                h = dict(saved["headers"])
                h["Idempotent-Replayed"] = "true"
                h["Original-Request"] = saved["request_id"]
                return Response(saved["status"], saved["body"], h)
            if key in self.in_flight:
                raise ApiError(409, "invalid_request_error",
                               "There is currently another in-progress request using this "
                               "Idempotent Key (probably because of a timeout). Please retry "
                               "this request later.", code="idempotency_key_in_use")
            self.in_flight.add(key)
        try:
            self.delay(fault)           # a slow request holds its key meanwhile
            with self.lock:
                try:
                    if fault and fault["kind"] == "500" and fault.get("save"):
                        raise self.fault_error(fault, {})
                    resp = self.ok(route(params, req))
                except ApiError as e:
                    if not (e.save or e.status >= 500):
                        raise
                    resp = Response(e.status, json_bytes(e.body(req["request_id"], self.now())),
                                    dict(e.headers))
                except Exception:
                    # A handler bug while the endpoint executes: Stripe saves the 500.
                    sys.stderr.write(traceback.format_exc())
                    e = ApiError(500, "api_error", "An unknown error occurred")
                    resp = Response(500, json_bytes(e.body(req["request_id"], self.now())))
                self.idem[key] = {"path": path, "params": fp, "status": resp.status,
                                  "body": resp.body, "request_id": req["request_id"],
                                  "headers": {k: v for k, v in resp.headers.items()
                                              if k in ("Retry-After",)}}
                return resp
        finally:
            with self.lock:
                self.in_flight.discard(key)

    @staticmethod
    def ok(obj):
        return Response(200, json_bytes(obj))

    def route_get(self, path, params):
        parts = path.strip("/").split("/")
        if not parts or parts[0] != "v1":
            raise unrecognized("GET", path)
        p = parts[1:]
        joined = "/".join(p)
        if joined == "events":
            return self.list_events(params)
        if joined == "billing/credit_balance_summary":
            return self.credit_balance_summary(params)
        if joined in TOP_RESOURCES:
            return self.list_top(joined, params)
        # customers/{id}/balance_transactions[/{txn}], invoices/{id}/lines
        if len(p) >= 3 and p[0] == "customers" and p[2] == "balance_transactions":
            cus = self.customer_or_404(p[1])
            if len(p) == 3:
                return self.list_balance_transactions(cus, params)
            if len(p) == 4:
                check(params, {"expand": "expand"})
                o = self.objects.get(p[3])
                if not o or o.get("object") != "customer_balance_transaction" \
                        or o.get("customer") != cus["id"]:
                    raise no_such("customer_balance_transaction", p[3], "id", 404)
                return self.expand(o, params.get("expand"))
        if len(p) == 3 and p[0] == "invoices" and p[2] == "lines":
            return self.list_invoice_lines(p[1], params)
        for prefix, otype in list(((k, v[0]) for k, v in TOP_RESOURCES.items())) \
                + list(RETRIEVE_ONLY.items()):
            pre = prefix.split("/")
            if len(p) == len(pre) + 1 and p[:len(pre)] == pre and p[-1]:
                q = check(params, {"expand": "expand"})
                return self.retrieve(otype, p[-1], q.get("expand"))
        raise unrecognized("GET", path)

    def route_post(self, path):
        p = path.strip("/").split("/")
        if len(p) == 4 and p[0] == "v1" and p[1] == "customers" and p[3] == "balance_transactions":
            return lambda params, req: self.create_balance_transaction(p[2], params, req)
        if p == ["v1", "billing", "credit_grants"]:
            return self.create_credit_grant
        if len(p) == 4 and p[:2] == ["v1", "events"] and p[3] == "retry":
            return lambda params, req: self.retry_event(p[2], params, req)
        return None

    # --- reading ---------------------------------------------------------------------
    def visible_event(self, e):
        if self.retention is None:
            return True
        return e.get("created", 0) >= self.now() - self.retention

    def retrieve(self, otype, oid, expand):
        if otype == "event":
            e = self.events.get(oid)
            if e is None or not self.visible_event(e):
                raise no_such("event", oid, "id", 404)
            return self.expand(e, expand)
        if otype == "subscription_item":
            o = self.subscription_items_by_id().get(oid)
        else:
            o = self.objects.get(oid)
        if o is None or o.get("object") != otype:
            raise no_such(otype, oid, "id", 404)
        return self.render(o, expand)

    def render(self, o, expand):
        if o.get("object") == "entitlements.active_entitlement":
            o = {k: v for k, v in o.items() if k != "customer"}
        return self.expand(o, expand)

    def customer_or_404(self, cid):
        c = self.objects.get(cid)
        if c is None or c.get("object") != "customer" or c.get("deleted"):
            raise no_such("customer", cid, "id", 404)
        return c

    def need_customer(self, cid, param="customer"):
        c = self.objects.get(cid)
        if c is None or c.get("object") != "customer":
            raise no_such("customer", cid, param)
        return c

    def of_type(self, otype):
        return [o for o in self.objects.values() if o.get("object") == otype]

    def newest_first(self, items, order):
        return sorted(items, key=lambda o: (o.get("created") or 0, order.get(o["id"], 0)),
                      reverse=True)

    def page(self, url, ordered, matching, q, kind):
        """A list envelope: ordered is the whole collection in list order (the
        cursors are looked up there), matching the ones the filters keep."""
        if q.get("starting_after") is not None and q.get("ending_before") is not None:
            raise invalid("You may only specify one of these parameters: ending_before, "
                          "starting_after.", "ending_before")
        limit = q.get("limit", 10)
        pos = {o["id"]: i for i, o in enumerate(ordered)}
        if q.get("starting_after") is not None:
            cur = q["starting_after"]
            if cur not in pos:
                raise no_such(kind, cur, "starting_after")
            cand = [o for o in matching if pos[o["id"]] > pos[cur]]
            data, more = cand[:limit], len(cand) > limit
        elif q.get("ending_before") is not None:
            cur = q["ending_before"]
            if cur not in pos:
                raise no_such(kind, cur, "ending_before")
            cand = [o for o in matching if pos[o["id"]] < pos[cur]]
            data, more = cand[-limit:], len(cand) > limit
        else:
            data, more = matching[:limit], len(matching) > limit
        exp = []
        for e in q.get("expand") or []:
            if e.startswith("data."):
                exp.append(e[5:])
            else:
                raise invalid("This property cannot be expanded (%s). You may want to try "
                              "expanding 'data.%s' instead." % (e, e), "expand")
        return {"object": "list", "data": [self.render(o, exp) for o in data],
                "has_more": more, "url": url}

    def list_top(self, res, params):
        otype, extra = TOP_RESOURCES[res]
        spec = dict(LIST_SPEC)
        spec.update(extra)
        q = check(params, spec)
        url = "/v1/" + res
        if res == "subscription_items":
            if "subscription" not in q:
                raise missing_param("subscription")
            sub = self.objects.get(q["subscription"])
            if sub is None or sub.get("object") != "subscription":
                raise no_such("subscription", q["subscription"], "subscription")
            items = self.items_of(sub)
            return self.page(url, items, items, q, "subscription_item")
        if res == "entitlements/active_entitlements":
            if "customer" not in q:
                raise missing_param("customer")
            self.need_customer(q["customer"])
        elif q.get("customer") is not None:
            self.need_customer(q["customer"])
        allobjs = self.newest_first(self.of_type(otype), self.order)
        if otype == "customer":
            allobjs = [o for o in allobjs if not o.get("deleted")]
        keep = [o for o in allobjs if self.matches(otype, o, q)]
        return self.page(url, allobjs, keep, q, otype)

    def matches(self, otype, o, q):
        for k, v in q.items():
            if k in LIST_SPEC:
                continue
            if k == "created":
                if not in_range(o.get("created"), v):
                    return False
            elif k in ("current_period_end", "current_period_start"):
                val = o.get(k)
                if val is None:
                    its = (o.get("items") or {}).get("data") or []
                    val = its[0].get(k) if its else None
                if not in_range(val, v):
                    return False
            elif k == "due_date":
                if not in_range(o.get("due_date"), v):
                    return False
            elif k == "status" and otype == "subscription":
                st = o.get("status")
                if v == "all":
                    pass
                elif v == "ended":
                    if st not in ("canceled", "incomplete_expired"):
                        return False
                elif st != v:
                    return False
            elif k == "subscription" and otype == "invoice":
                sub = o.get("subscription")
                if sub is None:
                    sub = (((o.get("parent") or {}).get("subscription_details") or {})
                           .get("subscription"))
                if ref_id(sub) != v:
                    return False
            elif k == "price":
                its = (o.get("items") or {}).get("data") or []
                if not any(ref_id(it.get("price")) == v or ref_id(it.get("plan")) == v
                           for it in its):
                    return False
            elif k == "lookup_keys":
                if o.get("lookup_key") not in v:
                    return False
            elif isinstance(v, dict):
                sub = o.get(k) or {}
                for sk, sv in v.items():
                    if sv is not None and (sub.get(sk) if isinstance(sub, dict) else None) != sv:
                        return False
            elif k == "customer" and otype == "entitlements.active_entitlement":
                if ref_id(o.get("customer")) != v:
                    return False
            elif ref_id(o.get(k)) != v:
                return False
        if otype == "subscription" and "status" not in q and o.get("status") == "canceled":
            return False
        return True

    def items_of(self, sub):
        own = [o for o in self.of_type("subscription_item")
               if ref_id(o.get("subscription")) == sub["id"]]
        if own:
            return self.newest_first(own, self.order)
        return list((sub.get("items") or {}).get("data") or [])

    def subscription_items_by_id(self):
        out = {}
        for s in self.of_type("subscription"):
            for it in (s.get("items") or {}).get("data") or []:
                if isinstance(it, dict) and it.get("id"):
                    out[it["id"]] = it
        for o in self.of_type("subscription_item"):
            out[o["id"]] = o
        return out

    def list_invoice_lines(self, iid, params):
        q = check(params, dict(LIST_SPEC))
        inv = self.objects.get(iid)
        if inv is None or inv.get("object") != "invoice":
            raise no_such("invoice", iid, "id", 404)
        lines = list((inv.get("lines") or {}).get("data") or [])
        return self.page("/v1/invoices/%s/lines" % iid, lines, lines, q, "line_item")

    def list_balance_transactions(self, cus, params):
        spec = dict(LIST_SPEC)
        spec.update({"created": "range", "invoice": "id"})
        q = check(params, spec)
        allobjs = self.newest_first([o for o in self.of_type("customer_balance_transaction")
                                     if ref_id(o.get("customer")) == cus["id"]], self.order)
        keep = [o for o in allobjs
                if in_range(o.get("created"), q.get("created"))
                and ("invoice" not in q or ref_id(o.get("invoice")) == q["invoice"])]
        return self.page("/v1/customers/%s/balance_transactions" % cus["id"], allobjs, keep, q,
                         "customer_balance_transaction")

    def list_events(self, params):
        spec = dict(LIST_SPEC)
        spec.update({"created": "range", "type": "id", "types": ("strlist", 20),
                     "delivery_success": "bool"})
        q = check(params, spec)
        if "type" in q and "types" in q:
            raise invalid("You may only specify one of these parameters: type, types.", "type")
        allev = self.newest_first([e for e in self.events.values() if self.visible_event(e)],
                                  self.event_order)
        if "type" in q:
            rx = re.compile("^" + ".*".join(re.escape(s) for s in q["type"].split("*")) + "$")
            keep = [e for e in allev if rx.match(e.get("type") or "")]
        elif "types" in q:
            ts = set(q["types"])
            keep = [e for e in allev if e.get("type") in ts]
        else:
            keep = allev
        if "created" in q:
            keep = [e for e in keep if in_range(e.get("created"), q["created"])]
        if "delivery_success" in q:
            want = q["delivery_success"]
            keep = [e for e in keep if (int(e.get("pending_webhooks") or 0) == 0) == want]
        return self.page("/v1/events", allev, keep, q, "event")

    def credit_balance_summary(self, params):
        scope = {"price_type": ("enum", ("metered",)), "prices": ("list", {"id": "id"})}
        q = check(params, {"customer": "id", "customer_account": "id", "expand": "expand",
                           "filter": {"type": ("enum", ("applicability_scope", "credit_grant")),
                                      "applicability_scope": scope, "credit_grant": "id"}})
        if "customer" not in q and "customer_account" not in q:
            raise missing_param("customer")
        if "filter" not in q or not q["filter"]:
            raise missing_param("filter")
        flt = q["filter"]
        if "type" not in flt:
            raise missing_param("filter[type]")
        grants = [g for g in self.of_type("billing.credit_grant")
                  if ("customer" in q and ref_id(g.get("customer")) == q["customer"])
                  or ("customer_account" in q and g.get("customer_account") == q["customer_account"])]
        if "customer" in q:
            self.need_customer(q["customer"])
        if flt["type"] == "credit_grant":
            if "credit_grant" not in flt:
                raise missing_param("filter[credit_grant]")
            gid = flt["credit_grant"]
            if not any(g["id"] == gid for g in grants):
                raise no_such("billing.credit_grant", gid, "filter[credit_grant]")
            grants = [g for g in grants if g["id"] == gid]
        else:
            sc = flt.get("applicability_scope")
            if not sc:
                raise missing_param("filter[applicability_scope]")
            want_prices = {p["id"] for p in sc.get("prices") or []}

            def applies(g):
                gs = ((g.get("applicability_config") or {}).get("scope") or {})
                if sc.get("price_type") == "metered":
                    return gs.get("price_type") == "metered"
                gp = {ref_id(p.get("id") if isinstance(p, dict) else p)
                      for p in gs.get("prices") or []}
                return gs.get("price_type") == "metered" or bool(gp & want_prices)
            grants = [g for g in grants if applies(g)]
        now = self.now()
        debits = collections.defaultdict(int)
        for t in self.of_type("billing.credit_balance_transaction"):
            if t.get("type") == "debit":
                amt = (((t.get("debit") or {}).get("amount") or {}).get("monetary") or {})
                debits[ref_id(t.get("credit_grant"))] += int(amt.get("value") or 0)
        totals = collections.OrderedDict()
        for g in sorted(grants, key=lambda g: (g.get("created") or 0, self.order.get(g["id"], 0))):
            if g.get("voided_at") is not None:
                continue
            if g.get("effective_at") is not None and g["effective_at"] > now:
                continue
            if g.get("expires_at") is not None and g["expires_at"] <= now:
                continue
            mon = ((g.get("amount") or {}).get("monetary") or {})
            cur = mon.get("currency") or "usd"
            totals[cur] = totals.get(cur, 0) + int(mon.get("value") or 0) - debits.get(g["id"], 0)
        balances = []
        for cur, val in totals.items():
            m = {"monetary": {"currency": cur, "value": val}, "type": "monetary"}
            balances.append({"available_balance": m, "ledger_balance": copy.deepcopy(m)})
        out = {"object": "billing.credit_balance_summary", "balances": balances,
               "customer": q.get("customer"), "customer_account": q.get("customer_account"),
               "livemode": False}
        return self.expand(out, q.get("expand"))

    def expand(self, obj, paths):
        """A copy of obj with the id fields named in paths replaced by the
        objects they name (unknown ids and fields are left as they are)."""
        obj = copy.deepcopy(obj)
        for p in paths or []:
            self._expand(obj, p.split("."))
        return obj

    def _expand(self, node, segs):
        if isinstance(node, list):
            for x in node:
                self._expand(x, segs)
            return
        if not isinstance(node, dict) or not segs:
            return
        k = segs[0]
        if k not in node:
            return
        v = node[k]
        if isinstance(v, str):
            target = self.objects.get(v) or self.events.get(v)
            if target is None:
                return
            node[k] = v = copy.deepcopy(target)
        self._expand(v, segs[1:])

    # --- writes -------------------------------------------------------------------------
    def new_event(self, etype, obj, req, previous=None):
        n = len(self.endpoints)
        ev = {"id": rand_id("evt_1", 24), "object": "event", "api_version": self.api_version,
              "created": int(self.now()), "data": {"object": copy.deepcopy(obj)},
              "livemode": False, "pending_webhooks": n,
              "request": {"id": req["request_id"],
                          "idempotency_key": req["headers"].get("Idempotency-Key")},
              "type": etype}
        if previous is not None:
            ev["data"]["previous_attributes"] = previous
        self._put_event(ev)
        return ev

    def write_record(self, kind, req, params, obj_id, extra=None):
        rec = {"t": time.time(), "kind": kind, "method": req["method"], "path": req["path"],
               "request_id": req["request_id"],
               "idempotency_key": req["headers"].get("Idempotency-Key"),
               "object": obj_id, "params": params}
        if extra:
            rec.update(extra)
        self.log_write(rec)

    def create_balance_transaction(self, cid, params, req):
        q = check(params, {"amount": "int", "currency": "str", "description": "str",
                           "expand": "expand", "metadata": "metadata"})
        cus = self.customer_or_404(cid)
        if "amount" not in q:
            raise missing_param("amount")
        if "currency" not in q or not q["currency"]:
            raise missing_param("currency")
        cur = q["currency"].lower()
        if not re.fullmatch(r"[a-z]{3}", cur):
            raise invalid("Invalid currency: %s. Stripe currently supports these currencies: "
                          "usd, eur, gbp, ..." % q["currency"], "currency")
        if cus.get("currency") and cus["currency"] != cur:
            raise invalid("The currency of the balance transaction (%s) must match the "
                          "customer's currency (%s)." % (cur, cus["currency"]), "currency")
        now = int(self.now())
        old = int(cus.get("balance") or 0)
        prev = {"balance": old}
        if not cus.get("currency"):
            prev["currency"] = cus.get("currency")
            cus["currency"] = cur
        cus["balance"] = old + q["amount"]
        meta = {k: v for k, v in (q.get("metadata") or {}).items() if v != ""}
        txn = {"id": rand_id("cbtxn_1", 24), "object": "customer_balance_transaction",
               "amount": q["amount"], "checkout_session": None, "created": now,
               "credit_note": None, "currency": cur, "customer": cid,
               "customer_account": None, "description": q.get("description") or None,
               "ending_balance": cus["balance"], "invoice": None, "livemode": False,
               "metadata": meta, "type": "adjustment"}
        self._put(txn)
        self.new_event("customer.updated", cus, req, prev)
        self.write_record("customer_balance_transaction.create", req, params, txn["id"],
                          {"customer": cid, "amount": q["amount"]})
        return self.expand(txn, q.get("expand"))

    def create_credit_grant(self, params, req):
        scope = {"price_type": ("enum", ("metered",)), "prices": ("list", {"id": "id"})}
        q = check(params, {
            "amount": {"type": ("enum", ("monetary",)),
                       "monetary": {"currency": "str", "value": "int"}},
            "applicability_config": {"scope": scope},
            "category": ("enum", ("paid", "promotional")),
            "customer": "id", "customer_account": "id", "effective_at": "ts",
            "expand": "expand", "expires_at": "ts", "metadata": "metadata", "name": "str",
            "priority": ("int", 0, 100)})
        amount = q.get("amount")
        if not amount:
            raise missing_param("amount")
        if "type" not in amount:
            raise missing_param("amount[type]")
        mon = amount.get("monetary")
        if not mon:
            raise missing_param("amount[monetary]")
        for k in ("currency", "value"):
            if mon.get(k) in (None, ""):
                raise missing_param("amount[monetary][%s]" % k)
        if mon["value"] <= 0:
            raise invalid("This value must be greater than or equal to 1.",
                          "amount[monetary][value]")
        ac = q.get("applicability_config")
        if not ac:
            raise missing_param("applicability_config")
        sc = ac.get("scope")
        if not sc:
            raise missing_param("applicability_config[scope]")
        if not sc.get("price_type") and not sc.get("prices"):
            raise invalid("You must specify either price_type or prices.",
                          "applicability_config[scope]")
        if "customer" not in q and "customer_account" not in q:
            raise missing_param("customer")
        if "customer" in q:
            c = self.objects.get(q["customer"])
            if c is None or c.get("object") != "customer" or c.get("deleted"):
                raise no_such("customer", q["customer"], "customer")
        if q.get("name") is not None and len(q["name"]) > 100:
            raise invalid("Invalid string: %s...; must be at most 100 characters"
                          % q["name"][:10], "name")
        now = int(self.now())
        if q.get("expires_at") is not None and q["expires_at"] <= now:
            raise invalid("expires_at must be in the future.", "expires_at")
        scope_out = {"price_type": sc["price_type"]} if sc.get("price_type") else \
            {"prices": [{"id": p["id"]} for p in sc["prices"]]}
        grant = {"id": rand_id("credgr_test_", 28), "object": "billing.credit_grant",
                 "amount": {"monetary": {"currency": mon["currency"].lower(),
                                         "value": mon["value"]}, "type": "monetary"},
                 "applicability_config": {"scope": scope_out},
                 "category": q.get("category") or "paid", "created": now,
                 "customer": q.get("customer"), "customer_account": q.get("customer_account"),
                 "effective_at": q.get("effective_at") or now,
                 "expires_at": q.get("expires_at"), "livemode": False,
                 "metadata": {k: v for k, v in (q.get("metadata") or {}).items() if v != ""},
                 "name": q.get("name") or None,
                 "priority": q["priority"] if q.get("priority") is not None else 50,
                 "test_clock": None, "updated": now, "voided_at": None}
        self._put(grant)
        self.new_event("billing.credit_grant.created", grant, req)
        self.write_record("billing.credit_grant.create", req, params, grant["id"],
                          {"customer": q.get("customer"), "amount": mon["value"]})
        return self.expand(grant, q.get("expand"))

    def retry_event(self, eid, params, req):
        q = check(params, {"webhook_endpoint": "id", "for_stripecli": "bool", "account": "id",
                           "expand": "expand"})
        ev = self.events.get(eid)
        if ev is None or not self.visible_event(ev):
            raise no_such("event", eid, "id", 404)
        we = q.get("webhook_endpoint")
        if we is None and not q.get("for_stripecli"):
            raise missing_param("webhook_endpoint")
        if we is not None and we not in self.endpoints:
            raise no_such("webhook_endpoint", we, "webhook_endpoint")
        self.write_record("event.retry", req, params, eid,
                          {"webhook_endpoint": we,
                           "url": (self.endpoints.get(we) or {}).get("url")})
        return self.expand(ev, q.get("expand"))

    # --- control ------------------------------------------------------------------------
    def control(self, method, path, body):
        """(status, obj) for a /_fake/ request."""
        if path == "/_fake/health" and method == "GET":
            with self.lock:
                return 200, {"ok": True, "now": int(self.now()), "objects": len(self.objects),
                             "events": len(self.events), "faults": len(self.faults),
                             "idempotency_keys": len(self.idem)}
        if path == "/_fake/requests" and method == "GET":
            with self.log_lock:
                return 200, list(self.requests)
        if path == "/_fake/faults" and method == "GET":
            with self.lock:
                return 200, copy.deepcopy(self.faults)
        if path == "/_fake/faults" and method == "POST":
            try:
                rules = json.loads(body.decode("utf-8") or "[]")
                if isinstance(rules, dict) and "faults" in rules:
                    rules = rules["faults"]
                rules = self.check_faults(rules)
            except (ValueError, UnicodeDecodeError) as e:
                return 400, {"error": str(e)}
            with self.lock:
                self.faults = rules
            return 200, {"ok": True, "faults": len(rules)}
        if path == "/_fake/reload" and method == "POST":
            try:
                self.load()
            except (OSError, ValueError) as e:
                return 400, {"error": str(e)}
            with self.lock:
                return 200, {"ok": True, "objects": len(self.objects),
                             "events": len(self.events)}
        return 404, {"error": "no such control endpoint: %s %s" % (method, path)}


# --- HTTP ------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.fake.verbose:
            sys.stderr.write("fake_stripe: %s - %s\n" % (self.address_string(), fmt % args))

    def date_time_string(self, timestamp=None):
        if timestamp is None:
            timestamp = self.server.fake.now()
        return email.utils.formatdate(timestamp, usegmt=True)

    def send_error(self, code, message=None, explain=None):
        # Malformed requests: a JSON error instead of http.server's HTML page.
        try:
            body = json_bytes({"error": {"message": message or "Bad request",
                                         "type": "invalid_request_error"}})
            self.close_connection = True
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def do_GET(self):
        try:
            self.dispatch()
        except Exception:
            sys.stderr.write(traceback.format_exc())
            self.send_error(500, "An unknown error occurred")

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def dispatch(self):
        fake = self.server.fake
        t = time.time()
        method = self.command
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.send_error(400, "Bad request body")
            return
        if path.startswith("/_fake/"):
            try:
                status, obj = fake.control(method, path, body)
            except Exception:
                sys.stderr.write(traceback.format_exc())
                status, obj = 500, {"error": "internal error in the fake (see its stderr)"}
            self.send(Response(status, json_bytes(obj)), {})
            return
        rid = rand_id("req_", 14)
        idem = self.headers.get("Idempotency-Key")
        form = None
        if method == "POST":
            form = {}
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype in ("", "application/x-www-form-urlencoded"):
                try:
                    form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
                except (UnicodeDecodeError, ValueError):
                    pass
        log = {"t": t, "method": method, "path": path,
               "query": urllib.parse.parse_qs(split.query, keep_blank_values=True),
               "form": form, "idempotency_key": idem,
               "stripe_version": self.headers.get("Stripe-Version"), "auth": None,
               "status": None, "request_id": rid, "fault": None, "replayed": False}
        req = {"method": method, "path": path, "query": split.query, "headers": self.headers,
               "body": body, "request_id": rid, "log": log}
        try:
            resp = fake.handle(req)
        except ApiError as e:
            resp = Response(e.status, json_bytes(e.body(rid, fake.now())), dict(e.headers))
        except Exception:
            sys.stderr.write(traceback.format_exc())
            e = ApiError(500, "api_error", "An unknown error occurred")
            resp = Response(500, json_bytes(e.body(rid, fake.now())))
        if log["auth"] is None:
            log["auth"] = fake.auth_state(self.headers.get("Authorization"))
        log["status"] = resp.status
        sv = self.headers.get("Stripe-Version")
        hdrs = {"Request-Id": rid}
        if sv:
            hdrs["Stripe-Version"] = sv
        elif fake.api_version:
            hdrs["Stripe-Version"] = fake.api_version
        if method == "POST" and idem:
            hdrs["Idempotency-Key"] = idem
        try:
            fake.log_request(log)
        except OSError:
            sys.stderr.write(traceback.format_exc())
        self.send(resp, hdrs)

    def send(self, resp, hdrs):
        try:
            if resp.action == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.send_response(resp.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(resp.body)))
            self.send_header("Cache-Control", "no-cache, no-store")
            for k, v in list(hdrs.items()) + list(resp.headers.items()):
                self.send_header(k, v)
            if resp.action == "truncate":
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return
            if resp.action == "truncate":
                self.close_connection = True
                self.wfile.write(resp.body[:len(resp.body) // 2])
                self.wfile.flush()
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.wfile.write(resp.body)
        except OSError:
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # Client disconnects and the like: keep the log short.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout)):
            return
        sys.stderr.write(traceback.format_exc())


def main(argv=None):
    p = argparse.ArgumentParser(description="A fake Stripe API for tally's tests.")
    p.add_argument("--state", required=True, help="state folder (state.json; logs go there)")
    p.add_argument("--port-file", help="write the port number here once listening")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free one)")
    p.add_argument("--verbose", action="store_true", help="log each request to stderr")
    a = p.parse_args(argv)
    try:
        fake = Fake(a.state, a.verbose)
    except (OSError, ValueError) as e:
        sys.stderr.write("fake_stripe: %s\n" % e)
        return 2
    try:
        httpd = Server(("127.0.0.1", a.port), Handler)
    except OSError as e:
        sys.stderr.write("fake_stripe: cannot listen on 127.0.0.1:%d: %s\n" % (a.port, e))
        return 2
    httpd.fake = fake
    port = httpd.server_address[1]

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    if a.verbose:
        sys.stderr.write("fake_stripe: listening on 127.0.0.1:%d\n" % port)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
