"""HTTPS session resumption (OpenSSL server): a session resumed with
openssl s_client -sess_out/-sess_in (TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2
session-ID cache) is judged as the originator its first handshake
authenticated (PSK or client certificate), under the "required" policy where
an unauthenticated request gets 4107; a withdrawn key's sessions no longer
resume; a resumed anonymous session stays anonymous; a revocation (a new CRL) ends
the resumption of the sessions made before it."""
import os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
import harness
from harness import Cse, Tap, CSE_BIN
import secure

KEY = "00112233445566778899aabbccddeeff"
PSKS = ["meter-key@test.example:%s:Cmeter*" % KEY, "gone@test.example:%s:Cgone*" % KEY]

t = Tap()
tmp = tempfile.mkdtemp(prefix="ironbark-resume-")
ca = secure.make_ca(tmp, "devca")
client = secure.make_client_cert(tmp, "client1", "Cclient1", ca)


def session(name):
    return os.path.join(tmp, name + ".sess")


with Cse(psk=PSKS, trusted_ca=ca[0], security_http="required") as cse:
    def request(args, method, path, origin, **kw):
        return secure.s_client_request(cse.https_port, args, method, path, origin, **kw)

    def first_and_resumed(label, first_args, resumed_args, origin, path):
        """The first handshake writes the session; a second connection
        resumes it without presenting the credential again (a TLS 1.2
        client offers PSK suites only with a key at hand: it has one, unused)."""
        sess = session(label.replace(" ", "_"))
        r, out = request(first_args + ["-sess_out", sess], "GET", path, origin)
        t.rsc(r, 2000, 200, "%s: first handshake, %s served" % (label, origin))
        r, out = request(resumed_args + ["-sess_in", sess], "GET", path, origin)
        t.ok("Reused," in out, "%s: the session is resumed" % label, out[-400:])
        t.rsc(r, 2000, 200, "%s: the resumed session is judged as %s (not 4107)" % (label, origin))
        r, _ = request(resumed_args + ["-sess_in", sess], "GET", path, "Cintruder")
        t.rsc(r, 4106, 403, "%s: and may not speak for another originator (4106)" % label)
        return sess

    psk13 = ["-psk_identity", "meter-key@test.example", "-psk", KEY, "-tls1_3"]
    r = secure.psk_request(cse.https_port, "meter-key@test.example", KEY, "POST", "/cse-in", "Cmeter1", ty=2,
                           body={"m2m:ae": {"rn": "meter1", "api": "Nmeter", "rr": False, "srv": ["3"]}})
    t.rsc(r, 2001, 201, "an AE registers over TLS 1.3 PSK")
    first_and_resumed("TLS 1.3 PSK ticket", psk13, ["-tls1_3"], "Cmeter1", "/cse-in/meter1")
    psk12 = ["-psk_identity", "meter-key@test.example", "-psk", KEY, "-tls1_2"]
    first_and_resumed("TLS 1.2 ECDHE-PSK ticket", psk12 + ["-cipher", "ECDHE-PSK-AES128-CBC-SHA256"],
                      psk12 + ["-cipher", "ECDHE-PSK-AES128-CBC-SHA256"], "Cmeter1", "/cse-in/meter1")
    first_and_resumed("TLS 1.2 PSK-AES128-CBC-SHA256 session cache",
                      psk12 + ["-cipher", "PSK-AES128-CBC-SHA256", "-no_ticket"],
                      psk12 + ["-cipher", "PSK-AES128-CBC-SHA256", "-no_ticket"], "Cmeter1", "/cse-in/meter1")

    cert = ["-CAfile", cse.tls_ca, "-cert", client[0], "-key", client[1]]
    r = cse.create("/cse-in", 2, {"m2m:ae": {"rn": "client1", "api": "Nc", "rr": False, "srv": ["3"]}},
                   origin="Cclient1", base=cse.https_base,
                   curl_extra=cse.https_curl_options() + ["--cert", client[0], "--key", client[1]])
    t.rsc(r, 2001, 201, "an AE registers with a client certificate")
    first_and_resumed("TLS 1.3 certificate ticket", cert + ["-tls1_3"], ["-CAfile", cse.tls_ca, "-tls1_3"],
                      "Cclient1", "/cse-in/client1")
    first_and_resumed("TLS 1.2 certificate session cache", cert + ["-tls1_2", "-no_ticket"],
                      ["-CAfile", cse.tls_ca, "-tls1_2", "-no_ticket"], "Cclient1", "/cse-in/client1")

    # A session without a client credential resumes as what it was: nobody.
    anon = session("anon")
    request(["-CAfile", cse.tls_ca, "-tls1_3", "-sess_out", anon], "GET", "/cse-in", "CAdmin")
    r, out = request(["-CAfile", cse.tls_ca, "-tls1_3", "-sess_in", anon], "GET", "/cse-in", "CAdmin")
    t.ok("Reused," in out and r.rsc == 4107, "a resumed anonymous session stays unauthenticated (4107)", r.text[-300:])

    # A withdrawn key: its sessions no longer resume, over tickets or the cache.
    gone13, gone12 = session("gone13"), session("gone12")
    gone = ["-psk_identity", "gone@test.example", "-psk", KEY]
    r13, _ = request(gone + ["-tls1_3", "-sess_out", gone13], "GET", "/cse-in", "Cgone1")
    r12, _ = request(gone + ["-tls1_2", "-no_ticket", "-cipher", "PSK-AES128-CBC-SHA256", "-sess_out", gone12],
                     "GET", "/cse-in", "Cgone1")
    t.ok(r13.status != -1 and r12.status != -1, "sessions of a second key (TLS 1.3, TLS 1.2)")
    p = subprocess.run([CSE_BIN, "credentials"] + harness.admin_flags(cse.data_dir) + ["remove-psk", "gone@test.example"],
                       capture_output=True, timeout=10)
    t.eq(p.returncode, 0, "the key is removed while the CSE runs")
    r, _ = request(["-tls1_3", "-sess_in", gone13], "GET", "/cse-in", "Cgone1")
    t.eq(r.status, -1, "its TLS 1.3 ticket no longer resumes into a session")
    r, _ = request(gone + ["-tls1_2", "-no_ticket", "-cipher", "PSK-AES128-CBC-SHA256", "-sess_in", gone12],
                   "GET", "/cse-in", "Cgone1")
    t.eq(r.status, -1, "its TLS 1.2 cached session no longer resumes (nor does the unknown key do a new one)")
    t.ok("resumption of 12-gone@test.example refused" in cse.read_log(), "the refusal is logged")
    t.ok(KEY not in cse.read_log(), "no key in the log")
    t.ok(cse.alive(), "the CSE is alive")

# A revocation: the CRL file rewritten (as m2m-mef does) ends the resumption of
# sessions made before it, so the revoked certificate cannot return by ticket.
ca_cmd = secure.crl_issuer(tmp, ca)
crl = os.path.join(tmp, "crl.pem")
ca_cmd("-gencrl", "-out", crl)
with Cse(trusted_ca=ca[0], crl_file=crl, security_http="required") as cse:
    cert = ["-CAfile", cse.tls_ca, "-cert", client[0], "-key", client[1], "-tls1_3"]
    r = cse.create("/cse-in", 2, {"m2m:ae": {"rn": "client1", "api": "Nc", "rr": False, "srv": ["3"]}},
                   origin="Cclient1", base=cse.https_base,
                   curl_extra=cse.https_curl_options() + ["--cert", client[0], "--key", client[1]])
    t.rsc(r, 2001, 201, "CRL: a certificate not on the CRL registers its AE")
    sess = session("crl")
    secure.s_client_request(cse.https_port, cert + ["-sess_out", sess], "GET", "/cse-in/client1", "Cclient1")
    r, out = secure.s_client_request(cse.https_port, ["-CAfile", cse.tls_ca, "-tls1_3", "-sess_in", sess],
                                     "GET", "/cse-in/client1", "Cclient1")
    t.ok("Reused," in out and r.rsc == 2000, "CRL: its session resumes as Cclient1 before the revocation", r.text[-300:])
    ca_cmd("-revoke", client[0])
    ca_cmd("-gencrl", "-out", crl)
    r, out = secure.s_client_request(cse.https_port, ["-CAfile", cse.tls_ca, "-tls1_3", "-sess_in", sess],
                                     "GET", "/cse-in/client1", "Cclient1")
    t.ok("Reused," not in out and r.rsc == 4107,
         "CRL: after the revocation the old ticket no longer resumes (a new, unauthenticated session: 4107)",
         r.text[-300:])
    r, _ = secure.s_client_request(cse.https_port, cert, "GET", "/cse-in/client1", "Cclient1")
    t.eq(r.status, -1, "CRL: and the revoked certificate's own handshake is refused")
    t.ok(cse.alive(), "the CSE is alive")

shutil.rmtree(tmp, ignore_errors=True)
t.done()
