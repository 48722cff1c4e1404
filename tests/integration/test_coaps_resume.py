"""CoAPS session resumption with a real peer (`openssl s_client -dtls1_2`,
-sess_out then -sess_in): PSK and certificate sessions resume ("Reused"), a
resumed session is judged as the credential of its full handshake whatever
the resuming client now presents, a removed key's resumed session vouches for
nobody (4106), a CRL change empties the session cache so a revoked
certificate's session is not resumed, and coaps-session-cache = 0 resumes nothing."""
import os, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
import harness
from harness import CSE_BIN, Cse, Tap
from coap_peer import POST, GET
import secure

KEY_A = "00112233445566778899aabbccddeeff"
KEY_B = "ffeeddccbbaa99887766554433221100"
PSKS = ["meter-a@test.example:%s:Cmeter*" % KEY_A, "other-b@test.example:%s:Cother*" % KEY_B]

t = Tap()
d = tempfile.mkdtemp(prefix="ironbark-coaps-resume-")
ca = secure.make_ca(d, "devca")
dev1 = secure.make_client_cert(d, "dev1", "Cdev1", ca)
dev2 = secure.make_client_cert(d, "dev2", "Cdev2", ca)

# An empty CRL of devca, rewritten below once dev1 is revoked.
ca_cmd = secure.crl_issuer(d, ca)
crl = os.path.join(d, "crl.pem")


def gencrl():
    ca_cmd("-gencrl", "-out", crl + ".new")
    os.replace(crl + ".new", crl)


gencrl()
AE = '{"m2m:ae":{"rn":"%s","api":"N%s","rr":false,"srv":["3"]}}'


def psk_auth(identity, key):
    return ["-psk_identity", identity, "-psk", key, "-cipher", "PSK-AES128-CCM8"]


def cert_auth(pair, server_ca):
    return ["-cert", pair[0], "-key", pair[1], "-CAfile", server_ca, "-cipher", "ECDHE-ECDSA-AES128-CCM8"]


def rsc(msg):
    v = msg and msg.opt(307)
    return int.from_bytes(v, "big") if v else None


with Cse(psk=PSKS, trusted_ca=ca[0], crl_file=crl) as cse:
    port = cse.coaps_port
    sa = os.path.join(d, "psk-a.sess")
    reused, m = secure.dtls_request(port, "cse-in", "Cmeter1", POST, ty=2, body=AE % ("meter1", "m"),
                                    auth=psk_auth("meter-a@test.example", KEY_A), sess_out=sa)
    t.ok(reused is False and rsc(m) == 2001, "PSK: a full handshake registers Cmeter1", (reused, rsc(m)))
    reused, m = secure.dtls_request(port, "cse-in/meter1", "Cmeter1", GET,
                                    auth=psk_auth("meter-a@test.example", KEY_A), sess_in=sa)
    t.ok(reused is True, "PSK: s_client resumes the session (Reused)", reused)
    t.eq(rsc(m), 2000, "PSK: the resumed session is served as meter-a's")
    # The resuming client names key B, whose patterns allow Cother: the
    # resumed session stays key A's, so Cother is refused and Cmeter1 served.
    reused, m = secure.dtls_request(port, "cse-in/meter1", "Cother1", GET,
                                    auth=psk_auth("other-b@test.example", KEY_B), sess_in=sa)
    t.ok(reused is True and rsc(m) == 4106,
         "PSK: a resumed session keeps its original identity (another key's originator: 4106)", (reused, rsc(m)))

    # A key removed from the store while its session is cached: the session
    # still resumes, but its credential no longer vouches for anyone.
    sb = os.path.join(d, "psk-b.sess")
    reused, m = secure.dtls_request(port, "cse-in/meter1", "Cother1", GET,
                                    auth=psk_auth("other-b@test.example", KEY_B), sess_out=sb)
    t.ok(reused is False and rsc(m) == 4103, "PSK: key B's own session passes the SAEF check (ACP: 4103)",
         (reused, rsc(m)))
    secure.run([CSE_BIN, "credentials"] + harness.admin_flags(cse.data_dir) + ["remove-psk", "other-b@test.example"])
    reused, m = secure.dtls_request(port, "cse-in/meter1", "Cother1", GET,
                                    auth=psk_auth("other-b@test.example", KEY_B), sess_in=sb)
    t.ok(reused is True and rsc(m) == 4106, "PSK: a resumed session of a removed key gets 4106", (reused, rsc(m)))

    sc = os.path.join(d, "cert-1.sess")
    reused, m = secure.dtls_request(port, "cse-in", "Cdev1", POST, ty=2, body=AE % ("dev1", "d"),
                                    auth=cert_auth(dev1, cse.tls_ca), sess_out=sc)
    t.ok(reused is False and rsc(m) == 2001, "certificate: a full handshake registers Cdev1", (reused, rsc(m)))
    reused, m = secure.dtls_request(port, "cse-in/dev1", "Cdev1", GET, auth=cert_auth(dev2, cse.tls_ca),
                                    sess_in=sc)
    t.ok(reused is True and rsc(m) == 2000,
         "certificate: resumed with dev2's certificate at hand, the session is still Cdev1's", (reused, rsc(m)))
    reused, m = secure.dtls_request(port, "cse-in/dev1", "Cdev2", GET, auth=cert_auth(dev2, cse.tls_ca),
                                    sess_in=sc)
    t.ok(reused is True and rsc(m) == 4106, "certificate: the resumed session does not vouch for Cdev2: 4106",
         (reused, rsc(m)))

    # Revoking dev1 rewrites the CRL: its cached session must not resume,
    # and the full handshake then fails on the revoked certificate.
    ca_cmd("-revoke", dev1[0])
    time.sleep(0.01)     # a new mtime even on coarse clocks
    gencrl()
    reused, m = secure.dtls_request(port, "cse-in/dev1", "Cdev1", GET, auth=cert_auth(dev1, cse.tls_ca),
                                    sess_in=sc, timeout=3)
    t.ok(reused is not True and m is None, "after a CRL change the revoked certificate's session is not resumed",
         (reused, m))
    reused, m = secure.dtls_request(port, "cse-in/meter1", "Cmeter1", GET,
                                    auth=psk_auth("meter-a@test.example", KEY_A), sess_in=sa)
    t.ok(reused is False and rsc(m) == 2000, "the CRL change emptied the cache: PSK sessions start anew", (reused, rsc(m)))
    t.ok(cse.alive(), "the CSE kept serving")

# coaps-session-cache = 0: no session is kept or handed out.
with Cse(psk=PSKS, coaps_session_cache=0) as cse:
    s0 = os.path.join(d, "psk-0.sess")
    reused, m = secure.dtls_request(cse.coaps_port, "cse-in", "Cmeter2", POST, ty=2, body=AE % ("meter2", "m"),
                                    auth=psk_auth("meter-a@test.example", KEY_A), sess_out=s0)
    t.ok(reused is False and rsc(m) == 2001, "cache off: a full handshake is served", (reused, rsc(m)))
    # No session ID and no ticket in the ServerHello: s_client has nothing to save.
    t.ok(not os.path.exists(s0) or not os.path.getsize(s0), "cache off: the server hands out no session to resume")
    reused, m = secure.dtls_request(cse.coaps_port, "cse-in/meter2", "Cmeter2", GET,
                                    auth=psk_auth("meter-a@test.example", KEY_A))
    t.ok(reused is False and rsc(m) == 2000, "cache off: the next connection is a full handshake, served",
         (reused, rsc(m)))

shutil.rmtree(d, ignore_errors=True)
t.done()
