#!/usr/bin/env python3
"""Scale-out benchmark (docs/scale-out.md, "Sizing"): contentInstance CREATE
and `la` RETRIEVE throughput on three set-ups in one run, as ratios to the
first:

  sqlite   one m2m-cse on its SQLite file (the embedded default)
  pg1      one m2m-cse on PostgreSQL
  pg2      two m2m-cse front-ends on the same PostgreSQL database, each
           loaded by its own wrk with half the connections (the load
           balancer's part); their req/s are added

Besides req/s, the CPU time each side spent per request, from
/proc/<pid>/stat: the front-ends' and the database's (the postmaster and
every backend it forked), and the database's share of the two. On a shared
machine absolute req/s drift; the ratios and CPU per request are the
figures to read (see docs/scale-out.md). PostgreSQL is the integration
tests' private server (tests/integration/pg_server.py: a temporary
directory, a Unix socket), switched to durable commits (fsync on) for the
run; front-ends keep sync = normal (synchronous_commit on).

  python3 tests/bench/scaleout_bench.py --duration 3 --rounds 1
"""
import os
import shutil
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import run as bench  # noqa: E402  (start_cse, prepare_cse, run_wrk, cpu_seconds, median)

import pg_server  # noqa: E402  (the integration tests' private PostgreSQL server)

WORKLOADS = [
    # name, path, wrk script; the ring container keeps 1000 instances, so
    # the store does not grow over the run.
    ("CREATE cin", "/cse-in/bench/ring", "create_cin.lua"),
    ("RETRIEVE la", "/cse-in/bench/data/la", "retrieve_la.lua"),
]


def start_postgres():
    """The integration tests' server, made durable for the measurement: the
    tests run it with fsync and synchronous_commit off (throw-away data),
    which would hide what a commit costs."""
    pg = pg_server.PgServer()
    for setting in ("fsync = on", "full_page_writes = on", "synchronous_commit = on"):
        pg.psql("ALTER SYSTEM SET " + setting)
    if not pg.restart():
        raise RuntimeError("PostgreSQL did not restart with fsync on")
    return pg


def postgres_pids(pg):
    """The postmaster and its children (one backend per front-end
    connection, plus the background workers)."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        root = int(f.readline())
    pids = {root}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == root:
                        pids.add(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def cpu_of(pids):
    """pid -> CPU seconds so far (processes gone are left out)."""
    out = {}
    for pid in pids:
        c = bench.cpu_seconds(pid)
        if c is not None:
            out[pid] = c
    return out


def cpu_spent(before, after):
    return sum(c - before.get(pid, 0.0) for pid, c in after.items())


def measure(args, front_ends, pg, path, script):
    """Every front-end loaded at once by its own wrk (connections split);
    req/s added; CPU of the front-ends and of the database over the run."""
    conns = max(1, args.connections // len(front_ends))
    db_pids = postgres_pids(pg) if pg else set()
    fe0, db0 = cpu_of(s.pid for s in front_ends), cpu_of(db_pids)
    results = [None] * len(front_ends)

    def load(i):
        results[i] = bench.run_wrk(args, front_ends[i].url(path), script, connections=conns)
    threads = [threading.Thread(target=load, args=(i,)) for i in range(len(front_ends))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if any(r is None for r in results):
        raise RuntimeError("a wrk run failed")
    if pg:
        db_pids |= postgres_pids(pg)   # backends forked during the run
    fe = cpu_spent(fe0, cpu_of(s.pid for s in front_ends))
    db = cpu_spent(db0, cpu_of(db_pids))
    requests = sum(r["requests"] for r in results)
    return {"rps": sum(r["rps"] for r in results), "requests": requests,
            "errors": sum(r["errors"] for r in results),
            "p99_ms": max(r["p99_ms"] or 0 for r in results),
            "cse_cpu_us_per_req": fe * 1e6 / requests,
            # SQLite runs inside the front-end: its CPU is in the front-end's.
            "db_cpu_us_per_req": db * 1e6 / requests if pg else None,
            "db_cpu_share": db / (fe + db) if pg and fe + db > 0 else None}


def setups(args, work, pg, rnd):
    """name -> (list of front-end Server) factories, in the order measured;
    every round starts from empty stores."""
    def sqlite():
        return [bench.start_cse(args, os.path.join(work, "sqlite-%d" % rnd))]

    def pg_front_ends(n):
        def start():
            # A fresh schema per set-up: the same starting tree for each.
            uri = pg.uri(pg.new_database())
            return [bench.start_cse(args, os.path.join(work, "pg%d-%d-%d" % (n, rnd, i)), extra=["--db", uri])
                    for i in range(n)]
        return start
    return [("sqlite", sqlite), ("pg1", pg_front_ends(1)), ("pg2", pg_front_ends(2))]


def main():
    ap = bench.load_arguments(__doc__)
    ap.set_defaults(duration=3, rounds=1, threads=1, connections=16)
    args = ap.parse_args()
    args.cse = os.path.join(args.build, "m2m-cse")
    if not os.access(args.cse, os.X_OK):
        sys.exit("%s is missing: build first" % args.cse)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing (apt-get install wrk)")
    summary = {"machine": bench.machine_info(), "settings": {
        "duration_s": args.duration, "rounds": args.rounds, "connections": args.connections}}
    work = tempfile.mkdtemp(prefix="ironbark-scaleout-", dir=os.environ.get("BENCH_DIR"))
    pg = start_postgres()
    rows = {}
    try:
        for rnd in range(args.rounds):
            for name, start in setups(args, work, pg, rnd):
                front_ends = start()
                try:
                    bench.prepare_cse(front_ends[0])
                    for wl, path, script in WORKLOADS:
                        rows.setdefault((name, wl), []).append(
                            measure(args, front_ends, None if name == "sqlite" else pg, path, script))
                finally:
                    for s in front_ends:
                        s.stop()
            print("round %d done" % (rnd + 1), flush=True)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print("%-8s %-12s %9s %9s %8s %11s %11s %9s %7s" % ("set-up", "workload", "req/s", "vs sqlite", "p99 ms",
          "cse us/req", "db us/req", "db share", "errors"))
    table = {}
    for (name, wl), runs in rows.items():
        med = {k: bench.median([r[k] for r in runs]) for k in runs[0]}
        pct = lambda v: "-" if v is None else "%.0f%%" % (100 * v)
        num = lambda v: "-" if v is None else "%.1f" % v
        base = bench.median([r["rps"] for r in rows[("sqlite", wl)]])
        med["ratio_to_sqlite"] = med["rps"] / base if base else None
        table.setdefault(name, {})[wl] = med
        print("%-8s %-12s %9.0f %9s %8.2f %11s %11s %9s %7d" % (
            name, wl, med["rps"], pct(med["ratio_to_sqlite"]), med["p99_ms"], num(med["cse_cpu_us_per_req"]),
            num(med["db_cpu_us_per_req"]), pct(med["db_cpu_share"]), med["errors"]))
    summary["results"] = table
    bench.write_summary(args.out, summary)
    if any(r["errors"] for runs in rows.values() for r in runs):
        sys.exit("some requests failed (errors column)")


if __name__ == "__main__":
    main()
