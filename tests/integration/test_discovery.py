"""Discovery (fu=1): every filter condition, fo, paging with CTS/CTO,
lvl, drt, rcn=6, empty results, conditional retrieval."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
O = "Cdisc"
def ts(offset):
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() + offset))

with Cse() as cse:
    cse.register_ae("app", origin=O, lbl=["site/a"])
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "temp", "lbl": ["kind/temp", "room/1"]}}, origin=O)
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "hum", "lbl": ["kind/hum"]}}, origin=O)
    cse.create("/cse-in/app/temp", 4, {"m2m:cin": {"con": "21", "cnf": "text/plain:0"}}, origin=O)
    cse.create("/cse-in/app/temp", 4, {"m2m:cin": {"con": "a much longer value", "cnf": "application/json:0"}}, origin=O)
    cse.create("/cse-in/app/hum", 4, {"m2m:cin": {"con": "55", "lbl": ["room/1"]}}, origin=O)
    cse.update("/cse-in/app/hum", {"m2m:cnt": {"mni": 10}}, origin=O)  # hum st=2

    def disc(q, path="/cse-in/app"):
        return cse.get(path + "?fu=1&" + q, origin=O)
    def uris(r):
        return sorted((r.json or {}).get("m2m:uril", [])) if r.rsc == 2000 else ["error %s" % r.rsc]
    def names(r):
        return sorted(u.split("/")[-1] if "cin_" not in u else "cin" for u in uris(r))

    t.eq(names(disc("ty=3")), ["hum", "temp"], "ty=3")
    t.eq(len(uris(disc("ty=4"))), 3, "ty=4 finds every instance")
    t.eq(names(disc("ty=3+4")), ["cin", "cin", "cin", "hum", "temp"], "ty=3+4 (same tag ORed)")
    t.eq(names(disc("ty=3&ty=2", path="/cse-in")), ["app", "hum", "temp"], "repeated ty (ORed)")
    t.eq(names(disc("lbl=kind/temp")), ["temp"], "lbl")
    t.eq(names(disc("lbl=kind/temp+kind/hum")), ["hum", "temp"], "two labels ORed")
    t.eq(names(disc("lbl=room/1&ty=3")), ["temp"], "lbl AND ty")
    t.eq(names(disc("lbl=room/1&ty=3&fo=2")), ["cin", "hum", "temp"], "lbl OR ty (fo=2)")
    t.eq(names(disc("rn=te*")), ["temp"], "attribute filter with a wildcard")
    t.eq(names(disc("rn=hum&rn=temp")), ["hum", "temp"], "same attribute twice is ORed")
    t.eq(names(disc("mni=10")), ["hum"], "integer attribute filter")
    t.eq(names(disc("cty=text/plain")), ["cin"], "cty")
    t.eq(names(disc("cty=application/json+text/plain")), ["cin", "cin"], "two cty values")
    t.eq(names(disc("sza=5")), ["cin"], "sza (cs >= 5)")
    t.eq(names(disc("szb=3&ty=4")), ["cin", "cin"], "szb (cs < 3)")
    t.eq(names(disc("sza=2&szb=3")), ["cin", "cin"], "sza+szb range")
    t.eq(names(disc("stb=2&ty=3")), ["hum", "temp"], "stb")
    t.eq(names(disc("sts=2")), ["cin", "cin"], "sts (st < 2): the first instance of each container")
    t.eq(len(uris(disc("cra=%s" % ts(-3600)))), 5, "cra an hour ago matches all")
    t.eq(len(uris(disc("crb=%s" % ts(-3600)))), 0, "crb an hour ago matches none")
    t.eq(len(uris(disc("crb=%s" % ts(3600)))), 5, "crb in an hour matches all")
    t.eq(len(uris(disc("ms=%s" % ts(-3600)))), 5, "ms")
    t.eq(len(uris(disc("us=%s" % ts(-3600)))), 0, "us")
    t.eq(len(uris(disc("exa=%s" % ts(3600)))), 5, "exa")
    t.eq(len(uris(disc("exb=%s" % ts(3600)))), 0, "exb")
    t.eq(len(uris(disc("cra=%s&crb=%s" % (ts(-3600), ts(3600))))), 5, "cra+crb interval")
    r = disc("ty=99")
    t.ok(r.rsc == 2000 and r.json == {"m2m:uril": []}, "empty result: 2000 with an empty list", r)
    t.eq(names(disc("lvl=1")), ["hum", "temp"], "lvl=1: direct children only")
    t.eq(names(disc("lvl=1", path="/cse-in")), ["app", "defaultNTP"],
         "lvl=1 from the CSEBase (the AE and the CSE's default notificationTargetPolicy)")

    r = disc("ty=4&lim=2")
    t.ok(len(uris(r)) == 2 and r.headers.get("x-m2m-cts") == "1" and r.headers.get("x-m2m-cto"),
         "lim truncates and sets X-M2M-CTS/CTO", r.headers)
    r = disc("ty=4&lim=3")
    t.ok(len(uris(r)) == 3 and "x-m2m-cts" not in r.headers, "no CTS when everything fits", r.headers)
    all4 = disc("ty=4").json["m2m:uril"]
    r = disc("ty=4&ofst=2")
    t.eq(r.json["m2m:uril"], all4[1:], "ofst=2 skips the first match")
    r = disc("ty=4&ofst=2&lim=1")
    t.eq(r.json["m2m:uril"], all4[1:2], "ofst+lim page")
    r = disc("lim=0")
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == [], "lim=0 returns nothing", r)
    r = disc("ty=3&drt=2")
    t.ok(all("/" not in u for u in uris(r)) and len(uris(r)) == 2, "drt=2: unstructured ids", r)
    r = disc("ty=3&rcn=6")
    t.ok(r.rsc == 2000 and sorted(x["nm"] for x in r.json["m2m:rrl"]["rrf"]) == ["hum", "temp"]
         and r.json["m2m:rrl"]["rrf"][0]["typ"] == 3, "rcn=6: m2m:rrl", r)
    r = disc("ty=3", path="/cse-in/nothere")
    t.rsc(r, 4004, 404, "discovery on a missing target -> 4004")
    for q, name in (("fo=3", "fo=3 (XOR, R4) -> 4000"), ("fo=0", "fo=0 -> 4000"), ("lim=-1", "negative lim"),
                    ("lvl=0", "lvl=0"), ("ofst=0", "ofst=0"), ("cra=yesterday", "malformed timestamp"),
                    ("ty=abc", "non-numeric ty"), ("fu=5", "fu=5"), ("sts=0", "sts=0")):
        t.rsc(disc(q), 4000, 400, "bad value %s -> 4000" % name)
    t.rsc(disc("fu=3"), 5001, 501, "fu=3 (IPE on-demand) -> 5001")

    # labelsQuery, child and parent attributes, applyRelativePath.
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "kv", "lbl": ["site:berlin", "floor:2"]}}, origin=O)
    t.eq(names(disc("lbq=site")), ["kv"], "lbq key present")
    t.eq(names(disc("lbq=site%20EQ%20berlin")), ["kv"], "lbq EQ (percent-encoded spaces)")
    t.eq(names(disc("lbq=site+EQ+berlin")), ["kv"], "lbq EQ ('+' as space)")
    t.eq(names(disc("lbq=floor%20IN%20(1,2)")), ["kv"], "lbq IN")
    t.eq(names(disc("lbq=floor%20NI%20(2)")), [], "lbq NI")
    t.eq(names(disc("lbq=NT%20site&ty=3")), ["hum", "temp"], "lbq NT")
    t.eq(names(disc("c.con=21&ty=3")), ["temp"], "c.<attr>: a child matches")
    t.eq(names(disc("p.rn=hum")), ["cin"], "p.<attr>: the parent matches")
    t.eq(names(disc("chty=4")), ["hum", "temp"], "chty")
    t.eq(names(disc("pty=3")), ["cin", "cin", "cin"], "pty")
    t.eq(names(disc("clbl=room/1")), ["hum"], "clbl")
    t.eq(names(disc("palb=kind/hum")), ["cin"], "palb")
    r = disc("ty=3&arp=la")
    la_temp = cse.get("/cse-in/app/temp/la", origin=O).json["m2m:cin"]["ri"]
    la_hum = cse.get("/cse-in/app/hum/la", origin=O).json["m2m:cin"]["ri"]
    t.ok(r.rsc == 2000 and sorted(u.split("/")[-1] for u in r.json["m2m:uril"]) == sorted([
        cse.get("/" + la_temp, origin=O).json["m2m:cin"]["rn"], cse.get("/" + la_hum, origin=O).json["m2m:cin"]["rn"]]),
         "arp=la: the latest instance of each match; empty containers drop out", r)
    r = disc("ty=3&arp=la&drt=2")
    t.ok(r.rsc == 2000 and sorted(r.json["m2m:uril"]) == sorted([la_temp, la_hum]), "arp with drt=2", r)
    r = disc("ty=4&arp=..&lbl=room/1")
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == ["cse-in/app/hum"], "arp=.. names the parent", r)
    r = disc("ty=3&arp=../../..")
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == [], "arp above the CSEBase drops the match", r)
    r = disc("ty=3&arp=nothing")
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == [], "arp to a missing child drops the match", r)

    # Conditional retrieval (fu=2): the target must match.
    r = cse.get("/cse-in/app/temp?lbl=kind/temp", origin=O)
    t.ok(r.rsc == 2000 and r.json["m2m:cnt"]["rn"] == "temp", "conditional retrieve, matching", r)
    r = cse.get("/cse-in/app/temp?lbl=kind/hum", origin=O)
    t.rsc(r, 4004, 404, "conditional retrieve, not matching -> 4004")

    # Inactive AEs are skipped by discovery, with their subtree.
    cse.register_ae("sleepy", origin="Csleepy", regs=2)
    cse.create("/cse-in/sleepy", 3, {"m2m:cnt": {"rn": "hidden"}}, origin="Csleepy")
    r = cse.get("/cse-in?fu=1&ty=2+3", origin=O)
    t.ok(r.rsc == 2000 and not any("sleepy" in u or "hidden" in u for u in r.json["m2m:uril"])
         and "cse-in/app" in r.json["m2m:uril"], "regs=INACTIVE AE subtree skipped", r)
    r = cse.get("/cse-in/sleepy", origin="Csleepy")
    t.rsc(r, 2000, 200, "inactive AE still retrievable directly")

    # One type is found through an index without visiting the ancestors:
    # what hides a subtree (an inactive AE, a disr container) still applies.
    # (asked by the inactive AE itself, which could otherwise discover its container)
    r = cse.get("/cse-in?fu=1&ty=3", origin="Csleepy")
    t.ok(r.rsc == 2000 and not any("sleepy" in u for u in r.json["m2m:uril"]),
         "one-type discovery skips an inactive AE's subtree", r)
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "locked", "disr": True}}, origin=O)
    cse.create("/cse-in/app/locked", 4, {"m2m:cin": {"con": "secret"}}, origin=O)
    for base in ("/cse-in/app", "/cse-in"):
        r = cse.get(base + "?fu=1&ty=4", origin=O)
        t.ok(r.rsc == 2000 and len(r.json["m2m:uril"]) == 3 and not any("locked" in u for u in r.json["m2m:uril"]),
             "one-type discovery from %s leaves out a disr container's instances" % base, r)
    # Pages of one match each add up to the whole list, in one order.
    whole = disc("ty=4").json["m2m:uril"]
    pages = [disc("ty=4&lim=1&ofst=%d" % k).json["m2m:uril"] for k in (1, 2, 3, 4)]
    t.eq(sum(pages, []), whole, "ofst/lim pages of a one-type discovery")
    t.eq([u.split("/")[2] for u in whole], ["temp", "temp", "hum"],
         "pre-order: a container's instances, then the next container's")
    # Label, cty, size and creation-time filters read rows through indexes
    # (store_scan_matching): the same matches, order, hiding rules and pages.
    cse.create("/cse-in/sleepy/hidden", 4, {"m2m:cin": {"con": "x", "lbl": ["pick"]}}, origin="Csleepy")
    cse.create("/cse-in/app/locked", 4, {"m2m:cin": {"con": "y", "lbl": ["pick"]}}, origin=O)
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "idx"}}, origin=O)
    rn = []
    for i in range(12):
        body = {"con": "v" * (20 if i % 4 == 3 else 1),
                "cnf": "application/xml:0" if i == 7 else "text/plain:0"}
        if i % 4 == 3:
            body["lbl"] = ["pick", "n:%d" % i]
        rn.append(cse.create("/cse-in/app/idx", 4, {"m2m:cin": body}, origin=O).json["m2m:cin"]["rn"])
    picked = [rn[3], rn[7], rn[11]]
    def tails(q, path="/cse-in/app/idx"):
        r = disc(q, path)
        return [u.split("/")[-1] for u in r.json["m2m:uril"]] if r.rsc == 2000 else ["error %s" % r.rsc]
    t.eq(tails("lbl=pick", "/cse-in"), picked, "lbl through the index: in order, hidden subtrees left out")
    t.eq(sum((tails("lbl=pick&lim=1&ofst=%d" % k, "/cse-in") for k in (1, 2, 3)), []), picked,
         "lbl pages add up to the whole list")
    t.eq(tails("lbq=n"), picked, "lbq key through the index")
    t.eq(tails("lbq=n%20IN%20(3,11)&ty=4"), [rn[3], rn[11]], "lbq IN through the index")
    t.eq(tails("cty=application/xml"), [rn[7]], "cty through the index")
    t.eq(tails("sza=20&ty=4"), picked, "sza through the index")
    t.eq(tails("cra=%s&lbl=pick" % ts(-3600)), picked, "cra AND lbl")
    t.eq(len(tails("lbl=pick&cty=text/plain&fo=2")), 12, "lbl OR cty")
    t.eq(tails("lbl=pick&cty=text/plain"), [rn[3], rn[11]], "lbl AND cty")
    cse.update("/cse-in/app/idx", {"m2m:cnt": {"lbl": ["pick"]}}, origin=O)
    t.eq(tails("lbl=pick", "/cse-in/app"), ["idx"] + picked, "a label added by an UPDATE is found, before the children")
    cse.delete("/cse-in/app/idx/" + rn[3], origin=O)
    cse.update("/cse-in/app/idx", {"m2m:cnt": {"lbl": ["other"]}}, origin=O)
    t.eq(tails("lbl=pick", "/cse-in/app"), [rn[7], rn[11]], "labels leave with an UPDATE and a DELETE")
t.done()
