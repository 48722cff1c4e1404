"""Addressing forms: structured, unstructured, hybrid, '-', SP-relative,
absolute, other CSE-IDs, malformed targets, #attr and atrl partial retrieve."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
with Cse() as cse:
    r = cse.register_ae("app", origin="Capp")
    ae_ri = r.json["m2m:ae"]["ri"]
    r = cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "box", "lbl": ["x"]}}, origin="Capp")
    cnt_ri = r.json["m2m:cnt"]["ri"]

    def rn_of(r, key="m2m:cnt"):
        return (r.json or {}).get(key, {}).get("rn")

    r = cse.get("/cse-in/app/box", origin="Capp")
    t.ok(r.rsc == 2000 and rn_of(r) == "box", "structured CSE-relative", r)
    r = cse.get("/" + cnt_ri, origin="Capp")
    t.ok(r.rsc == 2000 and rn_of(r) == "box", "unstructured CSE-relative (ri)", r)
    r = cse.get("/%s/box" % ae_ri, origin="Capp")
    t.ok(r.rsc == 2000 and rn_of(r) == "box", "hybrid: ri followed by a child name", r)
    r = cse.get("/-/app/box", origin="Capp")
    t.ok(r.rsc == 2000 and rn_of(r) == "box", "'-' stands for the CSEBase name", r)
    r = cse.get("/~/id-in/cse-in/app/box", origin="Capp")
    t.ok(r.rsc == 2000 and rn_of(r) == "box", "SP-relative structured /~/id-in/cse-in/...", r)
    r = cse.get("/~/id-in/" + cnt_ri, origin="Capp")
    t.ok(r.rsc == 2000 and rn_of(r) == "box", "SP-relative unstructured /~/id-in/<ri>", r)
    r = cse.get("/_/ironbark.local/id-in/cse-in/app/box", origin="Capp")
    t.ok(r.rsc == 2000 and rn_of(r) == "box", "absolute /_/ironbark.local/id-in/...", r)
    r = cse.get("/_/ironbark.local/id-in/" + cnt_ri, origin="Capp")
    t.ok(r.rsc == 2000 and rn_of(r) == "box", "absolute unstructured", r)
    r = cse.get("/~/id-in/cse-in", origin="Capp")
    t.rsc(r, 2000, 200, "SP-relative CSEBase")
    r = cse.get("/id-in", origin="Capp")
    t.rsc(r, 2000, 200, "the CSEBase ri (= CSE-ID) as an unstructured id")

    r = cse.get("/~/id-other/cse-in/app", origin="Capp")
    t.rsc(r, 4004, 404, "SP-relative address of another CSE -> 4004")
    r = cse.get("/_/other.sp/id-in/cse-in", origin="Capp")
    t.rsc(r, 4004, 404, "absolute address in another SP -> 4004")
    r = cse.get("/~/id-in", origin="Capp")
    t.rsc(r, 4000, 400, "bare SP-relative CSE-ID -> 4000")
    r = cse.get("/~/id-in/", origin="Capp")
    t.rsc(r, 4000, 400, "CSE-ID with a trailing '/' -> 4000")
    r = cse.get("/cse-in/app/", origin="Capp")
    t.rsc(r, 4000, 400, "structured path with a trailing '/' -> 4000")
    r = cse.get("/cse-in//app", origin="Capp")
    t.rsc(r, 4000, 400, "empty path segment -> 4000")
    r = cse.get("/cse-in/app/nothere", origin="Capp")
    t.rsc(r, 4004, 404, "missing child -> 4004")
    r = cse.get("/nosuchri", origin="Capp")
    t.rsc(r, 4004, 404, "unknown ri -> 4004")
    r = cse.get("/cse-in/a%20b", origin="Capp")
    t.rsc(r, 4000, 400, "space in a path segment -> 4000")
    t.ok("m2m:dbg" in (r.json or {}), "errors carry m2m:dbg", r)

    r = cse.get("/cse-in/app/box%23lbl", origin="Capp")
    t.ok(r.rsc == 2000 and r.json == {"m2m:cnt": {"lbl": ["x"]}}, "#attr partial retrieve", r)
    r = cse.get("/cse-in/app/box%23nope", origin="Capp")
    t.rsc(r, 4000, 400, "#attr naming an unknown attribute -> 4000")
    r = cse.request("PUT", "/cse-in/app/box%23lbl", body={"m2m:cnt": {"lbl": []}}, origin="Capp")
    t.rsc(r, 4000, 400, "#attr with UPDATE -> 4000")
    r = cse.get("/cse-in/app/box?atrl=rn+ty", origin="Capp")
    t.ok(r.rsc == 2000 and r.json == {"m2m:cnt": {"rn": "box", "ty": 3}}, "atrl partial retrieve", r)
    r = cse.get("/cse-in/app/box?atrl=rn&rcn=4", origin="Capp")
    t.rsc(r, 4000, 400, "atrl with rcn other than 1 -> 4000")

    r = cse.create("/cse-in/app/box", 4, {"m2m:cin": {"con": "hello"}}, origin="Capp")
    cin_ri = r.json["m2m:cin"]["ri"]
    r = cse.get("/%s/box/la" % ae_ri, origin="Capp")
    t.ok(r.rsc == 2000 and r.json["m2m:cin"]["ri"] == cin_ri, "hybrid address to la", r)
    r = cse.get("/%s/la" % cnt_ri, origin="Capp")
    t.ok(r.rsc == 2000 and r.json["m2m:cin"]["ri"] == cin_ri, "ri/la", r)
    r = cse.get("/cse-in/app/box?fu=1&drt=2", origin="Capp")
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == [cin_ri], "drt=2 gives unstructured ids", r)
    r = cse.get("/cse-in/app/box?fu=1", origin="Capp")
    t.ok(r.rsc == 2000 and r.json["m2m:uril"] == ["cse-in/app/box/" + r.json["m2m:uril"][0].split("/")[-1]]
         and r.json["m2m:uril"][0].startswith("cse-in/app/box/"), "drt=1 gives structured paths", r)
    r = cse.request("POST", "/cse-in/app/box?rcn=2", ty=4, body={"m2m:cin": {"con": "x"}}, origin="Capp")
    t.ok(r.rsc == 2001 and r.json["m2m:uri"].startswith("cse-in/app/box/"), "rcn=2 returns the structured address", r)
    t.ok(r.headers.get("content-location", "") != "", "Content-Location on create", r)
t.done()
