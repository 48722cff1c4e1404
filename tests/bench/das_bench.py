#!/usr/bin/env python3
"""Dynamic authorization benchmark (issue 9): one m2m-cse and one m2m-das on
loopback, in one run.

  - RETRIEVE `la` granted by an ACP (the baseline of this run),
  - the same granted by a cached DAS decision (the first request consulted the
    DAS, which granted a dynamic ACP; every later one is decided locally),
  - the same granted by a token in the Authorization header (verified once,
    then from the CSE's token cache),
each as req/s and as a ratio to the ACP-granted figure measured in the same
round; and the latency of an uncached consultation (first request of a fresh
originator: CSE -> DAS -> CSE -> answer) next to a cached request's.

  tests/bench/das_bench.py --build build --duration 3 --rounds 2
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench  # noqa: E402  (Server, free_port, run_wrk, median, machine_info)

SP = "//ironbark.local"
HOSTING = SP + "/id-in"
TARGET = HOSTING + "/cse-in/bench/data"


def http(port, method, path, origin, ty=None, body=None, headers=None):
    h = {"X-M2M-Origin": origin, "X-M2M-RI": "das-bench", "X-M2M-RVI": "3", "Accept": "application/json"}
    h.update(headers or {})
    data = None
    if ty:
        h["Content-Type"] = "application/json;ty=%d" % ty
        data = json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.headers.get("X-M2M-RSC", 0)), r.read()
    except urllib.error.HTTPError as e:
        return int(e.headers.get("X-M2M-RSC", 0)), e.read()


def wrk_script(work, name, origin, token=None):
    path = os.path.join(work, name + ".lua")
    with open(path, "w") as f:
        f.write('wrk.method = "GET"\n')
        f.write('wrk.headers["X-M2M-Origin"] = "%s"\n' % origin)
        f.write('wrk.headers["X-M2M-RI"] = "b"\nwrk.headers["X-M2M-RVI"] = "3"\n')
        f.write('wrk.headers["Accept"] = "application/json"\n')
        if token:
            f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % token)
    return path


def measure(args, srv, script):
    cpu0 = bench.cpu_seconds(srv.pid)
    r = bench.run_wrk(args, srv.url("/cse-in/bench/data/la"), script)
    cpu1 = bench.cpu_seconds(srv.pid)
    r["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / r["requests"] if cpu0 is not None else None
    return r


def main():
    ap = bench.load_arguments(__doc__)
    ap.add_argument("--fresh", type=int, default=50, help="uncached consultations to time")
    args = ap.parse_args()
    tool = os.path.join(args.build, "m2m")
    work = tempfile.mkdtemp(prefix="ironbark-das-bench-")
    das_port, cse_port = bench.free_port(), bench.free_port()
    off = ["--https-port", "0", "--coap-port", "0", "--coaps-port", "0"]
    das = bench.Server([os.path.join(args.build, "m2m-das"), "--http-port", str(das_port), "--data-dir",
                        os.path.join(work, "das"), "--log-level", "warn"] + off, das_port, "m2m-das")
    das_url = "http://127.0.0.1:%d/~/id-das/das-in" % das_port
    cse = None
    summary = {"machine": bench.machine_info()}
    try:
        def m2m(*a, origin="CAdmin"):
            r = subprocess.run([tool, "--das", das_url, "--from", origin] + list(a), capture_output=True,
                               text=True, timeout=30)
            if r.returncode:
                raise RuntimeError("m2m %s: %s %s" % (" ".join(a), r.stdout, r.stderr))
            return r.stdout
        m2m("das", "rule", "add", "bench", "--who", HOSTING + "/Cdyn*", "--who", HOSTING + "/Ctok",
            "--ops", "retrieve", "--target", TARGET + "*", "--lifetime", "3600")
        cse = bench.Server([os.path.join(args.build, "m2m-cse"), "--http-port", str(cse_port), "--data-dir",
                            os.path.join(work, "cse"), "--log-level", "warn", "--das-default", das_url,
                            "--token-trust-file", os.path.join(work, "das", "issuers.json"),
                            "--max-connections-per-client", str(max(64, args.connections))] + off,
                           cse_port, "m2m-cse")
        # The tree: an AE, a container with one instance, an ACP granting Cacp RETRIEVE.
        http(cse_port, "POST", "/cse-in", "CAdmin", 2, {"m2m:ae": {"rn": "bench", "api": "Nbench", "rr": False,
                                                                   "srv": ["3"]}})
        http(cse_port, "POST", "/cse-in", "CAdmin", 1, {"m2m:acp": {
            "rn": "benchacp", "pv": {"acr": [{"acor": ["Cacp"], "acop": 2}]},
            "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}})
        http(cse_port, "POST", "/cse-in/bench", "CAdmin", 3, {"m2m:cnt": {"rn": "data",
                                                                          "acpi": ["cse-in/benchacp"]}})
        http(cse_port, "POST", "/cse-in/bench/data", "CAdmin", 4, {"m2m:cin": {"con": "21.5"}})
        for who in ("Cacp", "Cdyn"):
            rsc, body = http(cse_port, "GET", "/cse-in/bench/data/la", who)
            if rsc != 2000:
                raise RuntimeError("%s: RETRIEVE answered %d %s" % (who, rsc, body[:200]))
        out = m2m("token", "get", "--target", TARGET, "--op", "retrieve", origin=HOSTING + "/Ctok").splitlines()
        token = out[1] if len(out) > 1 else ""
        rsc, body = http(cse_port, "GET", "/cse-in/bench/data/la", "Ctok", headers={"Authorization": token})
        if rsc != 2000:
            raise RuntimeError("Ctok with its token: RETRIEVE answered %d %s" % (rsc, body[:200]))
        scripts = {"acp": wrk_script(work, "acp", "Cacp"), "das-cached": wrk_script(work, "dyn", "Cdyn"),
                   "token": wrk_script(work, "tok", "Ctok", token)}

        rounds = []
        for i in range(args.rounds):
            rnd = {name: measure(args, cse, s) for name, s in scripts.items()}
            for name in ("das-cached", "token"):
                rnd[name]["ratio"] = rnd[name]["rps"] / rnd["acp"]["rps"]
            rounds.append(rnd)
            print("round %d: %s" % (i + 1, ", ".join("%s %.0f/s" % (n, rnd[n]["rps"]) for n in scripts)), flush=True)

        # Uncached consultations: each fresh originator's first request goes to the DAS.
        first, cached = [], []
        for k in range(args.fresh):
            who = "Cdynfresh%d" % k
            t0 = time.perf_counter()
            rsc, _ = http(cse_port, "GET", "/cse-in/bench/data/la", who)
            t1 = time.perf_counter()
            rsc2, _ = http(cse_port, "GET", "/cse-in/bench/data/la", who)
            t2 = time.perf_counter()
            if rsc != 2000 or rsc2 != 2000:
                raise RuntimeError("fresh originator %s: %d then %d" % (who, rsc, rsc2))
            first.append((t1 - t0) * 1e3)
            cached.append((t2 - t1) * 1e3)
        summary["rounds"] = rounds
        summary["consultation_ms"] = {"median": statistics.median(first), "p90": sorted(first)[int(0.9 * len(first))]}
        summary["cached_request_ms"] = {"median": statistics.median(cached)}
        print()
        print("%-28s %10s %10s %12s" % ("RETRIEVE la granted by", "req/s", "vs ACP", "CPU us/req"))
        for name in scripts:
            rps = bench.median([r[name]["rps"] for r in rounds])
            ratio = bench.median([r[name].get("ratio", 1.0) for r in rounds])
            cpu = bench.median([r[name]["cpu_us_per_req"] for r in rounds])
            summary[name] = {"rps": rps, "ratio_to_acp": ratio, "cpu_us_per_req": cpu}
            print("%-28s %10.0f %9.0f%% %12.1f" % (name, rps, 100 * ratio, cpu or 0))
        print("uncached consultation (one request, CSE->DAS->CSE): median %.2f ms, p90 %.2f ms; "
              "the same originator's next request: median %.2f ms" %
              (summary["consultation_ms"]["median"], summary["consultation_ms"]["p90"],
               summary["cached_request_ms"]["median"]))
    finally:
        if cse:
            cse.stop()
        das.stop()
    bench.write_summary(args.out, summary)


if __name__ == "__main__":
    main()
