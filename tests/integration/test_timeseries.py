"""<timeSeries> (ty 29) and <timeSeriesInstance> (ty 30): dgt mandatory and
unique, cs/cni/cbs, mni/mbs quotas, la/ol, snr, missing data detection
(mdd/pei/peid/mdn/mdlt/mdc), discovery by ty, subscriptions, bad inputs with
nothing stored, one CoAP request."""
import calendar, json, os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, events
from coap_peer import coap_client

t = Tap()
O = "Cts"
BASE = calendar.timegm((2026, 1, 1, 0, 0, 0))


def stamp(seconds):
    """A canonical timestamp BASE + seconds (fraction kept)."""
    whole = int(seconds)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(BASE + whole)) + ",%06d" % round((seconds - whole) * 1e6)


rx = Receiver().start()
try:
    with Cse(expiry_interval=100) as cse:
        cse.register_ae("app", origin=O)
        app = "/cse-in/app"

        def mkts(**kw):
            return cse.create(app, 29, {"m2m:ts": kw}, origin=O)

        def tsi(ts, dgt, con, **kw):
            return cse.create(app + "/" + ts, 30, {"m2m:tsi": dict({"dgt": dgt, "con": con}, **kw)}, origin=O)

        def get(path):
            return cse.get(path, origin=O)

        r = mkts(rn="ts", mni=3)
        t.ok(r.rsc == 2001 and r.json["m2m:ts"]["cni"] == 0 and r.json["m2m:ts"]["cbs"] == 0
             and r.json["m2m:ts"]["mdc"] == 0 and "mdlt" not in r.json["m2m:ts"],
             "timeSeries created: cni=cbs=mdc=0, no mdlt", r)
        t.rsc(get(app + "/ts/la"), 4004, 404, "la of an empty timeSeries -> 4004")
        r = tsi("ts", stamp(0), "aValue", snr=1)
        i = (r.json or {}).get("m2m:tsi", {})
        t.ok(r.rsc == 2001 and i.get("dgt") == stamp(0) and i.get("cs") == 6 and i.get("snr") == 1
             and i.get("ty") == 30, "timeSeriesInstance: dgt, cs, snr, ty", r)
        for n, v in ((1, "bValue"), (2, "cValue"), (3, "dValue")):
            t.rsc(tsi("ts", stamp(n), v), 2001, 201, "instance %s" % v)
        s = get(app + "/ts").json["m2m:ts"]
        t.eq((s["cni"], s["cbs"]), (3, 18), "mni caps cni; cbs follows")
        t.eq((get(app + "/ts/la").json["m2m:tsi"]["con"], get(app + "/ts/ol").json["m2m:tsi"]["con"]),
             ("dValue", "bValue"), "la is the newest, ol the oldest (the first went)")
        r = tsi("ts", stamp(3), "again")
        t.rsc(r, 4105, 409, "the same dgt twice -> 4105")
        r = cse.update(app + "/ts", {"m2m:ts": {"mni": 1}}, origin=O)
        t.eq((r.rsc, r.json["m2m:ts"]["cni"], r.json["m2m:ts"]["cbs"]), (2004, 1, 6), "lowering mni applies at once")
        t.eq(get(app + "/ts/ol").json["m2m:tsi"]["con"], "dValue", "ol == la after mni=1")
        r = cse.delete(app + "/ts/la", origin=O)
        t.rsc(r, 2002, 200, "delete through la")
        t.eq(get(app + "/ts").json["m2m:ts"]["cni"], 0, "cni follows the delete")
        la_r = tsi("ts", stamp(10), "x")
        r = cse.update("/" + la_r.json["m2m:tsi"]["ri"], {"m2m:tsi": {"con": "y"}}, origin=O)
        t.rsc(r, 4005, 405, "an instance cannot be updated -> 4005")

        # --- mbs -------------------------------------------------------------
        mkts(rn="small", mbs=30)
        t.rsc(tsi("small", stamp(0), "x" * 30), 2001, 201, "content of exactly mbs fits")
        r = tsi("small", stamp(1), "x" * 31)
        t.rsc(r, 5207, 406, "content larger than mbs -> 5207 (NOT_ACCEPTABLE, as for a container)")
        for n in range(3):
            tsi("small", stamp(2 + n), "y" * 10)
        s = get(app + "/small").json["m2m:ts"]
        t.eq((s["cni"], s["cbs"]), (3, 30), "mbs evicts the oldest")

        # --- mia caps an instance's et ---------------------------------------------
        mkts(rn="aged", mia=60)
        i = tsi("aged", stamp(0), "old").json["m2m:tsi"]
        ct = calendar.timegm(time.strptime(i["ct"].split(",")[0], "%Y%m%dT%H%M%S"))
        et = calendar.timegm(time.strptime(i["et"].split(",")[0], "%Y%m%dT%H%M%S"))
        t.ok(0 < et - ct <= 60, "mia caps the instance's et at ct + mia", i)

        # --- bad inputs: nothing stored --------------------------------------
        before = get(app + "/ts").json["m2m:ts"]
        bad = [
            ({"con": "x"}, 4000, "dgt missing"),
            ({"dgt": stamp(50)}, 4000, "con missing"),
            ({"dgt": "yesterday", "con": "x"}, 4000, "a malformed dgt"),
            ({"dgt": stamp(51), "con": "x", "snr": -1}, 4000, "a negative snr"),
            ({"dgt": stamp(52), "con": "x", "cs": 1}, 4000, "cs (NP)"),
            ({"dgt": stamp(53), "con": "x", "mdc": 1}, 4000, "an attribute of the timeSeries"),
        ]
        for body, rsc, why in bad:
            r = cse.create(app + "/ts", 30, {"m2m:tsi": body}, origin=O)
            t.eq(r.rsc, rsc, "instance with %s -> %d" % (why, rsc))
        after = get(app + "/ts").json["m2m:ts"]
        t.eq((after["cni"], after["cbs"]), (before["cni"], before["cbs"]), "no bad instance was stored")
        for body, why in (({"rn": "b1", "pei": 0}, "pei 0"), ({"rn": "b2", "mdd": True}, "mdd without pei"),
                          ({"rn": "b3", "mdlt": []}, "mdlt (NP)"), ({"rn": "b4", "cnf": "plain"}, "a malformed cnf"),
                          ({"rn": "b5", "mdn": 0}, "mdn 0")):
            t.rsc(mkts(**body), 4000, 400, "timeSeries with %s -> 4000" % why)
            t.rsc(get(app + "/" + body["rn"]), 4004, 404, "... and it was not stored")
        r = cse.create(app + "/ts", 23, {"m2m:sub": {"rn": "ol", "nu": [rx.url]}}, origin=O)
        t.rsc(r, 4000, 400, "'ol' is reserved under a timeSeries -> 4000")
        r = cse.create(app + "/ts", 4, {"m2m:cin": {"con": "x"}}, origin=O)
        t.rsc(r, 4108, 403, "a contentInstance under a timeSeries -> 4108")

        # --- missing data detection -------------------------------------------
        r = mkts(rn="md", pei=1000, peid=100, mdd=True, mdn=3)
        t.rsc(r, 2001, 201, "timeSeries with missing data detection")
        tsi("md", stamp(0), "a")
        tsi("md", stamp(1.05), "b")   # within pei + peid
        s = get(app + "/md").json["m2m:ts"]
        t.eq((s["mdc"], s.get("mdlt")), (0, None), "a point within pei+peid misses nothing")
        tsi("md", stamp(4.05), "c")   # 2.05 and 3.05 missed
        s = get(app + "/md").json["m2m:ts"]
        t.eq((s["mdc"], s.get("mdlt")), (2, [stamp(2.05), stamp(3.05)]), "two missed periods recorded")
        tsi("md", stamp(9.05), "d")   # 5.05 .. 8.05 missed, mdn keeps 3
        s = get(app + "/md").json["m2m:ts"]
        t.eq((s["mdc"], s.get("mdlt")), (3, [stamp(6.05), stamp(7.05), stamp(8.05)]),
             "mdlt keeps the newest mdn entries")
        r = cse.update(app + "/md", {"m2m:ts": {"mdd": False}}, origin=O)
        t.rsc(r, 2004, 200, "detection stopped")
        r = cse.update(app + "/md", {"m2m:ts": {"mdd": True}}, origin=O)
        t.eq((r.json["m2m:ts"]["mdc"], r.json["m2m:ts"].get("mdlt")), (0, None), "restarting detection starts afresh")
        r = cse.update(app + "/md", {"m2m:ts": {"pei": None}}, origin=O)
        t.rsc(r, 4000, 400, "removing pei while mdd is on -> 4000")
        t.eq(get(app + "/md").json["m2m:ts"].get("pei"), 1000, "pei kept")

        # --- discovery and subscriptions -------------------------------------------
        r = cse.request("GET", app + "?fu=1&ty=29", origin=O)
        t.eq(sorted(u.rsplit("/", 1)[-1] for u in (r.json or {}).get("m2m:uril", [])), ["aged", "md", "small", "ts"],
             "discovery by ty=29")
        r = cse.request("GET", app + "/small?fu=1&ty=30", origin=O)
        t.eq(len((r.json or {}).get("m2m:uril", [])), 3, "discovery by ty=30")
        r = cse.create(app + "/ts", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url], "enc": {"net": [3]}}}, origin=O)
        t.rsc(r, 2001, 201, "subscription to a timeSeries")
        rx.clear()
        tsi("ts", stamp(20), "notified")
        rx.wait_count(1)
        ev = events(rx.snapshot())
        t.ok(ev and ev[0][0] == 3 and ev[0][1].get("m2m:tsi", {}).get("con") == "notified",
             "creating an instance notifies (net 3) with the instance", ev)

        # --- CoAP --------------------------------------------------------------------
        r = coap_client(cse.coap_port, "cse-in/app/ts", "post", dict(fr=O, rqi="c1", rvi="3", ty=30),
                        json.dumps({"m2m:tsi": {"dgt": stamp(30), "con": "over coap"}}), cf=50)
        t.ok(r.rsc == 2001 and (r.json or {}).get("m2m:tsi", {}).get("dgt") == stamp(30),
             "CoAP CREATE of a timeSeriesInstance", r)
        t.eq(get(app + "/ts/la").json["m2m:tsi"]["con"], "over coap", "it is the latest")

        t.rsc(cse.delete(app + "/ts", origin=O), 2002, 200, "DELETE a timeSeries")
        t.rsc(get(app + "/ts/la"), 4004, 404, "its instances are gone")
finally:
    rx.stop()
t.done()
