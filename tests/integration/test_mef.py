"""m2m-mef, the M2M Enrolment Function (mef/, docs/onboarding.md), with real
processes on loopback: a device with a bootstrap PSK enrols over HTTPS
(`m2m enrol`: MEF handshake, Client Registration with the exported
RelativeKeID, Key Registration for the CSE, Kpsa derived on the device),
then registers an AE over CoAPS at an m2m-cse that fetches the key from the
MEF (/fetchCredentials over CoAPS, outbound-psk) and binds the session to
the Enrolee-ID; the inventory (`m2m mef list|show`); revocation cutting the
device off at the CSE; bad input (wrong bootstrap key, replayed and expired
enrolments, unknown KeID at the CSE, unauthenticated or foreign fetches,
malformed Mmef paths and bodies), each refused, audited, nothing issued;
and a CSE that keeps serving while its MEF does not answer. With the
PostgreSQL store (the postgresql setup) the lent key is shared through the
database, sealed: a second front-end with no MEF settings accepts the
device enrolled through the first (docs/scale-out.md)."""
import atexit
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import pg_server  # noqa: E402
import silent_source  # noqa: E402
import secure  # noqa: E402
from harness import Cse, Tap, curl, free_port, write_private  # noqa: E402

t = Tap()
MEF_BIN = os.path.abspath(os.environ.get("M2M_MEF", os.path.join(harness.BUILD, "m2m-mef")))
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
FQDN = "mef.ironbark.local"
KPM = "00112233445566778899aabbccddeeff"          # the factory bootstrap key of meter1
KPM2 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
KPM3 = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
KPM4 = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
KPM5 = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
FETCH = "ffeeddccbbaa99887766554433221100"        # the CSE's credential at the MEF
OTHER = "1234123412341234123412341234abcd"        # another server's credential at the MEF


class Mef(Cse):
    """A running m2m-mef on free loopback ports (HTTP for operators, HTTPS, CoAPS)."""

    def __init__(self, data_dir=None, **settings):
        super().__init__(data_dir=data_dir, coap_port=0, **settings)

    def args(self):
        return [MEF_BIN] + super().args()[1:]


def tool(*args, env=None, timeout=60):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=timeout, env=e)


def audit(server):
    try:
        with open(os.path.join(server.data_dir, "audit.log")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def mef_denials(server):
    return [a for a in audit(server) if a.get("decider") == "mef" and a.get("decision") == "deny"]


work = tempfile.mkdtemp(prefix="ironbark-mef-")
kpm_file = write_private(os.path.join(work, "kpm.key"), KPM + "\n")
kpm2_file = write_private(os.path.join(work, "kpm2.key"), KPM2 + "\n")
kpm3_file = write_private(os.path.join(work, "kpm3.key"), KPM3 + "\n")
kpm4_file = write_private(os.path.join(work, "kpm4.key"), KPM4 + "\n")
kpm5_file = write_private(os.path.join(work, "kpm5.key"), KPM5 + "\n")
wrong_file = write_private(os.path.join(work, "wrong.key"), "aa" * 16 + "\n")
fetch_file = write_private(os.path.join(work, "fetch.key"), FETCH + "\n")
other_file = write_private(os.path.join(work, "other.key"), OTHER + "\n")
dev_key = os.path.join(work, "dev.key")

# --- a MEF that does not answer: the CSE keeps serving ------------------------
# Its fetch runs into its timeout (5 s) while the rest of the test runs.
silent = silent_source.SilentSource(t, tool, work, "MEF", FQDN, "2")
atexit.register(silent.close)
silent.start()

mef = Mef(psk=["kpm-meter1:%s:Cmeter1" % KPM, "kpm-meter2:%s:Cmeter2" % KPM2, "kpm-meter3:%s:Cmeter3" % KPM3, "kpm-meter4:%s:Cmeter4" % KPM4, "kpm-meter5:%s:Cmeter5" % KPM5,
               "cse-in-fetch:%s:/id-in" % FETCH, "other-fetch:%s:/id-other" % OTHER],
          log_level="debug")
mef.start()
try:
    # --- the MEF at rest --------------------------------------------------
    root = os.path.join(mef.data_dir, "mef-root.key")
    t.ok(os.path.exists(root) and stat.S_IMODE(os.stat(root).st_mode) == 0o600,
         "the MEF made its root secret, owner-only", oct(os.stat(root).st_mode) if os.path.exists(root) else None)
    t.ok(os.path.exists(os.path.join(mef.data_dir, "tls", "ca.pem")), "the MEF made its own CA under its data dir")
    mef_https = "https://127.0.0.1:%d" % mef.https_port
    mef_coaps = "coaps://127.0.0.1:%d" % mef.coaps_port

    cse = Cse(psk=["cse-in-fetch:%s:/id-mef" % FETCH], coap_port=0, mef_fqdn=FQDN, mef_url=mef_coaps,
              outbound_psk="127.0.0.1:%d=cse-in-fetch" % mef.coaps_port, mef_recheck=500, log_level="debug")
    cse.start()
    try:
        cse_coaps = "coaps://127.0.0.1:%d" % cse.coaps_port

        # --- PSK bootstrap -> SAEF key -> AE over CoAPS -----------------------
        r = tool("enrol", "--mef", mef_https, "--psk-id", "kpm-meter1", "--psk-key-file", kpm_file,
                 "--from", "Cmeter1", "--target", "/id-in", "--cse", cse_coaps, "--file", dev_key,
                 "--rn", "meter1")
        t.eq(r.returncode, 0, "m2m enrol: bootstrap PSK to a registered AE (%s)" % r.stderr.strip()[-300:])
        m = re.search(r"KeID ([0-9a-f]{32}@" + re.escape(FQDN) + ")", r.stdout)
        t.ok(m is not None, "m2m enrol says which KeID it got", r.stdout)
        keid = m.group(1) if m else "none"
        t.ok("registered AE" in r.stdout and "key registered" in r.stdout, "m2m enrol says what it did", r.stdout)
        t.ok(stat.S_IMODE(os.stat(dev_key).st_mode) == 0o600 and len(open(dev_key).read().strip()) == 64,
             "the derived Kpsa is in an owner-only file, 32 bytes in hex")
        ae = cse.get("/cse-in/meter1")
        t.eq(ae.rsc, 2000, "the AE exists at the CSE")
        t.eq(((ae.json or {}).get("m2m:ae") or {}).get("aei"), "Cmeter1", "its AE-ID is the Enrolee-ID")
        log = cse.read_log()
        t.ok("fetching the key of %s" % keid in log and "bound to Cmeter1" in log,
             "the CSE fetched the key from the MEF and bound it to the Enrolee-ID")
        kpsa = open(dev_key).read().strip()
        if pg_server.enabled():
            db = pg_server.server().database_for(cse.data_dir)
            rows = pg_server.server().psql("SELECT identity, encode(key, 'hex'), until_us FROM cred_lease",
                                           db=db.split("/")[3].split("?")[0])
            t.ok(keid in rows and kpsa not in rows,
                 "the lent key is shared through the database with its end, sealed (never in the clear)", rows)
        else:
            t.ok(keid not in open(os.path.join(cse.data_dir, "credentials.db"), "rb").read().decode("latin-1"),
                 "the lent key is held in memory only, never in the CSE's credential store")
        t.ok(open(dev_key).read().strip() not in mef.read_log() + cse.read_log(), "no key in any log")

        def as_device(*args, key=dev_key, identity=None, origin="Cmeter1"):
            return tool("--url", cse_coaps, "--psk-id", identity or keid, "--psk-key-file", key, "--from", origin,
                        "--handshake-timeout", "1500", "--timeout", "4000", *args)

        r = as_device("create", "cse-in/meter1", "--ty", "3", "--body", '{"m2m:cnt":{"rn":"data"}}')
        t.ok("RSC 2001" in r.stdout, "the device writes over its enrolled credential", r.stdout + r.stderr)
        if pg_server.enabled():
            # A second front-end on the same database, with the first's root
            # key and no MEF settings (it cannot fetch the key itself).
            bdir = tempfile.mkdtemp(prefix="ironbark-test-")
            shutil.copy2(os.path.join(cse.data_dir, "credentials-root.key"), bdir)
            try:
                with Cse(data_dir=bdir, db=db, coap_port=0) as b:
                    r = tool("--url", "coaps://127.0.0.1:%d" % b.coaps_port, "--psk-id", keid, "--psk-key-file",
                             dev_key, "--from", "Cmeter1", "--handshake-timeout", "1500", "--timeout", "4000",
                             "retrieve", "cse-in/meter1/data")
                    t.ok("RSC 2000" in r.stdout and "fetching the key" not in b.read_log(),
                         "front-end B (no MEF settings) accepts the device enrolled through A", r.stdout + r.stderr)
            finally:
                shutil.rmtree(bdir, ignore_errors=True)
        r = as_device("retrieve", "cse-in/meter1", origin="Cother")
        t.ok("RSC 4106" in r.stdout, "the enrolled key speaks only for its Enrolee-ID (4106 for another)",
             r.stdout + r.stderr)

        def fetch(identity, keyfile, origin, path):
            return tool("--url", mef_coaps, "--psk-id", identity, "--psk-key-file", keyfile, "--from", origin,
                        "retrieve", path)

        # --- the MEF handshake over CoAPS, the AE over HTTPS ------------------
        r = tool("enrol", "--mef", mef_coaps, "--psk-id", "kpm-meter3", "--psk-key-file", kpm3_file,
                 "--from", "Cmeter3", "--target", "/id-in", "--cse", "https://127.0.0.1:%d" % cse.https_port,
                 "--file", os.path.join(work, "m3.key"), "--rn", "meter3")
        t.ok(r.returncode == 0 and "registered AE Cmeter3" in r.stdout,
             "m2m enrol over CoAPS (DTLS exporter), then the AE over HTTPS", r.stdout + r.stderr)
        t.eq(cse.get("/cse-in/meter3").rsc, 2000, "... the AE exists at the CSE")
        reg3 = re.search(r"MEFClientRegID (mcr-[0-9a-f]+)", r.stdout)
        keid3 = re.search(r"KeID ([0-9a-f]{32})@", r.stdout)

        def as_meter3(*args):
            return tool("--url", mef_https, "--psk-id", "kpm-meter3", "--psk-key-file", kpm3_file, "--from", "Cmeter3",
                        *args)

        reg3 = reg3.group(1) if reg3 else "none"
        r = as_meter3("update", "mefClientReg/" + reg3, "--body", '{"mef:clientReg":{"labels":["floor2"]}}')
        t.ok("RSC 2004" in r.stdout and '"floor2"' in r.stdout and "expirationTime" not in r.stdout,
             "Client Registration Update: 2004 with only what was sent", r.stdout + r.stderr)
        r = as_meter3("update", "mefClientReg/" + reg3, "--body", '{"mef:clientReg":{"adminFQDN":"x"}}')
        t.ok("RSC 4000" in r.stdout, "an Update of anything but expirationTime and labels: 4000", r.stdout)
        r = as_meter3("retrieve", "mefClientReg/" + reg3)
        t.ok("RSC 2000" in r.stdout and '"floor2"' in r.stdout and '"MEFClientID": "Cmeter3"' in r.stdout,
             "Client Configuration Retrieval shows it", r.stdout)
        r = tool("--url", mef_https, "--psk-id", "kpm-meter1", "--psk-key-file", kpm_file, "--from", "Cmeter1",
                 "retrieve", "mefClientReg/" + reg3)
        t.ok("RSC 4004" in r.stdout, "another client's registration is not visible (4004)", r.stdout)
        rel3 = keid3.group(1) if keid3 else "none"
        r = as_meter3("delete", "mefKeyReg/%s/22" % rel3)
        t.ok("RSC 2002" in r.stdout, "Key De-Registration: 2002", r.stdout + r.stderr)
        r = fetch("cse-in-fetch", fetch_file, "/id-in", "fetchCredentials/%s@%s/22" % (rel3, FQDN))
        t.ok("RSC 4103" in r.stdout, "... after which the target gets no key", r.stdout)
        r = as_meter3("delete", "mefClientReg/" + reg3)
        t.ok("RSC 2002" in r.stdout, "Client De-Registration: 2002", r.stdout + r.stderr)
        r = tool("--mef", mef.base, "mef", "show", "kpm-meter3")
        t.ok(r.returncode == 1 and "4004" in r.stdout, "... the enrolment is gone", r.stdout)

        # --- the inventory ---------------------------------------------------
        r = tool("--mef", mef.base, "mef", "list")
        t.ok(keid in r.stdout and "active" in r.stdout and "SUID 22 for //ironbark.local/id-in" in r.stdout,
             "m2m mef list shows the enrolment, its state and its key registration", r.stdout + r.stderr)
        r = tool("--mef", mef.base, "mef", "show", "kpm-meter1")
        shown = json.loads(r.stdout) if r.returncode == 0 else {}
        t.eq(shown.get("KeID"), keid, "m2m mef show finds it by its bootstrap credential")
        t.ok("Credential" not in r.stdout and KPM not in r.stdout, "the inventory shows no key material")
        r = tool("--mef", mef.base, "--from", "Cmeter1", "mef", "list")
        t.ok(r.returncode == 1 and "4103" in r.stdout, "only the MEF's admin reads the inventory", r.stdout)

        # --- the MEF's own checks (curl and m2m against it) -------------------
        r = curl("GET", mef.base + "/fetchCredentials/%s/22" % keid,
                 {"X-M2M-Origin": "/id-in", "X-M2M-RI": "f1", "X-M2M-RVI": "3"})
        t.eq(r.rsc, 4107, "fetchCredentials without an authenticated session: 4107")
        t.ok("Credential" not in r.text, "... and no key")

        r = fetch("other-fetch", other_file, "/id-other", "fetchCredentials/%s/22" % keid)
        t.ok("RSC 4103" in r.stdout and "no key registration names this target" in (r.stdout + r.stderr),
             "a server the device did not register for gets nothing (4103)", r.stdout + r.stderr)
        r = fetch("cse-in-fetch", fetch_file, "/id-in", "fetchCredentials/%s/23" % keid)
        t.ok("RSC 4103" in r.stdout, "the registered target, another SUID: 4103", r.stdout)
        r = fetch("cse-in-fetch", fetch_file, "/id-in", "fetchCredentials/%s/22" % keid)
        t.ok("RSC 2000" in r.stdout and '"Status": true' in r.stdout and '"EnroleeID": "Cmeter1"' in r.stdout,
             "the registered target fetches Status/Credential/EnroleeID/Lifetime", r.stdout)
        cred = re.search(r'"Credential": "([0-9a-f]+)"', r.stdout)
        t.eq(cred.group(1) if cred else None, open(dev_key).read().strip(),
             "the MEF's Kpsa for the CSE equals the one the device derived")
        r = fetch("cse-in-fetch", fetch_file, "/id-in", "fetchCredentials/%s/22" % ("0" * 32 + "@" + FQDN))
        t.ok("RSC 4004" in r.stdout and "unknown KeID" in (r.stdout + r.stderr), "unknown KeID at the MEF: 4004", r.stdout)
        r = fetch("cse-in-fetch", fetch_file, "/id-in", "fetchCredentials/abc")
        t.ok("RSC 4000" in r.stdout and "malformed Mmef target" in (r.stdout + r.stderr), "a malformed Mmef path: 4000",
             r.stdout + r.stderr)

        # --- bad bootstrap input ----------------------------------------------
        before = tool("--mef", mef.base, "mef", "list").stdout
        r = tool("enrol", "--mef", mef_https, "--psk-id", "kpm-meter2", "--psk-key-file", wrong_file,
                 "--from", "Cmeter2", "--target", "/id-in", "--file", os.path.join(work, "x.key"))
        t.ok(r.returncode == 2 and "handshake" in (r.stdout + r.stderr), "a wrong bootstrap key: no MEF handshake",
             r.stdout + r.stderr)
        t.eq(tool("--mef", mef.base, "mef", "list").stdout, before, "... and nothing enrolled")
        t.ok(not os.path.exists(os.path.join(work, "x.key")), "... and no key file written")

        def register(body, origin="Cmeter2", key=kpm2_file, identity="kpm-meter2"):
            return tool("--url", mef_https, "--psk-id", identity, "--psk-key-file", key, "--from", origin,
                        "create", "mefClientReg", "--ty", "950", "--body", json.dumps(body))

        reg = {"mef:clientReg": {"MEF-FQDN": FQDN, "adminFQDN": FQDN, "expirationTime": "20991231T000000",
                                 "relativeKeID": keid.split("@")[0]}}
        r = register(reg, origin="Cmeter1", key=kpm_file, identity="kpm-meter1")
        t.ok("RSC 4000" in r.stdout and "no fresh MEF handshake" in (r.stdout + r.stderr),
             "a replayed Client Registration (another session's RelativeKeID): refused", r.stdout + r.stderr)
        bad = dict(reg["mef:clientReg"], relativeKeID="zz" * 16)
        r = register({"mef:clientReg": bad})
        t.ok("RSC 4000" in r.stdout and "relativeKeID" in (r.stdout + r.stderr), "a malformed relativeKeID: 4000", r.stderr)
        bad = dict(reg["mef:clientReg"], expirationTime="20200101T000000")
        r = register({"mef:clientReg": bad})
        t.ok("RSC 4000" in r.stdout and "expirationTime has passed" in (r.stdout + r.stderr), "an expired enrolment request: 4000",
             r.stderr)
        bad = dict(reg["mef:clientReg"], **{"MEF-FQDN": "evil.example"})
        r = register({"mef:clientReg": bad})
        t.ok("RSC 4000" in r.stdout and "not this MEF" in (r.stdout + r.stderr), "another MEF-FQDN: 4000", r.stderr)
        r = register({"m2m:ae": {}})
        t.ok("RSC 4000" in r.stdout and "mef:clientReg" in (r.stdout + r.stderr), "not an Mmef body: 4000", r.stderr)
        r = register(reg, origin="Cintruder")
        t.ok("RSC 4106" in r.stdout, "an Enrolee-ID the bootstrap credential may not claim: 4106", r.stdout)
        t.eq(tool("--mef", mef.base, "mef", "list").stdout, before, "none of those enrolled anything")
        denials = mef_denials(mef)
        t.ok(len(denials) >= 8 and all(d.get("reason") for d in denials),
             "every refusal is in the MEF's audit log with its reason", len(denials))

        # --- an enrolment that expires ----------------------------------------
        r = tool("enrol", "--mef", mef_https, "--psk-id", "kpm-meter2", "--psk-key-file", kpm2_file,
                 "--from", "Cmeter2", "--target", "/id-in", "--lifetime", "PT2S", "--file", os.path.join(work, "m2.key"))
        t.eq(r.returncode, 0, "a short enrolment (2 s) is granted (%s)" % r.stderr.strip())
        m2 = re.search(r"KeID ([0-9a-f]{32}@\S+),", r.stdout)
        until = re.search(r"until (\d{8}T\d{6})", r.stdout)   # the expirationTime the MEF granted
        if until:
            harness.sleep_past(until.group(1))
        else:
            time.sleep(2.5)
        r = tool("--url", mef_https, "--psk-id", "kpm-meter2", "--psk-key-file", kpm2_file, "--from", "Cmeter2",
                 "create", "mefKeyReg", "--ty", "951", "--body", json.dumps({"mef:keyReg": {
                     "MEF-FQDN": FQDN, "adminFQDN": FQDN, "expirationTime": "20991231T000000", "SUID": 22,
                     "targetIDs": ["/id-in"]}}))
        t.ok("RSC 4103" in r.stdout and "expired" in (r.stdout + r.stderr), "Key Registration on an expired enrolment: refused",
             r.stdout + r.stderr)
        r = fetch("cse-in-fetch", fetch_file, "/id-in", "fetchCredentials/%s/22" % (m2.group(1) if m2 else "x"))
        t.ok("RSC 4103" in r.stdout and "expired" in (r.stdout + r.stderr), "an expired enrolment's key is not handed out",
             r.stdout + r.stderr)

        # --- unknown KeID at the CSE ------------------------------------------
        stranger = write_private(os.path.join(work, "stranger.key"), "bb" * 32 + "\n")
        unknown = "1" * 32 + "@" + FQDN
        r = as_device("retrieve", "cse-in", identity=unknown, key=stranger)
        t.eq(r.returncode, 2, "an unknown KeID: the CoAPS handshake fails at the CSE")
        deadline = time.time() + 5
        while time.time() < deadline and "no key for %s" % unknown not in cse.read_log():
            time.sleep(0.1)
        t.ok("no key for %s: the MEF answered 4004" % unknown in cse.read_log(),
             "... the CSE asked the MEF, which knows no such KeID")
        t.ok(any(a.get("originator") == unknown and a.get("decision") == "deny" and "4004" in a.get("reason", "")
                 for a in audit(cse)), "... and audited the refusal")
        r = as_device("retrieve", "cse-in", identity=unknown, key=stranger)
        t.eq(r.returncode, 2, "... and the retry fails too")

        # --- certificate enrolment (EST) -------------------------------------
        r = tool("enrol", "--mef", mef_https, "--psk-id", "kpm-meter4", "--psk-key-file", kpm4_file,
                 "--from", "Cmeter4", "--target", "/id-in", "--file", os.path.join(work, "m4.key"))
        m4 = re.search(r"KeID ([0-9a-f]{32}@\S+),", r.stdout)
        keid4 = m4.group(1) if m4 else "none"
        mef_ca = os.path.join(mef.data_dir, "tls", "ca.pem")
        est = "https://localhost:%d/.well-known/est/" % mef.https_port
        curl_tls = ["--cacert", mef_ca, "--resolve", "localhost:%d:127.0.0.1" % mef.https_port]

        def openssl(*args, data=None):
            return subprocess.run(["openssl"] + list(args), input=data, capture_output=True, timeout=30)

        def csr(name, san, password, key=None):
            """A base64 DER PKCS#10 request made with `openssl req` (as an EST client would)."""
            key = key or secure.make_key(os.path.join(work, name + ".key"))
            cnf = os.path.join(work, name + ".cnf")
            with open(cnf, "w") as f:
                f.write("[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\nreq_extensions = ext\n"
                        "[dn]\nCN = %s\n[attrs]\n%s[ext]\nsubjectAltName = URI:%s\n"
                        % (name, "challengePassword = %s\n" % password if password else "", san))
            der = openssl("req", "-new", "-key", key, "-config", cnf, "-outform", "DER").stdout
            return __import__("base64").b64encode(der).decode(), key

        def est_psk(op, body, identity="kpm-meter4", key=KPM4):
            req = ("POST /.well-known/est/%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/pkcs10\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (op, len(body), body)).encode()
            p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % mef.https_port, "-psk_identity",
                                identity, "-psk", key, "-tls1_3", "-ign_eof", "-quiet"], input=req,
                               capture_output=True, timeout=20)
            out = p.stdout.decode(errors="replace")
            status = int(out.split(" ")[1]) if out.startswith("HTTP/1.1 ") else -1
            return status, out.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in out else out

        def certs_of(b64, name):
            """PKCS#7 certs-only (base64) -> PEM file, with openssl pkcs7."""
            pem = os.path.join(work, name + ".pem")
            p = openssl("pkcs7", "-inform", "DER", "-print_certs", "-out", pem,
                        data=__import__("base64").b64decode(b64.strip()))
            return pem if p.returncode == 0 else None

        r = curl("GET", est + "cacerts", extra=curl_tls)
        ca_from_est = certs_of(r.text, "cacerts") if r.status == 200 else None
        t.ok(ca_from_est and open(ca_from_est).read().count("BEGIN CERTIFICATE") == 1 and
             r.headers.get("content-type", "").startswith("application/pkcs7-mime"),
             "EST /cacerts (curl): PKCS#7 certs-only with the MEF's CA, read by openssl pkcs7", r)
        r = curl("GET", est + "csrattrs", extra=curl_tls)
        attrs = openssl("asn1parse", "-inform", "DER", data=__import__("base64").b64decode(r.text)).stdout.decode()
        t.ok("challengePassword" in attrs and "Subject Alternative Name" in attrs,
             "EST /csrattrs: challengePassword and the identity attribute (subjectAltName)", attrs)
        issued_before = len([a for a in audit(mef) if a.get("op") == "est" and a.get("decision") == "grant"])
        body, _ = csr("bad-san", "Cother", keid4)
        st, text = est_psk("simpleenroll", body)
        t.ok(st == 400 and "subjectAltName" in text, "EST: a CSR whose SAN claims another identity is refused", text)
        body, _ = csr("bad-pw", "Cmeter4", "not-the-keid")
        st, text = est_psk("simpleenroll", body)
        t.ok(st == 400 and "challengePassword" in text, "EST: a bad challengePassword is refused", text)
        st, text = est_psk("simpleenroll", "!!!not base64!!!")
        t.ok(st == 400 and "base64" in text, "EST: malformed base64 is refused", text)
        st, text = est_psk("simpleenroll", "AAAA" * 8)
        t.ok(st == 400 and "DER" in text, "EST: malformed DER is refused", text)
        body, dev4_key = csr("meter4", "Cmeter4", keid4)
        r = curl("POST", est + "simpleenroll", {"Content-Type": "application/pkcs10"}, body, extra=curl_tls)
        t.eq(r.status, 401, "EST simpleenroll without the MEF handshake (plain TLS): 401")
        t.eq(len([a for a in audit(mef) if a.get("op") == "est" and a.get("decision") == "grant"]), issued_before,
             "none of those issued anything")
        t.ok(len([a for a in audit(mef) if a.get("op") == "est" and a.get("decision") == "deny"]) >= 5,
             "... and each refusal is audited")
        st, text = est_psk("simpleenroll", body)
        cert4 = certs_of(text, "meter4-cert") if st == 200 else None
        t.ok(cert4 is not None, "EST simpleenroll over TLS-PSK (openssl req + openssl s_client): a certificate", text[:300])
        if cert4:
            v = openssl("verify", "-CAfile", mef_ca, cert4)
            t.ok(v.returncode == 0, "openssl verify: it chains to the MEF's CA", v.stdout + v.stderr)
            ext = openssl("x509", "-in", cert4, "-noout", "-ext", "subjectAltName,keyUsage").stdout.decode()
            t.ok("URI:Cmeter4" in ext and "Digital Signature" in ext, "its SAN carries the AE-ID", ext)
            crl = os.path.join(mef.data_dir, "tls", "crl.pem")
            with Cse(coap_port=0, trusted_ca=mef_ca, crl_file=crl) as cse2:
                opts = cse2.https_curl_options() + ["--cert", cert4, "--key", dev4_key]
                r = cse2.create("/cse-in", 2, {"m2m:ae": {"rn": "meter4", "api": "Nm4", "rr": False, "srv": ["3"]}},
                                origin="Cmeter4", base=cse2.https_base, curl_extra=opts)
                t.rsc(r, 2001, 201, "an AE registers over HTTPS with the EST certificate (CSE trusts the MEF's CA, checks its CRL)")
                r = cse2.get("/cse-in/meter4", origin="Cother", base=cse2.https_base, curl_extra=opts)
                t.rsc(r, 4106, 403, "... bound to the AE-ID in its SAN (4106 for another)")
                def coaps_cert(cert):
                    return tool("--url", "coaps://127.0.0.1:%d" % cse2.coaps_port, "--ca", cse2.tls_ca, "--cert", cert,
                                "--key", dev4_key, "--from", "Cmeter4", "--handshake-timeout", "1500",
                                "retrieve", "cse-in/meter4")
                r = coaps_cert(cert4)
                t.ok("RSC 2000" in r.stdout, "the EST certificate works over CoAPS too (DTLS, CRL checked)",
                     r.stdout + r.stderr)
                body2, key2 = csr("meter4b", "Cmeter4", keid4)
                r = curl("POST", est + "simplereenroll", {"Content-Type": "application/pkcs10"}, body2,
                         extra=curl_tls + ["--cert", cert4, "--key", dev4_key])
                t.ok(r.status == 200 and certs_of(r.text, "meter4b-cert"),
                     "EST simplereenroll with the issued certificate (curl --cert): a new certificate", r)
                # Revocation reaches certificates through the MEF's CRL.
                r = tool("--mef", mef.base, "mef", "revoke", keid4)
                t.eq(r.returncode, 0, "m2m mef revoke of the certificate holder")
                served = curl("GET", mef.base + "/mef/crl.pem")
                t.ok(served.status == 200 and "BEGIN X509 CRL" in served.text, "the MEF serves its CRL (/mef/crl.pem)")
                v = openssl("verify", "-crl_check", "-CAfile", mef_ca, "-CRLfile", crl, cert4)
                t.ok(v.returncode != 0 and b"revoked" in v.stdout + v.stderr,
                     "openssl verify -crl_check: the certificate is revoked", v.stdout + v.stderr)
                r = cse2.get("/cse-in/meter4", origin="Cmeter4", base=cse2.https_base, curl_extra=opts)
                t.eq(r.status, -1, "the CSE refuses the revoked certificate's handshake (CRL reread)")
                r = coaps_cert(cert4)
                t.ok(r.returncode == 2 and "RSC" not in r.stdout, "... over CoAPS too", r.stdout + r.stderr)
                r = curl("POST", est + "simplereenroll", {"Content-Type": "application/pkcs10"}, body2,
                         extra=curl_tls + ["--cert", os.path.join(work, "meter4b-cert.pem"), "--key", key2])
                t.eq(r.status, 403, "a revoked enrolment gets no re-enrolment")

        # m2m enrol runs EST itself with --est-cert.
        cert5 = os.path.join(work, "meter5.pem")
        r = tool("enrol", "--mef", mef_https, "--psk-id", "kpm-meter5", "--psk-key-file", kpm5_file,
                 "--from", "Cmeter5", "--target", "/id-in", "--file", os.path.join(work, "m5.key"), "--est-cert", cert5)
        t.ok(r.returncode == 0 and "certificate (EST)" in r.stdout, "m2m enrol --est-cert: a certificate over EST",
             r.stdout + r.stderr)
        v = openssl("verify", "-CAfile", mef_ca, cert5)
        ext = openssl("x509", "-in", cert5, "-noout", "-ext", "subjectAltName").stdout.decode() if v.returncode == 0 else ""
        t.ok(v.returncode == 0 and "URI:Cmeter5" in ext and
             stat.S_IMODE(os.stat(cert5 + ".key").st_mode) == 0o600,
             "... it verifies against the MEF's CA, carries the AE-ID, its key is owner-only", ext)

        # --- revocation ------------------------------------------------------
        r = as_device("retrieve", "cse-in/meter1")
        t.ok("RSC 2000" in r.stdout, "before revocation the device is served", r.stdout + r.stderr)
        # A live HTTPS session of the device (TLS 1.3 PSK, kept open), served once before the revocation.
        live = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % cse.https_port, "-servername",
                                 "localhost", "-psk_identity", keid, "-psk", open(dev_key).read().strip(), "-tls1_3",
                                 "-ign_eof", "-quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        live.stdin.write(b"GET /cse-in/meter1 HTTP/1.1\r\nHost: localhost\r\nX-M2M-Origin: Cmeter1\r\n"
                         b"X-M2M-RI: live-1\r\nX-M2M-RVI: 3\r\n\r\n")
        live.stdin.flush()
        time.sleep(1)
        t.ok(live.poll() is None, "the device holds a live HTTPS session with its enrolled key")
        r = tool("--mef", mef.base, "mef", "revoke", keid)
        t.eq(r.returncode, 0, "m2m mef revoke (%s)" % r.stdout.strip())
        deadline = time.time() + 10
        while time.time() < deadline and "%s withdrawn" % keid not in cse.read_log():
            time.sleep(0.1)
        t.ok("%s withdrawn" % keid in cse.read_log(), "the CSE learns of the revocation (mef-recheck) and withdraws the key")
        try:
            live_out, _ = live.communicate(timeout=5)
            ended = True            # s_client ended by itself: the server closed the session
        except subprocess.TimeoutExpired:
            live.kill()
            live_out, _ = live.communicate()
            ended = False
        t.ok(b"HTTP/1.1 200" in live_out and ended and "closed 1 HTTPS connection" in cse.read_log(),
             "the live session was served, then cut off by the CSE when the key was withdrawn", live_out[-300:])
        r = as_device("retrieve", "cse-in/meter1")
        t.ok(r.returncode != 0 and "RSC 2000" not in r.stdout, "the revoked device is refused afterwards",
             r.stdout + r.stderr)
        r = tool("--mef", mef.base, "mef", "show", keid)
        t.ok('"state": "revoked"' in r.stdout, "the inventory shows it revoked", r.stdout)

        # --- re-enrolment: a new enrolment replaces the revoked one ---------
        r = tool("enrol", "--mef", mef_https, "--psk-id", "kpm-meter1", "--psk-key-file", kpm_file,
                 "--from", "Cmeter1", "--target", "/id-in", "--file", os.path.join(work, "dev2.key"))
        m3 = re.search(r"KeID ([0-9a-f]{32}@\S+),", r.stdout)
        t.ok(r.returncode == 0 and m3 and m3.group(1) != keid, "re-enrolment gives a new KeID", r.stdout + r.stderr)
        if m3:
            for _ in range(20):   # the first handshakes fail while the CSE fetches the new key
                r = as_device("retrieve", "cse-in/meter1", identity=m3.group(1), key=os.path.join(work, "dev2.key"))
                if r.returncode != 2:
                    break
                time.sleep(0.25)
            t.ok("RSC 2000" in r.stdout, "the re-enrolled device continues with its new key", r.stdout + r.stderr)
    finally:
        cse_rc = cse.stop()
    t.eq(cse_rc, 0, "m2m-cse stops cleanly on SIGTERM (no sanitizer report)")
finally:
    mef_rc = mef.stop()
t.eq(mef_rc, 0, "m2m-mef stops cleanly on SIGTERM (no sanitizer report)")

silent.finish()
t.done()
