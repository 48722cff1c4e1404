"""<pollingChannel> exchanges on PostgreSQL never make the event loop wait
on the database (docs/decisions.md, *What still waits in the main
context*): on a private server (pg_server.py), one front-end (A) and two
(A and B) of one database, an AE without poa is notified through its
channel, polls, answers (short, and longer than a notice), lets a request
time out, and has its channel deleted under a parked poll; the database is
restarted under both front-ends, which reconnect and go on. Throughout,
ironbark_store_waits_outside_fiber_total does not grow and
ironbark_store_lock_driven_total stays 0 on either front-end, and after
every answer no row is left in pch_answers or pch_requests (also when the
answer reaches the front-end that queued the request, which takes it
itself)."""
import os, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Background as Bg, Cse, Tap, metric, wait_for
import pg_server
from pch_client import BOX, O, answer, con_of, event, poll, rqp_of, set_up

t = Tap()
# Parked polls last 4.5 s and requests 5 s, so that a wake slowed by a loaded
# machine is still told from a lost one.
SETTINGS = {"pch-poll-timeout": "4500", "pch-request-timeout": "5000"}


def waits(fe):
    return metric(fe, "ironbark_store_waits_outside_fiber_total"), metric(fe, "ironbark_store_lock_driven_total")


def answered(fe):
    """rsr of the subscription's nsi: the notifications answered, as the producer counts them."""
    s = fe.get(BOX + "/s", origin=O).json["m2m:sub"].get("nsi", [])
    return s[0].get("rsr", 0) if s else 0


pg = pg_server.server()
uri = pg.uri(pg.new_database())
dbname = uri.split("/")[3].split("?")[0]


def rows(table):
    return pg.psql("SELECT count(*) FROM " + table, db=dbname).strip()


def no_rows_left(what):
    t.ok(wait_for(lambda: rows("pch_answers") == "0" and rows("pch_requests") == "0", seconds=5),
         "%s: no row left in pch_answers nor pch_requests" % what, (rows("pch_answers"), rows("pch_requests")))


a = Cse(db=uri, **SETTINGS).start()
b = None
bdir = tempfile.mkdtemp(prefix="ironbark-test-")
try:
    set_up(t, a)
    before_a = waits(a)
    t.ok(before_a[0] is not None and before_a[1] == 0, "A counts waits outside a fiber", before_a)

    # --- one front-end: produced, polled and answered on A -------------------------
    parked = Bg(lambda: poll(a))
    time.sleep(0.5)
    n = answered(a)
    t.rsc(event(a, "a1"), 2001, 201, "an event on A while the AE's poll is parked on A")
    got = parked.result()
    t.ok(got is not None and got.rsc == 2000 and con_of(got) == "a1", "the parked poll gets the notification", got)
    t.rsc(answer(a, rqp_of(got).get("rqi"), big=True), 2000, 200,
          "a 20 kB answer sent to A, the producer, is taken")
    t.ok(wait_for(lambda: answered(a) == n + 1, seconds=5), "A counts it answered")
    no_rows_left("answered to the producer itself")

    event(a, "a2")
    got = poll(a)
    t.eq(con_of(got), "a2", "queued before the poll: taken at once")
    t.rsc(answer(a, rqp_of(got).get("rqi")), 2000, 200, "a short answer to A")
    no_rows_left("a short answer to the producer")

    # --- a request nobody answers in time ----------------------------------------------
    event(a, "a3")
    got = poll(a)
    t.eq(con_of(got), "a3", "polled, then left unanswered")
    time.sleep(5.5)
    t.rsc(answer(a, rqp_of(got).get("rqi")), 4004, 404, "an answer after pch-request-timeout -> 4004")
    t.rsc(poll(a, 600), 4008, 504, "nothing else waits: a poll times out (4008)")
    t.eq(waits(a), before_a, "A alone: no round trip waited for outside a fiber, nothing driven")

    # --- two front-ends --------------------------------------------------------------
    shutil.copy2(os.path.join(a.data_dir, "credentials-root.key"), os.path.join(bdir, "credentials-root.key"))
    b = Cse(data_dir=bdir, db=uri, **SETTINGS).start()
    before_b = waits(b)
    t.ok(before_b[0] is not None and before_b[1] == 0, "B counts waits outside a fiber", before_b)
    # Parked on B, woken by A's notice: B's feed takes it from the store.
    parked = Bg(lambda: poll(b, 4500))
    time.sleep(0.5)
    n = answered(a)
    event(a, "b1")
    got = parked.result()
    t.ok(got is not None and got.rsc == 2000 and con_of(got) == "b1", "a poll parked on B wakes for A's request", got)
    t.rsc(answer(b, rqp_of(got).get("rqi"), big=True), 2000, 200, "a 20 kB answer sent to B, not the producer")
    t.ok(wait_for(lambda: answered(a) == n + 1, seconds=5), "A, the producer, takes it (kept answer)")
    no_rows_left("answered through the other front-end")
    event(a, "b2")
    got = poll(b)
    t.eq(con_of(got), "b2", "queued on A, polled on B")
    t.rsc(answer(b, rqp_of(got).get("rqi")), 2000, 200, "a short answer sent to B")
    t.ok(wait_for(lambda: answered(a) == n + 2, seconds=5), "A counts it answered")
    no_rows_left("a short answer through the other front-end")

    # --- the channel deleted on A under a poll parked on B -----------------------------
    parked = Bg(lambda: poll(b, 4500))
    time.sleep(0.5)
    t.rsc(a.delete("/cse-in/sensor/pch", origin=O), 2002, 200, "the pollingChannel deleted on A")
    got = parked.result()
    t.rsc(got, 4004, 404, "the poll parked on B ends 4004 (B checked the store for the channel)")

    # --- the database restarted under both ------------------------------------------
    t.rsc(a.create("/cse-in/sensor", 15, {"m2m:pch": {"rn": "pch"}}, origin=O), 2001, 201, "a new pollingChannel")
    t.ok(pg.restart(), "the database restarts (connections cut)")
    # Each front-end finds its connection gone and reconnects: through a
    # request (A) and through its feed alone (B, which gets none).
    t.ok(wait_for(lambda: a.get("/cse-in/sensor", origin=O).rsc == 2000, seconds=15), "A serves again")
    ok = False
    for i in range(3):
        parked = Bg(lambda: poll(b, 2000))
        time.sleep(0.5)
        event(a, "r%d" % i)
        got = parked.result()
        ok = got is not None and got.rsc == 2000
        if ok:
            t.rsc(answer(b, rqp_of(got).get("rqi")), 2000, 200, "... answered on B")
            break
        poll(b, 500)           # a request B's feed did not see yet (its poll timed out): taken now
    t.ok(ok, "after the restart a poll parked on B wakes for A's request again (B's feed reconnected)")

    t.eq(waits(a), before_a, "A: no round trip waited for outside a fiber, nothing driven")
    t.eq(waits(b), before_b, "B: no round trip waited for outside a fiber, nothing driven")
finally:
    for name, fe in (("A", a), ("B", b)):
        if fe:
            t.eq(fe.stop(), 0, "front-end %s shuts down cleanly (a sanitizer build: no report)" % name)
    shutil.rmtree(bdir, ignore_errors=True)
t.done()
