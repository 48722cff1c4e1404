#!/usr/bin/env python3
"""Runs handshake_bench against a fresh m2m-cse for each (D)TLS mode, with one
client and with several concurrent clients, and prints a markdown table
(docs/performance.md, "Secure transports") next to `openssl speed` figures
taken in the same run, so the rates can be read as ratios of the machine's
elliptic-curve cost. Bounded: a few seconds per row.
Usage: tests/bench/handshake_bench.py [--callgrind] [--only TEXT] [build-dir] [seconds] [clients]
M2M_CSE=/path/to/other/m2m-cse measures another build (e.g. the one before a
change) with this build's clients.
--callgrind runs the CSE under callgrind and prints, per row, the CSE's own
instructions per handshake + RETRIEVE (one client, after a 1 s warm-up of
the same row): a figure that does not depend on the machine's load, unlike
the rates. The HTTPS clients are OpenSSL's
(handshake_bench) except where a row says wolfSSL (handshake_bench_wolfssl).
--only TEXT runs only the rows whose label contains TEXT (e.g. "DTLS").
--keep DIR (with --callgrind) keeps each row's callgrind profile in DIR, named
after the row, for callgrind_annotate. The last row runs on a CSE of its own
that trusts a device CA and checks its (empty) CRL (crl-file), as a deployment
with revocation does."""
import glob, os, re, shutil, subprocess, sys, tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
CALLGRIND = "--callgrind" in sys.argv
argv = [a for a in sys.argv[1:] if a != "--callgrind"]
ONLY = ""
if "--only" in argv:
    i = argv.index("--only")
    ONLY = argv[i + 1]
    del argv[i:i + 2]
KEEP = ""
if "--keep" in argv:
    i = argv.index("--keep")
    KEEP = argv[i + 1]
    del argv[i:i + 2]
build = os.path.abspath(argv[0] if argv else os.path.join(HERE, "..", "..", "build"))
seconds = argv[1] if len(argv) > 1 else "3"
clients = argv[2] if len(argv) > 2 else "4"
os.environ.setdefault("M2M_CSE", os.path.join(build, "m2m-cse"))
from harness import Cse
import secure

KEY = "00112233445566778899aabbccddeeff"
BENCH = os.path.join(build, "tests", "handshake_bench")
WOLF_BENCH = os.path.join(build, "tests", "handshake_bench_wolfssl")
DTLS_BENCH = os.path.join(build, "tests", "handshake_bench_dtls")
DTLS_SECRET = "bench-secret"
# (client, mode, resume, key-exchange group, label). The OpenSSL client
# (handshake_bench) unless a row needs what only wolfSSL's offers: TLS 1.3
# psk_ke alone (OpenSSL 3.0's client always offers psk_dhe_ke too).
MODES = [(BENCH, "tls13-cert", "no", "p256", "TLS 1.3, ECDSA P-256 server certificate"),
         (BENCH, "tls12-cert", "no", "p256", "TLS 1.2, ECDHE-ECDSA"),
         (BENCH, "tls13-psk", "no", "p256", "TLS 1.3, PSK (psk_dhe_ke, P-256)"),
         (BENCH, "tls13-psk", "no", "x25519", "TLS 1.3, PSK (psk_dhe_ke, X25519)"),
         (WOLF_BENCH, "tls13-psk-ke", "no", "p256", "TLS 1.3, PSK without ECDHE (psk_ke; wolfSSL client)"),
         (BENCH, "tls12-psk", "no", "p256", "TLS 1.2, ECDHE-PSK-AES128-CBC-SHA256"),
         (BENCH, "tls12-psk-plain", "no", "p256", "TLS 1.2, PSK-AES128-CBC-SHA256 (0x00AE)"),
         (BENCH, "tls13-cert", "yes", "p256", "TLS 1.3, resumed (ticket, psk_dhe_ke P-256)"),
         (WOLF_BENCH, "tls13-psk-ke", "yes", "p256", "TLS 1.3, resumed (ticket, psk_ke; wolfSSL client)"),
         (BENCH, "tls12-cert", "yes", "p256", "TLS 1.2, resumed (ticket)")]


# The server's elliptic-curve work per handshake, in `openssl speed` units:
# (fixed-base multiplications, priced as an ECDSA sign: key generation or a
# signature; ECDH derivations). TLS 1.3/1.2 with a certificate: ephemeral key
# + derive + the CertificateVerify/ServerKeyExchange signature; ECDHE-PSK and
# psk_dhe_ke: key + derive; X25519 is not in `openssl speed ecdhp256`.
EC_WORK = {("tls13-cert", "no", "p256"): (2, 1), ("tls12-cert", "no", "p256"): (2, 1),
           ("tls13-psk", "no", "p256"): (1, 1), ("tls12-psk", "no", "p256"): (1, 1),
           ("tls13-psk-ke", "no", "p256"): (0, 0), ("tls12-psk-plain", "no", "p256"): (0, 0),
           ("tls13-cert", "yes", "p256"): (1, 1), ("tls13-psk-ke", "yes", "p256"): (0, 0),
           ("tls12-cert", "yes", "p256"): (0, 0)}


def run(cmd, env=None):
    """(rounds, "rate/s" text). Keys reach the benchmarks through the environment, never argv."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, **(env or {}))).stdout
    m = re.search(r"(\d+) handshakes.*\((\d+) failed.*= (\d+)/s", out)
    if not m:
        return 0, "failed"
    return int(m.group(1)), m.group(3) + (" (%s failed)" % m.group(2) if m.group(2) != "0" else "")


def ec_bound(work, sign, ecdh):
    """The EC work's CPU time by `openssl speed`, in µs ("" when unknown)."""
    try:
        return "%.0f" % (1e6 * (work[0] / float(sign) + work[1] / float(ecdh))) if work else ""
    except (ValueError, ZeroDivisionError):
        return ""


class Profiled(Cse):
    """The CSE under callgrind; instructions() counts what it ran since the last call."""
    def __init__(self, **settings):
        super().__init__(**settings)
        self.start_timeout = 120
        self.out = os.path.join(self.data_dir, "callgrind.out")

    def args(self):
        return ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + self.out] + super().args()

    def instructions(self, keep_as=None):
        subprocess.run(["callgrind_control", "-d", str(self.proc.pid)], capture_output=True, timeout=120)
        dumps = sorted(glob.glob(self.out + ".*"), key=os.path.getmtime)
        if keep_as:
            os.makedirs(KEEP, exist_ok=True)
            shutil.copy(dumps[-1], os.path.join(KEEP, re.sub(r"[^A-Za-z0-9.]+", "_", keep_as) + ".callgrind"))
        with open(dumps[-1]) as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith(("summary:", "totals:")))


def cpu_seconds(pid):
    """The process's user + system CPU time so far (clock ticks of /proc, 10 ms)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def speed():
    """ECDSA P-256 signs and verifies, ECDH P-256 derivations per second, one core."""
    out = subprocess.run(["openssl", "speed", "-seconds", "2", "ecdsap256", "ecdhp256"],
                         capture_output=True, text=True, timeout=60).stdout
    sign = verify = ecdh = "?"
    for line in out.splitlines():
        f = line.split()
        if line.strip().startswith("256 bits ecdsa"):
            sign, verify = f[-2], f[-1]
        elif line.strip().startswith("256 bits ecdh"):
            ecdh = f[-1]
    return sign, verify, ecdh


if CALLGRIND:
    print("| transport | CSE instructions per handshake + RETRIEVE (callgrind, 1 client) |")
    print("|---|---|")
else:
    sign, verify, ecdh = speed()
    print("openssl speed (same run, one core): ECDSA P-256 %s sign/s, %s verify/s; ECDH P-256 %s op/s"
          % (sign, verify, ecdh))
    try:
        # The server's EC work in a DTLS 1.2 ECDHE-ECDSA handshake with a client
        # certificate: the ECDHE key (a fixed-base multiplication, counted as a
        # sign), the ECDH derivation, its signature, and two verifications (the
        # client certificate's signature, its CertificateVerify).
        bound = 2 / float(sign) + 1 / float(ecdh) + 2 / float(verify)
        print("crypto bound of a DTLS certificate handshake (2 sign + 1 ECDH + 2 verify): %.0f µs\n" % (bound * 1e6))
    except ValueError:
        print()
    print("| transport | 1 client | %s clients | CSE CPU µs per handshake (%s clients) | EC work by `openssl speed`, µs |"
          % (clients, clients))
    print("|---|---|---|---|---|")
def row(cse, label, cmd, env=None, work=None):
    if ONLY not in label:
        return
    if CALLGRIND:
        # A 1 s warm-up first: a row's first handshakes pay one-time set-up
        # (libcoap's DTLS context, OpenSSL's first fetches) that would
        # otherwise weigh on the few rounds callgrind allows.
        warm = list(cmd)
        warm[warm.index("--seconds") + 1] = "1"
        run(warm + ["--clients", "1"], env)
        cse.instructions()
        rounds, _ = run(cmd + ["--clients", "1"], env)
        used = cse.instructions(label if KEEP else None)
        print("| %s | %s |" % (label, "{:,}".format(used // rounds) if rounds else "failed"), flush=True)
        return
    one = run(cmd + ["--clients", "1"], env)[1]
    before = cpu_seconds(cse.proc.pid)
    rounds, many = run(cmd + ["--clients", clients], env)
    cpu = "%.0f" % (1e6 * (cpu_seconds(cse.proc.pid) - before) / rounds) if rounds else "—"
    print("| %s | %s | %s | %s | %s |" % (label, one, many, cpu, ec_bound(work, sign, ecdh)), flush=True)


def dtls_cert(cse, cert, key, resume):
    return [DTLS_BENCH, "--port", str(cse.coaps_port), "--mode", "dtls-cert", "--ca", cse.tls_ca, "--cert", cert,
            "--key", key, "--seconds", seconds, "--resume", resume]


certs = tempfile.mkdtemp(prefix="ironbark-bench-")
psks = ["bench@x:%s:CAdmin" % KEY, "dbench@x:%s:CAdmin" % DTLS_SECRET.encode().hex()]
with (Profiled if CALLGRIND else Cse)(psk=psks) as cse:
    for client, mode, resume, group, label in MODES:
        row(cse, label, [client, "--port", str(cse.https_port), "--mode", mode, "--ca", cse.tls_ca, "--psk-id",
                         "bench@x", "--seconds", seconds, "--resume", resume, "--group", group],
            {"M2M_PSK_KEY": KEY}, EC_WORK.get((mode, resume, group)))
    own_ca = (cse.tls_ca, os.path.join(cse.data_dir, "tls", "ca.key"))
    cert, key = secure.make_client_cert(certs, "bench", "CAdmin", own_ca)
    for resume, how in (("no", ""), ("yes", ", resumed (session cache)")):
        row(cse, "DTLS 1.2, PSK-AES128-CCM8" + how,
            [DTLS_BENCH, "--port", str(cse.coaps_port), "--mode", "dtls-psk", "--psk-id", "dbench@x",
             "--seconds", seconds, "--resume", resume], {"M2M_PSK_KEY": DTLS_SECRET.encode().hex()})
        row(cse, "DTLS 1.2, ECDHE-ECDSA-AES128-CCM8 (client certificate)" + how, dtls_cert(cse, cert, key, resume))
# A deployment with revocation, on a CSE of its own: a device CA it trusts, whose
# (empty) CRL it checks in every certificate handshake (crl-file).
REVOCATION = "DTLS 1.2, ECDHE-ECDSA-AES128-CCM8 (client certificate), CRL checked"
if ONLY in REVOCATION:
    dev_ca = secure.make_ca(certs, "devca")
    dev_cert, dev_key = secure.make_client_cert(certs, "dev", "CAdmin", dev_ca)
    crl = os.path.join(certs, "crl.pem")
    secure.crl_issuer(certs, dev_ca)("-gencrl", "-out", crl)
    with (Profiled if CALLGRIND else Cse)(trusted_ca=dev_ca[0], crl_file=crl) as cse:
        row(cse, REVOCATION, dtls_cert(cse, dev_cert, dev_key, "no"))
shutil.rmtree(certs, ignore_errors=True)
