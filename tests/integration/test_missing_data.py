"""timeSeries missing data detection with the missingDataDetectTimer (mdt):
a loop timer checks each expected data point mdt after its expected dgt,
records a missing one in mdlt/mdc at once, and tells the net 8
subscriptions (m2m:tsn, enc.md {num, dur}). Bad net 8 subscriptions are
refused with 4000 and nothing is stored. All waits are bounded."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, events

t = Tap()
O = "Cmd"


def stamp(epoch):
    """Canonical timestamp of epoch seconds, computed in whole microseconds so
    that t0 + k * pei is exact."""
    us = round(epoch * 1e6)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(us // 1000000)) + ",%06d" % (us % 1000000)


def wait_until(cond, timeout):
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.05)
    return cond()


rx = Receiver().start()
try:
    with Cse(upper_tester="true") as cse:
        cse.register_ae("app", origin=O)
        app = "/cse-in/app"

        def get(path):
            return cse.get(path, origin=O)

        def sub(parent, rn, **kw):
            return cse.create(parent, 23, {"m2m:sub": dict({"rn": rn, "nu": [rx.url]}, **kw)}, origin=O)

        r = cse.create(app, 29, {"m2m:ts": {"rn": "ts", "pei": 400, "peid": 100, "mdd": True, "mdt": 300,
                                            "mdn": 5}}, origin=O)
        t.rsc(r, 2001, 201, "timeSeries with pei 400 ms, mdt 300 ms")
        cse.create(app, 3, {"m2m:cnt": {"rn": "cnt"}}, origin=O)

        # --- bad net 8 subscriptions: 4000, nothing stored -------------------------
        md = {"num": 2, "dur": "PT10S"}
        bad = [
            (app + "/ts", {"enc": {"net": [8]}}, "net 8 without enc.md"),
            (app + "/cnt", {"enc": {"net": [8], "md": md}}, "net 8 under a container"),
            (app + "/ts", {"enc": {"net": [8], "md": {"num": 0, "dur": "PT1S"}}}, "md.num 0"),
            (app + "/ts", {"enc": {"net": [8], "md": {"num": 2}}}, "md without dur"),
            (app + "/ts", {"enc": {"net": [8], "md": {"num": 2, "dur": "soon"}}}, "md.dur not a duration"),
            (app + "/ts", {"enc": {"net": [8], "md": dict(md, x=1)}}, "md with another member"),
            (app + "/ts", {"enc": {"net": [8], "md": md}, "nct": 1}, "net 8 with nct 1"),
            (app + "/ts", {"enc": {"net": [1], "md": md}}, "md without net 8"),
            (app + "/ts", {"enc": {"net": [1]}, "nct": 5}, "nct 5 with net 1"),
            (app + "/ts", {"enc": {"net": [3, 8], "md": md}}, "net 3 and 8 share no nct"),
        ]
        for parent, body, why in bad:
            r = sub(parent, "bad", **body)
            t.rsc(r, 4000, 400, why + " -> 4000")
            t.rsc(get(parent + "/bad"), 4004, 404, why + ": nothing stored")

        r = sub(app + "/ts", "md", enc={"net": [8], "md": md})
        s = (r.json or {}).get("m2m:sub", {})
        t.ok(r.rsc == 2001 and s.get("nct") == 5 and s.get("enc", {}).get("md") == md,
             "net 8 subscription: nct defaults to 5, md kept", r)
        rx.clear()

        # --- a missing point is detected by the timer, without a new arrival ------
        t0 = round(time.time(), 3)
        t.rsc(cse.create(app + "/ts", 30, {"m2m:tsi": {"dgt": stamp(t0), "con": "v0"}}, origin=O), 2001, 201,
              "first point: detection starts")
        reqs = rx.wait(lambda q: any(n == 8 for n, _ in events(q)), timeout=8)
        ev = [rep for n, rep in events(reqs) if n == 8]
        tsn = (ev[0] or {}).get("m2m:tsn", {}) if ev else {}
        t.ok(len(tsn.get("mdlt", [])) == 2 and tsn.get("mdc") == 2,
             "net 8: {m2m:tsn: {mdlt, mdc}} once md.num (2) points are missing", reqs)
        t.eq(tsn.get("mdlt"), [stamp(t0 + 0.4), stamp(t0 + 0.8)], "the missing points are the expected dgts")
        sgn = reqs[-1]["body"]["m2m:sgn"] if reqs else {}
        t.ok(sgn.get("sur", "").endswith("/" + s.get("ri", "?")), "the notification names the subscription", sgn)
        ts = get(app + "/ts").json["m2m:ts"]
        t.ok(ts["mdc"] >= 2 and ts["mdlt"][:2] == tsn.get("mdlt"), "mdlt/mdc of the timeSeries follow", ts)
        t.ok(wait_until(lambda: get(app + "/ts").json["m2m:ts"]["mdc"] == 5, 8),
             "the timer goes on: mdc reaches mdn (5) and stays there")
        t.eq(len(get(app + "/ts").json["m2m:ts"]["mdlt"]), 5, "mdlt keeps the newest mdn")

        # --- turning mdd off stops the timer -----------------------------------------
        r = cse.update(app + "/ts", {"m2m:ts": {"mdd": False}}, origin=O)
        t.rsc(r, 2004, 200, "mdd off")
        time.sleep(0.5)
        rx.clear()
        time.sleep(1.0)
        t.eq(events(rx.snapshot()), [], "no net 8 notification after mdd went off")

        # --- points on time: nothing missing ----------------------------------------
        r = cse.create(app, 29, {"m2m:ts": {"rn": "ok", "pei": 1000, "mdd": True, "mdt": 500}}, origin=O)
        t.rsc(r, 2001, 201, "timeSeries with pei 1 s, mdt 0.5 s")
        sub(app + "/ok", "md", enc={"net": [8], "md": {"num": 1, "dur": "PT5S"}})
        rx.clear()
        t0 = round(time.time(), 3)
        for k in range(3):
            # point k goes in half-way between check k-1 (t0+k-0.5) and check k (t0+k+0.5)
            time.sleep(max(0, t0 + k - time.time()))
            r = cse.create(app + "/ok", 30, {"m2m:tsi": {"dgt": stamp(t0 + k), "con": "v%d" % k}}, origin=O)
            t.rsc(r, 2001, 201, "point %d on time" % k)
        time.sleep(max(0, t0 + 2.7 - time.time()))
        t.eq(get(app + "/ok").json["m2m:ts"]["mdc"], 0, "points on time: mdc stays 0")
        t.eq([n for n, _ in events(rx.snapshot())], [], "points on time: no net 8 notification")
        # then they stop: md.num 1 reports each missing one
        reqs = rx.wait(lambda q: len(events(q)) >= 2, timeout=6)
        got = [rep["m2m:tsn"]["mdlt"] for n, rep in events(reqs) if n == 8]
        t.eq(got[:2], [[stamp(t0 + 3)], [stamp(t0 + 4)]], "md.num 1: one notification per missing point")

        # --- the timeSeries goes: its timer ends (nothing crashes, nothing is sent) ---
        t.rsc(cse.delete(app + "/ok", origin=O), 2002, 200, "delete the watched timeSeries")
        time.sleep(0.3)
        rx.clear()
        time.sleep(1.5)
        t.eq([r for r in rx.snapshot() if "nev" in (r["body"] or {}).get("m2m:sgn", {})], [],
             "no notification once the timeSeries is gone")

        # --- without mdt, detection stays on arrival (no timer) ------------------------
        r = cse.create(app, 29, {"m2m:ts": {"rn": "arr", "pei": 300, "mdd": True}}, origin=O)
        t0 = round(time.time(), 3)
        cse.create(app + "/arr", 30, {"m2m:tsi": {"dgt": stamp(t0), "con": "a"}}, origin=O)
        time.sleep(1.0)
        t.eq(get(app + "/arr").json["m2m:ts"]["mdc"], 0, "without mdt nothing is detected before a point arrives")
        cse.create(app + "/arr", 30, {"m2m:tsi": {"dgt": stamp(t0 + 0.9), "con": "b"}}, origin=O)
        t.eq(get(app + "/arr").json["m2m:ts"]["mdc"], 2, "... and the arrival records the two missed ones")

        # --- an upper tester Reset ends every watch (its timers with it) ---------------
        r = cse.create(app, 29, {"m2m:ts": {"rn": "rs", "pei": 200, "mdd": True, "mdt": 100}}, origin=O)
        cse.create(app + "/rs", 30, {"m2m:tsi": {"dgt": stamp(time.time()), "con": "a"}}, origin=O)
        r = cse.request("POST", "/__ut__", headers={"X-M2M-UTCMD": "Reset"})
        t.rsc(r, 2000, 200, "Reset while a timeSeries is watched")
        time.sleep(0.8)
        t.rsc(cse.get("/cse-in"), 2000, 200, "the CSE serves on after the Reset (the watch's timer is gone)")
finally:
    rx.stop()
t.done()
