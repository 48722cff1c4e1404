#!/usr/bin/env python3
"""CoAP CREATE / RETRIEVE throughput of m2m-cse, with HTTP RETRIEVE (wrk)
measured in the same run for a ratio. Bounded: a fixed number of requests per
phase and a time limit. Usage:

    python3 tests/bench/coap_bench.py [--requests 20000] [--window 32] [--non]

The load generator is one Python process with `window` requests outstanding
on one UDP socket (CON by default, NON with --non); it matches responses by
token and retransmits nothing (loopback does not lose datagrams; a lost one
would show up as a timeout count).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import Cse  # noqa: E402
from coap_peer import CON, NON, GET, POST, RawClient, encode, m2m_options, path_options, decode, uint_bytes  # noqa: E402


def run_coap(client, build_request, total, window, time_limit):
    """Sends `total` requests keeping `window` outstanding; returns (ok, errors, timeouts, secs)."""
    sock = client.sock
    sock.settimeout(1.0)
    pending = {}
    sent = ok = errors = timeouts = 0
    start = time.perf_counter()
    mid = 0
    while (sent < total or pending) and time.perf_counter() - start < time_limit:
        while sent < total and len(pending) < window:
            mid = (mid + 1) & 0xFFFF
            token = sent.to_bytes(4, "big")
            sock.sendto(build_request(sent, mid, token), client.addr)
            pending[token] = time.perf_counter()
            sent += 1
        try:
            data, _ = sock.recvfrom(65536)
        except OSError:
            timeouts += len(pending)
            pending.clear()
            continue
        m = decode(data)
        if pending.pop(m.token, None) is None:
            continue
        if (m.code >> 5) == 2:
            ok += 1
        else:
            errors += 1
    return ok, errors, timeouts + len(pending), time.perf_counter() - start


def cpu_seconds(pid):
    """User+system CPU time of a process: a cost per request that, unlike
    req/s, holds on a machine shared with other work."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid, fn, *args):
    before = cpu_seconds(pid)
    result = fn(*args)
    return result, cpu_seconds(pid) - before


def run_wrk(cse, path, secs, conns):
    if not shutil.which("wrk"):
        return None
    cmd = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % secs, "-H", "X-M2M-Origin: Cbench",
           "-H", "X-M2M-RI: b", "-H", "X-M2M-RVI: 3", cse.base + path]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return (float(m.group(1)) if m else None, int(non2xx.group(1)) if non2xx else 0,
            int(total.group(1)) if total else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--creates", type=int, default=5000)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--seconds", type=int, default=5, help="wrk duration and per-phase time limit x4")
    ap.add_argument("--non", action="store_true", help="NON instead of CON requests")
    a = ap.parse_args()
    mtype = NON if a.non else CON

    with Cse() as cse:
        r = cse.register_ae("bench", origin="Cbench")
        assert r.status == 201, r
        r = cse.create("/cse-in/bench", 3, {"m2m:cnt": {"rn": "data", "mni": 100}}, origin="Cbench")
        assert r.status == 201, r
        client = RawClient(cse.coap_port)

        cin = json.dumps({"m2m:cin": {"con": "21.5"}})
        create_opts = path_options("cse-in/bench/data") + [(12, uint_bytes(50))]

        def create(i, mid, token):
            return encode(mtype, POST, mid, token,
                          create_opts + m2m_options(fr="Cbench", rqi="c%d" % i, rvi="3", ty=4), cin)

        get_opts = path_options("cse-in/bench/data")

        def retrieve(i, mid, token):
            return encode(mtype, GET, mid, token,
                          get_opts + m2m_options(fr="Cbench", rqi="r%d" % i, rvi="3"))

        limit = a.seconds * 4
        pid = cse.proc.pid
        (c_ok, c_err, c_to, c_s), c_cpu = measured(pid, run_coap, client, create, a.creates, a.window, limit)
        (r_ok, r_err, r_to, r_s), r_cpu = measured(pid, run_coap, client, retrieve, a.requests, a.window, limit)
        client.close()
        wrk, h_cpu = measured(pid, run_wrk, cse, "/cse-in/bench/data", a.seconds, a.window)

    kind = "NON" if a.non else "CON"
    print("CoAP %s CREATE contentInstance: %d ok, %d errors, %d timeouts in %.2f s = %.0f req/s, "
          "CSE CPU %.1f us/req" % (kind, c_ok, c_err, c_to, c_s, c_ok / c_s, 1e6 * c_cpu / max(c_ok, 1)))
    print("CoAP %s RETRIEVE container:     %d ok, %d errors, %d timeouts in %.2f s = %.0f req/s, "
          "CSE CPU %.1f us/req" % (kind, r_ok, r_err, r_to, r_s, r_ok / r_s, 1e6 * r_cpu / max(r_ok, 1)))
    if wrk and wrk[0]:
        h_us = 1e6 * h_cpu / max(wrk[2], 1)
        print("HTTP RETRIEVE container (wrk -t1 -c%d): %.0f req/s (%d non-2xx), CSE CPU %.1f us/req"
              % (a.window, wrk[0], wrk[1], h_us))
        print("ratio CoAP/HTTP RETRIEVE: throughput %.2f, CSE CPU per request %.2f"
              % ((r_ok / r_s) / wrk[0], (1e6 * r_cpu / max(r_ok, 1)) / h_us))
    else:
        print("HTTP RETRIEVE: wrk not available")
    return 0 if c_err + c_to + r_err + r_to == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
