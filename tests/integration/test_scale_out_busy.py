"""Changes of another front-end while this one's store is busy
(docs/scale-out.md, *Change notices*): front-end A's connection is held by
one request after another, each waiting on a lock that a session of the
test holds, while B commits a change. PostgreSQL keeps B's notices for A
until A's statement ends, so they arrive with the first request's answer;
the next request then waits for A's store. A's feed reads them in between
(at the hand-over from one fiber to the next, or as the socket is read),
not only at the end of a loop round that finds the store free, which does
not come while requests keep queueing: A's metrics show B's changes
applied while the second request still waits. Once that one ends, the poll
parked on A gets B's notification."""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Background as Bg, Cse, Tap, metric, wait_for
import pg_server
from pch_client import con_of

t = Tap()
O = "Cbusy"
APP = "/cse-in/busy"
PCU = APP + "/pch/pcu"


def applied(fe):
    return metric(fe, "ironbark_feed_changes_total")


srv = pg_server.server()
db = srv.new_database()
uri = srv.uri(db)


def waiting():
    """A's statements that wait on a lock of the test's sessions."""
    return int(srv.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND application_name = 'ironbark'", db=db).strip() or 0)


a = Cse(db=uri, **{"pch-poll-timeout": "3000", "pch-request-timeout": "20000"}).start()
bdir = tempfile.mkdtemp(prefix="ironbark-test-")
shutil.copy2(os.path.join(a.data_dir, "credentials-root.key"), os.path.join(bdir, "credentials-root.key"))
b = Cse(data_dir=bdir, db=uri).start()
held = []
try:
    a.register_ae("busy", origin=O, rr=False)
    a.create(APP, 15, {"m2m:pch": {"rn": "pch"}}, origin=O)
    a.create(APP, 3, {"m2m:cnt": {"rn": "box"}}, origin=O)
    ri2 = a.create(APP, 3, {"m2m:cnt": {"rn": "box2"}}, origin=O).json["m2m:cnt"]["ri"]
    r = a.create(APP + "/box", 23, {"m2m:sub": {"rn": "s", "nu": [O], "nse": False, "enc": {"net": [3]}}}, origin=O)
    t.rsc(r, 2001, 201, "the AE subscribes itself on A (its notifications go through its channel)")
    parked = Bg(lambda: a.get(PCU, origin=O, timeout=25, headers={"X-M2M-RET": "15000"}))

    # The second request will wait on box2's row, the first on the labels table.
    row = pg_server.Held(srv, db, "SELECT 1 FROM resources WHERE ri = '%s' FOR UPDATE;" % ri2,
                         "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                         " AND query LIKE '%FOR UPDATE%'")
    held.append(row)
    labels = pg_server.TableLock(srv, db, "labels")
    held.append(labels)
    t.ok(row.held and labels.held, "a session holds box2's row, another the labels table")
    first = Bg(lambda: a.get("/cse-in?fu=1&lbl=busy", origin="CAdmin", timeout=25))
    t.ok(wait_for(lambda: pg_server.waiting_on_lock(srv, db, "labels") >= 1, seconds=8),
         "A's discovery by label waits on the labels table, holding A's store")
    second = Bg(lambda: a.update(APP + "/box2", {"m2m:cnt": {"mni": 5}}, origin=O, timeout=25))
    time.sleep(0.5)            # queued on A's store behind the discovery

    before = applied(a)
    t.rsc(b.create(APP + "/box", 4, {"m2m:cin": {"con": "on-b"}}, origin=O), 2001, 201,
          "B creates an instance meanwhile (its notification is queued for the AE's channel)")
    t.ok(wait_for(lambda: srv.psql("SELECT count(*) FROM pch_requests", db=db).strip() == "1", seconds=8),
         "B's notification waits in the database")
    t.eq(applied(a), before, "A has not seen B's changes yet (its statement holds them back)")

    labels.release()
    held.remove(labels)
    d = first.result()
    t.rsc(d, 2000, 200, "A's discovery ends once the labels table is free")
    t.ok(wait_for(lambda: waiting() >= 1, seconds=8), "A's update of box2 now waits on the row, holding A's store")
    t.ok(wait_for(lambda: applied(a) > before, seconds=5),
         "A applied B's changes while its store is busy again (%s -> %s)" % (before, applied(a)))
    t.ok(second.running() and waiting() >= 1, "... and the update still waits")

    row.release()
    held.remove(row)
    t.rsc(second.result(), 2004, 200, "A's update ends once the row is free")
    got = parked.result()
    con = con_of(got)
    t.ok(got is not None and got.rsc == 2000 and con == "on-b", "the poll parked on A gets B's notification", got)
finally:
    for h in held:
        h.release()
    for name, fe in (("A", a), ("B", b)):
        t.eq(fe.stop(), 0, "front-end %s shuts down cleanly (a sanitizer build: no report)" % name)
    shutil.rmtree(bdir, ignore_errors=True)
t.done()
