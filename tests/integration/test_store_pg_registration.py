"""Registration at a registrar never makes the event loop wait on the
database (issue 19, cse/core/registration.c, docs/decisions.md): an MN-CSE
whose tree is in PostgreSQL (a private server, pg_server.py, whatever store
the rest of the suite uses) registers at an IN-CSE over HTTPS with a PSK (TCP: an attempt
refused while the IN is down is not delivered later).

- The MN starts before its registrar: the attempts that fail, then the
  registration once the IN is up (CREATE with dcse read from the store, the
  IN's CSEBase kept as a local <remoteCSE>), all in fibers.
- Its refresh (a RETRIEVE every registration-check, compared with what the
  store says) finds the registration gone at the IN while a second session
  locks the MN's resources table: the comparison or the new CREATE's content
  waits in a fiber, /__health__ is answered meanwhile, and the MN is
  registered again once the lock is gone.
- Stopped while a registration step waits for the locked table, the MN
  still stops cleanly (exit 0: no sanitizer report, no leak), whether the
  step ends within the stop's bound or after it gave up waiting.
- Throughout, ironbark_store_waits_outside_fiber_total does not grow and
  ironbark_store_lock_driven_total stays 0."""
import signal
import time

import pg_server
from harness import Cse, Tap, metric, wait_for

t = Tap()
srv = pg_server.server()
db = srv.new_database()
KEY = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"
FAST = dict(registration_check=300, registration_retry_max=600, log_level="debug")


def csr(cse, ri):
    r = cse.get("/~/%s/%s" % (cse.settings["cse_id"], ri), origin="CAdmin")
    return r.rsc, ((r.json or {}).get("m2m:csr") or {})


def waits(cse):
    return metric(cse, "ironbark_store_waits_outside_fiber_total"), metric(cse, "ironbark_store_lock_driven_total")


inn = Cse(cse_id="id-in", cse_name="cse-in", psk=["mn-key:%s:/id-mn" % KEY])
mn = Cse(db=srv.uri(db), cse_id="id-mn", cse_name="cse-mn", cse_type=2,
         registrar="https://127.0.0.1:%d" % inn.https_port, registrar_csi="/id-in",
         outbound_psk="127.0.0.1:%d=mn-key" % inn.https_port, psk=["mn-key:%s:/id-in" % KEY], **FAST)
try:
    mn.start()
    # Start-up may wait (docs/decisions.md); from here on nothing may.
    before = waits(mn)
    t.ok(before[0] is not None and before[1] == 0, "the MN counts waits outside a fiber, none driven", before)
    t.ok(wait_for(lambda: "registration at /id-in" in mn.read_log() and "failed" in mn.read_log(), seconds=8),
         "its registrar not up yet: the attempts fail (and are retried)")

    # --- 1. registration ------------------------------------------------------------
    inn.start()
    t.ok(wait_for(lambda: csr(inn, "id-mn")[0] == 2000, seconds=15), "the IN up: the MN registered there",
         mn.read_log()[-1500:])
    rsc, at_in = csr(inn, "id-mn")
    t.eq((at_in.get("csi"), at_in.get("cb"), at_in.get("cst")), ("/id-mn", "/id-mn/cse-mn", 2),
         "the IN's <remoteCSE> for the MN: csi, cb, cst (from the MN's store)")
    t.ok("http://127.0.0.1:%d" % mn.port in (at_in.get("poa") or []), "... and the poa of the MN's CSEBase",
         at_in.get("poa"))
    t.ok(wait_for(lambda: csr(mn, "id-in")[0] == 2000), "the MN keeps a <remoteCSE> for its registrar (written in a fiber)")
    t.eq(csr(mn, "id-in")[1].get("cb"), "/id-in/cse-in", "... with the registrar's cb")

    # --- 2. the refresh, with the MN's table locked ---------------------------------
    lock = pg_server.TableLock(srv, db)
    t.ok(lock.held, "a second session holds the MN's resources table")
    t.rsc(inn.delete("/~/id-in/id-mn", origin="CAdmin"), 2002, 200,
          "the IN loses the MN's registration")
    t.ok(wait_for(lambda: pg_server.waiting_on_lock(srv, db) >= 1, seconds=8),
         "the refresh (a check compared with the store, then a new CREATE) waits on the lock")
    health = mn.get("/__health__", origin=None, timeout=5)
    t.ok(health.status == 200 and '"status":"ok"' in health.text, "/__health__ is answered meanwhile", health)
    t.eq(waits(mn)[1], 0, "the metrics are answered meanwhile, nothing driven")
    t.ok(csr(inn, "id-mn")[0] == 4004, "... and it is not registered yet", inn.read_log()[-5000:])
    lock.release()
    t.ok(wait_for(lambda: csr(inn, "id-mn")[0] == 2000, seconds=10), "the lock gone: registered again",
         mn.read_log()[-1500:])
    t.ok("http://127.0.0.1:%d" % mn.port in (csr(inn, "id-mn")[1].get("poa") or []),
         "... with the poa read from the MN's store")
    t.eq(waits(mn), (before[0], 0), "no round trip was waited for outside a fiber, nothing driven")

    # --- 3. a stop while a registration step waits ----------------------------------
    lock = pg_server.TableLock(srv, db)
    t.rsc(inn.delete("/~/id-in/id-mn", origin="CAdmin"), 2002, 200, "the IN loses the registration again")
    t.ok(wait_for(lambda: pg_server.waiting_on_lock(srv, db) >= 1, seconds=8), "the MN's next registration step waits on the lock")
    mn.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    t.ok(mn.alive(), "told to stop meanwhile, the MN waits for that step (bounded)")
    lock.release()
    t.eq(mn.stop(), 0, "it stops cleanly once the lock is gone (exit 0)")
    t.eq(csr(inn, "id-mn")[0], 4004, "... not registered (the registrar did not know it)")

    # --- 4. a stop that gives up waiting for that step --------------------------------
    mn.start()
    t.ok(wait_for(lambda: csr(inn, "id-mn")[0] == 2000, seconds=10), "restarted, the MN registered again")
    lock = pg_server.TableLock(srv, db)
    t.rsc(inn.delete("/~/id-in/id-mn", origin="CAdmin"), 2002, 200, "the IN loses the registration once more")
    t.ok(wait_for(lambda: pg_server.waiting_on_lock(srv, db) >= 1, seconds=8), "a registration step waits on the lock")
    mn.proc.send_signal(signal.SIGTERM)
    t.ok(wait_for(lambda: "deregistration at /id-in unanswered" in mn.read_log(), seconds=6),
         "told to stop, the MN gives up waiting for it after its bound")
    lock.release()
    t.eq(mn.stop(), 0, "the step's end then frees the registration: exit 0")
finally:
    for c in (mn, inn):
        c.__exit__(None)
t.done()
