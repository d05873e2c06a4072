#!/usr/bin/env python3
"""Shopify emulator for synchub tests: a subset of the GraphQL Admin API plus a webhook sender.

Run standalone:   python3 tests/sim/shopify_sim.py --port 8071 [--bucket 1000 --restore 50] [--orders]
                  (prints one JSON "ready" line with the URL, shop, access token and API versions on stdout)
Import in tests:  from shopify_sim import ShopifySim, send_webhooks, sign
                  sim = ShopifySim(port=0, bucket=100, restore=20); sim.start(); ...; sim.stop()

What it speaks (tests/sim/README.md has the full list and every assumption made where the references are silent):
- POST /admin/api/<version>/graphql.json   X-Shopify-Access-Token; a hand-written parser and executor for the
  GraphQL documents synchub sends (operations, variables, aliases, fragments, @include/@skip, @idempotent),
  Shopify's calculated query cost and leaky bucket (extensions.cost, THROTTLED, MAX_COST_EXCEEDED), userErrors,
  idempotency keys and the changeFromQuantity / compareQuantity compare-and-swap of inventorySetQuantities.
- A webhook sender that signs like Shopify (X-Shopify-Hmac-Sha256 = base64 HMAC-SHA256 of the raw body) and can
  duplicate, reorder, delay and burst deliveries; webhook subscriptions that fire on state changes.
- test API /__sim__/...  (faults, state, call log, drift injection, bulk products, orders, webhooks, clock,
  reset): not Shopify.

The references are shared/reference/platform-facts.md sections 1 and 2 and the sample bodies in
shared/fixtures/shopify (shop acme-outfitters.myshopify.com, SKUs ACME-TEE-BLK-M, ACME-MUG-350, ACME-CAP-NVY).

Python 3 standard library only. State lives in memory under one lock; nothing survives a restart. The HTTP server
plumbing it shares with odoo_sim.py is in sim_http.py (same folder).
"""

import argparse
import base64
import copy
import datetime
import hashlib
import hmac
import http.client
import json
import os
import queue
import re
import socket
import ssl
import sys
import threading
import time
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

from sim_http import Drop, HttpSim, SimHandler, jsonable, serve_until_signalled

# ----------------------------------------------------------------------------------------------------------------
# Constants

DEFAULT_SHOP = "acme-outfitters.myshopify.com"
# Deterministic token in the shape of a custom-app Admin API token (shpat_ + 32 hex digits).
DEFAULT_TOKEN = "shpat_" + hashlib.sha1(b"shopify-sim admin api token").hexdigest()[:32]
DEFAULT_VERSIONS = ("2025-01", "2025-04", "2025-07", "2025-10", "2026-01", "2026-04", "2026-07", "2026-10",
                    "unstable")
DEFAULT_PORT = 8071
DEFAULT_BUCKET = 1000.0      # Standard plan, older published figures (platform-facts.md section 2)
DEFAULT_RESTORE = 50.0
MAX_QUERY_COST = 1000        # "at most 1,000 points per query"
MAX_INPUT_ARRAY = 250        # "250 items per array input"
MAX_PAGE_SIZE = 250
IDEMPOTENCY_TTL_S = 24 * 3600

INVALID_TOKEN_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
NOT_FOUND_BODY = {"errors": "Not Found"}
BAD_QUERY_BODY = {"errors": {"query": "Required parameter missing or invalid"}}
TOO_MANY_REQUESTS_BODY = {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                                    "uninterrupted service."}
RATE_LIMIT_DOC = "https://shopify.dev/api/usage/rate-limits"
MAX_COST_MESSAGE = (
    "Query cost is %d, which exceeds the single query max cost limit (%d).\n\n"
    "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
    "cost of a query is calculated.\n\n"
    "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
    "See https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n")
INTERNAL_ERROR_MESSAGE = ("Internal error. Looks like something went wrong on our end.\nRequest ID: %s (include this "
                          "in support requests).")

QUANTITY_NAMES = ("available", "committed", "damaged", "incoming", "on_hand", "quality_control", "reserved",
                  "safety_stock")
# on_hand = available + every unavailable state except incoming
ON_HAND_PARTS = ("available", "committed", "damaged", "quality_control", "reserved", "safety_stock")
INVENTORY_REASONS = ("correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
                     "movement_received", "movement_canceled", "other", "promotion", "quality_control", "received",
                     "reservation_created", "reservation_deleted", "reservation_updated", "restock",
                     "safety_stock", "shrinkage")
MAX_QUANTITY = 1000000000

# Version gates (platform-facts.md section 2): @idempotent from 2026-01, mandatory for the inventory mutations from
# 2026-04; changeFromQuantity from 2026-01, mandatory from 2026-04 when compareQuantity/ignoreCompareQuantity go.
V_IDEMPOTENT = "2026-01"
V_IDEMPOTENT_MANDATORY = "2026-04"
V_CHANGE_FROM = "2026-01"
V_CHANGE_FROM_MANDATORY = "2026-04"
IDEMPOTENT_MANDATORY_FIELDS = ("inventorySetQuantities", "inventoryAdjustQuantities")

WEBHOOK_API_VERSION = "2026-10"
WEBHOOK_USER_AGENT = "Shopify-Captain-Hook"

FAULT_MODES = ("none", "down", "timeout", "slow", "http_500", "http_502", "http_503", "http_504", "429",
               "commit_then_drop", "throttle", "throttle_now", "internal_error", "refuse")
GATEWAY_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                   504: "Gateway Timeout"}

UTC = datetime.timezone.utc
SHOP_TZ = datetime.timezone(datetime.timedelta(hours=-5))   # the fixtures' offset (America/New_York in November)

HERE = Path(__file__).resolve().parent


def default_fixtures_dir():
    """$SYNCHUB_FIXTURES, else <repo>/../shared/fixtures/shopify (the integration suite's convention)."""
    env = os.environ.get("SYNCHUB_FIXTURES")
    if env:
        return Path(env)
    return HERE.parents[1].parent / "shared" / "fixtures" / "shopify"


# ----------------------------------------------------------------------------------------------------------------
# Small helpers

def vkey(version):
    """Sortable key of an API version string; "unstable" sorts after every dated version."""
    return "9999-99" if version == "unstable" else version


def v_at_least(version, floor):
    return vkey(version) >= vkey(floor)


def parse_time(value):
    """ISO 8601 (Z or offset), a date alone, or 'YYYY-MM-DD HH:MM:SS' (UTC) -> aware datetime."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    s = str(value).strip().strip("'\"")
    if re.match(r"^\d{4}-\d{2}-\d{2}$", s):
        return datetime.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=UTC)
    s = s.replace(" ", "T", 1)
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", s)
    if m and m.group(2) and len(m.group(2)) > 7:      # fromisoformat takes at most microseconds
        s = m.group(1) + m.group(2)[:7] + m.group(3)
    dt = datetime.datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def gql_time(dt):
    return None if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rest_time(dt):
    return None if dt is None else dt.astimezone(SHOP_TZ).isoformat(timespec="seconds")


def triggered_at_str(dt):
    """X-Shopify-Triggered-At: UTC with nanoseconds, as Shopify sends it."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d000Z" % dt.microsecond


def dec(value):
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError("not a decimal amount: %r" % (value,))


def money2(value):
    return "%.2f" % dec(value)


def gql_decimal(value):
    """Shopify's Decimal scalar: no trailing zeros, at least one decimal ("24.0", "12.5", "86.49")."""
    text = format(dec(value).normalize(), "f")
    return text if "." in text else text + ".0"


def gid(kind, rid):
    return "gid://shopify/%s/%s" % (kind, rid)


GID_RE = re.compile(r"^gid://shopify/([A-Za-z]+)/([0-9]+)$")


def gid_id(value, kind):
    """Numeric id of a GID of the given kind, else None (wrong kind, query string, garbage)."""
    m = GID_RE.match(str(value)) if isinstance(value, (str, int)) else None
    if not m or m.group(1) != kind:
        return None
    return int(m.group(2))


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def sign(body, secret):
    """Shopify's X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(secret, raw body bytes))."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode("ascii")


# ----------------------------------------------------------------------------------------------------------------
# GraphQL: lexer and parser (the executable-document subset of the GraphQL spec)

class GraphQLError(Exception):
    """One entry of the response's top-level "errors" list."""

    def __init__(self, message, locations=None, path=None, extensions=None):
        super().__init__(message)
        self.message = message
        self.locations = locations
        self.path = path
        self.extensions = extensions

    def to_dict(self):
        out = {"message": self.message}
        if self.locations:
            out["locations"] = [{"line": l, "column": c} for (l, c) in self.locations]
        if self.path is not None:
            out["path"] = list(self.path)
        if self.extensions:
            out["extensions"] = self.extensions
        return out


class ValidationErrors(Exception):
    def __init__(self, errors):
        super().__init__("%d error(s)" % len(errors))
        self.errors = errors


TOKEN_NAMES = {"{": "LCURLY", "}": "RCURLY", "(": "LPAREN", ")": "RPAREN", "[": "LBRACKET", "]": "RBRACKET",
               ":": "COLON", "=": "EQUALS", "!": "BANG", "$": "VAR_SIGN", "@": "DIR_SIGN", "&": "AMP", "|": "PIPE",
               "...": "ELLIPSIS", "NAME": "IDENTIFIER", "STRING": "STRING", "INT": "INT", "FLOAT": "FLOAT"}
NUMBER_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
NAME_RE = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def _parse_error(tok):
    kind, value, (line, col) = tok
    if kind == "EOF":
        return GraphQLError("Unexpected end of document", [(line, col)])
    shown = value if kind != "STRING" else json.dumps(value)
    return GraphQLError('Parse error on "%s" (%s) at [%d, %d]' % (shown, TOKEN_NAMES.get(kind, kind), line, col),
                        [(line, col)])


def tokenize(src):
    tokens = []
    i, n, line, line_start = 0, len(src), 1, 0
    while i < n:
        c = src[i]
        if c in " \t,\ufeff":
            i += 1
            continue
        if c == "\n" or c == "\r":
            if c == "\r" and i + 1 < n and src[i + 1] == "\n":
                i += 1
            i += 1
            line, line_start = line + 1, i
            continue
        if c == "#":
            while i < n and src[i] not in "\r\n":
                i += 1
            continue
        loc = (line, i - line_start + 1)
        if src.startswith("...", i):
            tokens.append(("...", "...", loc))
            i += 3
            continue
        if c in "{}()[]:=!$@&|":
            tokens.append((c, c, loc))
            i += 1
            continue
        m = NAME_RE.match(src, i)
        if m:
            tokens.append(("NAME", m.group(0), loc))
            i = m.end()
            continue
        if c == "-" or c.isdigit():
            m = NUMBER_RE.match(src, i)
            if not m or (m.end() < n and (NAME_RE.match(src, m.end()) or src[m.end()] == ".")):
                raise _parse_error(("CHAR", src[i:(m.end() if m else i) + 1], loc))
            text = m.group(0)
            if m.group(2) or m.group(3):
                tokens.append(("FLOAT", float(text), loc))
            else:
                tokens.append(("INT", int(text), loc))
            i = m.end()
            continue
        if c == '"':
            if src.startswith('"""', i):
                end = i + 3
                buf = []
                while True:
                    if end >= n:
                        raise GraphQLError("Unterminated string", [loc])
                    if src.startswith('\\"""', end):
                        buf.append('"""')
                        end += 4
                        continue
                    if src.startswith('"""', end):
                        break
                    if src[end] == "\n":
                        line, line_start = line + 1, end + 1
                    buf.append(src[end])
                    end += 1
                tokens.append(("STRING", _block_string("".join(buf)), loc))
                i = end + 3
                continue
            j = i + 1
            buf = []
            while True:
                if j >= n or src[j] in "\r\n":
                    raise GraphQLError("Unterminated string", [loc])
                ch = src[j]
                if ch == '"':
                    break
                if ch == "\\":
                    esc = src[j + 1] if j + 1 < n else ""
                    simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
                    if esc in simple:
                        buf.append(simple[esc])
                        j += 2
                        continue
                    if esc == "u" and re.match(r"[0-9A-Fa-f]{4}", src[j + 2:j + 6]):
                        buf.append(chr(int(src[j + 2:j + 6], 16)))
                        j += 6
                        continue
                    raise GraphQLError("Bad unicode escape in string", [loc])
                buf.append(ch)
                j += 1
            tokens.append(("STRING", "".join(buf), loc))
            i = j + 1
            continue
        raise _parse_error(("CHAR", c, loc))
    tokens.append(("EOF", None, (line, i - line_start + 1)))
    return tokens


def _block_string(raw):
    lines = raw.replace("\r\n", "\n").split("\n")
    indent = None
    for ln in lines[1:]:
        stripped = ln.lstrip(" \t")
        if stripped:
            k = len(ln) - len(stripped)
            indent = k if indent is None else min(indent, k)
    if indent:
        lines = [lines[0]] + [ln[indent:] for ln in lines[1:]]
    while lines and not lines[0].strip(" \t"):
        lines.pop(0)
    while lines and not lines[-1].strip(" \t"):
        lines.pop()
    return "\n".join(lines)


class Val:
    """A value literal: kind in var/int/float/str/bool/null/enum/list/obj."""
    __slots__ = ("kind", "value", "loc")

    def __init__(self, kind, value, loc):
        self.kind, self.value, self.loc = kind, value, loc


class Field:
    __slots__ = ("alias", "name", "args", "directives", "selections", "loc", "cargs", "cdirs")

    def __init__(self, alias, name, args, directives, selections, loc):
        self.alias, self.name, self.args, self.directives = alias, name, args, directives
        self.selections, self.loc = selections, loc
        self.cargs = None     # coerced arguments (set by validation)
        self.cdirs = None     # coerced directive arguments: {name: {arg: value}}

    @property
    def key(self):
        return self.alias or self.name


class Spread:
    __slots__ = ("name", "directives", "loc", "cdirs")

    def __init__(self, name, directives, loc):
        self.name, self.directives, self.loc, self.cdirs = name, directives, loc, None


class Inline:
    __slots__ = ("type_cond", "directives", "selections", "loc", "cdirs")

    def __init__(self, type_cond, directives, selections, loc):
        self.type_cond, self.directives, self.selections, self.loc = type_cond, directives, selections, loc
        self.cdirs = None


class Directive:
    __slots__ = ("name", "args", "loc")

    def __init__(self, name, args, loc):
        self.name, self.args, self.loc = name, args, loc


class Operation:
    __slots__ = ("kind", "name", "var_defs", "directives", "selections", "loc")

    def __init__(self, kind, name, var_defs, directives, selections, loc):
        self.kind, self.name, self.var_defs, self.directives = kind, name, var_defs, directives
        self.selections, self.loc = selections, loc


class Fragment:
    __slots__ = ("name", "type_cond", "directives", "selections", "loc")

    def __init__(self, name, type_cond, directives, selections, loc):
        self.name, self.type_cond, self.directives, self.selections, self.loc = (
            name, type_cond, directives, selections, loc)


class Parser:
    def __init__(self, src):
        self.toks = tokenize(src)
        self.pos = 0

    def peek(self, kind=None, value=None):
        tok = self.toks[self.pos]
        if kind is not None and tok[0] != kind:
            return False
        if value is not None and tok[1] != value:
            return False
        return tok

    def take(self, kind, value=None):
        tok = self.toks[self.pos]
        if tok[0] != kind or (value is not None and tok[1] != value):
            raise _parse_error(tok)
        self.pos += 1
        return tok

    def document(self):
        ops, frags = [], {}
        if self.peek("EOF"):
            raise GraphQLError("Unexpected end of document", [self.toks[self.pos][2]])
        while not self.peek("EOF"):
            tok = self.peek()
            if tok[0] == "{":
                ops.append(Operation("query", None, [], [], self.selection_set(), tok[2]))
            elif tok[0] == "NAME" and tok[1] in ("query", "mutation", "subscription"):
                ops.append(self.operation())
            elif tok[0] == "NAME" and tok[1] == "fragment":
                frag = self.fragment()
                if frag.name in frags:
                    raise GraphQLError('Fragment name "%s" must be unique' % frag.name, [frag.loc],
                                       extensions={"code": "fragmentNamesNotUnique", "fragmentName": frag.name})
                frags[frag.name] = frag
            else:
                raise _parse_error(tok)
        return ops, frags

    def operation(self):
        tok = self.take("NAME")
        name = None
        if self.peek("NAME"):
            name = self.take("NAME")[1]
        var_defs = []
        if self.peek("("):
            self.take("(")
            while not self.peek(")"):
                vloc = self.take("$")[2]
                vname = self.take("NAME")[1]
                self.take(":")
                vtype = self.type_ref()
                default = None
                has_default = False
                if self.peek("="):
                    self.take("=")
                    default = self.value(const=True)
                    has_default = True
                self.directives()
                var_defs.append((vname, vtype, has_default, default, vloc))
            self.take(")")
        directives = self.directives()
        return Operation(tok[1], name, var_defs, directives, self.selection_set(), tok[2])

    def fragment(self):
        tok = self.take("NAME", "fragment")
        name_tok = self.take("NAME")
        if name_tok[1] == "on":
            raise _parse_error(name_tok)
        self.take("NAME", "on")
        type_cond = self.take("NAME")[1]
        directives = self.directives()
        return Fragment(name_tok[1], type_cond, directives, self.selection_set(), tok[2])

    def type_ref(self):
        if self.peek("["):
            self.take("[")
            inner = self.type_ref()
            self.take("]")
            text = "[%s]" % inner
        else:
            text = self.take("NAME")[1]
        if self.peek("!"):
            self.take("!")
            text += "!"
        return text

    def selection_set(self):
        self.take("{")
        sels = []
        while not self.peek("}"):
            sels.append(self.selection())
        self.take("}")
        if not sels:
            raise _parse_error(self.toks[self.pos - 1])
        return sels

    def selection(self):
        tok = self.peek()
        if tok[0] == "...":
            self.take("...")
            if self.peek("NAME", "on"):
                self.take("NAME")
                cond = self.take("NAME")[1]
                dirs = self.directives()
                return Inline(cond, dirs, self.selection_set(), tok[2])
            if self.peek("NAME"):
                name = self.take("NAME")[1]
                return Spread(name, self.directives(), tok[2])
            dirs = self.directives()
            return Inline(None, dirs, self.selection_set(), tok[2])
        name_tok = self.take("NAME")
        alias, name = None, name_tok[1]
        if self.peek(":"):
            self.take(":")
            alias, name = name, self.take("NAME")[1]
        args = self.arguments(const=False)
        dirs = self.directives()
        sels = self.selection_set() if self.peek("{") else None
        return Field(alias, name, args, dirs, sels, name_tok[2])

    def arguments(self, const):
        args = {}
        if not self.peek("("):
            return args
        self.take("(")
        while not self.peek(")"):
            ntok = self.take("NAME")
            self.take(":")
            if ntok[1] in args:
                raise GraphQLError('There can be only one argument named "%s"' % ntok[1], [ntok[2]],
                                   extensions={"code": "argumentNotUnique", "name": ntok[1]})
            args[ntok[1]] = self.value(const)
        self.take(")")
        return args

    def directives(self):
        out = []
        while self.peek("@"):
            loc = self.take("@")[2]
            name = self.take("NAME")[1]
            out.append(Directive(name, self.arguments(const=False), loc))
        return out

    def value(self, const):
        tok = self.peek()
        kind, value, loc = tok
        if kind == "$" and not const:
            self.take("$")
            return Val("var", self.take("NAME")[1], loc)
        if kind == "INT":
            self.pos += 1
            return Val("int", value, loc)
        if kind == "FLOAT":
            self.pos += 1
            return Val("float", value, loc)
        if kind == "STRING":
            self.pos += 1
            return Val("str", value, loc)
        if kind == "NAME":
            self.pos += 1
            if value in ("true", "false"):
                return Val("bool", value == "true", loc)
            if value == "null":
                return Val("null", None, loc)
            return Val("enum", value, loc)
        if kind == "[":
            self.take("[")
            items = []
            while not self.peek("]"):
                items.append(self.value(const))
            self.take("]")
            return Val("list", items, loc)
        if kind == "{":
            self.take("{")
            fields = {}
            while not self.peek("}"):
                ntok = self.take("NAME")
                self.take(":")
                fields[ntok[1]] = self.value(const)
            self.take("}")
            return Val("obj", fields, loc)
        raise _parse_error(tok)


def parse_document(src):
    return Parser(src).document()


# ----------------------------------------------------------------------------------------------------------------
# GraphQL: type system, input coercion, validation, cost and execution

SCALARS = {"String", "Int", "Float", "Boolean", "ID", "DateTime", "Decimal", "Money", "URL", "UnsignedInt64", "JSON",
           "HTML", "FormattedString"}
ENUMS = {}        # name -> tuple of members (input enums are checked) or None (output only)
INPUTS = {}       # name -> {field: (type, min_version, removed_in_version)}
OBJECTS = {}      # name -> {"fields": {name: FieldDef}, "interfaces": [...], "conn": node type, "free": bool}
INTERFACES = {}   # name -> {"fields": {...}}
NO_DEFAULT = object()
ABSENT = object()


class FieldDef:
    __slots__ = ("type", "fn", "args", "minv", "maxv", "size")

    def __init__(self, type, fn=None, args=None, minv=None, maxv=None, size=None):
        self.type, self.fn, self.minv, self.maxv, self.size = type, fn, minv, maxv, size
        self.args = {}
        for name, spec in (args or {}).items():
            if isinstance(spec, str):
                spec = (spec, NO_DEFAULT, None, None)
            self.args[name] = spec


def F(type, fn=None, args=None, minv=None, maxv=None, size=None):
    return FieldDef(type, fn, args, minv, maxv, size)


def A(type, default=NO_DEFAULT, minv=None, maxv=None):
    return (type, default, minv, maxv)


def in_version(minv, maxv, version):
    return (minv is None or v_at_least(version, minv)) and (maxv is None or vkey(version) < vkey(maxv))


def strip_nn(t):
    return t[:-1] if t.endswith("!") else t


def base_name(t):
    return t.replace("[", "").replace("]", "").replace("!", "")


def is_leaf(name):
    return name in SCALARS or name in ENUMS


def type_def(name):
    return OBJECTS.get(name) or INTERFACES.get(name)


def field_def(type_name, fname, version):
    td = type_def(type_name)
    fd = td["fields"].get(fname) if td else None
    if fd is None or not in_version(fd.minv, fd.maxv, version):
        return None
    return fd


def input_fields(name, version):
    return {k: spec[0] for k, spec in INPUTS[name].items() if in_version(spec[1], spec[2], version)}


def possible_types(name):
    if name in OBJECTS:
        return {name}
    return {t for t, td in OBJECTS.items() if name in td.get("interfaces", ())}


def print_literal(v):
    if v.kind == "var":
        return "$" + v.value
    if v.kind == "str":
        return json.dumps(v.value)
    if v.kind == "bool":
        return "true" if v.value else "false"
    if v.kind == "null":
        return "null"
    if v.kind in ("int", "float", "enum"):
        return str(v.value)
    if v.kind == "list":
        return "[" + ", ".join(print_literal(x) for x in v.value) + "]"
    return "{" + ", ".join("%s: %s" % (k, print_literal(x)) for k, x in v.value.items()) + "}"


class InputProblem(Exception):
    def __init__(self, path, explanation):
        super().__init__(explanation)
        self.path, self.explanation = path, explanation


def _int32(v):
    return isinstance(v, int) and not isinstance(v, bool) and -2 ** 31 <= v < 2 ** 31


def coerce_scalar_json(value, name, path):
    bad = InputProblem(path, "Could not coerce value %s to %s" % (json.dumps(value), name))
    if name == "Int":
        if not _int32(value):
            raise bad
        return value
    if name == "Float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if name == "Boolean":
        if not isinstance(value, bool):
            raise bad
        return value
    if name == "ID":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise bad
        return str(value)
    if name in ("Decimal", "Money"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise bad
        try:
            dec(value)
        except ValueError:
            raise bad
        return str(value)
    if name == "UnsignedInt64":
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not re.match(r"^[0-9]+$", str(value)):
            raise bad
        return str(value)
    if name == "DateTime":
        if not isinstance(value, str):
            raise bad
        try:
            parse_time(value)
        except ValueError:
            raise bad
        return value
    if name == "JSON":
        return value
    if not isinstance(value, str):        # String, URL, HTML, FormattedString
        raise bad
    return value


def coerce_json(value, t, path, version):
    """Coerce a JSON variable value to type t (GraphQL input coercion); raises InputProblem."""
    if value is None:
        if t.endswith("!"):
            raise InputProblem(path, "Expected value to not be null")
        return None
    t0 = strip_nn(t)
    if t0.startswith("["):
        inner = t0[1:-1]
        if not isinstance(value, list):
            value = [value]
        return [coerce_json(v, inner, path + [i], version) for i, v in enumerate(value)]
    if t0 in INPUTS:
        if not isinstance(value, dict):
            raise InputProblem(path, "Expected %s to be a key-value object." % json.dumps(value))
        spec = input_fields(t0, version)
        out = {}
        for k, v in value.items():
            if k not in spec:
                raise InputProblem(path + [k], "Field is not defined on %s" % t0)
            out[k] = coerce_json(v, spec[k], path + [k], version)
        for k, ft in spec.items():
            if ft.endswith("!") and k not in value:
                raise InputProblem(path + [k], "Expected value to not be null")
        return out
    if t0 in ENUMS:
        members = ENUMS[t0]
        if not isinstance(value, str) or (members and value not in members):
            raise InputProblem(path, "Expected %s to be one of: %s" % (json.dumps(value), ", ".join(members or ())))
        return value
    return coerce_scalar_json(value, t0, path)


class Prepared:
    """A parsed, validated request: the operation, fragments and coerced variables."""

    def __init__(self):
        self.op = None
        self.frags = {}
        self.var_types = {}      # name -> (type, has_default)
        self.var_values = {}     # name -> coerced value (absent when not provided and no default)
        self.op_label = "query"
        self.root = "QueryRoot"
        self.fields = []         # top-level field names (for fault matching / the call log)


def _vars_used_in_value(v, out):
    if v.kind == "var":
        out.append((v.value, v.loc))
    elif v.kind == "list":
        for x in v.value:
            _vars_used_in_value(x, out)
    elif v.kind == "obj":
        for x in v.value.values():
            _vars_used_in_value(x, out)


class Validator:
    """Static validation and argument coercion of one operation against the emulated schema (per API version)."""

    def __init__(self, prep, version):
        self.p = prep
        self.version = version
        self.errors = []
        self.used_vars = []
        self.used_frags = set()

    def err(self, message, loc=None, path=None, **ext):
        self.errors.append(GraphQLError(message, [loc] if loc else None, path, ext or None))

    # ----- literals
    def lit(self, v, t, where, argname):
        """Coerce literal v to type t. Returns a value or ABSENT (an unset variable). Errors are recorded."""
        if v.kind == "var":
            self.used_vars.append((v.value, v.loc))
            if v.value not in self.p.var_types:
                return ABSENT
            vtype, has_default = self.p.var_types[v.value]
            if vtype.replace("!", "") != t.replace("!", ""):
                self.err("Type mismatch on variable $%s and argument %s (%s / %s)" % (v.value, argname, vtype, t),
                         v.loc, code="variableMismatch", variableName=v.value, typeName=vtype,
                         argumentName=argname, errorMessage="Type mismatch")
                return ABSENT
            if t.endswith("!") and not vtype.endswith("!") and not has_default:
                self.err("Nullability mismatch on variable $%s and argument %s (%s / %s)" % (
                    v.value, argname, vtype, t), v.loc, code="variableMismatch", variableName=v.value,
                    typeName=vtype, argumentName=argname, errorMessage="Nullability mismatch")
                return ABSENT
            return self.p.var_values.get(v.value, ABSENT)
        bad = lambda: self.err(  # noqa: E731
            "Argument '%s' on %s '%s' has an invalid value (%s). Expected type '%s'." % (
                argname, where[0], where[1], print_literal(v), t), v.loc,
            code="argumentLiteralsIncompatible", typeName=where[0], argumentName=argname)
        if v.kind == "null":
            if t.endswith("!"):
                bad()
                return ABSENT
            return None
        t0 = strip_nn(t)
        if t0.startswith("["):
            inner = t0[1:-1]
            items = v.value if v.kind == "list" else [v]
            out = []
            for item in items:
                r = self.lit(item, inner, where, argname)
                out.append(None if r is ABSENT else r)
            return out
        if t0 in INPUTS:
            if v.kind != "obj":
                bad()
                return ABSENT
            spec = input_fields(t0, self.version)
            out = {}
            for k, x in v.value.items():
                if k not in spec:
                    self.err("InputObject '%s' doesn't accept argument '%s'" % (t0, k), x.loc,
                             code="argumentNotAccepted", name=t0, typeName="InputObject", argumentName=k)
                    continue
                r = self.lit(x, spec[k], ("InputObject", t0), k)
                if r is not ABSENT:
                    out[k] = r
            for k, ft in spec.items():
                if ft.endswith("!") and k not in v.value:
                    self.err("Argument '%s' on InputObject '%s' is required. Expected type %s" % (k, t0, ft),
                             v.loc, code="missingRequiredInputObjectAttribute", argumentName=k,
                             argumentType=ft, inputObjectType=t0)
            return out
        if t0 in ENUMS:
            members = ENUMS[t0]
            if v.kind != "enum" or (members and v.value not in members):
                bad()
                return ABSENT
            return v.value
        ok = {
            "Int": v.kind == "int" and _int32(v.value),
            "Float": v.kind in ("int", "float"),
            "String": v.kind == "str", "URL": v.kind == "str", "HTML": v.kind == "str",
            "FormattedString": v.kind == "str",
            "Boolean": v.kind == "bool",
            "ID": v.kind in ("str", "int"),
            "DateTime": v.kind == "str",
            "Decimal": v.kind in ("str", "int", "float"), "Money": v.kind in ("str", "int", "float"),
            "UnsignedInt64": v.kind in ("str", "int"),
            "JSON": True,
        }.get(t0, False)
        if t0 == "DateTime" and ok:
            try:
                parse_time(v.value)
            except ValueError:
                ok = False
        if not ok:
            bad()
            return ABSENT
        if t0 == "Float":
            return float(v.value)
        if t0 in ("ID", "Decimal", "Money", "UnsignedInt64"):
            return str(v.value)
        if t0 == "JSON":
            return self.plain(v)
        return v.value

    def plain(self, v):
        if v.kind == "list":
            return [self.plain(x) for x in v.value]
        if v.kind == "obj":
            return {k: self.plain(x) for k, x in v.value.items()}
        if v.kind == "var":
            return self.p.var_values.get(v.value)
        return v.value

    # ----- directives
    def directives(self, dirs, where_path):
        out = {}
        for d in dirs:
            if d.name in ("include", "skip"):
                spec = {"if": "Boolean!"}
            elif d.name == "idempotent" and v_at_least(self.version, V_IDEMPOTENT):
                spec = {"key": "String!"}
            else:
                self.err("Directive @%s is not defined" % d.name, d.loc, where_path, code="undefinedDirective",
                         directiveName=d.name)
                for av in d.args.values():
                    _vars_used_in_value(av, self.used_vars)
                continue
            vals = {}
            for an, av in d.args.items():
                if an not in spec:
                    self.err("Directive '%s' doesn't accept argument '%s'" % (d.name, an), av.loc, where_path,
                             code="argumentNotAccepted", name=d.name, typeName="Directive", argumentName=an)
                    continue
                r = self.lit(av, spec[an], ("Directive", d.name), an)
                if r is not ABSENT:
                    vals[an] = r
            for an, at in spec.items():
                if an not in d.args:
                    self.err("Directive '%s' is missing required arguments: %s" % (d.name, an), d.loc, where_path,
                             code="missingRequiredArguments", className="Directive", name=d.name, arguments=an)
            out[d.name] = vals
        return out

    # ----- selections
    def selections(self, type_name, sels, path, visiting=()):
        for sel in sels:
            if isinstance(sel, Field):
                self.field(type_name, sel, path)
            elif isinstance(sel, Inline):
                sel.cdirs = self.directives(sel.directives, path)
                cond = sel.type_cond or type_name
                if not type_def(cond):
                    self.err("No such type %s, so it can't be a fragment condition" % cond, sel.loc, path,
                             code="undefinedType", typeName=cond)
                    continue
                if not (possible_types(cond) & possible_types(type_name)):
                    self.err("Fragment on %s can't be spread inside %s" % (cond, type_name), sel.loc, path,
                             code="cannotSpreadFragment", typeName=cond, fragmentName="unknown",
                             parentName=type_name)
                    continue
                self.selections(cond, sel.selections, path + ["... on %s" % cond], visiting)
            else:
                sel.cdirs = self.directives(sel.directives, path)
                frag = self.p.frags.get(sel.name)
                if frag is None:
                    self.err("Fragment %s was used, but not defined" % sel.name, sel.loc, path,
                             code="useAndDefineFragment", fragmentName=sel.name)
                    continue
                self.used_frags.add(sel.name)
                if sel.name in visiting:
                    self.err("Fragment %s contains an infinite loop" % sel.name, sel.loc, path,
                             code="infiniteLoop", fragmentName=sel.name)
                    continue
                if not type_def(frag.type_cond):
                    self.err("No such type %s, so it can't be a fragment condition" % frag.type_cond, frag.loc,
                             ["fragment " + frag.name], code="undefinedType", typeName=frag.type_cond)
                    continue
                if not (possible_types(frag.type_cond) & possible_types(type_name)):
                    self.err("Fragment %s on %s can't be spread inside %s" % (sel.name, frag.type_cond, type_name),
                             sel.loc, path, code="cannotSpreadFragment", typeName=frag.type_cond,
                             fragmentName=sel.name, parentName=type_name)
                    continue
                self.selections(frag.type_cond, frag.selections, ["fragment " + frag.name],
                                visiting + (sel.name,))

    def field(self, type_name, f, path):
        fpath = path + [f.key]
        f.cdirs = self.directives(f.directives, fpath)
        if f.name == "__typename":
            f.cargs = {}
            if f.args:
                self.err("Field '__typename' doesn't accept argument '%s'" % next(iter(f.args)), f.loc, fpath,
                         code="argumentNotAccepted", name="__typename", typeName="Field",
                         argumentName=next(iter(f.args)))
            if f.selections:
                self.err("Selections can't be made on scalars (field '__typename' returns String but has "
                         "selections [%s])" % ", ".join(s.name for s in f.selections if isinstance(s, Field)),
                         f.loc, fpath, code="selectionMismatch", nodeName="field '__typename'", typeName="String")
            return
        fd = field_def(type_name, f.name, self.version)
        if fd is None:
            self.err("Field '%s' doesn't exist on type '%s'" % (f.name, type_name), f.loc, fpath,
                     code="undefinedField", typeName=type_name, fieldName=f.name)
            return
        cargs = {}
        for an, av in f.args.items():
            spec = fd.args.get(an)
            if spec is None or not in_version(spec[2], spec[3], self.version):
                self.err("Field '%s' doesn't accept argument '%s'" % (f.name, an), av.loc, fpath,
                         code="argumentNotAccepted", name=f.name, typeName="Field", argumentName=an)
                continue
            r = self.lit(av, spec[0], ("Field", f.name), an)
            if r is not ABSENT:
                cargs[an] = r
        missing = [an for an, spec in fd.args.items()
                   if spec[0].endswith("!") and spec[1] is NO_DEFAULT and an not in f.args
                   and in_version(spec[2], spec[3], self.version)]
        if missing:
            self.err("Field '%s' is missing required arguments: %s" % (f.name, ", ".join(missing)), f.loc, fpath,
                     code="missingRequiredArguments", className="Field", name=f.name, arguments=", ".join(missing))
        for an, spec in fd.args.items():
            if an not in cargs and spec[1] is not NO_DEFAULT:
                cargs[an] = spec[1]
        f.cargs = cargs
        base = base_name(fd.type)
        if OBJECTS.get(base, {}).get("conn"):
            if cargs.get("first") is None and cargs.get("last") is None:
                self.err("you must provide one of first or last", f.loc, fpath)
            for an in ("first", "last"):
                n = cargs.get(an)
                if n is not None and not 0 <= n <= MAX_PAGE_SIZE:
                    self.err("The %s argument on Field '%s' must be between 0 and %d (got %d)." % (
                        an, f.name, MAX_PAGE_SIZE, n), f.loc, fpath, code="argumentLiteralsIncompatible",
                        argumentName=an)
        if is_leaf(base):
            if f.selections:
                self.err("Selections can't be made on %s (field '%s' returns %s but has selections [%s])" % (
                    "enums" if base in ENUMS else "scalars", f.name, base,
                    ", ".join(s.name for s in f.selections if isinstance(s, Field))), f.loc, fpath,
                    code="selectionMismatch", nodeName="field '%s'" % f.name, typeName=base)
        else:
            if not f.selections:
                self.err("Field must have selections (field '%s' returns %s but has no selections. Did you mean "
                         "'%s { ... }'?)" % (f.name, strip_nn(fd.type), f.name), f.loc, fpath,
                         code="selectionMismatch", nodeName="field '%s'" % f.name, typeName=strip_nn(fd.type))
            else:
                self.selections(base, f.selections, fpath)


def check_array_sizes(value, path, out):
    if isinstance(value, list):
        if len(value) > MAX_INPUT_ARRAY:
            out.append((list(path), len(value)))
        for i, v in enumerate(value):
            check_array_sizes(v, path + [str(i)], out)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_array_sizes(v, path + [k], out)


def prepare(src, variables, operation_name, version):
    """Parse + validate + coerce. Returns Prepared, or raises ValidationErrors / GraphQLError (parse)."""
    ops, frags = parse_document(src)
    p = Prepared()
    p.frags = frags
    if operation_name:
        chosen = [o for o in ops if o.name == operation_name]
        if not chosen:
            raise ValidationErrors([GraphQLError('No operation named "%s"' % operation_name)])
        op = chosen[0]
    else:
        if len(ops) > 1:
            raise ValidationErrors([GraphQLError("An operation name is required")])
        op = ops[0]
    names = [o.name for o in ops if o.name]
    if len(names) != len(set(names)):
        dup = [n for n in names if names.count(n) > 1][0]
        raise ValidationErrors([GraphQLError('Operation name "%s" must be unique' % dup,
                                             extensions={"code": "operationNotUnique", "operationName": dup})])
    p.op = op
    p.op_label = op.kind + (" " + op.name if op.name else "")
    if op.kind == "subscription":
        raise ValidationErrors([GraphQLError("Schema is not configured for subscriptions", [op.loc])])
    p.root = "QueryRoot" if op.kind == "query" else "Mutation"
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise ValidationErrors([GraphQLError("Variables must be an object")])
    errors = []
    for (vname, vtype, has_default, default, vloc) in op.var_defs:
        if vname in p.var_types:
            errors.append(GraphQLError('There can only be one variable named "%s"' % vname, [vloc],
                                       extensions={"code": "variableNotUnique", "variableName": vname}))
            continue
        base = base_name(vtype)
        if not (base in SCALARS or base in ENUMS or base in INPUTS):
            errors.append(GraphQLError("%s isn't a defined input type (on $%s)" % (base, vname), [vloc],
                                       [p.op_label], {"code": "variableRequiresValidType", "typeName": base,
                                                      "variableName": vname}))
            continue
        p.var_types[vname] = (vtype, has_default)
        if vname in variables:
            raw = variables[vname]
        elif has_default:
            raw = Validator(p, version).plain(default)
        else:
            if vtype.endswith("!"):
                errors.append(GraphQLError("Variable $%s of type %s was provided invalid value" % (vname, vtype),
                                           [vloc], extensions={"value": None, "problems": [
                                               {"path": [], "explanation": "Expected value to not be null"}]}))
            continue
        try:
            p.var_values[vname] = coerce_json(raw, vtype, [], version)
        except InputProblem as exc:
            where = " for %s" % ".".join(str(x) for x in exc.path) if exc.path else ""
            errors.append(GraphQLError("Variable $%s of type %s was provided invalid value%s (%s)" % (
                vname, vtype, where, exc.explanation), [vloc], extensions={
                    "value": raw, "problems": [{"path": exc.path, "explanation": exc.explanation}]}))
    if errors:
        raise ValidationErrors(errors)
    val = Validator(p, version)
    odirs = val.directives(op.directives, [p.op_label])
    if odirs:
        for name in odirs:
            val.err("'@%s' can't be applied to %ss" % (name, op.kind), op.loc, [p.op_label],
                    code="directiveCannotBeApplied", targetName=op.kind, name=name)
    val.selections(p.root, op.selections, [p.op_label])
    declared = {d[0] for d in op.var_defs}
    label = "%s %s" % (op.kind, op.name) if op.name else "anonymous %s" % op.kind
    seen = set()
    for name, loc in val.used_vars:
        if name not in declared and name not in seen:
            seen.add(name)
            val.err("Variable $%s is used by %s but not declared" % (name, label), loc, [p.op_label],
                    code="variableNotDefined", variableName=name)
    used = {n for n, _ in val.used_vars}
    for (vname, _, _, _, vloc) in op.var_defs:
        if vname not in used:
            val.err("Variable $%s is declared by %s but not used" % (vname, label), vloc, [p.op_label],
                    code="variableNotUsed", variableName=vname)
    for fname, frag in frags.items():
        if fname not in val.used_frags:
            val.err("Fragment %s was defined, but not used" % fname, frag.loc, ["fragment " + fname],
                    code="useAndDefineFragment", fragmentName=fname)
    if val.errors:
        raise ValidationErrors(val.errors)
    p.fields = [s.name for s in op.selections if isinstance(s, Field)]
    # Shopify's cap on input arrays (250 items), checked on the coerced arguments of every field.
    big = []
    for f in _all_fields(p, op.selections):
        found = []
        check_array_sizes(f.cargs or {}, [f.key], found)
        for path, n in found:
            big.append(GraphQLError("The input array size of %d is greater than the maximum allowed of %d." % (
                n, MAX_INPUT_ARRAY), [f.loc], path, {"code": "MAX_INPUT_SIZE_EXCEEDED"}))
    if big:
        raise ValidationErrors(big)
    return p


def _all_fields(p, sels, seen=None):
    seen = set() if seen is None else seen
    for sel in sels:
        if isinstance(sel, Field):
            yield sel
            if sel.selections:
                yield from _all_fields(p, sel.selections, seen)
        elif isinstance(sel, Inline):
            yield from _all_fields(p, sel.selections, seen)
        elif sel.name in p.frags and sel.name not in seen:
            seen.add(sel.name)
            yield from _all_fields(p, p.frags[sel.name].selections, seen)


def _included(node):
    d = node.cdirs or {}
    if "skip" in d and d["skip"].get("if") is True:
        return False
    if "include" in d and d["include"].get("if") is False:
        return False
    return True


def static_cost(p, type_name, sels, version):
    """Requested cost: scalars/enums 0, objects 1, connections 2 + first/last x per-item cost (platform-facts.md
    section 2; shopify.dev rate-limits). Mutation root fields cost 10 each."""
    total = 0
    for sel in sels:
        if not _included(sel):
            continue
        if isinstance(sel, Inline):
            total += static_cost(p, sel.type_cond or type_name, sel.selections, version)
            continue
        if isinstance(sel, Spread):
            frag = p.frags[sel.name]
            total += static_cost(p, frag.type_cond, frag.selections, version)
            continue
        if sel.name == "__typename":
            continue
        if type_name == "Mutation":
            total += 10
            continue
        fd = field_def(type_name, sel.name, version)
        base = base_name(fd.type)
        if is_leaf(base):
            continue
        child = static_cost(p, base, sel.selections or [], version)
        td = type_def(base)
        if td.get("conn"):
            size = sel.cargs.get("first") or sel.cargs.get("last") or 0
            total += 2 + size * child
            continue
        own = 0 if td.get("free") else 1
        if strip_nn(fd.type).startswith("["):
            size = sel.cargs.get("first")
            if size is None:
                size = fd.size(sel.cargs) if fd.size else 1
            total += size * (own + child)
        else:
            total += own + child
    return total


class FieldError(Exception):
    """A resolver error: recorded in "errors" with the field's path; the field becomes null."""

    def __init__(self, message, extensions=None):
        super().__init__(message)
        self.message, self.extensions = message, extensions


class NullBubble(Exception):
    pass


class ExecCtx:
    def __init__(self, sim, prep, version, info):
        self.sim = sim
        self.p = prep
        self.version = version
        self.info = info
        self.errors = []
        self.search = []
        self.idem_pending = []


def collect_fields(ctx, runtime, sels, out=None):
    out = {} if out is None else out
    for sel in sels:
        if not _included(sel):
            continue
        if isinstance(sel, Field):
            out.setdefault(sel.key, []).append(sel)
        elif isinstance(sel, Inline):
            if sel.type_cond is None or runtime in possible_types(sel.type_cond):
                collect_fields(ctx, runtime, sel.selections, out)
        else:
            frag = ctx.p.frags[sel.name]
            if runtime in possible_types(frag.type_cond):
                collect_fields(ctx, runtime, frag.selections, out)
    return out


def runtime_type(type_name, value):
    if type_name in OBJECTS:
        return type_name
    return value.get("__typename") if isinstance(value, dict) else None


def exec_object(ctx, type_name, obj, sels, path):
    """-> (dict, actual cost of the children)."""
    fields = collect_fields(ctx, type_name, sels)
    out, cost = {}, 0
    for key, nodes in fields.items():
        node = nodes[0]
        fpath = path + [key]
        if node.name == "__typename":
            out[key] = type_name
            continue
        fd = field_def(type_name, node.name, ctx.version)
        try:
            try:
                value = fd.fn(ctx, obj, node.cargs)
            except FieldError as exc:
                ctx.errors.append(GraphQLError(exc.message, [node.loc], fpath, exc.extensions))
                value = None
                if fd.type.endswith("!"):
                    raise NullBubble()
            out[key], c = complete(ctx, fd, fd.type, value, nodes, fpath)
            cost += c
        except NullBubble:
            if fd.type.endswith("!"):
                raise
            out[key] = None
    return out, cost


def complete(ctx, fd, t, value, nodes, path):
    if value is None:
        if t.endswith("!"):
            ctx.errors.append(GraphQLError("Cannot return null for non-nullable field %s" % nodes[0].name,
                                           [nodes[0].loc], path))
            raise NullBubble()
        base = base_name(t)
        td = type_def(base)
        return None, (1 if td and not td.get("free") and not strip_nn(t).startswith("[") else 0)
    t0 = strip_nn(t)
    if t0.startswith("["):
        out, cost = [], 0
        for i, item in enumerate(value):
            v, c = complete(ctx, fd, t0[1:-1], item, nodes, path + [i])
            out.append(v)
            cost += c
        return out, cost
    if is_leaf(t0):
        return value, 0
    runtime = runtime_type(t0, value)
    sels = []
    for n in nodes:
        sels.extend(n.selections or [])
    data, child = exec_object(ctx, runtime, value, sels, path)
    td = OBJECTS[runtime]
    if td.get("conn"):
        return data, 2 + child
    return data, child + (0 if td.get("free") else 1)


def execute_prepared(ctx):
    """Run the operation. Returns (data or None, actual cost). Mutations run their root fields in order."""
    p = ctx.p
    fields = collect_fields(ctx, p.root, p.op.selections)
    if p.root == "QueryRoot":
        try:
            return exec_object(ctx, "QueryRoot", {}, p.op.selections, [])
        except NullBubble:
            return None, 0
    out, cost = {}, 0
    for key, nodes in fields.items():
        node = nodes[0]
        if node.name == "__typename":
            out[key] = "Mutation"
            continue
        fd = field_def("Mutation", node.name, ctx.version)
        cost += 10
        try:
            try:
                value = ctx.sim._run_mutation(ctx, node, fd)
            except FieldError as exc:
                ctx.errors.append(GraphQLError(exc.message, [node.loc], [key], exc.extensions))
                value = None
            out[key], _ = complete(ctx, fd, fd.type, value, nodes, [key])
        except NullBubble:
            out[key] = None
    return out, cost


# ----------------------------------------------------------------------------------------------------------------
# Connections (cursor pagination) and Shopify's search syntax

class Conn:
    __slots__ = ("items", "page_info")

    def __init__(self, items, page_info):
        self.items, self.page_info = items, page_info


def encode_cursor(sort_value, rid):
    raw = json.dumps({"last_id": rid, "last_value": sort_value}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_cursor(cursor):
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True).decode())
        return (data["last_value"], data["last_id"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise FieldError("Invalid cursor for current pagination", {"code": "BAD_REQUEST"})


def paginate(records, args, key_fn):
    """records: any iterable; key_fn(rec) -> (sort value, id); args: first/after/last/before/reverse."""
    keyed = sorted(((key_fn(r), r) for r in records), key=lambda kr: (kr[0][0] is None, kr[0]))
    if args.get("reverse"):
        keyed.reverse()
    sign_ = -1 if args.get("reverse") else 1

    def cmp(a, b):
        a, b = (a[0] is None, a), (b[0] is None, b)
        return (a > b) - (a < b)

    before_all = False
    after = args.get("after")
    if after is not None:
        ck = decode_cursor(after)
        n0 = len(keyed)
        try:
            keyed = [kr for kr in keyed if cmp(kr[0], ck) * sign_ > 0]
        except TypeError:
            raise FieldError("Invalid cursor for current pagination", {"code": "BAD_REQUEST"})
        before_all = len(keyed) < n0
    after_all = False
    before = args.get("before")
    if before is not None:
        ck = decode_cursor(before)
        n0 = len(keyed)
        try:
            keyed = [kr for kr in keyed if cmp(kr[0], ck) * sign_ < 0]
        except TypeError:
            raise FieldError("Invalid cursor for current pagination", {"code": "BAD_REQUEST"})
        after_all = len(keyed) < n0
    has_next, has_prev = after_all, before_all
    first, last = args.get("first"), args.get("last")
    if first is not None:
        has_next = has_next or len(keyed) > first
        keyed = keyed[:first]
    if last is not None:
        has_prev = has_prev or len(keyed) > last
        keyed = keyed[-last:] if last else []
    items = [(encode_cursor(k[0], k[1]), r) for k, r in keyed]
    info = {"hasNextPage": has_next, "hasPreviousPage": has_prev,
            "startCursor": items[0][0] if items else None, "endCursor": items[-1][0] if items else None}
    return Conn(items, info)


def search_tokens(q):
    toks, i, n = [], 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            toks.append(c)
            i += 1
            continue
        j, buf = i, []
        while j < n and not q[j].isspace() and q[j] not in "()":
            if q[j] in "'\"":
                quote = q[j]
                k = q.find(quote, j + 1)
                k = n if k < 0 else k
                buf.append(q[j:k + 1])
                j = k + 1
                continue
            buf.append(q[j])
            j += 1
        toks.append("".join(buf))
        i = j
    return toks


def search_parse(q):
    """Shopify search syntax: implicit AND, AND, OR, NOT/-, parentheses, field:value, field:>=value, quotes, x*."""
    toks = search_tokens(q or "")
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def expr():
        parts = [conj()]
        while peek() == "OR":
            pos[0] += 1
            parts.append(conj())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conj():
        parts = [unary()]
        while peek() not in (None, ")", "OR"):
            if peek() == "AND":
                pos[0] += 1
                continue
            parts.append(unary())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def unary():
        t = peek()
        if t is None:
            return ("all",)
        if t == "NOT":
            pos[0] += 1
            return ("not", unary())
        if t == "(":
            pos[0] += 1
            e = expr()
            if peek() == ")":
                pos[0] += 1
            return e
        pos[0] += 1
        if t.startswith("-") and len(t) > 1:
            return ("not", term(t[1:]))
        return term(t)

    def term(t):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_.]*):(<=|>=|<|>)?(.*)$", t)
        if not m:
            return ("term", None, ":", t.strip("'\""), t)
        value = m.group(3)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        return ("term", m.group(1), m.group(2) or ":", value, t)

    if not toks:
        return ("all",)
    tree = expr()
    while pos[0] < len(toks):          # stray ")" etc.: keep parsing the rest as AND
        if peek() == ")":
            pos[0] += 1
            continue
        tree = ("and", [tree, expr()])
    return tree


def search_fields_used(tree, out):
    if tree[0] in ("and", "or"):
        for t in tree[1]:
            search_fields_used(t, out)
    elif tree[0] == "not":
        search_fields_used(tree[1], out)
    elif tree[0] == "term" and tree[1]:
        out.append(tree[1])
    return out


def _cmp(a, op, b):
    if op == ":":
        return a == b
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def search_match(tree, rec, spec, text_fn):
    kind = tree[0]
    if kind == "all":
        return True
    if kind == "and":
        return all(search_match(t, rec, spec, text_fn) for t in tree[1])
    if kind == "or":
        return any(search_match(t, rec, spec, text_fn) for t in tree[1])
    if kind == "not":
        return not search_match(tree[1], rec, spec, text_fn)
    _, field, op, value, _raw = tree
    if field is None:
        needle = value.lower().rstrip("*")
        return any(needle in (s or "").lower() for s in text_fn(rec))
    if field not in spec:
        return True                    # ignored, reported as a search warning
    ftype, getter = spec[field]
    if ftype == "custom":
        return getter(rec, op, value)
    values = getter(rec)
    if not isinstance(values, (list, tuple, set)):
        values = [values]
    for v in values:
        if v is None:
            continue
        try:
            if ftype == "str":
                s, want = str(v).lower(), value.lower()
                if want.endswith("*") and op == ":":
                    if s.startswith(want[:-1]):
                        return True
                elif _cmp(s, op, want):
                    return True
            elif ftype == "num":
                if _cmp(float(v), op, float(value)):
                    return True
            elif ftype == "id":
                want = value
                m = re.match(r"^gid://shopify/[A-Za-z]+/([0-9]+)$", want)
                if m:
                    want = m.group(1)
                if _cmp(int(v), op, int(want)):
                    return True
            elif ftype == "bool":
                if op == ":" and str(bool(v)).lower() == value.lower():
                    return True
            elif ftype == "date":
                if re.match(r"^\d{4}-\d{2}-\d{2}$", value):
                    day = datetime.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=SHOP_TZ)
                    start, end = day, day + datetime.timedelta(days=1)
                    if op == ":" and start <= v < end:
                        return True
                    if op in (">=", "<") and _cmp(v, op, start):
                        return True
                    if op == ">" and v >= end:
                        return True
                    if op == "<=" and v < end:
                        return True
                elif value.lower() == "now":
                    if _cmp(v, op, datetime.datetime.now(UTC)):
                        return True
                elif _cmp(v, op, parse_time(value)):
                    return True
        except (ValueError, TypeError):
            continue
    return False


def search_candidates(tree, index):
    """Records that may match, from index(field, value) -> [records] | None (exact terms on indexed fields, OR-ed
    or AND-ed), or None when the tree gives no such shortcut. The caller still matches each candidate."""
    kind = tree[0]
    if kind == "term":
        _, field, op, value, _raw = tree
        if field is None or op != ":" or value.endswith("*"):
            return None
        return index(field, value)
    if kind == "or":
        out = {}
        for t in tree[1]:
            found = search_candidates(t, index)
            if found is None:
                return None
            for r in found:
                out[r["id"]] = r
        return list(out.values())
    if kind == "and":
        best = None
        for t in tree[1]:
            found = search_candidates(t, index)
            if found is not None and (best is None or len(found) < len(best)):
                best = found
        return best
    return None


def run_search(ctx, records, query, spec, text_fn, field_name, index=None):
    """Filter records with a search query. index(field, value) -> [records] | None may narrow the candidates
    first (records must then be the whole table the index covers)."""
    if not query:
        return list(records)
    tree = search_parse(query)
    unknown = [f for f in search_fields_used(tree, []) if f not in spec]
    if unknown:
        ctx.search.append({"path": [field_name], "query": query, "warnings": [
            {"field": f, "message": "Invalid search field for this query."} for f in dict.fromkeys(unknown)]})
    if index is not None:
        found = search_candidates(tree, index)
        if found is not None:
            records = found
    return [r for r in records if search_match(tree, r, spec, text_fn)]


def _id_value(value):
    m = re.match(r"^gid://shopify/[A-Za-z]+/([0-9]+)$", value)
    try:
        return int(m.group(1) if m else value)
    except ValueError:
        return None


def item_index(store):
    """index() for the inventoryItems root connection: sku (case-insensitive) and id."""
    def index(field, value):
        if field == "sku":
            return store.items_by_sku_ci(value)
        if field == "id":
            rid = _id_value(value)
            return [store.items[rid]] if rid in store.items else []
        return None
    return index


def product_index(store):
    """index() for the products root connection: sku (through the inventory items) and id."""
    def index(field, value):
        if field == "sku":
            out = {}
            for i in store.items_by_sku_ci(value):
                v = store.variants.get(i["variant_id"])
                if v and v["product_id"] in store.products:
                    out[v["product_id"]] = store.products[v["product_id"]]
            return list(out.values())
        if field == "id":
            rid = _id_value(value)
            return [store.products[rid]] if rid in store.products else []
        return None
    return index


def variant_index(store):
    """index() for the productVariants root connection: sku (through the inventory items), id, product_id."""
    def index(field, value):
        if field == "sku":
            return [store.variants[i["variant_id"]] for i in store.items_by_sku_ci(value)
                    if i["variant_id"] in store.variants]
        if field == "id":
            rid = _id_value(value)
            return [store.variants[rid]] if rid in store.variants else []
        if field == "product_id":
            p = store.products.get(_id_value(value))
            return [store.variants[v] for v in p["variant_ids"]] if p else []
        return None
    return index


# ----------------------------------------------------------------------------------------------------------------
# The emulated schema (the part synchub uses) and its resolvers

CONN_ARGS = {"first": "Int", "after": "String", "last": "Int", "before": "String", "reverse": A("Boolean", False)}

for _name, _members in {
    "OrderSortKeys": ("CREATED_AT", "CUSTOMER_NAME", "FINANCIAL_STATUS", "FULFILLMENT_STATUS", "ID", "ORDER_NUMBER",
                      "PROCESSED_AT", "RELEVANCE", "TOTAL_PRICE", "UPDATED_AT"),
    "ProductVariantSortKeys": ("FULL_TITLE", "ID", "INVENTORY_QUANTITY", "NAME", "POPULAR", "POSITION",
                               "RELEVANCE", "SKU", "TITLE"),
    "ProductSortKeys": ("CREATED_AT", "ID", "INVENTORY_TOTAL", "PRODUCT_TYPE", "PUBLISHED_AT", "RELEVANCE", "TITLE",
                        "UPDATED_AT", "VENDOR"),
    "LocationSortKeys": ("ID", "NAME", "RELEVANCE"),
    "CountPrecision": ("AT_LEAST", "EXACT"),  # Shopify's published schema (tests/schema): an enum, not a String
}.items():
    ENUMS[_name] = _members
for _name in ("CurrencyCode", "CountryCode", "OrderDisplayFinancialStatus", "OrderDisplayFulfillmentStatus",
              "OrderCancelReason", "FulfillmentOrderStatus", "FulfillmentOrderRequestStatus", "FulfillmentStatus",
              "FulfillmentDisplayStatus", "ProductStatus", "ProductVariantInventoryPolicy", "WeightUnit",
              "CustomerState", "InventorySetQuantitiesUserErrorCode", "InventoryAdjustQuantitiesUserErrorCode"):
    ENUMS[_name] = None

INPUTS.update({
    "InventorySetQuantitiesInput": {
        "name": ("String!", None, None), "reason": ("String!", None, None),
        "referenceDocumentUri": ("String", None, None),
        "ignoreCompareQuantity": ("Boolean", None, V_CHANGE_FROM_MANDATORY),
        "quantities": ("[InventoryQuantityInput!]!", None, None)},
    "InventoryQuantityInput": {
        "inventoryItemId": ("ID!", None, None), "locationId": ("ID!", None, None), "quantity": ("Int!", None, None),
        "compareQuantity": ("Int", None, V_CHANGE_FROM_MANDATORY),
        "changeFromQuantity": ("Int", V_CHANGE_FROM, None)},
    "InventoryAdjustQuantitiesInput": {
        "name": ("String!", None, None), "reason": ("String!", None, None),
        "referenceDocumentUri": ("String", None, None), "changes": ("[InventoryChangeInput!]!", None, None)},
    "InventoryChangeInput": {
        "delta": ("Int!", None, None), "inventoryItemId": ("ID!", None, None), "locationId": ("ID!", None, None),
        "ledgerDocumentUri": ("String", None, None), "changeFromQuantity": ("Int", V_CHANGE_FROM, None)},
    "FulfillmentInput": {
        "lineItemsByFulfillmentOrder": ("[FulfillmentOrderLineItemsInput!]!", None, None),
        "trackingInfo": ("FulfillmentTrackingInput", None, None), "notifyCustomer": ("Boolean", None, None),
        "originAddress": ("FulfillmentOriginAddressInput", None, None)},
    "FulfillmentV2Input": {
        "lineItemsByFulfillmentOrder": ("[FulfillmentOrderLineItemsInput!]!", None, None),
        "trackingInfo": ("FulfillmentTrackingInput", None, None), "notifyCustomer": ("Boolean", None, None),
        "originAddress": ("FulfillmentOriginAddressInput", None, None)},
    "FulfillmentOrderLineItemsInput": {
        "fulfillmentOrderId": ("ID!", None, None),
        "fulfillmentOrderLineItems": ("[FulfillmentOrderLineItemInput!]", None, None)},
    "FulfillmentOrderLineItemInput": {"id": ("ID!", None, None), "quantity": ("Int!", None, None)},
    "FulfillmentOriginAddressInput": {
        "address1": ("String", None, None), "address2": ("String", None, None), "city": ("String", None, None),
        "countryCode": ("String!", None, None), "provinceCode": ("String", None, None),
        "zip": ("String", None, None)},
    "FulfillmentTrackingInput": {
        "company": ("String", None, None), "number": ("String", None, None), "numbers": ("[String!]", None, None),
        "url": ("URL", None, None), "urls": ("[URL!]", None, None)},
})


def obj_type(name, fields, interfaces=(), free=False):
    for fname, fd in fields.items():
        if fd.fn is None:
            fd.fn = (lambda key: lambda ctx, o, a: o.get(key))(fname)
    OBJECTS[name] = {"fields": fields, "interfaces": tuple(interfaces), "free": free}


def conn_type(node):
    OBJECTS[node + "Connection"] = {"fields": {
        "edges": F("[%sEdge!]!" % node, lambda c, o, a: o.items),
        "nodes": F("[%s!]!" % node, lambda c, o, a: [n for _, n in o.items]),
        "pageInfo": F("PageInfo!", lambda c, o, a: o.page_info)}, "interfaces": (), "conn": node}
    OBJECTS[node + "Edge"] = {"fields": {
        "cursor": F("String!", lambda c, o, a: o[0]),
        "node": F(node + "!", lambda c, o, a: o[1])}, "interfaces": (), "free": True}


def st(ctx):
    return ctx.sim.store


def money_bag(amount, currency="USD"):
    return {"amount": amount, "currency": currency}


def t_of(key):
    return lambda c, o, a: gql_time(o.get(key))


def lookup(kind, table):
    """Resolver for a root field taking id: an Invalid id error for a GID of another kind, null when absent."""
    def fn(ctx, o, a):
        rid = gid_id(a["id"], kind)
        if rid is None:
            raise FieldError("Invalid id: %s" % a["id"], {"code": "RESOURCE_NOT_FOUND"})
        return getattr(st(ctx), table).get(rid)
    return fn


INTERFACES["Node"] = {"fields": {"id": F("ID!")}}

obj_type("PageInfo", {"hasNextPage": F("Boolean!"), "hasPreviousPage": F("Boolean!"), "startCursor": F("String"),
                      "endCursor": F("String")}, free=True)
obj_type("MoneyV2", {"amount": F("Decimal!", lambda c, o, a: gql_decimal(o["amount"])),
                     "currencyCode": F("CurrencyCode!", lambda c, o, a: o["currency"])})
obj_type("MoneyBag", {"shopMoney": F("MoneyV2!", lambda c, o, a: o),
                      "presentmentMoney": F("MoneyV2!", lambda c, o, a: o)})
obj_type("Attribute", {"key": F("String!"), "value": F("String")})
obj_type("SelectedOption", {"name": F("String!"), "value": F("String!")})
obj_type("Count", {"count": F("Int!"), "precision": F("CountPrecision!", lambda c, o, a: "EXACT")})
obj_type("UserError", {"field": F("[String!]"), "message": F("String!")})
obj_type("InventorySetQuantitiesUserError", {"code": F("InventorySetQuantitiesUserErrorCode"),
                                             "field": F("[String!]"), "message": F("String!")})
obj_type("InventoryAdjustQuantitiesUserError", {"code": F("InventoryAdjustQuantitiesUserErrorCode"),
                                                "field": F("[String!]"), "message": F("String!")})
obj_type("Domain", {"id": F("ID!", lambda c, o, a: gid("Domain", o["id"])), "host": F("String!"),
                    "url": F("URL!")})
obj_type("ShopPlan", {"displayName": F("String!"), "publicDisplayName": F("String!"),
                      "partnerDevelopment": F("Boolean!"), "shopifyPlus": F("Boolean!")})

obj_type("Shop", {
    "id": F("ID!", lambda c, o, a: gid("Shop", o["id"])),
    "name": F("String!"),
    "email": F("String!"),
    "contactEmail": F("String!", lambda c, o, a: o["email"]),
    "myshopifyDomain": F("String!", lambda c, o, a: o["domain"]),
    "currencyCode": F("CurrencyCode!", lambda c, o, a: o["currency"]),
    "ianaTimezone": F("String!", lambda c, o, a: "America/New_York"),
    "timezoneAbbreviation": F("String!", lambda c, o, a: "EST"),
    "timezoneOffset": F("String!", lambda c, o, a: "-0500"),
    "timezoneOffsetMinutes": F("Int!", lambda c, o, a: -300),
    "url": F("URL!", lambda c, o, a: "https://" + o["domain"]),
    "weightUnit": F("WeightUnit!", lambda c, o, a: "GRAMS"),
    "primaryDomain": F("Domain!", lambda c, o, a: {"id": 1, "host": o["domain"], "url": "https://" + o["domain"]}),
    "plan": F("ShopPlan!", lambda c, o, a: {"displayName": "Basic", "publicDisplayName": "Basic",
                                            "partnerDevelopment": False, "shopifyPlus": False}),
}, interfaces=("Node",))

obj_type("LocationAddress", {
    "address1": F("String"), "address2": F("String"), "city": F("String"), "province": F("String"),
    "provinceCode": F("String", lambda c, o, a: o.get("province_code")), "zip": F("String"),
    "country": F("String"), "countryCode": F("String", lambda c, o, a: o.get("country_code")),
    "phone": F("String"),
    "formatted": F("[String!]!", lambda c, o, a: [x for x in (
        o.get("address1"), o.get("address2"), " ".join(y for y in (o.get("city"), o.get("province_code"),
                                                                   o.get("zip")) if y),
        o.get("country")) if x]),
})


def _location_levels(c, o, a):
    levels = [lv for (item, loc), lv in st(c).levels.items() if loc == o["id"]]
    return paginate(levels, a, lambda lv: (lv["item_id"], lv["item_id"]))


def _location_level(c, o, a):
    item = gid_id(a["inventoryItemId"], "InventoryItem")
    if item is None:
        raise FieldError("Invalid id: %s" % a["inventoryItemId"], {"code": "RESOURCE_NOT_FOUND"})
    return st(c).levels.get((item, o["id"]))


obj_type("Location", {
    "id": F("ID!", lambda c, o, a: gid("Location", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "name": F("String!"),
    "isActive": F("Boolean!", lambda c, o, a: o["active"]),
    "isFulfillmentService": F("Boolean!", lambda c, o, a: False),
    "fulfillsOnlineOrders": F("Boolean!", lambda c, o, a: o["fulfills_online"]),
    "shipsInventory": F("Boolean!", lambda c, o, a: True),
    "hasActiveInventory": F("Boolean!", lambda c, o, a: any(loc == o["id"] for (_, loc) in st(c).levels)),
    "address": F("LocationAddress!", lambda c, o, a: o["address"]),
    "createdAt": F("DateTime!", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("updated_at")),
    "inventoryLevels": F("InventoryLevelConnection!", _location_levels, dict(CONN_ARGS, query="String")),
    "inventoryLevel": F("InventoryLevel", _location_level, {"inventoryItemId": "ID!"}),
}, interfaces=("Node",))


def level_gid(lv):
    return "gid://shopify/InventoryLevel/%d?inventory_item_id=%d" % (lv["location_id"], lv["item_id"])


def _level_quantities(c, o, a):
    names = a["names"]
    bad = [n for n in names if n not in QUANTITY_NAMES]
    if bad:
        raise FieldError("The quantity names %s are not valid. Valid names are: %s." % (
            ", ".join(bad), ", ".join(QUANTITY_NAMES)), {"code": "BAD_REQUEST"})
    q = level_quantities(o)
    return [{"id": "gid://shopify/InventoryQuantity/%d?inventory_item_id=%d&name=%s" % (
        o["location_id"], o["item_id"], n), "name": n, "quantity": q[n], "updatedAt": o["updated_at"]}
        for n in names]


obj_type("InventoryQuantity", {"id": F("ID!"), "name": F("String!"), "quantity": F("Int!"),
                               "updatedAt": F("DateTime", t_of("updatedAt"))})
obj_type("InventoryLevel", {
    "id": F("ID!", lambda c, o, a: level_gid(o)),
    "createdAt": F("DateTime!", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("updated_at")),
    "canDeactivate": F("Boolean!", lambda c, o, a: True),
    "item": F("InventoryItem!", lambda c, o, a: st(c).items.get(o["item_id"])),
    "location": F("Location!", lambda c, o, a: st(c).locations.get(o["location_id"])),
    "quantities": F("[InventoryQuantity!]!", _level_quantities, {"names": "[String!]!"},
                    size=lambda args: max(1, len(args.get("names") or []))),
}, interfaces=("Node",))


def _item_level(c, o, a):
    loc = gid_id(a["locationId"], "Location")
    if loc is None:
        raise FieldError("Invalid id: %s" % a["locationId"], {"code": "RESOURCE_NOT_FOUND"})
    return st(c).levels.get((o["id"], loc))


def _item_levels(c, o, a):
    return paginate(st(c).item_levels(o["id"]), a, lambda lv: (lv["location_id"], lv["location_id"]))


obj_type("InventoryItem", {
    "id": F("ID!", lambda c, o, a: gid("InventoryItem", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "sku": F("String"),
    "tracked": F("Boolean!"),
    "requiresShipping": F("Boolean!", lambda c, o, a: o["requires_shipping"]),
    "createdAt": F("DateTime!", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("updated_at")),
    "variant": F("ProductVariant!", lambda c, o, a: st(c).variants.get(o["variant_id"])),
    "inventoryLevel": F("InventoryLevel", _item_level, {"locationId": "ID!"}),
    "inventoryLevels": F("InventoryLevelConnection!", _item_levels, dict(CONN_ARGS, query="String")),
    # gone from unstable in Shopify's published schema (tests/schema)
    "locationsCount": F("Count", lambda c, o, a: {"count": len(st(c).item_levels(o["id"]))}, maxv="unstable"),
}, interfaces=("Node",))


def _variant_inventory(c, o):
    return sum(level_quantities(lv)["available"] for lv in st(c).item_levels(o["inventory_item_id"]))


obj_type("ProductVariant", {
    "id": F("ID!", lambda c, o, a: gid("ProductVariant", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "sku": F("String"),
    "title": F("String!"),
    "displayName": F("String!", lambda c, o, a: "%s - %s" % (st(c).products[o["product_id"]]["title"], o["title"])),
    "price": F("Money!", lambda c, o, a: money2(o["price"])),
    "compareAtPrice": F("Money", lambda c, o, a: None),
    "barcode": F("String"),
    "position": F("Int!"),
    "taxable": F("Boolean!"),
    "inventoryPolicy": F("ProductVariantInventoryPolicy!", lambda c, o, a: o["inventory_policy"].upper()),
    "inventoryQuantity": F("Int", lambda c, o, a: _variant_inventory(c, o)),
    "createdAt": F("DateTime!", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("updated_at")),
    "selectedOptions": F("[SelectedOption!]!", lambda c, o, a: [{"name": k, "value": v} for k, v in o["options"]]),
    "product": F("Product!", lambda c, o, a: st(c).products.get(o["product_id"])),
    "inventoryItem": F("InventoryItem!", lambda c, o, a: st(c).items.get(o["inventory_item_id"])),
}, interfaces=("Node",))

VARIANT_SEARCH = {
    "sku": ("str", lambda v: v["sku"]), "id": ("id", lambda v: v["id"]),
    "product_id": ("id", lambda v: v["product_id"]), "title": ("str", lambda v: v["title"]),
    "barcode": ("str", lambda v: v["barcode"]), "inventory_item_id": ("id", lambda v: v["inventory_item_id"]),
    "created_at": ("date", lambda v: v["created_at"]), "updated_at": ("date", lambda v: v["updated_at"]),
}
VARIANT_SORT = {"ID": lambda v: v["id"], "SKU": lambda v: v["sku"] or "", "TITLE": lambda v: v["title"],
                "POSITION": lambda v: v["position"], "NAME": lambda v: v["title"], "FULL_TITLE": lambda v: v["title"]}


def _variants_conn(c, variants, a, field_name, index=None):
    rows = run_search(c, variants, a.get("query"), VARIANT_SEARCH, lambda v: [v["sku"], v["title"], v["barcode"]],
                      field_name, index)
    sort = VARIANT_SORT.get(a.get("sortKey") or "ID", VARIANT_SORT["ID"])
    return paginate(rows, a, lambda v: (sort(v), v["id"]))


obj_type("Product", {
    "id": F("ID!", lambda c, o, a: gid("Product", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "title": F("String!"),
    "handle": F("String!"),
    "status": F("ProductStatus!", lambda c, o, a: o["status"].upper()),
    "vendor": F("String!"),
    "productType": F("String!", lambda c, o, a: o["product_type"]),
    "tags": F("[String!]!", lambda c, o, a: [t.strip() for t in o["tags"].split(",") if t.strip()]),
    "descriptionHtml": F("HTML!", lambda c, o, a: o["body_html"]),
    "createdAt": F("DateTime!", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("updated_at")),
    "totalInventory": F("Int!", lambda c, o, a: sum(_variant_inventory(c, st(c).variants[v])
                                                   for v in o["variant_ids"])),
    "variantsCount": F("Count", lambda c, o, a: {"count": len(o["variant_ids"])}),
    "variants": F("ProductVariantConnection!", lambda c, o, a: _variants_conn(
        c, [st(c).variants[v] for v in o["variant_ids"]], a, "variants"),
        dict(CONN_ARGS, sortKey="ProductVariantSortKeys")),
}, interfaces=("Node",))

obj_type("MailingAddress", {
    "firstName": F("String", lambda c, o, a: o.get("first_name")),
    "lastName": F("String", lambda c, o, a: o.get("last_name")),
    "name": F("String"), "company": F("String"), "address1": F("String"), "address2": F("String"),
    "city": F("String"), "province": F("String"),
    "provinceCode": F("String", lambda c, o, a: o.get("province_code")),
    "zip": F("String"), "country": F("String"),
    "countryCodeV2": F("CountryCode", lambda c, o, a: o.get("country_code")),
    "countryCode": F("String", lambda c, o, a: o.get("country_code")),
    "phone": F("String"), "latitude": F("Float"), "longitude": F("Float"),
    "formatted": F("[String!]!", lambda c, o, a: [x for x in (
        o.get("address1"), o.get("address2"), " ".join(y for y in (o.get("city"), o.get("province_code"),
                                                                   o.get("zip")) if y), o.get("country")) if x],
        {"withName": A("Boolean", False), "withCompany": A("Boolean", True)}),
})
obj_type("CustomerEmailAddress", {"emailAddress": F("String!")})
obj_type("CustomerPhoneNumber", {"phoneNumber": F("String!")})
obj_type("Customer", {
    "id": F("ID!", lambda c, o, a: gid("Customer", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "email": F("String"),
    "firstName": F("String", lambda c, o, a: o.get("first_name")),
    "lastName": F("String", lambda c, o, a: o.get("last_name")),
    "displayName": F("String!", lambda c, o, a: " ".join(x for x in (o.get("first_name"), o.get("last_name")) if x)
                     or o.get("email") or ""),
    "phone": F("String"),
    "state": F("CustomerState!", lambda c, o, a: o["state"].upper()),
    "verifiedEmail": F("Boolean!", lambda c, o, a: o["verified_email"]),
    "taxExempt": F("Boolean!", lambda c, o, a: o["tax_exempt"]),
    "tags": F("[String!]!", lambda c, o, a: []),
    "createdAt": F("DateTime!", lambda c, o, a: gql_time(parse_time(o["created_at"]))),
    "updatedAt": F("DateTime!", lambda c, o, a: gql_time(parse_time(o["updated_at"]))),
    "defaultEmailAddress": F("CustomerEmailAddress", lambda c, o, a: {"emailAddress": o["email"]}
                             if o.get("email") else None),
    "defaultPhoneNumber": F("CustomerPhoneNumber", lambda c, o, a: {"phoneNumber": o["phone"]}
                            if o.get("phone") else None),
    "defaultAddress": F("MailingAddress", lambda c, o, a: o.get("default_address")),
}, interfaces=("Node",))


def _fulfilled_qty(store, order, line_id):
    return sum(fl["quantity"] for fid in order["fulfillment_ids"] for fl in store.fulfillments[fid]["line_items"]
               if fl["line_item_id"] == line_id and store.fulfillments[fid]["status"] == "success")


def _line_unfulfilled(c, o):
    order = st(c).orders[o["order_id"]]
    return max(0, o["current_quantity"] - _fulfilled_qty(st(c), order, o["id"]))


obj_type("LineItem", {
    "id": F("ID!", lambda c, o, a: gid("LineItem", o["id"])),
    "sku": F("String"),
    "name": F("String!"),
    "title": F("String!"),
    "variantTitle": F("String", lambda c, o, a: o.get("variant_title")),
    "vendor": F("String"),
    "quantity": F("Int!"),
    "currentQuantity": F("Int!", lambda c, o, a: o["current_quantity"]),
    "unfulfilledQuantity": F("Int!", lambda c, o, a: _line_unfulfilled(c, o)),
    "fulfillableQuantity": F("Int!", lambda c, o, a: _line_unfulfilled(c, o)),
    "requiresShipping": F("Boolean!", lambda c, o, a: o["requires_shipping"]),
    "taxable": F("Boolean!"),
    "isGiftCard": F("Boolean!", lambda c, o, a: bool(o.get("gift_card"))),
    "taxLines": F("[TaxLine!]!", lambda c, o, a: o.get("tax_lines") or []),
    "discountAllocations": F("[DiscountAllocation!]!", lambda c, o, a: o.get("discount_allocations") or []),
    "duties": F("[Duty!]!", lambda c, o, a: o.get("duties") or []),
    "originalUnitPriceSet": F("MoneyBag!", lambda c, o, a: money_bag(o["price"], c.sim.store.currency)),
    "discountedUnitPriceSet": F("MoneyBag!", lambda c, o, a: money_bag(o["price"], c.sim.store.currency)),
    "originalTotalSet": F("MoneyBag!", lambda c, o, a: money_bag(dec(o["price"]) * o["quantity"],
                                                                 c.sim.store.currency)),
    "discountedTotalSet": F("MoneyBag!", lambda c, o, a: money_bag(dec(o["price"]) * o["current_quantity"],
                                                                   c.sim.store.currency)),
    "variant": F("ProductVariant", lambda c, o, a: st(c).variants.get(o.get("variant_id"))),
    "product": F("Product", lambda c, o, a: st(c).products.get(o.get("product_id"))),
    "customAttributes": F("[Attribute!]!", lambda c, o, a: [{"key": p.get("name"), "value": p.get("value")}
                                                            for p in o.get("properties") or []]),
}, interfaces=("Node",))

obj_type("ShippingLine", {
    "id": F("ID", lambda c, o, a: gid("ShippingLine", o["id"])),
    "title": F("String!"), "code": F("String"), "source": F("String"),
    "carrierIdentifier": F("String", lambda c, o, a: None),
    "originalPriceSet": F("MoneyBag!", lambda c, o, a: money_bag(o["price"], c.sim.store.currency)),
    "discountedPriceSet": F("MoneyBag!", lambda c, o, a: money_bag(o["discounted_price"], c.sim.store.currency)),
    "taxLines": F("[TaxLine!]!", lambda c, o, a: o.get("tax_lines") or []),
    "discountAllocations": F("[DiscountAllocation!]!", lambda c, o, a: o.get("discount_allocations") or []),
})

# Money on lines (REST tax_lines / discount_allocations kept on the stored line, shown in GraphQL's names)
obj_type("TaxLine", {
    "title": F("String"),
    "rate": F("Float", lambda c, o, a: o.get("rate")),
    "ratePercentage": F("Float", lambda c, o, a: None if o.get("rate") is None else round(o["rate"] * 100, 6)),
    "priceSet": F("MoneyBag!", lambda c, o, a: money_bag(o["price"], c.sim.store.currency)),
    "channelLiable": F("Boolean", lambda c, o, a: bool(o.get("channel_liable"))),
})
obj_type("DiscountAllocation", {
    "allocatedAmountSet": F("MoneyBag!", lambda c, o, a: money_bag(o["amount"], c.sim.store.currency)),
})
obj_type("Duty", {
    "id": F("ID!", lambda c, o, a: gid("Duty", o["id"])),
    "harmonizedSystemCode": F("String", lambda c, o, a: o.get("harmonized_system_code")),
    "price": F("MoneyBag!", lambda c, o, a: money_bag(o["price"], c.sim.store.currency)),
    "taxLines": F("[TaxLine!]!", lambda c, o, a: o.get("tax_lines") or []),
}, interfaces=("Node",))

obj_type("FulfillmentTrackingInfo", {"company": F("String"), "number": F("String"), "url": F("URL")})
obj_type("FulfillmentLineItem", {
    "id": F("ID!", lambda c, o, a: gid("FulfillmentLineItem", o["id"])),
    "quantity": F("Int"),
    "lineItem": F("LineItem!", lambda c, o, a: st(c).line_item(o["order_id"], o["line_item_id"])),
}, interfaces=("Node",))
obj_type("Fulfillment", {
    "id": F("ID!", lambda c, o, a: gid("Fulfillment", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "name": F("String!"),
    "status": F("FulfillmentStatus!", lambda c, o, a: o["status"].upper()),
    "displayStatus": F("FulfillmentDisplayStatus", lambda c, o, a: "FULFILLED" if o["status"] == "success"
                       else o["status"].upper()),
    "createdAt": F("DateTime!", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("updated_at")),
    "deliveredAt": F("DateTime", lambda c, o, a: None),
    "inTransitAt": F("DateTime", lambda c, o, a: None),
    "estimatedDeliveryAt": F("DateTime", lambda c, o, a: None),
    "requiresShipping": F("Boolean!", lambda c, o, a: True),
    "totalQuantity": F("Int!", lambda c, o, a: sum(x["quantity"] for x in o["line_items"])),
    "trackingInfo": F("[FulfillmentTrackingInfo!]!", lambda c, o, a: o["tracking"][:a["first"]]
                      if a.get("first") is not None else o["tracking"], {"first": "Int"}),
    "location": F("Location", lambda c, o, a: st(c).locations.get(o["location_id"])),
    "order": F("Order!", lambda c, o, a: st(c).orders.get(o["order_id"])),
    "fulfillmentLineItems": F("FulfillmentLineItemConnection!", lambda c, o, a: paginate(
        [dict(x, order_id=o["order_id"]) for x in o["line_items"]], a, lambda x: (x["id"], x["id"])), CONN_ARGS),
}, interfaces=("Node",))

obj_type("FulfillmentOrderAssignedLocation", {
    "name": F("String!", lambda c, o, a: o["name"]),
    "location": F("Location", lambda c, o, a: o),
    "address1": F("String", lambda c, o, a: o["address"].get("address1")),
    "city": F("String", lambda c, o, a: o["address"].get("city")),
    "province": F("String", lambda c, o, a: o["address"].get("province")),
    "zip": F("String", lambda c, o, a: o["address"].get("zip")),
    "countryCode": F("CountryCode!", lambda c, o, a: o["address"].get("country_code")),
    "phone": F("String", lambda c, o, a: o["address"].get("phone")),
})
obj_type("FulfillmentOrderLineItem", {
    "id": F("ID!", lambda c, o, a: gid("FulfillmentOrderLineItem", o["id"])),
    "totalQuantity": F("Int!", lambda c, o, a: o["total"]),
    "remainingQuantity": F("Int!", lambda c, o, a: o["remaining"]),
    "sku": F("String", lambda c, o, a: st(c).line_item(o["order_id"], o["line_item_id"])["sku"]),
    "productTitle": F("String!", lambda c, o, a: st(c).line_item(o["order_id"], o["line_item_id"])["title"]),
    "variantTitle": F("String", lambda c, o, a: st(c).line_item(o["order_id"], o["line_item_id"])
                      .get("variant_title")),
    "inventoryItemId": F("ID", lambda c, o, a: st(c).line_item_inventory_gid(o["order_id"], o["line_item_id"])),
    "lineItem": F("LineItem!", lambda c, o, a: st(c).line_item(o["order_id"], o["line_item_id"])),
}, interfaces=("Node",))
obj_type("FulfillmentOrder", {
    "id": F("ID!", lambda c, o, a: gid("FulfillmentOrder", o["id"])),
    "status": F("FulfillmentOrderStatus!", lambda c, o, a: o["status"].upper()),
    "requestStatus": F("FulfillmentOrderRequestStatus!", lambda c, o, a: "UNSUBMITTED"),
    "createdAt": F("DateTime!", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("updated_at")),
    "orderId": F("ID!", lambda c, o, a: gid("Order", o["order_id"])),
    "orderName": F("String!", lambda c, o, a: st(c).orders[o["order_id"]]["name"]),
    "order": F("Order!", lambda c, o, a: st(c).orders.get(o["order_id"])),
    "assignedLocation": F("FulfillmentOrderAssignedLocation!", lambda c, o, a: st(c).locations.get(o["location_id"])),
    "lineItems": F("FulfillmentOrderLineItemConnection!", lambda c, o, a: paginate(
        [dict(x, order_id=o["order_id"]) for x in o["line_items"]], a, lambda x: (x["id"], x["id"])), CONN_ARGS),
}, interfaces=("Node",))


def order_fulfillment_status(store, o):
    """Display fulfillment status from the fulfilled quantities of the order's current line items."""
    want = sum(li["current_quantity"] for li in o["line_items"] if li["requires_shipping"])
    done = sum(min(li["current_quantity"], _fulfilled_qty(store, o, li["id"])) for li in o["line_items"]
               if li["requires_shipping"])
    if want and done >= want:
        return "FULFILLED"
    return "PARTIALLY_FULFILLED" if done else "UNFULFILLED"


obj_type("Order", {
    "id": F("ID!", lambda c, o, a: gid("Order", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "name": F("String!"),
    "email": F("String"),
    "phone": F("String"),
    "note": F("String"),
    "tags": F("[String!]!", lambda c, o, a: [t.strip() for t in (o["tags"] or "").split(",") if t.strip()]),
    "test": F("Boolean!"),
    "confirmed": F("Boolean!"),
    "closed": F("Boolean!", lambda c, o, a: o["closed_at"] is not None),
    "createdAt": F("DateTime!", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("updated_at")),
    "processedAt": F("DateTime!", t_of("processed_at")),
    "cancelledAt": F("DateTime", t_of("cancelled_at")),
    "closedAt": F("DateTime", t_of("closed_at")),
    "cancelReason": F("OrderCancelReason", lambda c, o, a: o["cancel_reason"].upper() if o["cancel_reason"] else None),
    "sourceName": F("String", lambda c, o, a: o["source_name"]),
    "currencyCode": F("CurrencyCode!", lambda c, o, a: o["currency"]),
    "presentmentCurrencyCode": F("CurrencyCode!", lambda c, o, a: o["currency"]),
    "displayFinancialStatus": F("OrderDisplayFinancialStatus", lambda c, o, a: o["financial_status"].upper()),
    "displayFulfillmentStatus": F("OrderDisplayFulfillmentStatus!",
                                  lambda c, o, a: order_fulfillment_status(st(c), o)),
    "fullyPaid": F("Boolean!", lambda c, o, a: o["financial_status"] == "paid"),
    "subtotalLineItemsQuantity": F("Int!", lambda c, o, a: sum(li["current_quantity"] for li in o["line_items"])),
    "subtotalPriceSet": F("MoneyBag", lambda c, o, a: money_bag(order_totals(o)["subtotal"], o["currency"])),
    "totalPriceSet": F("MoneyBag!", lambda c, o, a: money_bag(order_totals(o)["total"], o["currency"])),
    "currentTotalPriceSet": F("MoneyBag!", lambda c, o, a: money_bag(order_totals(o)["current_total"], o["currency"])),
    "totalShippingPriceSet": F("MoneyBag!", lambda c, o, a: money_bag(order_totals(o)["shipping"], o["currency"])),
    "totalTaxSet": F("MoneyBag", lambda c, o, a: money_bag(order_totals(o)["tax"], o["currency"])),
    "currentTotalTaxSet": F("MoneyBag!", lambda c, o, a: money_bag(order_totals(o)["tax"], o["currency"])),
    "currentSubtotalPriceSet": F("MoneyBag!", lambda c, o, a: money_bag(order_totals(o)["current_subtotal"],
                                                                        o["currency"])),
    "totalTipReceivedSet": F("MoneyBag!", lambda c, o, a: money_bag(order_totals(o)["tip"], o["currency"])),
    "currentTotalDutiesSet": F("MoneyBag", lambda c, o, a: money_bag(order_totals(o)["duties"], o["currency"])
                               if order_totals(o)["duties"] else None),
    "taxesIncluded": F("Boolean!", lambda c, o, a: bool(o.get("taxes_included"))),
    "totalDiscountsSet": F("MoneyBag", lambda c, o, a: money_bag(order_totals(o)["discounts"], o["currency"])),
    "customer": F("Customer", lambda c, o, a: o.get("customer")),
    "shippingAddress": F("MailingAddress", lambda c, o, a: o.get("shipping_address")),
    "billingAddress": F("MailingAddress", lambda c, o, a: o.get("billing_address")),
    "customAttributes": F("[Attribute!]!", lambda c, o, a: [{"key": x.get("name"), "value": x.get("value")}
                                                            for x in o.get("note_attributes") or []]),
    "lineItems": F("LineItemConnection!", lambda c, o, a: paginate(
        [dict(li, order_id=o["id"]) for li in o["line_items"]], a, lambda li: (li["id"], li["id"])), CONN_ARGS),
    "shippingLines": F("ShippingLineConnection!", lambda c, o, a: paginate(
        o["shipping_lines"], a, lambda s: (s["id"], s["id"])), dict(CONN_ARGS, includeRemovals=A("Boolean", False))),
    "fulfillmentOrders": F("FulfillmentOrderConnection!", lambda c, o, a: paginate(
        [st(c).fos[i] for i in o["fulfillment_order_ids"]], a, lambda fo: (fo["id"], fo["id"])),
        dict(CONN_ARGS, displayable=A("Boolean", False), query="String")),
    "fulfillments": F("[Fulfillment!]!", lambda c, o, a: [st(c).fulfillments[i] for i in o["fulfillment_ids"]][
        :a["first"] if a.get("first") is not None else None], {"first": "Int"}),
}, interfaces=("Node",))


def _order_status(o, op, value):
    v = value.lower()
    if v == "any":
        return True
    if v == "open":
        return o["closed_at"] is None and o["cancelled_at"] is None
    if v == "closed":
        return o["closed_at"] is not None
    if v in ("cancelled", "canceled"):
        return o["cancelled_at"] is not None
    return False


ORDER_SEARCH = {
    "id": ("id", lambda o: o["id"]),
    "name": ("str", lambda o: [o["name"], o["name"].lstrip("#")]),
    "email": ("str", lambda o: o["email"]),
    "created_at": ("date", lambda o: o["created_at"]),
    "updated_at": ("date", lambda o: o["updated_at"]),
    "processed_at": ("date", lambda o: o["processed_at"]),
    "financial_status": ("str", lambda o: o["financial_status"]),
    "status": ("custom", _order_status),
    "sku": ("str", lambda o: [li["sku"] for li in o["line_items"]]),
    "tag": ("str", lambda o: [t.strip() for t in (o["tags"] or "").split(",") if t.strip()]),
    "test": ("bool", lambda o: o["test"]),
    "customer_id": ("id", lambda o: (o.get("customer") or {}).get("id")),
}
ORDER_SORT = {
    "ID": lambda o: o["id"], "CREATED_AT": lambda o: o["created_at"].astimezone(UTC).isoformat(),
    "UPDATED_AT": lambda o: o["updated_at"].astimezone(UTC).isoformat(),
    "PROCESSED_AT": lambda o: o["processed_at"].astimezone(UTC).isoformat(),
    "ORDER_NUMBER": lambda o: o["order_number"], "TOTAL_PRICE": lambda o: float(order_totals(o)["total"]),
    "FINANCIAL_STATUS": lambda o: o["financial_status"], "RELEVANCE": lambda o: o["id"],
    "CUSTOMER_NAME": lambda o: ((o.get("customer") or {}).get("last_name") or ""),
    "FULFILLMENT_STATUS": lambda o: o["id"],
}


def _fulfillment_status_search(c):
    def fn(o, op, value):
        status = order_fulfillment_status(st(c), o)
        v = value.lower()
        return {"unshipped": status == "UNFULFILLED", "unfulfilled": status == "UNFULFILLED",
                "shipped": status == "FULFILLED", "fulfilled": status == "FULFILLED",
                "partial": status == "PARTIALLY_FULFILLED", "any": True}.get(v, False)
    return fn


def _orders(c, o, a):
    spec = dict(ORDER_SEARCH, fulfillment_status=("custom", _fulfillment_status_search(c)))
    rows = run_search(c, st(c).orders.values(), a.get("query"), spec,
                      lambda o: [o["name"], o["email"]] + [li["sku"] for li in o["line_items"]], "orders")
    sort = ORDER_SORT[a.get("sortKey") or "ID"]
    return paginate(rows, a, lambda o: (sort(o), o["id"]))


PRODUCT_SEARCH = {
    "title": ("str", lambda p: p["title"]), "handle": ("str", lambda p: p["handle"]),
    "status": ("str", lambda p: p["status"]), "id": ("id", lambda p: p["id"]),
    "vendor": ("str", lambda p: p["vendor"]), "product_type": ("str", lambda p: p["product_type"]),
    "created_at": ("date", lambda p: p["created_at"]), "updated_at": ("date", lambda p: p["updated_at"]),
    "tag": ("str", lambda p: [t.strip() for t in p["tags"].split(",")]),
}


def _products(c, o, a):
    store = st(c)
    spec = dict(PRODUCT_SEARCH, sku=("str", lambda p: [store.variants[v]["sku"] for v in p["variant_ids"]]))
    rows = run_search(c, store.products.values(), a.get("query"), spec, lambda p: [p["title"], p["handle"]],
                      "products", product_index(store))
    sort = {"ID": lambda p: p["id"], "TITLE": lambda p: p["title"], "PRODUCT_TYPE": lambda p: p["product_type"],
            "VENDOR": lambda p: p["vendor"], "CREATED_AT": lambda p: p["created_at"].isoformat(),
            "UPDATED_AT": lambda p: p["updated_at"].astimezone(UTC).isoformat()}.get(a.get("sortKey") or "ID",
                                                                                     lambda p: p["id"])
    return paginate(rows, a, lambda p: (sort(p), p["id"]))


ITEM_SEARCH = {"sku": ("str", lambda i: i["sku"]), "id": ("id", lambda i: i["id"]),
               "created_at": ("date", lambda i: i["created_at"]), "updated_at": ("date", lambda i: i["updated_at"])}


def _items(c, o, a):
    rows = run_search(c, st(c).items.values(), a.get("query"), ITEM_SEARCH, lambda i: [i["sku"]], "inventoryItems",
                      item_index(st(c)))
    return paginate(rows, a, lambda i: (i["id"], i["id"]))


LOCATION_SEARCH = {"name": ("str", lambda l: l["name"]), "id": ("id", lambda l: l["id"]),
                   "active": ("bool", lambda l: l["active"])}


def _locations(c, o, a):
    locs = [l for l in st(c).locations.values() if l["active"] or a.get("includeInactive")]
    rows = run_search(c, locs, a.get("query"), LOCATION_SEARCH, lambda l: [l["name"]], "locations")
    sort = {"NAME": lambda l: l["name"]}.get(a.get("sortKey") or "ID", lambda l: l["id"])
    return paginate(rows, a, lambda l: (sort(l), l["id"]))


def _location(c, o, a):
    if a.get("id") is None:
        return st(c).locations.get(st(c).primary_location)
    return lookup("Location", "locations")(c, o, a)


def _inventory_level(c, o, a):
    m = re.match(r"^gid://shopify/InventoryLevel/([0-9]+)\?inventory_item_id=([0-9]+)$", str(a["id"]))
    if not m:
        raise FieldError("Invalid id: %s" % a["id"], {"code": "RESOURCE_NOT_FOUND"})
    return st(c).levels.get((int(m.group(2)), int(m.group(1))))


NODE_TABLES = {"Order": "orders", "Product": "products", "ProductVariant": "variants", "InventoryItem": "items",
               "Location": "locations", "Fulfillment": "fulfillments", "FulfillmentOrder": "fos"}


def _node(c, o, a):
    value = str(a["id"])
    if value.startswith("gid://shopify/InventoryLevel/"):
        lv = _inventory_level(c, o, a)
        return dict(lv, __typename="InventoryLevel") if lv else None
    m = GID_RE.match(value)
    if not m:
        raise FieldError("Invalid global id '%s'" % value, {"code": "argumentLiteralsIncompatible"})
    kind, rid = m.group(1), int(m.group(2))
    if kind == "Shop":
        return dict(st(c).shop, __typename="Shop") if rid == st(c).shop["id"] else None
    if kind == "Customer":
        cust = st(c).customer(rid)
        return dict(cust, __typename="Customer") if cust else None
    table = NODE_TABLES.get(kind)
    rec = getattr(st(c), table).get(rid) if table else None
    return dict(rec, __typename=kind) if rec else None


def _customer(c, o, a):
    rid = gid_id(a["id"], "Customer")
    if rid is None:
        raise FieldError("Invalid id: %s" % a["id"], {"code": "RESOURCE_NOT_FOUND"})
    return st(c).customer(rid)


for _t in ("Location", "InventoryLevel", "ProductVariant", "Product", "InventoryItem", "Order", "LineItem",
           "ShippingLine", "FulfillmentOrder", "FulfillmentOrderLineItem", "FulfillmentLineItem"):
    conn_type(_t)

# The app's granted scopes (synchub check reads them); tests narrow them through ShopifySim.access_scopes.
DEFAULT_ACCESS_SCOPES = ("read_orders", "read_products", "read_inventory", "write_inventory", "read_locations",
                         "write_assigned_fulfillment_orders", "write_merchant_managed_fulfillment_orders",
                         "write_third_party_fulfillment_orders")
obj_type("AccessScope", {"handle": F("String!", lambda c, o, a: o),
                         "description": F("String!", lambda c, o, a: o.replace("_", " "))})
obj_type("AppInstallation", {
    "id": F("ID!", lambda c, o, a: gid("AppInstallation", 1)),
    "accessScopes": F("[AccessScope!]!", lambda c, o, a: list(c.sim.access_scopes)),
}, interfaces=("Node",))

obj_type("QueryRoot", {
    "shop": F("Shop!", lambda c, o, a: st(c).shop),
    "currentAppInstallation": F("AppInstallation!", lambda c, o, a: {}),
    "location": F("Location", _location, {"id": "ID"}),
    "locations": F("LocationConnection!", _locations, dict(
        CONN_ARGS, query="String", sortKey=A("LocationSortKeys", "NAME"), includeInactive=A("Boolean", False),
        includeLegacy=A("Boolean", False))),
    "product": F("Product", lookup("Product", "products"), {"id": "ID!"}),
    "products": F("ProductConnection!", _products, dict(CONN_ARGS, query="String", sortKey=A("ProductSortKeys", "ID"))),
    "productVariant": F("ProductVariant", lookup("ProductVariant", "variants"), {"id": "ID!"}),
    "productVariants": F("ProductVariantConnection!", lambda c, o, a: _variants_conn(
        c, st(c).variants.values(), a, "productVariants", variant_index(st(c))),
        dict(CONN_ARGS, query="String", sortKey=A("ProductVariantSortKeys", "ID"))),
    "inventoryItem": F("InventoryItem", lookup("InventoryItem", "items"), {"id": "ID!"}),
    "inventoryItems": F("InventoryItemConnection!", _items, dict(CONN_ARGS, query="String")),
    "inventoryLevel": F("InventoryLevel", _inventory_level, {"id": "ID!"}),
    "order": F("Order", lookup("Order", "orders"), {"id": "ID!"}),
    "orders": F("OrderConnection!", _orders, dict(CONN_ARGS, query="String", sortKey=A("OrderSortKeys", "ID"))),
    "customer": F("Customer", _customer, {"id": "ID!"}),
    "fulfillment": F("Fulfillment", lookup("Fulfillment", "fulfillments"), {"id": "ID!"}),
    "fulfillmentOrder": F("FulfillmentOrder", lookup("FulfillmentOrder", "fos"), {"id": "ID!"}),
    "node": F("Node", _node, {"id": "ID!"}),
    "nodes": F("[Node]!", lambda c, o, a: [_node(c, o, {"id": i}) for i in a["ids"]], {"ids": "[ID!]!"},
               size=lambda args: len(args.get("ids") or [])),
})

obj_type("InventoryChange", {
    "name": F("String!"),
    "delta": F("Int!"),
    "quantityAfterChange": F("Int", lambda c, o, a: o["after"]),
    "ledgerDocumentUri": F("String", lambda c, o, a: o.get("ledger")),
    "item": F("InventoryItem", lambda c, o, a: st(c).items.get(o["item_id"])),
    "location": F("Location", lambda c, o, a: st(c).locations.get(o["location_id"])),
})


def _group_changes(c, o, a):
    items = {gid_id(x, "InventoryItem") for x in a.get("inventoryItemIds") or []}
    locs = {gid_id(x, "Location") for x in a.get("locationIds") or []}
    names = set(a.get("quantityNames") or [])
    return [ch for ch in o["changes"] if (not items or ch["item_id"] in items)
            and (not locs or ch["location_id"] in locs) and (not names or ch["name"] in names)]


obj_type("InventoryAdjustmentGroup", {
    "id": F("ID!", lambda c, o, a: gid("InventoryAdjustmentGroup", o["id"])),
    "createdAt": F("DateTime!", t_of("created_at")),
    "reason": F("String!"),
    "referenceDocumentUri": F("String", lambda c, o, a: o.get("reference_document_uri")),
    "changes": F("[InventoryChange!]!", _group_changes, {"inventoryItemIds": "[ID!]", "locationIds": "[ID!]",
                                                        "quantityNames": "[String!]"}),
}, interfaces=("Node",))

for _p, _ue in (("InventorySetQuantitiesPayload", "InventorySetQuantitiesUserError"),
                ("InventoryAdjustQuantitiesPayload", "InventoryAdjustQuantitiesUserError")):
    obj_type(_p, {"inventoryAdjustmentGroup": F("InventoryAdjustmentGroup", lambda c, o, a: o.get("group")),
                  "userErrors": F("[%s!]!" % _ue, lambda c, o, a: o["userErrors"])})
for _p in ("FulfillmentCreatePayload", "FulfillmentCreateV2Payload", "FulfillmentTrackingInfoUpdatePayload",
           "FulfillmentTrackingInfoUpdateV2Payload"):
    obj_type(_p, {"fulfillment": F("Fulfillment", lambda c, o, a: o.get("fulfillment")),
                  "userErrors": F("[UserError!]!", lambda c, o, a: o["userErrors"])})

obj_type("Mutation", {
    "inventorySetQuantities": F("InventorySetQuantitiesPayload", None, {"input": "InventorySetQuantitiesInput!"}),
    "inventoryAdjustQuantities": F("InventoryAdjustQuantitiesPayload", None,
                                   {"input": "InventoryAdjustQuantitiesInput!"}),
    "fulfillmentCreate": F("FulfillmentCreatePayload", None, {"fulfillment": "FulfillmentInput!",
                                                              "message": "String"}),
    "fulfillmentCreateV2": F("FulfillmentCreateV2Payload", None, {"fulfillment": "FulfillmentV2Input!",
                                                                  "message": "String"}),
    "fulfillmentTrackingInfoUpdate": F("FulfillmentTrackingInfoUpdatePayload", None, {
        "fulfillmentId": "ID!", "trackingInfoInput": "FulfillmentTrackingInput!", "notifyCustomer": "Boolean"}),
    "fulfillmentTrackingInfoUpdateV2": F("FulfillmentTrackingInfoUpdateV2Payload", None, {
        "fulfillmentId": "ID!", "trackingInfoInput": "FulfillmentTrackingInput!", "notifyCustomer": "Boolean"}),
})


# ----------------------------------------------------------------------------------------------------------------
# Webhook subscriptions through the Admin API (issue 19: `synchub setup shopify`, `synchub check`, the scheduler's
# subscription check). The webhookSubscriptions query and the webhookSubscriptionCreate / webhookSubscriptionDelete
# mutations, as of API 2025-10 (WebhookSubscriptionInput.uri and WebhookSubscription.uri; the deprecated
# callbackUrl is accepted and answered too), and Shopify's removal rule: a subscription made through the Admin API
# is deleted after 8 consecutive failed deliveries (shared/reference/platform-facts.md section 1). Here each event
# is one delivery of one attempt (Shopify retries a delivery 8 times over 4 hours first; a test cannot wait that
# long), a 2xx resets the count, and the 8th failure in a row deletes the subscription (logged in the webhook log
# as {"removed": true}). Deliveries are signed with the app's client secret (ShopifySim(app_secret=…), printed as
# "webhook_secret" on the ready line). Subscriptions made with the test API (/__sim__/webhooks/subscribe) stand for
# app-specific ones (shopify.app.toml) and are never removed, as Shopify's are not.

SUBSCRIPTION_FAILURE_LIMIT = 8
DEFAULT_APP_SECRET = "shpss_" + hashlib.sha1(b"shopify-sim app client secret").hexdigest()[:32]
V_WEBHOOK_URI = "2025-10"
WEBHOOK_TOPICS = ("APP_UNINSTALLED", "CUSTOMERS_CREATE", "CUSTOMERS_UPDATE", "FULFILLMENTS_CREATE",
                  "FULFILLMENTS_UPDATE", "INVENTORY_LEVELS_UPDATE", "ORDERS_CANCELLED", "ORDERS_CREATE",
                  "ORDERS_FULFILLED", "ORDERS_PAID", "ORDERS_UPDATED", "PRODUCTS_CREATE", "PRODUCTS_UPDATE",
                  "REFUNDS_CREATE")
ENUMS["WebhookSubscriptionTopic"] = WEBHOOK_TOPICS
ENUMS["WebhookSubscriptionFormat"] = ("JSON", "XML")
INPUTS["WebhookSubscriptionInput"] = {
    "uri": ("String", V_WEBHOOK_URI, None), "callbackUrl": ("URL", None, None),
    "format": ("WebhookSubscriptionFormat", None, None), "includeFields": ("[String!]", None, None),
    "filter": ("String", None, None), "metafieldNamespaces": ("[String!]", None, None)}


def topic_header(enum):
    """ORDERS_CREATE -> orders/create (the X-Shopify-Topic spelling: the last '_' is the '/')."""
    head, _, tail = enum.lower().rpartition("_")
    return "%s/%s" % (head, tail)


obj_type("WebhookSubscription", {
    "id": F("ID!", lambda c, o, a: gid("WebhookSubscription", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "topic": F("WebhookSubscriptionTopic!", lambda c, o, a: o["topic_enum"]),
    "uri": F("String!", lambda c, o, a: o["url"], minv=V_WEBHOOK_URI),
    "callbackUrl": F("URL!", lambda c, o, a: o["url"]),
    "format": F("WebhookSubscriptionFormat!", lambda c, o, a: o.get("format") or "JSON"),
    "includeFields": F("[String!]!", lambda c, o, a: o.get("include_fields") or []),
    "filter": F("String", lambda c, o, a: o.get("filter")),
    "createdAt": F("DateTime!", lambda c, o, a: o["created_at"]),
    "updatedAt": F("DateTime!", lambda c, o, a: o["created_at"]),
})
conn_type("WebhookSubscription")
obj_type("WebhookSubscriptionCreatePayload", {
    "webhookSubscription": F("WebhookSubscription", lambda c, o, a: o.get("webhookSubscription")),
    "userErrors": F("[UserError!]!", lambda c, o, a: o["userErrors"])})
obj_type("WebhookSubscriptionDeletePayload", {
    "deletedWebhookSubscriptionId": F("ID", lambda c, o, a: o.get("deletedWebhookSubscriptionId")),
    "userErrors": F("[UserError!]!", lambda c, o, a: o["userErrors"])})


def _webhook_subscriptions(c, o, a):
    subs = [s for s in c.sim.api_subscriptions()
            if (not a.get("topics") or s["topic_enum"] in a["topics"])
            and (a.get("uri") is None or s["url"] == a["uri"])
            and (a.get("callbackUrl") is None or s["url"] == a["callbackUrl"])
            and (a.get("format") is None or (s.get("format") or "JSON") == a["format"])]
    return paginate(subs, a, lambda s: (s["id"], s["id"]))


OBJECTS["QueryRoot"]["fields"]["webhookSubscriptions"] = F(
    "WebhookSubscriptionConnection!", _webhook_subscriptions,
    dict(CONN_ARGS, topics="[WebhookSubscriptionTopic!]", uri="String", callbackUrl="URL",
         format="WebhookSubscriptionFormat", query="String"))
OBJECTS["Mutation"]["fields"]["webhookSubscriptionCreate"] = F(
    "WebhookSubscriptionCreatePayload", None,
    {"topic": "WebhookSubscriptionTopic!", "webhookSubscription": "WebhookSubscriptionInput!"})
OBJECTS["Mutation"]["fields"]["webhookSubscriptionDelete"] = F("WebhookSubscriptionDeletePayload", None,
                                                               {"id": "ID!"})


class AdminSubscriptions:
    """ShopifySim's part for Admin-API webhook subscriptions (mixed in; uses its lock, store clock, subscriptions
    and webhook log)."""

    MUTATIONS = {"webhookSubscriptionCreate": "_m_webhook_subscription_create",
                 "webhookSubscriptionDelete": "_m_webhook_subscription_delete"}

    def api_subscriptions(self):
        with self.lock:
            return [dict(s) for s in sorted(self.subscriptions.values(), key=lambda s: s["id"]) if s.get("api")]

    def _m_webhook_subscription_create(self, ctx, args):
        inp = args["webhookSubscription"]
        url = inp.get("uri") or inp.get("callbackUrl")
        if not url:
            return {"webhookSubscription": None, "userErrors": [{"field": ["webhookSubscription", "uri"],
                                                                "message": "Address can't be blank"}]}
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            return {"webhookSubscription": None, "userErrors": [{"field": ["webhookSubscription", "uri"],
                                                                "message": "Address is invalid"}]}
        topic = args["topic"]
        with self.lock:
            for s in self.subscriptions.values():
                if s.get("api") and s["topic_enum"] == topic and s["url"] == url:
                    return {"webhookSubscription": None, "userErrors": [{
                        "field": ["webhookSubscription", "callbackUrl"],
                        "message": "Address for this topic has already been taken"}]}
            self.sub_seq += 1
            sub = {"id": self.sub_seq, "topic": topic_header(topic), "topic_enum": topic, "url": url,
                   "secret": self.app_secret, "duplicate": 1, "delay_ms": 0, "api_version": ctx.version,
                   "name": None, "retry": False, "retries": 0, "backoff_ms": 0, "header_style": "shopify",
                   "api": True, "format": inp.get("format") or "JSON", "include_fields": inp.get("includeFields"),
                   "filter": inp.get("filter"), "created_at": gql_time(self.clock()), "failures": 0}
            self.subscriptions[sub["id"]] = sub
            return {"webhookSubscription": dict(sub), "userErrors": []}

    def _m_webhook_subscription_delete(self, ctx, args):
        rid = gid_id(args["id"], "WebhookSubscription")
        with self.lock:
            sub = self.subscriptions.get(rid) if rid is not None else None
            if sub is None or not sub.get("api"):
                return {"deletedWebhookSubscriptionId": None, "userErrors": [{
                    "field": ["id"], "message": "Webhook subscription does not exist"}]}
            del self.subscriptions[rid]
        return {"deletedWebhookSubscriptionId": gid("WebhookSubscription", rid), "userErrors": []}

    def _subscription_delivery(self, sub, rec):
        """Log one attempt of a subscription's delivery; count an Admin-API subscription's failures in a row and
        delete it at the 8th."""
        removed = False
        if sub.get("api") and rec.get("final", True):
            with self.lock:
                live = self.subscriptions.get(sub["id"])
                if live is not None:
                    live["failures"] = 0 if rec.get("ok") else live["failures"] + 1
                    if live["failures"] >= SUBSCRIPTION_FAILURE_LIMIT:
                        del self.subscriptions[sub["id"]]
                        removed = True
        self._log_webhook(dict(rec, subscription=sub["id"], source="subscription", removed=removed))

    def remove_subscription_as_shopify(self, sub_id):
        """What 8 failed deliveries do, at once (test API: /__sim__/webhooks/remove)."""
        with self.lock:
            sub = self.subscriptions.get(int(sub_id))
            if sub is None or not sub.get("api"):
                raise SimError("no Admin API subscription %s" % sub_id)
            del self.subscriptions[int(sub_id)]
        self._log_webhook({"topic": sub["topic"], "url": sub["url"], "subscription": sub["id"],
                           "source": "subscription", "removed": True, "ok": False, "status": None})
        return {"removed": sub["id"]}


# ----------------------------------------------------------------------------------------------------------------
# Store: seed data, inventory, orders, fulfillments, and the REST-shaped webhook bodies

def level_quantities(lv):
    q = dict(lv["q"])
    q["on_hand"] = sum(q[n] for n in ON_HAND_PARTS)
    return q


def order_totals(o):
    """Shopify's order totals. Line discounts are in total_discounts (the sum of the lines' discount_allocations for
    an order made from a money fixture); shipping is counted at its discounted price; price-included taxes
    (taxes_included) are inside the prices already; a tip is a line item of its own; duties add to the total."""
    subtotal = sum(dec(li["price"]) * li["quantity"] for li in o["line_items"])
    current = sum(dec(li["price"]) * li["current_quantity"] for li in o["line_items"])
    shipping = sum(dec(s.get("discounted_price", s["price"])) for s in o["shipping_lines"])
    tax = dec(o.get("total_tax") or "0")
    discounts = dec(o.get("total_discounts") or "0")
    tip = dec(o.get("total_tip_received") or "0")
    duties = sum((dec(d["price"]) for li in o["line_items"] for d in li.get("duties") or []), dec("0"))
    added = (dec("0") if o.get("taxes_included") else tax) + duties
    return {"subtotal": subtotal, "shipping": shipping, "tax": tax, "discounts": discounts, "tip": tip,
            "duties": duties, "current_subtotal": current - discounts,
            "total": subtotal + shipping + added - discounts, "current_total": current + shipping + added - discounts}


# ----------------------------------------------------------------------------------------------------------------
# Order to cash: an order's transactions and refunds (GraphQL Order.transactions / Order.refunds, the refunds/create
# webhook). Shapes follow the Admin API's Refund and OrderTransaction objects and the REST Refund resource; amounts
# are computed from the order's own prices (a refunded line's tax is its share of the line's tax lines, if any).

for _name in ("OrderTransactionKind", "OrderTransactionStatus", "RestockType", "RefundLineItemRestockType",
              "RiskAssessmentResult", "OrderRiskRecommendationResult"):
    ENUMS[_name] = None

TXN_SEQ_START = 7310423834646


def order_transactions(store, order):
    """The order's transactions, created on first use: a paid (or later refunded) order was charged once, a sale on
    its gateway for its total at its processing time; an authorized one holds an authorization; a pending one none."""
    if "transactions" not in order:
        store.seq.setdefault("transaction", TXN_SEQ_START)
        txns = []
        status = order.get("financial_status")
        if status in ("paid", "partially_refunded", "refunded", "authorized", "partially_paid"):
            total = order_totals(order)["total"]
            txns.append({"id": store.next("transaction"), "order_id": order["id"],
                         "kind": "authorization" if status == "authorized" else "sale", "status": "success",
                         "gateway": order.get("gateway") or "shopify_payments", "amount": money2(total),
                         "currency": order["currency"], "parent_id": None, "processed_at": order["processed_at"],
                         "created_at": order["processed_at"], "test": order.get("test", False),
                         "authorization": None})
        order["transactions"] = txns
    return order["transactions"]


def set_order_transactions(store, oid, txns):
    """Replace an order's transactions (test set-up: split payments, gift cards, PayPal): each {kind, gateway,
    amount, status (success), processed_at, id}."""
    order = store.orders.get(int(oid))
    if order is None:
        raise SimError("no order %s" % oid, 404)
    store.seq.setdefault("transaction", TXN_SEQ_START)
    out = []
    for t in txns:
        out.append({"id": int(t.get("id") or store.next("transaction")), "order_id": order["id"],
                    "kind": t.get("kind", "sale"), "status": t.get("status", "success"),
                    "gateway": t.get("gateway", "shopify_payments"), "amount": money2(t["amount"]),
                    "currency": t.get("currency", order["currency"]), "parent_id": t.get("parent_id"),
                    "processed_at": parse_time(t["processed_at"]) if t.get("processed_at") else order["processed_at"],
                    "created_at": order["processed_at"], "test": order.get("test", False), "authorization": None})
    order["transactions"] = out
    return out


def _refund_line_tax(li, qty):
    tax = sum((dec(t.get("price") or "0") for t in li.get("tax_lines") or []), dec("0"))
    return (tax * qty / li["quantity"]).quantize(dec("0.01")) if li["quantity"] else dec("0")


def create_refund(store, oid, spec, emit=True):
    """A refund as Shopify's refundCreate makes it. spec: lines [{line_item_id or sku, quantity, restock_type
    (return | cancel | no_restock), location_id}], shipping (an amount, or true for the whole shipping), note,
    created_at, transactions [{amount, gateway, kind, parent_id, status}] (default: one refund of the computed
    amount on the gateway of the order's first sale/capture, its child), id.
    Effects: refunded quantities leave the line's current quantity; 'cancel' releases the reservation of unfulfilled
    units; 'return' puts the units back on hand at the location; the financial status follows the money."""
    order = store.orders.get(int(oid))
    if order is None:
        raise SimError("no order %s" % oid, 404)
    now = parse_time(spec["created_at"]) if spec.get("created_at") else store.clock()
    store.seq.setdefault("refund", 924387213334)
    store.seq.setdefault("refund_line", 553913376790)
    store.seq.setdefault("adjustment", 296102748182)
    rid = int(spec.get("id") or store.next("refund"))
    if any(r["id"] == rid for r in order["refunds"]):
        raise SimError("refund %d exists" % rid, 409)
    rlines, amount = [], dec("0")
    for ln in spec.get("lines") or []:
        li = next((x for x in order["line_items"] if x["id"] == int(ln.get("line_item_id") or 0)
                   or (ln.get("sku") and x["sku"] == ln.get("sku"))), None)
        if li is None:
            raise SimError("no line %s on order %s" % (ln.get("line_item_id") or ln.get("sku"), oid))
        qty = int(ln.get("quantity", 1))
        if qty < 1 or qty > li["current_quantity"]:
            raise SimError("cannot refund %d of line %s (current quantity %d)" % (qty, li["id"],
                                                                                  li["current_quantity"]), 422)
        restock = ln.get("restock_type", "no_restock")
        if restock not in ("return", "cancel", "no_restock", "legacy_restock"):
            raise SimError("restock_type must be return, cancel or no_restock")
        location = int(ln.get("location_id") or store.fos[order["fulfillment_order_ids"][0]]["location_id"])
        subtotal = dec(li["price"]) * qty
        tax = _refund_line_tax(li, qty)
        amount += subtotal + tax
        li["current_quantity"] -= qty
        _refund_restock(store, order, li, qty, restock, location, now, emit)
        rlines.append({"id": store.next("refund_line"), "line_item_id": li["id"], "quantity": qty,
                       "restock_type": restock, "location_id": location if restock != "no_restock" else None,
                       "subtotal": subtotal, "total_tax": tax})
    shipping = []
    if spec.get("shipping"):
        for s in order["shipping_lines"]:
            full = dec(s["discounted_price"])
            amt = full if spec["shipping"] is True else min(full, dec(str(spec["shipping"])))
            shipping.append({"id": store.next("adjustment"), "shipping_line_id": s["id"], "amount": amt,
                             "tax": dec("0")})
            amount += amt
            break
    sales = [t for t in order_transactions(store, order) if t["kind"] in ("sale", "capture")
             and t["status"] == "success"]
    store.seq.setdefault("transaction", TXN_SEQ_START)
    txns = []
    for t in spec.get("transactions") or ([{"amount": str(amount)}] if amount > 0 else []):
        parent = t.get("parent_id") or (sales[0]["id"] if sales else None)
        gateway = t.get("gateway") or (sales[0]["gateway"] if sales else order.get("gateway"))
        txns.append({"id": int(t.get("id") or store.next("transaction")), "order_id": order["id"],
                     "kind": t.get("kind", "refund"), "status": t.get("status", "success"), "gateway": gateway,
                     "amount": money2(t["amount"]), "currency": order["currency"], "parent_id": parent,
                     "processed_at": now, "created_at": now, "test": order.get("test", False),
                     "authorization": None})
    order["transactions"].extend(txns)
    refund = {"id": rid, "order_id": order["id"], "created_at": now, "processed_at": now,
              "note": spec.get("note"), "restock": any(l["restock_type"] != "no_restock" for l in rlines),
              "line_items": rlines, "shipping": shipping, "transaction_ids": [t["id"] for t in txns]}
    order["refunds"].append(refund)
    charged = sum(dec(t["amount"]) for t in order["transactions"] if t["kind"] in ("sale", "capture")
                  and t["status"] == "success")
    refunded = sum(dec(t["amount"]) for t in order["transactions"] if t["kind"] == "refund"
                   and t["status"] == "success")
    if refunded > 0:
        order["financial_status"] = "refunded" if refunded >= charged else "partially_refunded"
    store.bump(order, spec.get("updated_at"))
    if emit:
        store.events.append(("refunds/create", rest_refund(store, order, refund)))
        store.events.append(("orders/updated", rest_order(store, order)))
    return refund


def _refund_restock(store, order, li, qty, restock, location, now, emit):
    v = store.variants.get(li.get("variant_id"))
    lv = store.levels.get((v["inventory_item_id"], location)) if v else None
    if restock == "cancel":
        left = qty
        for fo_id in order["fulfillment_order_ids"]:
            fo = store.fos[fo_id]
            for fl in fo["line_items"]:
                if fl["line_item_id"] == li["id"] and fl["remaining"] and left:
                    take = min(fl["remaining"], left)
                    fl["remaining"] -= take
                    fl["total"] -= take
                    left -= take
                    flv = store.levels.get((v["inventory_item_id"], fo["location_id"])) if v else None
                    if flv is not None:
                        flv["q"]["committed"] -= take
                        flv["q"]["available"] += take
                        store.touch_level(flv, now, emit)
    elif restock == "return" and lv is not None:
        lv["q"]["available"] += qty
        if "on_hand" in lv["q"]:
            lv["q"]["on_hand"] += qty
        store.touch_level(lv, now, emit)


def _txn_of(store, order, tid):
    return next((t for t in order_transactions(store, order) if t["id"] == tid), None)


def rest_transaction(t):
    return {"id": t["id"], "admin_graphql_api_id": gid("OrderTransaction", t["id"]), "order_id": t["order_id"],
            "kind": t["kind"], "gateway": t["gateway"], "status": t["status"], "message": None,
            "created_at": rest_time(t["created_at"]), "processed_at": rest_time(t["processed_at"]),
            "test": t["test"], "authorization": t["authorization"], "parent_id": t["parent_id"],
            "amount": t["amount"], "currency": t["currency"], "source_name": "web", "user_id": None,
            "location_id": None, "device_id": None, "error_code": None, "receipt": {}}


def rest_refund(store, order, r):
    cur = order["currency"]
    lines = []
    for rl in r["line_items"]:
        li = next(x for x in order["line_items"] if x["id"] == rl["line_item_id"])
        lines.append({"id": rl["id"], "line_item_id": rl["line_item_id"], "location_id": rl["location_id"],
                      "quantity": rl["quantity"], "restock_type": rl["restock_type"],
                      "subtotal": float(rl["subtotal"]), "subtotal_set": rest_money_set(rl["subtotal"], cur),
                      "total_tax": float(rl["total_tax"]), "total_tax_set": rest_money_set(rl["total_tax"], cur),
                      "line_item": rest_line_item(store, order, li)})
    adjustments = [{"id": s["id"], "order_id": order["id"], "refund_id": r["id"], "kind": "shipping_refund",
                    "reason": "Shipping refund", "amount": money2(-s["amount"]), "tax_amount": money2(-s["tax"]),
                    "amount_set": rest_money_set(-s["amount"], cur),
                    "tax_amount_set": rest_money_set(-s["tax"], cur)} for s in r["shipping"]]
    return {"id": r["id"], "admin_graphql_api_id": gid("Refund", r["id"]), "order_id": order["id"],
            "created_at": rest_time(r["created_at"]), "processed_at": rest_time(r["processed_at"]),
            "note": r["note"], "restock": r["restock"], "user_id": None, "refund_line_items": lines,
            "transactions": [rest_transaction(_txn_of(store, order, t)) for t in r["transaction_ids"]],
            "order_adjustments": adjustments, "duties": [], "refund_shipping_lines": [
                {"id": s["id"], "shipping_line_id": s["shipping_line_id"],
                 "subtotal_amount_set": rest_money_set(s["amount"], cur)} for s in r["shipping"]]}


obj_type("OrderTransaction", {
    "id": F("ID!", lambda c, o, a: gid("OrderTransaction", o["id"])),
    "kind": F("OrderTransactionKind!", lambda c, o, a: o["kind"].upper()),
    "status": F("OrderTransactionStatus!", lambda c, o, a: o["status"].upper()),
    "gateway": F("String"),
    "formattedGateway": F("String", lambda c, o, a: o["gateway"].replace("_", " ").title()),
    "test": F("Boolean!"),
    "processedAt": F("DateTime", t_of("processed_at")),
    "createdAt": F("DateTime!", t_of("created_at")),
    "amountSet": F("MoneyBag!", lambda c, o, a: money_bag(dec(o["amount"]), o["currency"])),
    "parentTransaction": F("OrderTransaction", lambda c, o, a: _txn_of(
        st(c), st(c).orders[o["order_id"]], o["parent_id"]) if o["parent_id"] else None),
    "errorCode": F("String", lambda c, o, a: None),
}, interfaces=("Node",))
obj_type("RefundLineItem", {
    "id": F("ID", lambda c, o, a: gid("RefundLineItem", o["id"])),
    "quantity": F("Int!"),
    "restockType": F("RefundLineItemRestockType!", lambda c, o, a: o["restock_type"].upper()),
    "restocked": F("Boolean!", lambda c, o, a: o["restock_type"] in ("return", "cancel")),
    "location": F("Location", lambda c, o, a: st(c).locations.get(o["location_id"])),
    "lineItem": F("LineItem!", lambda c, o, a: st(c).line_item(o["order_id"], o["line_item_id"])),
    "subtotalSet": F("MoneyBag!", lambda c, o, a: money_bag(o["subtotal"], st(c).currency)),
    "totalTaxSet": F("MoneyBag!", lambda c, o, a: money_bag(o["total_tax"], st(c).currency)),
    "priceSet": F("MoneyBag!", lambda c, o, a: money_bag(o["subtotal"] / o["quantity"], st(c).currency)),
})
conn_type("RefundLineItem")
obj_type("RefundShippingLine", {
    "id": F("ID!", lambda c, o, a: gid("RefundShippingLine", o["id"])),
    "shippingLine": F("ShippingLine", lambda c, o, a: next((s for s in st(c).orders[o["order_id"]]["shipping_lines"]
                                                            if s["id"] == o["shipping_line_id"]), None)),
    "subtotalAmountSet": F("MoneyBag!", lambda c, o, a: money_bag(o["amount"], st(c).currency)),
    "taxAmountSet": F("MoneyBag!", lambda c, o, a: money_bag(o["tax"], st(c).currency)),
})
conn_type("RefundShippingLine")
conn_type("OrderTransaction")
obj_type("Refund", {
    "id": F("ID!", lambda c, o, a: gid("Refund", o["id"])),
    "legacyResourceId": F("UnsignedInt64!", lambda c, o, a: str(o["id"])),
    "note": F("String"),
    "createdAt": F("DateTime", t_of("created_at")),
    "updatedAt": F("DateTime!", t_of("processed_at")),
    "order": F("Order!", lambda c, o, a: st(c).orders.get(o["order_id"])),
    "totalRefundedSet": F("MoneyBag!", lambda c, o, a: money_bag(sum(
        (dec(_txn_of(st(c), st(c).orders[o["order_id"]], t)["amount"]) for t in o["transaction_ids"]), dec("0")),
        st(c).currency)),
    "refundLineItems": F("RefundLineItemConnection!", lambda c, o, a: paginate(
        [dict(x, order_id=o["order_id"]) for x in o["line_items"]], a, lambda x: (x["id"], x["id"])), CONN_ARGS),
    "refundShippingLines": F("RefundShippingLineConnection!", lambda c, o, a: paginate(
        [dict(x, order_id=o["order_id"]) for x in o["shipping"]], a, lambda x: (x["id"], x["id"])), CONN_ARGS),
    "transactions": F("OrderTransactionConnection!", lambda c, o, a: paginate(
        [_txn_of(st(c), st(c).orders[o["order_id"]], t) for t in o["transaction_ids"]], a,
        lambda x: (x["id"], x["id"])), CONN_ARGS),
}, interfaces=("Node",))
RISK_RECOMMENDATION = {"high": "CANCEL", "medium": "INVESTIGATE", "low": "ACCEPT", "none": "NONE", "pending": "NONE"}


def set_order_risk(store, oid, level):
    """Shopify's (or a fraud app's) risk assessment of an order: high | medium | low | none | pending."""
    order = store.orders.get(int(oid))
    if order is None:
        raise SimError("no order %s" % oid, 404)
    if level not in RISK_RECOMMENDATION:
        raise SimError("level must be one of %s" % ", ".join(RISK_RECOMMENDATION))
    order["risk_level"] = level
    store.bump(order)
    return order


obj_type("OrderRiskAssessment", {
    "riskLevel": F("RiskAssessmentResult!", lambda c, o, a: o["level"].upper()),
    "provider": F("String", lambda c, o, a: None),
})
obj_type("OrderRiskSummary", {
    "recommendation": F("OrderRiskRecommendationResult!",
                        lambda c, o, a: RISK_RECOMMENDATION[o.get("risk_level", "low")]),
    "assessments": F("[OrderRiskAssessment!]!", lambda c, o, a: [{"level": o.get("risk_level", "low")}]),
})
OBJECTS["Order"]["fields"].update({
    "risk": F("OrderRiskSummary!", lambda c, o, a: o),
    "transactions": F("[OrderTransaction!]!", lambda c, o, a: order_transactions(st(c), o)[
        :a["first"] if a.get("first") is not None else None], {"first": "Int", "manuallyResolvable": "Boolean"}),
    "refunds": F("[Refund!]!", lambda c, o, a: o["refunds"][:a["first"] if a.get("first") is not None else None],
                 {"first": "Int"}),
    "totalRefundedSet": F("MoneyBag!", lambda c, o, a: money_bag(sum(
        (dec(t["amount"]) for t in order_transactions(st(c), o) if t["kind"] == "refund" and t["status"] == "success"),
        dec("0")), o["currency"])),
})


MAIN_LOCATION = 71263993878
SECOND_LOCATION = 71264026646
TEE_ITEM = 46912881639446

SEED_LOCATIONS = [
    {"id": MAIN_LOCATION, "name": "Main warehouse", "active": True, "fulfills_online": True,
     "address": {"address1": "1200 NW Naito Pkwy", "address2": None, "city": "Portland", "province": "Oregon",
                 "province_code": "OR", "zip": "97209", "country": "United States", "country_code": "US",
                 "phone": "+15035550100"}},
    {"id": SECOND_LOCATION, "name": "Downtown store", "active": True, "fulfills_online": False,
     "address": {"address1": "815 SW Alder St", "address2": None, "city": "Portland", "province": "Oregon",
                 "province_code": "OR", "zip": "97205", "country": "United States", "country_code": "US",
                 "phone": "+15035550101"}},
]
# product id, title, handle, type, tags, variant id, variant title, options, sku, price, barcode, item id
SEED_PRODUCTS = [
    (8712290541590, "Acme Tee", "acme-tee", "Apparel", "tee, cotton", "<p>Soft cotton tee.</p>",
     44871223967766, "Black / M", [("Color", "Black"), ("Size", "M")], [11018823090198, 11018823122966],
     "ACME-TEE-BLK-M", "24.00", "0840012345671", TEE_ITEM),
    (8712290574358, "Acme Mug 350 ml", "acme-mug-350", "Drinkware", "mug", "<p>Stoneware mug, 350 ml.</p>",
     44871224000534, "Default Title", [("Title", "Default Title")], [11018823155734],
     "ACME-MUG-350", "12.50", "0840012345688", 46912881672214),
    (8712290607126, "Acme Cap", "acme-cap", "Accessories", "cap", "<p>Navy cotton cap.</p>",
     44871224033302, "Navy", [("Color", "Navy")], [11018823188502],
     "ACME-CAP-NVY", "18.00", "0840012345695", 46912881704982),
]
# available quantities per (sku, location); ACME-TEE-BLK-M is not stocked at the second location
SEED_STOCK = {("ACME-TEE-BLK-M", MAIN_LOCATION): 37, ("ACME-MUG-350", MAIN_LOCATION): 25,
              ("ACME-CAP-NVY", MAIN_LOCATION): 10, ("ACME-MUG-350", SECOND_LOCATION): 3,
              ("ACME-CAP-NVY", SECOND_LOCATION): 4}

MARIA = {
    "id": 7390219731222, "email": "maria.lopez@example.com", "first_name": "Maria", "last_name": "Lopez",
    "phone": "+15555550123", "created_at": "2026-03-02T10:11:12-05:00", "updated_at": "2026-11-20T09:14:03-05:00",
    "state": "enabled", "verified_email": True, "tax_exempt": False, "currency": "USD",
    "default_address": {
        "id": 9120381274390, "first_name": "Maria", "last_name": "Lopez", "company": None,
        "address1": "742 Evergreen Terrace", "address2": "Apt 2", "city": "Springfield", "province": "Oregon",
        "country": "United States", "zip": "97477", "phone": "+15555550123", "name": "Maria Lopez",
        "province_code": "OR", "country_code": "US", "country_name": "United States", "default": True}}
MARIA_ADDRESS = {
    "first_name": "Maria", "last_name": "Lopez", "address1": "742 Evergreen Terrace", "address2": "Apt 2",
    "city": "Springfield", "province": "Oregon", "province_code": "OR", "zip": "97477", "country": "United States",
    "country_code": "US", "phone": "+15555550123", "company": None, "name": "Maria Lopez", "latitude": 44.046,
    "longitude": -123.022}
JON = {
    "id": 7390219764000, "email": "jon.baker@example.com", "first_name": "Jon", "last_name": "Baker",
    "phone": "+15035550177", "created_at": "2026-06-14T08:30:00-05:00", "updated_at": "2026-11-01T12:00:00-05:00",
    "state": "enabled", "verified_email": True, "tax_exempt": False, "currency": "USD",
    "default_address": {
        "id": 9120381307158, "first_name": "Jon", "last_name": "Baker", "company": "Baker & Co",
        "address1": "400 SE Grand Ave", "address2": None, "city": "Portland", "province": "Oregon",
        "country": "United States", "zip": "97214", "phone": "+15035550177", "name": "Jon Baker",
        "province_code": "OR", "country_code": "US", "country_name": "United States", "default": True}}
JON_ADDRESS = {
    "first_name": "Jon", "last_name": "Baker", "address1": "400 SE Grand Ave", "address2": None,
    "city": "Portland", "province": "Oregon", "province_code": "OR", "zip": "97214", "country": "United States",
    "country_code": "US", "phone": "+15035550177", "company": "Baker & Co", "name": "Jon Baker",
    "latitude": 45.519, "longitude": -122.661}

# The orders seeded with --orders. #1042 is shared/fixtures/shopify/orders_create.json field for field.
SEED_ORDERS = [
    {"id": 6150327861270, "number": 1042, "customer": MARIA, "address": MARIA_ADDRESS,
     "created_at": "2026-11-21T14:03:11-05:00", "updated_at": "2026-11-21T14:03:13-05:00",
     "financial_status": "paid", "shipping_line_id": 5038275993622,
     "lines": [(14982113476630, "ACME-TEE-BLK-M", 2), (14982113509398, "ACME-MUG-350", 1),
               (14982113542166, "ACME-CAP-NVY", 1)]},
    {"id": 6150327894038, "number": 1043, "customer": JON, "address": JON_ADDRESS,
     "created_at": "2026-11-22T09:15:00-05:00", "updated_at": "2026-11-22T09:15:02-05:00",
     "financial_status": "paid", "shipping_line_id": 5038276026390,
     "lines": [(14982113574934, "ACME-MUG-350", 3)]},
    {"id": 6150327926806, "number": 1044, "customer": MARIA, "address": MARIA_ADDRESS,
     "created_at": "2026-11-22T11:40:00-05:00", "updated_at": "2026-11-22T11:40:01-05:00",
     "financial_status": "pending", "shipping_line_id": 5038276059158,
     "lines": [(14982113607702, "ACME-CAP-NVY", 2), (14982113640470, "ACME-TEE-BLK-M", 1)]},
]
ID_STEP = 32768


class SimError(ValueError):
    """A bad /__sim__ request (HTTP 400/404 with a message)."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class Store:
    def __init__(self, shop_domain, clock):
        self.clock = clock
        self.currency = "USD"
        self.shop = {"id": 60119924758, "name": "Acme Outfitters", "email": "ops@acme-outfitters.example",
                     "domain": shop_domain, "currency": "USD"}
        self.primary_location = MAIN_LOCATION
        self.locations, self.products, self.variants, self.items = {}, {}, {}, {}
        self.levels, self.orders, self.fos, self.fulfillments, self.groups = {}, {}, {}, {}, {}
        self.seq = {"order": 6150327959574, "line_item": 14982113673238, "shipping_line": 5038276091926,
                    "fo": 6581231517718, "foli": 13768547287062, "fulfillment": 5492004487190,
                    "fli": 12201489662998, "group": 29834558521366, "customer": 7390219796768,
                    "address": 9120381339926, "number": 1045, "product": 8712290639894,
                    "variant": 44871224066070, "item": 46912881737750, "option": 11018823221270}
        self.events = []     # (topic, payload) emitted by state changes, drained by the simulator
        self._sku_index = {}  # sku.lower() -> [inventory item ids], rebuilt when the number of items changes
        self._sku_index_n = -1

    def next(self, kind):
        v = self.seq[kind]
        self.seq[kind] = v + (1 if kind == "number" else ID_STEP)
        return v

    # ----- seed
    def seed(self, orders=False):
        t0 = parse_time("2026-01-10T09:00:00-05:00")
        for loc in SEED_LOCATIONS:
            self.locations[loc["id"]] = dict(copy.deepcopy(loc), created_at=t0, updated_at=t0)
        for (pid, title, handle, ptype, tags, body, vid, vtitle, options, option_ids, sku, price, barcode,
             item) in SEED_PRODUCTS:
            upd = parse_time("2026-11-19T16:45:10-05:00")
            self.products[pid] = {"id": pid, "title": title, "handle": handle, "product_type": ptype, "tags": tags,
                                  "body_html": body, "vendor": "Acme", "status": "active", "created_at": t0,
                                  "updated_at": upd, "published_at": t0, "variant_ids": [vid],
                                  "option_ids": option_ids}
            self.variants[vid] = {"id": vid, "product_id": pid, "title": vtitle, "sku": sku, "price": price,
                                  "barcode": barcode, "position": 1, "inventory_item_id": item, "taxable": True,
                                  "options": options, "inventory_policy": "deny", "grams": 450,
                                  "created_at": t0, "updated_at": upd}
            self.items[item] = {"id": item, "variant_id": vid, "sku": sku, "tracked": True,
                                "requires_shipping": True, "created_at": t0, "updated_at": upd}
        for (sku, loc), qty in SEED_STOCK.items():
            item = self.item_by_sku(sku)
            q = {n: 0 for n in QUANTITY_NAMES if n != "on_hand"}
            q["available"] = qty
            self.levels[(item["id"], loc)] = {"item_id": item["id"], "location_id": loc, "q": q,
                                              "created_at": t0, "updated_at": parse_time("2026-11-21T14:03:12-05:00")}
        if orders:
            for spec in SEED_ORDERS:
                self.create_order(spec, reserve="commit_only", emit=False)

    def sku_index(self):
        """{sku.lower(): [inventory item ids]} (items are never removed and SKUs never change here, so the number
        of items tells whether it is current)."""
        if self._sku_index_n != len(self.items):
            idx = {}
            for item in self.items.values():
                if item["sku"]:
                    idx.setdefault(item["sku"].lower(), []).append(item["id"])
            self._sku_index, self._sku_index_n = idx, len(self.items)
        return self._sku_index

    def items_by_sku_ci(self, sku):
        return [self.items[i] for i in self.sku_index().get((sku or "").lower(), ())]

    def item_by_sku(self, sku):
        for item in self.items_by_sku_ci(sku):
            if item["sku"] == sku:
                return item
        return None

    def variant_by_sku(self, sku):
        item = self.item_by_sku(sku)
        return self.variants.get(item["variant_id"]) if item else None

    def item_levels(self, item_id):
        """The inventory levels of one item, by location id (one dict look-up per location)."""
        return [lv for lv in (self.levels.get((item_id, loc)) for loc in sorted(self.locations)) if lv is not None]

    def create_products(self, specs, now=None):
        """Bulk creation (test API): one product, one variant and one inventory item per spec, stocked at the given
        locations. spec: sku (required, unique), title (default: the SKU), price ("0.00"), levels {location id:
        available | {quantity name: value}}, barcode, vendor, product_type, tags, variant_title ("Default Title"),
        tracked (true), status ("active"). All-or-nothing: a duplicate SKU or an unknown location is a 422."""
        if not isinstance(specs, list):
            raise SimError("products must be a list of objects")
        now = now or self.clock()
        seen, plan = set(), []
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict):
                raise SimError("products[%d] must be an object" % i)
            sku = spec.get("sku")
            if not isinstance(sku, str) or not sku:
                raise SimError("products[%d]: sku (a non-empty string) is required" % i)
            if sku in seen:
                raise SimError("products[%d]: SKU %r appears twice in the request" % (i, sku), 422)
            existing = self.item_by_sku(sku)
            if existing is not None:
                raise SimError("products[%d]: SKU %r already exists (inventory item %d, variant %d)" % (
                    i, sku, existing["id"], existing["variant_id"]), 422)
            seen.add(sku)
            try:
                price = money2(spec.get("price") if spec.get("price") is not None else "0")
            except ValueError as exc:
                raise SimError("products[%d]: %s" % (i, exc), 422)
            levels = {}
            for loc, value in (spec.get("levels") or {}).items():
                loc_id = gid_id(loc, "Location") if str(loc).startswith("gid:") else int(loc)
                if loc_id not in self.locations:
                    raise SimError("products[%d]: unknown location %s" % (i, loc), 422)
                q = {n: 0 for n in QUANTITY_NAMES if n != "on_hand"}
                for name, qty in (value.items() if isinstance(value, dict) else (("available", value),)):
                    if name not in q or isinstance(qty, bool) or not isinstance(qty, int):
                        raise SimError("products[%d]: levels[%s]: %r=%r is not a quantity name with an integer" % (
                            i, loc, name, qty), 422)
                    q[name] = qty
                levels[loc_id] = q
            plan.append((spec, sku, price, levels))
        handles = {p["handle"] for p in self.products.values()}
        idx = self.sku_index()
        out = []
        for spec, sku, price, levels in plan:
            title = str(spec.get("title") or sku)
            base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product"
            handle, n = base, 1
            while handle in handles:
                handle, n = "%s-%d" % (base, n), n + 1
            handles.add(handle)
            pid, vid, iid = self.next("product"), self.next("variant"), self.next("item")
            vtitle = str(spec.get("variant_title") or "Default Title")
            self.products[pid] = {"id": pid, "title": title, "handle": handle,
                                  "product_type": str(spec.get("product_type") or ""),
                                  "tags": str(spec.get("tags") or ""), "body_html": "",
                                  "vendor": str(spec.get("vendor") or "Acme"),
                                  "status": str(spec.get("status") or "active"), "created_at": now,
                                  "updated_at": now, "published_at": now, "variant_ids": [vid],
                                  "option_ids": [self.next("option")]}
            self.variants[vid] = {"id": vid, "product_id": pid, "title": vtitle, "sku": sku,
                                  "price": price,
                                  "barcode": spec.get("barcode"), "position": 1, "inventory_item_id": iid,
                                  "taxable": True, "options": [("Title", vtitle)], "inventory_policy": "deny",
                                  "grams": 0, "created_at": now, "updated_at": now}
            self.items[iid] = {"id": iid, "variant_id": vid, "sku": sku, "tracked": bool(spec.get("tracked", True)),
                               "requires_shipping": True, "created_at": now, "updated_at": now}
            for loc_id, q in levels.items():
                self.levels[(iid, loc_id)] = {"item_id": iid, "location_id": loc_id, "q": q, "created_at": now,
                                              "updated_at": now}
            idx.setdefault(sku.lower(), []).append(iid)     # keep the index current without a rebuild
            self._sku_index_n = len(self.items)
            out.append({"sku": sku, "product_id": pid, "variant_id": vid, "inventory_item_id": iid,
                        "product_gid": gid("Product", pid), "variant_gid": gid("ProductVariant", vid),
                        "inventory_item_gid": gid("InventoryItem", iid)})
        return out

    def customer(self, cid):
        for o in sorted(self.orders.values(), key=lambda o: o["updated_at"], reverse=True):
            if o.get("customer") and o["customer"]["id"] == cid:
                return o["customer"]
        return None

    def line_item(self, order_id, line_id):
        o = self.orders.get(order_id)
        for li in (o or {}).get("line_items", []):
            if li["id"] == line_id:
                return dict(li, order_id=order_id)
        return None

    def line_item_inventory_gid(self, order_id, line_id):
        li = self.line_item(order_id, line_id)
        v = self.variants.get(li.get("variant_id")) if li else None
        return gid("InventoryItem", v["inventory_item_id"]) if v else None

    # ----- inventory
    def touch_level(self, lv, now, emit=True):
        lv["updated_at"] = now
        self.items[lv["item_id"]]["updated_at"] = now
        if emit:
            self.events.append(("inventory_levels/update", rest_inventory_level(lv)))

    def set_level(self, item_id, location_id, quantities, emit=True):
        """Direct write (drift injection / set-up). quantities: {name: value}; on_hand moves available."""
        lv = self.levels.get((item_id, location_id))
        if lv is None:
            if item_id not in self.items or location_id not in self.locations:
                raise SimError("unknown inventory item %s or location %s" % (item_id, location_id), 404)
            lv = self.levels[(item_id, location_id)] = {
                "item_id": item_id, "location_id": location_id,
                "q": {n: 0 for n in QUANTITY_NAMES if n != "on_hand"}, "created_at": self.clock(),
                "updated_at": self.clock()}
        for name, value in quantities.items():
            if name not in QUANTITY_NAMES:
                raise SimError("unknown quantity name %r" % name)
            value = int(value)
            if name == "on_hand":
                lv["q"]["available"] += value - level_quantities(lv)["on_hand"]
            else:
                lv["q"][name] = value
        self.touch_level(lv, self.clock(), emit)
        return lv

    def inventory_rows(self, sku=None, location_id=None):
        if sku is not None:
            keys = sorted((i["id"], lv["location_id"]) for i in self.items_by_sku_ci(sku) if i["sku"] == sku
                          for lv in self.item_levels(i["id"]))
        else:
            keys = sorted(self.levels)
        rows = []
        for (item_id, loc_id) in keys:
            if location_id is not None and loc_id != location_id:
                continue
            lv = self.levels[(item_id, loc_id)]
            q = level_quantities(lv)
            rows.append({"inventory_item_id": item_id, "sku": self.items[item_id]["sku"], "location_id": loc_id,
                         "location_name": self.locations[loc_id]["name"], "available": q["available"],
                         "on_hand": q["on_hand"], "committed": q["committed"], "quantities": q,
                         "updated_at": gql_time(lv["updated_at"]),
                         "inventory_item_gid": gid("InventoryItem", item_id),
                         "location_gid": gid("Location", loc_id)})
        return rows

    def inventory_map(self, location_id=None, name="available"):
        """{sku: {location id (string): quantity}} over every stocked level (the compact form of inventory_rows)."""
        out = {}
        for (item_id, loc_id), lv in self.levels.items():
            if location_id is not None and loc_id != location_id:
                continue
            sku = self.items[item_id]["sku"]
            value = lv["q"][name] if name != "on_hand" else level_quantities(lv)["on_hand"]
            out.setdefault(sku, {})[str(loc_id)] = value
        return {k: dict(sorted(v.items())) for k, v in sorted(out.items(), key=lambda kv: kv[0] or "")}

    def new_group(self, reason, ref, changes, now):
        group = {"id": self.next("group"), "created_at": now, "reason": reason, "reference_document_uri": ref,
                 "changes": changes}
        self.groups[group["id"]] = group
        return group

    # ----- orders
    def build_line(self, sku, quantity, price=None, line_id=None, title=None):
        v = self.variant_by_sku(sku)
        if v is None and title is None:
            raise SimError("unknown SKU %r (give a title to sell a custom item)" % sku)
        product = self.products[v["product_id"]] if v else None
        if v:
            name = product["title"] if v["title"] == "Default Title" else "%s - %s" % (product["title"], v["title"])
        else:
            name = title
        return {"id": line_id or self.next("line_item"), "variant_id": v["id"] if v else None,
                "product_id": product["id"] if product else None, "sku": sku, "title": name, "variant_title": None,
                "name": name, "quantity": int(quantity), "current_quantity": int(quantity),
                "price": money2(price if price is not None else (v["price"] if v else "0")),
                "grams": v["grams"] if v else 0, "vendor": product["vendor"] if product else None,
                "taxable": True, "requires_shipping": True, "fulfillment_service": "manual", "gift_card": False,
                "product_exists": bool(v), "properties": []}

    def create_order(self, spec, reserve="available", emit=True):
        """spec: id, number, customer, address, created_at, updated_at, financial_status, lines [(id, sku, qty)] or
        [{"sku", "quantity", "price", "title"}], email, note, tags, shipping {"title","price","code"}, test."""
        now = self.clock()
        oid = int(spec.get("id") or self.next("order"))
        if oid in self.orders:
            raise SimError("order %d exists" % oid, 409)
        number = int(spec.get("number") or self.next("number"))
        created = parse_time(spec["created_at"]) if spec.get("created_at") else now
        updated = parse_time(spec["updated_at"]) if spec.get("updated_at") else created
        lines = []
        for ln in spec.get("lines") or []:
            if isinstance(ln, (list, tuple)):
                lines.append(self.build_line(ln[1], ln[2], line_id=ln[0]))
            else:
                lines.append(self.build_line(ln.get("sku"), ln.get("quantity", 1), ln.get("price"), ln.get("id"),
                                             ln.get("title")))
        if not lines:
            raise SimError("an order needs at least one line")
        money = spec.get("money")  # a REST order (tests/fixtures/money): its taxes, discounts, gift cards, tip
        if money:
            for li, src in zip(lines, money.get("line_items") or []):
                for key in ("tax_lines", "discount_allocations", "duties"):
                    li[key] = copy.deepcopy(src.get(key) or [])
                for key in ("gift_card", "taxable", "requires_shipping"):
                    if key in src:
                        li[key] = bool(src[key])
        # customer / address: a dict, false for none, absent for Maria Lopez (the fixtures' customer)
        customer = None if spec.get("customer") is False else copy.deepcopy(spec.get("customer") or MARIA)
        address = None if spec.get("address") is False else copy.deepcopy(spec.get("address") or MARIA_ADDRESS)
        ship = spec.get("shipping") or {}
        shipping_lines = [] if ship is False else [{
            "id": int(spec.get("shipping_line_id") or self.next("shipping_line")),
            "title": ship.get("title", "Standard Shipping"), "code": ship.get("code", "Standard"),
            "price": money2(ship.get("price", "7.99")), "source": "shopify",
            "discounted_price": money2(ship.get("price", "7.99")), "tax_lines": []}]
        if money:
            shipping_lines = [dict(copy.deepcopy(sl), id=int(sl.get("id") or self.next("shipping_line")))
                              for sl in money.get("shipping_lines") or []]
        order = {
            "id": oid, "name": "#%d" % number, "order_number": number, "number": number - 1000,
            "email": spec.get("email", customer.get("email") if customer else None), "phone": None,
            "created_at": created, "updated_at": updated, "processed_at": created, "cancelled_at": None,
            "cancel_reason": None, "closed_at": None, "confirmed": True, "test": bool(spec.get("test", False)),
            "currency": self.currency, "financial_status": spec.get("financial_status", "paid"),
            "total_discounts": "0.00", "total_tax": "0.00", "taxes_included": False,
            "note": spec.get("note"), "note_attributes": list(spec.get("note_attributes") or []),
            "tags": spec.get("tags", ""), "source_name": "web", "gateway": "shopify_payments",
            "buyer_accepts_marketing": False, "customer": customer, "billing_address": address,
            "shipping_address": copy.deepcopy(address), "line_items": lines, "shipping_lines": shipping_lines,
            "fulfillment_order_ids": [], "fulfillment_ids": [], "refunds": []}
        if money:
            order["taxes_included"] = bool(money.get("taxes_included"))
            order["total_tax"] = money2(sum((dec(t["price"]) for x in lines + shipping_lines
                                             for t in x.get("tax_lines") or []), dec("0")))
            order["total_discounts"] = money2(sum((dec(d["amount"]) for li in lines
                                                   for d in li.get("discount_allocations") or []), dec("0")))
            order["total_tip_received"] = money.get("total_tip_received") or "0.00"
            order["discount_codes"] = copy.deepcopy(money.get("discount_codes") or [])
            order["discount_applications"] = copy.deepcopy(money.get("discount_applications") or [])
            if money.get("currency"):
                order["currency"] = money["currency"]
        self.orders[oid] = order
        fo_id = int(spec["fulfillment_order_id"]) if spec.get("fulfillment_order_id") else self.next("fo")
        location = int(spec.get("location_id") or self.primary_location)
        fo = {"id": fo_id, "order_id": oid, "status": "open", "location_id": location, "created_at": created,
              "updated_at": created, "line_items": []}
        for li in lines:
            if li["requires_shipping"]:
                fo["line_items"].append({"id": self.next("foli"), "line_item_id": li["id"],
                                         "total": li["quantity"], "remaining": li["quantity"]})
        self.fos[fo_id] = fo
        order["fulfillment_order_ids"].append(fo_id)
        if reserve:
            for li in lines:
                v = self.variants.get(li["variant_id"])
                lv = self.levels.get((v["inventory_item_id"], location)) if v else None
                if lv is not None:
                    lv["q"]["committed"] += li["quantity"]
                    if reserve == "available":
                        lv["q"]["available"] -= li["quantity"]
                        self.touch_level(lv, now, emit)
        if emit:
            self.events.append(("orders/create", rest_order(self, order)))
        return order

    def bump(self, order, updated_at=None):
        now = parse_time(updated_at) if updated_at else self.clock()
        if not updated_at and now <= order["updated_at"]:
            now = order["updated_at"] + datetime.timedelta(seconds=1)
        order["updated_at"] = now
        return now

    def update_order(self, oid, changes, emit=True):
        order = self.orders.get(int(oid))
        if order is None:
            raise SimError("no order %s" % oid, 404)
        cancel = changes.get("cancel")
        for key in ("note", "tags", "email", "financial_status", "phone", "note_attributes", "test"):
            if key in changes:
                order[key] = changes[key]
        for key in ("shipping_address", "billing_address"):
            if key in changes:
                order[key] = dict(order.get(key) or {}, **changes[key]) if changes[key] is not None else None
        for upd in changes.get("line_items") or []:
            for li in order["line_items"]:
                if li["id"] == int(upd.get("id") or 0) or li["sku"] == upd.get("sku"):
                    if "current_quantity" in upd or "quantity" in upd:
                        self._edit_quantity(order, li, int(upd.get("current_quantity", upd.get("quantity"))),
                                            emit)
        for ln in changes.get("add_lines") or []:
            li = self.build_line(ln.get("sku"), ln.get("quantity", 1), ln.get("price"), None, ln.get("title"))
            order["line_items"].append(li)
            fo = self.fos[order["fulfillment_order_ids"][0]]
            fo["line_items"].append({"id": self.next("foli"), "line_item_id": li["id"], "total": li["quantity"],
                                     "remaining": li["quantity"]})
            if fo["status"] == "closed":
                fo["status"] = "open"
        now = self.bump(order, changes.get("updated_at"))
        if cancel:
            reason = cancel.get("reason", "customer") if isinstance(cancel, dict) else "customer"
            order["cancelled_at"] = now
            order["cancel_reason"] = reason
            if isinstance(cancel, dict) and cancel.get("financial_status"):
                order["financial_status"] = cancel["financial_status"]
            elif order["financial_status"] == "paid":
                order["financial_status"] = "refunded"
            for fo_id in order["fulfillment_order_ids"]:
                fo = self.fos[fo_id]
                partly_done = any(fl["total"] != fl["remaining"] for fl in fo["line_items"])
                for fl in fo["line_items"]:
                    li = self.line_item(order["id"], fl["line_item_id"])
                    v = self.variants.get(li.get("variant_id")) if li else None
                    lv = self.levels.get((v["inventory_item_id"], fo["location_id"])) if v else None
                    if lv is not None and fl["remaining"]:
                        lv["q"]["committed"] -= fl["remaining"]
                        lv["q"]["available"] += fl["remaining"]
                        self.touch_level(lv, now, emit)
                    fl["remaining"] = 0
                if fo["status"] in ("open", "in_progress"):
                    fo["status"] = "closed" if partly_done else "cancelled"
                fo["updated_at"] = now
        if emit:
            self.events.append(("orders/updated", rest_order(self, order)))
            if cancel:
                self.events.append(("orders/cancelled", rest_order(self, order)))
        return order

    def _edit_quantity(self, order, li, new_qty, emit):
        """An order edit: the line's current quantity changes, its fulfillment order line and the reservation
        follow (an increase reserves more, a decrease releases stock)."""
        delta = max(0, new_qty) - li["current_quantity"]
        li["current_quantity"] = max(0, new_qty)
        for fo_id in order["fulfillment_order_ids"]:
            fo = self.fos[fo_id]
            for fl in fo["line_items"]:
                if fl["line_item_id"] != li["id"]:
                    continue
                change = max(delta, -fl["remaining"])
                fl["remaining"] += change
                fl["total"] += change
                v = self.variants.get(li.get("variant_id"))
                lv = self.levels.get((v["inventory_item_id"], fo["location_id"])) if v else None
                if lv is not None and change:
                    lv["q"]["committed"] += change
                    lv["q"]["available"] -= change
                    self.touch_level(lv, self.clock(), emit)
            if fo["status"] in ("open", "in_progress") and all(x["remaining"] == 0 for x in fo["line_items"]):
                fo["status"] = "closed"


def rest_money_set(amount, currency):
    m = {"amount": money2(amount), "currency_code": currency}
    return {"shop_money": dict(m), "presentment_money": dict(m)}


def rest_line_item(store, order, li):
    fulfilled = _fulfilled_qty(store, order, li["id"])
    unfulfilled = max(0, li["current_quantity"] - fulfilled)
    status = None if fulfilled == 0 else ("fulfilled" if unfulfilled == 0 else "partial")
    return {
        "id": li["id"], "admin_graphql_api_id": gid("LineItem", li["id"]), "variant_id": li["variant_id"],
        "product_id": li["product_id"], "sku": li["sku"], "title": li["title"], "variant_title": li["variant_title"],
        "name": li["name"], "quantity": li["quantity"], "current_quantity": li["current_quantity"],
        "price": li["price"], "price_set": rest_money_set(li["price"], order["currency"]), "total_discount": "0.00",
        "fulfillable_quantity": unfulfilled, "fulfillment_status": status,
        "fulfillment_service": li["fulfillment_service"], "requires_shipping": li["requires_shipping"],
        "taxable": li["taxable"], "gift_card": li["gift_card"], "grams": li["grams"], "vendor": li["vendor"],
        "product_exists": li["product_exists"],
        "tax_lines": copy.deepcopy(li["tax_lines"]) if "tax_lines" in li else [
            {"title": "OR State Tax", "rate": 0.0, "price": "0.00"}],
        "discount_allocations": copy.deepcopy(li.get("discount_allocations") or []),
        "duties": copy.deepcopy(li.get("duties") or []), "properties": list(li.get("properties") or [])}


def rest_order(store, o):
    t = order_totals(o)
    status = order_fulfillment_status(store, o)
    customer = None
    if o.get("customer"):
        customer = copy.deepcopy(o["customer"])
        customer["admin_graphql_api_id"] = gid("Customer", customer["id"])
        addr = customer.pop("default_address", None)
        if addr is not None:
            addr = dict(addr)
            ordered = {"id": addr.pop("id"), "customer_id": customer["id"]}
            ordered.update(addr)
            customer["default_address"] = ordered
    return {
        "id": o["id"], "admin_graphql_api_id": gid("Order", o["id"]), "name": o["name"],
        "order_number": o["order_number"], "number": o["number"], "email": o["email"], "contact_email": o["email"],
        "phone": o["phone"], "created_at": rest_time(o["created_at"]), "updated_at": rest_time(o["updated_at"]),
        "processed_at": rest_time(o["processed_at"]), "cancelled_at": rest_time(o["cancelled_at"]),
        "cancel_reason": o["cancel_reason"], "closed_at": rest_time(o["closed_at"]), "confirmed": o["confirmed"],
        "test": o["test"], "currency": o["currency"], "presentment_currency": o["currency"],
        "financial_status": o["financial_status"],
        "fulfillment_status": {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(status),
        "subtotal_price": money2(t["subtotal"]), "total_line_items_price": money2(t["subtotal"]),
        "total_discounts": money2(t["discounts"]), "total_tax": money2(t["tax"]), "total_price": money2(t["total"]),
        "total_shipping_price_set": rest_money_set(t["shipping"], o["currency"]),
        "current_subtotal_price": money2(t["current_subtotal"]), "current_total_tax": money2(t["tax"]),
        "current_total_price": money2(t["current_total"]),
        "current_total_price_set": rest_money_set(t["current_total"], o["currency"]),
        "current_total_tax_set": rest_money_set(t["tax"], o["currency"]),
        "total_tip_received": money2(t["tip"]),
        "taxes_included": o["taxes_included"], "tax_lines": [],
        "discount_codes": copy.deepcopy(o.get("discount_codes") or []),
        "discount_applications": copy.deepcopy(o.get("discount_applications") or []), "note": o["note"],
        "note_attributes": list(o["note_attributes"]), "tags": o["tags"], "source_name": o["source_name"],
        "gateway": o["gateway"], "payment_gateway_names": [o["gateway"]],
        "buyer_accepts_marketing": o["buyer_accepts_marketing"], "customer": customer,
        "billing_address": copy.deepcopy(o["billing_address"]),
        "shipping_address": copy.deepcopy(o["shipping_address"]),
        "line_items": [rest_line_item(store, o, li) for li in o["line_items"]],
        "shipping_lines": [dict(s) for s in o["shipping_lines"]],
        "fulfillments": [rest_fulfillment(store, store.fulfillments[f]) for f in o["fulfillment_ids"]],
        "refunds": []}


def rest_fulfillment(store, f):
    order = store.orders[f["order_id"]]
    lines = []
    for fl in f["line_items"]:
        li = next(x for x in order["line_items"] if x["id"] == fl["line_item_id"])
        row = rest_line_item(store, order, li)
        row["quantity"] = fl["quantity"]
        lines.append(row)
    first = f["tracking"][0] if f["tracking"] else {}
    return {
        "id": f["id"], "admin_graphql_api_id": gid("Fulfillment", f["id"]), "order_id": f["order_id"],
        "status": f["status"], "created_at": rest_time(f["created_at"]), "updated_at": rest_time(f["updated_at"]),
        "location_id": f["location_id"], "name": f["name"], "service": "manual", "shipment_status": None,
        "tracking_company": first.get("company"), "tracking_number": first.get("number"),
        "tracking_numbers": [t["number"] for t in f["tracking"] if t.get("number")],
        "tracking_url": first.get("url"), "tracking_urls": [t["url"] for t in f["tracking"] if t.get("url")],
        "line_items": lines}


def rest_inventory_level(lv):
    return {"inventory_item_id": lv["item_id"], "location_id": lv["location_id"],
            "available": lv["q"]["available"], "updated_at": rest_time(lv["updated_at"]),
            "admin_graphql_api_id": level_gid(lv)}


def rest_product(store, p):
    variants = []
    for pos, vid in enumerate(p["variant_ids"], 1):
        v = store.variants[vid]
        opts = [val for _, val in v["options"]] + [None, None, None]
        variants.append({
            "id": v["id"], "admin_graphql_api_id": gid("ProductVariant", v["id"]), "product_id": p["id"],
            "title": v["title"], "price": money2(v["price"]), "sku": v["sku"], "position": pos,
            "inventory_policy": v["inventory_policy"], "compare_at_price": None, "option1": opts[0],
            "option2": opts[1], "option3": opts[2], "taxable": v["taxable"], "barcode": v["barcode"],
            "inventory_item_id": v["inventory_item_id"],
            "inventory_quantity": sum(lv["q"]["available"] for lv in store.item_levels(v["inventory_item_id"])),
            "created_at": rest_time(v["created_at"]), "updated_at": rest_time(v["updated_at"])})
    first_variant = store.variants[p["variant_ids"][0]]
    options = [{"id": oid, "product_id": p["id"], "name": name, "position": i, "values": [value]}
               for i, ((name, value), oid) in enumerate(zip(first_variant["options"], p["option_ids"]), 1)]
    return {"id": p["id"], "admin_graphql_api_id": gid("Product", p["id"]), "title": p["title"],
            "body_html": p["body_html"], "vendor": p["vendor"], "product_type": p["product_type"],
            "handle": p["handle"], "status": p["status"], "tags": p["tags"],
            "created_at": rest_time(p["created_at"]), "updated_at": rest_time(p["updated_at"]),
            "published_at": rest_time(p["published_at"]), "variants": variants, "options": options}


# ----------------------------------------------------------------------------------------------------------------
# Webhook sender

FIXTURE_NAMES = ("orders_create", "orders_updated", "orders_cancelled", "fulfillments_create",
                 "inventory_levels_update", "products_update")


def topic_for_fixture(name):
    base = name[:-5] if name.endswith(".json") else name
    head, _, tail = base.rpartition("_")
    return "%s/%s" % (head, tail) if head else base


def builtin_fixture(name):
    """The sample bodies rebuilt from the seed data, for when shared/fixtures/shopify is not around."""
    clock = [parse_time("2026-11-21T14:03:13-05:00")]
    store = Store(DEFAULT_SHOP, lambda: clock[0])
    store.seed(orders=True)
    order = store.orders[SEED_ORDERS[0]["id"]]
    if name == "orders_create":
        return rest_order(store, order)
    if name == "orders_updated":
        store.update_order(order["id"], {"note": "Leave at the back door", "tags": "vip",
                                         "updated_at": "2026-11-21T14:20:40-05:00"}, emit=False)
        return rest_order(store, order)
    if name == "orders_cancelled":
        store.update_order(order["id"], {"cancel": {"reason": "customer"},
                                         "updated_at": "2026-11-21T15:02:00-05:00"}, emit=False)
        return rest_order(store, order)
    if name == "fulfillments_create":
        clock[0] = parse_time("2026-11-22T10:00:00-05:00")
        fo = store.fos[order["fulfillment_order_ids"][0]]
        picks = [fl for fl in fo["line_items"] if fl["line_item_id"] in (14982113476630, 14982113509398)]
        f = {"id": 5492004487190, "order_id": order["id"], "name": order["name"] + ".1", "status": "success",
             "location_id": fo["location_id"], "created_at": clock[0], "updated_at": clock[0],
             "tracking": [{"company": "UPS", "number": "1Z999AA10123456784",
                           "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784"}],
             "line_items": [{"id": store.next("fli"), "line_item_id": fl["line_item_id"], "quantity": fl["total"]}
                            for fl in picks]}
        store.fulfillments[f["id"]] = f      # not linked to the order: the body shows the order before it
        return rest_fulfillment(store, f)
    if name == "inventory_levels_update":
        return rest_inventory_level(store.levels[(TEE_ITEM, MAIN_LOCATION)])
    if name == "products_update":
        return rest_product(store, store.products[SEED_PRODUCTS[0][0]])
    return None


def load_fixture(name, fixtures_dir=None):
    """-> raw body bytes of a sample body: the file in the fixtures folder, else the built-in equivalent."""
    base = name[:-5] if name.endswith(".json") else name
    folder = Path(fixtures_dir) if fixtures_dir else default_fixtures_dir()
    path = folder / (base + ".json")
    if path.is_file():
        return path.read_bytes()
    body = builtin_fixture(base)
    if body is None:
        raise SimError("unknown fixture %r (no %s, and no built-in body of that name)" % (name, path), 404)
    return json.dumps(body, indent=2).encode()


def _vary_body(raw, vary, i):
    if not vary or i == 0:
        return raw
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw
    if vary in ("updated_at", "id") and isinstance(doc, dict) and doc.get("updated_at"):
        doc["updated_at"] = rest_time(parse_time(doc["updated_at"]) + datetime.timedelta(seconds=i))
    if vary == "id" and isinstance(doc, dict) and isinstance(doc.get("id"), int):
        doc["id"] += i * ID_STEP
        if isinstance(doc.get("admin_graphql_api_id"), str):
            doc["admin_graphql_api_id"] = re.sub(r"/[0-9]+$", "/%d" % doc["id"], doc["admin_graphql_api_id"])
        if isinstance(doc.get("order_number"), int):
            doc["order_number"] += i
            doc["name"] = "#%d" % doc["order_number"]
            if isinstance(doc.get("number"), int):
                doc["number"] += i
    return json.dumps(doc).encode()


def _post(url, body, headers, timeout, connect_timeout, insecure):
    """-> (status or None, response text, error or None)."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https"):
        return None, "", "unsupported URL scheme %r" % u.scheme
    port = u.port or (443 if u.scheme == "https" else 80)
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    if u.scheme == "https":
        ctx = ssl._create_unverified_context() if insecure else ssl.create_default_context()
        conn = http.client.HTTPSConnection(u.hostname, port, timeout=connect_timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, port, timeout=connect_timeout)
    try:
        conn.connect()
        conn.sock.settimeout(timeout)
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body)
        resp = conn.getresponse()
        text = resp.read(4096).decode("utf-8", "replace")
        return resp.status, text, None
    except socket.timeout:
        return None, "", "timeout"
    except (OSError, http.client.HTTPException) as exc:
        return None, "", "%s: %s" % (type(exc).__name__, exc)
    finally:
        conn.close()


def send_webhooks(url, secret, topic=None, payload=None, fixture=None, body=None, shop=DEFAULT_SHOP,
                  api_version=WEBHOOK_API_VERSION, duplicate=1, reorder=False, delay_ms=0, burst=1, vary=None,
                  event_id=None, webhook_id=None, triggered_at=None, retry=False, retries=8, backoff_ms=100,
                  retry_new_webhook_id=False, timeout=5.0, connect_timeout=1.0, header_style="shopify", name=None,
                  bad_signature=False, extra_headers=None, concurrency=1, fixtures_dir=None, insecure=False,
                  seed=0, log=None):
    """Deliver webhooks the way Shopify does and return one record per HTTP attempt.

    - body: raw bytes/str sent as is; payload: a JSON value (compact JSON); fixture: a sample body by name
      ("orders_create", ...), whose topic is the default topic.
    - burst N: N distinct events (own X-Shopify-Event-Id; vary="updated_at"/"id" makes their bodies differ).
    - duplicate D: each event delivered D times: same body and X-Shopify-Event-Id, new X-Shopify-Webhook-Id.
    - reorder: True/"reverse" sends the deliveries last-first, "shuffle" shuffles them (random.Random(seed)).
    - delay_ms: wait before every delivery; triggered_at: X-Shopify-Triggered-At (default: now), e.g. an hour ago
      to look late.
    - retry: on a non-2xx or connection error, retry up to `retries` times with backoff_ms doubling; a retry keeps
      the delivery's X-Shopify-Webhook-Id unless retry_new_webhook_id.
    - header_style "events": the header names without the X- prefix (Shopify's newer Events deliveries).
    - bad_signature: sign with the wrong key (the receiver must refuse it).
    """
    if body is not None:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    elif payload is not None:
        raw = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    elif fixture:
        raw = load_fixture(fixture, fixtures_dir)
        topic = topic or topic_for_fixture(fixture)
    else:
        raise ValueError("give one of body, payload or fixture")
    if not topic:
        raise ValueError("topic is required (e.g. orders/create)")
    burst, duplicate = max(1, int(burst)), max(1, int(duplicate))
    trig = parse_time(triggered_at) if triggered_at else datetime.datetime.now(UTC)
    deliveries = []
    for i in range(burst):
        if isinstance(event_id, (list, tuple)):
            eid = str(event_id[i])
        elif event_id:
            eid = str(event_id) if burst == 1 else "%s-%d" % (event_id, i)
        else:
            eid = str(uuid.uuid4())
        ebody = _vary_body(raw, vary, i)
        for d in range(duplicate):
            deliveries.append({"event_index": i, "event_id": eid, "body": ebody, "duplicate": d,
                               "webhook_id": str(webhook_id) if webhook_id else str(uuid.uuid4())})
    if reorder in (True, "reverse"):
        deliveries.reverse()
    elif reorder == "shuffle":
        import random
        random.Random(seed).shuffle(deliveries)
    prefix = "" if header_style == "events" else "X-"
    results = []
    results_lock = threading.Lock()

    def attempt_headers(dl, wid):
        key = secret if not bad_signature else (secret or "") + "-wrong"
        hdrs = [("Content-Type", "application/json"), ("User-Agent", WEBHOOK_USER_AGENT),
                (prefix + "Shopify-Topic", topic), (prefix + "Shopify-Hmac-Sha256", sign(dl["body"], key)),
                (prefix + "Shopify-Shop-Domain", shop), (prefix + "Shopify-API-Version", api_version),
                (prefix + "Shopify-Webhook-Id", wid), (prefix + "Shopify-Triggered-At", triggered_at_str(trig)),
                (prefix + "Shopify-Event-Id", dl["event_id"])]
        if name:
            hdrs.append((prefix + "Shopify-Name", name))
        for k, v in (extra_headers or {}).items():
            hdrs.append((k, v))
        return hdrs

    def run(index, dl):
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        wid = dl["webhook_id"]
        wait = backoff_ms / 1000.0
        for attempt in range(1, (retries + 2) if retry else 2):
            t0 = time.monotonic()
            status, text, error = _post(url, dl["body"], attempt_headers(dl, wid), timeout, connect_timeout,
                                        insecure)
            ok = status is not None and 200 <= status < 300
            rec = {"delivery": index, "attempt": attempt, "topic": topic, "event_id": dl["event_id"],
                   "webhook_id": wid, "event_index": dl["event_index"], "duplicate": dl["duplicate"],
                   "status": status, "ok": ok, "error": error, "response": text[:500], "url": url,
                   "shop": shop, "triggered_at": triggered_at_str(trig),
                   "body_sha256": hashlib.sha256(dl["body"]).hexdigest(), "bytes": len(dl["body"]),
                   "duration_ms": round((time.monotonic() - t0) * 1000.0, 3), "ts": time.time()}
            final = ok or not retry or attempt == retries + 1
            rec["final"] = final
            with results_lock:
                results.append(rec)
            if log:
                log(rec)
            if final:
                return
            time.sleep(wait)
            wait *= 2
            if retry_new_webhook_id:
                wid = str(uuid.uuid4())

    if concurrency and int(concurrency) > 1:
        work = queue.Queue()
        for i, dl in enumerate(deliveries):
            work.put((i, dl))

        def worker():
            while True:
                try:
                    i, dl = work.get_nowait()
                except queue.Empty:
                    return
                run(i, dl)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(int(concurrency))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.sort(key=lambda r: (r["delivery"], r["attempt"]))
    else:
        for i, dl in enumerate(deliveries):
            run(i, dl)
    return results


# ----------------------------------------------------------------------------------------------------------------
# The simulator: leaky bucket, mutations, idempotency, faults, inspection API, HTTP server

URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
ADJUST_NAMES = ("available", "damaged", "incoming", "quality_control", "reserved", "safety_stock")


class Bucket:
    """Shopify's leaky bucket for calculated query cost: `available` refills at `restore` points/s up to
    `maximum`; a query runs only when its requested cost fits, and is refunded requested - actual afterwards."""

    def __init__(self, maximum, restore):
        self.lock = threading.Lock()
        self.maximum, self.restore = float(maximum), float(restore)
        self.available = self.maximum
        self.t = time.monotonic()

    def _refill(self):
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.t) * self.restore)
        self.t = now

    def take(self, cost):
        with self.lock:
            self._refill()
            if cost > self.available:
                return False
            self.available -= cost
            return True

    def refund(self, points):
        with self.lock:
            self._refill()
            self.available = min(self.maximum, self.available + max(0, points))

    def status(self):
        with self.lock:
            self._refill()
            return {"maximumAvailable": float(self.maximum), "currentlyAvailable": int(self.available),
                    "restoreRate": float(self.restore)}

    def configure(self, maximum=None, restore=None, available=None):
        with self.lock:
            self._refill()
            if maximum is not None:
                self.maximum = float(maximum)
                self.available = min(self.available, self.maximum)
            if restore is not None:
                self.restore = float(restore)
            if available is not None:
                self.available = max(0.0, min(self.maximum, float(available)))
            self.t = time.monotonic()


def _json(status, obj, headers=()):
    return (status, "application/json; charset=utf-8", json.dumps(obj), list(headers))


def html_gateway(status, reason):
    return ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n"
            "</body>\r\n</html>\r\n" % (status, reason, status, reason))


def tracking_entries(ti):
    if not ti:
        return []
    numbers = list(ti.get("numbers") or ([ti["number"]] if ti.get("number") else []))
    urls = list(ti.get("urls") or ([ti["url"]] if ti.get("url") else []))
    n = max(len(numbers), len(urls), 1 if ti.get("company") else 0)
    return [{"company": ti.get("company"), "number": numbers[i] if i < len(numbers) else None,
             "url": urls[i] if i < len(urls) else None} for i in range(n)]


class _Handler(SimHandler):
    def version_string(self):
        return "cloudflare"


class ShopifySim(AdminSubscriptions, HttpSim):
    """A Shopify GraphQL Admin API emulator plus webhook sender. See the module docstring and tests/sim/README.md."""

    sim_name = "shopify_sim"
    handler_class = _Handler

    def __init__(self, port=0, host="127.0.0.1", shop=DEFAULT_SHOP, token=DEFAULT_TOKEN, bucket=DEFAULT_BUCKET,
                 restore=DEFAULT_RESTORE, max_cost=MAX_QUERY_COST, versions=DEFAULT_VERSIONS, seed=True,
                 orders=False, fixtures=None, idempotency_ttl=IDEMPOTENCY_TTL_S, verbose=False,
                 app_secret=DEFAULT_APP_SECRET):
        super().__init__(host, port, verbose)
        self.shop = shop
        self.app_secret = app_secret
        self.tokens = [token] if isinstance(token, str) else list(token)
        self.access_scopes = list(DEFAULT_ACCESS_SCOPES)
        self.versions = tuple(versions)
        self.max_cost = int(max_cost)
        self.default_seed = bool(seed)
        self.default_orders = bool(orders)
        self.fixtures = Path(fixtures) if fixtures else default_fixtures_dir()
        self.idempotency_ttl = float(idempotency_ttl)
        self.bucket_config = (float(bucket), float(restore))
        self.bucket = Bucket(bucket, restore)
        self.lock = threading.RLock()
        self.clock_offset = datetime.timedelta(0)
        self.store = None
        self.idem = {}
        self.webhook_log = []
        self.webhook_seq = 0
        self.batch_seq = 0
        self.webhook_lock = threading.Lock()
        self.subscriptions = {}
        self.sub_seq = 0
        self.outbox = queue.Queue()
        self.outbox_busy = 0
        self.outbox_cond = threading.Condition()
        self._worker = None
        self._initialize(self.default_seed, self.default_orders)

    # ---------- lifecycle
    def clock(self):
        return datetime.datetime.now(UTC).replace(microsecond=0) + self.clock_offset

    def _initialize(self, seed, orders):
        with self.lock:
            self.store = Store(self.shop, self.clock)
            if seed:
                self.store.seed(orders=orders)
            self.store.events.clear()
            self.idem = {}

    def start(self):
        super().start()
        if self._worker is None:
            self._worker = threading.Thread(target=self._outbox_worker, name="shopify-sim-webhooks", daemon=True)
            self._worker.start()
        return self

    def stop(self):
        super().stop()
        if self._worker is not None:
            self.outbox.put(None)
            self._worker.join(5)
            self._worker = None

    def graphql_url(self, version=None):
        return "%s/admin/api/%s/graphql.json" % (self.url, version or self.latest_version)

    @property
    def latest_version(self):
        dated = [v for v in self.versions if v != "unstable"]
        return max(dated) if dated else self.versions[-1]

    def info(self):
        return {"url": self.url, "port": self.port, "shop": self.shop, "token": self.tokens[0],
                "tokens": list(self.tokens), "versions": list(self.versions), "latest_version": self.latest_version,
                "graphql_url": self.graphql_url(), "bucket": self.bucket.status(), "max_cost": self.max_cost,
                "now": gql_time(self.clock()), "fixtures": str(self.fixtures),
                "locations": {str(k): v["name"] for k, v in self.store.locations.items()},
                "inventory_items": {v["sku"]: v["id"] for v in self.store.items.values()},
                "variants": {v["sku"]: v["id"] for v in self.store.variants.values()},
                "orders": sorted(self.store.orders)}

    # ---------- state changes made by tests (drift, orders, clock, bucket)
    def set_clock(self, now=None, advance_s=None):
        with self.lock:
            if now is not None:
                self.clock_offset = parse_time(now) - datetime.datetime.now(UTC).replace(microsecond=0)
            if advance_s is not None:
                self.clock_offset += datetime.timedelta(seconds=float(advance_s))
            return gql_time(self.clock())

    def set_bucket(self, maximum=None, restore=None, available=None):
        self.bucket.configure(maximum, restore, available)
        return self.bucket.status()

    def _item_id(self, sku=None, inventory_item_id=None):
        if inventory_item_id is not None:
            iid = gid_id(inventory_item_id, "InventoryItem") if str(inventory_item_id).startswith("gid:") \
                else int(inventory_item_id)
            if iid not in self.store.items:
                raise SimError("no inventory item %s" % inventory_item_id, 404)
            return iid
        item = self.store.item_by_sku(sku)
        if item is None:
            raise SimError("no inventory item with SKU %r" % sku, 404)
        return item["id"]

    def set_inventory(self, sku=None, inventory_item_id=None, location_id=None, emit=True, **quantities):
        """Write quantities directly (drift: a change made in the Shopify admin). emit=True queues an
        inventory_levels/update for the subscriptions."""
        with self.lock:
            item = self._item_id(sku, inventory_item_id)
            loc = location_id if location_id is not None else self.store.primary_location
            loc = gid_id(loc, "Location") if str(loc).startswith("gid:") else int(loc)
            self.store.set_level(item, loc, quantities, emit=emit)
            events = self._drain_events()
            row = [r for r in self.store.inventory_rows(self.store.items[item]["sku"], loc)
                   if r["inventory_item_id"] == item][0]
        self._dispatch(events)
        return row

    def inventory(self, sku=None, location_id=None):
        """One row per stocked level (optionally of one SKU and/or one location)."""
        loc = None if location_id is None else (gid_id(location_id, "Location") if str(location_id).startswith(
            "gid:") else int(location_id))
        with self.lock:
            return self.store.inventory_rows(sku, loc)

    def inventory_map(self, location_id=None, name="available"):
        """{sku: {location id (string): quantity}}: the compact view for thousands of items."""
        loc = None if location_id is None else (gid_id(location_id, "Location") if str(location_id).startswith(
            "gid:") else int(location_id))
        if name not in QUANTITY_NAMES:
            raise SimError("unknown quantity name %r" % name)
        with self.lock:
            return self.store.inventory_map(loc, name)

    def quantity(self, sku, location_id=None, name="available"):
        loc = location_id or MAIN_LOCATION
        for r in self.inventory(sku, loc):
            return r["quantities"][name]
        return None

    def create_products(self, products):
        """Bulk-create products with one variant and one stocked inventory item each (test API; see
        Store.create_products). -> [{sku, product_id, variant_id, inventory_item_id, *_gid}]"""
        with self.lock:
            return self.store.create_products(products)

    def create_order(self, **spec):
        with self.lock:
            if spec.get("template"):
                tpl = json.loads(load_fixture(spec["template"], self.fixtures))
                spec.setdefault("lines", [{"sku": li["sku"], "quantity": li["quantity"], "price": li["price"]}
                                          for li in tpl.get("line_items") or []])
                spec.setdefault("email", tpl.get("email"))
                spec.setdefault("financial_status", tpl.get("financial_status"))
            if spec.get("money_fixture"):  # a file of tests/fixtures/money (or a path): the order with its money
                path = Path(spec.pop("money_fixture"))
                if not path.is_absolute():
                    path = Path(__file__).resolve().parent.parent / "fixtures" / "money" / path
                doc = json.loads(path.read_text())
                spec["money"] = doc
                spec.setdefault("lines", [{"sku": li.get("sku"), "quantity": li["quantity"], "price": li["price"],
                                           "title": li.get("title")} for li in doc["line_items"]])
                spec.setdefault("shipping", False)
                spec.setdefault("email", doc.get("email"))
                spec.setdefault("financial_status", doc.get("financial_status"))
            if not spec.get("lines"):
                spec["lines"] = [{"sku": "ACME-TEE-BLK-M", "quantity": 2}, {"sku": "ACME-MUG-350", "quantity": 1},
                                 {"sku": "ACME-CAP-NVY", "quantity": 1}]
            order = self.store.create_order(spec, reserve="available" if spec.get("reserve", True) else None,
                                            emit=spec.get("emit", True))
            out = rest_order(self.store, order)
            events = self._drain_events()
        self._dispatch(events)
        return out

    def create_refund(self, order_id, **spec):
        """A refund of an order (see create_refund): emits refunds/create and orders/updated. -> the REST refund."""
        with self.lock:
            order = self.store.orders.get(int(order_id))
            if order is None:
                raise SimError("no order %s" % order_id, 404)
            refund = create_refund(self.store, order_id, spec, emit=spec.get("emit", True))
            out = rest_refund(self.store, order, refund)
            events = self._drain_events()
        self._dispatch(events)
        return out

    def set_risk(self, order_id, level):
        """The order's risk assessment (Order.risk); by default every order is rated low."""
        with self.lock:
            set_order_risk(self.store, order_id, level)

    def set_transactions(self, order_id, transactions):
        with self.lock:
            return [rest_transaction(t) for t in set_order_transactions(self.store, order_id, transactions)]

    def update_order(self, order_id, **changes):
        with self.lock:
            order = self.store.update_order(order_id, changes, emit=changes.get("emit", True))
            out = rest_order(self.store, order)
            events = self._drain_events()
        self._dispatch(events)
        return out

    def orders(self):
        with self.lock:
            return [self._order_summary(o) for o in sorted(self.store.orders.values(), key=lambda o: o["id"])]

    def order(self, order_id):
        with self.lock:
            o = self.store.orders.get(int(order_id))
            return rest_order(self.store, o) if o else None

    def _order_summary(self, o):
        return {"id": o["id"], "gid": gid("Order", o["id"]), "name": o["name"], "updated_at": gql_time(o["updated_at"]),
                "created_at": gql_time(o["created_at"]), "financial_status": o["financial_status"],
                "fulfillment_status": order_fulfillment_status(self.store, o),
                "cancelled_at": gql_time(o["cancelled_at"]),
                "line_items": [{"id": li["id"], "sku": li["sku"], "quantity": li["quantity"],
                                "current_quantity": li["current_quantity"]} for li in o["line_items"]],
                "fulfillment_orders": [self._fo_summary(self.store.fos[i]) for i in o["fulfillment_order_ids"]],
                "fulfillments": [self._fulfillment_summary(self.store.fulfillments[i]) for i in o["fulfillment_ids"]]}

    def _fo_summary(self, fo):
        return {"id": fo["id"], "gid": gid("FulfillmentOrder", fo["id"]), "status": fo["status"].upper(),
                "location_id": fo["location_id"],
                "line_items": [{"id": x["id"], "gid": gid("FulfillmentOrderLineItem", x["id"]),
                                "line_item_id": x["line_item_id"], "total": x["total"], "remaining": x["remaining"]}
                               for x in fo["line_items"]]}

    def _fulfillment_summary(self, f):
        return {"id": f["id"], "gid": gid("Fulfillment", f["id"]), "order_id": f["order_id"], "name": f["name"],
                "status": f["status"].upper(), "location_id": f["location_id"], "tracking": list(f["tracking"]),
                "line_items": [{"line_item_id": x["line_item_id"], "quantity": x["quantity"]} for x in f["line_items"]],
                "created_at": gql_time(f["created_at"]), "updated_at": gql_time(f["updated_at"])}

    def fulfillments(self):
        with self.lock:
            return [self._fulfillment_summary(f) for f in sorted(self.store.fulfillments.values(),
                                                                 key=lambda f: f["id"])]

    def idempotency_keys(self):
        with self.lock:
            return [{"key": k, "mutation": r["mutation"], "state": r["state"], "replays": r["replays"],
                     "mismatches": r["mismatches"], "args": r["args"], "age_s": round(time.time() - r["at"], 3),
                     "user_errors": [e.get("code") or e["message"] for e in (r["payload"] or {}).get("userErrors", [])]}
                    for k, r in self.idem.items()]

    def state(self):
        with self.lock:
            groups = [{"id": g["id"], "gid": gid("InventoryAdjustmentGroup", g["id"]), "reason": g["reason"],
                       "reference_document_uri": g["reference_document_uri"], "created_at": gql_time(g["created_at"]),
                       "changes": [{"name": c["name"], "delta": c["delta"], "quantity_after": c["after"],
                                    "inventory_item_id": c["item_id"], "location_id": c["location_id"]}
                                   for c in g["changes"]]} for g in self.store.groups.values()]
            return {"shop": self.shop, "now": gql_time(self.clock()), "bucket": self.bucket.status(),
                    "inventory": self.store.inventory_rows(), "orders": self.orders(),
                    "fulfillments": self.fulfillments(), "idempotency": self.idempotency_keys(),
                    "adjustment_groups": groups, "faults": self.list_faults(),
                    "subscriptions": self.list_subscriptions()}

    def reset(self, seed=None, orders=None):
        """Back to the seed: data, idempotency keys, bucket (full), faults, call and webhook logs, subscriptions,
        clock offset."""
        self.clock_offset = datetime.timedelta(0)
        self._initialize(self.default_seed if seed is None else bool(seed),
                         self.default_orders if orders is None else bool(orders))
        self.bucket = Bucket(*self.bucket_config)
        self.clear_faults()
        self.reset_calls()
        with self.webhook_lock:
            self.webhook_log = []
        self.subscriptions = {}

    # ---------- faults
    def set_fault(self, mode, count=None, match=None, delay_ms=None, retry_after=None, execute=False,
                  phase="before", reset=False, add=False, available=None, duration_ms=None):
        mode = str(mode)
        done = self._instant_fault(mode, duration_ms, FAULT_MODES, SimError)
        if done is not None:
            return done
        if mode == "throttle_now":
            self.bucket.configure(available=available if available is not None else 0)
            return self.list_faults()
        count = self._check_fault(count, match, phase, SimError, '{"field": "inventorySetQuantities"}')
        default_delay = 30000 if mode == "timeout" else 2000
        fault = {"mode": mode, "count": count, "match": dict(match or {}),
                 "delay_ms": int(delay_ms if delay_ms is not None else default_delay),
                 "retry_after": retry_after if retry_after is not None else 2.0, "execute": bool(execute),
                 "phase": phase, "reset": bool(reset)}
        return self._add_fault(fault, add)

    def _fault_matches(self, f, info):
        for k, v in f["match"].items():
            if k == "field":
                if v not in info.get("fields", []):
                    return False
            elif k == "operation":
                if info.get("operation") != v:
                    return False
            elif k == "type":
                if info.get("operation_type") != v:
                    return False
            elif k == "version":
                if info.get("version") != v:
                    return False
            elif info.get(k) != v:
                return False
        return True

    # ---------- call log
    def calls(self, since=0, **match):
        with self.calls_lock:
            out = []
            for c in self.call_log:
                if c["seq"] <= since:
                    continue
                ok = True
                for k, v in match.items():
                    if v is None:
                        continue
                    if k == "field":
                        ok = ok and v in (c.get("fields") or [])
                    elif k == "type":
                        ok = ok and c.get("operation_type") == v
                    else:
                        ok = ok and c.get(k) == v
                if ok:
                    out.append(dict(c))
            return out

    # ---------- webhooks
    def _log_webhook(self, rec):
        with self.webhook_lock:
            self.webhook_seq += 1
            rec = dict(rec, seq=self.webhook_seq)
            self.webhook_log.append(rec)
            if len(self.webhook_log) > 20000:
                del self.webhook_log[:len(self.webhook_log) - 20000]

    def webhooks(self, since=0, topic=None):
        with self.webhook_lock:
            return [dict(r) for r in self.webhook_log if r["seq"] > since and (topic is None or r["topic"] == topic)]

    def webhook_payload(self, source):
        """Body and default topic from the store: order_id, fulfillment_id, inventory_item_id (+location_id) or
        product_id."""
        with self.lock:
            st_ = self.store
            if source.get("order_id") is not None:
                o = st_.orders.get(int(gid_id(source["order_id"], "Order") or source["order_id"])
                                   if str(source["order_id"]).startswith("gid:") else int(source["order_id"]))
                if o is None:
                    raise SimError("no order %s" % source["order_id"], 404)
                return rest_order(st_, o), "orders/updated"
            if source.get("fulfillment_id") is not None:
                f = st_.fulfillments.get(int(source["fulfillment_id"]))
                if f is None:
                    raise SimError("no fulfillment %s" % source["fulfillment_id"], 404)
                return rest_fulfillment(st_, f), "fulfillments/create"
            if source.get("inventory_item_id") is not None or source.get("sku") is not None:
                item = self._item_id(source.get("sku"), source.get("inventory_item_id"))
                loc = int(source.get("location_id") or st_.primary_location)
                lv = st_.levels.get((item, loc))
                if lv is None:
                    raise SimError("item %s is not stocked at location %s" % (item, loc), 404)
                return rest_inventory_level(lv), "inventory_levels/update"
            if source.get("product_id") is not None:
                p = st_.products.get(int(source["product_id"]))
                if p is None:
                    raise SimError("no product %s" % source["product_id"], 404)
                return rest_product(st_, p), "products/update"
        return None, None

    def send_webhooks(self, url, secret, **kw):
        """send_webhooks() with this shop, these fixtures, the store as a payload source, and the webhook log.
        async_=True returns at once ({"batch": n}); the deliveries show up in webhooks()."""
        run_async = kw.pop("async_", False) or kw.pop("async", False)
        source = {k: kw.pop(k) for k in ("order_id", "fulfillment_id", "inventory_item_id", "sku", "location_id",
                                         "product_id") if k in kw}
        if source and kw.get("payload") is None and kw.get("body") is None and not kw.get("fixture"):
            payload, topic = self.webhook_payload(source)
            kw["payload"] = payload
            kw.setdefault("topic", topic)
        kw.setdefault("shop", self.shop)
        kw.setdefault("fixtures_dir", self.fixtures)
        with self.webhook_lock:
            self.batch_seq += 1
            batch = self.batch_seq
        log = lambda rec: self._log_webhook(dict(rec, batch=batch, source="send"))  # noqa: E731
        if run_async:
            threading.Thread(target=lambda: send_webhooks(url, secret, log=log, **kw), daemon=True).start()
            return {"batch": batch, "async": True}
        return send_webhooks(url, secret, log=log, **kw)

    def subscribe(self, topic, url, secret, duplicate=1, delay_ms=0, api_version=WEBHOOK_API_VERSION, name=None,
                  retry=False, retries=8, backoff_ms=100, header_style="shopify"):
        """Deliver every matching event ("*" = all topics) produced by state changes (mutations and the
        /__sim__ order/inventory writes), signed with secret, asynchronously and in order."""
        with self.lock:
            self.sub_seq += 1
            self.subscriptions[self.sub_seq] = {
                "id": self.sub_seq, "topic": topic, "url": url, "secret": secret, "duplicate": int(duplicate),
                "delay_ms": int(delay_ms), "api_version": api_version, "name": name, "retry": bool(retry),
                "retries": int(retries), "backoff_ms": int(backoff_ms), "header_style": header_style}
            return dict(self.subscriptions[self.sub_seq])

    def unsubscribe(self, sub_id=None):
        with self.lock:
            if sub_id is None:
                self.subscriptions = {}
            else:
                self.subscriptions.pop(int(sub_id), None)

    def list_subscriptions(self):
        with self.lock:
            return [dict(s) for s in self.subscriptions.values()]

    def _drain_events(self):
        events = list(self.store.events)
        self.store.events.clear()
        return events

    def _dispatch(self, events):
        if not events:
            return
        now = datetime.datetime.now(UTC)
        with self.lock:
            subs = list(self.subscriptions.values())
        for topic, payload in events:
            event_id = str(uuid.uuid4())
            for sub in subs:
                if sub["topic"] in ("*", topic):
                    with self.outbox_cond:
                        self.outbox_busy += 1
                    self.outbox.put((sub, topic, payload, now, event_id))

    def _outbox_worker(self):
        while True:
            job = self.outbox.get()
            if job is None:
                return
            sub, topic, payload, trig, event_id = job
            try:
                send_webhooks(sub["url"], sub["secret"], topic=topic, payload=payload, shop=self.shop,
                              api_version=sub["api_version"], duplicate=sub["duplicate"], delay_ms=sub["delay_ms"],
                              event_id=event_id, triggered_at=trig, retry=sub["retry"], retries=sub["retries"],
                              backoff_ms=sub["backoff_ms"], header_style=sub["header_style"], name=sub["name"],
                              log=lambda rec: self._subscription_delivery(sub, rec))
            except Exception as exc:  # never let the worker die
                self._log_webhook({"topic": topic, "url": sub["url"], "error": repr(exc), "ok": False,
                                   "status": None, "source": "subscription", "subscription": sub["id"]})
            finally:
                with self.outbox_cond:
                    self.outbox_busy -= 1
                    self.outbox_cond.notify_all()

    def wait_webhooks(self, timeout=10.0):
        """Block until every queued subscription delivery has been attempted; True when drained."""
        deadline = time.monotonic() + timeout
        with self.outbox_cond:
            while self.outbox_busy > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.outbox_cond.wait(left)
        return True

    # ---------- GraphQL execution
    def graphql(self, query, variables=None, version=None, token=None, operation_name=None, timeout=30):
        """POST a document to this emulator over HTTP; returns (status, parsed body)."""
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation_name:
            body["operationName"] = operation_name
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("POST", "/admin/api/%s/graphql.json" % (version or self.latest_version),
                         body=json.dumps(body), headers={"Content-Type": "application/json",
                                                         "X-Shopify-Access-Token": token or self.tokens[0]})
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw)
            except ValueError:
                return resp.status, raw.decode("utf-8", "replace")
        finally:
            conn.close()

    def _user_error(self, field, message, code):
        return {"field": field, "message": message, "code": code}

    def _run_mutation(self, ctx, node, fd):
        name, args = node.name, node.cargs
        key = (node.cdirs or {}).get("idempotent", {}).get("key")
        if key is None and name in IDEMPOTENT_MANDATORY_FIELDS and v_at_least(ctx.version, V_IDEMPOTENT_MANDATORY):
            raise FieldError("The @idempotent directive is required for this mutation but was not provided.",
                             {"code": "BAD_REQUEST"})
        if name in ("inventorySetQuantities", "inventoryAdjustQuantities") and \
                v_at_least(ctx.version, V_CHANGE_FROM_MANDATORY):
            rows, tname = ((args["input"]["quantities"], "InventoryQuantityInput") if name == "inventorySetQuantities"
                           else (args["input"]["changes"], "InventoryChangeInput"))
            if any("changeFromQuantity" not in r for r in rows):
                raise FieldError("%s must include the following argument: changeFromQuantity" % tname,
                                 {"code": "INVALID_FIELD_ARGUMENTS"})
        handler = {"inventorySetQuantities": self._m_set_quantities,
                   "inventoryAdjustQuantities": self._m_adjust_quantities,
                   "fulfillmentCreate": self._m_fulfillment_create, "fulfillmentCreateV2": self._m_fulfillment_create,
                   "fulfillmentTrackingInfoUpdate": self._m_tracking_update,
                   "fulfillmentTrackingInfoUpdateV2": self._m_tracking_update}.get(name) or \
            getattr(self, self.MUTATIONS[name])
        empty = {"group": None} if name.startswith("inventory") else {"fulfillment": None}
        if key is None:
            payload = handler(ctx, args)
        else:
            ctx.info["idempotency_keys"].append(key)
            fingerprint = canonical([name, args])
            rec = self.idem.get(key)
            if rec is not None and time.time() - rec["at"] > self.idempotency_ttl and rec["state"] == "done":
                del self.idem[key]
                rec = None
            if rec is not None:
                if rec["fingerprint"] != fingerprint:
                    rec["mismatches"] += 1
                    payload = dict(empty, userErrors=[self._user_error(
                        None, "The same idempotency key cannot be used with different operation parameters.",
                        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")])
                elif rec["state"] == "pending":
                    payload = dict(empty, userErrors=[self._user_error(
                        None, "This request is currently in progress, please try again.",
                        "IDEMPOTENCY_CONCURRENT_REQUEST")])
                else:
                    rec["replays"] += 1
                    ctx.info["idempotent_replay"] = True
                    payload = rec["payload"]
            else:
                rec = {"mutation": name, "fingerprint": fingerprint, "args": jsonable(args), "state": "pending",
                       "at": time.time(), "replays": 0, "mismatches": 0, "payload": None}
                self.idem[key] = rec
                try:
                    payload = handler(ctx, args)
                except BaseException:
                    del self.idem[key]
                    raise
                rec["payload"] = payload
                ctx.idem_pending.append(rec)
        ctx.info["user_errors"].extend(e.get("code") or e["message"] for e in payload.get("userErrors", []))
        return payload

    def _m_set_quantities(self, ctx, args):
        store, inp = self.store, args["input"]
        errs = []
        ue = lambda f, m, c: errs.append(self._user_error(f, m, c))  # noqa: E731
        name, reason, ref = inp["name"], inp["reason"], inp.get("referenceDocumentUri")
        if name not in ("available", "on_hand"):
            ue(["input", "name"], "The quantity name must be either 'available' or 'on_hand'.", "INVALID_NAME")
        if reason not in INVENTORY_REASONS:
            ue(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON")
        if ref is not None and not URI_RE.match(ref):
            ue(["input", "referenceDocumentUri"], "The specified reference document is invalid.",
               "INVALID_REFERENCE_DOCUMENT")
        legacy = not v_at_least(ctx.version, V_CHANGE_FROM_MANDATORY)
        ignore = inp.get("ignoreCompareQuantity") is True
        plan, seen = [], set()
        for i, q in enumerate(inp["quantities"]):
            base = ["input", "quantities", str(i)]
            item_id = gid_id(q["inventoryItemId"], "InventoryItem")
            if item_id not in store.items:
                ue(base + ["inventoryItemId"], "The specified inventory item could not be found.",
                   "INVALID_INVENTORY_ITEM")
                continue
            loc_id = gid_id(q["locationId"], "Location")
            if loc_id not in store.locations:
                ue(base + ["locationId"], "The specified location could not be found.", "INVALID_LOCATION")
                continue
            if (item_id, loc_id) in seen:
                ue(base, "The combination of inventoryItemId and locationId must be unique.",
                   "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR")
                continue
            seen.add((item_id, loc_id))
            lv = store.levels.get((item_id, loc_id))
            if lv is None:
                ue(base + ["locationId"], "The specified inventory item is not stocked at the location.",
                   "ITEM_NOT_STOCKED_AT_LOCATION")
                continue
            qty = q["quantity"]
            if qty < 0:
                ue(base + ["quantity"], "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE")
                continue
            if qty > MAX_QUANTITY:
                ue(base + ["quantity"], "The total quantity can't be higher than 1,000,000,000.",
                   "INVALID_QUANTITY_TOO_HIGH")
                continue
            if name not in ("available", "on_hand"):
                continue
            current = level_quantities(lv)[name]
            if "changeFromQuantity" in q:
                if q["changeFromQuantity"] is not None and q["changeFromQuantity"] != current:
                    ue(base + ["changeFromQuantity"], "The changeFromQuantity value does not match persisted value.",
                       "CHANGE_FROM_QUANTITY_STALE")
                    continue
            elif legacy and not ignore:
                if q.get("compareQuantity") is None:
                    ue(base + ["compareQuantity"], "The compareQuantity argument must be given to each quantity or "
                       "ignored using ignoreCompareQuantity.", "COMPARE_QUANTITY_REQUIRED")
                    continue
                if q["compareQuantity"] != current:
                    ue(base + ["compareQuantity"], "The compareQuantity value does not match persisted value.",
                       "COMPARE_QUANTITY_STALE")
                    continue
            plan.append((lv, qty, current))
        if errs:
            return {"group": None, "userErrors": errs}
        now = self.clock()
        changes = []
        other = "on_hand" if name == "available" else "available"
        for lv, qty, current in plan:
            delta = qty - current
            lv["q"]["available"] += delta            # on_hand = available + the unavailable states
            after = level_quantities(lv)
            for n in (name, other):
                changes.append({"name": n, "delta": delta, "after": after[n], "item_id": lv["item_id"],
                                "location_id": lv["location_id"], "ledger": None})
            store.touch_level(lv, now, emit=delta != 0)
        return {"group": store.new_group(reason, ref, changes, now), "userErrors": []}

    def _m_adjust_quantities(self, ctx, args):
        store, inp = self.store, args["input"]
        errs = []
        ue = lambda f, m, c: errs.append(self._user_error(f, m, c))  # noqa: E731
        name, reason, ref = inp["name"], inp["reason"], inp.get("referenceDocumentUri")
        if name not in ADJUST_NAMES:
            ue(["input", "name"], "The quantity name must be one of: %s." % ", ".join(ADJUST_NAMES),
               "INVALID_QUANTITY_NAME")
        if reason not in INVENTORY_REASONS:
            ue(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON")
        if ref is not None and not URI_RE.match(ref):
            ue(["input", "referenceDocumentUri"], "The specified reference document is invalid.",
               "INVALID_REFERENCE_DOCUMENT")
        plan = []
        pending = {}
        for i, ch in enumerate(inp["changes"]):
            base = ["input", "changes", str(i)]
            item_id = gid_id(ch["inventoryItemId"], "InventoryItem")
            if item_id not in store.items:
                ue(base + ["inventoryItemId"], "The specified inventory item could not be found.",
                   "INVALID_INVENTORY_ITEM")
                continue
            loc_id = gid_id(ch["locationId"], "Location")
            if loc_id not in store.locations:
                ue(base + ["locationId"], "The specified location could not be found.", "INVALID_LOCATION")
                continue
            lv = store.levels.get((item_id, loc_id))
            if lv is None:
                ue(base + ["locationId"], "The specified inventory item is not stocked at the location.",
                   "ITEM_NOT_STOCKED_AT_LOCATION")
                continue
            ledger = ch.get("ledgerDocumentUri")
            if name in ADJUST_NAMES and name != "available" and not ledger:
                ue(base + ["ledgerDocumentUri"], "A ledger document URI is required for the %s quantity." % name,
                   "INVALID_LEDGER_DOCUMENT")
                continue
            if name == "available" and ledger:
                ue(base + ["ledgerDocumentUri"], "A ledger document URI is not allowed for the available quantity.",
                   "INVALID_AVAILABLE_DOCUMENT")
                continue
            if name not in ADJUST_NAMES:
                continue
            current = pending.get((item_id, loc_id), level_quantities(lv)[name])
            if ch.get("changeFromQuantity") is not None and ch["changeFromQuantity"] != current:
                ue(base + ["changeFromQuantity"], "The changeFromQuantity value does not match persisted value.",
                   "CHANGE_FROM_QUANTITY_STALE")
                continue
            after = current + ch["delta"]
            if after > MAX_QUANTITY:
                ue(base + ["delta"], "The quantity can't be higher than 1,000,000,000.", "INVALID_QUANTITY_TOO_HIGH")
                continue
            if after < -MAX_QUANTITY:
                ue(base + ["delta"], "The quantity can't be lower than -1,000,000,000.", "INVALID_QUANTITY_TOO_LOW")
                continue
            pending[(item_id, loc_id)] = after
            plan.append((lv, ch["delta"], ledger))
        if errs:
            return {"group": None, "userErrors": errs}
        now = self.clock()
        changes = []
        for lv, delta, ledger in plan:
            lv["q"][name] += delta
            after = level_quantities(lv)
            changes.append({"name": name, "delta": delta, "after": after[name], "item_id": lv["item_id"],
                            "location_id": lv["location_id"], "ledger": ledger})
            if name in ON_HAND_PARTS:
                changes.append({"name": "on_hand", "delta": delta, "after": after["on_hand"],
                                "item_id": lv["item_id"], "location_id": lv["location_id"], "ledger": None})
            store.touch_level(lv, now, emit=(name == "available" and delta != 0))
        return {"group": store.new_group(reason, ref, changes, now), "userErrors": []}

    def _m_fulfillment_create(self, ctx, args):
        store, inp = self.store, args["fulfillment"]
        errs = []
        ue = lambda f, m: errs.append({"field": f, "message": m})  # noqa: E731
        groups = inp["lineItemsByFulfillmentOrder"]
        if not groups:
            ue(["fulfillment", "lineItemsByFulfillmentOrder"], "Line items by fulfillment order can't be blank.")
        plan, order_ids, loc_ids = [], set(), set()
        for i, g in enumerate(groups):
            base = ["fulfillment", "lineItemsByFulfillmentOrder", str(i)]
            fo_id = gid_id(g["fulfillmentOrderId"], "FulfillmentOrder")
            fo = store.fos.get(fo_id)
            if fo is None:
                ue(base + ["fulfillmentOrderId"], "Fulfillment order does not exist.")
                continue
            if fo["status"] not in ("open", "in_progress"):
                ue(base + ["fulfillmentOrderId"], "Fulfillment order %d has an unfulfillable status= %s." % (
                    fo_id, fo["status"]))
                continue
            order_ids.add(fo["order_id"])
            loc_ids.add(fo["location_id"])
            wanted = g.get("fulfillmentOrderLineItems")
            picks = []
            if not wanted:
                picks = [(fl, fl["remaining"]) for fl in fo["line_items"] if fl["remaining"] > 0]
            else:
                used = {}
                for j, w in enumerate(wanted):
                    lid = gid_id(w["id"], "FulfillmentOrderLineItem")
                    fl = next((x for x in fo["line_items"] if x["id"] == lid), None)
                    if fl is None:
                        ue(base + ["fulfillmentOrderLineItems", str(j), "id"],
                           "Fulfillment order line item does not exist.")
                        continue
                    used[lid] = used.get(lid, 0) + w["quantity"]
                    if w["quantity"] <= 0 or used[lid] > fl["remaining"]:
                        ue(base + ["fulfillmentOrderLineItems", str(j), "quantity"],
                           "Invalid fulfillment order line item quantity requested.")
                        continue
                    picks.append((fl, w["quantity"]))
            if not picks and not errs:
                ue(base + ["fulfillmentOrderId"], "Invalid fulfillment order line item quantity requested.")
            plan.append((fo, picks))
        if len(order_ids) > 1:
            ue(["fulfillment", "lineItemsByFulfillmentOrder"], "All fulfillment orders must belong to the same order.")
        if len(loc_ids) > 1:
            ue(["fulfillment", "lineItemsByFulfillmentOrder"],
               "All fulfillment orders must be assigned to the same location.")
        if errs:
            return {"fulfillment": None, "userErrors": errs}
        now = self.clock()
        order = store.orders[order_ids.pop()]
        location = loc_ids.pop()
        fid = store.next("fulfillment")
        f = {"id": fid, "order_id": order["id"], "name": "%s.%d" % (order["name"], len(order["fulfillment_ids"]) + 1),
             "status": "success", "location_id": location, "tracking": tracking_entries(inp.get("trackingInfo")),
             "line_items": [], "created_at": now, "updated_at": now,
             "notify_customer": bool(inp.get("notifyCustomer")), "message": args.get("message")}
        for fo, picks in plan:
            for fl, qty in picks:
                fl["remaining"] -= qty
                f["line_items"].append({"id": store.next("fli"), "line_item_id": fl["line_item_id"], "quantity": qty})
                li = store.line_item(order["id"], fl["line_item_id"])
                v = store.variants.get(li.get("variant_id"))
                lv = store.levels.get((v["inventory_item_id"], fo["location_id"])) if v else None
                if lv is not None:
                    take = min(max(lv["q"]["committed"], 0), qty)
                    lv["q"]["committed"] -= take
                    lv["q"]["available"] -= qty - take
                    store.touch_level(lv, now, emit=qty - take != 0)
            fo["status"] = "closed" if all(x["remaining"] == 0 for x in fo["line_items"]) else "in_progress"
            fo["updated_at"] = now
        store.fulfillments[fid] = f
        order["fulfillment_ids"].append(fid)
        store.bump(order)
        store.events.append(("fulfillments/create", rest_fulfillment(store, f)))
        store.events.append(("orders/updated", rest_order(store, order)))
        return {"fulfillment": f, "userErrors": []}

    def _m_tracking_update(self, ctx, args):
        store = self.store
        fid = gid_id(args["fulfillmentId"], "Fulfillment")
        f = store.fulfillments.get(fid)
        if f is None:
            return {"fulfillment": None, "userErrors": [{"field": ["fulfillmentId"],
                                                         "message": "Fulfillment does not exist."}]}
        if f["status"] != "success":
            return {"fulfillment": None, "userErrors": [{"field": ["fulfillmentId"],
                                                         "message": "Fulfillment is %s." % f["status"]}]}
        f["tracking"] = tracking_entries(args["trackingInfoInput"])
        f["updated_at"] = self.clock()
        order = store.orders[f["order_id"]]
        store.bump(order)
        store.events.append(("fulfillments/update", rest_fulfillment(store, f)))
        store.events.append(("orders/updated", rest_order(store, order)))
        return {"fulfillment": f, "userErrors": []}

    def _cost_ext(self, requested, actual):
        return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self.bucket.status()}

    def _throttled_body(self, requested):
        return {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
                                                                   "documentation": RATE_LIMIT_DOC}}],
                "extensions": {"cost": self._cost_ext(requested, None)}}

    def _execute_graphql(self, prep, errors, info, version):
        """-> (status, body dict, pending idempotency records)."""
        if errors:
            info["errors"] = [e.extensions.get("code") if e.extensions and e.extensions.get("code") else e.message
                              for e in errors]
            return 200, {"errors": [e.to_dict() for e in errors], "extensions": {"cost": self._cost_ext(0, 0)}}, []
        requested = static_cost(prep, prep.root, prep.op.selections, version)
        info["requested_cost"] = requested
        max_cost = min(self.max_cost, int(self.bucket.maximum))
        if requested > max_cost:
            info["errors"] = ["MAX_COST_EXCEEDED"]
            return 200, {"errors": [{"message": MAX_COST_MESSAGE % (requested, max_cost),
                                     "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                    "maxCost": max_cost}}],
                         "extensions": {"cost": self._cost_ext(requested, None)}}, []
        if not self.bucket.take(requested):
            info["throttled"] = True
            info["errors"] = ["THROTTLED"]
            return 200, self._throttled_body(requested), []
        with self.lock:
            ctx = ExecCtx(self, prep, version, info)
            try:
                data, actual = execute_prepared(ctx)
            except Exception:
                self.bucket.refund(requested)
                raise
            events = self._drain_events()
        actual = min(actual, requested)
        self.bucket.refund(requested - actual)
        info["actual_cost"] = actual
        body = {"data": data}
        if ctx.errors:
            body["errors"] = [e.to_dict() for e in ctx.errors]
            info["errors"] = [e.extensions.get("code") if e.extensions and e.extensions.get("code") else e.message
                              for e in ctx.errors]
        ext = {"cost": self._cost_ext(requested, actual)}
        if ctx.search:
            ext["search"] = ctx.search
        body["extensions"] = ext
        self._dispatch(events)
        return 200, body, ctx.idem_pending

    def _graphql_http(self, h, verb, version, raw):
        info = {"ts": time.time(), "path": urlsplit(h.path).path, "version": version, "operation": None,
                "operation_type": None, "fields": [], "variables": None, "query": None, "requested_cost": None,
                "actual_cost": None, "throttled": False, "status": None, "errors": [], "user_errors": [],
                "fault": None, "idempotency_keys": [], "idempotent_replay": False}
        t0 = time.monotonic()
        pending = []
        try:
            resp, pending = self._graphql_inner(h, verb, version, raw, info)
            if not isinstance(resp, Drop):
                info["status"] = resp[0]
            return resp
        finally:
            for rec in pending:
                rec["state"] = "done"
            info["currently_available"] = self.bucket.status()["currentlyAvailable"]
            info["duration_ms"] = round((time.monotonic() - t0) * 1000.0, 3)
            self._log_call(info)

    def _graphql_inner(self, h, verb, version, raw, info):
        headers = [("X-Shopify-API-Version", version), ("X-Request-Id", str(uuid.uuid4()))]
        if version not in self.versions:
            return _json(404, NOT_FOUND_BODY), []
        token = h.headers.get("X-Shopify-Access-Token")
        if not token or token not in self.tokens:
            info["errors"] = ["401"]
            return _json(401, INVALID_TOKEN_BODY, headers), []
        if verb != "POST":
            return _json(405, {"errors": "Method Not Allowed"}, headers + [("Allow", "POST")]), []
        ctype = (h.headers.get("Content-Type") or "").lower()
        variables, op_name = None, None
        if "application/graphql" in ctype:
            query = raw.decode("utf-8", "replace")
        else:
            try:
                payload = json.loads(raw.decode("utf-8") or "null")
            except (UnicodeDecodeError, ValueError):
                return _json(400, BAD_QUERY_BODY, headers), []
            if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
                return _json(400, BAD_QUERY_BODY, headers), []
            query = payload["query"]
            variables = payload.get("variables")
            if isinstance(variables, str):
                try:
                    variables = json.loads(variables) if variables.strip() else None
                except ValueError:
                    return _json(400, BAD_QUERY_BODY, headers), []
            op_name = payload.get("operationName") or None
        info["query"] = query if len(query) <= 65536 else query[:4000]  # whole: tests validate it (tests/schema)
        info["variables"] = jsonable(variables, limit=1 << 20)   # whole 250-item inputs: tests count them
        prep, errors = None, None
        try:
            prep = prepare(query, variables, op_name, version)
            info["operation"], info["operation_type"], info["fields"] = prep.op.name, prep.op.kind, prep.fields
        except GraphQLError as exc:
            errors = [exc]
        except ValidationErrors as exc:
            errors = exc.errors
            try:
                ops, _ = parse_document(query)
                op = ([o for o in ops if o.name == op_name] or ops)[0]
                info["operation"], info["operation_type"] = op.name, op.kind
                info["fields"] = [s.name for s in op.selections if isinstance(s, Field)]
            except GraphQLError:
                pass
        fault = self._take_fault(info)
        mode = fault["mode"] if fault else None
        info["fault"] = mode
        if mode == "slow" and fault["phase"] == "before":
            time.sleep(fault["delay_ms"] / 1000.0)
        if mode == "down":
            return Drop(fault["reset"]), []
        if mode == "timeout":
            time.sleep(fault["delay_ms"] / 1000.0)
            return Drop(fault["reset"]), []
        if mode == "429":
            ra = fault["retry_after"]
            ra = "%.1f" % float(ra) if isinstance(ra, (int, float)) else str(ra)
            return _json(429, TOO_MANY_REQUESTS_BODY, headers + [("Retry-After", ra)]), []
        if mode == "throttle":
            info["throttled"] = True
            requested = static_cost(prep, prep.root, prep.op.selections, version) if prep else 0
            info["requested_cost"] = requested
            return _json(200, self._throttled_body(requested), headers), []
        if mode == "internal_error":
            rid = headers[1][1]
            return _json(200, {"errors": [{"message": INTERNAL_ERROR_MESSAGE % rid, "extensions": {
                "code": "INTERNAL_SERVER_ERROR", "requestId": rid}}]}, headers), []
        if mode and mode.startswith("http_"):
            pending = []
            if fault["execute"]:
                _, _, pending = self._execute_graphql(prep, errors, info, version)
            code = int(mode[5:])
            if code == 500:
                return _json(500, {"errors": "Internal Server Error"}, headers), pending
            return (code, "text/html", html_gateway(code, GATEWAY_REASONS[code]), []), pending
        status, body, pending = self._execute_graphql(prep, errors, info, version)
        if mode == "commit_then_drop":
            return Drop(fault["reset"]), pending
        if mode == "slow" and fault["phase"] == "after":
            time.sleep(fault["delay_ms"] / 1000.0)
        return _json(status, body, headers), pending

    # ---------- HTTP routes (sim_http.HttpSim reads the body, serves /__sim__/ and writes the response)
    def _route(self, h, verb, path, body):
        m = re.match(r"^/admin/api/([^/]+)/graphql\.json$", path)
        if m:
            return self._graphql_http(h, verb, m.group(1), body)
        return _json(404, NOT_FOUND_BODY)

    def _internal_error(self):
        return _json(500, {"errors": "Internal Server Error"})

    # ---------- the /__sim__ API (not Shopify)
    def _sim_api(self, verb, path, query, raw):
        try:
            payload = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return _json(400, {"error": "body is not JSON"})
        if not isinstance(payload, dict):
            return _json(400, {"error": "body must be a JSON object"})
        q = lambda name, default=None: query.get(name, [default])[0]  # noqa: E731
        parts = [p for p in path[len("/__sim__/"):].split("/") if p]
        head = parts[0] if parts else ""
        try:
            if head in ("health", "") and verb == "GET":
                return _json(200, {"ok": True})
            if head == "info" and verb == "GET":
                return _json(200, self.info())
            if head == "fault" and verb == "POST":
                return _json(200, {"faults": self.set_fault(**payload)})
            if head == "faults" and verb == "GET":
                return _json(200, {"faults": self.list_faults()})
            if head == "calls":
                if len(parts) == 2 and parts[1] == "reset" and verb == "POST":
                    self.reset_calls()
                    return _json(200, {"ok": True})
                if verb == "GET":
                    return _json(200, {"calls": self.calls(int(q("since", 0)), field=q("field"),
                                                           operation=q("operation"), type=q("type"))})
            if head == "state" and verb == "GET":
                return _json(200, self.state())
            if head == "products" and verb == "POST":
                return _json(200, {"products": self.create_products(payload.get("products"))})
            if head == "inventory":
                if verb == "GET":
                    if q("format", "rows") == "map":
                        return _json(200, {"inventory": self.inventory_map(q("location_id"), q("name", "available"))})
                    return _json(200, {"inventory": self.inventory(q("sku"), q("location_id"))})
                if verb == "POST":
                    return _json(200, self.set_inventory(**payload))
            if head == "orders":
                if len(parts) == 1 and verb == "GET":
                    return _json(200, {"orders": self.orders()})
                if len(parts) == 1 and verb == "POST":
                    return _json(200, self.create_order(**payload))
                if len(parts) == 2 and verb == "GET":
                    o = self.order(parts[1])
                    return _json(200, o) if o else _json(404, {"error": "no order %s" % parts[1]})
                if len(parts) == 2 and verb == "POST":
                    return _json(200, self.update_order(parts[1], **payload))
                if len(parts) == 3 and parts[2] == "refunds" and verb == "POST":
                    return _json(200, self.create_refund(parts[1], **payload))
                if len(parts) == 3 and parts[2] == "risk" and verb == "POST":
                    self.set_risk(parts[1], payload.get("level"))
                    return _json(200, {"ok": True})
                if len(parts) == 3 and parts[2] == "transactions" and verb == "POST":
                    return _json(200, {"transactions": self.set_transactions(parts[1], payload["transactions"])})
            if head == "fulfillments" and verb == "GET":
                return _json(200, {"fulfillments": self.fulfillments()})
            if head == "idempotency":
                if len(parts) == 2 and parts[1] == "reset" and verb == "POST":
                    with self.lock:
                        self.idem = {}
                    return _json(200, {"ok": True})
                if verb == "GET":
                    return _json(200, {"keys": self.idempotency_keys()})
            if head == "bucket":
                if verb == "GET":
                    return _json(200, self.bucket.status())
                if verb == "POST":
                    return _json(200, self.set_bucket(payload.get("maximum"), payload.get("restore"),
                                                      payload.get("available")))
            if head == "clock":
                if verb == "GET":
                    return _json(200, {"now": gql_time(self.clock())})
                if verb == "POST":
                    return _json(200, {"now": self.set_clock(payload.get("now"), payload.get("advance_s"))})
            if head == "tokens" and verb == "POST":
                tokens = payload.get("tokens")
                if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                    return _json(400, {"error": "tokens must be a list of strings"})
                self.tokens = list(tokens)
                return _json(200, {"tokens": self.tokens})
            if head == "webhooks":
                sub = parts[1] if len(parts) > 1 else ""
                if sub == "" and verb == "GET":
                    return _json(200, {"deliveries": self.webhooks(int(q("since", 0)), q("topic"))})
                if sub == "send" and verb == "POST":
                    url, secret = payload.pop("url"), payload.pop("secret")
                    if "async" in payload:
                        payload["async_"] = payload.pop("async")
                    result = self.send_webhooks(url, secret, **payload)
                    return _json(200, result if isinstance(result, dict) else {"deliveries": result})
                if sub == "reset" and verb == "POST":
                    with self.webhook_lock:
                        self.webhook_log = []
                    return _json(200, {"ok": True})
                if sub == "subscribe" and verb == "POST":
                    return _json(200, self.subscribe(**payload))
                if sub == "unsubscribe" and verb == "POST":
                    self.unsubscribe(payload.get("id"))
                    return _json(200, {"ok": True})
                if sub == "subscriptions" and verb == "GET":
                    return _json(200, {"subscriptions": self.list_subscriptions()})
                if sub == "remove" and verb == "POST":
                    return _json(200, self.remove_subscription_as_shopify(payload["id"]))
                if sub == "wait" and verb in ("GET", "POST"):
                    return _json(200, {"drained": self.wait_webhooks(float(q("timeout", payload.get("timeout", 10))))})
            if head == "reset" and verb == "POST":
                self.reset(payload.get("seed"), payload.get("orders"))
                return _json(200, {"ok": True})
            return _json(404, {"error": "unknown /__sim__ endpoint %s %s" % (verb, path)})
        except SimError as exc:
            return _json(exc.status, {"error": str(exc)})
        except (KeyError, TypeError, ValueError) as exc:
            return _json(400, {"error": "%s: %s" % (type(exc).__name__, exc)})


# ----------------------------------------------------------------------------------------------------------------
# Command line

def main(argv=None):
    ap = argparse.ArgumentParser(description="Shopify GraphQL Admin API emulator and webhook sender for synchub tests")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0 = any free port; default %d)"
                    % DEFAULT_PORT)
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--shop", default=DEFAULT_SHOP, help="the shop's myshopify domain (default %s)" % DEFAULT_SHOP)
    ap.add_argument("--token", action="append", default=None,
                    help="accepted X-Shopify-Access-Token (repeatable; default: a fixed shpat_ token)")
    ap.add_argument("--bucket", type=float, default=DEFAULT_BUCKET, help="leaky bucket size in points (default 1000)")
    ap.add_argument("--restore", type=float, default=DEFAULT_RESTORE, help="restore rate, points/s (default 50)")
    ap.add_argument("--max-cost", type=int, default=MAX_QUERY_COST, help="single query max cost (default 1000)")
    ap.add_argument("--versions", default=",".join(DEFAULT_VERSIONS),
                    help="comma-separated API versions served (others answer 404)")
    ap.add_argument("--no-seed", action="store_true", help="start empty (no locations, products or stock)")
    ap.add_argument("--orders", action="store_true", help="also seed orders #1042 (the fixture), #1043, #1044")
    ap.add_argument("--fixtures", default=None, help="folder of sample webhook bodies (default: $SYNCHUB_FIXTURES "
                                                     "or <repo>/../shared/fixtures/shopify)")
    ap.add_argument("--webhook-secret", default=DEFAULT_APP_SECRET,
                    help="the app's client secret that signs deliveries of Admin API subscriptions")
    ap.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    args = ap.parse_args(argv)
    try:
        sim = ShopifySim(port=args.port, host=args.host, shop=args.shop, token=args.token or DEFAULT_TOKEN,
                         bucket=args.bucket, restore=args.restore, max_cost=args.max_cost,
                         versions=[v.strip() for v in args.versions.split(",") if v.strip()],
                         seed=not args.no_seed, orders=args.orders, fixtures=args.fixtures, verbose=args.verbose,
                         app_secret=args.webhook_secret)
        sim.start()
    except (ValueError, OSError) as exc:
        sys.stderr.write("shopify_sim: %s\n" % exc)
        return 2
    return serve_until_signalled(sim, {
        "shopify_sim": "ready", "url": sim.url, "port": sim.port, "shop": sim.shop, "token": sim.tokens[0],
        "versions": list(sim.versions), "graphql_url": sim.graphql_url(), "bucket": sim.bucket.maximum,
        "restore": sim.bucket.restore, "webhook_secret": sim.app_secret})


if __name__ == "__main__":
    sys.exit(main())
