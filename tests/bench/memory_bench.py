#!/usr/bin/env python3
"""Memory under mixed HTTP + CoAP load, every transport on (issue 17).

Starts m2m-cse with HTTP, HTTPS, CoAP and CoAPS listening, then runs for
--seconds: wrk (mixed.lua: CREATE into a container with mni=1000 and `la`
RETRIEVE, alternating) on HTTP and, beside it, CoAP clients (RETRIEVE and
CREATE alternating, `window` outstanding each). Every --clients CoAP client
uses a fresh UDP port every --rotate requests, as sleeping devices do, so
that the CSE sees many CoAP sessions come and go. Prints RSS every few
seconds, then the resident memory by mapping (heap, anonymous, libraries)
at the end. Nothing asserts; a lean run, not a test.

  tests/bench/memory_bench.py --build build --seconds 60
  tests/bench/memory_bench.py --build build --requests 1000000 --seconds 900

With --requests N the run stops once N requests (HTTP + CoAP) were answered,
or after --seconds, whichever comes first (wrk runs in 10 s slices so that
its count is known as the run goes).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("M2M_CSE", os.path.join(HERE, "..", "..", "build", "m2m-cse"))


def rss_kb(pid, field="VmRSS"):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def by_mapping(pid):
    """Resident kB per mapping name ([heap], [anon], library file)."""
    out, name = {}, None
    for line in open("/proc/%d/smaps" % pid):
        parts = line.split()
        if "-" in parts[0] and not line.startswith(("Rss", "Size")) and len(parts) >= 5 and ":" not in parts[0]:
            name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
        elif parts[0] == "Rss:":
            out[name] = out.get(name, 0) + int(parts[1])
    return sorted(out.items(), key=lambda kv: -kv[1])


def coap_client(port, stop, counts, rotate, window):
    from coap_peer import CON, GET, POST, encode, m2m_options, path_options, decode, uint_bytes
    cin = json.dumps({"m2m:cin": {"con": "21.5"}})
    create_opts = path_options("cse-in/bench/ring") + [(12, uint_bytes(50))]
    get_opts = path_options("cse-in/bench/ring/la")
    n = 0
    while not stop.is_set():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(1.0)
        pending = 0
        for i in range(rotate):
            if stop.is_set():
                break
            n += 1
            token = n.to_bytes(4, "big")
            if n % 2:
                msg = encode(CON, POST, n & 0xFFFF, token,
                             create_opts + m2m_options(fr="Cbench", rqi="c%d" % n, rvi="3", ty=4), cin)
            else:
                msg = encode(CON, GET, n & 0xFFFF, token, get_opts + m2m_options(fr="Cbench", rqi="r%d" % n, rvi="3"))
            sock.sendto(msg, ("127.0.0.1", port))
            pending += 1
            while pending >= window or (i == rotate - 1 and pending):
                try:
                    m = decode(sock.recvfrom(65536)[0])
                    pending -= 1
                    counts["coap_ok" if (m.code >> 5) == 2 else "coap_err"] += 1
                except OSError:
                    counts["coap_timeout"] += pending
                    pending = 0
        sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"))
    ap.add_argument("--seconds", type=int, default=60, help="time bound of the run")
    ap.add_argument("--requests", type=int, default=0, help="stop after this many requests (0: run --seconds)")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--rotate", type=int, default=200, help="CoAP requests per client port")
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--wrapper", default=None, help="a program that runs m2m-cse (e.g. under massif)")
    ap.add_argument("--cse-args", default="", help="extra m2m-cse settings, e.g. 'coap_max_sessions=64'")
    args = ap.parse_args()
    os.environ["M2M_CSE"] = args.wrapper or os.path.join(args.build, "m2m-cse")
    import harness
    harness.CSE_BIN = os.environ["M2M_CSE"]
    extra = dict(kv.split("=", 1) for kv in args.cse_args.split(",") if kv)
    cse = harness.Cse(log_level="warn", max_connections_per_client=256, **extra)
    if args.wrapper:
        cse.start_timeout = 120      # valgrind starts slowly
    with cse:
        cse.register_ae("bench", origin="Cbench")
        cse.create("/cse-in/bench", 3, {"m2m:cnt": {"rn": "ring", "mni": 1000}}, origin="Cbench")
        cse.create("/cse-in/bench/ring", 4, {"m2m:cin": {"con": "1"}}, origin="Cbench")
        pid = cse.proc.pid
        idle = rss_kb(pid)
        stop = threading.Event()
        counts = {"coap_ok": 0, "coap_err": 0, "coap_timeout": 0}
        threads = [threading.Thread(target=coap_client, args=(cse.coap_port, stop, counts, args.rotate, args.window))
                   for _ in range(args.clients)]
        for t in threads:
            t.start()
        t0 = time.time()
        samples, http_total, http_lines = [], 0, []
        while True:
            left = args.seconds - (time.time() - t0)
            done = http_total + counts["coap_ok"]
            if left < 1 or (args.requests and done >= args.requests):
                break
            wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d%ds" % min(10, int(left)), "-s",
                                    os.path.join(HERE, "mixed.lua"), "http://127.0.0.1:%d/cse-in/bench/ring" % cse.port],
                                   stdout=subprocess.PIPE, text=True)
            out = wrk.communicate()[0]
            for line in out.splitlines():
                if "requests in" in line:
                    http_total += int(line.split()[0])
                if "Non-2xx" in line or "Socket errors" in line:
                    http_lines.append(line.strip())
            samples.append((round(time.time() - t0), rss_kb(pid), rss_kb(pid, "RssAnon"), rss_kb(pid, "RssFile"),
                            http_total, counts["coap_ok"]))
            print("t=%3ds RSS %6d kB (anon %d, file %d)  HTTP %d  CoAP ok %d" % samples[-1], file=sys.stderr)
        stop.set()
        for t in threads:
            t.join()
        http = ["%d requests" % http_total] + sorted(set(http_lines))
        final = rss_kb(pid)
        maps = by_mapping(pid)
    print("idle RSS %d kB; after %d s and %d requests: %d kB (peak sample %d kB)" %
          (idle, samples[-1][0], http_total + counts["coap_ok"], final, max(s[1] for s in samples)))
    print("HTTP (wrk, mixed): %s" % "; ".join(x.strip() for x in http))
    print("CoAP: %(coap_ok)d ok, %(coap_err)d errors, %(coap_timeout)d timeouts" % counts)
    print("resident by mapping (kB): " + ", ".join("%s %d" % kv for kv in maps[:10]))


if __name__ == "__main__":
    main()
