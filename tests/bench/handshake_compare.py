#!/usr/bin/env python3
"""CSE CPU time per new HTTPS connection (handshake + one RETRIEVE) of two
m2m-cse builds, in alternating rounds against both running at once, so that
a loaded machine slows both alike; prints the median per build and mode
beside `openssl speed` of the same run. Bounded: rounds x modes x 2 x seconds.
Usage: tests/bench/handshake_compare.py BEFORE_M2M_CSE [build-dir] [rounds] [seconds] [clients]
(the second build is build-dir's m2m-cse; the clients are build-dir's)."""
import os, statistics, subprocess, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Cse

before_bin = os.path.abspath(sys.argv[1])
build = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "..", "build"))
rounds, seconds, clients = (int(sys.argv[3]) if len(sys.argv) > 3 else 5,
                            sys.argv[4] if len(sys.argv) > 4 else "2", sys.argv[5] if len(sys.argv) > 5 else "4")
KEY = "00112233445566778899aabbccddeeff"
MODES = [("tls13-cert", "TLS 1.3, ECDSA P-256 certificate"), ("tls12-cert", "TLS 1.2, ECDHE-ECDSA"),
         ("tls13-psk", "TLS 1.3 PSK, psk_dhe_ke P-256"), ("tls12-psk", "TLS 1.2 ECDHE-PSK")]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_round(cse, mode):
    start = cpu_seconds(cse.proc.pid)
    out = subprocess.run([os.path.join(build, "tests", "handshake_bench"), "--port", str(cse.https_port),
                          "--mode", mode, "--ca", cse.tls_ca, "--psk-id", "bench@x", "--seconds", seconds,
                          "--clients", clients], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, M2M_PSK_KEY=KEY)).stdout
    n = int(out.split(" handshakes")[0].split()[-1]) if " handshakes" in out else 0
    return (1e6 * (cpu_seconds(cse.proc.pid) - start) / n) if n else None


speed = subprocess.run(["openssl", "speed", "-seconds", "2", "ecdsap256", "ecdhp256"],
                       capture_output=True, text=True, timeout=60).stdout
print("\n".join(ln for ln in speed.splitlines() if ln.strip().startswith("256 bits")))
os.environ["M2M_CSE"] = before_bin
with Cse(psk="bench@x:%s:CAdmin" % KEY) as before:
    os.environ["M2M_CSE"] = os.path.join(build, "m2m-cse")
    with Cse(psk="bench@x:%s:CAdmin" % KEY) as after:
        print("| mode | before: CSE CPU µs per connection (median) | after | before / after |")
        print("|---|---|---|---|")
        for mode, label in MODES:
            got = {"before": [], "after": []}
            for _ in range(rounds):
                for name, cse in (("before", before), ("after", after)):
                    v = cpu_per_round(cse, mode)
                    if v:
                        got[name].append(v)
            b, a = (statistics.median(got[k]) if got[k] else 0 for k in ("before", "after"))
            print("| %s | %.0f | %.0f | %s |" % (label, b, a, "%.2f" % (b / a) if a else "—"), flush=True)
