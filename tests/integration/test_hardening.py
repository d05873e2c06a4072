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
