#!/usr/bin/env python3
"""System calls the CSE makes per HTTPS connection: handshake_bench (one
client, OpenSSL) runs connect, TLS handshake, one RETRIEVE and close in a
loop while `strace -c -f` counts the CSE's calls (counts, unlike timings, do
not depend on what else the machine runs).

    tests/bench/tls_syscalls.py [--build build] [--seconds 3] [--mode tls13-cert] [--resume no]

M2M_CSE=/path/to/other/m2m-cse counts another build (e.g. the one before a
change) with this build's client."""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(run.ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--mode", default="tls13-cert", help="handshake_bench --mode (tls13-cert, tls12-cert, ...)")
    ap.add_argument("--resume", default="no", choices=["no", "yes"])
    ap.add_argument("--tool", choices=["strace", "perf"], default="strace")
    args = ap.parse_args()
    os.environ.setdefault("M2M_CSE", os.path.join(os.path.abspath(args.build), "m2m-cse"))
    from harness import Cse  # after M2M_CSE: the harness reads it on import
    from syscalls import counted
    key = "00112233445566778899aabbccddeeff"
    bench = os.path.join(args.build, "tests", "handshake_bench")
    with Cse(psk="bench@x:%s:CAdmin" % key) as cse:
        def load():
            out = subprocess.run([bench, "--port", str(cse.https_port), "--mode", args.mode, "--ca", cse.tls_ca,
                                  "--psk-id", "bench@x", "--seconds", str(args.seconds), "--resume", args.resume,
                                  "--clients", "1"], capture_output=True, text=True, timeout=args.seconds + 60,
                                 env=dict(os.environ, M2M_PSK_KEY=key)).stdout
            m = re.search(r"(\d+) handshakes.*\((\d+) failed", out)
            if not m or m.group(2) != "0":
                raise RuntimeError("handshake_bench failed: " + out)
            return int(m.group(1))
        calls, table, n = counted(args.tool, cse.proc.pid, load)
    per = ", ".join("%s %.2f" % (k, v / n) for k, v in sorted(table.items(), key=lambda kv: -kv[1]))
    print("%s%s: %d connections, %.2f system calls per connection%s"
          % (args.mode, ", resumed" if args.resume == "yes" else "", n, calls / n, " (%s)" % per if per else ""))


if __name__ == "__main__":
    main()
