"""CoAPS (DTLS 1.2) with real coap-client-openssl peers: PSK
(TLS_PSK_WITH_AES_128_CCM_8) and certificates (ECDHE-ECDSA-AES128-CCM8), an
AE that registers over a PSK and works with its resources, the SAEF gate
(4106 for a foreign originator, 4107 under `required`), and refused
handshakes (wrong key, unknown identity, expired/untrusted/no certificate)
while the CSE keeps serving."""
import os, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import coap_client
import secure

SECRET = "coaps-secret-01"          # coap-client -k takes the key as text
PSK = "dev-key@test.example:%s:Cmeter*" % SECRET.encode().hex()

t = Tap()
certs = tempfile.mkdtemp(prefix="ironbark-coaps-")
ca = secure.make_ca(certs, "devca")
dev = secure.make_client_cert(certs, "dev1", "Cdev1", ca)
old = secure.make_expired_cert(certs, "old", "Cold", ca)
rogue_ca = secure.make_ca(certs, "rogueca")
rogue = secure.make_client_cert(certs, "rogue", "Cdev1", rogue_ca)
nul_san = secure.make_client_cert(certs, "nul", secure.raw_uri_san(b"Cdev1\x00.evil.example"), ca)
bad_first = secure.make_client_cert(certs, "badfirst", secure.raw_uri_san(b"Cdev1\x01", b"Cdev1"), ca)
n = [0]


def hdr(fr, **kw):
    n[0] += 1
    return dict(fr=fr, rqi="s-%d" % n[0], rvi="3", **kw)


with Cse(psk=PSK, trusted_ca=ca[0], log_level="debug") as cse:
    def psk(method, path, fr, key=SECRET, identity="dev-key@test.example", **kw):
        body = kw.pop("body", None)
        return coap_client(cse.coaps_port, path, method, hdr(fr, **kw), body, cf=50 if body else None,
                           scheme="coaps", extra=["-k", key, "-u", identity], timeout=3)

    def cert(method, path, fr, pair, **kw):
        body = kw.pop("body", None)
        return coap_client(cse.coaps_port, path, method, hdr(fr, **kw), body, cf=50 if body else None,
                           scheme="coaps", extra=["-c", pair[0], "-j", pair[1], "-C", cse.tls_ca], timeout=3)

    ae = '{"m2m:ae":{"rn":"meter1","api":"Nmeter","rr":false,"srv":["3"]}}'
    r = psk("post", "cse-in", "Cmeter1", ty=2, body=ae)
    t.ok(r.code == "2.01" and r.rsc == 2001, "AE registers over CoAPS with a PSK", r)
    r = psk("post", "cse-in/meter1", "Cmeter1", ty=3, body='{"m2m:cnt":{"rn":"data"}}')
    t.ok(r.code == "2.01" and r.rsc == 2001, "container over CoAPS/PSK", r)
    r = psk("post", "cse-in/meter1/data", "Cmeter1", ty=4, body='{"m2m:cin":{"con":"21.5"}}')
    t.ok(r.code == "2.01" and r.rsc == 2001, "contentInstance over CoAPS/PSK", r)
    r = psk("get", "cse-in/meter1/data/la", "Cmeter1")
    t.ok(r.rsc == 2000 and (r.json or {}).get("m2m:cin", {}).get("con") == "21.5", "latest instance read back", r)
    t.ok("dtls: request over PSK-AES128-CCM8" in cse.read_log(), "the PSK suite is TLS_PSK_WITH_AES_128_CCM_8")
    r = psk("get", "cse-in/meter1", "Cother")
    t.ok(r.code == "4.03" and r.rsc == 4106, "the same key claiming another AE's originator: 4106", r)
    r = psk("post", "cse-in", "Cintruder", ty=2, body='{"m2m:ae":{"rn":"x","api":"Nx","rr":false,"srv":["3"]}}')
    t.ok(r.rsc == 4106, "registration with an originator outside the key's patterns: 4106", r)

    start = time.time()
    r = psk("get", "cse-in", "Cmeter1", key="not-the-key")
    t.ok(r.code is None and "2." not in (r.code or ""), "wrong PSK: no DTLS session, no answer", r)
    r = psk("get", "cse-in", "Cmeter1", identity="nobody@test.example")
    t.ok(r.code is None, "unknown PSK identity: refused", r)

    r = cert("post", "cse-in", "Cdev1", dev, ty=2, body='{"m2m:ae":{"rn":"dev1","api":"Ndev","rr":false,"srv":["3"]}}')
    t.ok(r.code == "2.01" and r.rsc == 2001, "AE registers over CoAPS with a certificate naming its AE-ID", r)
    t.ok("dtls: request over ECDHE-ECDSA-AES128-CCM8" in cse.read_log(),
         "the certificate suite is TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8")
    r = cert("get", "cse-in/dev1", "Cmeter1", dev)
    t.ok(r.rsc == 4106, "the certificate's AE-ID does not vouch for another originator: 4106", r)
    r = cert("get", "cse-in/dev1", "Cold", old)
    t.ok(r.code is None, "expired client certificate: refused", r)
    r = cert("get", "cse-in/dev1", "Cdev1", rogue)
    t.ok(r.code is None, "certificate from an untrusted CA: refused", r)
    r = cert("get", "cse-in/dev1", "Cdev1", nul_san)
    t.ok(r.code is None, "a URI SAN with an embedded NUL: handshake refused, as over HTTPS", r)
    t.ok("dtls: client certificate with a malformed URI subjectAltName refused" in cse.read_log(),
         "the refusal is logged")
    r = cert("get", "cse-in/dev1", "Cdev1", bad_first)
    t.ok(r.code is None, "a malformed first URI SAN: refused, never skipped for a later one", r)
    r = cert("get", "cse-in/dev1", "Cdev1", dev)
    t.ok(r.rsc == 2000, "the well-formed certificate of the same CA still binds", r)
    r = coap_client(cse.coaps_port, "cse-in", "get", hdr("Cdev1"), scheme="coaps", extra=["-C", cse.tls_ca], timeout=3)
    t.ok(r.code is None, "CoAPS with certificates requires a client certificate", r)

    # Junk datagrams and a DTLS ClientHello that never continues: the next
    # client is served as usual.
    import socket
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for d in (os.urandom(200), bytes.fromhex("16feff0000000000000000") + os.urandom(40), b"\x00"):
        junk.sendto(d, ("127.0.0.1", cse.coaps_port))
    junk.close()
    r = psk("get", "cse-in/meter1", "Cmeter1")
    t.ok(r.rsc == 2000, "junk and a stalled DTLS hello on the CoAPS port do not disturb the next client", r)

    r = coap_client(cse.coap_port, "cse-in", "get", hdr("CAdmin"))
    t.ok(r.rsc == 2000, "plain CoAP is served alongside under the optional policy", r)
    t.rsc(cse.get("/cse-in"), 2000, 200, "HTTP keeps being served")
    t.ok(cse.alive(), "the CSE survived the refused handshakes")

# Default log level on purpose: libcoap's DTLS behaves differently with its
# logging turned down (see security/dtls.c).
with Cse(psk=PSK, security_coap="required") as cse:
    r = coap_client(cse.coap_port, "cse-in", "get", hdr("Cmeter1"))
    t.ok(r.code == "4.03" and r.rsc == 4107, "required: plain CoAP gets 4107", r)
    r = coap_client(cse.coaps_port, "cse-in", "post", hdr("Cmeter1", ty=2),
                    '{"m2m:ae":{"rn":"m1","api":"Nm","rr":false,"srv":["3"]}}', cf=50, scheme="coaps",
                    extra=["-k", SECRET, "-u", "dev-key@test.example"], timeout=3)
    t.ok(r.rsc == 2001, "required: a registration over CoAPS with a PSK is served", r)

# A configured server certificate (EC here; RSA keys load too) and no trusted
# CA at all: CoAPS starts (it used to fail: <data-dir>/tls did not exist) and
# serves PSK clients.
own = secure.make_ca(certs, "own-server")
with Cse(psk=PSK, tls_cert=own[0], tls_key=own[1]) as cse:
    r = coap_client(cse.coaps_port, "cse-in", "post", hdr("Cmeter1", ty=2),
                    '{"m2m:ae":{"rn":"m1","api":"Nm","rr":false,"srv":["3"]}}', cf=50, scheme="coaps",
                    extra=["-k", SECRET, "-u", "dev-key@test.example"], timeout=3)
    t.ok(r.rsc == 2001, "configured tls-cert, no CA: a registration over CoAPS with a PSK is served", r)

shutil.rmtree(certs, ignore_errors=True)
t.done()
