"""Persistence across restarts, kill -9 during a concurrent write load loses
no acknowledged write, unique names under concurrent creates."""
import json, os, shutil, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, kill9_under_load, raw_create as harness_raw_create

t = Tap()
O = "Cdur"

def raw_create(port, path, ty, body, rqi):
    return harness_raw_create(port, path, ty, body, rqi, O)


data_dir = tempfile.mkdtemp(prefix="ironbark-dur-")
try:
    cse = Cse(data_dir=data_dir).start()
    cse.register_ae("app", origin=O)
    r = cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "keep", "lbl": ["l1"], "mni": 5}}, origin=O)
    keep_ri = r.json["m2m:cnt"]["ri"]
    cse.create("/cse-in/app/keep", 4, {"m2m:cin": {"con": "persisted"}}, origin=O)
    t.eq(cse.stop(), 0, "clean stop exits 0")
    cse.port = None or cse.port
    cse.start()
    r = cse.get("/cse-in/app/keep", origin=O)
    t.ok(r.rsc == 2000 and r.json["m2m:cnt"]["ri"] == keep_ri and r.json["m2m:cnt"]["lbl"] == ["l1"]
         and r.json["m2m:cnt"]["cni"] == 1, "container survives a restart", r)
    r = cse.get("/cse-in/app/keep/la", origin=O)
    t.ok(r.rsc == 2000 and r.json["m2m:cin"]["con"] == "persisted", "instance survives a restart", r)
    r = cse.register_ae("app", origin=O)
    t.rsc(r, 4117, 403, "registration survives a restart (4117 on re-registration)")
    r = cse.get("/cse-in", origin=O)
    t.rsc(r, 2000, 200, "CSEBase present after restart")

    # kill -9 under load
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "load"}}, origin=O)
    def writer(n, stop, ack):
        i = 0
        while not stop.is_set() and i < 400:
            res = raw_create(cse.port, "/cse-in/app/load", 4, {"m2m:cin": {"con": "w%d-%d" % (n, i)}}, "w%d-%d" % (n, i))
            i += 1
            if res is None:
                return
            if res[0] == 2001:
                ack(res[1]["m2m:cin"]["ri"])
    acked = kill9_under_load(cse, writer, enough=150)
    t.ok(len(acked) > 20, "writers got acknowledgements before the kill (%d)" % len(acked))
    missing = [ri for ri in acked if cse.get("/" + ri, origin=O).rsc != 2000] if len(acked) <= 60 else None
    if missing is None:
        r = cse.get("/cse-in/app/load?fu=1&ty=4&drt=2&lim=100000", origin=O)
        found = set(r.json["m2m:uril"]) if r.rsc == 2000 else set()
        missing = [ri for ri in acked if ri not in found]
    t.ok(not missing, "every acknowledged write survives kill -9 (%d acked)" % len(acked), missing[:5])
    r = cse.get("/cse-in/app/load", origin=O)
    found = cse.get("/cse-in/app/load?fu=1&ty=4&lim=100000", origin=O).json["m2m:uril"]
    t.eq(r.json["m2m:cnt"]["cni"], len(found), "cni matches the stored instances after the crash")

    # concurrent creates of one name: exactly one wins
    results, threads, lock = [], [], threading.Lock()
    def racer(k):
        res = raw_create(cse.port, "/cse-in/app", 3, {"m2m:cnt": {"rn": "same"}}, "race%d" % k)
        with lock:
            results.append(res[0] if res else None)
    threads = [threading.Thread(target=racer, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=20)
    t.eq(sorted(results), [2001] + [4105] * 7, "same rn concurrently: one 2001, the rest 4105")
    # unique ri under concurrent creates
    ris, threads = [], []
    def many(k):
        for i in range(25):
            res = raw_create(cse.port, "/cse-in/app", 3, {"m2m:cnt": {}}, "u%d-%d" % (k, i))
            if res and res[0] == 2001:
                with lock:
                    ris.append(res[1]["m2m:cnt"]["ri"])
    threads = [threading.Thread(target=many, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    t.ok(len(ris) == 100 and len(set(ris)) == 100, "100 concurrent creates: 100 distinct ri", len(set(ris)))
    t.eq(cse.stop(), 0, "stop after the load exits 0")
finally:
    shutil.rmtree(data_dir, ignore_errors=True)
t.done()
