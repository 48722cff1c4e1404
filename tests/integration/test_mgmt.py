"""<node> (ty 14) and <mgmtObj> (ty 13) with its TS-0001 Annex D
specialisations: node CRUD (ni mandatory), every specialisation created under
a node with its own key and mgd, wrong key/ty/mgd combinations and missing
mandatory attributes refused with nothing stored, updates, discovery by ty
and mgd, deleting a node removes its mgmtObjs, one CoAP request."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import coap_client
from notify_receiver import Receiver, events

t = Tap()
A = "CAdmin"

# One valid CREATE body per specialisation: key -> (mgd, mandatory attributes).
SPECS = {
    "m2m:fwr": (1001, {"vr": "1.0", "fwn": "fw", "url": "http://example.org/fw", "ud": False}),
    "m2m:swr": (1002, {"vr": "2.1", "swn": "app", "url": "http://example.org/sw", "in": False,
                       "un": False, "act": False, "dea": False}),
    "m2m:mem": (1003, {"mma": 1024, "mmt": 4096}),
    "m2m:ani": (1004, {"ant": "802.15.4", "ldv": ["dev1", "dev2"]}),
    "m2m:andi": (1005, {"dvd": "dev1", "dvt": "sensor", "awi": "pan1", "lnh": ["dev2"]}),
    "m2m:bat": (1006, {"btl": 80, "bts": 1}),
    "m2m:dvi": (1007, {"dlb": "label", "man": "Acme", "mod": "M1", "dty": "gateway"}),
    "m2m:dvc": (1008, {"can": "camera", "att": True, "cus": False}),
    "m2m:rbo": (1009, {"rbo": False, "far": False}),
    "m2m:evl": (1010, {"lgt": 1, "lgd": ["boot ok"], "lga": False, "lgo": False}),
}


def body(key, rn, **extra):
    mgd, attrs = SPECS[key]
    return {key: dict(attrs, rn=rn, mgd=mgd, **extra)}


rx = Receiver().start()
try:
    with Cse() as cse:
        # --- node CRUD -------------------------------------------------------
        r = cse.create("/cse-in", 14, {"m2m:nod": {"rn": "gw", "ni": "urn:dev:gw-1", "hcl": "/id-mn",
                                                    "hael": ["Capp"], "mgca": "coap://10.0.0.1"}}, origin=A)
        t.rsc(r, 2001, 201, "node created under the CSEBase")
        nod = (r.json or {}).get("m2m:nod", {})
        t.eq((nod.get("ty"), nod.get("ni"), nod.get("hcl"), nod.get("hael")),
             (14, "urn:dev:gw-1", "/id-mn", ["Capp"]), "ty, ni, hcl, hael as given")
        r = cse.update("/cse-in/gw", {"m2m:nod": {"ni": "urn:dev:gw-2", "hael": ["Capp", "Cother"]}}, origin=A)
        t.ok(r.rsc == 2004 and r.json["m2m:nod"]["ni"] == "urn:dev:gw-2" and len(r.json["m2m:nod"]["hael"]) == 2,
             "UPDATE of ni and hael", r)
        node_bad = [
            ({"m2m:nod": {"rn": "n1"}}, "ni missing"),
            ({"m2m:nod": {"rn": "n2", "ni": ""}}, "empty ni"),
            ({"m2m:nod": {"rn": "n3", "ni": "x", "rms": True}}, "rms (set by the CSE)"),
            ({"m2m:nod": {"rn": "n4", "ni": "x", "hael": "Capp"}}, "hael not a list"),
            ({"m2m:fwr": {"rn": "n5", "ni": "x"}}, "a mgmtObj key with ty=14"),
        ]
        for b, why in node_bad:
            t.rsc(cse.create("/cse-in", 14, b, origin=A), 4000, 400, "node CREATE with %s -> 4000" % why)
        t.ok(all(cse.get("/cse-in/" + list(b.values())[0]["rn"], origin=A).rsc == 4004 for b, _ in node_bad),
             "none of the refused node CREATEs stored anything")
        r = cse.update("/cse-in/gw", {"m2m:nod": {"ni": None}}, origin=A)
        t.rsc(r, 4000, 400, "ni cannot be removed -> 4000")
        r = cse.register_ae("app", origin="Capp")
        r = cse.create("/cse-in/app", 14, {"m2m:nod": {"rn": "n6", "ni": "x"}}, origin="Capp")
        t.rsc(r, 4108, 403, "a node under an AE -> 4108")

        # --- every specialisation under the node ---------------------------------
        for key, (mgd, _) in SPECS.items():
            rn = key.split(":")[1]
            r = cse.create("/cse-in/gw", 13, body(key, rn), origin=A)
            got = (r.json or {}).get(key, {})
            t.ok(r.rsc == 2001 and got.get("ty") == 13 and got.get("mgd") == mgd
                 and not any(k.startswith("@") for k in got), "%s created with mgd %d" % (key, mgd), r)
            r = cse.get("/cse-in/gw/" + rn, origin=A)
            t.ok(r.rsc == 2000 and (r.json or {}).get(key, {}).get("mgd") == mgd,
                 "%s retrieved under its own key" % key, r)

        # --- refused CREATEs: nothing stored ----------------------------------
        mgo_bad = [
            (13, {"m2m:fwr": dict(SPECS["m2m:fwr"][1], rn="b1", mgd=1002)}, "the mgd of another specialisation"),
            (13, {"m2m:fwr": dict(SPECS["m2m:fwr"][1], rn="b2")}, "mgd missing"),
            (13, {"m2m:mem": {"rn": "b3", "mgd": 1003, "mma": 1}}, "a mandatory attribute (mmt) missing"),
            (13, {"m2m:mem": dict(SPECS["m2m:mem"][1], rn="b4", mgd=1003, vr="1")}, "another specialisation's attribute"),
            (13, {"m2m:xyz": {"rn": "b5", "mgd": 1001}}, "a key that is no specialisation"),
            (13, {"m2m:mgo": {"rn": "b6", "mgd": 0}}, "the generic key"),
            (13, {"m2m:nod": {"rn": "b7", "ni": "x"}}, "the node's key with ty=13"),
            (14, body("m2m:bat", "b8"), "a mgmtObj key with ty=14"),
            (13, {"m2m:fwr": dict(SPECS["m2m:fwr"][1], rn="b9", mgd=1001, uds={"sus": 1})}, "uds (not writable)"),
            (13, {"m2m:bat": {"rn": "b10", "mgd": 1006, "btl": 101, "bts": 1}}, "btl above 100"),
            (13, {"m2m:bat": {"rn": "b11", "mgd": 1006, "btl": 50, "bts": 9}}, "bts out of range"),
            (13, {"m2m:fwr": dict(SPECS["m2m:fwr"][1], rn="b12", mgd=1001, ud="yes")}, "ud not a boolean"),
        ]
        for ty, b, why in mgo_bad:
            r = cse.create("/cse-in/gw", ty, b, origin=A)
            t.rsc(r, 4000, 400, "CREATE with %s -> 4000" % why)
        t.ok(all(cse.get("/cse-in/gw/" + list(b.values())[0]["rn"], origin=A).rsc == 4004 for _, b, _ in mgo_bad),
             "none of the refused mgmtObj CREATEs stored anything")
        r = cse.create("/cse-in", 13, body("m2m:fwr", "top"), origin=A)
        t.rsc(r, 4108, 403, "a mgmtObj under the CSEBase -> 4108")
        r = cse.create("/cse-in/gw/fwr", 13, body("m2m:fwr", "inner"), origin=A)
        t.rsc(r, 4108, 403, "a firmware under a firmware -> 4108")

        # --- updates -----------------------------------------------------------
        r = cse.update("/cse-in/gw/fwr", {"m2m:fwr": {"vr": "1.1", "ud": True, "dc": "new firmware"}}, origin=A)
        f = (r.json or {}).get("m2m:fwr", {})
        t.ok(r.rsc == 2004 and f.get("vr") == "1.1" and f.get("ud") is True and f.get("dc") == "new firmware",
             "UPDATE of a firmware's version and update trigger", r)
        for b, why in [({"m2m:fwr": {"mgd": 1001}}, "mgd (write-once)"),
                       ({"m2m:fwr": {"swn": "x"}}, "a software attribute"),
                       ({"m2m:swr": {"vr": "3"}}, "another specialisation's key"),
                       ({"m2m:fwr": {"vr": None}}, "removing a mandatory attribute"),
                       ({"m2m:fwr": {"obis": ["x"]}}, "obis (write-once)")]:
            t.rsc(cse.update("/cse-in/gw/fwr", b, origin=A), 4000, 400, "UPDATE of %s -> 4000" % why)
        r = cse.get("/cse-in/gw/fwr", origin=A)
        t.eq((r.json or {}).get("m2m:fwr", {}).get("vr"), "1.1", "the refused UPDATEs changed nothing")
        r = cse.update("/cse-in/gw/bat", {"m2m:bat": {"btl": 15, "bts": 2}}, origin=A)
        t.ok(r.rsc == 2004 and r.json["m2m:bat"]["btl"] == 15, "UPDATE of a battery level", r)
        r = cse.request("GET", "/cse-in/gw/bat?atrl=btl+mgd", origin=A)
        t.eq((r.rsc, (r.json or {}).get("m2m:bat")), (2000, {"btl": 15, "mgd": 1006}),
             "partial retrieve of a specialisation's attributes")

        # --- discovery ---------------------------------------------------------
        r = cse.get("/cse-in?fu=1&ty=13", origin=A)
        t.eq(len((r.json or {}).get("m2m:uril", [])), len(SPECS), "discovery by ty=13 finds every mgmtObj")
        r = cse.get("/cse-in?fu=1&ty=14", origin=A)
        t.eq(len((r.json or {}).get("m2m:uril", [])), 1, "discovery by ty=14 finds the node")
        r = cse.get("/cse-in?fu=1&mgd=1006", origin=A)
        uril = (r.json or {}).get("m2m:uril", [])
        t.ok(r.rsc == 2000 and len(uril) == 1 and uril[0].endswith("/bat"), "discovery by mgd=1006 finds the battery", r)
        r = cse.request("GET", "/cse-in/gw?rcn=4", origin=A)
        nod = (r.json or {}).get("m2m:nod", {})
        t.ok(r.rsc == 2000 and "m2m:fwr" in nod and "m2m:evl" in nod,
             "a child listing (rcn=4) names each mgmtObj by its key", r)

        # --- acod spty: a device may create only firmware under its node ----------
        pv = [{"acor": ["Cdev"], "acop": 1, "acco": [], "acod": [{"ty": 14, "spty": 1001, "chty": [13]}]},
              {"acor": ["Cdev"], "acop": 2}]
        r = cse.create("/cse-in", 1, {"m2m:acp": {"rn": "devacp", "pv": {"acr": pv},
                                                  "pvs": {"acr": [{"acor": [A], "acop": 63}]}}}, origin=A)
        t.rsc(r, 2001, 201, "an ACP whose acod allows firmware (spty 1001) under a node")
        acp_ri = (r.json or {}).get("m2m:acp", {}).get("ri")
        r = cse.create("/cse-in", 14, {"m2m:nod": {"rn": "dev", "ni": "urn:dev:d1", "acpi": [acp_ri]}}, origin=A)
        t.rsc(r, 2001, 201, "a node governed by it")
        r = cse.create("/cse-in/dev", 13, body("m2m:fwr", "fwr"), origin="Cdev")
        t.rsc(r, 2001, 201, "the device creates a firmware (mgd 1001)")
        r = cse.create("/cse-in/dev", 13, body("m2m:bat", "bat"), origin="Cdev")
        t.rsc(r, 4103, 403, "the device may not create a battery (mgd 1006) -> 4103")
        t.eq(cse.get("/cse-in/dev/bat", origin=A).rsc, 4004, "no battery stored")

        # --- subscriptions ------------------------------------------------------
        r = cse.create("/cse-in/gw/fwr", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url], "enc": {"net": [1]}}},
                       origin=A)
        t.rsc(r, 2001, 201, "subscription to a firmware")
        rx.clear()
        cse.update("/cse-in/gw/fwr", {"m2m:fwr": {"ud": False}}, origin=A)
        rx.wait_count(1)
        ev = events(rx.snapshot())
        t.ok(ev and ev[0][0] == 1 and ev[0][1].get("m2m:fwr", {}).get("mgd") == 1001,
             "the update notification carries the specialisation key", ev)

        # --- CoAP --------------------------------------------------------------
        r = coap_client(cse.coap_port, "cse-in/gw", "post", dict(fr=A, rqi="c1", rvi="3", ty=13),
                        json.dumps(body("m2m:rbo", "rbo2")), cf=50)
        t.ok(r.rsc == 2001 and (r.json or {}).get("m2m:rbo", {}).get("mgd") == 1009, "CoAP CREATE of a reboot", r)
        t.eq(cse.get("/cse-in/gw/rbo2", origin=A).rsc, 2000, "the CoAP-created reboot is stored")

        # --- an AE's nl keeps the node's hael --------------------------------
        gw_ri = cse.get("/cse-in/gw", origin=A).json["m2m:nod"]["ri"]
        r = cse.create("/cse-in", 14, {"m2m:nod": {"rn": "gw2", "ni": "urn:dev:gw-3"}}, origin=A)
        gw2_ri = (r.json or {}).get("m2m:nod", {}).get("ri")

        def hael(node):
            return cse.get("/cse-in/" + node, origin=A).json["m2m:nod"].get("hael", [])

        r = cse.register_ae("hosted", origin="Chost", nl=gw_ri)
        t.rsc(r, 2001, 201, "an AE registers with nl naming the node")
        t.eq(hael("gw"), ["Capp", "Cother", "Chost"], "the node's hael gains the AE-ID")
        for nl, why in [("cse-in/app", "an AE"), ("nod-none", "nothing")]:
            r = cse.register_ae("stray", origin="Cstray", nl=nl)
            t.rsc(r, 4000, 400, "nl naming %s -> 4000" % why)
        t.eq(cse.get("/cse-in/stray", origin=A).rsc, 4004, "the refused AE is not registered")
        r = cse.register_ae("app", origin="Cdup", nl=gw_ri)
        t.rsc(r, 4105, 409, "an AE with nl and a taken rn -> 4105")
        t.eq(hael("gw"), ["Capp", "Cother", "Chost"], "the refused registration left hael as it was")
        r = cse.update("/cse-in/hosted", {"m2m:ae": {"nl": gw2_ri}}, origin="Chost")
        t.rsc(r, 2004, 200, "the AE's nl moves to the second node")
        t.eq((hael("gw"), hael("gw2")), (["Capp", "Cother"], ["Chost"]), "hael follows the move")
        r = cse.update("/cse-in/hosted", {"m2m:ae": {"nl": "cse-in/app"}}, origin="Chost")
        t.rsc(r, 4000, 400, "UPDATE of nl to a non-node -> 4000")
        t.eq((hael("gw2"), cse.get("/cse-in/hosted", origin="Chost").json["m2m:ae"]["nl"]), (["Chost"], gw2_ri),
             "the refused UPDATE changed neither the AE nor the node")
        r = cse.delete("/cse-in/hosted", origin="Chost")
        t.rsc(r, 2002, 200, "the hosted AE deregisters")
        t.eq(hael("gw2"), [], "it leaves the node's hael")

        # --- deleting the node removes its mgmtObjs ------------------------------
        r = cse.delete("/cse-in/gw/mem", origin=A)
        t.rsc(r, 2002, 200, "DELETE of one mgmtObj")
        r = cse.delete("/cse-in/gw", origin=A)
        t.rsc(r, 2002, 200, "DELETE of the node")
        t.ok(all(cse.get("/cse-in/gw/" + k.split(":")[1], origin=A).rsc == 4004 for k in SPECS),
             "its mgmtObjs are gone with it")
        r = cse.get("/cse-in?fu=1&ty=13", origin=A)
        t.eq((r.json or {}).get("m2m:uril", []), ["cse-in/dev/fwr"],
             "discovery finds only the other node's mgmtObj")
finally:
    rx.stop()
t.done()
