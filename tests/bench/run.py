#!/usr/bin/env python3
"""Ironbark benchmark: contentInstance CREATE and `la` RETRIEVE against a
hello-world served by the same event loop and HTTP transport, in one run.

Every figure is also given as a ratio to the hello-world baseline measured in
the same run (before and after the CSE runs; their mean is the baseline),
because the machine is shared and absolute numbers drift. Results are printed
as a table and written as JSON (--out).

  tests/bench/run.sh                     # the main table (+ the sync levels)
  tests/bench/run.sh --flat              # + memory flatness over 1M requests
  tests/bench/run.sh --leak              # + valgrind leak check
  tests/bench/run.sh --duration 5 --syncs normal
  tests/bench/run.sh --only-coap         # CoAP against HTTP only (see coap_table)
"""
import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PIN = {"server": [], "client": []}   # taskset prefixes (--pin)
HEADERS = {"X-M2M-Origin": "Cbench", "X-M2M-RI": "bench-setup", "X-M2M-RVI": "3"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d did not open" % port)


def proc_status(pid, field):
    """VmRSS / VmHWM of pid in kB (None once the process is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_breakdown(pid):
    """RSS split into anonymous and file-backed pages, PSS (shared library
    pages divided among the processes that map them) and private (pages no
    other process maps), in kB."""
    out = {"rss_anon_kb": proc_status(pid, "RssAnon"), "rss_file_kb": proc_status(pid, "RssFile")}
    fields = {"Pss:": "pss_kb", "Private_Clean:": "private_clean_kb", "Private_Dirty:": "private_dirty_kb",
              "Shared_Clean:": "shared_clean_kb", "Shared_Dirty:": "shared_dirty_kb"}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                key = line.split(" ", 1)[0]
                if key in fields:
                    out[fields[key]] = int(line.split()[1])
    except OSError:
        pass
    if "private_clean_kb" in out and "private_dirty_kb" in out:
        out["private_kb"] = out["private_clean_kb"] + out["private_dirty_kb"]
    return out


def cpu_seconds(pid):
    """User + system CPU time the process has used so far, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0: clear_refs 5)."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Server:
    """A benchmark target: bench_hello or m2m-cse on a loopback port."""

    def __init__(self, argv, port, name, wrapper=None):
        self.port, self.name = port, name
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(PIN["server"] + (wrapper or []) + argv, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_port(port, self.proc, timeout=60 if wrapper else 15)
        time.sleep(0.2 if not wrapper else 1.0)
        self.idle_rss = proc_status(self.proc.pid, "VmRSS")
        self.idle_memory = memory_breakdown(self.proc.pid)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def request(srv, method, path, ty=None, body=None):
    headers = dict(HEADERS)
    data = None
    if ty:
        headers["Content-Type"] = "application/json;ty=%d" % ty
        data = json.dumps(body).encode()
    req = urllib.request.Request(srv.url(path), data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read() or b"null")


def prepare_cse(srv):
    """AE 'bench' with containers 'data' (unbounded) and 'ring' (mni=1000),
    each with one instance so that `la` exists from the start."""
    request(srv, "POST", "/cse-in", 2, {"m2m:ae": {"rn": "bench", "api": "Nbench", "rr": False, "srv": ["3"]}})
    request(srv, "POST", "/cse-in/bench", 3, {"m2m:cnt": {"rn": "data"}})
    request(srv, "POST", "/cse-in/bench", 3, {"m2m:cnt": {"rn": "ring", "mni": 1000}})
    for cnt in ("data", "ring"):
        request(srv, "POST", "/cse-in/bench/" + cnt, 4, {"m2m:cin": {"cnf": "text/plain:0", "con": "21.5"}})
    status, _ = request(srv, "GET", "/cse-in/bench/data/la")
    if status != 200:
        raise RuntimeError("setup failed: la answered %d" % status)


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out):
    def number(pattern):
        m = re.search(pattern, out)
        return m.group(1) if m else None

    def latency_ms(pct):
        m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None

    rps = number(r"Requests/sec:\s+([\d.]+)")
    total = number(r"(\d+) requests in")
    non2xx = number(r"Non-2xx or 3xx responses: (\d+)")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps) if rps else 0.0,
        "requests": int(total) if total else 0,
        "p50_ms": latency_ms(50),
        "p99_ms": latency_ms(99),
        "errors": int(non2xx or 0) + (sum(int(x) for x in sock.groups()) if sock else 0),
    }


def run_wrk(args, url, script=None, duration=None, connections=None):
    cmd = PIN["client"] + ["wrk", "-t", str(args.threads), "-c", str(connections or args.connections),
           "-d", "%ss" % (duration or args.duration), "--latency"]
    if script:
        cmd += ["-s", os.path.join(HERE, script)]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=(duration or args.duration) + 60).stdout
    r = parse_wrk(out)
    if not r["requests"]:
        raise RuntimeError("wrk measured nothing:\n" + out)
    return r


def measure(args, srv, path, script=None, duration=None):
    """One wrk run. Besides wrk's figures, the server's own CPU time per
    request: far less sensitive than req/s to what else runs on the machine."""
    reset_peak(srv.pid)
    cpu0 = cpu_seconds(srv.pid)
    r = run_wrk(args, srv.url(path), script, duration)
    cpu1 = cpu_seconds(srv.pid)
    r["peak_rss_kb"] = proc_status(srv.pid, "VmHWM")
    r["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / r["requests"] if cpu0 is not None and cpu1 is not None else None
    return r


# The engine benchmarks talk HTTP only; the other listeners would take their
# default ports (and collide with a second CSE running at the same time).
HTTP_ONLY = ["--https-port", "0", "--coap-port", "0", "--coaps-port", "0"]


def start_cse(args, data_dir, sync="normal", wrapper=None, all_transports=False, coap=False, extra=()):
    """m2m-cse on free ports: HTTP only, HTTP + plain CoAP (coap: the port is
    srv.coap_port), or every listener (all_transports); extra: more settings
    as flags (--db postgresql://...)."""
    port = free_port()
    coap_port = free_port() if coap else None
    # wrk opens all its connections from one address: the per-client limit must let them in.
    argv = [args.cse, "--http-port", str(port), "--data-dir", data_dir, "--sync", sync,
            "--log-level", "warn", "--max-connections-per-client", str(max(64, args.connections))]
    if all_transports:
        # The default configuration (every listener on), on free ports.
        argv += ["--https-port", str(free_port()), "--coap-port", str(free_port()),
                 "--coaps-port", str(free_port())]
    elif coap:
        argv += ["--https-port", "0", "--coap-port", str(coap_port), "--coaps-port", "0"]
    else:
        argv += HTTP_ONLY
    srv = Server(argv + list(extra), port, "m2m-cse", wrapper)
    srv.coap_port = coap_port
    return srv


def idle_defaults(args, work, summary):
    """Idle memory with every transport listening (the shipped defaults)."""
    cse = start_cse(args, os.path.join(work, "defaults"), all_transports=True)
    try:
        summary["cse_defaults_idle_rss_kb"] = cse.idle_rss
        summary["cse_defaults_idle_memory"] = cse.idle_memory
    finally:
        cse.stop()
    m = cse.idle_memory
    print("idle RSS with all transports (HTTP, HTTPS, CoAP, CoAPS): %s kB (anon %s, file %s, PSS %s, private %s)" %
          (cse.idle_rss, m.get("rss_anon_kb"), m.get("rss_file_kb"), m.get("pss_kb"), m.get("private_kb")))


def start_hello(args):
    port = free_port()
    return Server([args.hello, str(port)], port, "bench_hello")


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows, base):
    """Medians over the rounds; the ratios are medians of per-round ratios.
    'cpu/req' is the server's CPU time per request; 'cpu x' is hello's
    cpu/req over the workload's: the req/s share each would reach with a
    core to itself."""
    print()
    print("%-32s %8s %8s %8s %7s %8s %6s %9s %6s" % ("workload (median of rounds)", "req/s", "vs hello",
          "p99 ms", "p99 x", "cpu/req", "cpu x", "peak RSS", "RSS x"))
    for name, r in rows:
        print("%-32s %8.0f %7.0f%% %8s %7s %6sus %5s%% %6s kB %6s" % (
            name, r["rps"], 100.0 * r.get("rps_ratio", 1.0), fmt(r["p99_ms"], ".2f"),
            fmt(r["p99_ms"] / base["p99_ms"] if r["p99_ms"] and base["p99_ms"] else None, ".1f"),
            fmt(r.get("cpu_us_per_req"), ".1f"), fmt(100.0 * r.get("cpu_ratio", 1.0) if r.get("cpu_ratio", 1.0) else None, ".0f"),
            fmt(r["peak_rss_kb"], "d"),
            fmt(r["peak_rss_kb"] / base["peak_rss_kb"] if r["peak_rss_kb"] and base["peak_rss_kb"] else None, ".2f")))
    print()


def machine_info():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "loadavg_at_start": os.getloadavg(), "wrk": wrk_version.strip()}


WORKLOADS = [
    # name, path, wrk script
    ("RETRIEVE la", "/cse-in/bench/data/la", "retrieve_la.lua"),
    ("CREATE cin (sync=normal)", "/cse-in/bench/data", "create_cin.lua"),
    ("CREATE cin, mni=1000 (evicting)", "/cse-in/bench/ring", "create_cin.lua"),
]


def load_arguments(description):
    """The options every load benchmark beside this one takes: the build,
    wrk's duration, threads and connections, rounds, and --out."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--out")
    return ap


def write_summary(path, summary):
    """The run's figures as JSON at path (nothing when path is None)."""
    if path:
        with open(path, "w") as f:
            json.dump(summary, f, indent=1)


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def main_table(args, work, summary):
    """Rounds of [hello, each CSE workload]: every workload's ratio is taken
    against the hello-world run of its own round, and the table shows the
    median over the rounds, so that a neighbour's burst of load skews one
    round, not the result. Both servers stay up; the idle one costs nothing."""
    hello = start_hello(args)
    cse = start_cse(args, os.path.join(work, "main"))
    summary["hello_idle_rss_kb"] = hello.idle_rss
    summary["cse_idle_rss_kb"] = cse.idle_rss
    summary["cse_idle_memory"] = cse.idle_memory
    summary["hello_idle_memory"] = hello.idle_memory
    rounds = []
    try:
        prepare_cse(cse)
        for i in range(args.rounds):
            rnd = {"hello": measure(args, hello, "/")}
            for name, path, script in WORKLOADS:
                rnd[name] = measure(args, cse, path, script)
                rnd[name]["rps_ratio"] = rnd[name]["rps"] / rnd["hello"]["rps"]
                if rnd[name]["cpu_us_per_req"] and rnd["hello"]["cpu_us_per_req"]:
                    rnd[name]["cpu_ratio"] = rnd["hello"]["cpu_us_per_req"] / rnd[name]["cpu_us_per_req"]
            rounds.append(rnd)
            print("round %d: hello %.0f/s, %s" % (i + 1, rnd["hello"]["rps"], ", ".join(
                "%s %.0f/s (%.0f%%, cpu %.0f%%)" % (n, rnd[n]["rps"], 100 * rnd[n]["rps_ratio"],
                                                  100 * (rnd[n].get("cpu_ratio") or 0)) for n, _, _ in WORKLOADS)),
                flush=True)
    finally:
        hello.stop()
        log = cse.stop()

    def combine(key):
        runs = [r[key] for r in rounds]
        out = {k: median([x.get(k) for x in runs]) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")}
        out["peak_rss_kb"] = max((x["peak_rss_kb"] or 0) for x in runs) or None
        out["errors"] = sum(x["errors"] for x in runs)
        out["requests"] = sum(x["requests"] for x in runs)
        if key != "hello":
            out["rps_ratio"] = median([x["rps_ratio"] for x in runs])
            out["cpu_ratio"] = median([x.get("cpu_ratio") for x in runs])
        out["rounds"] = runs
        return out

    base = combine("hello")
    summary["hello"] = base
    summary["workloads"] = {}
    rows = [("hello-world (same loop+http)", base)]
    for name, _, _ in WORKLOADS:
        r = combine(name)
        summary["workloads"][name] = r
        rows.append((name, r))
        if r["errors"]:
            print("warning: %s had %d failed requests; CSE log tail:\n%s" % (name, r["errors"], log[-2000:]))
    print_table(rows, base)
    print("idle RSS right after start (HTTP only): m2m-cse %s kB (anon %s, file %s, PSS %s, private %s), "
          "bench_hello %s kB" %
          (summary["cse_idle_rss_kb"], cse.idle_memory.get("rss_anon_kb"), cse.idle_memory.get("rss_file_kb"),
           cse.idle_memory.get("pss_kb"), cse.idle_memory.get("private_kb"), summary["hello_idle_rss_kb"]))
    return base


def children_cpu():
    """CPU seconds used so far by this process's finished children (wrk, coap_load)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def coap_load(args, srv, kind):
    """One tests/bench/coap_load run against the bench container (the same
    target and body as the HTTP workloads); its JSON line, plus the CSE's CPU
    time per answer."""
    if kind == "retrieve":
        target = ["--path", "cse-in/bench/data/la"]
    else:
        target = ["--path", "cse-in/bench/data", "--op", "create", "--ty", "4",
                  "--payload", '{"m2m:cin":{"cnf":"text/plain:0","con":"21.5"}}']
    cmd = PIN["client"] + [args.coap_load, "--port", str(srv.coap_port), "--sessions", str(args.coap_sessions),
                           "--window", str(args.coap_window), "--seconds", str(args.duration)] + target
    if args.coap_non:
        cmd.append("--non")
    cpu0 = cpu_seconds(srv.pid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
    cpu1 = cpu_seconds(srv.pid)
    lines = out.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError("coap_load measured nothing:\n" + out.stderr)
    r = json.loads(lines[-1])
    ok = sum(n for code, n in r["codes"].items() if code.startswith("2."))
    r["errors"] = r["answered"] - ok + r["timeouts"]
    r["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / r["answered"] if r["answered"] else None
    r["client_cpu_us_per_req"] = r["cpu_s"] * 1e6 / r["answered"] if r["answered"] else None
    return r


def coap_table(args, work, summary):
    """CoAP against HTTP on one CSE (HTTP + plain CoAP listening), in
    alternating rounds: wrk then coap_load for RETRIEVE `la`, then for CREATE
    into the unbounded container. Each CoAP figure is a ratio to the HTTP run
    just before it: req/s, and the CSE's CPU per request (HTTP's over
    CoAP's: the share CoAP would reach with a core to itself). The load
    generators' own CPU per request is shown beside it: a generator that
    costs less than the CSE per request is not what limits the figure."""
    cse = start_cse(args, os.path.join(work, "coap"), coap=True)
    rounds = []
    try:
        prepare_cse(cse)
        for i in range(args.rounds):
            rnd = {}
            for kind, path, script in (("retrieve", "/cse-in/bench/data/la", "retrieve_la.lua"),
                                       ("create", "/cse-in/bench/data", "create_cin.lua")):
                c0 = children_cpu()
                h = measure(args, cse, path, script)
                h["client_cpu_us_per_req"] = (children_cpu() - c0) * 1e6 / h["requests"]
                c = coap_load(args, cse, kind)
                c["rps_ratio"] = c["rps"] / h["rps"] if h["rps"] else None
                c["cpu_ratio"] = (h["cpu_us_per_req"] / c["cpu_us_per_req"]
                                  if h["cpu_us_per_req"] and c["cpu_us_per_req"] else None)
                rnd[kind] = {"http": h, "coap": c}
            rounds.append(rnd)
            print("coap round %d: %s" % (i + 1, ", ".join(
                "%s HTTP %.0f/s CoAP %.0f/s (%.0f%%, cpu %.0f%%)" % (
                    k, rnd[k]["http"]["rps"], rnd[k]["coap"]["rps"], 100 * (rnd[k]["coap"]["rps_ratio"] or 0),
                    100 * (rnd[k]["coap"]["cpu_ratio"] or 0)) for k in ("retrieve", "create"))), flush=True)
    finally:
        log = cse.stop()
    out = {"settings": {"sessions": args.coap_sessions, "window": args.coap_window,
                        "type": "NON" if args.coap_non else "CON", "http_connections": args.connections},
           "rounds": rounds}
    print()
    print("%-22s %8s %8s %8s %8s %9s %9s %7s" % ("CoAP vs HTTP (median)", "req/s", "share", "p99 ms",
          "cpu/req", "cpu share", "gen/req", "errors"))
    for kind, label in (("retrieve", "RETRIEVE la"), ("create", "CREATE cin")):
        for proto in ("http", "coap"):
            runs = [r[kind][proto] for r in rounds]
            row = {k: median([x.get(k) for x in runs]) for k in
                   ("rps", "cpu_us_per_req", "client_cpu_us_per_req", "rps_ratio", "cpu_ratio")}
            row["p99_ms"] = median([x.get("p99_ms") if proto == "http" else x["p99_us"] / 1000.0 for x in runs])
            row["errors"] = sum(x["errors"] for x in runs)
            out.setdefault(kind, {})[proto] = row
            print("%-22s %8.0f %8s %8s %6sus %9s %7sus %7d" % (
                "%s %s" % (label, "HTTP (wrk)" if proto == "http" else "CoAP"), row["rps"],
                "-" if proto == "http" else fmt(100 * row["rps_ratio"], ".0f") + "%", fmt(row["p99_ms"], ".2f"),
                fmt(row["cpu_us_per_req"], ".1f"),
                "-" if proto == "http" else fmt(100 * row["cpu_ratio"] if row["cpu_ratio"] else None, ".0f") + "%",
                fmt(row["client_cpu_us_per_req"], ".1f"), row["errors"]))
            if row["errors"]:
                print("warning: %s over %s had %d failed requests; CSE log tail:\n%s" % (label, proto, row["errors"],
                                                                                      log[-2000:]))
    print()
    summary["coap"] = out


def sync_levels(args, work, summary, base):
    """CREATE rate per durability level, each on a fresh store, each right
    after its own hello-world run (the ratio is to that run)."""
    summary["sync_levels"] = {}
    hello = start_hello(args)
    try:
        for level in args.syncs.split(","):
            h = measure(args, hello, "/", duration=args.sync_duration)
            cse = start_cse(args, os.path.join(work, "sync-" + level), sync=level)
            try:
                prepare_cse(cse)
                r = measure(args, cse, "/cse-in/bench/data", "create_cin.lua", args.sync_duration)
            finally:
                cse.stop()
            r["hello_rps"] = h["rps"]
            r["rps_ratio"] = r["rps"] / h["rps"]
            summary["sync_levels"][level] = r
            print("CREATE cin with --sync %-6s %8.0f req/s (%3.0f%% of hello), p99 %s ms, cpu %s us/req, %d errors" %
                  (level, r["rps"], 100 * r["rps_ratio"], fmt(r["p99_ms"], ".2f"),
                   fmt(r["cpu_us_per_req"], ".1f"), r["errors"]))
    finally:
        hello.stop()


def run_until(args, srv, path, script, target, limit_s, chunk_s, on_chunk=None):
    """Runs wrk in chunks until `target` requests were answered or `limit_s`
    passed; returns the answered count and the errors."""
    done = errors = 0
    start = time.time()
    while done < target and time.time() - start < limit_s:
        r = run_wrk(args, srv.url(path), script, chunk_s, args.connections)
        done += r["requests"]
        errors += r["errors"]
        if on_chunk:
            on_chunk(done, time.time() - start)
    return done, errors


def flatness(args, work, summary):
    cse = start_cse(args, os.path.join(work, "flat"))
    samples = [(0, cse.idle_rss)]
    try:
        prepare_cse(cse)

        def sample(done, elapsed):
            samples.append((done, proc_status(cse.pid, "VmRSS")))
            print("  %9d requests  %6.0f s  RSS %s kB" % (done, elapsed, samples[-1][1]), flush=True)

        print("memory flatness: %d mixed requests (CREATE into mni=1000 + RETRIEVE la)" % args.flat_requests)
        done, errors = run_until(args, cse, "/cse-in/bench/ring", "mixed.lua", args.flat_requests,
                                 args.flat_limit, 5, sample)
    finally:
        cse.stop()
    warm = next((rss for n, rss in samples if n >= args.flat_requests // 10), samples[-1][1])
    summary["flatness"] = {
        "requests": done, "errors": errors, "idle_rss_kb": samples[0][1], "rss_after_10pct_kb": warm,
        "end_rss_kb": samples[-1][1], "max_rss_kb": max(s[1] for s in samples if s[1]),
        "samples": samples, "complete": done >= args.flat_requests,
    }
    f = summary["flatness"]
    print("flatness: %d requests (%d errors), RSS idle %s kB, after 10%% %s kB, end %s kB, max %s kB%s" %
          (done, errors, f["idle_rss_kb"], warm, f["end_rss_kb"], f["max_rss_kb"],
           "" if f["complete"] else " (stopped at the time limit)"))


def leak_check(args, work, summary):
    if not shutil.which("valgrind"):
        summary["leak"] = {"skipped": "valgrind not installed"}
        print("leak check: valgrind not installed")
        return
    vg = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
          "--errors-for-leak-kinds=definite", "--error-exitcode=0"]
    cse = start_cse(args, os.path.join(work, "leak"), wrapper=vg)
    try:
        prepare_cse(cse)
        done, errors = run_until(args, cse, "/cse-in/bench/ring", "mixed.lua", args.leak_requests, 300, 3)
    finally:
        log = cse.stop(timeout=300)

    def lost(kind):
        m = re.search(r"%s lost: ([\d,]+) bytes in ([\d,]+) blocks" % kind, log)
        return int(m.group(1).replace(",", "")) if m else 0

    m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
    clean_exit = "All heap blocks were freed" in log
    summary["leak"] = {
        "requests": done, "errors": errors, "definitely_lost_bytes": lost("definitely"),
        "indirectly_lost_bytes": lost("indirectly"), "valgrind_errors": int(m.group(1)) if m else None,
        "all_heap_freed": clean_exit,
    }
    L = summary["leak"]
    print("leak check (valgrind, %d mixed requests, SIGTERM): definitely lost %d bytes, "
          "indirectly lost %d bytes, %s valgrind errors%s" %
          (done, L["definitely_lost_bytes"], L["indirectly_lost_bytes"], L["valgrind_errors"],
           ", all heap blocks freed" if clean_exit else ""))
    if L["definitely_lost_bytes"] or L["valgrind_errors"]:
        print(log[-6000:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("IRONBARK_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of hello + workloads (default 3)")
    ap.add_argument("--sync-duration", type=int, default=None, help="seconds per sync-level run (default: --duration)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--syncs", default="off,normal,full", help="sync levels to measure CREATE with ('' = none)")
    ap.add_argument("--flat", action="store_true", help="also run the memory flatness test")
    ap.add_argument("--flat-requests", type=int, default=1000000)
    ap.add_argument("--flat-limit", type=int, default=900, help="time limit of the flatness run, s")
    ap.add_argument("--leak", action="store_true", help="also run the valgrind leak check")
    ap.add_argument("--leak-requests", type=int, default=4000)
    ap.add_argument("--coap-sessions", type=int, default=4, help="CoAP client sessions (UDP sockets)")
    ap.add_argument("--coap-window", type=int, default=8, help="CoAP requests outstanding per session")
    ap.add_argument("--coap-non", action="store_true", help="NON CoAP requests (default CON)")
    ap.add_argument("--no-coap", action="store_true", help="skip the CoAP against HTTP table")
    ap.add_argument("--only-coap", action="store_true", help="only the CoAP against HTTP table")
    ap.add_argument("--pin", action="store_true",
                    help="pin the server to CPU 0 and wrk to CPU 1 (taskset): steadier on a shared machine")
    ap.add_argument("--out", default=None, help="JSON summary (default <build>/bench-summary.json)")
    args = ap.parse_args()
    args.sync_duration = args.sync_duration or args.duration
    args.cse = os.path.join(args.build, "m2m-cse")
    args.hello = os.path.join(args.build, "tests", "bench_hello")
    args.coap_load = os.path.join(args.build, "tests", "coap_load")
    for exe in (args.cse, args.hello) + (() if args.no_coap else (args.coap_load,)):
        if not os.access(exe, os.X_OK):
            sys.exit("%s is missing: build first (make build)" % exe)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing (apt-get install wrk)")
    out = args.out or os.path.join(args.build, "bench-summary.json")
    if args.pin:
        if not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
            sys.exit("--pin needs taskset and two CPUs")
        PIN["server"], PIN["client"] = ["taskset", "-c", "0"], ["taskset", "-c", "1"]

    summary = {"machine": machine_info(), "settings": {
        "duration_s": args.duration, "rounds": args.rounds, "connections": args.connections,
        "wrk_threads": args.threads, "pinned": args.pin,
        "coap_sessions": args.coap_sessions, "coap_window": args.coap_window}}
    print("machine: %(cpu)s, %(cores)s cores, kernel %(kernel)s, load %(loadavg_at_start)s" % summary["machine"])
    work = tempfile.mkdtemp(prefix="ironbark-bench-", dir=os.environ.get("BENCH_DIR"))
    try:
        if not args.only_coap:
            base = main_table(args, work, summary)
            idle_defaults(args, work, summary)
        if not args.no_coap:
            coap_table(args, work, summary)
        if args.syncs and not args.only_coap:
            sync_levels(args, work, summary, base)
        if args.flat:
            flatness(args, work, summary)
        if args.leak:
            leak_check(args, work, summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(out, "w") as f:
        json.dump(summary, f, indent=2)
    print("summary written to %s" % out)


if __name__ == "__main__":
    main()
