"""The transport module (docs/architecture.md): an HTTP-only CSE maps no TLS
or CoAP library and opens no credential store; the first coap:// notification
loads ironbark-transports.so and is delivered; a CSE that needs the module
and cannot load it stops with exit 1 and a message naming the file and the
setting."""
import os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, CSE_BIN, admin_flags
import pg_server
from notify_receiver import CoapReceiver, sgn

TLS_LIBS = ("libssl.so", "libcrypto.so", "libwolfssl", "libcoap", "ironbark-transports")


def mapped(cse):
    with open("/proc/%d/maps" % cse.proc.pid) as f:
        return {l.split()[-1] for l in f if "/" in l}


def has(maps, name):
    return any(name in os.path.basename(m) for m in maps)


t = Tap()
rx = CoapReceiver().start()
d = tempfile.mkdtemp(prefix="ironbark-test-")
try:
    # SQLite, whatever the suite's store: a PostgreSQL db loads libpq, which
    # brings OpenSSL (docs/architecture.md, The transport module).
    with Cse(data_dir=d, db=os.path.join(d, "cse.db"), https_port=0, coap_port=0, coaps_port=0) as cse:
        maps = mapped(cse)
        t.ok(not any(has(maps, n) for n in TLS_LIBS), "HTTP-only: no TLS/CoAP library mapped",
             sorted(m for m in maps if any(n in m for n in TLS_LIBS)))
        t.ok(not os.path.exists(os.path.join(cse.data_dir, "credentials.db")),
             "HTTP-only without psk/trusted-ca: no credential store opened")
        t.eq(cse.get("/cse-in").status, 200, "HTTP serves")

        cse.register_ae("mon", origin="Cmon")
        r = cse.create("/cse-in/mon", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url]}}, origin="Cmon")
        t.rsc(r, 2001, 201, "a coap:// subscription is verified from an HTTP-only CSE")
        reqs = rx.snapshot()
        t.ok(reqs and sgn(reqs[0]["body"]).get("vrq") is True, "the verification arrived over CoAP")
        maps = mapped(cse)
        t.ok(has(maps, "ironbark-transports") and has(maps, "libcoap"),
             "the first coap:// delivery loaded the transport module")
        t.eq(cse.stop(), 0, "clean shutdown after lazy loading")

    with Cse(https_port=0, coap_port=0, coaps_port=0,
             psk="dev1:00112233445566778899aabbccddeeff:Cdev1") as cse:
        # With a PostgreSQL db the credentials are in the database, not in credentials.db.
        t.ok(os.path.exists(os.path.join(cse.data_dir, "credentials.db")) != pg_server.enabled(),
             "HTTP-only with a configured psk: the store is opened and provisioned")
        out = subprocess.run([CSE_BIN, "credentials", *admin_flags(cse.data_dir), "list"],
                             capture_output=True, text=True, timeout=10)
        t.ok("dev1" in out.stdout, "the credentials CLI lists it", out.stdout + out.stderr)

    with Cse(coap_port=0, coaps_port=0) as cse:
        t.ok(has(mapped(cse), "ironbark-transports"), "HTTPS on: the module is loaded at start")

    with Cse(https_port=0, coap_port=0, coaps_port=0, transport_module="/nonexistent/m.so") as cse:
        cse.register_ae("mon", origin="Cmon")
        r = cse.create("/cse-in/mon", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url]}}, origin="Cmon")
        t.rsc(r, 5204, 500, "module missing at the first coap:// delivery: verification fails 5204")
        t.ok("/nonexistent/m.so (setting transport-module)" in cse.read_log(),
             "and the log names the file and the setting")
        t.eq(cse.get("/cse-in").status, 200, "the CSE keeps serving")

    d = tempfile.mkdtemp(prefix="ironbark-test-")
    missing = os.path.join(d, "nope.so")
    p = subprocess.run([CSE_BIN, "--http-port", "0", "--https-port", "0", "--coaps-port", "0",
                        "--coap-port", "1", "--data-dir", d, "--transport-module", missing],
                       capture_output=True, text=True, timeout=10)
    t.eq(p.returncode, 1, "module needed but missing: exit 1")
    t.ok(missing in p.stderr and "transport-module" in p.stderr,
         "the error names the file and the setting", p.stderr)
finally:
    rx.stop()
    shutil.rmtree(d, ignore_errors=True)
t.done()
