"""m2m-maf, the M2M Authentication Function (maf/, docs/security.md "MAF"),
with real processes on loopback: devices and an m2m-cse that share no
secret, each holding only its own Km with the MAF, meet through it
(MAF-based SAEF): `m2m maf register`, `m2m --maf` registers a connection key
(Kc exported with "EXPORTER-oneM2M-Connection") for the CSE and uses
<RelativeKeyID>@<maf-fqdn> as its PSK identity over CoAPS and HTTPS; the CSE
retrieves Kc from the MAF (CoAPS, outbound-psk = its Km), checks target and
usage, binds the session to the Source MAF Client ID (4106 for another
From). Refused: a key for another target, a key for another usage, an
expired or de-registered key, a non-target asking for a key, an unknown key
ID, a malformed identity or path, a replayed registration; each audited,
nothing disclosed. A silent MAF does not stall the CSE."""
import atexit
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import silent_source  # noqa: E402
from harness import Cse, Maf, Tap, write_private  # noqa: E402

t = Tap()
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
FQDN = "maf.ironbark.local"
KM1 = "00112233445566778899aabbccddeeff"          # device 1's Km
KM2 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"          # device 2's Km
KMCSE = "ffeeddccbbaa99887766554433221100"        # the CSE's Km
KMOTHER = "1234123412341234123412341234abcd"      # another CSE's Km


def tool(*args, timeout=60):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=timeout)


def audit(server, decider):
    try:
        with open(os.path.join(server.data_dir, "audit.log")) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []
    return [a for a in rows if a.get("decider") == decider and a.get("decision") == "deny"]


work = tempfile.mkdtemp(prefix="ironbark-maf-")
km1 = write_private(os.path.join(work, "km1.key"), KM1 + "\n")
km2 = write_private(os.path.join(work, "km2.key"), KM2 + "\n")
kmother = write_private(os.path.join(work, "kmother.key"), KMOTHER + "\n")

# --- a MAF that does not answer: the CSE keeps serving ------------------------
# Its fetch runs into its timeout (5 s) while the rest of the test runs.
silent = silent_source.SilentSource(t, tool, work, "MAF", FQDN, "3")
atexit.register(silent.close)
silent.start()

maf = Maf(psk=["km-dev1:%s:Cdev1" % KM1, "km-dev2:%s:Cdev2" % KM2, "km-cse-in:%s:/id-in" % KMCSE,
               "km-other:%s:/id-other" % KMOTHER], log_level="debug")
maf.start()
try:
    maf_https = "https://127.0.0.1:%d" % maf.https_port
    maf_coaps = "coaps://127.0.0.1:%d" % maf.coaps_port

    def dev1(*args, url=maf_https):
        return tool("--maf", url, "--psk-id", "km-dev1", "--psk-key-file", km1, "--from", "Cdev1", *args)

    # --- MAF client registration, configuration, update ------------------------
    r = dev1("maf", "register")
    t.eq(r.returncode, 0, "m2m maf register: MAF Client Registration over the MAF handshake (%s)" % r.stderr[-200:])
    m = re.search(r"mafClientRegID (mafcr-[0-9a-f]+)", r.stdout)
    reg1 = m.group(1) if m else "none"
    t.ok(m and "as Cdev1" in r.stdout, "the MAF names the registration and the client it vouches for", r.stdout)
    r = tool("--url", maf_https, "--psk-id", "km-dev1", "--psk-key-file", km1, "--from", "Cdev1",
             "retrieve", "mafClientReg/" + reg1)
    t.ok("RSC 2000" in r.stdout and "maf:clientCfg" in r.stdout, "Client Configuration Retrieval", r.stdout)
    r = tool("--url", maf_https, "--psk-id", "km-dev1", "--psk-key-file", km1, "--from", "Cdev1",
             "update", "mafClientReg/" + reg1, "--body", '{"maf:clientReg":{"labels":["floor2"]}}')
    t.ok("RSC 2004" in r.stdout and "floor2" in r.stdout, "Client Registration Update (labels)", r.stdout)
    r = tool("--url", maf_https, "--psk-id", "km-dev2", "--psk-key-file", km2, "--from", "Cdev2",
             "retrieve", "mafClientReg/" + reg1)
    t.ok("RSC 4004" in r.stdout, "another client cannot read the registration", r.stdout)
    r = tool("--url", maf_https, "--from", "Cdev1", "create", "mafClientReg", "--ty", "952",
             "--body", '{"maf:clientReg":{"MAF-FQDN":"%s","adminFQDN":"x","expirationTime":"20991231T000000"}}' % FQDN)
    t.ok("RSC 4000" in r.stdout or "RSC 4107" in r.stdout or r.returncode == 2,
         "no MAF procedure without the MAF handshake", r.stdout + r.stderr)
    t.ok(tool("--maf", maf_https, "--psk-id", "km-dev2", "--psk-key-file", km2, "--from", "Cdev2",
              "maf", "register").returncode == 0, "device 2 registers too")

    cse = Cse(psk=["km-cse-in:%s:/id-maf" % KMCSE], coap_port=0, maf_fqdn=FQDN, maf_url=maf_coaps,
              outbound_psk="127.0.0.1:%d=km-cse-in" % maf.coaps_port, mef_recheck=500, log_level="debug")
    cse.start()
    try:
        cse_coaps = "coaps://127.0.0.1:%d" % cse.coaps_port
        cse_https = "https://127.0.0.1:%d" % cse.https_port

        # --- MAF-based SAEF over CoAPS --------------------------------------------
        r = dev1("--url", cse_coaps, "--target", "/id-in", "--handshake-timeout", "1500",
                 "create", "cse-in", "--ty", "2", "--body", '{"m2m:ae":{"rn":"dev1","api":"Ndev","rr":false,"srv":["3"]}}')
        t.ok("RSC 2001" in r.stdout, "m2m --maf: a device and a CSE that share no secret meet through the MAF (CoAPS)",
             r.stdout + r.stderr[-400:])
        m = re.search(r"Key Identifier ([0-9a-f]{32})@" + re.escape(FQDN), r.stdout)
        rel1 = m.group(1) if m else "none"
        t.ok(m is not None, "the Key Identifier is hex(KcID)@MAF-FQDN", r.stdout)
        log = cse.read_log()
        t.ok("fetching the key of %s@%s from the MAF" % (rel1, FQDN) in log and "bound to Cdev1" in log,
             "the CSE retrieved Kc from the MAF and bound the session to the Source MAF Client ID",
             "\n".join(line for line in log.splitlines() if "enrolment" in line or "maf" in line)[-1500:])
        ae = cse.get("/cse-in/dev1")
        t.eq(((ae.json or {}).get("m2m:ae") or {}).get("aei"), "Cdev1", "the AE's AE-ID is the source client's ID")

        # --- the same with the key in a file, over HTTPS; 4106 for another From ----
        key1 = os.path.join(work, "dev1.key")
        r = dev1("maf", "key", "add", "--target", "/id-in", "--file", key1)
        t.ok(r.returncode == 0, "m2m maf key add writes Kc to an owner-only file", r.stdout + r.stderr)
        m = re.search(r"--psk-id (\S+)", r.stdout)
        kid = m.group(1) if m else "none"
        t.eq(os.stat(key1).st_mode & 0o777, 0o600, "the key file is 0600")

        def attempt(url, *args, identity=None, key=key1, origin="Cdev1"):
            return tool("--url", url, "--psk-id", identity or kid, "--psk-key-file", key, "--from", origin,
                        "--handshake-timeout", "1500", "--timeout", "4000", *args)

        def with_key(url, *args, **kw):
            last = None
            for _ in range(20):      # the first handshakes fail while the CSE retrieves the key
                last = attempt(url, *args, **kw)
                if last.returncode != 2:
                    return last
                time.sleep(0.25)
            return last

        def fetches(ident):
            """The CSE's fetches of ident from the MAF and how each ended, in
            log order (security/enrol_target.c): "fetching", then "known",
            "refused" (no key, or an unusable one) or "unreachable"."""
            story = []
            for line in cse.read_log().splitlines():
                if "enrolment: fetching the key of %s from the MAF" % ident in line:
                    story.append("fetching")
                elif "enrolment: %s is now known" % ident in line:
                    story.append("known")
                elif "enrolment: no key for %s:" % ident in line or "key for %s is unusable" % ident in line:
                    story.append("refused")
                elif "is unreachable for %s:" % ident in line:
                    story.append("unreachable")
            return story

        def refused(url, *args, identity, key, seconds=30):
            """Presents identity until the CSE's refusal is final; returns the
            last attempt and whether it was. Final: the CSE turned the
            handshake down (it did not just time out) while its last fetch of
            the identity had ended in a refusal and no other had begun (the
            handshake's round logs the fetch it starts: read_log shows it).
            A handshake that failed while a fetch was under way, or that began
            one, proves nothing: the fetch's end is awaited, then one more
            attempt. A handshake that succeeds ends it at once (not refused)."""
            deadline = time.time() + seconds
            while True:
                before = fetches(identity)
                r = attempt(url, *args, identity=identity, key=key)
                if r.returncode != 2:
                    return r, False
                answered = not any(x in r.stderr for x in ("not completed within", "within the handshake timeout"))
                if answered and before[-1:] == ["refused"] and fetches(identity) == before:
                    return r, True
                if time.time() > deadline:
                    return r, False
                harness.wait_for(lambda: fetches(identity)[-1:] != ["fetching"], seconds=10, step=0.05)
                time.sleep(0.05)

        r = with_key(cse_https, "create", "cse-in/dev1", "--ty", "3", "--body", '{"m2m:cnt":{"rn":"data"}}')
        t.ok("RSC 2001" in r.stdout, "MAF-based SAEF over HTTPS", r.stdout + r.stderr[-300:])
        r = with_key(cse_coaps, "retrieve", "cse-in/dev1", origin="Cmallory")
        t.ok("RSC 4106" in r.stdout, "the MAF key speaks only for its source (4106 for another From)", r.stdout)
        t.ok(open(key1).read().strip() not in maf.read_log() + cse.read_log(), "no key in any log")

        r = dev1("maf", "key", "list")
        t.ok(kid in r.stdout and "/id-in" in r.stdout and "Key Value" not in r.stdout,
             "m2m maf key list: the source's keys, never their values", r.stdout)

        # --- no impersonation: a key for another target, for another usage ------
        def refused_at_cse(target, suid, what, why):
            kf = os.path.join(work, "k-%s-%s.key" % (suid, len(what)))
            r = dev1("maf", "key", "add", "--target", target, "--suid", suid, "--file", kf)
            m = re.search(r"(?:--psk-id|--esprim) (\S+)", r.stdout)
            ident = m.group(1) if m else "x"
            before = len(audit(cse, "maf"))
            r, final = refused(cse_coaps, "retrieve", "cse-in", identity=ident, key=kf)
            deadline = time.time() + 5
            while time.time() < deadline and len(audit(cse, "maf")) == before:
                time.sleep(0.1)
            r2, final2 = refused(cse_coaps, "retrieve", "cse-in", identity=ident, key=kf)
            reasons = [a.get("reason", "") + json.dumps(a) for a in audit(cse, "maf")[before:]]
            t.ok(r.returncode == 2 and r2.returncode == 2 and final and final2
                 and any(ident in x and why in x for x in reasons),
                 "%s: refused at the CSE, audited (%s)" % (what, why),
                 "%s %s %s" % (r.stdout + r2.stdout, fetches(ident), reasons))
            return ident

        refused_at_cse("/id-other", "32", "a key registered for another target", "4103")
        refused_at_cse("/id-in", "33", "a key registered for ESPrim, not SAEF", "another usage")

        # --- the MAF: non-target, unknown ID, malformed path, replay ------------
        def as_other(*args):
            return tool("--url", maf_coaps, "--psk-id", "km-other", "--psk-key-file", kmother, "--from", "/id-other",
                        *args)

        before = len(audit(maf, "maf"))
        r = as_other("retrieve", "mafKeyReg/" + rel1)
        t.ok("RSC 4103" in r.stdout and "Key Value" not in r.stdout, "a non-target asking for a key: 4103, no key",
             r.stdout)
        r2 = as_other("retrieve", "mafKeyReg/" + "0" * 32)
        t.ok("RSC 4103" in r2.stdout and r.stdout.replace(rel1, "X") == r2.stdout.replace("0" * 32, "X"),
             "an unknown key ID: the same answer (nothing disclosed about which keys exist)", r2.stdout)
        r = as_other("retrieve", "mafKeyReg/a*b")
        t.ok("RSC 4000" in r.stdout, "a malformed Mmaf path: 4000", r.stdout)
        t.ok(len(audit(maf, "maf")) >= before + 3, "each refusal audited at the MAF")
        replay = {"maf:keyReg": {"MAF-FQDN": FQDN, "adminFQDN": FQDN, "expirationTime": "20991231T000000",
                                 "SUID": 32, "targetIDs": ["/id-in"], "relativeKeyID": rel1}}
        r = tool("--url", maf_https, "--psk-id", "km-dev1", "--psk-key-file", km1, "--from", "Cdev1",
                 "create", "mafKeyReg", "--ty", "953", "--body", json.dumps(replay))
        t.ok("RSC 4000" in r.stdout and "no fresh MAF handshake" in r.stdout + r.stderr,
             "a replayed Key Registration: refused", r.stdout + r.stderr)
        r = tool("--url", cse_coaps, "--psk-id", "zz@" + FQDN, "--psk-key-file", key1, "--from", "Cdev1",
                 "--handshake-timeout", "1500", "retrieve", "cse-in")
        t.ok(r.returncode == 2 and "zz@" not in cse.read_log().split("fetching the key of")[-1][:40],
             "a malformed identity is not looked up", r.stderr[-200:])

        # --- de-registration and expiry ---------------------------------------
        r = dev1("maf", "key", "revoke", kid.split("@")[0])
        t.ok(r.returncode == 0, "m2m maf key revoke: Key De-Registration", r.stdout + r.stderr)
        deadline = time.time() + 10
        while time.time() < deadline and "%s withdrawn" % kid not in cse.read_log():
            time.sleep(0.1)
        t.ok("%s withdrawn" % kid in cse.read_log(), "the CSE learns of it (recheck) and withdraws the key")
        r, final = refused(cse_coaps, "retrieve", "cse-in/dev1", identity=kid, key=key1)
        t.ok(r.returncode == 2 and final, "a de-registered key is refused", "%s %s" % (r.stdout, fetches(kid)))

        short = os.path.join(work, "short.key")
        r = dev1("maf", "key", "add", "--target", "/id-in", "--lifetime", "PT3S", "--file", short)
        m = re.search(r"--psk-id (\S+)", r.stdout)
        skid = m.group(1) if m else "x"
        until = re.search(r"until (\d{8}T\d{6})", r.stdout)   # the expirationTime the MAF granted
        r = with_key(cse_coaps, "retrieve", "cse-in/dev1", identity=skid, key=short)
        t.ok("RSC 2000" in r.stdout, "a short-lived key works while it lives", r.stdout + r.stderr[-200:])
        if until:
            harness.sleep_past(until.group(1))
        else:
            time.sleep(3.5)
        r, final = refused(cse_coaps, "retrieve", "cse-in/dev1", identity=skid, key=short)
        t.ok(r.returncode == 2 and final, "after its expirationTime the key is refused",
             "%s %s" % (r.stdout, fetches(skid)))

        r = tool("--url", maf_https, "--psk-id", "km-dev1", "--psk-key-file", km1, "--from", "Cdev1",
                 "delete", "mafClientReg/" + reg1)
        t.ok("RSC 2002" in r.stdout, "MAF Client De-Registration", r.stdout)
        r = dev1("maf", "key", "list")
        t.ok(r.returncode == 1 and "4004" in r.stdout, "... then no procedure until it registers again", r.stdout)
        cse_rc = cse.stop()
    finally:
        if cse.proc and cse.proc.poll() is None:
            cse.stop()
    t.eq(cse_rc, 0, "m2m-cse stops cleanly")
finally:
    maf_rc = maf.stop()
t.eq(maf_rc, 0, "m2m-maf stops cleanly")

silent.finish()
t.done()
