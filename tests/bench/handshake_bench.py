#!/usr/bin/env python3
"""Runs handshake_bench against a fresh m2m-cse for each TLS mode and prints a
markdown table (docs/performance.md, "Secure transports"). Bounded: a few
seconds per mode. Usage: tests/bench/handshake_bench.py [build-dir] [seconds]"""
import os, subprocess, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build"))
seconds = sys.argv[2] if len(sys.argv) > 2 else "3"
os.environ.setdefault("M2M_CSE", os.path.join(build, "m2m-cse"))
from harness import Cse

KEY = "00112233445566778899aabbccddeeff"
BENCH = os.path.join(build, "tests", "handshake_bench")
MODES = [("tls13-cert", "TLS 1.3, ECDSA P-256 server certificate"),
         ("tls12-cert", "TLS 1.2, ECDHE-ECDSA"),
         ("tls13-psk", "TLS 1.3, PSK (psk_dhe_ke)"),
         ("tls12-psk", "TLS 1.2, ECDHE-PSK-AES128-CBC-SHA256")]

print("| transport | handshakes + one RETRIEVE per second |")
print("|---|---|")
with Cse(psk="bench@x:%s:CAdmin" % KEY, log_level="warn") as cse:
    for mode, label in MODES:
        out = subprocess.run([BENCH, "--port", str(cse.https_port), "--mode", mode, "--ca", cse.tls_ca,
                              "--psk", "bench@x:" + KEY, "--seconds", seconds],
                             capture_output=True, text=True, timeout=120).stdout
        rate = out.split("=")[-1].split("/s")[0].strip() if "=" in out else "failed"
        print("| %s | %s |" % (label, rate))
