"""Integration test harness: starts the real m2m-cse on a loopback port with a
private data directory and drives it with curl. Tests print TAP.

Usage in a test file:

    from harness import Cse, Tap
    t = Tap()
    with Cse() as cse:
        r = cse.get("/cse-in")
        t.eq(r.status, 200, "CSEBase is retrievable")
    t.done()

Each Cse also listens for CoAP on its own UDP port (cse.coap_port; pass
coap_port=0 to turn CoAP off); tests/integration/coap_peer.py drives it.

With IRONBARK_TEST_STORE=postgresql in the environment (meson test --setup
postgresql) every Cse keeps its tree in PostgreSQL: a private server per test
process (pg_server.py), one database per data directory.
"""
import calendar
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pg_server

BUILD = os.environ.get("IRONBARK_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
CSE_BIN = os.environ.get("M2M_CSE", os.path.join(BUILD, "m2m-cse"))
# Every m2m-cse this test starts (through Cse or by hand) inherits the
# test's name: under IRONBARK_FIBER_AUDIT it labels the loop's waits with it
# (scripts/fiber-audit.sh).
os.environ.setdefault("IRONBARK_TEST_NAME", os.path.splitext(os.path.basename(sys.argv[0]))[0])


def write_private(path, text):
    """Writes text to a file only its owner may read (mode 0600); returns path."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raw_exchange(port, data, timeout=5, host="127.0.0.1"):
    """Sends raw bytes on a fresh connection and returns everything read
    until the server closes it (or the timeout passes)."""
    s = socket.create_connection((host, port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    s.close()
    return out


def read_response(s, timeout=2.0):
    """One HTTP response (Content-Length framed); b'' when the peer closed."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return buf
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    while len(body) < n:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def store_flags(data_dir):
    """The flags that put a CSE started by hand (not through Cse) on the
    suite's store: the data directory's PostgreSQL database under
    IRONBARK_TEST_STORE=postgresql, nothing (its SQLite file) otherwise."""
    return ["--db", pg_server.server().database_for(data_dir)] if pg_server.enabled() else []


def admin_flags(data_dir):
    """The flags that point `m2m-cse credentials` and `console-login` at a
    CSE's credential store: its data directory (the root key) and, under
    IRONBARK_TEST_STORE=postgresql, its database, which holds the
    credentials then (docs/scale-out.md)."""
    return ["--data-dir", data_dir] + store_flags(data_dir)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # lower-case names
        self.text = body
        try:
            self.json = json.loads(body) if body.strip() else None
        except ValueError:
            self.json = None

    @property
    def rsc(self):
        v = self.headers.get("x-m2m-rsc")
        return int(v) if v and v.isdigit() else None

    def __repr__(self):
        return "<%s rsc=%s %s>" % (self.status, self.rsc, self.text[:300])


def curl(method, url, headers=None, body=None, timeout=10, extra=None):
    """Runs curl and returns a Response (status -1 when curl itself failed)."""
    cmd = ["curl", "-s", "-i", "--max-time", str(timeout), "-X", method, url]
    for k, v in (headers or {}).items():
        cmd += ["-H", "%s: %s" % (k, v)]
    if body is not None:
        cmd += ["--data-binary", "@-"]
    cmd += extra or []
    p = subprocess.run(cmd, input=body.encode() if isinstance(body, str) else body,
                       capture_output=True, timeout=timeout + 5)
    if p.returncode != 0 and not p.stdout:
        return Response(-1, {}, p.stderr.decode(errors="replace"))
    return parse_response(p.stdout.decode(errors="replace"))


def parse_response(raw):
    """Parses one raw HTTP/1.1 response (status line, headers, body)."""
    # Skip interim responses (100 Continue).
    while raw.startswith("HTTP/1.1 100"):
        raw = raw.split("\r\n\r\n", 1)[1]
    head, _, body_text = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else -1
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return Response(status, hdrs, body_text)


class SetupFailed(Exception):
    """A test's set-up request was refused (Cse.ae_with_container)."""


class Cse:
    """A running m2m-cse. Settings are passed as --key value flags;
    preexec_fn runs in the child before exec (resource limits)."""

    def __init__(self, data_dir=None, preexec_fn=None, **settings):
        self.preexec_fn = preexec_fn
        # Ports the caller did not choose are picked here, and picked again
        # if another process took one between the pick and the CSE's bind.
        self.given_ports = {k: settings.pop(k, None) for k in ("http_port", "coap_port", "coaps_port", "https_port")}
        self.pick_ports()
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ironbark-test-")
        # Keys never go on the command line: psk=... entries are written to an
        # owner-only psk-file (docs/security.md).
        psk = settings.pop("psk", None)
        self.psk = [psk] if isinstance(psk, str) else list(psk or [])
        self.settings = settings
        self.host = settings.get("http_host", "127.0.0.1")
        self.proc = None
        self.rqi = 0
        self.log_path = os.path.join(self.data_dir, "cse.log")
        self.start_timeout = 10      # seconds; longer when run under valgrind (tests/bench)

    def pick_ports(self):
        g = self.given_ports
        self.port = g["http_port"] or free_port()
        # Every CSE gets its own UDP port for CoAP (0 turns CoAP off), so that
        # parallel tests never collide on the default 5683.
        self.coap_port = free_port(socket.SOCK_DGRAM) if g["coap_port"] is None else g["coap_port"]
        self.coaps_port = free_port(socket.SOCK_DGRAM) if g["coaps_port"] is None else g["coaps_port"]
        # Every CSE also serves HTTPS (default 8443): give each its own port.
        self.https_port = free_port() if g["https_port"] is None else g["https_port"]  # 0 turns HTTPS off

    def args(self):
        a = [CSE_BIN, "--http-port", str(self.port), "--https-port", str(self.https_port),
             "--data-dir", self.data_dir, "--coap-port", str(self.coap_port),
             "--coaps-port", str(self.coaps_port)]
        if self.psk:
            a += ["--psk-file", write_private(os.path.join(self.data_dir, "psk-file"), "".join(
                line + "\n" for line in self.psk))]
        if "db" not in self.settings:
            a += store_flags(self.data_dir)
        for k, v in self.settings.items():
            # A list value repeats the flag (trusted-ca).
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                a += ["--" + k.replace("_", "-"), str(item)]
        return a

    def start(self):
        # free_port() closes what it bound: another process (an outgoing
        # connection's ephemeral port, a parallel test) may take the port
        # before the CSE binds it. Only ports picked here are picked again.
        for attempt in range(3):
            try:
                return self.start_once()
            except RuntimeError as e:
                picked = any(v is None for v in self.given_ports.values())
                if attempt == 2 or not picked or "Address already in use" not in str(e):
                    raise
                self.pick_ports()

    def start_once(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=self.log,
                                     preexec_fn=self.preexec_fn)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("m2m-cse exited with %s: %s" % (self.proc.returncode, self.read_log()))
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                if self.coap_port and not self.coap_ping():
                    raise OSError("CoAP endpoint not yet bound")
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("m2m-cse did not start listening: " + self.read_log())

    def log_barrier(self):
        """The CSE writes a round's info lines when its loop is about to sleep
        (cse/base/log.h). A new HTTP connection is accepted in a round whose
        wait began after it arrived, so once GET /__health__ is answered every
        line of the rounds that answered the caller's earlier requests is on
        file. (Not a CoAP ping: libcoap may read the plain endpoint while
        serving a CoAPS datagram in the same round.)"""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(b"GET /__health__ HTTP/1.1\r\nHost: barrier\r\nConnection: close\r\n\r\n")
                s.recv(256)
        except OSError:
            pass

    def coap_ping(self, timeout=0.2):
        """True when the CoAP endpoint answers a CoAP ping (empty CON) with RST."""
        host = self.settings.get("coap_host", "127.0.0.1")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            s.sendto(b"\x40\x00\x7a\x11", (host, self.coap_port))
            data = s.recv(64)
            return len(data) >= 4 and data[0] >> 4 == 0x7 and data[2:4] == b"\x7a\x11"
        except OSError:
            return False
        finally:
            s.close()

    def stored_bytes(self):
        """What the store keeps on disk, for tests that look for plaintext:
        the SQLite files (cse.db*), or the rows of the CSE's PostgreSQL
        database."""
        if pg_server.enabled() and "db" not in self.settings:
            return pg_server.server().dump(self.data_dir).encode()
        import glob
        return b"".join(open(p, "rb").read() for p in glob.glob(os.path.join(self.data_dir, "cse.db*")))

    def read_log(self):
        if self.proc and self.proc.poll() is None:
            self.log_barrier()
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops the CSE; returns its exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, *exc):
        rc = self.stop()
        log = self.read_log() if rc else ""
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        # A clean SIGTERM shutdown exits 0; anything else (a sanitizer report,
        # a leak, a crash) fails the test even when every assertion passed.
        if rc and exc_type is None:
            raise RuntimeError("m2m-cse exited with %s on SIGTERM; log tail:\n%s" % (rc, log[-3000:]))

    @property
    def base(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d" % (host, self.port)

    @property
    def https_base(self):
        return "https://localhost:%d" % self.https_port

    @property
    def tls_ca(self):
        """The CA the CSE generated on its first start."""
        return os.path.join(self.data_dir, "tls", "ca.pem")

    def https_curl_options(self):
        """curl options that trust the generated CA and reach localhost on loopback."""
        return ["--cacert", self.tls_ca, "--resolve", "localhost:%d:127.0.0.1" % self.https_port]

    def request(self, method, path, origin="CAdmin", ty=None, body=None, headers=None,
                rqi=None, rvi="3", content_type="application/json", timeout=10,
                base=None, curl_extra=None):
        """base overrides the URL prefix (e.g. https_base); curl_extra adds
        curl options (certificates)."""
        h = {}
        if origin is not None:
            h["X-M2M-Origin"] = origin
        if rqi is not False:
            self.rqi += 1
            h["X-M2M-RI"] = rqi or "rqi-%d" % self.rqi
        if rvi is not None:
            h["X-M2M-RVI"] = rvi
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if content_type is not None and (body is not None or ty is not None):
            h["Content-Type"] = content_type + (";ty=%d" % ty if ty else "")
        h.update(headers or {})
        return curl(method, (base or self.base) + path, h, body, timeout=timeout, extra=curl_extra)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def create(self, path, ty, body, **kw):
        return self.request("POST", path, ty=ty, body=body, **kw)

    def update(self, path, body, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_many(self, path, ty, bodies, origin="CAdmin"):
        """CREATEs each of bodies under path in turn on one keep-alive HTTP
        connection (set-ups of hundreds of resources: no curl process per
        request); returns their RSCs (None for an answer without one)."""
        import http.client
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        rscs = []
        try:
            for body in bodies:
                self.rqi += 1
                conn.request("POST", path, body=json.dumps(body), headers={
                    "X-M2M-Origin": origin, "X-M2M-RI": "rqi-%d" % self.rqi, "X-M2M-RVI": "3",
                    "Content-Type": "application/json;ty=%d" % ty})
                r = conn.getresponse()
                r.read()
                v = r.getheader("X-M2M-RSC")
                rscs.append(int(v) if v and v.isdigit() else None)
        finally:
            conn.close()
        return rscs

    def register_ae(self, rn, origin="C", api="Napp", **attrs):
        body = {"m2m:ae": dict({"rn": rn, "api": api, "rr": True, "srv": ["3"]}, **attrs)}
        return self.create("/cse-in", 2, body, origin=origin)

    def ae_with_container(self, origin, ae="app", cnt="box", **cnt_attrs):
        """The set-up most tests open with: AE `ae` registered as `origin`,
        container `cnt` (with cnt_attrs) created under it by that AE.
        Returns the container's path; raises SetupFailed when either step
        is refused, so no test runs on a set-up that did not happen."""
        for what, r in (("AE %s" % ae, self.register_ae(ae, origin=origin)),
                        ("container %s" % cnt, self.create("/cse-in/" + ae, 3,
                                                           {"m2m:cnt": dict({"rn": cnt}, **cnt_attrs)},
                                                           origin=origin))):
            if r.rsc != 2001:
                raise SetupFailed("%s not created: %r" % (what, r))
        return "/cse-in/%s/%s" % (ae, cnt)


class Maf(Cse):
    """A running m2m-maf (M2M_MAF, else build/m2m-maf) on free loopback ports:
    HTTPS and CoAPS, no plain CoAP."""

    def __init__(self, **settings):
        super().__init__(coap_port=0, **settings)

    def args(self):
        return [os.path.abspath(os.environ.get("M2M_MAF", os.path.join(BUILD, "m2m-maf")))] + super().args()[1:]


class Server(Cse):
    """A security server on the engine (m2m-das, m2m-ppm): binary instead of
    m2m-cse, free loopback ports, CoAP and HTTPS off; url is its CSEBase."""

    def __init__(self, binary, base_path, **settings):
        self.binary = binary
        self.base_path = base_path
        super().__init__(coap_port=0, coaps_port=0, https_port=0, **settings)

    def args(self):
        return [self.binary] + super().args()[1:]

    @property
    def url(self):
        return self.base + self.base_path


def raw_create(port, path, ty, body, rqi, origin):
    """One CREATE over a fresh socket; returns (rsc, json body) or None when
    the connection broke (the write was not acknowledged)."""
    data = json.dumps(body).encode()
    req = ("POST %s HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: %s\r\nX-M2M-RI: %s\r\nX-M2M-RVI: 3\r\n"
           "Content-Type: application/json;ty=%d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
           % (path, origin, rqi, ty, len(data))).encode() + data
    try:
        buf = raw_exchange(port, req)
    except OSError:
        return None
    head, _, rest = buf.partition(b"\r\n\r\n")
    rsc = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                if line.lower().startswith(b"x-m2m-rsc:")), None)
    if rsc is None:
        return None
    try:
        return rsc, json.loads(rest) if rest else None
    except ValueError:
        return None


def wait_for(cond, seconds=10.0, step=0.1):
    """Polls cond (bounded); returns its last value."""
    deadline = time.time() + seconds
    while True:
        v = cond()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def m2m_answer(handler, rsc, status, body=b""):
    """A oneM2M answer from a test's http.server handler: HTTP status, the
    RSC, the request's RI echoed, and body (bytes; JSON when not empty)."""
    handler.send_response(status)
    handler.send_header("X-M2M-RSC", str(rsc))
    if handler.headers.get("X-M2M-RI"):
        handler.send_header("X-M2M-RI", handler.headers["X-M2M-RI"])
    if body:
        handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def sleep_past(onem2m_time, margin=0.2):
    """Sleeps until a oneM2M time (UTC, "YYYYMMDDTHHMMSS", as the security
    servers grant expirationTime, in whole seconds) has passed by margin
    seconds: servers and tests on this machine read the same clock."""
    ends = calendar.timegm(time.strptime(onem2m_time[:15], "%Y%m%dT%H%M%S"))
    time.sleep(max(0.0, ends + margin - time.time()))


def within(cond, seconds, step=0.05):
    """The seconds cond() took to hold (bounded), or None when it did not."""
    start = time.time()
    while time.time() - start < seconds:
        if cond():
            return time.time() - start
        time.sleep(step)
    return None


class Background:
    """Runs fn() in a thread; result() waits for it (bounded)."""

    def __init__(self, fn):
        self.value = None
        self.th = threading.Thread(target=lambda: setattr(self, "value", fn()), daemon=True)
        self.th.start()

    def result(self, timeout=20):
        self.th.join(timeout)
        return self.value

    def running(self):
        return self.th.is_alive()


def metric(cse, name):
    """A counter or gauge of the CSE's /__metrics__ (as the admin), None when absent."""
    r = curl("GET", cse.base + "/__metrics__", {"X-M2M-Origin": "CAdmin"})
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def kill9_under_load(cse, writer, threads=4, enough=150, seconds=5):
    """Crash test: runs writer(n, stop, ack) in `threads` threads (each calls
    ack(ri) for every acknowledged write and returns when `stop` is set),
    kills the CSE with SIGKILL once `enough` writes were acknowledged or
    after `seconds`, restarts it and returns the acknowledged ris."""
    import threading
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def ack(ri):
        with lock:
            acked.append(ri)
    workers = [threading.Thread(target=writer, args=(n, stop, ack)) for n in range(threads)]
    for th in workers:
        th.start()
    deadline = time.time() + seconds
    while time.time() < deadline and len(acked) < enough:
        time.sleep(0.01)
    cse.kill9()
    stop.set()
    for th in workers:
        th.join(timeout=10)
    cse.start()
    with lock:
        return list(acked)


class Tap:
    """Minimal TAP producer; the plan comes last."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, detail=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            if detail is not None:
                for line in str(detail).splitlines()[:20]:
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def rsc(self, r, rsc, status, name):
        """Asserts both the oneM2M RSC and the HTTP status of a response."""
        return self.ok(r.rsc == rsc and r.status == status, name,
                       "got HTTP %s RSC %s (want %s/%s): %s" % (r.status, r.rsc, status, rsc, r.text[:400]))

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)
