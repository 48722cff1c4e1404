"""timeSyncBeacon loss of synchronisation (bcnc 2): a request from the
requester bcnr whose originating timestamp (X-M2M-OT / CoAP ot) is off the
CSE's clock by more than bcnt (either way) sends
{"m2m:tsbn": {"tbr": <ri>, "ctm": <CSE time>}} to each bcnu, at most once a
second per beacon; requests in sync, without ot or from others send none;
an UPDATE of bcnt, a DELETE and a restart are followed. Bad inputs -> 4000,
nothing stored. Waits are bounded (seconds)."""
import os, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import coap_client
from notify_receiver import Receiver

t = Tap()
O, OTHER = "Clos", "Cother"


def tsbn(req):
    return (req.get("body") or {}).get("m2m:tsbn") or {}


def ot(skew):
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() + skew))


def poke(cse, skew=None, origin=O):
    """A request from origin, with an ot that far off (None: no ot)."""
    headers = {"X-M2M-OT": ot(skew)} if skew is not None else None
    return cse.get("/cse-in/los", origin=origin, headers=headers)


def quiet(rx, secs, what):
    time.sleep(secs)
    t.eq(len(rx.snapshot()), 0, what)


rx = Receiver().start()
data = tempfile.mkdtemp(prefix="ironbark-los-")
try:
    with Cse(data_dir=data) as cse:
        t.rsc(cse.register_ae("los", origin=O), 2001, 201, "AE registered")
        cse.register_ae("other", origin=OTHER)
        for rn, body, what in (("x1", {"bcnc": 2, "bcnt": "PT10S"}, "bcnc 2 without bcnr"),
                               ("x2", {"bcnc": 2, "bcnr": O, "bcnt": "PT0S"}, "bcnt zero"),
                               ("x3", {"bcnc": 2, "bcnr": O, "bcnt": "soon"}, "bcnt not a duration"),
                               ("x4", {"bcnc": 2, "bcnr": O, "bcni": "PT1S"}, "bcni with bcnc 2")):
            r = cse.create("/cse-in/los", 60, {"m2m:tsb": dict({"rn": rn, "bcnu": [rx.url]}, **body)}, origin=O)
            t.rsc(r, 4000, 400, what + " -> 4000")
            t.rsc(cse.get("/cse-in/los/" + rn, origin=O), 4004, 404, what + ": nothing stored")

        r = cse.create("/cse-in/los", 60, {"m2m:tsb": {"rn": "b", "bcnc": 2, "bcnr": O, "bcnt": "PT10S",
                                                       "bcnu": [rx.url]}}, origin=O)
        t.ok(r.rsc == 2001 and "bcni" not in r.json["m2m:tsb"], "loss-of-sync beacon created (no bcni)", r)
        ri = r.json["m2m:tsb"]["ri"] if r.json else ""

        rx.clear()
        poke(cse, 0)
        poke(cse)
        poke(cse, -120, origin=OTHER)
        quiet(rx, 1.5, "no beacon: in sync, without ot, or another originator")

        t.rsc(poke(cse, -60), 2000, 200, "a request 60 s behind is answered as usual")
        reqs = rx.wait_count(1, timeout=5)
        t.ok(reqs and tsbn(reqs[0]).get("tbr") == ri and len(tsbn(reqs[0]).get("ctm", "")) >= 15,
             "... and its requester's beacon is sent (tbr, ctm)", reqs)
        t.eq(reqs[0]["headers"].get("x-m2m-origin") if reqs else None, "/id-in", "from the CSE-ID")
        poke(cse, -60)
        poke(cse, -60)
        time.sleep(0.5)
        t.eq(len(rx.snapshot()), 1, "at most one beacon a second")

        time.sleep(1.0)
        rx.clear()
        poke(cse, 90)
        t.ok(len(rx.wait_count(1, timeout=5)) >= 1, "a clock ahead by more than bcnt also gets one")

        time.sleep(1.0)
        rx.clear()
        r = coap_client(cse.coap_port, "cse-in/los", params=dict(fr=O, rqi="c1", rvi="3", ot=ot(-60)))
        t.eq(r.rsc, 2000, "CoAP request with an ot 60 s behind answered")
        t.ok(len(rx.wait_count(1, timeout=5)) >= 1, "CoAP: the beacon is sent")

        t.rsc(cse.update("/cse-in/los/b", {"m2m:tsb": {"bcnt": "PT5M"}}, origin=O), 2004, 200, "bcnt raised to 5 min")
        time.sleep(1.0)
        rx.clear()
        poke(cse, -60)
        quiet(rx, 1.5, "60 s off is within the new threshold: no beacon")
        t.rsc(cse.update("/cse-in/los/b", {"m2m:tsb": {"bcnt": "bad"}}, origin=O), 4000, 400,
              "UPDATE with a bad bcnt -> 4000")
        t.eq(cse.get("/cse-in/los/b", origin=O).json["m2m:tsb"]["bcnt"], "PT5M", "bcnt kept")
        t.rsc(cse.update("/cse-in/los/b", {"m2m:tsb": {"bcnt": "PT10S"}}, origin=O), 2004, 200, "bcnt back to 10 s")

    rx.clear()
    with Cse(data_dir=data) as cse:
        poke(cse, -60)
        reqs = rx.wait_count(1, timeout=5)
        t.ok(reqs and tsbn(reqs[0]).get("tbr") == ri, "after a restart the stored beacon watches again", reqs)
        t.rsc(cse.delete("/cse-in/los/b", origin=O), 2002, 200, "beacon deleted")
        time.sleep(1.0)
        rx.clear()
        poke(cse, -60)
        quiet(rx, 1.5, "no beacon after its DELETE")
        # a beacon that goes with its AE sends nothing more, and a new beacon still works
        cse.register_ae("gone", origin="Cgone")
        r = cse.create("/cse-in/gone", 60, {"m2m:tsb": {"rn": "g", "bcnc": 2, "bcnr": "Cgone", "bcnt": "PT10S",
                                                        "bcnu": [rx.url]}}, origin="Cgone")
        t.rsc(r, 2001, 201, "a beacon under another AE")
        t.rsc(cse.delete("/cse-in/gone", origin="Cgone"), 2002, 200, "that AE deregisters")
        rx.clear()
        cse.get("/cse-in", origin="Cgone", headers={"X-M2M-OT": ot(-60)})
        quiet(rx, 1.5, "its requester, far off, gets no beacon from the deleted one")
        r = cse.create("/cse-in/los", 60, {"m2m:tsb": {"rn": "b2", "bcnc": 2, "bcnr": O, "bcnt": "PT10S",
                                                       "bcnu": [rx.url]}}, origin=O)
        t.rsc(r, 2001, 201, "a new beacon")
        poke(cse, -60)
        t.ok(len(rx.wait_count(1, timeout=5)) >= 1, "it sends")
        t.ok(cse.alive(), "CSE still running")
finally:
    rx.stop()
    shutil.rmtree(data, ignore_errors=True)
t.done()
