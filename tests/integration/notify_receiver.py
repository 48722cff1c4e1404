"""A small oneM2M notification receiver for the integration tests: an HTTP
server on a loopback port, in a thread, that records every request and
answers with a configurable RSC. It can be switched off (port closed) and on
again on the same port to simulate an outage.

    rx = Receiver().start()
    ... rx.url ...               # "http://127.0.0.1:<port>/notify"
    rx.wait(lambda reqs: len(reqs) >= 2, timeout=5)
    rx.stop()
"""
import json
import socket
import threading
import time
import http.server

from harness import m2m_answer


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rx = self.server.receiver
        with rx.lock:
            rx.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                "body": body, "raw": raw, "time": time.time()})
            rsc = rx.reply_rsc
            delay = rx.delay
            gate = rx.gate
        if delay:
            time.sleep(delay)
        if gate:
            gate.wait(60)          # bounded: a test that never opens it still ends
        status = 200 if rsc < 3000 else 403 if rsc in (4101, 4103, 5205) else 400 if rsc < 5000 else 500
        m2m_answer(self, rsc, status)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Recorder:
    """What both receivers share: the recorded requests and bounded waits."""

    def set_reply(self, rsc):
        with self.lock:
            self.reply_rsc = rsc

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def clear(self):
        with self.lock:
            self.requests.clear()

    def bodies(self):
        return [r["body"] for r in self.snapshot()]

    def wait(self, cond, timeout=5.0):
        """Waits (bounded) until cond(requests) holds; returns the requests."""
        deadline = time.time() + timeout
        while True:
            reqs = self.snapshot()
            if cond(reqs) or time.time() > deadline:
                return reqs
            time.sleep(0.02)

    def wait_count(self, n, timeout=5.0):
        return self.wait(lambda r: len(r) >= n, timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Receiver(_Recorder):
    def __init__(self, port=None, path="/notify", reply_rsc=2000):
        self.port = port or _free_port()
        self.path = path
        self.reply_rsc = reply_rsc
        self.delay = 0.0               # seconds to wait before answering
        self.gate = None               # a threading.Event: answers wait until it is set
        self.requests = []
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d%s" % (self.port, self.path)

    def start(self):
        deadline = time.time() + 5
        while True:
            try:
                self.server = _Server(("127.0.0.1", self.port), _Handler)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Closes the listening port (an outage); start() opens it again."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None



def _free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sgn(body):
    """The m2m:sgn of a notification body (or None)."""
    return (body or {}).get("m2m:sgn")


def events(reqs):
    """(net, rep) pairs of the event notifications among recorded requests."""
    out = []
    for r in reqs:
        s = sgn(r["body"])
        if s and "nev" in s:
            out.append((s["nev"].get("net"), s["nev"].get("rep")))
    return out


class CoapReceiver(_Recorder):
    """The same for coap:// targets: a UDP thread that answers each
    confirmable request with a piggy-backed ACK (reply_code, 2.04 unless
    told) carrying the oneM2M RSC option (reply_rsc), or, with reply_rsc
    None, answers nothing; drop_next(n) leaves the next n requests
    unanswered, as if lost. Records path, oneM2M options, JSON body, Message
    ID and token."""

    def __init__(self, port=None, path="/notify", reply_rsc=2000, reply_code=(2, 4)):
        import coap_peer
        self.cp = coap_peer
        self.port = port or _free_port(socket.SOCK_DGRAM)
        self.path = path
        self.reply_rsc = reply_rsc
        self.reply_code = reply_code
        self.requests = []
        self.lock = threading.Lock()
        self.sock = None
        self.thread = None
        self.running = False
        self.dropping = 0

    @property
    def url(self):
        return "coap://127.0.0.1:%d%s" % (self.port, self.path)

    def drop_next(self, n):
        with self.lock:
            self.dropping = n

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.05)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self):
        cp = self.cp
        while self.running:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                m = cp.decode(data)
            except ValueError:
                continue
            if m.type != cp.CON:
                continue
            opts = {name: m.opt(num) for name, num in cp.OPT.items() if m.opt(num) is not None}
            try:
                body = json.loads(m.payload) if m.payload else None
            except ValueError:
                body = None
            with self.lock:
                self.requests.append({"path": "/" + "/".join(v.decode() for v in m.opts(cp.URI_PATH)),
                                      "options": opts, "code": m.code, "body": body, "time": time.time(),
                                      "mid": m.mid, "token": m.token})
                rsc = self.reply_rsc
                lost = self.dropping > 0
                self.dropping -= lost
            if rsc is None or lost:
                continue
            reply = cp.encode(cp.ACK, cp.code(*self.reply_code), m.mid, m.token, [(cp.OPT["rsc"], cp.uint_bytes(rsc))])
            self.sock.sendto(reply, peer)

    def stop(self):
        self.running = False
        if self.thread:
            self.thread.join(2)
        if self.sock:
            self.sock.close()
            self.sock = None


