"""https:// notification targets (issue 8, "One way out"): the CSE verifies
the receiver's certificate against a CA it was told to trust (trusted-ca),
and its name against the target's host (localhost, an address, or a name
looked up from the test's DNS server; a name the certificate does not carry
fails). The receiver is Python's ssl over
the test receiver; the CA and certificate are made here with openssl.
Without the CA, the handshake fails: 5204, logged at info with the reason."""
import os
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, sgn
from dns_peer import DnsPeer

t = Tap()
tmp = tempfile.mkdtemp(prefix="outbound-https-")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=30)


def path(name):
    return os.path.join(tmp, name)


openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=Outbound Test CA")
openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", path("rx.key"), "-out", path("rx.csr"), "-subj", "/CN=localhost")
with open(path("ext"), "w") as f:
    f.write("subjectAltName=DNS:localhost,DNS:rx.ironbark.test,IP:127.0.0.1\n")
openssl("x509", "-req", "-in", path("rx.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
        "-CAcreateserial", "-out", path("rx.pem"), "-days", "2", "-extfile", path("ext"))


class TlsReceiver(Receiver):
    def start(self):
        super().start()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(path("rx.pem"), path("rx.key"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        return self

    def https(self, host):
        return "https://%s:%d%s" % (host, self.port, self.path)


rx = TlsReceiver().start()
dns = DnsPeer({"rx.ironbark.test": "127.0.0.1", "other.ironbark.test": "127.0.0.1"}).start()


def vrq_arrived():
    return any((sgn(r["body"]) or {}).get("vrq") for r in rx.wait(lambda q: q, timeout=3))


try:
    with Cse(trusted_ca=path("ca.pem"), dns_servers=dns.server, coap_port=0, coaps_port=0) as cse:
        cse.register_ae("mon", origin="Cmon")
        cse.create("/cse-in/mon", 3, {"m2m:cnt": {"rn": "box"}}, origin="Cmon")
        for n, host in enumerate(("localhost", "rx.ironbark.test", "127.0.0.1")):
            rx.clear()
            r = cse.create("/cse-in/mon/box", 23,
                           {"m2m:sub": {"rn": "s%d" % n, "nu": [rx.https(host)], "enc": {"net": [3]}}},
                           origin="Cmon")
            t.rsc(r, 2001, 201, "https://%s subscription: verified" % host)
            t.ok(vrq_arrived(), "the verification request to %s arrived over TLS" % host)
        rx.clear()
        cse.create("/cse-in/mon/box", 4, {"m2m:cin": {"con": "over-tls"}}, origin="Cmon")
        def cins(q):
            reps = [(sgn(r["body"]) or {}).get("nev", {}).get("rep") or {} for r in q]
            return [rep["m2m:cin"]["con"] for rep in reps if "m2m:cin" in rep]
        cons = cins(rx.wait(lambda q: len(cins(q)) >= 3))
        t.eq(cons, ["over-tls"] * 3, "the notification reached all three https:// targets")
        t.eq(cse.get("/cse-in").rsc, 2000, "the CSE serves meanwhile")
        r = cse.create("/cse-in/mon/box", 23, {"m2m:sub": {"rn": "wrong", "nu": [rx.https("other.ironbark.test")]}},
                       origin="Cmon")
        t.rsc(r, 5204, 500, "a certificate not naming the target's host: 5204")

    with Cse(coap_port=0, coaps_port=0) as cse:
        cse.register_ae("mon", origin="Cmon")
        r = cse.create("/cse-in/mon", 23, {"m2m:sub": {"rn": "s", "nu": [rx.https("localhost")]}}, origin="Cmon")
        t.rsc(r, 5204, 500, "a receiver whose CA is not trusted: verification fails 5204")
        log = cse.read_log().splitlines()
        t.ok(any(" info " in l and "unreachable" in l and "TLS" in l and str(rx.port) in l for l in log),
             "the failed handshake is logged at info with the reason",
             [l for l in log if str(rx.port) in l])
finally:
    dns.stop()
    rx.stop()
t.done()
