#!/usr/bin/env python3
"""Forwarded RETRIEVE benchmark (issue 15): three m2m-cse in a chain on
loopback, in one run. C hosts the data; B has C's <remoteCSE>; A has B's and
B as its registrar (the default route). The same RETRIEVE of `la`:

  - local:  at C itself,
  - 1 hop:  at B, forwarded B -> C,
  - 2 hops: at A, forwarded A -> B -> C,

each as req/s (many connections) and as a ratio to the local figure of the
same round, and the latency of one connection (wrk -c 1, median), from which
the latency a hop adds. Forwarding here is HTTP between the CSEs (--binding
coap for CoAP).

  tests/bench/forward_bench.py --build build --duration 3 --rounds 2
"""
import copy
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench  # noqa: E402  (Server, free_port, run_wrk, median, machine_info)
from das_bench import http  # noqa: E402  (one oneM2M request over HTTP: (rsc, body))

PATH = {"local": "/cse-c/bench/data/la", "1 hop": "/~/id-c/cse-c/bench/data/la",
        "2 hops": "/~/id-c/cse-c/bench/data/la"}


def peer(port, base, csi, poa):
    rsc, body = http(port, "POST", base, "CAdmin", 16, {"m2m:csr": {"csi": csi, "cb": csi + "/x", "poa": [poa],
                                                                   "rr": True, "srv": ["3"]}})
    if rsc != 2001:
        raise RuntimeError("<remoteCSE> %s: %d %s" % (csi, rsc, body[:200]))


def main():
    ap = bench.load_arguments(__doc__)
    ap.add_argument("--binding", choices=("http", "coap"), default="http")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ironbark-fwd-bench-")
    ports = {n: bench.free_port() for n in "abc"}
    coap_ports = {n: bench.free_port() for n in "abc"}
    servers = {}
    summary = {"machine": bench.machine_info(), "binding": args.binding}
    try:
        for n in "cba":
            argv = [os.path.join(args.build, "m2m-cse"), "--http-port", str(ports[n]), "--data-dir",
                    os.path.join(work, n), "--log-level", "warn", "--cse-id", "id-" + n, "--cse-name", "cse-" + n,
                    "--https-port", "0", "--coaps-port", "0",
                    "--coap-port", str(coap_ports[n]) if args.binding == "coap" else "0",
                    "--max-connections-per-client", str(max(64, args.connections))]
            if n == "a":
                argv += ["--registrar-csi", "/id-b"]
            servers[n] = bench.Server(argv, ports[n], "m2m-cse " + n)
        poa = {n: ("coap://127.0.0.1:%d" % coap_ports[n]) if args.binding == "coap"
               else "http://127.0.0.1:%d" % ports[n] for n in "abc"}
        peer(ports["b"], "/cse-b", "/id-c", poa["c"])
        peer(ports["a"], "/cse-a", "/id-b", poa["b"])
        c = ports["c"]
        http(c, "POST", "/cse-c", "Cbench", 2, {"m2m:ae": {"rn": "bench", "api": "Nbench", "rr": False,
                                                          "srv": ["3"]}})
        http(c, "POST", "/cse-c", "CAdmin", 1, {"m2m:acp": {
            "rn": "benchacp", "pv": {"acr": [{"acor": ["Cbench", "/id-b/Cbench", "/id-a/Cbench"], "acop": 63}]},
            "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}})
        http(c, "POST", "/cse-c/bench", "Cbench", 3, {"m2m:cnt": {"rn": "data", "acpi": ["cse-c/benchacp"]}})
        http(c, "POST", "/cse-c/bench/data", "Cbench", 4, {"m2m:cin": {"con": "21.5"}})
        entry = {"local": "c", "1 hop": "b", "2 hops": "a"}
        for name, n in entry.items():
            rsc, body = http(ports[n], "GET", PATH[name], "Cbench")
            if rsc != 2000:
                raise RuntimeError("%s: RETRIEVE answered %d %s" % (name, rsc, body[:200]))
        script = os.path.join(work, "get.lua")
        with open(script, "w") as f:
            f.write('wrk.method = "GET"\nwrk.headers["X-M2M-Origin"] = "Cbench"\n')
            f.write('wrk.headers["X-M2M-RI"] = "b"\nwrk.headers["X-M2M-RVI"] = "3"\n')
            f.write('wrk.headers["Accept"] = "application/json"\n')
        one = copy.copy(args)
        one.threads = 1
        rounds = []
        for i in range(args.rounds):
            rnd = {}
            for name, n in entry.items():
                url = servers[n].url(PATH[name])
                r = bench.run_wrk(args, url, script)
                r["latency_ms"] = bench.run_wrk(one, url, script, connections=1)["p50_ms"]
                rnd[name] = r
            for name in entry:
                rnd[name]["ratio"] = rnd[name]["rps"] / rnd["local"]["rps"]
            rounds.append(rnd)
            print("round %d: %s" % (i + 1, ", ".join("%s %.0f/s (%d errors)" % (n, rnd[n]["rps"], rnd[n]["errors"])
                                                     for n in entry)), flush=True)
        summary["rounds"] = rounds
        print()
        print("%-10s %10s %10s %14s %16s" % ("RETRIEVE", "req/s", "vs local", "latency (ms)", "added per hop"))
        local_lat = bench.median([r["local"]["latency_ms"] for r in rounds])
        for hops, name in enumerate(entry):
            rps = bench.median([r[name]["rps"] for r in rounds])
            ratio = bench.median([r[name]["ratio"] for r in rounds])
            lat = bench.median([r[name]["latency_ms"] for r in rounds])
            per_hop = (lat - local_lat) / hops if hops else 0.0
            summary[name] = {"rps": rps, "ratio_to_local": ratio, "latency_ms": lat, "added_ms_per_hop": per_hop}
            print("%-10s %10.0f %9.0f%% %14.3f %16s" % (name, rps, 100 * ratio, lat,
                                                         "%.3f ms" % per_hop if hops else "-"))
    finally:
        for s in servers.values():
            s.stop()
    bench.write_summary(args.out, summary)


if __name__ == "__main__":
    main()
