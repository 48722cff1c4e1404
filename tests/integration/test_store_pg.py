"""The PostgreSQL store's own edges, on a private PostgreSQL server
(pg_server.py) whatever store the rest of the suite uses: the store-level
cases of tests/unit/test_store_pg.c (taken names, savepoints in a batch, a
failed batch commit, paged scans, sliced scans (and the pinned plan of their
continuation query), filtered scans (labels), the change feed between two connections
(also behind a fiber that holds the connection, and the poll at a lock's
hand-over, which reads only what libpq holds), the polling channels' queue, a restart of the database), then a real m2m-cse while the database is stopped
(5000 with a clear message, no crash) and after it is back (service resumes,
nothing acknowledged lost)."""
import os
import subprocess
import time

import pg_server
from harness import Cse, Tap, wait_for

t = Tap()
srv = pg_server.server()

# --- the store through store.h (cmocka, TAP) ------------------------------------
env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP", IRONBARK_PG_URI=srv.uri(srv.new_database()),
           IRONBARK_PG_RESTART=srv.restart_command())
p = subprocess.run([os.environ["STORE_PG_TEST"]], env=env, capture_output=True, text=True, timeout=120)
lines = [l for l in p.stdout.splitlines() if l.startswith(("ok ", "not ok "))]
t.ok(len(lines) == 11 and p.returncode == 0, "the store test ran all its cases and exited 0 (sanitizers clean)",
     p.stdout[-1500:] + p.stderr[-1500:])
for line in lines:
    t.ok(line.startswith("ok "), "store: " + line.split(" - ", 1)[-1], p.stdout[-2000:])

# --- a CSE while its database is away ----------------------------------------------
# A password in the URI (the test server trusts local users, so any will do)
# must never reach the log.
PASSWORD = "pw-" + os.urandom(6).hex()
uri = srv.uri(srv.new_database()).replace("ironbark@", "ironbark:%s@" % PASSWORD)
with Cse(db=uri) as cse:
    box = cse.ae_with_container("Cpg", ae="pg", cnt="box")
    acked = [cse.create(box, 4, {"m2m:cin": {"rn": "before%d" % i, "con": "v"}}, origin="Cpg").rsc
             for i in range(3)]
    t.eq(acked, [2001] * 3, "writes before the outage are acknowledged")
    t.ok(srv.stop_server(), "the database is stopped")
    r = cse.get(box, origin="Cpg")
    t.ok(r.rsc == 5000 and "store is unavailable" in r.text, "a read while it is away: 5000, store unavailable", r)
    r = cse.create(box, 4, {"m2m:cin": {"rn": "during", "con": "v"}}, origin="Cpg")
    t.ok(r.rsc == 5000 and "store" in r.text, "a write while it is away: 5000, never acknowledged", r)
    t.ok(cse.alive(), "the CSE is still running")
    srv.start()
    r = wait_for(lambda: (lambda x: x if x.rsc == 2000 else None)(cse.get(box, origin="Cpg")), seconds=20)
    t.ok(r is not None and r.json["m2m:cnt"]["cni"] == 3, "service resumes; the acknowledged writes are there", r)
    t.eq(cse.get(box + "/during", origin="Cpg").rsc, 4004, "the refused write is not there")
    t.eq(cse.create(box, 4, {"m2m:cin": {"rn": "after", "con": "v"}}, origin="Cpg").rsc, 2001,
         "writes are acknowledged again")
    log = cse.read_log()
    t.ok("database is unreachable" in log or "cannot connect to the database" in log,
         "the outage is in the log", log[-1500:])
    t.ok(PASSWORD not in log and "ironbark:***@" in log, "the URI is logged with its password masked",
         log[-1500:])
t.done()
