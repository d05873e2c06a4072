"""HTTP plumbing shared by the emulators in tests/sim (odoo_sim.py, shopify_sim.py): the threaded keep-alive server,
body reading (Content-Length or chunked), response writing and Drop, connection tracking, start/stop/refuse, the
fault list and call log bookkeeping, and the standalone ready-line loop. Python 3 standard library only.
Not for anything a platform does: routes, protocols, what a fault does, envelopes and message texts stay in each
emulator. Imported as a sibling module (the scripts' folder, tests/sim, is on sys.path).
"""

import json
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CALL_LOG_LIMIT = 20000  # entries the call log keeps (the oldest go first)


class Drop:
    """Close the connection without a response (FIN, or RST when reset=True)."""

    def __init__(self, reset=False):
        self.reset = reset


def jsonable(value, limit=20000):
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)[:limit]
    if len(text) > limit:
        return text[:limit] + "...(truncated)"
    return json.loads(text)


def read_body(h):
    """The request body of handler h: Content-Length bytes, or the chunks of a chunked body joined."""
    if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
        chunks = []
        while True:
            line = h.rfile.readline(65537)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
        return b"".join(chunks)
    n = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(n) if n > 0 else b""


def serve_until_signalled(sim, ready):
    """Print the ready line (JSON object `ready`) on stdout, serve until SIGTERM or SIGINT, stop; -> exit status 0."""
    print(json.dumps(ready), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(0.5):
        pass
    sim.stop()
    return 0


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, sim, handler):
        self.sim = sim
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        if self.sim.verbose:
            super().handle_error(request, client_address)


class SimHandler(BaseHTTPRequestHandler):
    """Hands every request to server.sim._serve(handler, verb); emulators subclass it for their Server header."""
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; without TCP_NODELAY a keep-alive client (curl) then waits for the
    # delayed ACK, 40 ms per call, which would make every client that reuses connections look slow.
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.server.sim._conn_opened(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.sim._conn_closed(self.connection)

    def do_GET(self):
        self.server.sim._serve(self, "GET")

    def do_POST(self):
        self.server.sim._serve(self, "POST")

    def do_PUT(self):
        self.server.sim._serve(self, "PUT")

    def do_DELETE(self):
        self.server.sim._serve(self, "DELETE")

    def do_HEAD(self):
        self.server.sim._serve(self, "HEAD")

    def log_message(self, fmt, *args):
        if self.server.sim.verbose:
            sys.stderr.write("%s: %s - %s\n" % (self.server.sim.sim_name, self.address_string(), fmt % args))


class HttpSim:
    """Base of an emulator: server lifecycle, connection tracking, faults list, call log, request dispatch.

    A subclass sets sim_name ("odoo_sim": log prefix and, with "-", thread names) and handler_class (a SimHandler),
    and defines _route(h, verb, path, body) and _sim_api(verb, path, query, body), which return a response
    (status, content type, body, [(header, value)]) or a Drop, and _internal_error(), the response to a crash.
    """

    sim_name = "sim"
    handler_class = SimHandler

    def __init__(self, host, port, verbose):
        self.host = host
        self.requested_port = int(port)
        self.verbose = verbose
        self.faults = []
        self.faults_lock = threading.Lock()
        self.call_log = []
        self.call_seq = 0
        self.calls_lock = threading.Lock()
        self._server = None
        self._thread = None
        self._server_lock = threading.Lock()
        self._conns = set()
        self._conns_lock = threading.Lock()
        self._stopping = False
        self.port = None

    # ---------- lifecycle
    def start(self):
        self._stopping = False
        self._start_server(self.requested_port if self.port is None else self.port)
        return self

    def _start_server(self, port):
        with self._server_lock:
            self._server = SimServer((self.host, port), self, self.handler_class)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="%s-%d" % (self.sim_name.replace("_", "-"), self.port),
                                            daemon=True)
            self._thread.start()

    def _stop_server(self):
        with self._server_lock:
            srv, thread = self._server, self._thread
            self._server = self._thread = None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(5)

    def stop(self):
        self._stopping = True
        self._stop_server()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "http://%s:%s" % (self.host, self.port)

    def _conn_opened(self, conn):
        with self._conns_lock:
            self._conns.add(conn)

    def _conn_closed(self, conn):
        with self._conns_lock:
            self._conns.discard(conn)

    # ---------- faults (what a fault does is the emulator's)
    def _instant_fault(self, mode, duration_ms, modes, error):
        """set_fault's start: mode must be one of modes (else error(message) is raised); "none" clears the faults,
        "refuse" stops listening for duration_ms (default 1000). -> the faults now set after those two, else None."""
        if mode not in modes:
            raise error("mode must be one of %s" % ", ".join(modes))
        if mode == "none":
            self.clear_faults()
            return []
        if mode == "refuse":
            self.refuse(duration_ms if duration_ms is not None else 1000)
            return self.list_faults()
        return None

    def _check_fault(self, count, match, phase, error, match_example):
        """Check set_fault's count, match and phase, raising error(message); -> count as an int or None."""
        if count is not None:
            count = int(count)
            if count <= 0:
                raise error("count must be a positive integer or null")
        if match is not None and not isinstance(match, dict):
            raise error("match must be an object like %s" % match_example)
        if phase not in ("before", "after"):
            raise error("phase must be before or after")
        return count

    def _add_fault(self, fault, add):
        """Install fault (after the others when add, else instead of them); -> the faults now set."""
        with self.faults_lock:
            if not add:
                self.faults = []
            self.faults.append(fault)
        return self.list_faults()

    def clear_faults(self):
        with self.faults_lock:
            self.faults = []

    def list_faults(self):
        with self.faults_lock:
            return [dict(f) for f in self.faults]

    def _fault_matches(self, f, info):
        return all(info.get(k) == v for k, v in f["match"].items())

    def _take_fault(self, info):
        with self.faults_lock:
            for f in self.faults:
                if self._fault_matches(f, info):
                    if f["count"] is not None:
                        f["count"] -= 1
                        if f["count"] <= 0:
                            self.faults.remove(f)
                    return dict(f)
        return None

    def refuse(self, duration_ms):
        """Stop listening for duration_ms (connection refused), then listen again on the same port. Open
        connections are closed too. The /__sim__ API is unreachable meanwhile."""
        port = self.port

        def worker():
            time.sleep(0.05)  # let the /__sim__/fault response go out first
            self._stop_server()
            time.sleep(max(int(duration_ms), 0) / 1000.0)
            if not self._stopping:
                for _ in range(50):
                    try:
                        self._start_server(port)
                        return
                    except OSError:
                        time.sleep(0.05)

        threading.Thread(target=worker, daemon=True).start()

    # ---------- call log
    def _log_call(self, info):
        with self.calls_lock:
            self.call_seq += 1
            info["seq"] = self.call_seq
            self.call_log.append(info)
            if len(self.call_log) > CALL_LOG_LIMIT:
                del self.call_log[:len(self.call_log) - CALL_LOG_LIMIT]

    def calls(self, since=0, **match):
        with self.calls_lock:
            return [dict(c) for c in self.call_log if c["seq"] > since and
                    all(c.get(k) == v for k, v in match.items())]

    def reset_calls(self):
        with self.calls_lock:
            self.call_log = []

    # ---------- HTTP
    def _serve(self, h, verb):
        try:
            body = read_body(h)
        except (ValueError, OSError):
            h.close_connection = True
            return
        url = urlsplit(h.path)
        path = url.path
        try:
            if path.startswith("/__sim__/"):
                resp = self._sim_api(verb, path, parse_qs(url.query), body)
            else:
                resp = self._route(h, verb, path, body)
        except Exception:
            sys.stderr.write("%s: internal error on %s %s:\n%s" % (self.sim_name, verb, path, traceback.format_exc()))
            resp = self._internal_error()
        self._respond(h, verb, resp)

    def _respond(self, h, verb, resp):
        if isinstance(resp, Drop):
            h.close_connection = True
            if resp.reset:
                try:
                    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    h.connection.close()  # the real close (RST) happens when the handler releases its files
                except OSError:
                    pass
            return
        status, ctype, body, headers = resp
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                h.send_header(k, v)
            h.end_headers()
            if verb != "HEAD":
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True
