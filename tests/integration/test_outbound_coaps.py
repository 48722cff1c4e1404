"""coaps:// notification targets (issue 8, "One way out"): the CSE reaches a
DTLS CoAP server with the pre-shared key that outbound-psk names in its
credential store. The receiver is libcoap's own coap-server-openssl (PSK,
dynamic resources so a POST is answered 2.0x), whose verbose log shows what
arrived. Without an outbound-psk entry, or with a key the server does not
share, the target is unreachable: 5204, logged at info with the reason."""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
import coap_peer as cp

KEY = "coaps-test-key-1"           # the server takes the key as text
IDENTITY = "notif-peer"

t = Tap()


def udp_pair():
    """A port p with p+1 free too (coap-server serves DTLS on -p + 1)."""
    for _ in range(50):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            a.bind(("127.0.0.1", 0))
            b.bind(("127.0.0.1", a.getsockname()[1] + 1))
            return a.getsockname()[1]
        except OSError:
            continue
        finally:
            a.close()
            b.close()
    raise RuntimeError("no free UDP port pair")


class CoapsServer:
    def __init__(self, key):
        self.port = udp_pair()
        self.dtls_port = self.port + 1
        self.log = tempfile.NamedTemporaryFile(prefix="coaps-peer-", suffix=".log", delete=False)
        env = dict(os.environ, LD_PRELOAD=cp.PRELOAD)  # it accepts the oneM2M options
        self.proc = subprocess.Popen(["coap-server-openssl", "-A", "127.0.0.1", "-p", str(self.port),
                                      "-d", "20", "-k", key, "-v", "7"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        time.sleep(0.3)

    def url(self, path="notify"):
        return "coaps://127.0.0.1:%d/%s" % (self.dtls_port, path)

    def received(self):
        """The payloads of the POSTs it received (its -v 7 log)."""
        with open(self.log.name, errors="replace") as f:
            return [l.split(" :: ", 1)[1] for l in f if "c:POST" in l and " :: " in l]

    def wait_for(self, text, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(text in p for p in self.received()):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=5)
        os.unlink(self.log.name)


good = CoapsServer(KEY)
other = CoapsServer("a-key-the-cse-does-not-have")
try:
    with Cse(psk="%s:%s:Cnobody" % (IDENTITY, KEY.encode().hex()),
             outbound_psk=["127.0.0.1:%d=%s" % (good.dtls_port, IDENTITY),
                           "127.0.0.1:%d=%s" % (other.dtls_port, IDENTITY)]) as cse:
        cse.ae_with_container("Cmon", ae="mon")

        r = cse.create("/cse-in/mon/box", 23, {"m2m:sub": {"rn": "s", "nu": [good.url()], "enc": {"net": [3]}}},
                       origin="Cmon")
        t.rsc(r, 2001, 201, "coaps:// subscription with an outbound PSK: verified")
        t.ok(good.wait_for('"vrq":true'), "the verification request arrived over DTLS", good.received())

        cse.create("/cse-in/mon/box", 4, {"m2m:cin": {"con": "over-dtls"}}, origin="Cmon")
        t.ok(good.wait_for("over-dtls"), "the notification arrived over DTLS", good.received())
        t.eq(cse.get("/cse-in").rsc, 2000, "the CSE serves meanwhile")

        r = cse.create("/cse-in/mon/box", 23, {"m2m:sub": {"rn": "bad", "nu": [other.url()]}}, origin="Cmon")
        t.rsc(r, 5204, 500, "a server with another key: verification fails 5204")
        t.ok(not other.received(), "and it received no request")

        port = udp_pair() + 1
        r = cse.create("/cse-in/mon/box", 23,
                       {"m2m:sub": {"rn": "nokey", "nu": ["coaps://127.0.0.1:%d/n" % port]}}, origin="Cmon")
        t.rsc(r, 5204, 500, "a coaps:// target without outbound-psk: 5204")
        log = cse.read_log().splitlines()
        t.ok(any(" info " in l and "127.0.0.1:%d" % other.dtls_port in l and "unreachable" in l for l in log),
             "the failed handshake is logged at info with the reason",
             [l for l in log if str(other.dtls_port) in l])
        t.ok(any(" info " in l and "127.0.0.1:%d" % port in l and "outbound-psk" in l for l in log),
             "the missing outbound-psk is logged at info", [l for l in log if str(port) in l])
        t.ok(not any(KEY in l or KEY.encode().hex() in l for l in log), "the key never appears in the log")
finally:
    good.stop()
    other.stop()
t.done()
