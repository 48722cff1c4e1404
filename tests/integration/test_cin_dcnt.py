"""<contentInstance> R4 attributes: dataGenerationTime (dgt, absolute or
relative, stored absolute) and deletionCnt (dcnt: each RETRIEVE counts one
down, the one using up the last deletes the instance, with a net 4
notification and the container's counters following). Bad values -> 4000,
nothing stored."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, events

t = Tap()
O = "Cdc"

rx = Receiver().start()
try:
    with Cse() as cse:
        box = cse.ae_with_container(O)

        def cin(**kw):
            return cse.create(box, 4, {"m2m:cin": dict({"con": "v"}, **kw)}, origin=O)

        def cni():
            return cse.get(box, origin=O).json["m2m:cnt"]["cni"]

        for body, why in (({"dcnt": 0}, "dcnt 0"), ({"dcnt": "2"}, "dcnt a string"),
                          ({"dgt": "yesterday"}, "dgt not a timestamp"), ({"dgt": 5}, "dgt a number")):
            t.rsc(cin(rn="bad", **body), 4000, 400, why + " -> 4000")
        t.eq(cni(), 0, "nothing stored")

        r = cin(rn="abs", dgt="20260101T000000")
        t.ok(r.rsc == 2001 and r.json["m2m:cin"]["dgt"] == "20260101T000000,000000", "absolute dgt kept (canonical)", r)
        before = time.time()
        r = cin(rn="rel", dgt="5000")
        dgt = (r.json or {}).get("m2m:cin", {}).get("dgt", "")
        when = time.mktime(time.strptime(dgt.split(",")[0], "%Y%m%dT%H%M%S")) - time.timezone if dgt else 0
        t.ok(r.rsc == 2001 and abs(when - (before + 5)) < 3, "relative dgt (5000 ms) stored absolute", r)
        t.rsc(cse.update(box + "/abs", {"m2m:cin": {"dgt": "20270101T000000"}}, origin=O), 4005, 405,
              "an instance (and its dgt) cannot be updated")

        cse.create(box, 23, {"m2m:sub": {"rn": "s", "nu": [rx.url], "enc": {"net": [4]}}}, origin=O)
        r = cin(rn="twice", dcnt=2)
        t.ok(r.rsc == 2001 and r.json["m2m:cin"]["dcnt"] == 2, "dcnt 2 stored", r)
        n = cni()
        r = cse.get(box + "/twice", origin=O)
        t.ok(r.rsc == 2000 and r.json["m2m:cin"]["dcnt"] == 2, "first RETRIEVE answers dcnt 2 (before counting)", r)
        r = cse.get(box + "/la", origin=O)
        t.ok(r.rsc == 2000 and r.json["m2m:cin"]["dcnt"] == 1 and r.json["m2m:cin"]["rn"] == "twice",
             "second RETRIEVE (through la) answers 1 and uses it up", r)
        t.ok(any(cse.get(box + "/twice", origin=O).rsc == 4004 or time.sleep(0.05) for _ in range(40)),
             "the instance is gone (right after the answer)")
        t.eq(cni(), n - 1, "cni follows")
        reqs = rx.wait(lambda q: len(events(q)) >= 1, timeout=5)
        t.eq([(net, rep.get("m2m:cin", {}).get("rn")) for net, rep in events(reqs)], [(4, "twice")],
             "the deletion is notified (net 4)")
        r = cin(rn="plain")
        t.rsc(cse.get(box + "/plain", origin=O), 2000, 200, "without dcnt an instance stays")
        t.rsc(cse.get(box + "/plain", origin=O), 2000, 200, "... however often it is read")
finally:
    rx.stop()
t.done()
