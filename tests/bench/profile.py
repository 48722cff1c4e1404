#!/usr/bin/env python3
"""Instructions per request of one workload, by callgrind (deterministic,
unlike wall clock on a shared machine).

    tests/bench/profile.py retrieve|get|create|hello [--n 500] [--pipeline K] [--sync normal] [--keep DIR] [--coap]

Starts m2m-cse (HTTP only) under callgrind with collection off, prepares the
bench AE/containers, switches collection on for N keep-alive requests, and
prints instructions per request ('retrieve' is `la`, 'get' a plain RETRIEVE
of the container, 'hello' the same-loop hello-world of run.py); --keep leaves callgrind.out for
callgrind_annotate. --pipeline K sends K requests in one write (one loop
round, so one group commit for K creates). --coap sends the same requests
over CoAP (CON from build/tests/coap_load, --pipeline K outstanding) instead of HTTP."""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402

HDR = {"X-M2M-Origin": "Cbench", "X-M2M-RI": "r", "X-M2M-RVI": "3", "Accept": "application/json"}
CIN = b'{"m2m:cin":{"cnf":"text/plain:0","con":"21.5"}}'


PATHS = {"retrieve": "/cse-in/bench/data/la", "get": "/cse-in/bench/data", "create": "/cse-in/bench/data",
         "hello": "/"}


def raw(kind, port_path):
    head = "%s %s HTTP/1.1\r\nHost: x\r\n" % ("POST" if kind == "create" else "GET", PATHS[kind])
    head += "".join("%s: %s\r\n" % kv for kv in HDR.items())
    if kind == "create":
        head += "Content-Type: application/json;ty=4\r\nContent-Length: %d\r\n" % len(CIN)
    return (head + "\r\n").encode() + (CIN if kind == "create" else b"")


def burst(sock, kind, k):
    """k pipelined requests in one write, then their k responses."""
    sock.sendall(raw(kind, None) * k)
    buf = b""
    for _ in range(k):
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        while len(buf) < n:
            buf += sock.recv(65536)
        buf = buf[n:]
        if status >= 300:
            sys.exit("request failed: %d" % status)


def one(conn, kind):
    if kind != "create":
        conn.request("GET", PATHS[kind], headers=HDR)
    else:
        h = dict(HDR, **{"Content-Type": "application/json;ty=4"})
        conn.request("POST", "/cse-in/bench/data", body=CIN, headers=h)
    r = conn.getresponse()
    r.read()
    if r.status >= 300:
        sys.exit("request failed: %d" % r.status)


def coap_requests(args, srv, n):
    """n CoAP requests, --pipeline of them outstanding; the number answered."""
    r = run_coap_load(args.build, srv.coap_port, args.kind, ["--requests", str(n), "--sessions", "1",
                                                            "--window", str(args.pipeline), "--seconds", "600",
                                                            "--timeout-ms", "60000"])
    if r["answered"] != n or r["timeouts"]:
        sys.exit("CoAP requests failed: %s" % r)
    return r["answered"]


def run_coap_load(build, port, kind, extra):
    """One tests/bench/coap_load run against the bench container; its JSON line."""
    target = ["--path", "cse-in/bench/data/la"] if kind == "retrieve" else \
        ["--path", "cse-in/bench/data", "--op", "create", "--ty", "4", "--payload", CIN.decode()]
    out = subprocess.run([os.path.join(build, "tests", "coap_load"), "--port", str(port)] + target + extra,
                         capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["retrieve", "get", "create", "hello"])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--sync", default="normal")
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--build", default=os.path.join(run.ROOT, "build"))
    ap.add_argument("--keep", default=None)
    ap.add_argument("--coap", action="store_true", help="CoAP requests (tests/bench/coap_load) instead of HTTP")
    args = ap.parse_args()
    args.connections = 1   # run.start_cse() sizes the per-client connection limit from it
    args.cse = os.path.join(args.build, "m2m-cse")
    if args.coap and args.kind not in ("retrieve", "create"):
        sys.exit("--coap measures retrieve or create")
    work = tempfile.mkdtemp(prefix="ironbark-prof-")
    out = os.path.join(args.keep or work, "callgrind.out")
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out]
    if args.kind == "hello":
        port = run.free_port()
        srv = run.Server(wrapper + [os.path.join(args.build, "tests", "bench_hello"), str(port)], port,
                         "bench_hello")
    else:
        srv = run.start_cse(args, os.path.join(work, "data"), sync=args.sync, wrapper=wrapper, coap=args.coap)
    try:
        if args.kind != "hello":
            run.prepare_cse(srv)
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        for _ in range(20):
            one(conn, args.kind)  # warm caches
        if args.coap:
            coap_requests(args, srv, 20)   # warm the CoAP side too
        subprocess.run(["callgrind_control", "-i", "on", str(srv.pid)], check=True, capture_output=True)
        if args.coap:
            args.n = coap_requests(args, srv, args.n)
        elif args.pipeline > 1:
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            for _ in range(args.n // args.pipeline):
                burst(sock, args.kind, args.pipeline)
            args.n = args.n // args.pipeline * args.pipeline
        else:
            for _ in range(args.n):
                one(conn, args.kind)
        subprocess.run(["callgrind_control", "-i", "off", str(srv.pid)], check=True, capture_output=True)
        conn.close()
    finally:
        srv.stop()
    total = 0
    with open(out) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    print("%s: %d instructions per request (%d requests)" % (args.kind, total // args.n, args.n))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
