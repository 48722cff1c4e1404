"""<AEContactList> between CSEs (TS-0004 7.5.1.2.16/17, docs/conformance.md),
with a real IN-CSE and an MN-CSE registered to it over CoAPS with a PSK:
the MN's ACPs naming AEs of the IN as originators are reported to the IN
(m2m:sgn aerid, tid1/tid2), which keeps the MN's <AEContactListPerCSE>
(csi, ail) in step; only a registered CSE over its own credential may send
them (4107 unauthenticated, 4103 not registered, 4106 another's ID), a bad
one is 4000; an AE deregistering from the IN is told to the CSEs listing it
(aerp). Also public-poa: the MN registers with the points of access it is
configured to advertise, not with its listeners' hosts."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Cse, Tap, free_port, wait_for, write_private  # noqa: E402

t = Tap()
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
MN_KEY = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"
ZZ_KEY = "7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c"
tmp = tempfile.mkdtemp(prefix="c2c-alst-")
mn_key = write_private(os.path.join(tmp, "mn.key"), MN_KEY + "\n")
zz_key = write_private(os.path.join(tmp, "zz.key"), ZZ_KEY + "\n")
AL = "/cse-in/aeContactList"


def tool(*args):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=30)


def per_cse():
    """The IN's AEContactList: (nic, {csi: sorted ail})."""
    r = inn.get(AL + "?rcn=4")
    alst = (r.json or {}).get("m2m:alst", {})
    return alst.get("nic"), {p.get("csi"): sorted(p.get("ail") or []) for p in alst.get("m2m:alpc", [])}


def acp(rn, acor):
    return {"m2m:acp": {"rn": rn, "pv": {"acr": [{"acor": acor, "acop": 2}]},
                        "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}}


inn = Cse(cse_id="id-in", cse_name="cse-in", psk=["mn-key:%s:/id-mn" % MN_KEY, "zz-key:%s:/id-zz" % ZZ_KEY])
inn.start()
mn_port = free_port()
mn_public = ["http://127.0.0.1:%d" % mn_port, "coap://gateway.example:5683"]
mn = Cse(cse_id="id-mn", cse_name="cse-mn", cse_type=2, http_port=mn_port, public_poa=mn_public,
         registrar="coaps://127.0.0.1:%d" % inn.coaps_port, registrar_csi="/id-in",
         outbound_psk="127.0.0.1:%d=mn-key" % inn.coaps_port, psk=["mn-key:%s:/id-in" % MN_KEY],
         registration_check=300, registration_retry_max=800, log_level="debug")
mn.start()
try:
    t.ok(wait_for(lambda: inn.get("/~/id-in/id-mn").rsc == 2000), "the MN registered at the IN", mn.read_log()[-1500:])
    got = (inn.get("/~/id-in/id-mn").json or {}).get("m2m:csr", {}).get("poa")
    t.eq(got, mn_public, "public-poa: the MN registered with the points of access it advertises")
    t.eq((mn.get("/cse-mn").json or {}).get("m2m:cb", {}).get("poa"), mn_public, "... which are its CSEBase's poa")
    t.eq(per_cse(), (0, {}), "the IN's AEContactList starts empty")

    # --- the MN reports its references ---------------------------------------------
    t.rsc(inn.register_ae("al", origin="Cal"), 2001, 201, "AE Cal registers at the IN")
    t.rsc(mn.create("/cse-mn", 1, acp("forAl", ["/id-in/Cal", "Clocal", "all"])), 2001, 201,
          "an ACP on the MN grants /id-in/Cal (an AE of the IN), a local AE and all")
    t.ok(wait_for(lambda: per_cse() == (1, {"/id-mn": ["/id-in/Cal"]})),
         "the IN lists the MN with ail [/id-in/Cal] (local and 'all' are no references elsewhere)", per_cse())
    r = inn.get(AL + "/id-mn")
    alpc = (r.json or {}).get("m2m:alpc", {})
    t.ok(r.rsc == 2000 and alpc.get("ty") == 44 and alpc.get("csi") == "/id-mn", "its AEContactListPerCSE: ty 44, csi", r)
    t.rsc(mn.update("/cse-mn/forAl", {"m2m:acp": {"pv": {"acr": [{"acor": ["/id-in/Cal", "/id-in/Cbob"], "acop": 2}]}}}),
          2004, 200, "the ACP grants /id-in/Cbob too")
    t.rsc(mn.create("/cse-mn", 1, acp("forBob", ["//ironbark.local/id-in/Cbob"])), 2001, 201,
          "a second ACP names Cbob by its absolute ID")
    t.ok(wait_for(lambda: per_cse() == (1, {"/id-mn": ["/id-in/Cal", "/id-in/Cbob"]})), "ail follows: both", per_cse())
    t.rsc(mn.delete("/cse-mn/forAl"), 2002, 200, "the first ACP is deleted")
    t.ok(wait_for(lambda: per_cse() == (1, {"/id-mn": ["/id-in/Cbob"]})),
         "Cal leaves ail; Cbob stays (still referenced by the second ACP)", per_cse())

    # --- who may send them ------------------------------------------------------------
    body = '{"m2m:sgn":{"aerid":true,"tid1":null,"tid2":"/id-in/Cx"}}'
    r = inn.request("POST", "/cse-in", body={"m2m:sgn": {"aerid": True, "tid2": "/id-in/Cx"}}, origin="/id-mn")
    t.rsc(r, 4107, 403, "unauthenticated (plain HTTP), claiming to be the MN: 4107")
    coaps = ["--url", "coaps://127.0.0.1:%d" % inn.coaps_port, "--handshake-timeout", "1500"]
    as_zz = coaps + ["--psk-id", "zz-key", "--psk-key-file", zz_key, "--from", "/id-zz"]
    out = tool(*as_zz, "notify", "cse-in", "--body", body)
    t.ok("RSC 4103" in out.stdout, "authenticated as /id-zz, which is not registered: 4103", out.stdout + out.stderr)
    as_mn = coaps + ["--psk-id", "mn-key", "--psk-key-file", mn_key]
    out = tool(*as_mn, "--from", "/id-zz", "notify", "cse-in", "--body", body)
    t.ok("RSC 4106" in out.stdout, "the MN's credential speaking as another CSE: 4106", out.stdout + out.stderr)
    out = tool(*as_mn, "--from", "/id-mn", "notify", "cse-in", "--body", '{"m2m:sgn":{"aerid":true}}')
    t.ok("RSC 4000" in out.stdout, "the MN, without tid1 or tid2: 4000", out.stdout + out.stderr)
    out = tool(*as_mn, "--from", "/id-mn", "notify", "cse-in", "--body", '{"m2m:sgn":{"aerid":true,"tid2":5}}')
    t.ok("RSC 4000" in out.stdout, "... with a tid2 that is no ID: 4000", out.stdout + out.stderr)
    t.eq(per_cse(), (1, {"/id-mn": ["/id-in/Cbob"]}), "nothing refused changed the list")
    out = tool(*as_mn, "--from", "/id-mn", "notify", "cse-in", "--body",
               '{"m2m:sgn":{"aerid":true,"tid1":"/id-in/Cbob","tid2":"/id-in/Cbob2"}}')
    t.ok("RSC 2000" in out.stdout and per_cse() == (1, {"/id-mn": ["/id-in/Cbob2"]}),
         "the MN itself: tid1 and tid2 together change an entry", out.stdout + str(per_cse()))
    out = tool(*as_mn, "--from", "/id-mn", "notify", "cse-in", "--body", '{"m2m:sgn":{"aerid":true,"tid1":"/id-in/Cbob2"}}')
    t.ok("RSC 2000" in out.stdout and per_cse() == (0, {}),
         "the last entry removed: the MN leaves the list (nic 0)", out.stdout + str(per_cse()))
    r = mn.request("POST", "/cse-mn", body={"m2m:sgn": {"aerid": True, "tid2": "/id-in/Cal"}}, origin="CAdmin")
    t.rsc(r, 4005, 405, "an MN-CSE keeps no AEContactList: aerid to it is 4005")

    # --- registration-point change (aerp) ------------------------------------------------
    t.rsc(mn.create("/cse-mn", 1, acp("forAl2", ["/id-in/Cal"])), 2001, 201, "the MN references Cal again")
    t.ok(wait_for(lambda: per_cse() == (1, {"/id-mn": ["/id-in/Cal"]})), "... listed at the IN", per_cse())
    t.rsc(inn.delete("/cse-in/al", origin="Cal"), 2002, 200, "Cal deregisters from the IN")
    t.ok(wait_for(lambda: "says AE /id-in/Cal changed its registration point" in mn.read_log()),
         "the IN told the MN (NOTIFY aerp, tid1 /id-in/Cal)", inn.read_log()[-1500:])
    t.ok("AEContactList: telling /id-mn that /id-in/Cal left" in inn.read_log(), "the IN logged whom it told")
    t.ok(MN_KEY not in mn.read_log() + inn.read_log() and ZZ_KEY not in inn.read_log(), "no key in any log")
finally:
    for c in (mn, inn):
        c.__exit__(None)
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
