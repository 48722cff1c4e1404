"""Blocking UPDATE (net 7): an UPDATE of a resource with a net 7
subscription waits (without holding the event loop) for the subscriber's
answer to {nev: {rep: the request's attributes, net: 7}}: 2000 lets it
happen, an error answer refuses it with nothing changed (4005 -> 4127,
unreachable -> 5107). Bad net 7 subscriptions -> 4000, nothing stored.
Operation monitor (enc.om): the request's operation and originator decide,
and the notification carries nev.om = {ops, org}."""
import os, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, free_port
from notify_receiver import Receiver, events

t = Tap()
O = "Cbu"

rx = Receiver().start()
try:
    with Cse() as cse:
        cnt = cse.ae_with_container(O, lbl=["a"])

        def sub(rn, **kw):
            return cse.create(cnt, 23, {"m2m:sub": dict({"rn": rn}, **kw)}, origin=O)

        for body, why in (({"nu": [rx.url, rx.url + "2"], "enc": {"net": [7]}}, "net 7 with two targets"),
                          ({"nu": [rx.url], "enc": {"net": [7]}, "nct": 1}, "net 7 with nct 1"),
                          ({"nu": [rx.url], "enc": {"net": [3, 7]}}, "net 3 and 7 share no nct")):
            t.rsc(sub("bad", **body), 4000, 400, why + " -> 4000")
            t.rsc(cse.get(cnt + "/bad", origin=O), 4004, 404, why + ": nothing stored")
        r = sub("bu", nu=[rx.url], enc={"net": [7]})
        t.ok(r.rsc == 2001 and r.json["m2m:sub"]["nct"] == 2, "net 7 subscription: nct defaults to 2", r)
        t.rsc(sub("bu2", nu=[rx.url], enc={"net": [7]}), 4000, 400, "a second net 7 subscription -> 4000")

        rx.clear()
        r = cse.update(cnt, {"m2m:cnt": {"lbl": ["b"]}}, origin=O)
        t.ok(r.rsc == 2004 and r.json["m2m:cnt"]["lbl"] == ["b"], "the subscriber answers 2000: UPDATE done", r)
        ev = events(rx.snapshot())
        t.eq(ev, [(7, {"m2m:cnt": {"lbl": ["b"]}})], "it was sent {net: 7, rep: the request's attributes}")

        rx.set_reply(4005)
        r = cse.update(cnt, {"m2m:cnt": {"lbl": ["c"]}}, origin=O)
        t.rsc(r, 4127, 403, "the subscriber answers 4005 -> 4127 OPERATION_DENIED_BY_REMOTE_ENTITY")
        rx.set_reply(4103)
        t.rsc(cse.update(cnt, {"m2m:cnt": {"lbl": ["c"]}}, origin=O), 4103, 403, "another refusal is passed on")
        t.eq(cse.get(cnt, origin=O).json["m2m:cnt"]["lbl"], ["b"], "refused UPDATEs changed nothing")
        rx.set_reply(2000)

        # the loop is not held while the subscriber thinks
        rx.delay = 1.0
        done = {}
        th = threading.Thread(target=lambda: done.update(r=cse.update(cnt, {"m2m:cnt": {"lbl": ["d"]}}, origin=O)))
        th.start()
        time.sleep(0.3)
        t0 = time.time()
        g = cse.get("/cse-in/app", origin=O)
        quick = time.time() - t0
        th.join(10)
        rx.delay = 0
        t.ok(g.rsc == 2000 and quick < 0.9, "other requests are served while the UPDATE waits", quick)
        t.rsc(done.get("r"), 2004, 200, "the waiting UPDATE completes after the answer")

        # atr: only updates of the listed attributes wait
        cse.delete(cnt + "/bu", origin=O)
        sub("bu", nu=[rx.url], enc={"net": [7], "atr": ["mni"]})
        rx.clear()
        t.rsc(cse.update(cnt, {"m2m:cnt": {"lbl": ["e"]}}, origin=O), 2004, 200, "an attribute outside atr")
        t.eq(events(rx.snapshot()), [], "... does not ask the subscriber")
        rx.set_reply(4005)
        t.rsc(cse.update(cnt, {"m2m:cnt": {"mni": 5}}, origin=O), 4127, 403, "an attribute in atr asks (refused)")
        rx.set_reply(2000)

        # --- enc.om ------------------------------------------------------------------
        cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "om"}}, origin=O)
        om = "/cse-in/app/om"
        for body, rsc, why in (([], 4000, "an empty om"), ([{"ops": 9}], 4000, "ops outside 1..5"),
                               ([{"x": 1}], 4000, "an om member other than ops/org"),
                               ([{"org": ""}], 4000, "an empty org"),
                               ([{"ops": 2}], 5001, "monitoring RETRIEVE")):
            r = cse.create(om, 23, {"m2m:sub": {"rn": "bad", "nu": [rx.url], "enc": {"om": body}}}, origin=O)
            t.rsc(r, rsc, 400 if rsc == 4000 else 501, why + " -> %d" % rsc)
            t.rsc(cse.get(om + "/bad", origin=O), 4004, 404, why + ": nothing stored")
        r = cse.create(om, 23, {"m2m:sub": {"rn": "mon", "nu": [rx.url],
                                            "enc": {"om": [{"ops": 3, "org": "CAdmin"}, {"ops": 1}]}}}, origin=O)
        t.rsc(r, 2001, 201, "a subscription with an operation monitor")
        rx.clear()
        cse.update(om, {"m2m:cnt": {"lbl": ["x"]}}, origin=O)
        cse.update(om, {"m2m:cnt": {"lbl": ["y"]}}, origin="CAdmin")
        cse.create(om, 4, {"m2m:cin": {"con": "v"}}, origin=O)
        reqs = rx.wait(lambda q: len(events(q)) >= 2, timeout=5)
        got = [(x["body"]["m2m:sgn"]["nev"]["net"], x["body"]["m2m:sgn"]["nev"].get("om")) for x in reqs
               if "nev" in (x["body"] or {}).get("m2m:sgn", {})]
        t.eq(got, [(1, {"ops": 3, "org": "CAdmin"}), (3, {"ops": 1, "org": O})],
             "om: an UPDATE by the named originator and any CREATE notify, with nev.om; the other UPDATE not")

        # unreachable subscriber: the subscriber itself by ID, its poa a closed port
        cse.delete(cnt + "/bu", origin=O)
        cse.update("/cse-in/app", {"m2m:ae": {"poa": ["http://127.0.0.1:%d/dead" % free_port()]}}, origin=O)
        t.rsc(sub("bu", nu=[O], enc={"net": [7]}), 2001, 201, "net 7 subscription naming the subscriber itself")
        r = cse.update(cnt, {"m2m:cnt": {"lbl": ["f"]}}, origin=O)
        t.rsc(r, 5107, 404, "subscriber unreachable -> 5107 REMOTE_ENTITY_NOT_REACHABLE")
        t.eq(cse.get(cnt, origin=O).json["m2m:cnt"]["lbl"], ["e"], "nothing changed")
finally:
    rx.stop()
t.done()
