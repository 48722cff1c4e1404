"""MAF-established keys between two CSEs (issue 12, docs/cse-to-cse.md "With a
MAF"), with real processes on loopback: an MN-CSE that shares no key with its
registrar IN-CSE registers at m2m-maf with its Km (From /id-mn), registers a
connection key for /id-in (SUID 32) there, and registers at the IN over CoAPS
presenting <RelativeKeyID>@<maf-fqdn> (and, renewed, over HTTPS); the IN retrieves Kc from the MAF,
binds the connection to the key's source (/id-mn) and the registration's
CSE-ID check passes. Refused: a key whose source is another CSE cannot
register as /id-mn (4106); a de-registered key is withdrawn at the IN and the
MN's next registration check fails."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Cse, Maf, Tap, wait_for, write_private  # noqa: E402

t = Tap()
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
FQDN = "maf.ironbark.local"
KM_IN = "ffeeddccbbaa99887766554433221100"      # the IN-CSE's Km (its only key, shared with the MAF)
KM_MN = "00112233445566778899aabbccddeeff"      # the MN-CSE's Km
KM_X = "1234123412341234123412341234abcd"       # another CSE's Km


def tool(*args):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=60)


def csr(cse, ri):
    r = cse.get("/~/%s/%s" % (cse.settings["cse_id"], ri), origin="CAdmin")
    return r.rsc, ((r.json or {}).get("m2m:csr") or {})


work = tempfile.mkdtemp(prefix="c2c-maf-")
km_mn = write_private(os.path.join(work, "km-mn.key"), KM_MN + "\n")
km_x = write_private(os.path.join(work, "km-x.key"), KM_X + "\n")

maf = Maf(psk=["km-in:%s:/id-in" % KM_IN, "km-mn:%s:/id-mn" % KM_MN, "km-x:%s:/id-x" % KM_X])
maf.start()
inn = mn = None
try:
    maf_coaps = "coaps://127.0.0.1:%d" % maf.coaps_port

    def key_for_in(km_id, km_file, origin, name):
        """MAF Client Registration + Key Registration for /id-in; (Key Identifier, Kc hex)."""
        as_client = ["--maf", maf_coaps, "--psk-id", km_id, "--psk-key-file", km_file, "--from", origin,
                     "--handshake-timeout", "1500"]
        r = tool("maf", "register", *as_client)          # as docs/cse-to-cse.md writes it
        if r.returncode:
            return None, r.stdout + r.stderr
        kf = os.path.join(work, name)
        r = tool("maf", "key", "add", *as_client, "--target", "/id-in", "--lifetime", "P7D", "--file", kf)
        m = re.search(r"^connect with --psk-id (\S+)", r.stdout, re.M)
        return (m.group(1), open(kf).read().strip()) if m and not r.returncode else (None, r.stdout + r.stderr)

    # The MN's step: its Km at the MAF gives a connection key for /id-in.
    kid, kc = key_for_in("km-mn", km_mn, "/id-mn", "mn-in.key")
    t.ok(kid is not None and kid.endswith("@" + FQDN), "the MN registers at the MAF and a key for /id-in",
         kc if kid is None else "")

    # The IN knows only its own Km, with the MAF.
    inn = Cse(cse_id="id-in", cse_name="cse-in", psk=["km-in:%s:/id-maf" % KM_IN], maf_fqdn=FQDN, maf_url=maf_coaps,
              outbound_psk="127.0.0.1:%d=km-in" % maf.coaps_port, mef_recheck=300, log_level="debug")
    inn.start()
    in_coaps = "coaps://127.0.0.1:%d" % inn.coaps_port
    mn = Cse(cse_id="id-mn", cse_name="cse-mn", cse_type=2, registrar=in_coaps, registrar_csi="/id-in",
             outbound_psk="127.0.0.1:%d=%s" % (inn.coaps_port, kid), psk=["%s:%s:/id-in" % (kid, kc)],
             registration_check=300, registration_retry_max=800, log_level="debug")
    mn.start()
    t.ok(wait_for(lambda: csr(inn, "id-mn")[0] == 2000, seconds=15),
         "the MN registered at the IN with the MAF-established key (CoAPS)", mn.read_log()[-1500:])
    rsc, at_in = csr(inn, "id-mn")
    t.eq((at_in.get("csi"), at_in.get("cst")), ("/id-mn", 2), "the IN's <remoteCSE> for /id-mn")
    log = inn.read_log()
    t.ok("fetching the key of %s from the MAF" % kid in log and "%s is now known, bound to /id-mn" % kid in log,
         "the IN retrieved Kc from the MAF and bound it to the key's source, /id-mn",
         "\n".join(ln for ln in log.splitlines() if "enrolment" in ln)[-1200:])
    t.ok(wait_for(lambda: csr(mn, "id-in")[0] == 2000), "the MN keeps a <remoteCSE> for its registrar")
    t.ok(kc not in inn.read_log() + mn.read_log() + maf.read_log(), "no key in any log")

    # --- refused impersonation: a MAF key whose source is another CSE --------------
    xkid, xkc = key_for_in("km-x", km_x, "/id-x", "x-in.key")
    t.ok(xkid is not None, "another CSE (/id-x) registers its own key for /id-in", xkc if xkid is None else "")
    xfile = write_private(os.path.join(work, "x-in.hex"), (xkc or "") + "\n")
    body = '{"m2m:csr":{"csi":"/id-mn","cb":"/id-mn/cse-x","rr":true,"srv":["3"]}}'

    def as_x(origin, *args):
        last = None
        for _ in range(20):      # the first handshakes fail while the IN retrieves the key
            last = tool("--url", in_coaps, "--psk-id", xkid or "x", "--psk-key-file", xfile, "--from", origin,
                        "--handshake-timeout", "1500", "--timeout", "4000", *args)
            if last.returncode != 2:
                return last
            time.sleep(0.25)
        return last

    r = as_x("/id-mn", "create", "cse-in", "--ty", "16", "--body", body)
    t.ok("RSC 4106" in r.stdout, "a MAF key of /id-x cannot speak as /id-mn (4106)", r.stdout + r.stderr[-300:])
    r = as_x("/id-x", "create", "cse-in", "--ty", "16", "--body", body)
    t.ok("RSC 4106" in r.stdout, "... nor register /id-mn while speaking as itself (4106)", r.stdout + r.stderr[-300:])
    t.eq(csr(inn, "id-mn")[1].get("cb"), "/id-mn/cse-mn", "the MN's registration is untouched")

    # --- de-registration of the key: the IN withdraws it, the MN's next check fails ----
    mn_mark = len(mn.read_log())
    r = tool("--maf", maf_coaps, "--psk-id", "km-mn", "--psk-key-file", km_mn, "--from", "/id-mn",
             "--handshake-timeout", "1500", "maf", "key", "revoke", kid.split("@")[0])
    t.ok(r.returncode == 0, "the MN's key de-registered at the MAF", r.stdout + r.stderr)
    t.ok(wait_for(lambda: "%s withdrawn" % kid in inn.read_log()), "the IN learns of it and withdraws the key",
         inn.read_log()[-1000:])
    failures = lambda: [ln for ln in mn.read_log()[mn_mark:].splitlines()
                        if "registration at /id-in" in ln and "failed" in ln]
    t.ok(wait_for(failures, seconds=10), "the MN's next registration check is refused", mn.read_log()[mn_mark:][-1500:])
    t.ok(any("4106" in ln or "unreachable" in ln for ln in failures()), "... by the IN's SAEF gate or handshake",
         failures())
    r = tool("--url", in_coaps, "--psk-id", kid, "--psk-key-file", os.path.join(work, "mn-in.key"), "--from", "/id-mn",
             "--handshake-timeout", "1500", "retrieve", "cse-in")
    t.ok(r.returncode == 2, "a new handshake with the de-registered key is refused", r.stdout + r.stderr[-200:])
    t.eq(mn.stop(), 0, "the MN stops cleanly")

    # --- renewal: a new key, the MN restarted with it, registered again ------------
    def mn_with(key_id, key_hex, https=False):
        port = inn.https_port if https else inn.coaps_port
        m = Cse(data_dir=mn.data_dir, cse_id="id-mn", cse_name="cse-mn", cse_type=2,
                registrar="%s://127.0.0.1:%d" % ("https" if https else "coaps", port),
                registrar_csi="/id-in", outbound_psk="127.0.0.1:%d=%s" % (port, key_id),
                psk=["%s:%s:/id-in" % (key_id, key_hex)], registration_check=300, registration_retry_max=800)
        m.own_dir = True
        m.mark = len(m.read_log())   # the log file goes on from the MN before: read only what follows
        return m

    def since_start(m):
        return m.read_log()[m.mark:]

    kid2, kc2 = key_for_in("km-mn", km_mn, "/id-mn", "mn-in-2.key")
    mn = mn_with(kid2, kc2, https=True)
    mn.start()
    t.ok(wait_for(lambda: "registered at /id-in" in since_start(mn), seconds=15),
         "with a new key from the MAF the restarted MN registers again, over HTTPS (TLS-PSK)", since_start(mn)[-1500:])
    t.eq(csr(inn, "id-mn")[0], 2000, "... its <remoteCSE> at the IN is there")
    t.ok("did not accept the PSK identity %s" % kid2 in since_start(mn),
         "... after a first handshake the IN answered with its certificate (it was asking the MAF): refused, "
         "not kept as an unauthenticated connection", since_start(mn)[-1500:])
    t.eq(mn.stop(), 0, "the MN stops cleanly (and deregisters)")

    # --- expiry: a key that lives 4 s is refused after it ---------------------------
    as_mn = ["--maf", maf_coaps, "--psk-id", "km-mn", "--psk-key-file", km_mn, "--from", "/id-mn",
             "--handshake-timeout", "1500"]
    short = os.path.join(work, "short.key")
    r = tool(*as_mn, "maf", "key", "add", "--target", "/id-in", "--lifetime", "PT4S", "--file", short)
    m = re.search(r"--psk-id (\S+)", r.stdout)
    skid = m.group(1) if m else "x"
    mn = mn_with(skid, open(short).read().strip() if m else "00" * 32)
    mn.start()
    t.ok(wait_for(lambda: "registered at /id-in" in since_start(mn), seconds=10),
         "a short-lived MAF key registers the MN while it lives", since_start(mn)[-1500:])
    # The first request after the key's end is the periodic check or, when the end falls
    # between the check's answer and the next step, the CSEBase retrieval that follows it.
    expired = lambda: [ln for ln in since_start(mn).splitlines() if "registration at /id-in" in ln and
                       re.search(r": (check|retrieve the CSEBase) failed: (4106|unreachable)", ln)]
    t.ok(wait_for(expired, seconds=10), "after its expirationTime the IN refuses the MN's registration check",
         since_start(mn)[-1500:])
    t.eq(mn.stop(), 0, "the MN stops cleanly")
    t.eq(inn.stop(), 0, "the IN stops cleanly")
finally:
    for p in (mn, inn):
        if p and p.proc and p.proc.poll() is None:
            p.stop()
    maf_rc = maf.stop()
t.eq(maf_rc, 0, "m2m-maf stops cleanly")
t.done()
