"""Behaviour behind the performance work (docs/performance.md): the store's
body cache never serves stale attributes, la/ol take one lookup yet still fall
back to real children named la/ol elsewhere, identifiers sort by creation,
exclusive locking keeps a second CSE off a live store, and the JSON the store
writes survives a restart and a kill -9."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
import pg_server

t = Tap()
O = "Cperf"
with Cse() as cse:
    t.rsc(cse.register_ae("perf", origin=O), 2001, 201, "AE registration")
    t.rsc(cse.create("/cse-in/perf", 3, {"m2m:cnt": {"rn": "box"}}, origin=O), 2001, 201, "container")

    # la/ol on an empty container: not found, not a stale or wrong resource.
    t.rsc(cse.get("/cse-in/perf/box/la", origin=O), 4004, 404, "la of an empty container is 4004")
    t.rsc(cse.get("/cse-in/perf/box/ol", origin=O), 4004, 404, "ol of an empty container is 4004")

    # Identifiers (and default names) sort in creation order.
    ris, rns = [], []
    for i in range(3):
        r = cse.create("/cse-in/perf/box", 4, {"m2m:cin": {"con": "c%d" % i}}, origin=O)
        ris.append(r.json["m2m:cin"]["ri"])
        rns.append(r.json["m2m:cin"]["rn"])
        time.sleep(0.003)
    t.eq(ris, sorted(ris), "contentInstance ri values sort by creation")
    t.eq(rns, sorted(rns), "default resource names sort by creation")
    t.eq(len(set(ris)), 3, "identifiers are distinct")

    r = cse.get("/cse-in/perf/box/la", origin=O)
    t.eq((r.status, r.json["m2m:cin"]["con"]), (200, "c2"), "la is the newest")
    r = cse.get("/cse-in/perf/box/ol", origin=O)
    t.eq((r.status, r.json["m2m:cin"]["con"]), (200, "c0"), "ol is the oldest")

    # The container as cached after each instance matches what is stored.
    r = cse.get("/cse-in/perf/box", origin=O)
    t.eq((r.json["m2m:cnt"]["cni"], r.json["m2m:cnt"]["cbs"], r.json["m2m:cnt"]["st"]), (3, 6, 3),
         "container cni/cbs/st count every instance")

    # Updates through both statement paths (et unchanged / et changed).
    t.rsc(cse.create("/cse-in/perf", 3, {"m2m:cnt": {"rn": "upd"}}, origin=O), 2001, 201, "empty container")
    r = cse.update("/cse-in/perf/upd", {"m2m:cnt": {"lbl": ["a"]}}, origin=O)
    t.rsc(r, 2004, 200, "update without et")
    r = cse.update("/cse-in/perf/upd", {"m2m:cnt": {"et": "20300101T000000"}}, origin=O)
    t.rsc(r, 2004, 200, "update of et")
    r = cse.get("/cse-in/perf/upd", origin=O)
    t.eq((r.json["m2m:cnt"].get("lbl"), r.json["m2m:cnt"]["et"][:15]), (["a"], "20300101T000000"),
         "both updates are read back")

    # A real child named la/ol under a non-container is still addressable.
    t.rsc(cse.create("/cse-in/perf", 3, {"m2m:cnt": {"rn": "la"}}, origin=O), 2001, 201,
          "a container named la under an AE")
    r = cse.get("/cse-in/perf/la", origin=O)
    t.eq((r.status, r.json["m2m:cnt"]["rn"] if r.json else None), (200, "la"), "…is retrieved by its name")

    # Strings that need escaping go through the store and back unchanged.
    con = "quote\" backslash\\ tab\t nl\n ctl\x01 utf8 \u00e9\u20ac\U0001F600 slash/"
    r = cse.create("/cse-in/perf/box", 4, {"m2m:cin": {"con": con, "lbl": ["x"]}}, origin=O)
    t.rsc(r, 2001, 201, "instance with characters that need escaping")
    r = cse.get("/cse-in/perf/box/la", origin=O)
    t.eq(r.json["m2m:cin"]["con"] if r.json else None, con, "escaped content reads back identically")

    # Exclusive locking: a second CSE on the same SQLite store refuses to start.
    second = Cse(data_dir=cse.data_dir)
    try:
        second.start()
        started = True
    except RuntimeError:
        started = False
    finally:
        second.stop()
    if pg_server.enabled():
        # PostgreSQL is shared by design (several front-ends, one database).
        t.ok(started, "PostgreSQL: a second CSE on the same database starts")
    else:
        t.ok(not started, "a second CSE on a live store does not start")
    t.rsc(cse.get("/cse-in/perf/box/la", origin=O), 2000, 200, "the first CSE keeps serving")

    # kill -9 with sync=normal: acknowledged instances survive.
    t.eq(cse.kill9(), -9, "kill -9")
    cse.start()
    r = cse.get("/cse-in/perf/box/la", origin=O)
    t.eq(r.json["m2m:cin"]["con"] if r.json else None, con, "la survives kill -9")
    r = cse.get("/cse-in/perf/box", origin=O)
    t.eq(r.json["m2m:cnt"]["cni"] if r.json else None, 4, "cni survives kill -9")
t.done()
