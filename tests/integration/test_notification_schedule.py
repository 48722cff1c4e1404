"""A subscription's notificationSchedule restricts when its notifications
are sent; outside it pn decides: none -> dropped, 1 (sendLatest) -> the
latest one is sent (ec 4) when the schedule opens, 2 (sendAllPending) -> all
of them, in order. Deleting the schedule opens it too. One not sent
does not count against exc. Bad pn -> 4000,
nothing stored. Waits are bounded; the CSE checks a closed schedule once a
second."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, events

t = Tap()
NEVER = "* * * * * * 2099"   # no second of this year is in the window
ALWAYS = "* * * * * * *"


def sch(entries):
    return {"m2m:sch": {"se": {"sce": entries}}}


def cin(cse, path, con):
    return cse.create(path, 4, {"m2m:cin": {"con": con}}, origin="Cns")


def cons(reqs):
    return [e[1]["m2m:cin"]["con"] for e in events(reqs)]


rx = Receiver().start()
try:
    with Cse() as cse:
        t.rsc(cse.register_ae("ns", origin="Cns"), 2001, 201, "AE registered")

        def setup(name, **attrs):
            cse.create("/cse-in/ns", 3, {"m2m:cnt": {"rn": name}}, origin="Cns")
            box = "/cse-in/ns/" + name
            r = cse.create(box, 23, {"m2m:sub": dict({"rn": "s", "nu": [rx.url], "enc": {"net": [3]}}, **attrs)},
                           origin="Cns")
            t.rsc(r, 2001, 201, name + ": subscription created")
            r = cse.create(box + "/s", 18, sch([NEVER]), origin="Cns")
            t.rsc(r, 2001, 201, name + ": closed notificationSchedule created")
            return box

        def raise_closed(box, prefix, n, what):
            rx.clear()
            for i in range(n):
                cin(cse, box, "%s%d" % (prefix, i))
            time.sleep(1.5)
            t.eq(len(rx.snapshot()), 0, what + ": nothing sent outside the schedule")

        # --- pn 2 (sendAllPending): all held, sent in order when the schedule opens
        box = setup("all", pn=2)
        raise_closed(box, "a", 3, "pn 2")
        t.rsc(cse.update(box + "/s/notificationSchedule", sch([ALWAYS]), origin="Cns"), 2004, 200, "schedule opened")
        reqs = rx.wait_count(3, timeout=5)
        t.eq(cons(reqs), ["a0", "a1", "a2"], "pn 2: all three sent in order once the schedule opened")
        rx.clear()
        cin(cse, box, "a3")
        t.eq(cons(rx.wait_count(1, timeout=3)), ["a3"], "inside the schedule a notification goes at once")

        # --- pn 1 (sendLatest): only the latest, ec 4
        box = setup("latest", pn=1)
        raise_closed(box, "l", 3, "pn 1")
        t.rsc(cse.delete(box + "/s/notificationSchedule", origin="Cns"), 2002, 200, "schedule deleted")
        reqs = rx.wait_count(1, timeout=5)
        time.sleep(0.5)
        reqs = rx.snapshot()
        t.ok(cons(reqs) == ["l2"] and reqs[0]["headers"].get("x-m2m-ec") == "4",
             "pn 1: only the latest sent (ec 4) once the schedule was deleted", reqs)

        # --- no pn: dropped
        box = setup("none", exc=5)
        raise_closed(box, "n", 1, "no pn")
        t.eq(cse.get(box + "/s", origin="Cns").json["m2m:sub"].get("exc"), 5,
             "a notification not sent does not count against exc")
        t.rsc(cse.update(box + "/s/notificationSchedule", sch([ALWAYS]), origin="Cns"), 2004, 200, "schedule opened")
        time.sleep(1.5)
        t.eq(len(rx.snapshot()), 0, "without pn a notification outside the schedule is dropped")
        cin(cse, box, "n1")
        t.eq(cons(rx.wait_count(1, timeout=3)), ["n1"], "without pn, inside the schedule it is sent")

        # --- held notifications go with their subscription
        box = setup("gone", pn=2)
        rx.clear()
        cin(cse, box, "g0")
        t.rsc(cse.delete(box + "/s", origin="Cns"), 2002, 200, "subscription with held notifications deleted")
        time.sleep(1.5)
        t.eq(len(rx.snapshot()), 0, "held notifications are not sent after their subscription went")
        t.ok(cse.alive(), "CSE still running")

        # --- bad pn
        cse.create("/cse-in/ns", 3, {"m2m:cnt": {"rn": "bad"}}, origin="Cns")
        for bad in (0, 3, "1", True):
            r = cse.create("/cse-in/ns/bad", 23, {"m2m:sub": {"rn": "b", "nu": [rx.url], "pn": bad}}, origin="Cns")
            t.rsc(r, 4000, 400, "pn %r -> 4000" % (bad,))
        t.rsc(cse.get("/cse-in/ns/bad/b", origin="Cns"), 4004, 404, "nothing stored for a bad pn")
        r = cse.create("/cse-in/ns/bad", 23, {"m2m:sub": {"rn": "b", "nu": [rx.url], "pn": 1}}, origin="Cns")
        t.rsc(r, 2001, 201, "pn 1 accepted")
        t.rsc(cse.update("/cse-in/ns/bad/b", {"m2m:sub": {"pn": 5}}, origin="Cns"), 4000, 400, "UPDATE pn 5 -> 4000")
        t.eq(cse.get("/cse-in/ns/bad/b", origin="Cns").json["m2m:sub"].get("pn"), 1, "pn kept after the refused UPDATE")
finally:
    rx.stop()
t.done()
