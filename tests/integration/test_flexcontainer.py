"""<flexContainer> (ty 28) and <flexContainerInstance> (ty 58): the wire key
kept per instance, cnd mandatory, custom attributes, cs/st, versions within
mni/mbs/mia reachable through la/ol, discovery by ty, subscriptions, bad
inputs (nothing stored), one CoAP request."""
import calendar, json, os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, events
from coap_peer import coap_client

t = Tap()
O = "Cflex"
CND = "org.onem2m.common.moduleclass.temperature"

rx = Receiver().start()
try:
    with Cse(expiry_interval=100) as cse:
        cse.register_ae("app", origin=O)
        app = "/cse-in/app"

        def mk(body, path=app):
            return cse.create(path, 28, body, origin=O)

        def get(path):
            return cse.get(path, origin=O)

        # --- the specialisation's key is the instance's -------------------
        r = mk({"cod:tmpSr": {"rn": "t1", "cnd": CND, "curT0": 21.5, "unit": 1}})
        t.rsc(r, 2001, 201, "flexContainer created with its specialisation key")
        body = r.json or {}
        t.ok("cod:tmpSr" in body, "CREATE answers under the specialisation key", body)
        f = body.get("cod:tmpSr", {})
        t.eq((f.get("ty"), f.get("cnd"), f.get("curT0"), f.get("unit"), f.get("st")),
             (28, CND, 21.5, 1, 0), "ty, cnd, custom attributes, st=0")
        t.eq(f.get("cs"), len(json.dumps({"curT0": 21.5, "unit": 1}, separators=(",", ":"))),
             "cs is the size of the custom attributes")
        t.ok(not any(k.startswith("@") for k in f), "no private attribute on the wire", f)
        t.ok("cni" not in f, "no versions without mni/mbs/mia")
        r = get(app + "/t1")
        t.ok(r.rsc == 2000 and r.json.get("cod:tmpSr", {}).get("curT0") == 21.5,
             "RETRIEVE answers under the specialisation key", r)
        r = cse.request("GET", app + "/t1?rcn=4", origin=O)
        t.rsc(r, 2000, 200, "rcn=4 of the AE-level flexContainer")
        r = cse.request("GET", app + "?rcn=4", origin=O)
        t.ok(r.rsc == 2000 and "cod:tmpSr" in (r.json or {}).get("m2m:ae", {}),
             "a child listing (rcn=4) names the child by its specialisation key", r)

        r = cse.update(app + "/t1", {"cod:tmpSr": {"curT0": 22.0}}, origin=O)
        t.ok(r.rsc == 2004 and r.json["cod:tmpSr"]["curT0"] == 22.0 and r.json["cod:tmpSr"]["st"] == 1,
             "UPDATE of a custom attribute, st incremented", r)
        r = cse.update(app + "/t1", {"cod:tmpSr": {"unit": None}}, origin=O)
        t.ok(r.rsc == 2004 and "unit" not in r.json["cod:tmpSr"], "a custom attribute removed with null", r)
        r = cse.update(app + "/t1", {"m2m:fcnt": {"curT0": 1}}, origin=O)
        t.rsc(r, 4000, 400, "UPDATE under another key -> 4000")
        r = cse.update(app + "/t1", {"cod:tmpSr": {"cnd": "x"}}, origin=O)
        t.rsc(r, 4000, 400, "cnd is write-once -> 4000")
        r = cse.request("GET", app + "/t1?atrl=curT0", origin=O)
        t.eq((r.rsc, (r.json or {}).get("cod:tmpSr")), (2000, {"curT0": 22.0}),
             "partial retrieve of a custom attribute")

        r = cse.create(app + "?rcn=3", 28, {"cod:tmpSr": {"rn": "t3", "cnd": CND, "v": 1}}, origin=O)
        rce = (r.json or {}).get("m2m:rce", {})
        t.ok(r.rsc == 2001 and rce.get("cod:tmpSr", {}).get("v") == 1 and rce.get("uri", "").endswith("/t3")
             and "@key" not in rce.get("cod:tmpSr", {}), "rcn=3 names the specialisation key, no private attribute", r)

        # --- generic m2m:fcnt ----------------------------------------------
        r = mk({"m2m:fcnt": {"rn": "g", "cnd": "org.example.any", "x": [1, 2]}})
        t.ok(r.rsc == 2001 and r.json["m2m:fcnt"]["x"] == [1, 2], "generic m2m:fcnt with a custom attribute", r)

        # --- bad inputs: nothing stored -------------------------------------
        bad = [
            ({"cod:tmpSr": {"rn": "b1", "curT0": 1}}, "cnd missing"),
            ({"cod:tmpSr": {"rn": "b2", "cnd": ""}}, "empty cnd"),
            ({"m2m:cnt": {"rn": "b3", "cnd": CND}}, "another type's key with ty=28"),
            ({"tmpSr": {"rn": "b4", "cnd": CND}}, "a key without namespace"),
            ({"cod:tmpSr": {"rn": "b5", "cnd": CND, "@key": "m2m:x"}}, "a private attribute name"),
            ({"cod:tmpSr": {"rn": "b6", "cnd": CND, "bad-name": 1}}, "a custom attribute name with '-'"),
            ({"cod:tmpSr": {"rn": "b7", "cnd": CND, "cni": 3}}, "cni (NP)"),
            ({"cod:tmpSr": {"rn": "b8", "cnd": CND, "mni": -1}}, "negative mni"),
            ({"cod:tmpSr": {"rn": "b9", "cnd": CND, "v": None}}, "a null custom attribute"),
            ({"cod:tmpSr": {"rn": "b10", "cnd": CND}, "cod:other": {}}, "two keys"),
        ]
        for body, why in bad:
            r = mk(body)
            t.rsc(r, 4000, 400, "CREATE with %s -> 4000" % why)
        t.ok(all(get(app + "/" + list(b.values())[0]["rn"]).rsc == 4004 for b, _ in bad),
             "none of the bad CREATEs stored anything")
        r = cse.create("/cse-in/app/t1", 28, {"cod:tmpSr": {"rn": "la", "cnd": CND}}, origin=O)
        t.rsc(r, 4000, 400, "'la' is reserved under a flexContainer -> 4000")
        r = mk({"cod:tmpSr": {"rn": "t1", "cnd": CND}})
        t.rsc(r, 4105, 409, "same name twice -> 4105")

        # --- versions: flexContainerInstances -------------------------------
        r = mk({"cod:tmpSr": {"rn": "v", "cnd": CND, "mni": 2, "curT0": 1}})
        v = r.json["cod:tmpSr"]
        t.eq((r.rsc, v.get("cni"), v.get("cbs")), (2001, 1, v.get("cs")), "CREATE with mni keeps a first instance")
        la = get(app + "/v/la")
        t.ok(la.rsc == 2000 and "cod:tmpSrInstance" in (la.json or {}), "la answers the flexContainerInstance", la)
        fci = (la.json or {}).get("cod:tmpSrInstance", {})
        t.eq((fci.get("ty"), fci.get("curT0"), fci.get("org"), fci.get("st")), (58, 1, O, 0),
             "instance: ty 58, custom attribute, org, the container's st")
        t.ok("cnd" not in fci and not any(k.startswith("@") for k in fci), "instance holds no cnd, no private attrs", fci)
        for val in (2, 3):
            cse.update(app + "/v", {"cod:tmpSr": {"curT0": val}}, origin=O)
        v = get(app + "/v").json["cod:tmpSr"]
        t.eq(v.get("cni"), 2, "mni caps the instances")
        t.eq((get(app + "/v/la").json["cod:tmpSrInstance"]["curT0"],
              get(app + "/v/ol").json["cod:tmpSrInstance"]["curT0"]), (3, 2),
             "each UPDATE adds an instance; the oldest went")
        r = cse.request("GET", app + "/v?fu=1&ty=58", origin=O)
        t.eq(len((r.json or {}).get("m2m:uril", [])), 2, "discovery by ty=58 finds the instances")
        r = cse.request("GET", "/cse-in?fu=1&ty=28", origin=O)
        t.eq(sorted(u.rsplit("/", 1)[-1] for u in (r.json or {}).get("m2m:uril", [])), ["g", "t1", "t3", "v"],
             "discovery by ty=28 finds the flexContainers")
        ol_ri = get(app + "/v/ol").json["cod:tmpSrInstance"]["ri"]
        r = cse.update("/" + ol_ri, {"cod:tmpSrInstance": {"curT0": 9}}, origin=O)
        t.rsc(r, 4005, 405, "an instance cannot be updated -> 4005")
        r = cse.create(app + "/v", 58, {"m2m:fci": {"curT0": 9}}, origin=O)
        t.rsc(r, 4005, 405, "an instance cannot be created -> 4005")
        r = cse.delete(app + "/v/ol", origin=O)
        t.rsc(r, 2002, 200, "delete through ol")
        t.eq(get(app + "/v").json["cod:tmpSr"]["cni"], 1, "cni follows the delete")
        r = cse.update(app + "/v", {"cod:tmpSr": {"mbs": 0}}, origin=O)
        t.eq((r.rsc, r.json["cod:tmpSr"]["cni"]), (2004, 0), "mbs 0 keeps no instance")
        r = cse.update(app + "/v", {"cod:tmpSr": {"mni": None, "mbs": None}}, origin=O)
        t.ok(r.rsc == 2004 and "cni" not in r.json["cod:tmpSr"], "no quotas left: no versions, no cni", r)
        t.rsc(get(app + "/v/la"), 4004, 404, "la without instances -> 4004")
        r = mk({"m2m:fcnt": {"rn": "gv", "cnd": "org.example.any", "mia": 3600, "a": 1}})
        gfci = get(app + "/gv/la").json.get("m2m:fci", {})
        t.ok(gfci.get("a") == 1, "generic instance key m2m:fci", r)
        ct = calendar.timegm(time.strptime(gfci.get("ct", "19700101T000000").split(",")[0], "%Y%m%dT%H%M%S"))
        et = calendar.timegm(time.strptime(gfci.get("et", "19700101T000000").split(",")[0], "%Y%m%dT%H%M%S"))
        t.ok(0 < et - ct <= 3600, "mia caps the instance's et", gfci)

        # --- subscriptions --------------------------------------------------
        r = cse.create(app + "/t1", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url], "enc": {"net": [1]}}}, origin=O)
        t.rsc(r, 2001, 201, "subscription to a flexContainer")
        rx.clear()
        cse.update(app + "/t1", {"cod:tmpSr": {"curT0": 30}}, origin=O)
        rx.wait_count(1)
        ev = events(rx.snapshot())
        t.ok(ev and ev[0][0] == 1 and ev[0][1].get("cod:tmpSr", {}).get("curT0") == 30,
             "the update notification carries the specialisation key", ev)

        # --- CoAP ------------------------------------------------------------
        r = coap_client(cse.coap_port, "cse-in/app", "post", dict(fr=O, rqi="c1", rvi="3", ty=28),
                        json.dumps({"cod:lock": {"rn": "door", "cnd": "org.onem2m.common.moduleclass.lock",
                                                 "lock": True}}), cf=50)
        t.ok(r.rsc == 2001 and (r.json or {}).get("cod:lock", {}).get("lock") is True,
             "CoAP CREATE of a flexContainer", r)
        t.eq(get(app + "/door").rsc, 2000, "the CoAP-created flexContainer is stored")

        r = cse.delete(app + "/t1", origin=O)
        t.rsc(r, 2002, 200, "DELETE a flexContainer")
        t.rsc(get(app + "/t1"), 4004, 404, "it is gone")
finally:
    rx.stop()
t.done()
