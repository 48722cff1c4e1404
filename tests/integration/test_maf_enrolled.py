"""m2m-maf beyond pre-provisioned keys, with real m2m-mef, m2m-maf and
m2m-cse processes on loopback (docs/security.md "MAF-based SAEF"):
a MAF client whose Km the MEF provisioned (`m2m enrol --suid 21`, the MAF
fetching Km as an enrolment target of the MEF) meets the CSE through the
MAF; a silent MAF holds up only the ESPrim request that waits for it; a client authenticated by a certificate (URI SAN = its ID) does the
MAF procedures with curl and registers a key; an ESPrim key from the MAF (SUID 33) opens sealed primitives at the
CSE, which asks the MAF without blocking; the MAF's registrations survive its restart, Kc sealed at rest."""
import base64
import json
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import secure  # noqa: E402
from harness import Cse, Tap, write_private  # noqa: E402

t = Tap()
MAF_BIN = os.path.abspath(os.environ.get("M2M_MAF", os.path.join(harness.BUILD, "m2m-maf")))
MEF_BIN = os.path.abspath(os.environ.get("M2M_MEF", os.path.join(harness.BUILD, "m2m-mef")))
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
MAF_FQDN = "maf.ironbark.local"
MEF_FQDN = "mef.ironbark.local"
KPM = "00112233445566778899aabbccddeeff"           # the device's bootstrap key at the MEF
FETCH = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"         # the MAF's credential at the MEF
KMCSE = "ffeeddccbbaa99887766554433221100"         # the CSE's Km at the MAF
KMUSER = "5a5b5c5d5e5f60616263646566676869"        # a consumer's (pre-provisioned) Km at the MAF


class Server(Cse):
    def __init__(self, binary, **settings):
        self.binary = binary
        super().__init__(coap_port=0, **settings)

    def args(self):
        return [self.binary] + super().args()[1:]


def tool(*args, timeout=60):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=timeout)


def retried(*args):
    """The first handshake with an identity the server must fetch fails (rc 2); the next succeeds."""
    last = None
    for _ in range(20):
        last = tool("--handshake-timeout", "1500", "--timeout", "4000", *args)
        if last.returncode != 2:
            return last
        time.sleep(0.25)
    return last


work = tempfile.mkdtemp(prefix="ironbark-maf-enrolled-")
kpm = write_private(os.path.join(work, "kpm.key"), KPM + "\n")
kmuser = write_private(os.path.join(work, "kmuser.key"), KMUSER + "\n")
devca = secure.make_ca(work, "devca")
ccert = secure.make_client_cert(work, "ccert", "Ccert", devca)
km = os.path.join(work, "km.key")

mef = Server(MEF_BIN, psk=["kpm-dev:%s:Cdev" % KPM, "maf-fetch:%s:/id-maf" % FETCH], log_level="debug")
mef.start()


def start_maf(again=None):
    ports = dict(data_dir=again.data_dir, http_port=again.port, https_port=again.https_port,
                 coaps_port=again.coaps_port) if again else {}
    return Server(MAF_BIN, psk=["maf-fetch:%s:/id-mef" % FETCH, "km-cse-in:%s:/id-in" % KMCSE, "km-user:%s:Cuser" % KMUSER], mef_fqdn=MEF_FQDN,
                  mef_url="coaps://127.0.0.1:%d" % mef.coaps_port,
                  outbound_psk="127.0.0.1:%d=maf-fetch" % mef.coaps_port, trusted_ca=devca[0], log_level="debug",
                  **ports).start()


maf = start_maf()
cse = Cse(psk=["km-cse-in:%s:/id-maf" % KMCSE], coap_port=0, maf_fqdn=MAF_FQDN,
          maf_url="coaps://127.0.0.1:%d" % maf.coaps_port, outbound_psk="127.0.0.1:%d=km-cse-in" % maf.coaps_port,
          esprim="true", log_level="debug")
cse.start()
try:
    maf_https = "https://127.0.0.1:%d" % maf.https_port
    cse_coaps = "coaps://127.0.0.1:%d" % cse.coaps_port

    # --- Km provisioned by the MEF (SUID 21), fetched by the MAF ----------------
    r = tool("enrol", "--mef", "https://127.0.0.1:%d" % mef.https_port, "--psk-id", "kpm-dev", "--psk-key-file", kpm,
             "--from", "Cdev", "--target", "/id-maf", "--suid", "21", "--file", km)
    m = re.search(r"KmID ([0-9a-f]{32}@" + re.escape(MEF_FQDN) + ")", r.stdout)
    kmid = m.group(1) if m else "none"
    t.ok(r.returncode == 0 and m and "SUID 21" in r.stdout, "m2m enrol --suid 21: Km for the MAF, KmID = KeID",
         r.stdout + r.stderr[-300:])

    def dev(*args, origin="Cdev"):
        return retried("--maf", maf_https, "--psk-id", kmid, "--psk-key-file", km, "--from", origin, *args)

    r = dev("maf", "register")
    t.ok(r.returncode == 0 and "as Cdev" in r.stdout, "MAF Client Registration with the MEF-provisioned Km",
         r.stdout + r.stderr[-300:])
    log = maf.read_log()
    t.ok("fetching the key of %s from the MEF" % kmid in log and "bound to Cdev" in log,
         "the MAF fetched Km from the MEF (/fetchCredentials/<KeID>/21) and bound it to the Enrolee-ID")
    r = dev("maf", "register", origin="Cmallory")
    t.ok("4106" in r.stdout + r.stderr, "the Km speaks only for its Enrolee-ID (4106)", r.stdout + r.stderr[-200:])

    r = dev("--url", cse_coaps, "--target", "/id-in", "create", "cse-in", "--ty", "2",
            "--body", '{"m2m:ae":{"rn":"dev","api":"Ndev","rr":false,"srv":["3"]}}')
    t.ok("RSC 2001" in r.stdout, "MEF -> MAF -> CSE: the device meets the CSE with a key from its MEF-provisioned Km",
         r.stdout + r.stderr[-300:])
    t.eq(((cse.get("/cse-in/dev").json or {}).get("m2m:ae") or {}).get("aei"), "Cdev", "the AE-ID is the Enrolee-ID")
    t.ok(open(km).read().strip() not in mef.read_log() + maf.read_log() + cse.read_log(), "no key in any log")

    # --- ESPrim with a MAF key (<RelativeKeyID>@<maf-fqdn> as kid) --------------
    def esprim_key(target, suid, name):
        kf = os.path.join(work, name)
        r = dev("maf", "key", "add", "--target", target, "--suid", suid, "--file", kf)
        m = re.search(r"Key Identifier ([0-9a-f]{32}@[^\s,]+)", r.stdout)
        return (m.group(1) if m else "none"), kf

    def sealed(kid, kf, *args):
        return tool("--url", cse.base, "--from", "Cdev", "--esprim", kid, "--esprim-key-file", kf, *args)

    ekid, ek = esprim_key("/id-in", "33", "esprim.key")
    r = sealed(ekid, ek, "retrieve", "cse-in/dev")
    t.ok("RSC 2000" in r.stdout and "Cdev" in r.stdout, "ESPrim with a MAF key: the CSE retrieved it and opened the primitive",
         r.stdout + r.stderr[-300:])
    t.ok("asking the MAF for key %s (SUID 33)" % ekid in cse.read_log(), "... asked through the loop, not blocking it")
    r = sealed(ekid, ek, "retrieve", "cse-in/dev", "--from", "Cmallory")
    t.ok("RSC 4116" in r.stdout,
         "the MAF key speaks only for its source (4116)", r.stdout + r.stderr[-200:])
    for target, suid, what in (("/id-other", "33", "an ESPrim key for another CSE"),
                               ("/id-in", "32", "an SAEF key used for ESPrim")):
        kid, kf = esprim_key(target, suid, "e%s%s.key" % (suid, len(what)))
        r = sealed(kid, kf, "retrieve", "cse-in/dev")
        with open(os.path.join(cse.data_dir, "audit.log")) as f:
            denied = [line for line in f if kid in line and '"maf"' in line and '"deny"' in line]
        t.ok("RSC 4112" in r.stdout and denied, "%s: refused (4112), audited" % what, r.stdout + r.stderr[-200:])

    # --- a certificate-authenticated MAF client (curl; the m2m tool for the exporter) ------
    def curl_maf(method, path, origin, ty=None, body=None):
        headers = {"X-M2M-Origin": origin, "X-M2M-RI": "c1", "X-M2M-RVI": "3", "Accept": "application/json"}
        if ty:
            headers["Content-Type"] = "application/json;ty=%d" % ty
        return harness.curl(method, "https://localhost:%d/%s" % (maf.https_port, path), headers, body,
                            extra=maf.https_curl_options() + ["--cert", ccert[0], "--key", ccert[1]])

    reg = json.dumps({"maf:clientReg": {"MAF-FQDN": MAF_FQDN, "adminFQDN": MAF_FQDN,
                                        "expirationTime": "20991231T000000"}})
    r = curl_maf("POST", "mafClientReg", "Ccert", 952, reg)
    t.ok(r.status == 201 and '"MAFClientID":"Ccert"' in r.text.replace(" ", ""),
         "curl with a client certificate: MAF Client Registration, the client ID is the certificate's URI SAN",
         (r.status, r.text))
    r = curl_maf("POST", "mafClientReg", "Cmallory", 952, reg)
    t.eq(r.rsc, 4106, "... another From with that certificate: 4106")
    ckey = os.path.join(work, "cert-kc.key")
    r = tool("--maf", maf_https, "--ca", maf.tls_ca, "--cert", ccert[0], "--key", ccert[1], "--from", "Ccert",
             "maf", "key", "add", "--target", "/id-in", "--file", ckey)
    m = re.search(r"--psk-id (\S+)", r.stdout)
    ckid = m.group(1) if m else "none"
    t.ok(r.returncode == 0 and m, "Key Registration over the certificate handshake (Kc exported from it)",
         r.stdout + r.stderr[-300:])
    r = curl_maf("GET", "mafKeyReg", "Ccert")
    t.ok(r.status == 200 and ckid in r.text and "Key Value" not in r.text, "curl: the certificate client's keys",
         (r.status, r.text))
    r = retried("--url", cse_coaps, "--psk-id", ckid, "--psk-key-file", ckey, "--from", "Ccert", "create", "cse-in",
                "--ty", "2", "--body", '{"m2m:ae":{"rn":"ccert","api":"Ncert","rr":false,"srv":["3"]}}')
    t.ok("RSC 2001" in r.stdout, "... and the CSE accepts that key, bound to the certificate's ID",
         r.stdout + r.stderr[-300:])

    # --- ESData with a MAF key (SUID 34): the source seals, the target retrieves the key and opens ---
    secret = "reading-4711"
    ed_src = os.path.join(work, "esdata-src.jwk")
    ekid, _ = esprim_key("Cuser", "34", "esdata-src.jwk")
    r = tool("esdata", "seal", "--encrypt-for", ed_src,
             "--body", json.dumps({"m2m:cin": {"cnf": "text/plain:0", "con": secret}}))
    env = (json.loads(r.stdout) if r.returncode == 0 else {}).get("m2m:cin", {}).get("con", "")
    hdr = json.loads(base64.urlsafe_b64decode(env.split(".")[0] + "==")) if env.count(".") == 4 else {}
    t.ok(secret not in env and hdr.get("kid") == ekid, "m2m esdata seal with the MAF key: a JWE naming the Key Identifier",
         r.stdout + r.stderr[-200:])
    ed_dst = os.path.join(work, "esdata-dst.jwk")
    r = tool("--maf", maf_https, "--psk-id", "km-user", "--psk-key-file", kmuser, "--from", "Cuser",
             "maf", "key", "get", ekid, "--file", ed_dst)
    t.ok(r.returncode == 0 and stat.S_IMODE(os.stat(ed_dst).st_mode) == 0o600,
         "m2m maf key get: the target retrieves the ESData key into an owner-only JWK", r.stdout + r.stderr[-200:])
    r = tool("esdata", "open", "--decrypt", ed_dst, "--body", json.dumps({"m2m:cin": {"cnf": "text/plain:0:1", "con": env}}))
    t.ok(r.returncode == 0 and secret in r.stdout, "... and the JOSE module opens the ESData with it",
         r.stdout + r.stderr[-200:])
    r = dev("maf", "key", "get", ekid, "--file", os.path.join(work, "nope.jwk"))
    t.ok(r.returncode == 1 and not os.path.exists(os.path.join(work, "nope.jwk")),
         "the source's own Key Retrieval carries no Key Value", r.stdout + r.stderr[-200:])

    # --- persistence: registrations survive a restart, Kc sealed at rest -------
    k2 = os.path.join(work, "k2.key")
    r = dev("maf", "key", "add", "--target", "/id-in", "--file", k2)
    m = re.search(r"--psk-id (\S+)", r.stdout)
    kid2 = m.group(1) if m else "none"
    t.ok(r.returncode == 0 and m, "a key registered before the restart", r.stdout + r.stderr[-200:])
    t.eq(maf.stop(), 0, "m2m-maf stops")
    kc = bytes.fromhex(open(k2).read().strip())
    at_rest = b"".join(open(os.path.join(maf.data_dir, f), "rb").read() for f in os.listdir(maf.data_dir)
                       if f.startswith("maf.db"))
    t.ok(kid2.split("@")[0].encode() in at_rest and kc not in at_rest and kc.hex().encode() not in at_rest,
         "maf.db holds the registration but not Kc (neither raw nor hex)")
    root = os.path.join(maf.data_dir, "maf-root.key")
    t.eq(stat.S_IMODE(os.stat(root).st_mode), 0o600, "the root key file is owner-only")
    maf = start_maf(again=maf)
    r = dev("maf", "key", "list")
    t.ok(r.returncode == 0 and kid2 in r.stdout, "after the restart: the client's registration and key are there",
         r.stdout + r.stderr[-200:])
    r = retried("--url", cse_coaps, "--psk-id", kid2, "--psk-key-file", k2, "--from", "Cdev", "retrieve", "cse-in/dev")
    t.ok("RSC 2000" in r.stdout, "after the restart: the CSE retrieves the key registered before it (Key Retrieval)",
         r.stdout + r.stderr[-300:])
finally:
    rcs = [s.stop() for s in (cse, maf, mef)]
t.eq(rcs, [0, 0, 0], "m2m-cse, m2m-maf and m2m-mef stop cleanly")

# --- a MAF that accepts and never answers: the ESPrim request waits, nobody else does ---
hold = socket.socket()
hold.bind(("127.0.0.1", 0))
hold.listen(4)
held = []
thr = threading.Thread(target=lambda: held.append(hold.accept()[0]), daemon=True)
hold.settimeout(15)
thr.start()
with Cse(coap_port=0, esprim="true", maf_fqdn=MAF_FQDN, maf_url="https://127.0.0.1:%d" % hold.getsockname()[1]) as slow:
    anykey = write_private(os.path.join(work, "any.key"), "cd" * 32 + "\n")
    waiting = subprocess.Popen([TOOL, "--url", slow.base, "--from", "Cdev", "--timeout", "15000", "--esprim",
                                "ab" * 16 + "@" + MAF_FQDN, "--esprim-key-file", anykey, "retrieve", "cse-in"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    thr.join(10)
    t.ok(held, "an ESPrim object under a MAF key: the CSE asks the (silent) MAF")
    t.eq([slow.get("/cse-in").rsc for _ in range(5)], [2000] * 5, "meanwhile the CSE serves other requests")
    out = waiting.communicate(timeout=30)[0]
    t.ok("RSC 4112" in out, "the waiting request ends by the MAF's timeout: 4112, key unknown", out[-300:])
for c in held:
    c.close()
hold.close()
t.done()
