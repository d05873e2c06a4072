"""The Shopify Admin API client (src/shopify/) against the Shopify emulator, through the C test driver
tests/unit/test_shopify_live.c: no synchub command uses the client yet, so the driver is the real code under test.

It runs the driver built next to the binary under test ($SYNCHUB_BIN's folder, else <repo>/build), with
SYNCHUB_TEST_SHOPIFY_URL/_TOKEN pointing at a fresh in-process emulator. The driver reshapes the emulator's bucket
itself (small buckets, an empty bucket, a 429) and checks what the emulator applied; see the top of that file.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "sim"))
import shopify_sim  # noqa: E402

BIN = Path(os.environ.get("SYNCHUB_BIN") or (REPO / "build" / "synchub"))
DRIVER = BIN.parent / "test_shopify_live"


@pytest.fixture
def sim(request):
    # orders=True: the seeded orders #1042-#1044 (the order tests also ask for them when they reset)
    s = shopify_sim.ShopifySim(port=0, orders=True)
    s.start()
    request.addfinalizer(s.stop)
    return s


@pytest.mark.skipif(not DRIVER.exists(), reason="test_shopify_live not built (cmocka missing?)")
def test_shopify_client_against_the_emulator(sim):
    env = dict(os.environ, SYNCHUB_TEST_SHOPIFY_URL=sim.url, SYNCHUB_TEST_SHOPIFY_TOKEN=shopify_sim.DEFAULT_TOKEN,
               CMOCKA_MESSAGE_OUTPUT="stdout")
    proc = subprocess.run([str(DRIVER)], env=env, capture_output=True, text=True, timeout=180)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "SKIPPED" not in output, output
    assert "[  PASSED  ] 9 test(s)." in output, output
