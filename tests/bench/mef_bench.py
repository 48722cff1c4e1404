#!/usr/bin/env python3
"""Enrolments per second at a fresh m2m-mef (docs/performance.md, "Enrolment"):
each device runs `m2m enrol` (PSK bootstrap over HTTPS: MEF handshake, Client
Registration, Key Registration, Kpsa derived), then the CSE's side of it, a
/fetchCredentials over CoAPS, then EST: a P-256 CSR (`openssl req`, not timed)
sent to /simpleenroll over TLS-PSK with `openssl s_client` (timed). Sequential,
one process per step (the cost a device and a CSE see, tool start-up
included). Bounded: N devices.
Usage: tests/bench/mef_bench.py [build-dir] [devices]"""
import base64, os, subprocess, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build"))
devices = int(sys.argv[2]) if len(sys.argv) > 2 else 50
from harness import Cse, write_private

TOOL = os.path.join(build, "m2m")
FETCH = "ffeeddccbbaa99887766554433221100"


class Mef(Cse):
    def __init__(self, **kw):
        super().__init__(coap_port=0, **kw)

    def args(self):
        return [os.path.join(build, "m2m-mef")] + super().args()[1:]


work = tempfile.mkdtemp(prefix="mef-bench-")
keys = ["%032x" % (0x1000 + i) for i in range(devices)]
psk = ["kpm-%d:%s:Cdev%d" % (i, k, i) for i, k in enumerate(keys)] + ["cse-fetch:%s:/id-in" % FETCH]
fetch_file = write_private(os.path.join(work, "fetch.key"), FETCH)
with Mef(psk=psk) as mef:
    enrol_s = fetch_s = est_s = 0.0
    for i, k in enumerate(keys):
        kf = write_private(os.path.join(work, "kpm%d.key" % i), k)
        t0 = time.time()
        r = subprocess.run([TOOL, "enrol", "--mef", "https://127.0.0.1:%d" % mef.https_port, "--psk-id", "kpm-%d" % i,
                            "--psk-key-file", kf, "--from", "Cdev%d" % i, "--target", "/id-in",
                            "--file", os.path.join(work, "d%d.key" % i)], capture_output=True, text=True, timeout=60)
        t1 = time.time()
        keid = r.stdout.split("KeID ")[1].split(",")[0] if "KeID " in r.stdout else "x"
        f = subprocess.run([TOOL, "--url", "coaps://127.0.0.1:%d" % mef.coaps_port, "--psk-id", "cse-fetch",
                            "--psk-key-file", fetch_file, "--from", "/id-in", "retrieve",
                            "fetchCredentials/%s/22" % keid], capture_output=True, text=True, timeout=60)
        t2 = time.time()
        if r.returncode or "RSC 2000" not in f.stdout:
            sys.exit("device %d failed: %s %s" % (i, r.stderr, f.stdout))
        enrol_s += t1 - t0
        fetch_s += t2 - t1
        key = os.path.join(work, "c%d.key" % i)
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
                       check=True, capture_output=True)
        cnf = os.path.join(work, "c%d.cnf" % i)
        with open(cnf, "w") as fh:
            fh.write("[req]\nprompt=no\ndistinguished_name=dn\nattributes=a\nreq_extensions=e\n[dn]\nCN=d%d\n"
                     "[a]\nchallengePassword=%s\n[e]\nsubjectAltName=URI:Cdev%d\n" % (i, keid, i))
        body = base64.b64encode(subprocess.run(["openssl", "req", "-new", "-key", key, "-config", cnf, "-outform", "DER"],
                                               check=True, capture_output=True).stdout).decode()
        req = ("POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/pkcs10\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)).encode()
        t3 = time.time()
        e = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % mef.https_port, "-psk_identity",
                            "kpm-%d" % i, "-psk", k, "-tls1_3", "-ign_eof", "-quiet"], input=req, capture_output=True,
                           timeout=60)
        est_s += time.time() - t3
        if not e.stdout.startswith(b"HTTP/1.1 200"):
            sys.exit("device %d: EST failed: %s" % (i, e.stdout[:200]))
print("| step | per second | ms each |")
print("|---|---|---|")
print("| PSK bootstrap + Client and Key Registration (`m2m enrol`, HTTPS) | %.1f | %.1f |" % (devices / enrol_s, 1000 * enrol_s / devices))
print("| key fetch by the CSE (`/fetchCredentials`, CoAPS) | %.1f | %.1f |" % (devices / fetch_s, 1000 * fetch_s / devices))
print("| both | %.1f | %.1f |" % (devices / (enrol_s + fetch_s), 1000 * (enrol_s + fetch_s) / devices))
print("| EST simpleenroll, P-256 CSR (`openssl s_client`, TLS 1.3 PSK) | %.1f | %.1f |" % (devices / est_s, 1000 * est_s / devices))
