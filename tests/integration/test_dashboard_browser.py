"""The dashboard in headless Chromium (tests/web/dashboard.e2e.mjs, playwright-core from tests/web/node_modules):
load the page, give the operator token, see the failed job grouped by cause, open it, reveal, retry, see it done.
Needs node, /usr/bin/chromium and `npm ci` in tests/web (scripts/install-deps does all three); without them the
test is skipped on a developer's machine and FAILS under CI=true, so CI cannot pass without looking.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, fixture_json, record_output

TOKEN = "alice-browser-token-3c9e1a7f52d4"
WEB = REPO / "tests" / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def require_browser():
    missing = []
    if not shutil.which("node"):
        missing.append("node")
    if not Path(CHROMIUM).exists():
        missing.append(CHROMIUM)
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        missing.append("tests/web/node_modules/playwright-core (npm ci)")
    if missing:
        msg = "browser test needs " + ", ".join(missing) + ": run scripts/install-deps"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def test_dashboard_in_chromium_retry_a_failed_job_until_done(hub, tmp_path):
    require_browser()
    hub.set("operator alice", token=TOKEN).start()
    order = fixture_json("orders_create.json")
    flag = tmp_path / "flag"
    payload = dict(order, path=str(flag))
    _, job = hub.enqueue("test.needs_file", "browser-1", payload)
    hub.wait_state(job, "dead")
    flag.write_text("fixed\n")   # the operator fixed the cause; the job stays dead until retried

    shots = tmp_path / "shots"
    shots.mkdir()
    env = dict(os.environ, SYNCHUB_URL=f"http://127.0.0.1:{hub.port}", SYNCHUB_TOKEN=TOKEN, SYNCHUB_JOB=job,
               SYNCHUB_EMAIL=order["customer"]["email"], SCREENSHOT_DIR=str(shots), CHROMIUM=CHROMIUM)
    cp = subprocess.run(["node", str(WEB / "dashboard.e2e.mjs")], env=env, capture_output=True, text=True,
                        timeout=180, cwd=str(WEB))
    record_output("dashboard.e2e.mjs", cp.stdout, cp.stderr)
    steps = [json.loads(line)["step"] for line in cp.stdout.splitlines() if line.startswith("{")]
    assert cp.returncode == 0 and steps[-1] == "ok", f"steps: {steps}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
    assert steps == ["login shown", "failure listed", "job opened, payload masked", "revealed", "done",
                     "audit shown", "ok"]
    for name in ("overview.png", "job-done.png"):
        assert (shots / name).stat().st_size > 10000, name
    if os.environ.get("SYNCHUB_KEEP_SCREENSHOTS"):
        for png in shots.iterdir():
            shutil.copy(png, Path(os.environ["SYNCHUB_KEEP_SCREENSHOTS"]) / png.name)

    assert hub.show(job)["state"] == "done"
    rows = [(r["actor"], r["action"], r["target"]) for r in hub.cli_json("audit", "--json")]
    assert rows == [("token:alice", "retry", job), ("token:alice", "reveal", job)]
