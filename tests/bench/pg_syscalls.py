#!/usr/bin/env python3
"""System calls per RETRIEVE with the PostgreSQL store (issue 19).

A private PostgreSQL server (tests/integration/pg_server.py), a CSE on it, an
AE with a container and one instance; after 200 warm-up RETRIEVEs of the
instance, `strace -c -f` is attached to the CSE while N more run over the
same keep-alive connection. Prints strace's table and the calls per
RETRIEVE. Counts, not times: they hold on a loaded machine (the loop may
batch a little differently, so epoll_wait and timerfd_settime move by a few
per cent).

  tests/bench/pg_syscalls.py --build build
  tests/bench/pg_syscalls.py --build build-asan --requests 300
"""
import argparse, http.client, os, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--requests", type=int, default=2000)
args = ap.parse_args()
os.chdir(os.path.join(ROOT, args.build))
import pg_server   # noqa: E402  (after the path is set)
from harness import Cse   # noqa: E402

HDR = {"X-M2M-Origin": "Csys", "X-M2M-RI": "r", "X-M2M-RVI": "3"}
srv = pg_server.server()
try:
    with Cse(db=srv.uri(srv.new_database())) as cse, tempfile.TemporaryDirectory() as tmp:
        box = cse.ae_with_container("Csys", ae="sys", cnt="box")
        cse.create(box, 4, {"m2m:cin": {"rn": "one", "con": "v"}}, origin="Csys")
        conn = http.client.HTTPConnection("127.0.0.1", cse.port, timeout=30)

        def get():
            conn.request("GET", box + "/one", headers=HDR)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError("RETRIEVE answered %d" % r.status)

        for _ in range(200):
            get()
        out = os.path.join(tmp, "strace")
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(cse.proc.pid)])
        time.sleep(1.0)   # attached before the first counted request
        for _ in range(args.requests):
            get()
        tracer.send_signal(signal.SIGINT)
        tracer.wait()
        text = open(out).read()
        print(text)
        total = next(l for l in text.splitlines() if l.rstrip().endswith("total")).split()
        print("system calls per RETRIEVE: %.2f" % (int(total[3]) / args.requests))
finally:
    srv.stop()
