"""Helpers shared by the emulators' self-tests (test_odoo_sim.py, test_shopify_sim.py): one HTTP call, and an
emulator run as its own process. Not fixtures, and not a conftest.py on purpose: tests/integration imports its
conftest by module name, and a second conftest.py here would shadow it when both folders run in one pytest session.
"""

import contextlib
import http.client as httplib
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def http(sim, method, path, body=None, headers=None, timeout=10):
    """-> (status, headers dict (lower-case names), raw body bytes)"""
    conn = httplib.HTTPConnection("127.0.0.1", sim.port, timeout=timeout)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@contextlib.contextmanager
def standalone(script, *args):
    """Run tests/sim/<script> with args as its own process; -> its ready line (a dict). Afterwards SIGTERM, and the
    process must exit with status 0."""
    proc = subprocess.Popen([sys.executable, str(HERE / script), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
