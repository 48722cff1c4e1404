"""A key source (MEF or MAF) that accepts and never answers: the CSE that
must fetch a key from it keeps serving everyone else (test_mef, test_maf)."""
import os
import socket
import threading
import time

from harness import Cse, write_private


class SilentSource:
    """A CSE whose <what>-url is a silent TCP listener. start() presents the
    identity <digit*32>@fqdn over HTTPS and checks the CSE stays responsive
    while it fetches; finish() checks the fetch ends by its timeout (5 s,
    FETCH_TIMEOUT_MS) and stops the CSE. A test may do its other work in
    between instead of waiting; close() stops everything when it failed."""

    def __init__(self, t, tool, work, what, fqdn, digit):
        self.t, self.tool, self.work, self.what, self.fqdn, self.digit = t, tool, work, what, fqdn, digit
        self.hold = socket.socket()
        self.hold.bind(("127.0.0.1", 0))
        self.hold.listen(8)
        self.held = []
        self.slow = None

    def accept_and_hold(self):
        self.hold.settimeout(10)
        try:
            c, _ = self.hold.accept()
            self.held.append(c)      # never answered: the TLS handshake stalls
        except OSError:
            pass

    def start(self):
        t, what, fqdn, digit = self.t, self.what, self.fqdn, self.digit
        thr = threading.Thread(target=self.accept_and_hold, daemon=True)
        thr.start()
        key = what.lower()
        settings = {key + "_fqdn": fqdn, key + "_url": "https://127.0.0.1:%d" % self.hold.getsockname()[1]}
        self.slow = Cse(coap_port=0, **settings).start()
        stranger = write_private(os.path.join(self.work, "silent-%s.key" % key), "cc" * 32 + "\n")
        r = self.tool("--url", "https://127.0.0.1:%d" % self.slow.https_port, "--psk-id", digit * 32 + "@" + fqdn,
                      "--psk-key-file", stranger, "--from", "Cx", "--handshake-timeout", "1500", "retrieve", "cse-in")
        t.eq(r.returncode, 2, "an identity the CSE must fetch from the %s: the first handshake fails" % what)
        thr.join(5)
        t.ok(self.held, "the CSE is fetching from the (silent) %s" % what)
        answered = [self.slow.get("/cse-in").rsc for _ in range(5)]
        t.eq(answered, [2000] * 5, "meanwhile the CSE serves other requests")
        return self

    def finish(self):
        slow = self.slow
        deadline = time.time() + 10
        while time.time() < deadline and "no key for" not in slow.read_log() and "unreachable" not in slow.read_log():
            time.sleep(0.1)
        log = slow.read_log()
        self.t.ok(self.digit * 10 in log and ("unreachable" in log or "no key for" in log),
                  "the fetch ends by its timeout, logged")
        self.slow = None
        slow.__exit__(None, None, None)   # as `with Cse()`: a bad exit (sanitizer report) raises
        self.close()

    def close(self):
        if self.slow:
            self.slow.__exit__(RuntimeError, None, None)   # stopped, its exit code not raised over the failure
            self.slow = None
        for c in self.held:
            c.close()
        self.hold.close()
