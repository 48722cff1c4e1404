"""A fake Dynamic Authorization System for the hosting CSE's tests: an HTTP
server on a loopback port, in a thread, that answers what a hosting CSE
asks a DAS (docs/dynamic-authorization.md, the contract with m2m-das):

  - NOTIFY (POST) of m2m:seci sit 1 at its base URL: a consultation (dreq with
    op/trid) or a token fetch (dreq with tids only). `policy(dreq)` returns
    the answer: (rsc, body) with body a dict (sent as JSON), bytes (sent
    as they are) or None (no content);
  - RETRIEVE (GET) of <base>/<role resource name>: the <role> in `roles`.

It can play slow (`delay` seconds before answering), answer garbage or
4xxx, or be stopped (the port closed). Every request is recorded.

    das = FakeDas().start()
    das.policy = lambda dreq: (2000, grant(dreq["or"], 2, "20991231T000000"))
    ... das.url ...              # "http://127.0.0.1:<port>/~/id-das/das-in"
    das.stop()
"""
import json
import threading
import time
import http.server

from harness import m2m_answer

BASE_PATH = "/~/id-das/das-in"


def grant(originator, acop, pl, tkns=None):
    """A TS-0004 answer granting acop to originator until pl."""
    dres = {"dai": {"gp": {"acr": [{"acor": [originator], "acop": acop}]}, "pl": pl}}
    if tkns:
        dres["tkns"] = tkns
    return {"m2m:seci": {"sit": 2, "dres": dres}}


def role_name(holder, role_id):
    """security/role_name.c: "rol-" + FNV-1a 64 of holder "\\n" role_id, hex."""
    h = 0xcbf29ce484222325
    for b in (holder + "\n" + role_id).encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "rol-%016x" % h


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, rsc, body):
        das = self.server.das
        if das.delay:
            time.sleep(das.delay)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
        status = 200 if rsc < 3000 else 403 if rsc in (4101, 4103) else 404 if rsc == 4004 else 400 if rsc < 5000 else 500
        try:
            m2m_answer(self, rsc, status, raw)
        except OSError:
            pass  # the CSE gave up waiting: that is what a slow DAS test wants

    def _record(self, method, body):
        das = self.server.das
        with das.lock:
            das.requests.append({"method": method, "path": self.path, "body": body,
                                 "headers": {k.lower(): v for k, v in self.headers.items()}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record("NOTIFY", body)
        das = self.server.das
        dreq = ((body or {}).get("m2m:seci") or {}).get("dreq") or {}
        if self.path.split("?")[0] != BASE_PATH:
            return self._answer(4004, None)
        if "tids" in dreq and "op" not in dreq:
            tkns = [das.tokens[t] for t in dreq["tids"] if t in das.tokens]
            return self._answer(2000, {"m2m:seci": {"sit": 2, "dres": {"tkns": tkns}}})
        rsc, answer = das.policy(dreq)
        self._answer(rsc, answer)

    def do_GET(self):
        self._record("RETRIEVE", None)
        das = self.server.das
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        role = das.roles.get(name)
        if role is None:
            return self._answer(4004, {"m2m:dbg": "no such role"})
        self._answer(2000, {"m2m:rol": role})

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeDas:
    def __init__(self, port=0):
        self.port = port
        self.lock = threading.Lock()
        self.requests = []
        self.policy = lambda dreq: (2000, None)  # nothing granted
        self.roles = {}                          # role resource name -> m2m:rol
        self.tokens = {}                         # token ID -> JWT
        self.delay = 0
        self.server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d%s" % (self.port, BASE_PATH)

    def start(self):
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.das = self
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def consultations(self):
        with self.lock:
            return [r for r in self.requests if r["method"] == "NOTIFY"
                    and "op" in (((r["body"] or {}).get("m2m:seci") or {}).get("dreq") or {})]

    def of(self, method):
        with self.lock:
            return [r for r in self.requests if r["method"] == method]
