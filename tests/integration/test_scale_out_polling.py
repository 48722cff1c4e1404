"""<pollingChannel> on two front-ends of one PostgreSQL database
(docs/scale-out.md): a notification produced on A waits in the database and
is taken by the AE's long poll on B, once; a poll parked on B is woken by
a change on A; with polls parked on both, one of them gets it; the same
front-end case still works; the AE's answer reaches the producer whichever
front-end it is sent to, also one longer than a notice's payload."""
import os, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Background as Bg, Cse, Tap
import pg_server
from pch_client import BOX, O, answer, con_of, event, poll, rqp_of, set_up

t = Tap()
SETTINGS = {"pch-poll-timeout": "3000", "pch-request-timeout": "8000"}


pg = pg_server.server()
uri = pg.uri(pg.new_database())
a = Cse(db=uri, **SETTINGS).start()
bdir = tempfile.mkdtemp(prefix="ironbark-test-")
# Every front-end needs the first one's root key (docs/scale-out.md).
shutil.copy2(os.path.join(a.data_dir, "credentials-root.key"), os.path.join(bdir, "credentials-root.key"))
b = Cse(data_dir=bdir, db=uri, **SETTINGS).start()
try:
    set_up(t, a)

    # --- queued on A, taken by a poll on B, once ---------------------------
    t.rsc(event(a, "c1"), 2001, 201, "an event on A while nobody polls")
    got = poll(b)
    con, q = con_of(got), rqp_of(got)
    t.ok(got.rsc == 2000 and con == "c1" and q.get("rqi"), "the AE's poll on B gets A's notification", got)
    t.rsc(answer(a, q.get("rqi")), 2000, 200, "its answer sent to A (the producer) is taken")
    t.rsc(answer(a, q.get("rqi")), 4004, 404, "a second answer to it -> 4004")
    event(a, "c1b")
    got = poll(b)
    con, q = con_of(got), rqp_of(got)
    t.eq(con, "c1b", "another event on A, polled on B")
    t.rsc(answer(b, q.get("rqi")), 2000, 200, "its answer sent to B (not the producer) is taken")
    t.rsc(answer(a, q.get("rqi")), 4004, 404, "and ends the request everywhere: answered again on A -> 4004")
    t.rsc(poll(b, 700), 4008, 504, "a second poll on B gets nothing new")
    t.rsc(poll(a, 700), 4008, 504, "nor does a poll on A: delivered once")

    # --- a poll parked on B is woken by a change on A ------------------------
    # The poll may last 7 s (under the 8 s a queued request lives), so a
    # loaded machine's slow wake is told from a lost one: the time it took
    # is in the message.
    t0 = time.time()
    parked = Bg(lambda: poll(b, 7000))
    time.sleep(0.5)
    event(a, "c2")
    got = parked.result()
    took = time.time() - t0
    con, q = con_of(got), rqp_of(got)
    # Without the notice B would not look again before the poll's timeout (4008).
    t.ok(got is not None and got.rsc == 2000 and con == "c2",
         "a poll parked on B wakes for a change on A (%.2f s after it was parked)" % took, got)
    answer(a, q.get("rqi"))

    # --- polls parked on both: exactly one gets it ----------------------------
    polls = [Bg(lambda fe=fe: poll(fe, 2500)) for fe in (a, b)]
    time.sleep(0.5)
    event(b, "c3")
    got = [p.result() for p in polls]
    t.eq(sorted(g.rsc if g is not None else None for g in got), [2000, 4008],
         "with polls parked on A and B, one gets the notification and the other times out")
    for g in got:
        if g is not None and g.rsc == 2000:
            answer(b, rqp_of(g).get("rqi"))

    # --- the same front-end still works ---------------------------------------
    parked = Bg(lambda: poll(a))
    time.sleep(0.5)
    event(a, "c4")
    got = parked.result()
    con, q = con_of(got), rqp_of(got)
    t.ok(got is not None and got.rsc == 2000 and con == "c4", "produced and polled on A", got)
    t.rsc(answer(a, q.get("rqi")), 2000, 200, "answered on A")
    for _ in range(30):
        nsi = a.get(BOX + "/s", origin=O).json["m2m:sub"].get("nsi", [])
        if nsi and nsi[0].get("rsr", 0) >= 4:
            break
        time.sleep(0.1)
    t.ok(nsi and nsi[0].get("rsr", 0) >= 4, "the answers given to the producer count as answered (nsi)", nsi)

    # --- an answer longer than a notice's payload, sent to B, reaches A -----------
    def answered_on_a():
        s = a.get(BOX + "/s", origin=O).json["m2m:sub"].get("nsi", [])
        return s[0].get("rsr", 0) if s else 0
    before = answered_on_a()
    event(a, "c5")
    got = poll(b)
    con, q = con_of(got), rqp_of(got)
    t.rsc(answer(b, q.get("rqi"), big=True), 2000, 200,
          "a 20 kB answer sent to B (not the producer) is taken (kept as a row, the notice names it)")
    t.rsc(answer(a, q.get("rqi")), 4004, 404, "and ends the request everywhere: answered again on A -> 4004")
    for _ in range(50):
        if answered_on_a() > before:
            break
        time.sleep(0.1)
    t.ok(answered_on_a() == before + 1, "A, the producer, got that answer (nsi counts it answered, not timed out)")
    t.eq(pg.psql("SELECT count(*) FROM pch_answers", db=uri.split("/")[3].split("?")[0]).strip(), "0",
         "the kept answer's row went with its taking")
finally:
    for name, fe in (("A", a), ("B", b)):
        t.eq(fe.stop(), 0, "front-end %s shuts down cleanly (a sanitizer build: no report)" % name)
    shutil.rmtree(bdir, ignore_errors=True)
t.done()
