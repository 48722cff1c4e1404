"""The event loop never waits on the database (issue 19), pinned: on a
private PostgreSQL server (pg_server.py), whatever store the rest of the
suite uses, a mixed workload runs through one CSE -- CRUD with an mni
bound, discovery with filters, a subscription notifying an AE, a group's
fan-out, an ACP granting and then withdrawing a right, expiry of a
resource -- and afterwards no wait outside a fiber was counted after
start-up: ironbark_loop_waits_total names no site (the test prints the
site when one appears: cse/base/loop_waits.h), the totals of round trips
and driven fibers stay 0, and the log has no "store wait outside a fiber"
line. Start-up's own waits (schema, first reads) are not counted. That the
counting itself names a site is checked in tests/unit/test_loop_waits.c."""
import time

import pg_server
from harness import Cse, Tap, curl, wait_for
from notify_receiver import Receiver, events

t = Tap()
srv = pg_server.server()
db = srv.new_database()
O, OTHER = "Cwaits", "Cother"
APP = "/cse-in/waits"


def metrics(cse):
    return curl("GET", cse.base + "/__metrics__", {"X-M2M-Origin": "CAdmin"}).text.splitlines()


def value(lines, name):
    for line in lines:
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def stamp(seconds_ahead):
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() + seconds_ahead))


rx = Receiver().start()
try:
    with Cse(db=srv.uri(db)) as cse:
        # --- CRUD -----------------------------------------------------------------------
        t.rsc(cse.register_ae("waits", origin=O, poa=[rx.url]), 2001, 201, "an AE with a point of access")
        t.rsc(cse.register_ae("other", origin=OTHER), 2001, 201, "a second AE")
        r = cse.create(APP, 3, {"m2m:cnt": {"rn": "box", "mni": 3, "lbl": ["room/1"]}}, origin=O)
        t.rsc(r, 2001, 201, "a container holding at most 3 instances")
        box_ri = r.json["m2m:cnt"]["ri"]
        r = cse.create(APP, 3, {"m2m:cnt": {"rn": "shelf", "lbl": ["room/2"]}}, origin=O)
        shelf_ri = r.json["m2m:cnt"]["ri"]
        r = cse.create(APP + "/box", 23, {"m2m:sub": {"rn": "s", "nu": [O], "enc": {"net": [3]}}}, origin=O)
        t.rsc(r, 2001, 201, "a subscription notifying the AE by its ID")
        for i in range(5):
            cse.create(APP + "/box", 4, {"m2m:cin": {"rn": "c%d" % i, "con": str(i)}}, origin=O)
        r = cse.get(APP + "/box", origin=O)
        t.eq((r.status, r.json["m2m:cnt"].get("cni")), (200, 3), "five instances created, three kept (mni)")
        t.rsc(cse.update(APP + "/box", {"m2m:cnt": {"lbl": ["room/1", "hot"]}}, origin=O), 2004, 200,
              "the container updated")
        t.rsc(cse.delete(APP + "/box/c4", origin=O), 2002, 200, "an instance deleted")
        t.rsc(cse.get(APP + "/box/la", origin=O), 2000, 200, "the latest instance retrieved")
        got = rx.wait(lambda q: len(events(q)) >= 5, timeout=10)
        t.eq(sorted(rep["m2m:cin"]["con"] for _, rep in events(got)), ["0", "1", "2", "3", "4"],
             "each instance notified the AE")

        # --- discovery ------------------------------------------------------------------
        r = cse.get(APP + "?fu=1&lbl=hot&ty=3", origin=O)
        t.eq((r.status, r.json and r.json.get("m2m:uril")), (200, ["cse-in/waits/box"]),
             "discovery by label and type finds the container")
        r = cse.get(APP + "?fu=1&ty=4&lim=2", origin=O)
        t.eq((r.status, len((r.json or {}).get("m2m:uril", []))), (200, 2), "discovery with a limit")

        # --- a group's fan-out ----------------------------------------------------------
        r = cse.create(APP, 9, {"m2m:grp": {"rn": "g", "mid": [box_ri, shelf_ri], "mnm": 5}}, origin=O)
        t.rsc(r, 2001, 201, "a group of both containers")
        r = cse.create(APP + "/g/fopt", 4, {"m2m:cin": {"con": "both"}}, origin=O)
        t.ok(r.status == 200 and len((r.json or {}).get("m2m:agr", {}).get("m2m:rsp", [])) == 2,
             "an instance created in both members through fopt", r)
        t.eq(cse.get(APP + "/shelf/la", origin=O).json["m2m:cin"]["con"], "both", "... and stored in the shelf")

        # --- an ACP granting a right, then withdrawing it -----------------------------------
        acp = {"m2m:acp": {"rn": "acp", "pv": {"acr": [{"acor": [O], "acop": 63}]},
                           "pvs": {"acr": [{"acor": [O], "acop": 63}]}}}
        r = cse.create(APP, 1, acp, origin=O)
        t.rsc(r, 2001, 201, "an ACP")
        acp_ri = r.json["m2m:acp"]["ri"]
        t.rsc(cse.update(APP + "/shelf", {"m2m:cnt": {"acpi": [acp_ri]}}, origin=O), 2004, 200,
              "the shelf governed by it")
        t.rsc(cse.get(APP + "/shelf", origin=OTHER), 4103, 403, "the other AE may not read the shelf")
        grant = {"m2m:acp": {"pv": {"acr": [{"acor": [O], "acop": 63}, {"acor": [OTHER], "acop": 2}]}}}
        t.rsc(cse.update(APP + "/acp", grant, origin=O), 2004, 200, "the ACP grants it RETRIEVE")
        t.rsc(cse.get(APP + "/shelf", origin=OTHER), 2000, 200, "... which it may use at once")
        t.rsc(cse.update(APP + "/acp", {"m2m:acp": {"pv": {"acr": [{"acor": [O], "acop": 63}]}}}, origin=O),
              2004, 200, "the right withdrawn")
        t.rsc(cse.get(APP + "/shelf", origin=OTHER), 4103, 403, "... and refused again")

        # --- expiry ---------------------------------------------------------------------
        r = cse.create(APP, 3, {"m2m:cnt": {"rn": "brief", "et": stamp(2)}}, origin=O)
        t.rsc(r, 2001, 201, "a container expiring in about 2 s")
        t.ok(wait_for(lambda: cse.get(APP + "/brief", origin=O).status == 404, seconds=8),
             "the expiry timer removed it")

        # --- the loop never waited on the database ------------------------------------------
        lines = metrics(cse)
        t.ok(any(line.startswith("# TYPE ironbark_loop_waits_total counter") for line in lines),
             "the metrics count the loop's waits by site")
        sites = [line for line in lines if line.startswith("ironbark_loop_waits_total{")]
        t.eq(sites, [], "no wait outside a fiber after start-up (a site is named here when one appears)")
        t.eq(value(lines, "ironbark_store_waits_outside_fiber_total"), 0, "no round trip waited for in the loop")
        t.eq(value(lines, "ironbark_store_lock_driven_total"), 0, "no fiber finished from the main context")
        log = cse.read_log()
    t.ok("store wait outside a fiber" not in log, "the log names no site",
         [line for line in log.splitlines() if "outside a fiber" in line])
finally:
    rx.stop()
t.done()
