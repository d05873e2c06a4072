"""Shared helpers for the synchub integration suite.

Every test drives the real binary: `synchub serve --config X` on a free loopback port, with its own temporary
folder, config file and SQLite store, and the CLI (`synchub jobs list --json --config X`, ...) against the same
config. The contract under test is docs/SPEC-inbox.md.

PostgreSQL: SYNCHUB_TEST_PG_URL names a database the tests may use (`make test` starts scripts/pg-test-cluster and
sets it). Each installation, or each test of the multi-node suite, gets its own schema there (`pg_schema_url`).
With SYNCHUB_TEST_STORE=postgres every installation's config says `backend = postgres` (the whole suite on the
PostgreSQL engine); the default is SQLite. Under CI=true a test that needs PostgreSQL fails when the URL is unset.

Locations (no absolute machine paths):
- repository:  Path(__file__).resolve().parents[2]
- binary:      <repo>/build/synchub, or $SYNCHUB_BIN
- fixtures:    <repo>/../shared/fixtures/shopify, or $SYNCHUB_FIXTURES

Rules the helpers enforce: no timing assertions (everything that waits polls with a generous deadline through
`wait_until`), and every process a test starts is stopped by a finalizer (SIGTERM first when the test asked for
it, kill -9 for anything left over).

Secret hygiene (HYGIENE below): every config written through `write_config` registers its secrets, every serve log
and every CLI output of the run is registered, and at the end of the session the outputs are searched for every
secret (raw, base64 and hex). A secret found fails the run; so does a run that started synchub but captured no
output or no secret (the check would otherwise pass without looking).
"""

import base64
import glob
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SYNCHUB_BIN") or (REPO / "build" / "synchub"))
FIXTURES = Path(os.environ.get("SYNCHUB_FIXTURES") or (REPO.parent / "shared" / "fixtures" / "shopify"))

SHOP = "acme-outfitters.myshopify.com"
SECRET = "whsec-acme-current-7f3a9c2e51d84b06"
PREVIOUS_SECRET = "whsec-acme-previous-0b1e6d2a9c7f4835"

ID_RE = re.compile(r"^[0-9a-f]{32}$")
ENQUEUE_RE = re.compile(r"^(enqueued|duplicate) ([0-9a-f]{32})\s*$", re.M)

PG_URL = os.environ.get("SYNCHUB_TEST_PG_URL") or None
STORE_ENGINE = os.environ.get("SYNCHUB_TEST_STORE", "sqlite")
# Tests of the SQLite file itself (its locks, WAL, size cap, path): not applicable when the suite runs on PostgreSQL.
sqlite_only = pytest.mark.skipif(STORE_ENGINE != "sqlite", reason="inspects the SQLite store file")

# Exit codes from the spec's CLI section.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3


# --------------------------------------------------------------------------------------------------------------
# Small generic helpers


def wait_until(pred, timeout=20, interval=0.1, msg=None):
    """Poll `pred()` until it returns something truthy; return that value. Fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
            last_exc = None
        except AssertionError:
            raise
        except Exception as exc:  # a transient error while polling (e.g. connection refused): keep polling
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {msg or pred}{detail}")
        time.sleep(interval)


def free_port():
    """A loopback port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixture_bytes(name):
    """Raw bytes of a Shopify fixture body, e.g. fixture_bytes("orders_create.json")."""
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(f"fixture {path} not found (set SYNCHUB_FIXTURES to the shopify fixtures folder)")
    return path.read_bytes()


def fixture_json(name):
    return json.loads(fixture_bytes(name))


def cli_job_id(kind, key):
    """The id `synchub enqueue` must derive: first 32 hex digits of SHA-256("cli|<kind>|<key>")."""
    return hashlib.sha256(f"cli|{kind}|{key}".encode()).hexdigest()[:32]


def sign(body, secret):
    """Shopify's X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(secret, raw body bytes))."""
    if isinstance(body, str):
        body = body.encode()
    if isinstance(secret, str):
        secret = secret.encode()
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def _parse_json(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def http_request(port, method, path, body=None, headers=None, chunked=False, timeout=30):
    """One HTTP request over loopback; returns (status, parsed JSON body or None, raw body bytes).

    The body is sent tolerantly: a server may answer (413) and close before it has read everything, so a broken
    pipe while sending is not an error as long as a response can still be read.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None and not chunked:
            hdrs.setdefault("Content-Length", str(len(body)))
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        send_error = None
        if body is not None:
            try:
                if chunked:
                    step = 8192
                    for i in range(0, len(body), step):
                        piece = body[i:i + step]
                        conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    conn.send(b"0\r\n\r\n")
                else:
                    step = 65536
                    for i in range(0, len(body), step):
                        conn.send(body[i:i + step])
            except (BrokenPipeError, ConnectionResetError) as exc:
                send_error = exc
        try:
            resp = conn.getresponse()
            raw = resp.read()
        except (ConnectionResetError, http.client.RemoteDisconnected) as exc:
            raise ConnectionError(f"{method} {path}: no response (send error: {send_error!r})") from exc
        return resp.status, _parse_json(raw), raw
    finally:
        conn.close()


def webhook_headers(body, topic="orders/create", shop=SHOP, event_id=None, webhook_id=None, secret=SECRET,
                    extra_headers=None, prefix="X-", signature=None, triggered_at=None, omit=()):
    """Headers of one Shopify delivery. `secret=None` leaves the signature out; `omit` drops named headers
    (names without prefix, e.g. "Shopify-Topic"); `prefix=""` sends the newer un-prefixed names."""
    h = {"Content-Type": "application/json"}
    if topic is not None:
        h[prefix + "Shopify-Topic"] = topic
    if shop is not None:
        h[prefix + "Shopify-Shop-Domain"] = shop
    if webhook_id is None:
        webhook_id = "wh-" + os.urandom(8).hex()
    if webhook_id is not False:
        h[prefix + "Shopify-Webhook-Id"] = webhook_id
    if event_id is not None:
        h[prefix + "Shopify-Event-Id"] = event_id
    if triggered_at is not None:
        h[prefix + "Shopify-Triggered-At"] = triggered_at
    h[prefix + "Shopify-API-Version"] = "2025-10"
    if signature is None and secret is not None:
        signature = sign(body, secret)
    if signature is not None:
        h[prefix + "Shopify-Hmac-Sha256"] = signature
    for name in omit:
        h.pop(prefix + name, None)
    h.update(extra_headers or {})
    return h


def post_webhook(port, body, topic="orders/create", shop=SHOP, event_id=None, webhook_id=None, secret=SECRET,
                 extra_headers=None, **kw):
    """POST /webhooks/shopify with a signed (by `secret`) body; returns (status, parsed JSON body or None)."""
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    chunked = kw.pop("chunked", False)
    timeout = kw.pop("timeout", 30)
    headers = webhook_headers(body, topic=topic, shop=shop, event_id=event_id, webhook_id=webhook_id,
                              secret=secret, extra_headers=extra_headers, **kw)
    status, doc, _raw = http_request(port, "POST", "/webhooks/shopify", body, headers, chunked=chunked,
                                     timeout=timeout)
    return status, doc


def order_body(order_id, **fields):
    """orders_create.json with another order id (and optional field overrides), as bytes."""
    doc = fixture_json("orders_create.json")
    doc["id"] = order_id
    doc["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    doc.update(fields)
    return json.dumps(doc).encode()


def parse_iso(value):
    """ISO 8601 (with Z or an offset, with or without fractions) -> aware datetime."""
    assert isinstance(value, str) and value, f"not an ISO 8601 time: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --------------------------------------------------------------------------------------------------------------
# Secret hygiene: what the run configured as secret, and everything synchub printed


# Config keys holding secrets (cfg.c's T_SECRET keys, and the names the operator surface adds: tokens, keys),
# given inline, as KEY_file = PATH or as KEY_env = VARIABLE.
SECRET_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_]*(?:secret|token|api_key|password|passwd)(?:_previous)?)"
                           r"(_file|_env)?\s*=\s*(.*?)\s*$")
MIN_SECRET_LEN = 8   # shorter values ("sync", "admin") occur in ordinary text; they are reported, not searched


def secret_forms(value):
    """The forms a leaked secret may take in output: raw, base64 and hex of its bytes."""
    raw = value.encode()
    return {"raw": value, "base64": base64.b64encode(raw).decode(), "hex": raw.hex()}


def scan_outputs(secrets, outputs):
    """Search each (label, text) output for each secret (value -> where it was configured) in every form.
    Returns [(where configured, form, output label)] — empty when clean."""
    found = []
    for value, where in sorted(secrets.items()):
        if len(value) < MIN_SECRET_LEN:
            continue
        forms = secret_forms(value)
        for label, text in outputs:
            for form, needle in forms.items():
                if needle in text:
                    found.append((where, form, label))
    return found


class HygieneLedger:
    """Every secret the run configured and every output synchub produced, for the end-of-session scan."""

    def __init__(self):
        self.secrets = {}        # value -> "config file: key"
        self.short = set()       # secrets too short to search for
        self.secret_files = {}   # path -> "config file: key" (read at the end: tests write them after the config)
        self.secret_envs = {}    # variable -> "config file: key"
        self.env_values = []     # env dicts given to synchub processes
        self.outputs = []        # (label, text, owner: the installation folder or None)
        self.output_files = []   # (label, path): serve logs, read at the end
        self.instances = 0

    def add_secret(self, value, where):
        if not value:
            return
        if len(value) < MIN_SECRET_LEN:
            self.short.add(where)
        self.secrets.setdefault(value, where)

    def note_config(self, path, text):
        """Register the secrets of a config file's text."""
        path = Path(path)
        for line in text.splitlines():
            m = SECRET_KEY_RE.match(line)
            if not m or line.lstrip().startswith((";", "#")):
                continue
            key, via, value = m.group(1), m.group(2), m.group(3)
            where = f"{path.name}: {key}{via or ''}"
            if via == "_file":
                f = Path(value)
                self.secret_files[f if f.is_absolute() else path.parent / f] = where
            elif via == "_env":
                self.secret_envs[value] = where
            else:
                self.add_secret(value, where)

    def note_env(self, env):
        if env:
            self.env_values.append(dict(env))
        self._read_secret_files()  # now: a test may delete the file before the session ends

    def note_output(self, label, *texts, owner=None):
        for t in texts:
            if t:
                self.outputs.append((label, t if isinstance(t, str) else t.decode("utf-8", "replace"), owner))

    def note_output_file(self, label, path, owner=None):
        self.output_files.append((label, Path(path), owner))

    def _read_secret_files(self):
        # As synchub reads them: the first line, at most 4 KiB, regular files only (a test may point at /dev/zero).
        for f, where in self.secret_files.items():
            try:
                if f.is_file():
                    with open(f, "rb") as fh:
                        first = fh.read(4096).split(b"\n", 1)[0].rstrip(b"\r")
                    self.add_secret(first.decode("utf-8", "replace"), where)
            except OSError:
                pass

    def resolve(self):
        """Secrets from files and environment variables, and the outputs with the output files' text, as of now:
        [(label, text, owner)]."""
        self._read_secret_files()
        for var, where in self.secret_envs.items():
            for env in self.env_values + [os.environ]:
                if env.get(var):
                    self.add_secret(env[var], where)
        outputs = list(self.outputs)
        for label, f, owner in self.output_files:
            try:
                outputs.append((label, f.read_text(errors="replace"), owner))
            except OSError:
                pass
        return outputs

    def check(self):
        """The end-of-session verdict: (summary line, list of failures)."""
        outputs = self.resolve()
        nbytes = sum(len(t) for _, t, _ in outputs)
        searched = [v for v in self.secrets if len(v) >= MIN_SECRET_LEN]
        heard_from = {owner for _, t, owner in outputs if owner is not None and t.strip()}
        summary = (f"secret hygiene: {len(searched)} secrets searched (raw, base64, hex) in {len(outputs)} outputs, "
                   f"{nbytes} bytes, from {len(heard_from)} of {self.instances} synchub installations")
        if self.instances == 0 and not outputs:
            return summary + " (nothing ran)", []
        failures = [f"secret of {where} printed ({form}) in {label}"
                    for where, form, label in scan_outputs(self.secrets, [(lb, t) for lb, t, _ in outputs])]
        # Guards against a check that passes without looking.
        if nbytes == 0:
            failures.append("no synchub output was captured: the secret scan looked at nothing")
        if not searched:
            failures.append("no secret was registered from the configs written: the secret scan searched nothing")
        if len(heard_from) * 2 < self.instances:
            failures.append(f"output captured from only {len(heard_from)} of {self.instances} installations: "
                            "capture is broken")
        if os.environ.get("SYNCHUB_HYGIENE_DEBUG"):
            summary += "\n" + "\n".join(f"  {w}" for w in self.secrets.values())
        return summary, failures


HYGIENE = HygieneLedger()


def pytest_terminal_summary(terminalreporter):
    """Say what the secret scan looked at, so a scan of nothing is visible in every run's output."""
    if getattr(HYGIENE, "summary", None):
        terminalreporter.write_line(HYGIENE.summary)


def record_output(label, *texts):
    """For tests that run the binary without the Synchub driver: register what it printed."""
    HYGIENE.note_output(label, *texts)


@pytest.fixture(scope="session", autouse=True)
def _secret_hygiene(request):
    """At the end of the session, fail if any configured secret appears in anything synchub printed."""
    yield HYGIENE
    summary, failures = HYGIENE.check()
    HYGIENE.summary = summary
    assert not failures, summary + "\n" + "\n".join(failures[:50])


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL


def psql_bin():
    found = shutil.which("psql") or sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def need_pg():
    """The PostgreSQL URL, or skip (fail under CI=true: the PostgreSQL suite must not silently vanish there)."""
    if PG_URL:
        return PG_URL
    if os.environ.get("CI") == "true":
        pytest.fail("SYNCHUB_TEST_PG_URL is not set (CI=true): start scripts/pg-test-cluster and export its URL")
    pytest.skip("SYNCHUB_TEST_PG_URL is not set (scripts/pg-test-cluster start prints one)")


def pg_sql(sql, url=None):
    """Run sql with psql against the test database; returns stdout (tuples only, unaligned)."""
    psql = psql_bin()
    assert psql, "psql not found (Debian package postgresql-client)"
    cp = subprocess.run([psql, url or need_pg(), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"psql {sql!r}: {cp.stderr}"
    return cp.stdout


_PG_SCHEMAS = []


def pg_schema_url(tag):
    """A fresh, empty schema in the test database and a URL whose connections use it (search_path)."""
    base = need_pg()
    schema = re.sub(r"[^a-z0-9_]", "_", f"it_{tag}_{os.getpid()}_{os.urandom(4).hex()}".lower())[:60]
    pg_sql(f"CREATE SCHEMA {schema}")
    _PG_SCHEMAS.append(schema)
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_schemas():
    yield
    if PG_URL and _PG_SCHEMAS:
        for schema in _PG_SCHEMAS:
            subprocess.run([psql_bin(), PG_URL, "-X", "-q", "-c",
                            f"SET client_min_messages = warning; DROP SCHEMA IF EXISTS {schema} CASCADE"],
                           capture_output=True, timeout=60)


# --------------------------------------------------------------------------------------------------------------
# Config files


def default_sections(port, store_path, secret=SECRET):
    """The config every test starts from, as {section: {key: value}} (insertion-ordered)."""
    return {
        "server": {
            "listen": f"127.0.0.1:{port}",
            "workers": "2",
            "max_body": "5MiB",
            "ack_timeout": "3s",
            "shutdown_grace": "10s",
        },
        "store": {
            "backend": "sqlite",
            "path": str(store_path),
            "poll_interval": "200ms",
        },
        f"shop {SHOP}": {
            "webhook_secret": secret,
        },
        "log": {
            "level": "info",
        },
        "debug": {
            "test_handlers": "true",
        },
        "kind test.flaky": {
            "max_attempts": "10",
            "backoff_base": "100ms",
            "backoff_cap": "500ms",
        },
    }


def render_config(sections, extra=""):
    lines = []
    for name, keys in sections.items():
        if keys is None:
            continue
        lines.append(f"[{name}]")
        for k, v in keys.items():
            if v is not None:
                lines.append(f"{k} = {v}")
        lines.append("")
    text = "\n".join(lines)
    if extra:
        text += "\n" + extra.strip("\n") + "\n"
    return text


def write_config(path, sections, extra=""):
    """Write an INI config (see docs/SPEC-inbox.md) and return its path. Its secrets join the hygiene scan."""
    path = Path(path)
    text = render_config(sections, extra)
    path.write_text(text)
    HYGIENE.note_config(path, text)
    return path


# --------------------------------------------------------------------------------------------------------------
# The daemon + CLI driver


class CliError(AssertionError):
    pass


class Synchub:
    """One synchub installation: a folder with a config, a store, a server log; serve + CLI against it.

    Change `self.sections` (or `set(...)`) before `start()`; each start rewrites the config with a fresh port.
    """

    def __init__(self, workdir, name="synchub"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / f"{name}.ini"
        self.store = self.dir / f"{name}.db"
        self.log = self.dir / f"{name}-serve.log"
        self.port = free_port()
        self.sections = default_sections(self.port, self.store)
        if STORE_ENGINE == "postgres":
            self.use_postgres(pg_schema_url(name))
        self.extra = ""
        self.proc = None
        self.procs = []          # every serve process ever started, for the finalizer
        self.cli_outputs = []    # (argv, stdout, stderr) of every CLI run, for secret-leak checks
        HYGIENE.instances += 1
        HYGIENE.note_output_file(f"serve log {self.log}", self.log, owner=str(self.dir))
        self.write_config()

    # -- config ----------------------------------------------------------------------------------------------
    def set(self, section, **keys):
        sec = self.sections.setdefault(section, {})
        for k, v in keys.items():
            if v is None:
                sec.pop(k, None)
            else:
                sec[k] = str(v)
        return self

    def use_postgres(self, url):
        """Store this installation's jobs in PostgreSQL at url (several installations may share one)."""
        self.set("store", backend="postgres", url=url, path=None)
        return self

    def write_config(self):
        self.sections["server"]["listen"] = f"127.0.0.1:{self.port}"
        return write_config(self.config, self.sections, self.extra)

    # -- serve -----------------------------------------------------------------------------------------------
    def start(self, env=None, ready_timeout=20, new_port=True):
        """Start `synchub serve --config X` and wait for GET /healthz == 200."""
        if not BIN.exists():
            pytest.fail(f"synchub binary not found at {BIN} (build it with `make`, or set SYNCHUB_BIN)")
        assert self.proc is None or self.proc.poll() is not None, "serve already running"
        for attempt in range(3):
            if new_port or attempt:
                self.port = free_port()
            self.write_config()
            full_env = dict(os.environ)
            full_env.pop("SYNCHUB_CONFIG", None)
            full_env.update(env or {})
            HYGIENE.note_env(env)
            with open(self.log, "ab") as logf:
                logf.write(f"\n==== serve start (port {self.port}) ====\n".encode())
                logf.flush()
                self.proc = subprocess.Popen([str(BIN), "serve", "--config", str(self.config)], stdout=logf,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             cwd=str(self.dir), env=full_env)
            self.procs.append(self.proc)
            try:
                wait_until(lambda: self._healthy(), timeout=ready_timeout, interval=0.05,
                           msg=f"GET /healthz on port {self.port}")
                return self
            except AssertionError:
                if self.proc.poll() is not None and "in use" in self.log_text()[-2000:]:
                    continue  # lost a port race; try another port
                raise AssertionError(f"serve did not become healthy; log:\n{self.log_tail()}")
        raise AssertionError(f"serve could not bind a port; log:\n{self.log_tail()}")

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited with {self.proc.returncode} before /healthz; log:\n"
                                 f"{self.log_tail()}")
        status, doc, _ = http_request(self.port, "GET", "/healthz", timeout=5)
        return status == 200

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=45, expect_rc=0):
        """SIGTERM (by default) and wait; asserts the exit code (0 per the spec)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"serve did not exit within {timeout}s of {sig!r}; log:\n{self.log_tail()}")
        if expect_rc is not None:
            assert rc == expect_rc, f"serve exited with {rc} after {sig!r}, expected {expect_rc}; log:\n" \
                                    f"{self.log_tail()}"
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    # -- HTTP --------------------------------------------------------------------------------------------------
    def get(self, path, timeout=30):
        return http_request(self.port, "GET", path, timeout=timeout)

    def post_webhook(self, body, **kw):
        return post_webhook(self.port, body, **kw)

    # -- CLI ---------------------------------------------------------------------------------------------------
    def run(self, *args, config=None, env=None, timeout=60):
        """Run `synchub ARGS --config CONFIG`; returns CompletedProcess (text). env: overrides, None = unset."""
        if not BIN.exists():
            pytest.fail(f"synchub binary not found at {BIN} (build it with `make`, or set SYNCHUB_BIN)")
        argv = [str(BIN), *map(str, args), "--config", str(config or self.config)]
        full_env = dict(os.environ)
        full_env.pop("SYNCHUB_CONFIG", None)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=str(self.dir),
                            env=full_env, stdin=subprocess.DEVNULL)
        self.cli_outputs.append((argv, cp.stdout, cp.stderr))
        HYGIENE.note_env(env)
        HYGIENE.note_output(f"`synchub {' '.join(map(str, args))}` in {self.dir.name}", cp.stdout, cp.stderr,
                            owner=str(self.dir))
        return cp

    def cli(self, *args, expect_rc=0, **kw):
        cp = self.run(*args, **kw)
        if expect_rc is not None and cp.returncode != expect_rc:
            raise CliError(f"`synchub {' '.join(map(str, args))}` exited {cp.returncode}, expected {expect_rc}\n"
                           f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp

    def cli_json(self, *args, **kw):
        cp = self.cli(*args, **kw)
        try:
            return json.loads(cp.stdout)
        except ValueError as exc:
            raise CliError(f"`synchub {' '.join(map(str, args))}` did not print JSON: {cp.stdout!r}\n"
                           f"stderr: {cp.stderr}") from exc

    def jobs(self, state=None, kind=None):
        args = ["jobs", "list", "--json", "--limit", "100000"]
        if state:
            args += ["--state", state]
        if kind:
            args += ["--kind", kind]
        doc = self.cli_json(*args)
        assert isinstance(doc, list), f"jobs list --json is not an array: {doc!r}"
        return doc

    def show(self, job_id):
        doc = self.cli_json("jobs", "show", job_id, "--json")
        assert isinstance(doc, dict), f"jobs show --json is not an object: {doc!r}"
        return doc

    def status(self):
        return self.cli_json("status", "--json")

    def enqueue(self, kind, key, payload, order_key=None, event_time=None, priority=None, max_attempts=None,
                expect=None):
        """`synchub enqueue`; returns (word, id) where word is "enqueued" or "duplicate"."""
        pfile = self.dir / f"payload-{hashlib.sha1(f'{kind}|{key}'.encode()).hexdigest()[:12]}.json"
        pfile.write_text(json.dumps(payload))
        args = ["enqueue", "--kind", kind, "--key", key, "--payload", pfile]
        if order_key is not None:
            args += ["--order-key", order_key]
        if event_time is not None:
            args += ["--event-time", event_time]
        if priority is not None:
            args += ["--priority", priority]
        if max_attempts is not None:
            args += ["--max-attempts", max_attempts]
        cp = self.cli(*args)
        m = ENQUEUE_RE.search(cp.stdout)
        assert m, f"enqueue printed {cp.stdout!r}, expected `enqueued <id>` or `duplicate <id>`"
        if expect:
            assert m.group(1) == expect, f"enqueue printed {cp.stdout!r}, expected {expect}"
        return m.group(1), m.group(2)

    def wait_state(self, job_id, states, timeout=20):
        """Poll `jobs show` until the job is in one of `states`; returns the job object."""
        if isinstance(states, str):
            states = (states,)
        seen = {}

        def check():
            job = self.show(job_id)
            seen["job"] = job
            return job if job.get("state") in states else None

        try:
            return wait_until(check, timeout=timeout, interval=0.1, msg=f"job {job_id} in {states}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {json.dumps(seen.get('job'), indent=1)[:3000]}\n"
                                 f"serve log:\n{self.log_tail(30)}") from None


# --------------------------------------------------------------------------------------------------------------
# pytest fixtures


@pytest.fixture
def make_synchub(tmp_path, request):
    """Factory: make_synchub(name="a") -> Synchub in its own folder; all processes killed at teardown."""
    made = []

    def factory(name="synchub", **server):
        inst = Synchub(tmp_path / name, name=name)
        if server:
            inst.set("server", **server)
            inst.write_config()
        made.append(inst)
        return inst

    def finalize():
        for inst in made:
            if inst.proc is not None and inst.proc.poll() is None:
                # Tests stop their own servers when the exit code matters; anything left gets SIGTERM, then -9.
                inst.proc.send_signal(signal.SIGTERM)
                try:
                    inst.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            inst.cleanup()
            if inst.procs:
                print(f"--- serve log ({inst.log}) tail ---\n{inst.log_tail(40)}")

    request.addfinalizer(finalize)
    return factory


@pytest.fixture
def hub(make_synchub):
    """A configured (not yet started) installation with the default config."""
    return make_synchub()


@pytest.fixture
def odoo_emulator(request):
    """A fresh in-process Odoo 18 emulator (tests/sim/odoo_sim.py), seeded."""
    sys.path.insert(0, str(REPO / "tests" / "sim"))
    import odoo_sim
    sim = odoo_sim.OdooSim(port=0, version=18)
    sim.start()
    request.addfinalizer(sim.stop)
    return sim


@pytest.fixture
def shopify(request):
    """A fresh in-process Shopify emulator (tests/sim/shopify_sim.py) with its seed catalogue and orders."""
    sys.path.insert(0, str(REPO / "tests" / "sim"))
    import shopify_sim
    sim = shopify_sim.ShopifySim(port=0, orders=True)
    sim.start()
    request.addfinalizer(sim.stop)
    return sim
