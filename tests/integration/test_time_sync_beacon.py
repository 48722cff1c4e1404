"""timeSyncBeacon (ty 60): a periodic beacon (bcnc 1) sends
{"m2m:tsbn": {"tbr": <ri>, "ctm": <CSE time>}} to each bcnu every bcni, from
the CSE-ID; bcni defaults to PT1H; an UPDATE to bcnc 2, a DELETE, the
deletion of its AE stop it; after a restart the stored periodic beacons are
sent again; an upper tester Reset ends them. Bad inputs answered 4000 with nothing stored (and no beacon).
Waits are bounded; intervals are 1-2 s. A beacon that must not come is
watched for two bcni after the stop, by its ctm (made after the stop)."""
import calendar, os, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl
from notify_receiver import Receiver, sgn

t = Tap()


def tsbn(req):
    return (req.get("body") or {}).get("m2m:tsbn") or {}


def ctm_secs(ctm):
    return calendar.timegm(time.strptime(ctm[:15], "%Y%m%dT%H%M%S"))


def ctm_time(ctm):
    """A beacon's ctm ("YYYYMMDDThhmmss,ffffff") as Unix seconds; None when unreadable."""
    try:
        return ctm_secs(ctm) + float("0." + ctm[16:]) if ctm[15:16] in ("", ",") else None
    except ValueError:
        return None


# bcni PT1S, the shortest the CSE sends (a smaller one is sent every second).
BCNI = 1.0


def quiet(rx, *stops):
    """For each (since, tbr, what) of stops: no beacon (of tbr; any when
    None) made after `since`, the time.time() at which the request that
    stops it was answered, reached rx within two bcni of it: a timer still
    armed would have sent one within one bcni. A beacon made before (ctm up
    to since: queued already) may still arrive and does not count; one
    without a readable ctm does. Clears rx afterwards."""
    time.sleep(max(0.0, max(since for since, _, _ in stops) + 2 * BCNI - time.time()))
    reqs = rx.snapshot()
    rx.clear()
    for since, tbr, what in stops:
        t.eq([q for q in reqs if tbr in (None, tsbn(q).get("tbr")) and
              (ctm_time(tsbn(q).get("ctm", "")) or float("inf")) > since], [], what)


rx = Receiver().start()
rx2 = Receiver().start()
data = tempfile.mkdtemp(prefix="ironbark-tsb-")
try:
    with Cse(data_dir=data) as cse:
        t.rsc(cse.register_ae("tsb", origin="Ctsb"), 2001, 201, "AE registered")
        r = cse.create("/cse-in/tsb", 60,
                       {"m2m:tsb": {"rn": "b", "bcnu": [rx.url, rx2.url], "bcni": "PT1S"}}, origin="Ctsb")
        t.rsc(r, 2001, 201, "periodic timeSyncBeacon created")
        ri = r.json["m2m:tsb"]["ri"] if r.json else ""
        reqs = rx.wait_count(2, timeout=5)
        t.ok(len(reqs) >= 2 and all(tsbn(q).get("tbr") == ri for q in reqs),
             "beacons arrive every bcni, tbr names the timeSyncBeacon", reqs)
        ctm = tsbn(reqs[0]).get("ctm", "") if reqs else ""
        t.ok(len(ctm) >= 15 and abs(ctm_secs(ctm) - time.time()) < 60,
             "ctm is the CSE's time as a oneM2M timestamp (%s)" % ctm)
        t.eq(reqs[0]["headers"].get("x-m2m-origin") if reqs else None, "/id-in", "sent from the CSE-ID")
        t.ok(len(rx2.wait_count(1, timeout=3)) >= 1, "every bcnu target gets the beacons")

        r = cse.create("/cse-in/tsb", 60, {"m2m:tsb": {"rn": "hourly", "bcnu": [rx2.url]}}, origin="Ctsb")
        t.eq(r.json["m2m:tsb"].get("bcni") if r.json else None, "PT1H", "bcni defaults to PT1H for bcnc 1")
        t.rsc(cse.delete("/cse-in/tsb/hourly", origin="Ctsb"), 2002, 200, "hourly beacon deleted")

        # an UPDATE to loss of synchronisation stops the periodic beacons
        t.rsc(cse.update("/cse-in/tsb/b", {"m2m:tsb": {"bcnc": 2, "bcni": None, "bcnt": "PT5M", "bcnr": "Ctsb"}},
                         origin="Ctsb"), 2004, 200, "switched to bcnc 2")
        quiet(rx, (time.time(), None, "no periodic beacon after the switch to bcnc 2"))
        t.rsc(cse.update("/cse-in/tsb/b", {"m2m:tsb": {"bcnc": 1, "bcnt": None, "bcnr": None, "bcni": "PT1S"}},
                         origin="Ctsb"), 2004, 200, "back to periodic")
        t.ok(len(rx.wait_count(1, timeout=4)) >= 1, "beacons again after the switch back to bcnc 1")

        # bad inputs: nothing stored, no beacon
        for rn, body, what in (("x1", {"bcnu": [rx.url], "bcni": "PT0S"}, "bcni zero"),
                               ("x2", {"bcnu": [rx.url], "bcni": "1s"}, "bcni not a duration"),
                               ("x3", {"bcnu": []}, "empty bcnu"),
                               ("x4", {"bcnu": [rx.url], "bcnc": 1, "bcnr": "Ctsb"}, "bcnr with bcnc 1")):
            t.rsc(cse.create("/cse-in/tsb", 60, {"m2m:tsb": dict({"rn": rn}, **body)}, origin="Ctsb"),
                  4000, 400, what + " -> 4000")
            t.rsc(cse.get("/cse-in/tsb/" + rn, origin="Ctsb"), 4004, 404, what + ": nothing stored")
        t.rsc(cse.update("/cse-in/tsb/b", {"m2m:tsb": {"bcni": "never"}}, origin="Ctsb"), 4000, 400,
              "UPDATE with a bad bcni -> 4000")
        t.eq(cse.get("/cse-in/tsb/b", origin="Ctsb").json["m2m:tsb"].get("bcni"), "PT1S", "bcni kept")

    # restart: the stored periodic beacon is sent again
    rx.clear()
    with Cse(data_dir=data) as cse:
        reqs = rx.wait_count(1, timeout=5)
        t.ok(reqs and tsbn(reqs[0]).get("tbr") == ri, "after a restart the stored beacon is sent again", reqs)
        t.rsc(cse.delete("/cse-in/tsb/b", origin="Ctsb"), 2002, 200, "beacon deleted")
        deleted = time.time()

        # Meanwhile (the beacons tell apart by tbr) another one, then its AE goes.
        r = cse.create("/cse-in/tsb", 60, {"m2m:tsb": {"rn": "c", "bcnu": [rx.url], "bcni": "PT1S"}}, origin="Ctsb")
        t.rsc(r, 2001, 201, "another beacon")
        c_ri = r.json["m2m:tsb"]["ri"] if r.json else ""
        sent = lambda reqs: any(tsbn(q).get("tbr") == c_ri for q in reqs)
        t.ok(sent(rx.wait(sent, timeout=4)), "it sends")
        t.rsc(cse.delete("/cse-in/tsb", origin="Ctsb"), 2002, 200, "its AE deregistered")
        ae_gone = time.time()
        quiet(rx, (deleted, ri, "no beacon after its DELETE"), (ae_gone, c_ri, "no beacon after its AE went"))
        t.ok(cse.alive(), "CSE still running")

    # an upper tester Reset removes the beacons and their timers
    with Cse(upper_tester="true") as cse:
        cse.register_ae("tsb", origin="Ctsb")
        cse.create("/cse-in/tsb", 60, {"m2m:tsb": {"rn": "r", "bcnu": [rx.url], "bcni": "PT1S"}}, origin="Ctsb")
        t.ok(len(rx.wait_count(1, timeout=4)) >= 1, "a beacon before the Reset")
        t.rsc(curl("POST", cse.base + "/__ut__", {"X-M2M-RI": "ut", "X-M2M-RVI": "3", "X-M2M-UTCMD": "Reset"}),
              2000, 200, "upper tester Reset")
        quiet(rx, (time.time(), None, "no beacon after the Reset"))
finally:
    rx.stop()
    rx2.stop()
    shutil.rmtree(data, ignore_errors=True)
t.done()
