"""Notifications to coap:// targets: verification, events, RSC of the answer,
an unreachable CoAP target, and the deletion notification, with a CoAP
notification receiver (tests/integration/notify_receiver.py)."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import CoapReceiver, sgn, events

t = Tap()
rx = CoapReceiver().start()
try:
    with Cse() as cse:
        box = cse.ae_with_container("Cmon", ae="mon")

        r = cse.create(box, 23, {"m2m:sub": {"rn": "s", "nu": [rx.url], "su": rx.url, "enc": {"net": [3]}}},
                       origin="Cmon")
        t.rsc(r, 2001, 201, "subscription with a coap:// target, verified over CoAP")
        reqs = rx.snapshot()
        v = reqs[0] if reqs else {}
        t.ok(v and sgn(v["body"]).get("vrq") is True and v["path"] == "/notify" and v["code"] == 2,
             "the verification request is a CoAP POST to the URL's path", v)
        t.eq((v.get("options", {}).get("fr"), v.get("options", {}).get("rvi")), (b"/id-in", b"3"),
             "with the oneM2M FR and RVI options")

        rx.clear()
        for i in range(3):
            cse.create(box, 4, {"m2m:cin": {"con": "c%d" % i}}, origin="Cmon")
        reqs = rx.wait_count(3)
        t.eq([e[1]["m2m:cin"]["con"] for e in events(reqs)], ["c0", "c1", "c2"],
             "three net 3 notifications over CoAP, in order")

        rx.clear()
        t.rsc(cse.delete(box + "/s", origin="Cmon"), 2002, 200, "delete the subscription")
        d = rx.wait_count(1)
        t.ok(d and sgn(d[0]["body"]).get("sud") is True, "deletion notification to a coap:// su", d)

        rx.set_reply(4000)
        r = cse.create(box, 23, {"m2m:sub": {"rn": "bad", "nu": [rx.url]}}, origin="Cmon")
        t.rsc(r, 5204, 500, "a CoAP target answering RSC 4000 fails the verification")
        rx.set_reply(2000)

        # One lost datagram does not fail the verification: libcoap resends the
        # CON 2-3 s later, within the CSE's bound for CoAP exchanges (5 s).
        rx.clear()
        rx.drop_next(1)
        r = cse.create(box, 23, {"m2m:sub": {"rn": "lossy", "nu": [rx.url]}}, origin="Cmon")
        t.rsc(r, 2001, 201, "a verification whose first datagram is lost succeeds on the retransmission")
        got = rx.snapshot()
        t.ok(len(got) == 2 and got[0]["mid"] == got[1]["mid"] and got[1]["time"] - got[0]["time"] >= 1.9,
             "... libcoap's retransmission of the same message, 2-3 s later",
             [(g["mid"], round(g["time"] - got[0]["time"], 2)) for g in got])
        dead = CoapReceiver()
        t0 = time.time()
        r = cse.create(box, 23, {"m2m:sub": {"rn": "bad", "nu": [dead.url]}}, origin="Cmon")
        t.rsc(r, 5204, 500, "an unreachable CoAP target -> 5204")
        t.ok(time.time() - t0 < 4, "within the verification timeout (%.1fs)" % (time.time() - t0))
        r = cse.create(box, 23, {"m2m:sub": {"rn": "bad", "nu": ["coaps://127.0.0.1:5684/x"]}}, origin="Cmon")
        t.rsc(r, 5204, 500, "coaps:// has no sender yet -> 5204")

        # Inside a fopt fan-out the verification is deferred like any other.
        cri = cse.get(box, origin="Cmon").json["m2m:cnt"]["ri"]
        cse.create("/cse-in/mon", 9, {"m2m:grp": {"rn": "g", "mid": [cri], "mnm": 2}}, origin="Cmon")
        rx.clear()
        r = cse.create("/cse-in/mon/g/fopt", 23, {"m2m:sub": {"nu": [rx.url]}}, origin="Cmon")
        rsp = (r.json or {}).get("m2m:agr", {}).get("m2m:rsp", [{}])[0]
        t.eq(rsp.get("rsc"), 2001, "subscription through fopt verified over CoAP (deferred member)")
        t.ok(any(sgn(x["body"]).get("vrq") for x in rx.snapshot()), "its verification arrived")

        # grtm (CoAP GTM option) restricts the fan-out to some members.
        import coap_peer as cp
        cri2 = cse.create("/cse-in/mon", 3, {"m2m:cnt": {"rn": "box2"}}, origin="Cmon").json["m2m:cnt"]["ri"]
        cse.create("/cse-in/mon", 9, {"m2m:grp": {"rn": "g2", "mid": [cri, cri2], "mnm": 2}}, origin="Cmon")
        c = cp.RawClient(cse.coap_port)
        m = c.request(cp.GET, "cse-in/mon/g2/fopt", cp.m2m_options(fr="Cmon", rqi="g1", rvi="3", gtm=cri2))
        tos = [x["to"] for x in (m.json or {}).get("m2m:agr", {}).get("m2m:rsp", [])] if m else None
        t.eq((m.rsc if m else None, tos), (2000, [cri2]), "GTM names one member: only it is addressed")
        m = c.request(cp.GET, "cse-in/mon/g2/fopt", cp.m2m_options(fr="Cmon", rqi="g2", rvi="3", gtm="nope"))
        t.eq(m.rsc if m else None, 4000, "GTM naming a non-member -> 4000")
        c.close()
finally:
    rx.stop()
t.done()
