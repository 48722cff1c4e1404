"""Result content (rcn) per operation: valid values and their shapes,
invalid values -> 4000."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
O = "Crcn"
with Cse() as cse:
    cse.register_ae("app", origin=O)
    def create(rcn, rn, **kw):
        return cse.request("POST", "/cse-in/app?rcn=%d" % rcn, ty=3,
                           body={"m2m:cnt": dict({"rn": rn}, **kw)}, origin=O)

    r = create(0, "r0")
    t.ok(r.rsc == 2001 and not r.text.strip(), "create rcn=0: no content", r)
    r = create(1, "r1")
    t.ok(r.rsc == 2001 and r.json["m2m:cnt"]["rn"] == "r1", "create rcn=1: attributes", r)
    r = create(2, "r2")
    t.ok(r.rsc == 2001 and r.json == {"m2m:uri": "cse-in/app/r2"}, "create rcn=2: m2m:uri", r)
    r = create(3, "r3")
    t.ok(r.rsc == 2001 and r.json["m2m:rce"]["uri"] == "cse-in/app/r3"
         and r.json["m2m:rce"]["m2m:cnt"]["rn"] == "r3", "create rcn=3: m2m:rce", r)
    r = create(9, "r9")
    t.ok(r.rsc == 2001 and "et" in r.json["m2m:cnt"] and "lbl" not in r.json["m2m:cnt"],
         "create rcn=9: the attributes the CSE set", r)
    for bad in (4, 5, 6, 7, 8, 10, 11, 12):
        r = create(bad, "bad%d" % bad)
        t.rsc(r, 4000, 400, "create rcn=%d -> 4000" % bad)

    for i in range(2):
        cse.create("/cse-in/app/r1", 4, {"m2m:cin": {"con": "v%d" % i}}, origin=O)
    cse.create("/cse-in/app/r1", 3, {"m2m:cnt": {"rn": "sub"}}, origin=O)
    cse.create("/cse-in/app/r1/sub", 4, {"m2m:cin": {"con": "deep"}}, origin=O)
    g = lambda q: cse.get("/cse-in/app/r1?" + q, origin=O)
    r = g("rcn=1")
    t.ok(r.rsc == 2000 and "m2m:cin" not in r.json["m2m:cnt"], "retrieve rcn=1", r)
    r = g("rcn=4")
    c = r.json["m2m:cnt"] if r.json else {}
    t.ok(r.rsc == 2000 and c.get("rn") == "r1" and len(c.get("m2m:cin", [])) == 2
         and c["m2m:cnt"][0]["m2m:cin"][0]["con"] == "deep", "retrieve rcn=4: nested children", r)
    r = g("rcn=4&lvl=1")
    c = r.json["m2m:cnt"]
    t.ok("m2m:cin" not in c["m2m:cnt"][0], "retrieve rcn=4&lvl=1: direct children only", r)
    r = g("rcn=5")
    c = r.json["m2m:cnt"]
    t.ok(r.rsc == 2000 and c["rn"] == "r1" and len(c["ch"]) == 3
         and {"nm", "typ", "val"} <= set(c["ch"][0]), "retrieve rcn=5: attributes + ch", r)
    r = g("rcn=6")
    t.ok(r.rsc == 2000 and len(r.json["m2m:rrl"]["rrf"]) == 3, "retrieve rcn=6: m2m:rrl of direct children", r)
    r = g("rcn=8")
    c = r.json["m2m:cnt"]
    t.ok(r.rsc == 2000 and "rn" not in c and len(c["m2m:cin"]) == 2, "retrieve rcn=8: children only", r)
    r = g("rcn=8&ty=4&lvl=1")
    t.ok(r.rsc == 2000 and "m2m:cnt" not in r.json["m2m:cnt"] and len(r.json["m2m:cnt"]["m2m:cin"]) == 2,
         "retrieve rcn=8 with ty filter", r)
    for bad in (0, 2, 3, 7, 9, 10, 11, 12):
        t.rsc(g("rcn=%d" % bad), 4000, 400, "retrieve rcn=%d -> 4000" % bad)
    t.rsc(g("rcn=13"), 4000, 400, "rcn out of range -> 4000")
    t.rsc(g("rcn=x"), 4000, 400, "rcn not a number -> 4000")

    def upd(rcn):
        return cse.request("PUT", "/cse-in/app/r0?rcn=%d" % rcn, body={"m2m:cnt": {"lbl": ["u"]}}, origin=O)
    r = upd(0)
    t.ok(r.rsc == 2004 and not r.text.strip(), "update rcn=0: no content", r)
    r = upd(1)
    t.ok(r.rsc == 2004 and r.json["m2m:cnt"]["lbl"] == ["u"], "update rcn=1", r)
    r = upd(9)
    t.ok(r.rsc == 2004 and "lt" in r.json["m2m:cnt"] and "lbl" not in r.json["m2m:cnt"], "update rcn=9: modified attributes", r)
    for bad in (2, 3, 4, 5, 6, 8):
        t.rsc(upd(bad), 4000, 400, "update rcn=%d -> 4000" % bad)

    def dele(path, rcn=None):
        return cse.delete(path + ("" if rcn is None else "?rcn=%d" % rcn), origin=O)
    r = dele("/cse-in/app/r2")
    t.ok(r.rsc == 2002 and not r.text.strip(), "delete default: no content", r)
    r = dele("/cse-in/app/r3", 1)
    t.ok(r.rsc == 2002 and r.json["m2m:cnt"]["rn"] == "r3", "delete rcn=1: the deleted attributes", r)
    r = dele("/cse-in/app/r1", 6)
    t.ok(r.rsc == 2002 and len(r.json["m2m:rrl"]["rrf"]) == 3, "delete rcn=6: child references", r)
    t.rsc(cse.get("/cse-in/app/r1", origin=O), 4004, 404, "deleted with rcn=6")
    for bad in (2, 3, 9):
        t.rsc(dele("/cse-in/app/r9", bad), 4000, 400, "delete rcn=%d -> 4000" % bad)
    t.rsc(cse.get("/cse-in/app/r9", origin=O), 2000, 200, "nothing deleted by a rejected rcn")
    # Filter criteria make UPDATE and DELETE conditional.
    r = cse.request("PUT", "/cse-in/app/r9?lbl=nope", body={"m2m:cnt": {"lbl": ["c"]}}, origin=O)
    t.rsc(r, 4004, 404, "conditional update, not matching -> 4004")
    r = cse.request("PUT", "/cse-in/app/r9?ty=3", body={"m2m:cnt": {"lbl": ["c"]}}, origin=O)
    t.rsc(r, 2004, 200, "conditional update, matching")
    t.rsc(cse.delete("/cse-in/app/r9?lbl=nope", origin=O), 4004, 404, "conditional delete, not matching -> 4004")
    t.rsc(cse.delete("/cse-in/app/r9?fu=1&ty=4", origin=O), 4000, 400, "DELETE with fu=1 -> 4000 (not discovery-based)")
    t.rsc(cse.get("/cse-in/app/r9", origin=O), 2000, 200, "still there after the refused deletes")
    cse.create("/cse-in/app/r9", 4, {"m2m:cin": {"con": "x"}}, origin=O)
    r = cse.delete("/cse-in/app/r9?rcn=6&ty=4", origin=O)
    t.ok(r.rsc == 2002 and len(r.json["m2m:rrl"]["rrf"]) == 1, "DELETE rcn=6 with ty: the filter selects the listed children", r)
    r = cse.get("/cse-in/app?fu=1&rcn=1", origin=O)
    t.rsc(r, 4000, 400, "discovery with rcn=1 -> 4000")
    r = cse.get("/cse-in/app?fu=1&rcn=11", origin=O)
    t.ok(r.rsc == 2000 and "m2m:uril" in r.json, "discovery rcn=11: m2m:uril", r)
t.done()
