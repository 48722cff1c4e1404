"""Work outside a request never makes the event loop wait on the database
(cse_in_store_fiber, docs/decisions.md): on a private PostgreSQL server
(pg_server.py), whatever store the rest of the suite uses, a second session
locks the resources table while timer- and answer-driven work needs it.

- A notification delivery whose answer comes while the table is locked:
  the next notification's target (an AE ID) is read from the store, which
  waits in a fiber; /__health__ and the metrics are answered meanwhile, and
  the notification goes out once the lock is gone.
- A timeSeries missing-data timer firing while the table is locked: the
  check waits in a fiber, the loop serves on, and the missing point is
  recorded and notified afterwards.
- Throughout, the loop never waited on the database: the metrics'
  ironbark_store_lock_driven_total stays 0 and
  ironbark_store_waits_outside_fiber_total does not grow."""
import time

import pg_server
from harness import Cse, Tap, metric, wait_for
from notify_receiver import Receiver, events

t = Tap()
srv = pg_server.server()
db = srv.new_database()
O = "Ctimers"


def serves_meanwhile(cse, lock, what):
    t.ok(wait_for(lambda: pg_server.waiting_on_lock(srv, db) >= 1, seconds=8),
         "%s: the CSE's statement waits on the lock" % what)
    health = cse.get("/__health__", origin=None, timeout=5)
    t.ok(health.status == 200 and '"status":"ok"' in health.text, "%s: /__health__ is answered meanwhile" % what,
         health)
    t.eq(metric(cse, "ironbark_store_lock_driven_total"), 0, "%s: the metrics are answered, nothing driven" % what)
    t.ok(lock.p.poll() is None and pg_server.waiting_on_lock(srv, db) >= 1, "%s: ... and it still waits" % what)
    lock.release()


rx = Receiver().start()
try:
    with Cse(db=srv.uri(db)) as cse:
        r = cse.register_ae("timers", origin=O, poa=[rx.url])
        t.rsc(r, 2001, 201, "an AE with a point of access")
        app = "/cse-in/timers"
        cse.create(app, 3, {"m2m:cnt": {"rn": "box"}}, origin=O)
        r = cse.create(app + "/box", 23, {"m2m:sub": {"rn": "s", "nu": [O], "enc": {"net": [3]}}}, origin=O)
        t.rsc(r, 2001, 201, "a subscription notifying the AE by its ID")
        before = metric(cse, "ironbark_store_waits_outside_fiber_total")
        t.ok(before is not None, "the metrics count waits outside a fiber", before)

        # --- 1. a delivery's answer while the table is locked ---------------------------
        rx.clear()
        rx.delay = 1.5
        for i in range(2):
            t.rsc(cse.create(app + "/box", 4, {"m2m:cin": {"rn": "c%d" % i, "con": str(i)}}, origin=O), 2001, 201,
                  "instance %d created (a notification each)" % i)
        lock = pg_server.TableLock(srv, db)
        t.ok(lock.held, "a second session holds the resources table")
        serves_meanwhile(cse, lock, "the next notification's target")
        rx.delay = 0
        got = rx.wait(lambda q: len(events(q)) >= 2, timeout=10)
        t.eq(sorted(rep["m2m:cin"]["con"] for _, rep in events(got)), ["0", "1"],
             "both notifications arrive once the lock is gone")

        # --- 2. a timeSeries missing-data timer while the table is locked -------------
        r = cse.create(app, 29, {"m2m:ts": {"rn": "ts", "pei": 500, "mdd": True, "mdt": 300, "mdn": 5}}, origin=O)
        t.rsc(r, 2001, 201, "a timeSeries with a missing-data timer")
        sub = {"rn": "md", "nu": [rx.url], "enc": {"net": [8], "md": {"num": 1, "dur": "PT10S"}}}
        t.rsc(cse.create(app + "/ts", 23, {"m2m:sub": sub}, origin=O), 2001, 201, "a net 8 subscription")
        rx.clear()
        us = round(time.time() * 1e6)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(us // 1000000)) + ",%06d" % (us % 1000000)
        t.rsc(cse.create(app + "/ts", 30, {"m2m:tsi": {"dgt": stamp, "con": "v"}}, origin=O), 2001, 201,
              "a first point starts the timer (its check is due 0.8 s later)")
        lock = pg_server.TableLock(srv, db)
        serves_meanwhile(cse, lock, "the missing-data check")
        got = rx.wait(lambda q: any(n == 8 for n, _ in events(q)), timeout=10)
        t.ok(any(n == 8 for n, _ in events(got)), "the missing point is notified once the lock is gone")
        t.ok(wait_for(lambda: cse.get(app + "/ts", origin=O).json["m2m:ts"].get("mdc", 0) >= 1, seconds=5),
             "... and recorded in mdc")

        # --- 3. the loop never waited on the database ---------------------------------
        t.eq(metric(cse, "ironbark_store_lock_driven_total"), 0, "no fiber was finished from the main context")
        t.eq(metric(cse, "ironbark_store_waits_outside_fiber_total"), before,
             "no round trip was waited for outside a fiber")
finally:
    rx.stop()
t.done()
