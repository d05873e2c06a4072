"""Issue 13 (hardening): the faults a hostile test found, one regression test each.

Each test names its item. Servers run with `workers = 0` unless the item is about processing.
"""

import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import sqlite_only
from conftest import SECRET, SHOP, fixture_bytes, http_request, order_body, sign, wait_until


@pytest.fixture
def server(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.start()
    return hub


# ---- item 1: an over-long signature is refused before any decode ---------------------------------------------------

@pytest.mark.parametrize("extra", [4, 44])
def test_overlong_shopify_signature_is_401_and_the_server_lives(server, extra):
    """An 88-character X-Shopify-Hmac-Sha256 decoded 66 bytes into a 64-byte buffer (a clang -O2 build died after
    6-9 such requests). The right signature followed by more base64 is refused too: only 44 characters are one."""
    body = fixture_bytes("orders_create.json")
    good = sign(body, SECRET)
    for i in range(12):
        sig = good + base64.b64encode(os.urandom(extra // 4 * 3)).decode()
        status, doc = server.post_webhook(body, event_id=f"evt-long-sig-{i}", signature=sig)
        assert status == 401, (status, doc)
    assert server.get("/healthz")[0] == 200
    assert server.jobs() == []
    status, doc = server.post_webhook(body, event_id="evt-long-sig-ok")
    assert (status, doc.get("status")) == (200, "stored"), doc


# ---- item 2: what the ack path accepts, the worker can read --------------------------------------------------------

def _order_with(raw_tail):
    """orders/create of the fixture with `raw_tail` (raw JSON text) as the value of a new last member."""
    doc = fixture_bytes("orders_create.json").rstrip()
    assert doc.endswith(b"}")
    return doc[:-1] + b', "x_probe": ' + raw_tail + b"}"


@pytest.mark.parametrize("tail", [b'"ends in NUL \\u0000"', b'"\\ud800"', b'"\\udc00 alone"', b'"\\ud800\\u0041"',
                                  b"1e999999", b"-1e999999", b"9" * 30000, b"9223372036854775808"],
                         ids=["nul", "lone-high", "lone-low", "high-then-nonlow", "huge-real", "huge-negative",
                              "30000-digits", "int64-plus-one"])
def test_a_body_the_worker_cannot_read_is_400_and_not_stored(server, tail):
    """Issue 13, item 2: these were acknowledged 200 and their job went dead at once (jscan accepted what jansson
    refuses); Shopify does not resend an acknowledged delivery, so the order was silently lost."""
    status, doc = server.post_webhook(_order_with(tail), event_id="evt-unreadable")
    assert status == 400, (status, doc)
    assert isinstance(doc, dict) and doc.get("error"), doc
    assert server.jobs() == []



# ---- item 6: secret files: first line, bounded ---------------------------------------------------------------------

def test_check_config_refuses_dev_zero_as_secret_file_promptly(make_synchub):
    """webhook_secret_file = /dev/zero made check-config hang while memory grew (2.5 GB in 10 s)."""
    hub = make_synchub()
    hub.set(f"shop {SHOP}", webhook_secret=None, webhook_secret_file="/dev/zero")
    hub.write_config()
    cp = hub.run("check-config", timeout=20)
    assert cp.returncode != 0
    assert "webhook_secret_file" in cp.stderr and "NUL" in cp.stderr, cp.stderr
    assert f"{hub.config}:" in cp.stderr, cp.stderr  # FILE:LINE


def test_secret_file_second_line_is_ignored(make_synchub, tmp_path):
    """The sample config says "first line of the file": a trailing second line made every webhook 401."""
    secret_file = tmp_path / "shop-secret"
    secret_file.write_text(SECRET + "\nrotated on 2026-12-01 by ops\n")
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.set(f"shop {SHOP}", webhook_secret=None, webhook_secret_file=str(secret_file))
    hub.start()
    status, doc = hub.post_webhook(fixture_bytes("orders_create.json"), event_id="evt-secret-file")
    assert (status, doc.get("status")) == (200, "stored"), doc
