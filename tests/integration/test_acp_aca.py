"""ACP rules with accessControlAttributes (aca) and the full actw syntax, as
a client sees them: malformed aca or actw -> 4000 with nothing stored; valid
ones are stored and returned. A rule with aca grants only when every
attribute the request touches is listed: an UPDATE's content, a partial
RETRIEVE's list, else all of the target's attributes (security/acl.c)."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
O, X = "Caca", "Cother"

with Cse() as cse:
    cse.register_ae("app", origin=O)
    cse.register_ae("x", origin=X)
    app = "/cse-in/app"

    def acp(rn, rule):
        return cse.create(app, 1, {"m2m:acp": {"rn": rn, "pv": {"acr": [rule]},
                                              "pvs": {"acr": [{"acor": [O], "acop": 63}]}}}, origin=O)

    for rule, why in (({"acor": [X], "acop": 4, "aca": []}, "an empty aca"),
                      ({"acor": [X], "acop": 4, "aca": "lbl"}, "aca not a list"),
                      ({"acor": [X], "acop": 4, "aca": [""]}, "an empty attribute name"),
                      ({"acor": [X], "acop": 4, "aca": ["a b"]}, "an attribute name with a space"),
                      ({"acor": [X], "acop": 2, "acco": [{"actw": ["5/ * * * * * *"]}]}, "actw step without a number"),
                      ({"acor": [X], "acop": 2, "acco": [{"actw": ["1,,2 * * * * * *"]}]}, "actw empty list item"),
                      ({"acor": [X], "acop": 2, "acco": [{"actw": ["70/5 * * * * * *"]}]}, "actw start out of range")):
        t.rsc(acp("bad", rule), 4000, 400, why + " -> 4000")
        t.rsc(cse.get(app + "/bad", origin=O), 4004, 404, why + ": nothing stored")

    r = acp("tw", {"acor": [X], "acop": 2, "acco": [{"actw": ["*/1\t* * 1/1 * * *", "0 0 9-17/4,20 * * * *"]}]})
    t.ok(r.rsc == 2001 and r.json["m2m:acp"]["pv"]["acr"][0]["acco"][0]["actw"][1] == "0 0 9-17/4,20 * * * *",
         "the full actw syntax is accepted and stored", r)
    r = acp("attrs", {"acor": [X], "acop": 6, "aca": ["lbl"]})
    t.ok(r.rsc == 2001 and r.json["m2m:acp"]["pv"]["acr"][0]["aca"] == ["lbl"], "a rule with aca is stored", r)
    ri = r.json["m2m:acp"]["ri"]
    cse.create(app, 3, {"m2m:cnt": {"rn": "box", "acpi": [ri]}}, origin=O)
    t.rsc(cse.update(app + "/box", {"m2m:cnt": {"lbl": ["x"]}}, origin=X), 2004, 200,
          "an UPDATE of lbl alone: the aca rule grants")
    t.rsc(cse.update(app + "/box", {"m2m:cnt": {"lbl": ["y"], "mni": 5}}, origin=X), 4103, 403,
          "an UPDATE touching mni too: refused")
    t.eq((cse.get(app + "/box", origin="CAdmin").json or {}).get("m2m:cnt", {}).get("mni", "absent"), "absent",
         "nothing changed by the refused UPDATE")
    t.rsc(cse.get(app + "/box?atrl=lbl", origin=X), 2000, 200, "a partial RETRIEVE of lbl: granted")
    t.rsc(cse.get(app + "/box?atrl=lbl+cni", origin=X), 4103, 403, "a partial RETRIEVE naming cni too: refused")
    t.rsc(cse.get(app + "/box", origin=X), 4103, 403, "a whole RETRIEVE touches every attribute: refused")
    r = cse.create("/cse-in", 18, {"m2m:sch": {"rn": "sch", "se": {"sce": ["0 0 8/2 * * 1-5 *"]}}}, origin="CAdmin")
    t.rsc(r, 2001, 201, "a <schedule> entry with the n/s form (the same parser)")
t.done()
