"""The event loop never waits on the database (the PostgreSQL store's
fibers, docs/decisions.md): on a private PostgreSQL server (pg_server.py),
whatever store the rest of the suite uses, a second session locks the
resources table while requests are in flight.

- A CREATE that waits on the lock leaves the CSE serving: /__health__
  (no store) is answered while the CREATE still waits; after the lock goes
  the CREATE answers 2001 and the resource is stored.
- Several CREATEs and RETRIEVEs from several connections, all waiting on
  the lock, all complete correctly once it goes.
- A lock held past the statement bound (statement_timeout, set short in
  the URI) gives the waiting CREATE 5000, never a hang; the CSE serves
  meanwhile and stores again afterwards."""
import threading

import pg_server
from harness import Cse, Tap, wait_for

t = Tap()
srv = pg_server.server()
db = srv.new_database()
# A short statement bound for the third part; what the URI sets wins over
# the store's own (10 s).
uri = srv.uri(db) + "&options=-c%20statement_timeout%3D2000"


def TableLock():
    return pg_server.TableLock(srv, db)


def waiting_on_lock():
    return pg_server.waiting_on_lock(srv, db)


class InThread(threading.Thread):
    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None
        self.start()

    def run(self):
        self.result = self.fn()


with Cse(db=uri) as cse:
    box = cse.ae_with_container("Cslow", ae="slow", cnt="box")

    # --- 1. one CREATE waits; the loop serves on ------------------------------------
    lock = TableLock()
    t.ok(lock.held, "a second session holds the resources table")
    create = InThread(lambda: cse.create(box, 4, {"m2m:cin": {"rn": "waited", "con": "v"}}, origin="Cslow"))
    t.ok(wait_for(lambda: waiting_on_lock() >= 1, seconds=5), "the CREATE's statement waits on the lock")
    health = cse.get("/__health__", origin=None, timeout=5)
    t.ok(health.status == 200 and '"status":"ok"' in health.text and create.is_alive(),
         "/__health__ is answered while the CREATE still waits", health)
    t.ok(waiting_on_lock() >= 1, "... and the lock still holds it back")
    lock.release()
    create.join(15)
    t.eq(create.result.rsc if create.result else None, 2001, "the CREATE answers 2001 once the lock is gone")
    r = cse.get(box + "/waited", origin="Cslow")
    t.ok(r.rsc == 2000 and r.json["m2m:cin"]["con"] == "v", "the resource is stored", r)

    # --- 2. several connections wait together ----------------------------------------
    lock = TableLock()
    creates = [InThread(lambda i=i: cse.create(box, 4, {"m2m:cin": {"rn": "c%d" % i, "con": str(i)}},
                                                 origin="Cslow", timeout=20)) for i in range(5)]
    reads = [InThread(lambda: cse.get(box + "/waited", origin="Cslow", timeout=20)) for _ in range(5)]
    t.ok(wait_for(lambda: waiting_on_lock() >= 1, seconds=5), "the first of them waits on the lock")
    health = cse.get("/__health__", origin=None, timeout=5)
    t.ok(health.status == 200 and any(x.is_alive() for x in creates + reads),
         "/__health__ is answered while ten requests wait", health)
    lock.release()
    for x in creates + reads:
        x.join(20)
    t.eq(sorted(x.result.rsc if x.result else None for x in creates), [2001] * 5, "the five CREATEs answer 2001")
    t.ok(all(x.result and x.result.rsc == 2000 and x.result.json["m2m:cin"]["con"] == "v" for x in reads),
         "the five RETRIEVEs answer 2000 with the stored content", [x.result for x in reads])
    for i in range(5):
        r = cse.get(box + "/c%d" % i, origin="Cslow")
        if r.rsc != 2000 or r.json["m2m:cin"]["con"] != str(i):
            break
    t.ok(r.rsc == 2000 and r.json["m2m:cin"]["con"] == "4", "each created instance is stored with its content", r)
    t.eq(cse.get(box, origin="Cslow").json["m2m:cnt"]["cni"], 6, "the container counts all six instances")

    # --- 3. past the statement bound: 5000, not a hang ------------------------------------
    lock = TableLock()
    create = InThread(lambda: cse.create(box, 4, {"m2m:cin": {"rn": "late", "con": "v"}}, origin="Cslow",
                                         timeout=30))
    t.ok(wait_for(lambda: waiting_on_lock() >= 1, seconds=5), "a CREATE waits on a lock held past the bound")
    health = cse.get("/__health__", origin=None, timeout=5)
    t.ok(health.status == 200 and create.is_alive(), "/__health__ is answered meanwhile", health)
    create.join(25)
    r = create.result
    t.ok(r is not None and r.rsc == 5000, "the CREATE gets 5000 when the bound passes, with the lock still held", r)
    t.ok(lock.p.poll() is None, "(the lock was held throughout)")
    lock.release()
    t.eq(cse.get(box + "/late", origin="Cslow").rsc, 4004, "the refused CREATE is not stored")
    t.eq(cse.create(box, 4, {"m2m:cin": {"rn": "after", "con": "v"}}, origin="Cslow").rsc, 2001,
         "service resumes: the next CREATE answers 2001")
    t.eq(cse.get(box, origin="Cslow").json["m2m:cnt"]["cni"], 7, "nothing acknowledged was lost")
t.done()
