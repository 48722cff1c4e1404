#!/usr/bin/env python3
"""System calls per RETRIEVE with the PostgreSQL store (issue 19).

A private PostgreSQL server (tests/integration/pg_server.py), a CSE on it, an
AE with a container and one instance; after 200 warm-up RETRIEVEs of the
instance, `strace -c -f` is attached to the CSE while N more run over the
same keep-alive connection. Prints strace's table and the calls per
RETRIEVE. Counts, not times: they hold on a loaded machine (the loop may
batch a little differently, so epoll_wait and timerfd_settime move by a few
per cent).

--clients N: N keep-alive connections, each with one RETRIEVE outstanding at
a time (the requests shared out), so the store's lock is contended: most
RETRIEVEs queue behind another's round trip and the lock is handed from
fiber to fiber (the feed reads at each hand-over, cse/core/feed.c). Also
prints recvfrom per RETRIEVE and how many of them found nothing (EAGAIN).

  tests/bench/pg_syscalls.py --build build
  tests/bench/pg_syscalls.py --build build --clients 8
  tests/bench/pg_syscalls.py --build build-asan --requests 300
"""
import argparse, http.client, os, signal, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--requests", type=int, default=2000)
ap.add_argument("--clients", type=int, default=1)
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
        conns = [http.client.HTTPConnection("127.0.0.1", cse.port, timeout=60) for _ in range(args.clients)]
        failed = []

        def get(conn):
            conn.request("GET", box + "/one", headers=HDR)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError("RETRIEVE answered %d" % r.status)

        def client(conn, n):
            try:
                for _ in range(n):
                    get(conn)
            except Exception as e:   # reported after the run
                failed.append(e)

        def run(n):
            """n RETRIEVEs shared out over the connections, all at once."""
            share = [n // len(conns) + (i < n % len(conns)) for i in range(len(conns))]
            threads = [threading.Thread(target=client, args=(c, k)) for c, k in zip(conns, share)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if failed:
                raise failed[0]

        run(200)
        out = os.path.join(tmp, "strace")
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(cse.proc.pid)])
        time.sleep(1.0)   # attached before the first counted request
        run(args.requests)
        tracer.send_signal(signal.SIGINT)
        tracer.wait()
        text = open(out).read()
        print(text)
        rows = {l.split()[-1]: l.split() for l in text.splitlines() if len(l.split()) >= 5}
        total = rows["total"]
        print("clients: %d" % args.clients)
        print("system calls per RETRIEVE: %.2f" % (int(total[3]) / args.requests))
        recv = rows.get("recvfrom")
        if recv:
            errors = int(recv[4]) if len(recv) == 6 else 0
            print("recvfrom per RETRIEVE: %.2f (EAGAIN %.2f)" % (int(recv[3]) / args.requests, errors / args.requests))
finally:
    srv.stop()
