#!/usr/bin/env python3
"""System calls per request on the CSE, CoAP RETRIEVE `la` against HTTP's
(counts, unlike wall clock, do not depend on what else the machine runs;
batch sizes do a little, so both transports are counted in the same run).

    tests/bench/syscalls.py [--build build] [--seconds 3] [--tool perf|strace]

Starts m2m-cse with HTTP and plain CoAP, prepares the bench container, then
counts the server's system calls while coap_load (4 sessions x 8
outstanding) and then wrk (2 threads, 32 connections) run: `perf stat -e
raw_syscalls:sys_enter` (default) or `strace -c -f` (slower, so the server
falls behind and reads larger batches; it names each call)."""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402


def counted(tool, pid, load):
    """Runs load() while tool counts pid's system calls: (calls, per-call table, load's result)."""
    out = tempfile.NamedTemporaryFile(prefix="ironbark-sys-", delete=False).name
    if tool == "perf":
        cmd = ["perf", "stat", "-e", "raw_syscalls:sys_enter", "-x", ",", "-o", out, "-p", str(pid)]
    else:
        cmd = ["strace", "-c", "-f", "-o", out, "-p", str(pid)]
    counter = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)   # attached
    result = load()
    counter.send_signal(signal.SIGINT)
    counter.wait(timeout=60)
    text = open(out).read()
    os.unlink(out)
    if tool == "perf":
        for line in text.splitlines():
            if "raw_syscalls:sys_enter" in line:
                return int(line.split(",")[0]), {}, result
        raise RuntimeError("perf counted nothing:\n" + text)
    table = {}
    for line in text.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
        if m and m.group(2) != "total":
            table[m.group(2)] = int(m.group(1))
    return sum(table.values()), table, result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(run.ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--tool", choices=["perf", "strace"], default="perf")
    args = ap.parse_args()
    args.cse = os.path.join(args.build, "m2m-cse")
    args.connections, args.threads, args.duration = 32, 2, args.seconds
    work = tempfile.mkdtemp(prefix="ironbark-sys-")
    srv = run.start_cse(args, os.path.join(work, "data"), coap=True)
    try:
        run.prepare_cse(srv)
        loader = os.path.join(args.build, "tests", "coap_load")

        def coap():
            out = subprocess.run([loader, "--port", str(srv.coap_port), "--path", "cse-in/bench/data/la",
                                  "--sessions", "4", "--window", "8", "--seconds", str(args.seconds)],
                                 capture_output=True, text=True, timeout=args.seconds + 60)
            return json.loads(out.stdout.strip().splitlines()[-1])["answered"]

        def http():
            return run.run_wrk(args, srv.url("/cse-in/bench/data/la"), "retrieve_la.lua")["requests"]

        for name, load in (("CoAP", coap), ("HTTP", http)):
            calls, table, n = counted(args.tool, srv.pid, load)
            per = ", ".join("%s %.2f" % (k, v / n) for k, v in sorted(table.items(), key=lambda kv: -kv[1])[:6])
            print("%s RETRIEVE la: %d requests, %.2f system calls per request%s" %
                  (name, n, calls / n, " (" + per + ")" if per else ""))
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
