#!/usr/bin/env python3
"""Runs handshake_bench against a fresh m2m-cse for each TLS mode and prints a
markdown table (docs/performance.md, "Secure transports"). Bounded: a few
seconds per mode. Usage: tests/bench/handshake_bench.py [build-dir] [seconds]"""
import os, shutil, subprocess, sys, tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build"))
seconds = sys.argv[2] if len(sys.argv) > 2 else "3"
os.environ.setdefault("M2M_CSE", os.path.join(build, "m2m-cse"))
from harness import Cse
import secure

KEY = "00112233445566778899aabbccddeeff"
BENCH = os.path.join(build, "tests", "handshake_bench")
DTLS_BENCH = os.path.join(build, "tests", "handshake_bench_dtls")
DTLS_SECRET = "bench-secret"
MODES = [("tls13-cert", "TLS 1.3, ECDSA P-256 server certificate"),
         ("tls12-cert", "TLS 1.2, ECDHE-ECDSA"),
         ("tls13-psk", "TLS 1.3, PSK (psk_dhe_ke)"),
         ("tls12-psk", "TLS 1.2, ECDHE-PSK-AES128-CBC-SHA256")]



def rate(cmd, env=None):
    """Keys reach the benchmarks through the environment, never argv."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, **(env or {}))).stdout
    return out.split("=")[-1].split("/s")[0].strip() if "=" in out else "failed"


print("| transport | handshakes + one RETRIEVE per second |")
print("|---|---|")
certs = tempfile.mkdtemp(prefix="ironbark-bench-")
psks = ["bench@x:%s:CAdmin" % KEY, "dbench@x:%s:CAdmin" % DTLS_SECRET.encode().hex()]
with Cse(psk=psks) as cse:
    for mode, label in MODES:
        print("| %s | %s |" % (label, rate([BENCH, "--port", str(cse.https_port), "--mode", mode, "--ca",
                                             cse.tls_ca, "--psk-id", "bench@x", "--seconds", seconds],
                                            env={"M2M_PSK_KEY": KEY})))
    print("| DTLS 1.2, PSK-AES128-CCM8 | %s |" % rate(
        [DTLS_BENCH, "--port", str(cse.coaps_port), "--mode", "dtls-psk", "--psk-id", "dbench@x",
         "--seconds", seconds], env={"M2M_PSK_KEY": DTLS_SECRET.encode().hex()}))
    own_ca = (cse.tls_ca, os.path.join(cse.data_dir, "tls", "ca.key"))
    cert, key = secure.make_client_cert(certs, "bench", "CAdmin", own_ca)
    print("| DTLS 1.2, ECDHE-ECDSA-AES128-CCM8 (client certificate) | %s |" % rate(
        [DTLS_BENCH, "--port", str(cse.coaps_port), "--mode", "dtls-cert", "--ca", cse.tls_ca, "--cert", cert,
         "--key", key, "--seconds", seconds]))
shutil.rmtree(certs, ignore_errors=True)
