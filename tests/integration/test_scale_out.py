"""Several front-ends on one PostgreSQL database (docs/scale-out.md): two
m2m-cse processes with the same CSE-ID serve one tree. Concurrent creates of
one name give one 2001; a subscription made on A fires once for a change on
B; exc counts each event once whichever front-end notifies it; an ACP change
on A is obeyed by B within the bound; expiry is done once;
kill -9 of a front-end under write load and a restart of PostgreSQL under
load lose no acknowledged write; reuse-port lets both listen on one port."""
import json, os, shutil, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, raw_create as harness_raw_create, wait_for
import pg_server
from notify_receiver import Receiver

t = Tap()
O = "Cscale"
BOUND_S = 2.0   # docs/scale-out-consistency-notes.md: a change is followed within one loop round of its notice


def raw_create(port, path, ty, body, rqi):
    return harness_raw_create(port, path, ty, body, rqi, O)


ROOT_KEY = os.urandom(32)


def front_end(uri, **kw):
    """A front-end with the root key every front-end on one database shares
    (it seals the credentials in the database, docs/scale-out.md)."""
    fe = Cse(db=uri, expiry_interval=100, **kw)
    fd = os.open(os.path.join(fe.data_dir, "credentials-root.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, ROOT_KEY)
    os.close(fd)
    return fe


def sgn_of(reqs, ri):
    """Notifications (not verifications) whose representation is ri."""
    out = []
    for r in reqs:
        sgn = (r["body"] or {}).get("m2m:sgn", {})
        rep = sgn.get("nev", {}).get("rep") or {}
        if any(isinstance(v, dict) and v.get("ri") == ri for v in rep.values()):
            out.append(sgn)
    return out


def load(fes, path, ty, key, seconds, stop_when, prefix):
    """Writers on every front-end until stop_when() or seconds: the ris
    acknowledged (2001) and the count of failed answers."""
    acked, failed, lock, stop = [], [0], threading.Lock(), threading.Event()

    def writer(fe, n):
        i = 0
        while not stop.is_set():
            res = raw_create(fe.port, path, ty, {key: {"con": "x"}} if ty == 4 else {key: {}},
                             "%s-%d-%d" % (prefix, n, i))
            i += 1
            with lock:
                if res and res[0] == 2001:
                    acked.append(res[1][key]["ri"])
                else:
                    failed[0] += 1
            if not res:
                time.sleep(0.02)
    threads = [threading.Thread(target=writer, args=(fe, n)) for n, fe in enumerate(fes * 2)]
    for th in threads:
        th.start()
    deadline = time.time() + seconds
    while time.time() < deadline and not stop_when(acked, failed[0]):
        time.sleep(0.02)
    return acked, failed, lock, stop, threads


def finish(stop, threads):
    stop.set()
    for th in threads:
        th.join(timeout=15)


def all_found(fe, parent, acked):
    """The acknowledged ris a discovery on fe does not return. A front-end
    that has just lost its database answers 5000 until it reconnects: asked
    again for up to 20 s, and a read that never succeeds is reported as
    such, not as writes lost."""
    r = None
    for _ in range(100):
        r = fe.get(parent + "?fu=1&ty=4&drt=2&lim=100000", origin=O)
        if r.rsc == 2000:
            found = set(r.json["m2m:uril"])
            return [ri for ri in acked if ri not in found and "/" + ri not in found]
        time.sleep(0.2)
    return ["discovery never answered 2000 (last: %s)" % (r.rsc if r else None)]


pg = pg_server.server()
uri = pg.uri(pg.new_database())
a, b = front_end(uri), front_end(uri)
starts = []
ths = [threading.Thread(target=lambda fe=fe: starts.append(fe.start())) for fe in (a, b)]
for th in ths:
    th.start()
for th in ths:
    th.join(timeout=30)
try:
    t.eq(len(starts), 2, "two front-ends start together on an empty database")
    a.register_ae("app", origin=O)
    t.rsc(a.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "box"}}, origin=O), 2001, 201, "container made on A")
    t.rsc(b.get("/cse-in/app/box", origin=O), 2000, 200, "B serves what A made")

    # --- concurrent creates of one name: one 2001, the other 4105 ---
    outcomes = []
    for k in range(10):
        got, lock = [], threading.Lock()
        def racer(fe, k=k):
            res = raw_create(fe.port, "/cse-in/app", 3, {"m2m:cnt": {"rn": "same%d" % k}}, "race%d" % k)
            with lock:
                got.append(res[0] if res else None)
        ths = [threading.Thread(target=racer, args=(fe,)) for fe in (a, b)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(timeout=20)
        outcomes.append(sorted(got, key=str))
    t.eq([o for o in outcomes if o != [2001, 4105]], [], "same rn on A and B at once: one 2001, one 4105 (10 rounds)")

    # --- a subscription made on A fires once for a change on B ---
    with Receiver() as rx:
        r = a.create("/cse-in/app/box", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url], "enc": {"net": [3]}}}, origin=O)
        t.rsc(r, 2001, 201, "subscription made on A")
        r = b.create("/cse-in/app/box", 4, {"m2m:cin": {"con": "from B"}}, origin=O)
        t.rsc(r, 2001, 201, "contentInstance made on B")
        cin = r.json["m2m:cin"]["ri"]
        wait_for(lambda: sgn_of(rx.snapshot(), cin), seconds=5)
        time.sleep(1.0)          # a second copy from the other front-end would be here by now
        t.eq(len(sgn_of(rx.snapshot(), cin)), 1, "the change on B is notified once")

        # --- exc counted across front-ends: each event takes one off, once ---
        t.rsc(a.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "counted"}}, origin=O), 2001, 201, "container for exc")
        r = a.create("/cse-in/app/counted", 23, {"m2m:sub": {"rn": "ex", "nu": [rx.url], "enc": {"net": [3]},
                                                             "exc": 12}}, origin=O)
        t.rsc(r, 2001, 201, "subscription with exc 12 made on A")
        made, lock = [], threading.Lock()

        def burst(fe, n):
            for i in range(6):
                res = raw_create(fe.port, "/cse-in/app/counted", 4, {"m2m:cin": {"con": "e"}}, "exc-%d-%d" % (n, i))
                with lock:
                    made.append(res[1]["m2m:cin"]["ri"] if res and res[0] == 2001 else None)
        ths = [threading.Thread(target=burst, args=(fe, n)) for n, fe in enumerate((a, b))]
        for th in ths:
            th.start()
        for th in ths:
            th.join(timeout=30)
        t.ok(len(made) == 12 and all(made), "12 instances made on A and B at once", made)
        gone = wait_for(lambda: b.get("/cse-in/app/counted/ex", origin=O).rsc == 4004, seconds=10)
        time.sleep(0.5)
        t.ok(gone, "no count lost: exc reached 0 after the 12 events and the subscription is gone",
             b.get("/cse-in/app/counted/ex", origin=O).text[:300])
        t.eq(sum(len(sgn_of(rx.snapshot(), ri)) for ri in made if ri), 12, "each of the 12 events notified once")

        # --- expiry once: both sweep every 100 ms, each child's deletion notified once ---
        r = a.create("/cse-in/app", 23, {"m2m:sub": {"rn": "gone", "nu": [rx.url], "enc": {"net": [4]}}}, origin=O)
        t.rsc(r, 2001, 201, "subscription to child deletions made on A")
        # 5 s ahead (whole seconds: 4–5 s): six creates on a loaded machine
        # took more than the 2–3 s this once was
        et = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() + 5))
        kids, answers = [], []
        for i in range(6):
            fe = (a, b)[i % 2]
            r = fe.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "brief%d" % i, "et": et}}, origin=O)
            kids.append(r.json["m2m:cnt"]["ri"] if r.rsc == 2001 else None)
            answers.append("%s %s" % (r.rsc, r.text[:200]))
        if not t.ok(all(kids), "short-lived containers made on A and B", "\n".join(answers)):
            kids = [k for k in kids if k]
        wait_for(lambda: all(b.get("/" + k, origin=O).rsc == 4004 for k in kids), seconds=15)
        time.sleep(1.0)
        counts = [len(sgn_of(rx.snapshot(), k)) for k in kids]
        t.eq(counts, [1] * len(kids), "each expired container's deletion is notified once")

    # --- an ACP change on A is obeyed by B within the bound ---
    r = a.create("/cse-in", 1, {"m2m:acp": {"rn": "pol", "pv": {"acr": [{"acor": ["Creader"], "acop": 2}]},
                                            "pvs": {"acr": [{"acor": [O], "acop": 63}]}}}, origin="CAdmin")
    t.rsc(r, 2001, 201, "ACP made on A")
    acp = r.json["m2m:acp"]["ri"]
    t.rsc(a.update("/cse-in/app/box", {"m2m:cnt": {"acpi": [acp]}}, origin=O), 2004, 200, "box governed by it")
    t.rsc(b.get("/cse-in/app/box", origin="Creader"), 2000, 200, "B grants Creader (and caches the decision)")
    t.rsc(a.update("/cse-in/pol", {"m2m:acp": {"pv": {"acr": [{"acor": ["Cother"], "acop": 2}]}}},
                   origin="CAdmin"), 2004, 200, "A withdraws Creader's privilege")
    t0 = time.time()
    denied = wait_for(lambda: b.get("/cse-in/app/box", origin="Creader").rsc == 4103, seconds=5, step=0.02)
    took = time.time() - t0
    t.ok(denied and took < BOUND_S, "B denies within %.1f s (took %.2f s)" % (BOUND_S, took))

    # --- kill -9 of A under write load: B reads back every acknowledged write ---
    a.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "load", "mni": 100000}}, origin=O)
    acked, failed, lock, stop, ths = load([a, b], "/cse-in/app/load", 4, "m2m:cin", 6,
                                          lambda ac, f: len(ac) >= 120, "k9")
    a.kill9()
    time.sleep(0.3)
    finish(stop, ths)
    with lock:
        acked = list(acked)
    t.ok(len(acked) > 20, "writes acknowledged before the kill (%d)" % len(acked))
    t.eq(all_found(b, "/cse-in/app/load", acked), [], "B reads back every acknowledged write")
    a.start()

    # --- PostgreSQL restarts under load: errors, then service, nothing acknowledged lost ---
    acked, failed, lock, stop, ths = load([a, b], "/cse-in/app/load", 4, "m2m:cin", 4,
                                          lambda ac, f: len(ac) >= 60, "pg1")
    before_fail = failed[0]
    t.ok(pg.restart(), "PostgreSQL restarted (pg_ctl restart -m fast)")
    with lock:
        n_at_restart = len(acked)
    resumed = wait_for(lambda: len(acked) > n_at_restart + 30, seconds=20)
    finish(stop, ths)
    t.ok(failed[0] > before_fail or resumed, "clients saw errors while PostgreSQL restarted (%d failed)" % failed[0])
    t.ok(resumed, "service resumed after the restart (%d acknowledged)" % len(acked))
    t.eq(all_found(a, "/cse-in/app/load", acked), [], "every acknowledged write is there after the restart")
    t.rsc(b.get("/cse-in/app/box", origin="Creader"), 4103, 403, "B still obeys the changed ACP after the restart")
finally:
    for fe in (a, b):
        fe.stop()
        shutil.rmtree(fe.data_dir, ignore_errors=True)

# --- reuse-port: two front-ends listen on one HTTP port ---
c = front_end(uri, reuse_port="true").start()
d = front_end(uri, http_port=c.port, reuse_port="true")
try:
    d.start()
    time.sleep(0.3)
    t.ok(d.alive() and "cannot listen" not in d.read_log(), "a second front-end binds the same port with reuse-port")
    codes = {c.get("/cse-in/app/load", origin=O).rsc for _ in range(6)}
    t.eq(codes, {2000}, "the shared port answers")
    d.stop()
    e = front_end(uri, http_port=c.port)
    try:
        e.start()
        msg = "it started"
    except RuntimeError as err:
        msg = str(err)
    t.ok(not e.alive() and "cannot listen" in msg, "without reuse-port the port stays taken", msg[-300:])
    e.stop()
    shutil.rmtree(e.data_dir, ignore_errors=True)
finally:
    for fe in (c, d):
        fe.stop()
        shutil.rmtree(fe.data_dir, ignore_errors=True)

t.done()
