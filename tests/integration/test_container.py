"""container / contentInstance rules: quotas and eviction, disr, st, cr,
virtual la/ol, immutability of instances, expiry."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
O = "Cbox"

def ts(offset):
    """A timestamp offset seconds from now, with microseconds."""
    when = time.time() + offset
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(when)) + ",%06d" % int((when % 1) * 1e6)

with Cse(expiry_interval=100) as cse:
    cse.register_ae("app", origin=O)
    def mk(rn, **kw):
        return cse.create("/cse-in/app", 3, {"m2m:cnt": dict({"rn": rn}, **kw)}, origin=O)
    def cin(cnt, con, **kw):
        return cse.create("/cse-in/app/" + cnt, 4, {"m2m:cin": dict({"con": con}, **kw)}, origin=O)
    def gone(ri, seconds=3):
        """Polls until the resource is gone (bounded)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if cse.get("/" + ri, origin=O).rsc == 4004:
                return True
            time.sleep(0.1)
        return False
    def cnt(rn):
        return cse.get("/cse-in/app/" + rn, origin=O).json["m2m:cnt"]

    r = mk("c", cr=None)
    t.ok(r.rsc == 2001 and r.json["m2m:cnt"]["cr"] == O, "cr:null is filled with the originator", r)
    t.eq((r.json["m2m:cnt"]["cni"], r.json["m2m:cnt"]["cbs"], r.json["m2m:cnt"]["st"]), (0, 0, 0),
         "new container: cni=cbs=st=0")
    r = mk("c2", cr="Cx")
    t.rsc(r, 4000, 400, "cr with a value -> 4000")
    r = cse.get("/cse-in/app/c/la", origin=O)
    t.rsc(r, 4004, 404, "la of an empty container -> 4004")
    r = cse.get("/cse-in/app/c/ol", origin=O)
    t.rsc(r, 4004, 404, "ol of an empty container -> 4004")
    r = cin("c", "abc", cr=None, cnf="text/plain:0")
    t.ok(r.rsc == 2001 and r.json["m2m:cin"]["cr"] == O and r.json["m2m:cin"]["cs"] == 3
         and r.json["m2m:cin"]["st"] == 1, "CIN: cr, cs, st set", r)
    r = cin("c", "de")
    t.eq(r.json["m2m:cin"]["st"], 2, "each CIN increments the container st")
    c = cnt("c")
    t.eq((c["cni"], c["cbs"], c["st"]), (2, 5, 2), "container cni/cbs/st follow")
    r = cse.update("/cse-in/app/c", {"m2m:cnt": {"lbl": ["a"]}}, origin=O)
    t.eq(r.json["m2m:cnt"]["st"], 3, "UPDATE increments st")
    r = cin("c", "x", cnf="textplain")
    t.rsc(r, 4000, 400, "malformed cnf -> 4000")
    r = cin("c", "x", cs=1)
    t.rsc(r, 4000, 400, "cs in CIN create (NP) -> 4000")
    r = cse.create("/cse-in/app/c", 4, {"m2m:cin": {"cnf": "text/plain:0"}}, origin=O)
    t.rsc(r, 4000, 400, "CIN without con -> 4000")
    r = cse.update("/cse-in/app/c/la", {"m2m:cin": {"lbl": ["z"]}}, origin=O)
    t.rsc(r, 4005, 405, "update through la -> 4005")
    la_ri = cse.get("/cse-in/app/c/la", origin=O).json["m2m:cin"]["ri"]
    r = cse.update("/" + la_ri, {"m2m:cin": {"lbl": ["z"]}}, origin=O)
    t.rsc(r, 4005, 405, "CIN update -> 4005")
    r = cse.create("/cse-in/app/c/la", 4, {"m2m:cin": {"con": "x"}}, origin=O)
    t.rsc(r, 4005, 405, "create under la -> 4005")
    r = mk("la")
    t.rsc(r, 2001, 201, "a container may be named la under an AE")
    r = cse.create("/cse-in/app/c", 3, {"m2m:cnt": {"rn": "ol"}}, origin=O)
    t.rsc(r, 4000, 400, "'ol' is reserved under a container -> 4000")
    r = cse.delete("/cse-in/app/c/ol", origin=O)
    t.rsc(r, 2002, 200, "delete through ol")
    c = cnt("c")
    t.eq((c["cni"], c["cbs"]), (1, 2), "ol delete updates cni/cbs")

    # mni
    mk("m", mni=2)
    for i in range(4):
        cin("m", "v%d" % i)
    c = cnt("m")
    t.eq(c["cni"], 2, "mni caps cni")
    t.eq(cse.get("/cse-in/app/m/ol", origin=O).json["m2m:cin"]["con"], "v2", "mni evicts the oldest")
    r = cse.update("/cse-in/app/m", {"m2m:cnt": {"mni": 1}}, origin=O)
    t.ok(r.rsc == 2004 and r.json["m2m:cnt"]["cni"] == 1, "lowering mni evicts at once", r)
    t.eq(cse.get("/cse-in/app/m/ol", origin=O).json["m2m:cin"]["con"], "v3", "newest survives")
    r = cse.update("/cse-in/app/m", {"m2m:cnt": {"mni": 0}}, origin=O)
    t.ok(r.rsc == 2004 and r.json["m2m:cnt"]["cni"] == 0, "mni=0 evicts everything", r)
    r = cin("m", "nowhere")
    t.rsc(r, 5207, 406, "CIN into a container with mni=0 -> 5207")
    t.eq(cnt("m")["cni"], 0, "nothing stored")
    r = mk("big", mni=100000)
    t.eq(r.json["m2m:cnt"]["mni"], 100000, "large mni kept as given")
    r = mk("neg", mni=-1)
    t.rsc(r, 4000, 400, "negative mni -> 4000")
    r = mk("str", mni="5")
    t.rsc(r, 4000, 400, "mni as a string -> 4000")

    # mbs
    mk("b", mbs=10)
    cin("b", "aaaa")
    cin("b", "bbbb")
    r = cin("b", "cccc")
    c = cnt("b")
    t.eq((c["cni"], c["cbs"]), (2, 8), "mbs evicts the oldest to fit")
    r = cin("b", "x" * 11)
    t.rsc(r, 5207, 406, "con larger than mbs -> 5207")
    r = cse.update("/cse-in/app/b", {"m2m:cnt": {"mbs": 4}}, origin=O)
    t.ok(r.rsc == 2004 and r.json["m2m:cnt"]["cni"] == 1 and r.json["m2m:cnt"]["cbs"] == 4,
         "lowering mbs evicts at once", r)

    # mia
    mk("a", mia=1)
    r = cin("a", "short-lived")
    t.ok(r.rsc == 2001, "CIN in a container with mia", r)
    ri = r.json["m2m:cin"]["ri"]
    t.ok(gone(ri), "mia: the instance expires within ~2 s")
    c = cnt("a")
    t.eq((c["cni"], c["cbs"]), (0, 0), "expired CIN updates cni/cbs")

    # disr
    mk("d", disr=True)
    r = cin("d", "secret")
    t.rsc(r, 2001, 201, "create under disr container is allowed")
    d_ri = r.json["m2m:cin"]["ri"]
    for path, name in (("/cse-in/app/d/la", "la"), ("/cse-in/app/d/ol", "ol"), ("/" + d_ri, "CIN")):
        t.rsc(cse.get(path, origin=O), 4005, 405, "disr: retrieve %s -> 4005" % name)
    t.rsc(cse.delete("/" + d_ri, origin=O), 4005, 405, "disr: delete CIN -> 4005")
    r = cse.get("/cse-in/app/d?rcn=4", origin=O)
    t.ok(r.rsc == 2000 and "m2m:cin" not in r.json["m2m:cnt"], "disr: rcn=4 lists no instances", r)
    r = cse.get("/cse-in/app?fu=1&rn=d&arp=la", origin=O)
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == [], "disr: arp=la does not reveal the instance", r)
    r = cse.get("/cse-in/app/d?fu=1&ty=4", origin=O)
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == [], "disr: discovery does not list instances", r)
    r = cse.update("/cse-in/app/d", {"m2m:cnt": {"disr": False}}, origin=O)
    t.ok(r.rsc == 2004 and r.json["m2m:cnt"]["cni"] == 0, "disr true->false deletes instances", r)
    t.rsc(cse.get("/" + d_ri, origin=O), 4004, 404, "the instance is gone")

    # expiry
    r = mk("past", et="20000101T000000")
    t.rsc(r, 4000, 400, "et in the past -> 4000")
    r = mk("bad-et", et="tomorrow")
    t.rsc(r, 4000, 400, "malformed et -> 4000")
    soon = ts(1.5)  # margin for a slow CREATE on a loaded machine
    r = mk("brief", et=soon)
    t.rsc(r, 2001, 201, "container with a short et")
    brief_ri = r.json["m2m:cnt"]["ri"]
    cse.create("/cse-in/app/brief", 4, {"m2m:cin": {"con": "x"}}, origin=O)
    t.ok(gone(brief_ri, 5), "a resource with a short et disappears within ~3 s")
    r = cse.get("/cse-in/app/brief?rcn=4", origin=O)
    t.rsc(r, 4004, 404, "its subtree went with it")
    mk("clamp", et=ts(60))
    r = cse.create("/cse-in/app/clamp", 3, {"m2m:cnt": {"rn": "kid", "et": "29990101T000000"}}, origin=O)
    t.ok(r.rsc == 2001 and r.json["m2m:cnt"]["et"] < "29990101T000000", "child et clamped to the parent's", r)
    r = cse.update("/cse-in/app/clamp/kid", {"m2m:cnt": {"et": "29990101T000000"}}, origin=O)
    t.ok(r.rsc == 2004 and r.json["m2m:cnt"]["et"] < "29990101T000000", "updated et clamped to the parent's", r)
    r = cse.update("/cse-in/app/clamp", {"m2m:cnt": {"et": "20000101T000000"}}, origin=O)
    t.rsc(r, 4000, 400, "update et into the past -> 4000")
    r = cse.update("/cse-in/app/clamp", {"m2m:cnt": {"et": None}}, origin=O)
    t.rsc(r, 4000, 400, "et cannot be deleted (multiplicity 1) -> 4000")
    kid_et = cse.get("/cse-in/app/clamp/kid", origin=O).json["m2m:cnt"]["et"]
    r = cse.update("/cse-in/app/clamp", {"m2m:cnt": {"et": ts(30)}},
                   origin=O)
    t.rsc(r, 4000, 400, "update et before a child's et -> 4000")
    r = cse.update("/cse-in/app/clamp/kid", {"m2m:cnt": {"lbl": None}}, origin=O)
    t.ok(r.rsc == 2004 and "lbl" not in r.json["m2m:cnt"], "null deletes an optional attribute", r)
    t.eq(cse.get("/cse-in/app/clamp/kid", origin=O).json["m2m:cnt"]["et"], kid_et, "rejected updates changed nothing")

    # contentRef
    r = cse.create("/cse-in/app/c", 4, {"m2m:cin": {"conr": "http://example.com/blob"}}, origin=O)
    t.ok(r.rsc == 2001 and r.json["m2m:cin"]["cs"] == 0 and "con" not in r.json["m2m:cin"],
         "CIN with conr and no con", r)
    r = cse.create("/cse-in/app/c", 4, {"m2m:cin": {"conr": ""}}, origin=O)
    t.rsc(r, 4000, 400, "empty conr -> 4000")
# Between timer sweeps (here: none for an hour) an expired resource is already
# gone: a request first removes whatever has expired.
with Cse(expiry_interval=3600000) as cse:
    cse.register_ae("app", origin=O)
    soon = ts(1.5)
    r = cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "brief", "et": soon}}, origin=O)
    ri = r.json["m2m:cnt"]["ri"]
    time.sleep(2.0)
    t.rsc(cse.get("/" + ri, origin=O), 4004, 404, "expired before the sweep: retrieve -> 4004")
    t.rsc(cse.create("/cse-in/app/brief", 4, {"m2m:cin": {"con": "x"}}, origin=O), 4004, 404,
          "expired before the sweep: create under it -> 4004")
    r = cse.get("/cse-in/app?fu=1&ty=3", origin=O)
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == [], "expired before the sweep: not discovered", r)
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "aged", "mia": 1}}, origin=O)
    cse.create("/cse-in/app/aged", 4, {"m2m:cin": {"con": "old"}}, origin=O)
    time.sleep(1.2)
    c = cse.get("/cse-in/app/aged", origin=O).json["m2m:cnt"]
    t.eq((c["cni"], c["cbs"]), (0, 0), "expired before the sweep: cni/cbs already follow")
    t.rsc(cse.get("/cse-in/app/aged/la", origin=O), 4004, 404, "expired before the sweep: la -> 4004")
t.done()
