"""A key source (MEF or MAF) that accepts and never answers: the CSE that
must fetch a key from it keeps serving everyone else (test_mef, test_maf)."""
import os
import socket
import threading
import time

from harness import Cse, write_private


def check(t, tool, work, what, fqdn, digit):
    """Starts a CSE whose <what>-url is a silent TCP listener, presents the
    identity <digit*32>@fqdn over HTTPS and checks the CSE stays responsive
    and ends the fetch by its timeout."""
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen(8)
    held = []

    def accept_and_hold():
        hold.settimeout(10)
        try:
            c, _ = hold.accept()
            held.append(c)      # never answered: the TLS handshake stalls
        except OSError:
            pass

    thr = threading.Thread(target=accept_and_hold, daemon=True)
    thr.start()
    key = what.lower()
    settings = {key + "_fqdn": fqdn, key + "_url": "https://127.0.0.1:%d" % hold.getsockname()[1]}
    with Cse(coap_port=0, **settings) as slow:
        stranger = write_private(os.path.join(work, "silent-%s.key" % key), "cc" * 32 + "\n")
        r = tool("--url", "https://127.0.0.1:%d" % slow.https_port, "--psk-id", digit * 32 + "@" + fqdn,
                 "--psk-key-file", stranger, "--from", "Cx", "--handshake-timeout", "1500", "retrieve", "cse-in")
        t.eq(r.returncode, 2, "an identity the CSE must fetch from the %s: the first handshake fails" % what)
        thr.join(5)
        t.ok(held, "the CSE is fetching from the (silent) %s" % what)
        answered = [slow.get("/cse-in").rsc for _ in range(5)]
        t.eq(answered, [2000] * 5, "meanwhile the CSE serves other requests")
        deadline = time.time() + 10
        while time.time() < deadline and "no key for" not in slow.read_log() and "unreachable" not in slow.read_log():
            time.sleep(0.1)
        log = slow.read_log()
        t.ok(digit * 10 in log and ("unreachable" in log or "no key for" in log), "the fetch ends by its timeout, logged")
    for c in held:
        c.close()
    hold.close()
