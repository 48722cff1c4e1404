#!/usr/bin/env python3
"""Discovery and child listings as the store grows (issue 17).

For each size N (default 1 000 / 100 000 / 1 000 000) a fresh CSE gets an AE
`bench` with a container `data`, one instance written over HTTP, and then
N - 1 more instances written straight into its SQLite file by a bulk loader
(one transaction, the CSE stopped): clones of the first instance with their
own ri, rn, path and seq, and the container's cni/cbs/st to match. The CSE is
then started on that file and each query is sent sequentially on one
keep-alive connection. Reported per size: median and p90 latency, the
server's CPU time per request, and the ratio of the median to the same
query's median at the smallest size. A `la` RETRIEVE is measured beside them
as the yardstick of the machine's speed in that run.

  tests/bench/discovery_bench.py --build build
  tests/bench/discovery_bench.py --build build --sizes 1000,100000 --requests 100
  tests/bench/discovery_bench.py --build /tmp/old/build      # a build from before
  tests/bench/discovery_bench.py --build build --mixed 10    # + 16 connections mixing
                                                             # unindexed discoveries and la
  tests/bench/discovery_bench.py --build build --sizes 1000000 --callgrind --data /tmp/disc
                      # instructions per request of CALLGRIND_QUERIES (the server under
                      # callgrind, collecting only during each query); --data keeps the tree

Queries marked * read the whole container when few match (no index): above
10 000 instances they get 3 requests only. Nothing here asserts: it prints
a table and writes JSON (--out).
"""
import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import Server, free_port, HTTP_ONLY, request  # noqa: E402


def cpu_seconds(pid):
    """Time the process has spent on a CPU (/proc/<pid>/schedstat, in ns:
    finer than the clock ticks of /proc/<pid>/stat for short runs)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9

QUERIES = [
    ("la", "/cse-in/bench/data/la"),
    ("fu=1&ty=4&lim=10 (container)", "/cse-in/bench/data?fu=1&ty=4&lim=10"),
    ("fu=1&ty=4&lim=10 (CSEBase)", "/cse-in?fu=1&ty=4&lim=10"),
    ("fu=1&lim=10 (AE)", "/cse-in/bench?fu=1&lim=10"),
    ("fu=1&ty=4&lim=10&ofst=500", "/cse-in/bench/data?fu=1&ty=4&lim=10&ofst=500"),
    ("rcn=4&lim=10", "/cse-in/bench/data?rcn=4&lim=10"),
    ("rcn=8&lim=10", "/cse-in/bench/data?rcn=8&lim=10"),
    ("rcn=6&lim=10 (CSEBase, lvl 1)", "/cse-in?rcn=6&lim=10"),
    # Selective filters: RARE instances match (bulk_load()), spread over the container.
    ("lbl=rare&lim=10", "/cse-in/bench/data?fu=1&lbl=rare&lim=10"),
    ("lbq=site&lim=10", "/cse-in/bench/data?fu=1&lbq=site&lim=10"),
    # cnf and cs: the resources_content index (cse/store/store.c).
    ("cty=application/json&lim=10", "/cse-in/bench/data?fu=1&cty=application/json&lim=10"),
    ("sza=4000&lim=10", "/cse-in/bench/data?fu=1&sza=4000&lim=10"),
    ("ty=4&szb=10&cty=text/plain&lim=10", "/cse-in/bench/data?fu=1&ty=4&szb=10&cty=text/plain&lim=10"),
    # No index answers an attribute condition: it reads the subtree up to
    # the lim-th match (here none: all of it).
    ("con=none&lim=10 *", "/cse-in/bench/data?fu=1&con=none&lim=10"),
    ("cra=(the last 20)&lim=10", "/cse-in/bench/data?fu=1&cra=20980101T000000&lim=10"),
    ("lbl=rare&ty=4&lim=2&ofst=3", "/cse-in/bench/data?fu=1&lbl=rare&ty=4&lim=2&ofst=3"),
    ("rcn=4&lbl=rare&lim=10", "/cse-in/bench/data?rcn=4&lbl=rare&lim=10"),
]
# Instances that carry the label "rare" (and "site:x"), cnf application/json
# and cs 5000; the last LATE have a later ct.
RARE = 5
LATE = 20
HEADERS = {"X-M2M-Origin": "Cbench", "X-M2M-RI": "disc", "X-M2M-RVI": "3"}


def seqkey(seq):
    """The store's scan-key component (cse/store/store.c seqkey())."""
    n = 1
    while n < 8 and seq >> (8 * n):
        n += 1
    return bytes([n]) + seq.to_bytes(n, "big")


def bulk_load(db_file, total):
    """Clones the container's one instance until it holds `total`: RARE of
    them, spread evenly, with labels, another cnf and a large cs, the last
    LATE with a later ct. Fills `lb` and `labels` when the schema has them
    (cse/store/store.c); ct stays in seq order, as the store's
    store_meta 'ct_order' = 1 says."""
    db = sqlite3.connect(db_file)
    # A bulk load with the CSE stopped: a crash here only loses the run.
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    cols = [r[1] for r in db.execute("PRAGMA table_info(resources)")]
    has_sk = "sk" in cols
    has_filters = "lb" in cols
    has_content = "cs" in cols
    cnt = db.execute("SELECT seq, ri, body%s FROM resources WHERE path = 'cse-in/bench/data'"
                     % (", sk" if has_sk else "")).fetchone()
    cin = db.execute("SELECT ri, path, pi, ty, et, body FROM resources WHERE pi = ? AND ty = 4",
                     (cnt[1],)).fetchone()
    base = json.loads(cin[5])
    first = db.execute("SELECT max(seq) FROM resources").fetchone()[0] + 1

    rare = {total * (k + 1) // (RARE + 1) for k in range(RARE)}
    labels = []

    def rows():
        for i in range(1, total):
            seq = first + i
            body = dict(base, ri="cin%08d" % seq, rn="cin_%08d" % seq)
            if i in rare:
                body.update(lbl=["rare", "site:x"], cnf="application/json:0", cs=5000)
            if i >= total - LATE:
                body["ct"] = "20990101T000000"
            row = (seq, body["ri"], "cse-in/bench/data/" + body["rn"], cin[2], 4, cin[4],
                   json.dumps(body, separators=(",", ":")))
            sk = cnt[3] + seqkey(seq)
            if has_filters:
                lb = json.dumps(body["lbl"], separators=(",", ":")) if "lbl" in body else None
                row += (sk, lb)
                if has_content:
                    row += (body.get("cs"), body.get("cnf"))
                labels.extend((lbl, sk) for lbl in body.get("lbl", []))
            elif has_sk:
                row += (sk,)
            yield row

    db.execute("BEGIN")
    extra = ", sk, lb" if has_filters else ", sk" if has_sk else ""
    if has_content:
        extra += ", cs, cnf"
    db.executemany("INSERT INTO resources(seq, ri, path, pi, ty, et, body%s) VALUES(?,?,?,?,?,?,?%s)"
                   % (extra, ",?" * extra.count(",")), rows())
    if has_filters:
        db.executemany("INSERT OR IGNORE INTO labels(lbl, sk) VALUES(?,?)", labels)
    cbody = json.loads(cnt[2])
    cbody["cni"] = total
    cbody["cbs"] = total * base.get("cs", 0)
    cbody["st"] = cbody.get("st", 0) + total - 1
    db.execute("UPDATE resources SET body = ? WHERE seq = ?", (json.dumps(cbody, separators=(",", ":")), cnt[0]))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def start(cse, data_dir, wrapper=None):
    port = free_port()
    argv = [cse, "--http-port", str(port), "--data-dir", data_dir, "--log-level", "warn"] + HTTP_ONLY
    return Server(argv, port, "m2m-cse", wrapper=wrapper)


# Instructions per request (--callgrind): ofst paging (each skipped match
# used to be decoded and its access checked) and scans no index narrows,
# whose cost per row read is the figure (at N rows: instructions / N).
CALLGRIND_QUERIES = [
    ("la", "/cse-in/bench/data/la"),
    ("ty=4&lim=10", "/cse-in/bench/data?fu=1&ty=4&lim=10"),
    ("ty=4&lim=10&ofst=1000", "/cse-in/bench/data?fu=1&ty=4&lim=10&ofst=1000"),
    ("ty=4&lim=10&ofst=100000", "/cse-in/bench/data?fu=1&ty=4&lim=10&ofst=100000"),
    ("lim=10&ofst=100000 (AE)", "/cse-in/bench?fu=1&lim=10&ofst=100000"),
    ("con=none&lim=10 (reads all)", "/cse-in/bench/data?fu=1&con=none&lim=10"),
    ("rcn=4&lim=10&ofst=1000", "/cse-in/bench/data?rcn=4&lim=10&ofst=1000"),
]


def callgrind_run(cse, data, requests, size, only=None):
    """Each CALLGRIND_QUERIES once unmeasured, then `requests` times with
    callgrind collecting: instructions per request, by query (those that
    read all rows only up to 100 000: per row is the figure)."""
    out = os.path.join(data, "callgrind.out")
    for f in os.listdir(data):
        if f.startswith("callgrind.out"):   # a previous run's final dump
            os.remove(os.path.join(data, f))
    srv = start(cse, data, wrapper=["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                    "--callgrind-out-file=" + out + ".%p"])
    result = {}
    try:
        for name, path in CALLGRIND_QUERIES:
            if ("reads all" in name and size > 100000) or (only and name not in only):
                continue
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=3600)
            for measured in (False, True):
                if measured:
                    subprocess.run(["callgrind_control", "-z", str(srv.pid)], check=True, capture_output=True)
                    subprocess.run(["callgrind_control", "-i", "on", str(srv.pid)], check=True, capture_output=True)
                for _ in range(requests if measured else 1):
                    conn.request("GET", path, headers=HEADERS)
                    r = conn.getresponse()
                    body = r.read()
                    if r.status != 200:
                        raise RuntimeError("%s answered %d: %s" % (path, r.status, body[:200]))
            subprocess.run(["callgrind_control", "-i", "off", str(srv.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-d", str(srv.pid)], check=True, capture_output=True)
            conn.close()
            total = 0
            for f in os.listdir(data):
                if not f.startswith("callgrind.out"):
                    continue
                with open(os.path.join(data, f)) as dump:
                    for line in dump:
                        if line.startswith("summary:") or line.startswith("totals:"):
                            total += int(line.split()[1])
                os.remove(os.path.join(data, f))
            result[name] = total // requests
            print("%-32s %14d instructions per request" % (name, result[name]), flush=True)
    finally:
        srv.stop(timeout=600)
    return result


def measure(srv, path, n):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    lat = []
    for i in range(n + 3):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=HEADERS)
        r = conn.getresponse()
        body = r.read()
        dt = time.perf_counter() - t0
        if r.status != 200:
            raise RuntimeError("%s answered %d: %s" % (path, r.status, body[:200]))
        if i == 2:
            cpu0 = cpu_seconds(srv.pid)
        if i >= 3:
            lat.append(dt * 1000)
    cpu1 = cpu_seconds(srv.pid)
    conn.close()
    lat.sort()
    return {"median_ms": statistics.median(lat), "p90_ms": lat[int(len(lat) * 0.9) - 1],
            "cpu_us": (cpu1 - cpu0) * 1e6 / n, "items": len(json.loads(body).get("m2m:uril", [])) or None}


def concurrent(srv, path, seconds, connections):
    """wrk at `connections` connections: req/s and timeouts (2 s)."""
    if not shutil.which("wrk"):
        return None
    cmd = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--timeout", "2s", "--latency",
           "-H", "X-M2M-Origin: Cbench", "-H", "X-M2M-RI: disc", "-H", "X-M2M-RVI: 3",
           "http://127.0.0.1:%d%s" % (srv.port, path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    import re
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    tmo = re.search(r"timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "timeouts": int(tmo.group(1)) if tmo else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def mixed(srv, seconds, connections, slow_path, quick_path="/cse-in/bench/data/la", timeout=2.0):
    """`connections` keep-alive clients for `seconds`: half send `slow_path`
    (a discovery no index answers), half `quick_path`; each request may take
    `timeout` s. Per kind: answered, timeouts, worst latency."""
    import threading
    stop = time.time() + seconds
    res = {"slow": [], "quick": [], "timeouts": {"slow": 0, "quick": 0}}
    lock = threading.Lock()

    def client(kind, path):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
        while time.time() < stop:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=HEADERS)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
            with lock:
                if ok:
                    res[kind].append(time.perf_counter() - t0)
                else:
                    res["timeouts"][kind] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=("slow", slow_path) if i % 2 else ("quick", quick_path))
               for i in range(connections)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {k: {"answered": len(res[k]), "timeouts": res["timeouts"][k],
                "max_ms": max(res[k]) * 1000 if res[k] else None} for k in ("slow", "quick")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"))
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--requests", type=int, default=200, help="sequential requests per query and size")
    ap.add_argument("--wrk", type=int, default=3, help="seconds of 16-connection load per size (0: none)")
    ap.add_argument("--mixed", type=int, default=0,
                    help="seconds of 16 connections mixing unindexed discoveries with `la` (0: none)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--callgrind", action="store_true",
                    help="instructions per request of CALLGRIND_QUERIES instead of latencies")
    ap.add_argument("--data", default=None,
                    help="keep the loaded tree of each size in DATA/<size> and reuse it when there")
    ap.add_argument("--only", type=lambda v: v.split(","), default=None,
                    help="with --callgrind: only these CALLGRIND_QUERIES (names, comma-separated)")
    args = ap.parse_args()
    cse = os.path.join(args.build, "m2m-cse")
    sizes = [int(x) for x in args.sizes.split(",")]
    results = {}
    work = tempfile.mkdtemp(prefix="ironbark-disc-")
    try:
        for n in sizes:
            data = os.path.join(args.data or work, str(n))
            if args.callgrind and os.path.exists(os.path.join(data, "loaded")):
                results[n] = callgrind_run(cse, data, min(args.requests, 3), n, args.only)
                continue
            shutil.rmtree(data, ignore_errors=True)
            srv = start(cse, data)
            try:
                request(srv, "POST", "/cse-in", 2, {"m2m:ae": {"rn": "bench", "api": "Nbench", "rr": False, "srv": ["3"]}})
                request(srv, "POST", "/cse-in/bench", 3, {"m2m:cnt": {"rn": "data"}})
                request(srv, "POST", "/cse-in/bench/data", 4, {"m2m:cin": {"cnf": "text/plain:0", "con": "21.5"}})
            finally:
                srv.stop()
            t0 = time.time()
            bulk_load(os.path.join(data, "cse.db"), n)
            load_s = time.time() - t0
            open(os.path.join(data, "loaded"), "w").close()
            print("size %d loaded in %.1f s" % (n, load_s), file=sys.stderr)
            if args.callgrind:
                results[n] = callgrind_run(cse, data, min(args.requests, 3), n, args.only)
                continue
            srv = start(cse, data)
            try:
                row = {"load_s": load_s, "queries": {}}
                for name, path in QUERIES:
                    slow = name.endswith("*") and n > 10000
                    row["queries"][name] = measure(srv, path, min(args.requests, 3) if slow else args.requests)
                if args.wrk:
                    row["wrk16"] = concurrent(srv, QUERIES[1][1], args.wrk, 16)
                if args.mixed:
                    row["mixed16"] = mixed(srv, args.mixed, 16, "/cse-in/bench/data?fu=1&con=none&lim=10")
                row["rss_kb"] = int(open("/proc/%d/status" % srv.pid).read().split("VmRSS:")[1].split()[0])
            finally:
                srv.stop()
            results[n] = row
            if not args.data:
                shutil.rmtree(data, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.callgrind:
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)
        return
    first = sizes[0]
    print("\nbuild: %s   load average: %s" % (args.build, " ".join(open("/proc/loadavg").read().split()[:3])))
    print("%-32s" % "query (median ms / CPU µs / ×size %d)" % first + "".join("%26d" % n for n in sizes))
    for name, _ in QUERIES:
        cells = []
        for n in sizes:
            q = results[n]["queries"][name]
            ratio = q["median_ms"] / results[first]["queries"][name]["median_ms"]
            cells.append("%8.3f %8.0f %7.2f×" % (q["median_ms"], q["cpu_us"], ratio))
        print("%-32s" % name + "".join("%26s" % c for c in cells))
    if args.wrk:
        print("%-32s" % "16 conn. ty=4&lim=10 req/s (timeouts)" +
              "".join("%26s" % ("%.0f (%d)" % (results[n]["wrk16"]["rps"], results[n]["wrk16"]["timeouts"])
                                if results[n].get("wrk16") else "-") for n in sizes))
    if args.mixed:
        for kind in ("slow", "quick"):
            print("%-32s" % ("16 conn. mixed: %s" % ("con=none" if kind == "slow" else "la")) +
                  "".join("%26s" % ("%d ok, %d t/o, max %.0f ms" % (
                      results[n]["mixed16"][kind]["answered"], results[n]["mixed16"][kind]["timeouts"],
                      results[n]["mixed16"][kind]["max_ms"] or 0)) for n in sizes))
    print("%-32s" % "RSS after (kB)" + "".join("%26d" % results[n]["rss_kb"] for n in sizes))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
