"""HTTPS with wolfSSL: the generated CA, TLS-PSK (TLS 1.3 and 1.2 ECDHE-PSK)
with openssl s_client, client certificates with curl, the SAEF identity
gate (4106/4107), SNI, and bad input: wrong and unknown PSKs, expired and
untrusted certificates, a stalled handshake."""
import os, shutil, socket, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, CSE_BIN, admin_flags
import secure

KEY = "00112233445566778899aabbccddeeff"
PSK = "meter-key@test.example:%s:Cmeter*" % KEY

t = Tap()
certs = tempfile.mkdtemp(prefix="ironbark-certs-")
ca = secure.make_ca(certs, "devca")
client = secure.make_client_cert(certs, "client1", "Cclient1", ca)
expired = secure.make_expired_cert(certs, "old", "Cold", ca)
rogue_ca = secure.make_ca(certs, "rogueca")
rogue = secure.make_client_cert(certs, "rogue", "Cclient1", rogue_ca)
# URI SANs that must never bind (security/cert_san.c): an embedded NUL (the
# text before it names a real AE), and a bad first URI before a good one.
nul_san = secure.make_client_cert(certs, "nul", secure.raw_uri_san(b"Cclient1\x00.evil.example"), ca)
bad_first = secure.make_client_cert(certs, "badfirst", secure.raw_uri_san(b"Cclient1\x01", b"Cclient1"), ca)

with Cse(psk=PSK, trusted_ca=ca[0], tls_handshake_timeout=1000) as cse:
    https = dict(base=cse.https_base, curl_extra=cse.https_curl_options())

    def with_cert(cert):
        return dict(base=cse.https_base, curl_extra=cse.https_curl_options() + ["--cert", cert[0], "--key", cert[1]])

    def psk(method, path, origin, **kw):
        return secure.psk_request(cse.https_port, "meter-key@test.example", KEY, method, path, origin, **kw)

    t.ok(os.path.exists(cse.tls_ca) and os.path.exists(os.path.join(cse.data_dir, "tls", "server.pem")),
         "first start generated a CA and a server certificate under data-dir/tls")
    t.ok("ca.pem" in cse.read_log(), "the log says where the generated CA is")

    r = cse.get("/cse-in", **https)
    t.rsc(r, 2000, 200, "curl over HTTPS trusts the generated CA (hostname localhost)")
    r = cse.request("GET", "/cse-in", base="https://127.0.0.1:%d" % cse.https_port,
                    curl_extra=["--cacert", cse.tls_ca])
    t.rsc(r, 2000, 200, "the server certificate also names 127.0.0.1")
    r = cse.get("/cse-in", base=cse.https_base, curl_extra=cse.https_curl_options() + ["--tlsv1.2", "--tls-max", "1.2"])
    t.rsc(r, 2000, 200, "TLS 1.2 with an ECDHE-ECDSA suite")

    # TLS-PSK: an AE registers under its KpsaID and works with its resources.
    r = psk("POST", "/cse-in", "Cmeter1", ty=2,
            body={"m2m:ae": {"rn": "meter1", "api": "Nmeter", "rr": False, "srv": ["3"]}})
    t.rsc(r, 2001, 201, "AE registers over TLS 1.3 PSK with an allowed originator")
    r = psk("POST", "/cse-in/meter1", "Cmeter1", ty=3, body={"m2m:cnt": {"rn": "data"}})
    t.rsc(r, 2001, 201, "container over TLS 1.3 PSK")
    r = psk("POST", "/cse-in/meter1/data", "Cmeter1", ty=4, body={"m2m:cin": {"con": "42"}}, version="1.2",
            cipher="ECDHE-PSK-AES128-CBC-SHA256")
    t.rsc(r, 2001, 201, "contentInstance over TLS 1.2 ECDHE-PSK")
    r = psk("GET", "/cse-in/meter1/data/la", "Cmeter1", version="1.2", cipher="ECDHE-PSK-AES128-CBC-SHA256")
    t.eq((r.rsc, (r.json or {}).get("m2m:cin", {}).get("con")), (2000, "42"), "latest instance read back over PSK")
    r = psk("POST", "/cse-in", "Cintruder", ty=2,
            body={"m2m:ae": {"rn": "intr", "api": "Nx", "rr": False, "srv": ["3"]}})
    t.rsc(r, 4106, 403, "registration claiming an originator outside the PSK's patterns: 4106")
    r = psk("POST", "/cse-in", None, ty=2, body={"m2m:ae": {"rn": "anon", "api": "Nx", "rr": False, "srv": ["3"]}})
    t.rsc(r, 4106, 403, "registration without From over a PSK: 4106 (the CSE would pick an unbound AE-ID)")
    r = psk("GET", "/cse-in/meter1", "Cclient1")
    t.rsc(r, 4106, 403, "request claiming another AE's originator over the PSK: 4106")
    r = secure.psk_request(cse.https_port, "meter-key@test.example", "ffeeddccbbaa99887766554433221100",
                           "GET", "/cse-in", "Cmeter1")
    t.eq(r.status, -1, "wrong PSK: handshake refused, no HTTP answer")
    r = secure.psk_request(cse.https_port, "nobody@test.example", KEY, "GET", "/cse-in", "Cmeter1")
    t.eq(r.status, -1, "unknown PSK identity: refused, no fallback to an anonymous session")
    r = secure.psk_request(cse.https_port, "nobody@test.example", KEY, "GET", "/cse-in", "Cmeter1",
                           version="1.2", cipher="ECDHE-PSK-AES128-CBC-SHA256")
    t.eq(r.status, -1, "unknown PSK identity over TLS 1.2: refused")

    # SNI: the server acknowledges the name it serves.
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % cse.https_port, "-tls1_2",
                        "-servername", "localhost", "-tlsextdebug", "-CAfile", cse.tls_ca],
                       input=b"", capture_output=True, timeout=20)
    out = p.stdout.decode(errors="replace")
    t.ok("server name" in out and "Verify return code: 0" in out,
         "SNI acknowledged in the ServerHello and the chain verifies", out[-600:])

    # Client certificates: the AE-ID in the SAN is the bound originator.
    r = cse.create("/cse-in", 2, {"m2m:ae": {"rn": "client1", "api": "Nc", "rr": False, "srv": ["3"]}},
                   origin="Cclient1", **with_cert(client))
    t.rsc(r, 2001, 201, "AE registers with a client certificate whose SAN URI is its AE-ID")
    r = cse.get("/cse-in/client1", origin="Cmeter1", **with_cert(client))
    t.rsc(r, 4106, 403, "the certificate's AE-ID does not vouch for another originator: 4106")
    r = cse.get("/cse-in/client1", origin="Cclient1", **with_cert(expired))
    t.eq(r.status, -1, "expired client certificate: handshake refused")
    r = cse.get("/cse-in/client1", origin="Cclient1", **with_cert(rogue))
    t.eq(r.status, -1, "client certificate from an untrusted CA: handshake refused")
    r = cse.get("/cse-in/client1", origin="Cclient1", **with_cert(nul_san))
    t.eq(r.status, -1, "a URI SAN with an embedded NUL is refused, not bound to the text before it")
    t.ok("tls: client certificate with a malformed URI subjectAltName refused" in cse.read_log(),
         "the refusal is logged")
    r = cse.get("/cse-in/client1", origin="Cclient1", **with_cert(bad_first))
    t.eq(r.status, -1, "a malformed first URI SAN is refused, never skipped for a later one")
    r = cse.get("/cse-in/client1", origin="Cclient1", **with_cert(client))
    t.rsc(r, 2000, 200, "the well-formed certificate of the same CA still binds")

    # A client that stalls mid-handshake is dropped; others are served meanwhile.
    stalled = socket.create_connection(("127.0.0.1", cse.https_port))
    stalled.sendall(bytes.fromhex("160301020001") + b"\x00\x01\xfc\x03\x03" + os.urandom(16))
    start = time.time()
    r = cse.get("/cse-in", **https)
    t.rsc(r, 2000, 200, "another client is served while one stalls mid-handshake")
    stalled.settimeout(5)
    closed = False
    try:
        for _ in range(10):  # an alert may come before the end of the stream
            if stalled.recv(100) == b"":
                closed = True
                break
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    t.ok(closed and time.time() - start < 4.5, "the stalled handshake is closed after the timeout")
    stalled.close()

    # Plain HTTP and garbage on the TLS port: dropped, nothing answered in clear.
    for junk in (b"GET /cse-in HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(300)):
        s = socket.create_connection(("127.0.0.1", cse.https_port))
        s.settimeout(5)
        s.sendall(junk)
        got = b""
        try:
            for _ in range(10):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        t.ok(b"HTTP/1.1" not in got, "non-TLS bytes on the HTTPS port get no HTTP answer (%d bytes)" % len(junk))
    r = cse.get("/cse-in", **https)
    t.rsc(r, 2000, 200, "HTTPS still served after the junk")

    # The admin interface: a key added while the CSE runs is usable at once.
    # Keys go in on standard input, never as arguments.
    adm = [CSE_BIN, "credentials", *admin_flags(cse.data_dir)]
    p = subprocess.run(adm + ["add-psk"], input=("late@test.example:%s:CAdmin\n" % KEY).encode(),
                       capture_output=True, timeout=10)
    t.eq(p.returncode, 0, "m2m-cse credentials add-psk (key on stdin)")
    r = secure.psk_request(cse.https_port, "late@test.example", KEY, "GET", "/cse-in", "CAdmin")
    t.rsc(r, 2000, 200, "a key provisioned through the admin interface works without a restart")
    p = subprocess.run(adm + ["list"], capture_output=True, timeout=10)
    listing = p.stdout.decode()
    t.ok("late@test.example -> CAdmin" in listing and KEY not in listing and ca[0] in listing,
         "credentials list shows identities and CAs, never keys", listing)
    p = subprocess.run(adm + ["remove-psk", "late@test.example"], capture_output=True, timeout=10)
    r = secure.psk_request(cse.https_port, "late@test.example", KEY, "GET", "/cse-in", "CAdmin")
    t.ok(p.returncode == 0 and r.status == -1, "a removed key is refused")
    p = subprocess.run(adm + ["add-psk"], input=b"bad id:zz:C*\n", capture_output=True, timeout=10)
    t.ok(p.returncode != 0 and b"stdin:1:" in p.stderr, "a malformed key is rejected with a message", p.stderr)

    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "plain HTTP is still served under the optional policy")
    t.ok(cse.alive(), "the CSE survived all bad input")

# Policy "required": only authenticated requests are served.
with Cse(psk=PSK, security_http="required") as cse:
    r = cse.get("/cse-in")
    t.rsc(r, 4107, 403, "required: a plain HTTP request gets 4107")
    r = cse.get("/cse-in", base=cse.https_base, curl_extra=cse.https_curl_options())
    t.rsc(r, 4107, 403, "required: TLS without a client credential gets 4107")
    r = secure.psk_request(cse.https_port, "meter-key@test.example", KEY, "POST", "/cse-in", "Cmeter9", ty=2,
                           body={"m2m:ae": {"rn": "m9", "api": "Nm", "rr": False, "srv": ["3"]}})
    t.rsc(r, 2001, 201, "required: a PSK-authenticated registration is served")

# Policy "off": no HTTPS listener at all.
with Cse(security_http="off") as cse:
    try:
        socket.create_connection(("127.0.0.1", cse.https_port), timeout=1).close()
        listening = True
    except OSError:
        listening = False
    t.ok(not listening, "security off: no HTTPS listener")

shutil.rmtree(certs, ignore_errors=True)
t.done()
