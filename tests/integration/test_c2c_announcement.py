"""Announcement between two real CSEs (issue 15): an MN-CSE announces AE,
container, contentInstance, flexContainer, group, ACP, node and mgmtObj to the IN-CSE
(at/aa); the IN stores the ...Annc types (ty 10000 + n) with lnk, finds them
by discovery (ty, lbl), and keeps them in step: an UPDATE of an announced
attribute reaches the Annc, a target removed from at and a deleted original
de-announce, an announced ACP decides access at the IN, and a target down at
announcement time is retried when it comes back, one that refuses is given
up and leaves at. Bad at/aa values: 4000.
The two CSEs are peered statically by their admins (docs/cse-to-cse.md)."""
import http.server, os, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, m2m_answer

t = Tap()
A = "Cmeter"          # the AE on the MN
CND = "org.onem2m.common.moduleclass.temperature"


def peer(cse, base, csi, cb, poa):
    """The admin's static <remoteCSE> for the other CSE."""
    return cse.create(base, 16, {"m2m:csr": {"csi": csi, "cb": cb, "poa": [poa], "rr": True, "srv": ["3"]}})


def wait_for(fn, seconds=15):
    """fn() until it returns something true, at most `seconds`."""
    end = time.time() + seconds
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(0.1)


def inner(r):
    v = next(iter(r.json.values())) if r and isinstance(r.json, dict) and r.json else {}
    return v if isinstance(v, dict) else {}


def announced(inn, original_ri, ty):
    """The announced resource of original_ri at the IN (found by discovery), or None."""
    r = inn.get("/cse-in?fu=1&ty=%d" % ty)
    for uri in (r.json or {}).get("m2m:uril", []):
        got = inn.get("/" + uri if not uri.startswith("/") else uri)
        a = inner(got)
        if a.get("lnk") == "/id-mn/" + original_ri:
            return a
    return None


def at_of(mn, path):
    return inner(mn.get(path, origin=A)).get("at")


class Refuser(http.server.BaseHTTPRequestHandler):
    """A peer that refuses everything with 4000: announcing to it is given up at once."""
    def do_POST(self):
        m2m_answer(self, 4000, 400, b'{"m2m:dbg":"refused"}')

    def log_message(self, *args):
        pass


refuser = http.server.HTTPServer(("127.0.0.1", 0), Refuser)
threading.Thread(target=refuser.serve_forever, daemon=True).start()

inn = Cse(cse_id="id-in", cse_name="cse-in", cse_type=1)
mn = Cse(cse_id="id-mn", cse_name="cse-mn", cse_type=2)
with inn, mn:
    t.rsc(peer(mn, "/cse-mn", "/id-in", "/id-in/cse-in", inn.base), 2001, 201, "MN: the admin peers the IN")
    t.rsc(peer(inn, "/cse-in", "/id-mn", "/id-mn/cse-mn", mn.base), 2001, 201, "IN: the admin peers the MN")

    # --- bad at / aa ----------------------------------------------------------------
    bad = [({"at": ["id-in"]}, "not a CSE-ID"), ({"at": ["/id-mn"]}, "this CSE itself"),
           ({"at": ["/id-xx"]}, "no route"), ({"at": ["/id-in", "/id-in"]}, "listed twice"),
           ({"at": ["/id-in"], "aa": ["ri"]}, "can be announced"), ({"aa": ["nope"]}, "can be announced")]
    for attrs, words in bad:
        r = mn.create("/cse-mn", 2, {"m2m:ae": dict({"rn": "bad", "api": "Nbad", "rr": True, "srv": ["3"]}, **attrs)},
                      origin="Cbad")
        t.ok(r.rsc == 4000 and words in r.text, "bad %s -> 4000 (%s)" % (attrs, words), r)
    t.eq(mn.get("/cse-mn/bad").rsc, 4004, "nothing was stored for the bad ones")

    # --- announce AE, container, contentInstance, flexContainer, group, ACP ---------
    r = mn.create("/cse-mn", 2, {"m2m:ae": {"rn": "meter", "api": "Nmeter", "rr": True, "srv": ["3"], "apn": "metering",
                                            "lbl": ["site:b1"], "at": ["/id-in"], "aa": ["apn"]}}, origin=A)
    t.rsc(r, 2001, 201, "AE with at/aa registered at the MN")
    t.eq(inner(r).get("at"), ["/id-in"], "the AE's at lists the IN")
    aea = wait_for(lambda: announced(inn, A, 10002))
    t.ok(aea is not None, "aeA (10002) appears at the IN", aea)
    aea = aea or {}
    t.eq((aea.get("ty"), aea.get("lnk"), aea.get("lbl"), aea.get("apn")),
         (10002, "/id-mn/" + A, ["site:b1"], "metering"), "aeA: ty, lnk, lbl (MA) and apn (aa)")
    t.ok("api" not in aea and "at" not in aea, "aeA: attributes not in aa stay at home", aea)

    r = mn.create("/cse-mn/meter", 3, {"m2m:cnt": {"rn": "power", "mni": 5, "lbl": ["kind:power"],
                                                   "at": ["/id-in"], "aa": ["mni"]}}, origin=A)
    cnt_ri = inner(r).get("ri")
    t.rsc(r, 2001, 201, "container with at")
    cnta = wait_for(lambda: announced(inn, cnt_ri, 10003)) or {}
    t.eq((cnta.get("lnk"), cnta.get("mni"), cnta.get("pi")), ("/id-mn/" + cnt_ri, 5, aea.get("ri")),
         "cntA under the aeA (its parent's announced resource), with mni")

    r = mn.create("/cse-mn/meter/power", 4, {"m2m:cin": {"con": "42", "at": ["/id-in"], "aa": ["con"]}}, origin=A)
    cin_ri = inner(r).get("ri")
    cina = wait_for(lambda: announced(inn, cin_ri, 10004)) or {}
    t.eq((cina.get("con"), cina.get("pi")), ("42", cnta.get("ri")), "cinA under the cntA with con")

    r = mn.create("/cse-mn/meter", 28, {"cod:tmpSr": {"rn": "temp", "cnd": CND, "curT0": 21,
                                                      "at": ["/id-in"], "aa": ["cnd", "curT0"]}}, origin=A)
    fcnt_ri = inner(r).get("ri")
    t.rsc(r, 2001, 201, "flexContainer with at")
    fcnt_uri = wait_for(lambda: (inn.get("/cse-in?fu=1&ty=10028").json or {}).get("m2m:uril"))
    fa = inn.get("/" + fcnt_uri[0]) if fcnt_uri else None
    t.ok(fa is not None and "cod:tmpSrA" in (fa.json or {}) and inner(fa).get("curT0") == 21
         and inner(fa).get("lnk") == "/id-mn/" + fcnt_ri, "fcntA keeps the specialisation's key + A, custom attribute", fa)

    r = mn.create("/cse-mn/meter", 9, {"m2m:grp": {"rn": "all", "mid": [cnt_ri], "mnm": 5,
                                                   "at": ["/id-in"], "aa": ["mnm"]}}, origin=A)
    grp_ri = inner(r).get("ri")
    grpa = wait_for(lambda: announced(inn, grp_ri, 10009)) or {}
    t.eq(grpa.get("mnm"), 5, "grpA with mnm")

    acr = {"acr": [{"acor": ["CInApp"], "acop": 2}]}
    r = mn.create("/cse-mn/meter", 1, {"m2m:acp": {"rn": "share", "pv": acr, "pvs": {"acr": [{"acor": [A], "acop": 63}]},
                                                   "at": ["/id-in"]}}, origin=A)
    acp_ri = inner(r).get("ri")
    acpa = wait_for(lambda: announced(inn, acp_ri, 10001)) or {}
    t.eq(acpa.get("pv"), acr, "acpA carries pv (mandatory announced for an ACP)")

    # node and mgmtObj (admin-made at the MN): nodA, and the memory's key + A under it
    r = mn.create("/cse-mn", 14, {"m2m:nod": {"rn": "gw", "ni": "urn:dev:gw-1", "at": ["/id-in"]}})
    nod_ri = inner(r).get("ri")
    noda = wait_for(lambda: announced(inn, nod_ri, 10014)) or {}
    t.eq(noda.get("lnk"), "/id-mn/" + nod_ri, "nodA at the IN")
    r = mn.create("/cse-mn/gw", 13, {"m2m:mem": {"rn": "mem", "mgd": 1003, "mma": 1024, "mmt": 4096,
                                                 "at": ["/id-in"], "aa": ["mma", "mmt"]}})
    mem_ri = inner(r).get("ri")
    mem_uri = wait_for(lambda: (inn.get("/cse-in?fu=1&ty=10013").json or {}).get("m2m:uril"))
    mema = inn.get("/" + mem_uri[0]) if mem_uri else None
    t.ok(mema is not None and "m2m:memA" in (mema.json or {}) and inner(mema).get("mmt") == 4096
         and inner(mema).get("pi") == noda.get("ri") and inner(mema).get("lnk") == "/id-mn/" + mem_ri,
         "m2m:memA (10013) under the nodA, with mma/mmt", mema)

    # An announced ACP decides at the IN: a container whose acpi names the
    # ACP gets the acpA in its announced acpi, and an AE at the IN it
    # grants reads the cntA (and follows lnk from there).
    r = mn.create("/cse-mn/meter", 3, {"m2m:cnt": {"rn": "shared", "acpi": [acp_ri], "at": ["/id-in"]}}, origin=A)
    shared_ri = inner(r).get("ri")
    shared = wait_for(lambda: announced(inn, shared_ri, 10003)) or {}
    t.eq(shared.get("acpi"), ["/id-in/" + acpa.get("ri", "?")], "cntA's acpi is the announced ACP at the IN")
    t.rsc(inn.register_ae("inapp", origin="CInApp"), 2001, 201, "an AE registers at the IN")
    r = inn.get("/~/id-in/" + shared.get("ri", "?"), origin="CInApp")
    t.ok(r.rsc == 2000 and inner(r).get("lnk") == "/id-mn/" + shared_ri, "the IN's AE reads the cntA; lnk names the original", r)
    t.rsc(inn.get("/~/id-in/" + cnta.get("ri", "?"), origin="CInApp"), 4103, 403,
          "a cntA without that ACP stays closed to it")

    texts = [mn.get(p, origin=A).text for p in ("/cse-mn/meter", "/cse-mn/meter/power", "/cse-mn/meter/power?rcn=4")]
    t.ok(all("@" not in x and "/id-in" in x for x in texts), "the originals show at, never the CSE's own record", texts)

    # --- discovery at the IN ----------------------------------------------------------
    r = inn.get("/cse-in?fu=1&lbl=site:b1")
    t.ok(len((r.json or {}).get("m2m:uril", [])) == 1, "discovery by label finds the aeA", r)
    r = inn.get("/cse-in?fu=1&ty=10003")
    t.eq(len((r.json or {}).get("m2m:uril", [])), 2, "discovery by ty 10003 finds both cntA")

    # --- keeping in step -----------------------------------------------------------------
    t.rsc(mn.update("/cse-mn/meter/power", {"m2m:cnt": {"mni": 9, "lbl": ["kind:power", "v2"]}}, origin=A),
          2004, 200, "UPDATE of announced attributes at the MN")
    ok = wait_for(lambda: inner(inn.get("/~/id-in/" + cnta.get("ri", "?"))).get("mni") == 9)
    got = inner(inn.get("/~/id-in/" + cnta.get("ri", "?")))
    t.ok(ok and got.get("lbl") == ["kind:power", "v2"], "the cntA follows: mni and lbl", got)
    t.rsc(mn.update("/cse-mn/meter/power", {"m2m:cnt": {"aa": None}}, origin=A), 2004, 200, "aa removed")
    gone = wait_for(lambda: "mni" not in inner(inn.get("/~/id-in/" + cnta.get("ri", "?"))))
    t.ok(gone, "an attribute no longer announced leaves the cntA")

    t.rsc(mn.update("/cse-mn/meter/all", {"m2m:grp": {"at": None}}, origin=A), 2004, 200, "the group's at removed")
    t.ok(wait_for(lambda: inn.get("/~/id-in/" + grpa.get("ri", "?")).rsc == 4004), "the grpA is de-announced")
    t.eq(at_of(mn, "/cse-mn/meter/all"), None, "the group has no at any more")

    t.rsc(mn.delete("/cse-mn/meter/temp", origin=A), 2002, 200, "the flexContainer deleted at the MN")
    t.ok(wait_for(lambda: not (inn.get("/cse-in?fu=1&ty=10028").json or {}).get("m2m:uril")),
         "its fcntA goes from the IN")

    # --- a target that refuses: given up, and it leaves at ---------------------------------
    t.rsc(peer(mn, "/cse-mn", "/id-no", "/id-no/cse-no", "http://127.0.0.1:%d" % refuser.server_port), 2001, 201,
          "MN: a peer that refuses everything")
    r = mn.create("/cse-mn/meter", 3, {"m2m:cnt": {"rn": "two", "at": ["/id-in", "/id-no"]}}, origin=A)
    t.eq(inner(r).get("at"), ["/id-in", "/id-no"], "at lists both targets at first")
    t.ok(wait_for(lambda: at_of(mn, "/cse-mn/meter/two") == ["/id-in"]), "the refusing one leaves at",
         at_of(mn, "/cse-mn/meter/two"))
    t.ok("given up" in mn.read_log(), "the give-up is logged")

    # --- the target down at announcement time ----------------------------------------------
    inn.stop()
    r = mn.create("/cse-mn/meter", 3, {"m2m:cnt": {"rn": "late", "at": ["/id-in"]}}, origin=A)
    late_ri = inner(r).get("ri")
    t.rsc(r, 2001, 201, "a container announced while the IN is down is created at once")
    time.sleep(1.2)
    inn.start()
    late = wait_for(lambda: announced(inn, late_ri, 10003), seconds=20)
    t.ok(late is not None, "announced once the IN is back (retried)")
    t.eq(at_of(mn, "/cse-mn/meter/late"), ["/id-in"], "its at lists the IN")

    # --- deleting the AE removes everything announced below it --------------------------------
    t.rsc(mn.delete("/cse-mn/meter", origin=A), 2002, 200, "the AE deleted at the MN")
    t.ok(wait_for(lambda: not (inn.get("/cse-in?fu=1&ty=10002").json or {}).get("m2m:uril")
                  and not (inn.get("/cse-in?fu=1&ty=10003").json or {}).get("m2m:uril")),
         "the aeA and every cntA are gone from the IN")
refuser.shutdown()
t.done()
