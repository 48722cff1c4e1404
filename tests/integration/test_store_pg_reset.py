"""An upper tester Reset and a console login never make the event loop wait
on PostgreSQL (docs/decisions.md, "What still waits in the main context"):
on a private server (pg_server.py), whatever store the rest of the suite uses.

- Reset while other requests are in flight: a second session locks the
  resources table, so the primitives before the Reset wait for the store in
  fibers, and the Reset queues behind them (its answer deferred). Meanwhile
  /__health__ and the metrics are answered, a notification's answer is let
  through (the follow-up it starts, reading the next notification's target,
  is held and run before the modules close), and a CREATE
  sent after the Reset queues behind it. Once the lock is gone every request
  gets its answer: those before the Reset succeeded and are gone with the
  tree, the Reset answers 2000, the CREATE after it stands in the reset tree.
- A console login with a code from `m2m-cse console-login`: the code is
  checked in a fiber while the credential table is locked; /__health__ is
  answered meanwhile, and the login succeeds once the lock is gone.
- Throughout, the loop never waited on either database:
  ironbark_store_lock_driven_total stays 0, and
  ironbark_store_waits_outside_fiber_total and
  ironbark_credential_waits_outside_fiber_total do not grow."""
import json, socket, subprocess, threading

import pg_server
from harness import CSE_BIN, Cse, Tap, curl, metric, wait_for

t = Tap()
srv = pg_server.server()
db = srv.new_database()
O = "Creset"


class Gate:
    """A notification receiver that answers (2000) only once opened: the
    CSE's second notification to it waits for the first one's answer."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = "http://127.0.0.1:%d/n" % self.sock.getsockname()[1]
        self.got, self.opened, self.stopped = 0, threading.Event(), threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.got += 1
            self.opened.wait(30)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-M2M-RSC: 2000\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def stop(self):
        self.opened.set()
        self.stopped.set()
        self.sock.close()


def in_thread(fn):
    got = {}
    th = threading.Thread(target=lambda: got.setdefault("r", fn()))
    th.start()
    return th, got


def healthy(cse):
    h = cse.get("/__health__", origin=None, timeout=5)
    return h.status == 200 and '"status":"ok"' in h.text


def delivered(cse):
    return metric(cse, 'ironbark_notifications_total{outcome="delivered"}')


rx = Gate()
try:
    with Cse(db=srv.uri(db), upper_tester="true", console="true") as cse:
        t.rsc(cse.register_ae("reset", origin=O, poa=[rx.url]), 2001, 201, "an AE with a point of access")
        app = "/cse-in/reset"
        t.rsc(cse.create(app, 3, {"m2m:cnt": {"rn": "box"}}, origin=O), 2001, 201, "its container")
        r = cse.create(app + "/box", 23, {"m2m:sub": {"rn": "s", "nu": [O], "enc": {"net": [3]}}}, origin=O)
        t.rsc(r, 2001, 201, "a subscription notifying the AE by its ID")
        waits = metric(cse, "ironbark_store_waits_outside_fiber_total")
        cred_waits = metric(cse, "ironbark_credential_waits_outside_fiber_total")
        t.ok(waits is not None and cred_waits is not None, "the metrics count both stores' waits outside a fiber",
             (waits, cred_waits))

        # --- 1. Reset while requests wait for the store ------------------------------
        for i in range(2):
            t.rsc(cse.create(app + "/box", 4, {"m2m:cin": {"rn": "c%d" % i, "con": str(i)}}, origin=O), 2001, 201,
                  "instance %d: its notification waits for the AE's answer (the second for the first's)" % i)
        t.ok(wait_for(lambda: rx.got >= 1, seconds=10), "the first notification reached the AE")
        sent = delivered(cse)
        lock = pg_server.TableLock(srv, db)
        t.ok(lock.held, "a second session holds the resources table")
        before = [in_thread(lambda i=i: cse.create(app + "/box", 4, {"m2m:cin": {"rn": "w%d" % i, "con": "w"}}, origin=O))
                  for i in range(2)]
        before.append(in_thread(lambda: cse.get(app + "/box", origin=O, timeout=20)))
        t.ok(wait_for(lambda: pg_server.waiting_on_lock(srv, db) >= 1, seconds=8),
             "a request before the Reset waits on the lock")
        # The other two queue inside the CSE, which pg_locks does not show: their
        # connections are open (with the metrics request's own, four), so on a
        # loaded machine the Reset is not sent before they arrived.
        t.ok(wait_for(lambda: metric(cse, 'ironbark_open_connections{transport="http"}') >= 4, seconds=8),
             "all three requests before the Reset have arrived")
        reset_th, reset = in_thread(lambda: curl("POST", cse.base + "/__ut__",
                                                 {"X-M2M-UTCMD": "Reset", "X-M2M-RI": "ut-reset"}, timeout=30))
        t.ok(wait_for(lambda: "'Reset' from 127.0.0.1: waits for the store" in cse.read_log(), seconds=8),
             "the Reset waits for the store, its answer deferred")
        ae = {"m2m:ae": {"rn": "later", "api": "Nlater", "rr": False, "srv": ["3"]}}
        after_th, after = in_thread(lambda: cse.create("/cse-in", 2, ae, origin="Clater", timeout=20))
        t.ok(healthy(cse), "/__health__ is answered while the Reset waits")
        t.eq(metric(cse, "ironbark_store_lock_driven_total"), 0, "the metrics are answered, nothing driven")
        rx.opened.set()
        t.ok(wait_for(lambda: delivered(cse) == sent + 1, seconds=10),
             "the AE's answer is taken in meanwhile (the next notification's target waits for the store)")
        t.ok(reset_th.is_alive() and lock.p.poll() is None, "... and the Reset still waits")
        lock.release()
        for th, _ in before + [(reset_th, None), (after_th, None)]:
            th.join(timeout=30)
        t.eq([g.get("r").rsc if g.get("r") else None for _, g in before], [2001, 2001, 2000],
             "the requests before the Reset are answered as usual")
        t.rsc(reset.get("r"), 2000, 200, "the Reset answers 2000 once they are done")
        t.eq((reset.get("r").headers.get("x-m2m-ri") if reset.get("r") else None), "ut-reset",
             "its X-M2M-RI is echoed")
        for path in (app, app + "/box", app + "/box/w0"):
            t.rsc(cse.get(path, origin="CAdmin"), 4004, 404, "after the Reset %s is gone" % path)
        t.rsc(after.get("r"), 2001, 201, "the registration sent after the Reset queued behind it")
        t.rsc(cse.get("/cse-in/later", origin="Clater"), 2000, 200, "... and stands in the reset tree")
        t.rsc(cse.get("/cse-in"), 2000, 200, "the CSEBase serves on")
        t.ok("while a reset waited ran first" in cse.read_log(),
             "the follow-up the answer started ran before the modules closed")
        t.ok("reset: CSEBase" in cse.read_log(), "the reset is logged as done")

        # --- 2. a console login whose code check waits for the credential store ---------
        p = subprocess.run([CSE_BIN, "console-login", "--data-dir", cse.data_dir, "--db", srv.uri(db)],
                           capture_output=True, text=True, timeout=20)
        code = p.stdout.strip()
        t.ok(p.returncode == 0 and len(code) == 20, "m2m-cse console-login mints a code in the shared store",
             p.stderr)
        locker = pg_server.TableLock(srv, db, "cred_console_code")
        t.ok(locker.held, "a second session locks the codes")
        login_th, login = in_thread(lambda: curl("POST", cse.https_base + "/console/api/login",
                                                 {"Content-Type": "application/json"}, json.dumps({"code": code}),
                                                 extra=cse.https_curl_options(), timeout=20))
        t.ok(wait_for(lambda: pg_server.waiting_on_lock(srv, db, "cred_console_code") >= 1, seconds=8),
             "the code check waits on the lock")
        t.ok(healthy(cse), "/__health__ is answered while the login waits")
        t.ok(login_th.is_alive(), "... and the login still waits")
        locker.release()
        login_th.join(timeout=20)
        r = login.get("r")
        t.ok(r is not None and r.status == 200 and (r.json or {}).get("originator") == "CAdmin",
             "the login succeeds once the lock is gone", r)
        t.ok(r is not None and "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""),
             "the deferred answer carries the console's page headers")
        token = (r.json or {}).get("token", "") if r else ""
        s = curl("GET", cse.https_base + "/console/api/session", {"X-Ironbark-Session": token},
                 extra=cse.https_curl_options())
        t.eq(s.status, 200, "the session it made is known")

        # --- 3. the loop never waited on a database ---------------------------------------
        t.eq(metric(cse, "ironbark_store_lock_driven_total"), 0, "no fiber was finished from the main context")
        t.eq(metric(cse, "ironbark_store_waits_outside_fiber_total"), waits,
             "no store round trip was waited for outside a fiber")
        t.eq(metric(cse, "ironbark_credential_waits_outside_fiber_total"), cred_waits,
             "no credential round trip was waited for outside a fiber")
finally:
    rx.stop()
t.done()
