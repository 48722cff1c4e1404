"""CSE registration (issue 15, docs/cse-to-cse.md) with real processes on
loopback: an MN-CSE registers at its IN-CSE over CoAPS with a PSK bound to
its CSE-ID (<remoteCSE> on both sides, poa, cb, cst); an MN-CSE below it
registers over HTTPS with a certificate whose URI SAN is its CSE-ID, and
appears in the first one's dcse at the IN; impersonation is refused (4106,
4107); a clean stop deregisters; a registrar that restarts without its data
is registered at again, and while it is down the MN keeps serving its AEs
and logs the failure once, not per attempt; a registrar that lost the
registration between a check and the UPDATE it led to (a scripted HTTP
registrar) is registered at again, logged once with the reason; a registrar
that answers our CREATE 4117 (already registered) and its UPDATE 4004 (a scripted one) is retried
with back-off, logged once. An IN-CSE with a registrar, and an unusable
public-poa, stop the start with a message (public-poa in
use: test_c2c_ae_contact_list)."""
import contextlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import secure  # noqa: E402
from harness import Cse, Tap, free_port, wait_for, write_private  # noqa: E402

t = Tap()
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
MN_KEY = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
tmp = tempfile.mkdtemp(prefix="c2c-reg-")
key_file = write_private(os.path.join(tmp, "mn.key"), MN_KEY + "\n")
FAST = dict(registration_check=300, registration_retry_max=800, log_level="debug")


def tool(*args):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=30)


def csr(cse, ri, origin="CAdmin"):
    r = cse.get("/~/%s/%s" % (cse.settings["cse_id"], ri), origin=origin)
    return r.rsc, ((r.json or {}).get("m2m:csr") or {})


def registrar(port_settings=None, data_dir=None):
    return Cse(data_dir=data_dir, cse_id="id-in", cse_name="cse-in",
               psk=["mn-key:%s:/id-mn" % MN_KEY], **(port_settings or {}))


def mn_of(inn):
    return Cse(cse_id="id-mn", cse_name="cse-mn", cse_type=2, registrar="coaps://127.0.0.1:%d" % inn.coaps_port,
               registrar_csi="/id-in", outbound_psk="127.0.0.1:%d=mn-key" % inn.coaps_port,
               psk=["mn-key:%s:/id-in" % MN_KEY], **FAST)


class ScriptedRegistrar(http.server.BaseHTTPRequestHandler):
    """An HTTP registrar "/id-in" whose answers a subclass scripts."""
    protocol_version = "HTTP/1.1"

    def answer(self, rsc, status, key=None, value=None):
        harness.m2m_answer(self, rsc, status, json.dumps({key: value}).encode() if key else b"")

    def log_message(self, *args):
        pass


class LosingRegistrar(ScriptedRegistrar):
    """Keeps the <remoteCSE> it was sent, shows the first check a changed poa
    and answers the UPDATE that follows 4004, as a registrar that lost the
    registration meanwhile would."""
    seen = []       # (method, path)
    csr = None
    checks = 0

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(n)).get("m2m:csr") if n else None
        cls = LosingRegistrar
        cls.seen.append((self.command, self.path))
        if self.path == "/~/id-in/id-in" and self.command == "GET":
            return self.answer(2000, 200, "m2m:cb", {"rn": "cse-in", "csi": "/id-in", "cst": 1, "srv": ["3"]})
        if self.path == "/~/id-in/id-in" and self.command == "POST":
            cls.csr = sent
            return self.answer(2001, 201, "m2m:csr", sent)
        if self.command == "GET":
            cls.checks += 1
            return self.answer(2000, 200, "m2m:csr", dict(cls.csr, poa=["http://gone.invalid"]) if cls.checks == 1
                               else cls.csr)
        if self.command == "PUT" and cls.checks == 1:
            return self.answer(4004, 404)
        cls.csr.update(sent or {})
        return self.answer(2004, 200, "m2m:csr", cls.csr)

    do_GET = do_POST = do_PUT = do_DELETE = handle_one


class ContradictingRegistrar(ScriptedRegistrar):
    """Answers every CREATE 4117 (registered) and every UPDATE 4004 (unknown),
    as a registrar with a stale index would."""
    seen = []       # methods

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        ContradictingRegistrar.seen.append(self.command)
        if self.command == "POST":
            return self.answer(4117, 403)
        if self.command == "PUT":
            return self.answer(4004, 404)
        return self.answer(2000, 200, "m2m:cb", {"rn": "cse-in", "csi": "/id-in", "cst": 1, "srv": ["3"]})

    do_GET = do_POST = do_PUT = do_DELETE = handle_one


@contextlib.contextmanager
def registered_at(handler, cse_id):
    """An MN (cse_id) started against a scripted registrar on loopback."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    mn_ = Cse(cse_id=cse_id, cse_type=2, registrar="http://127.0.0.1:%d" % srv.server_address[1],
              registrar_csi="/id-in", **FAST)
    try:
        mn_.start()
        yield mn_
    finally:
        mn_.__exit__(None)
        srv.shutdown()
        srv.server_close()


def reregistration_is_logged():
    seen = LosingRegistrar.seen
    with registered_at(LosingRegistrar, "id-mn3") as mn3:
        flow = [("GET", "/~/id-in/id-mn3"), ("PUT", "/~/id-in/id-mn3"), ("POST", "/~/id-in/id-in"),
                ("GET", "/~/id-in/id-in")]   # check, UPDATE (4004), CREATE, the registrar's CSEBase
        t.ok(wait_for(lambda: any(seen[i:i + 4] == flow for i in range(len(seen))), seconds=10),
             "check, UPDATE answered 4004: the MN registers again", seen)
        lines = [ln for ln in mn3.read_log().splitlines() if "registering again" in ln]
        t.ok(len(lines) == 1 and " info " in lines[0] and "no longer knows /id-mn3" in lines[0]
             and "UPDATE answered 4004" in lines[0], "... logged once at info, with the reason", lines)


def contradiction_backs_off():
    with registered_at(ContradictingRegistrar, "id-mn4") as mn4:
        time.sleep(3)
        # Without back-off this is thousands of CREATE/UPDATE pairs; with it
        # (500 ms doubling to 800 ms) about a dozen requests.
        sent = list(ContradictingRegistrar.seen)
        t.ok(sent.count("POST") >= 3 and len(sent) < 20,
             "CREATE 4117, UPDATE 4004 again and again: the MN keeps trying, with back-off", (len(sent), sent[:12]))
        log = mn4.read_log().splitlines()
        again = [ln for ln in log if "registering again" in ln]
        warned = [ln for ln in log if "registration at /id-in" in ln and "failed" in ln]
        t.ok(len(again) == 1 and len(warned) == 1 and " warn " in warned[0] and "update failed: 4004" in warned[0]
             and "answered 4117" in warned[0], "... logged once, not per round, with both answers", again + warned)


reregistration_is_logged()
contradiction_backs_off()
bad = Cse(cse_id="id-bad", registrar="coaps://127.0.0.1:9")
try:
    bad.start()
    t.ok(False, "a registrar without registrar-csi stops the start")
except RuntimeError as e:
    t.ok("needs registrar-csi" in str(e), "a registrar without registrar-csi stops the start, saying why", str(e)[-300:])
bad.stop()
shutil.rmtree(bad.data_dir, ignore_errors=True)
for settings, why, says in (
        (dict(cse_id="id-in2", registrar="coaps://127.0.0.1:9", registrar_csi="/id-x"),
         "an IN-CSE (cse-type 1) with a registrar", "an IN-CSE (cse-type 1) registers nowhere"),
        (dict(cse_id="id-pp", public_poa=["http://127.0.0.1:8080", "ftp://gw.example"]),
         "a public-poa that is no http(s)/coap(s) URL", "public-poa 'ftp://gw.example'"),
        (dict(cse_id="id-pp", public_poa="http://:8080"), "a public-poa without a host", "public-poa 'http://:8080'")):
    bad = Cse(**settings)
    try:
        bad.start()
        t.ok(False, why + " stops the start")
    except RuntimeError as e:
        t.ok(says in str(e), why + " stops the start, saying why", str(e)[-300:])
    bad.stop()
    shutil.rmtree(bad.data_dir, ignore_errors=True)

inn = registrar()
inn.start()
mn = mn_of(inn)
mn.start()
mn2 = None
try:
    # --- PSK over CoAPS -------------------------------------------------------
    t.ok(wait_for(lambda: csr(inn, "id-mn")[0] == 2000), "the MN registered at the IN over CoAPS with its PSK",
         mn.read_log()[-2000:])
    rsc, at_in = csr(inn, "id-mn")
    t.eq((at_in.get("csi"), at_in.get("cb"), at_in.get("cst"), at_in.get("rr")), ("/id-mn", "/id-mn/cse-mn", 2, True),
         "the IN's <remoteCSE> for the MN: csi, cb, cst, rr")
    t.ok("http://127.0.0.1:%d" % mn.port in (at_in.get("poa") or []), "its poa names the MN's listeners",
         at_in.get("poa"))
    t.ok(wait_for(lambda: csr(mn, "id-in")[0] == 2000), "the MN keeps a <remoteCSE> for its registrar")
    rsc, at_mn = csr(mn, "id-in")
    t.eq((at_mn.get("csi"), at_mn.get("cb"), (at_mn.get("poa") or [None])[0]),
         ("/id-in", "/id-in/cse-in", "coaps://127.0.0.1:%d" % inn.coaps_port),
         "... with the registrar's csi, cb and first the URL it is reached by")
    t.ok("http://127.0.0.1:%d" % inn.port in (at_mn.get("poa") or []), "... and the poa from the IN's CSEBase")
    out = tool("--url", inn.base, "csr", "list")
    t.ok(out.returncode == 0 and "/id-mn" in out.stdout and "MN" in out.stdout, "m2m csr list at the IN shows the MN",
         out.stdout + out.stderr)

    # --- impersonation --------------------------------------------------------
    coaps = "coaps://127.0.0.1:%d" % inn.coaps_port
    body = '{"m2m:csr":{"csi":"%s","cb":"%s/cse-x","rr":true,"srv":["3"]}}'
    as_mn = ["--url", coaps, "--psk-id", "mn-key", "--psk-key-file", key_file, "--handshake-timeout", "1500"]
    out = tool(*as_mn, "--from", "/id-mn", "retrieve", "cse-in")
    t.ok("RSC 2000" in out.stdout, "the registered MN may retrieve the IN's CSEBase", out.stdout + out.stderr)
    t.rsc(inn.get("/cse-in", origin="/id-zz"), 4103, 403, "an unregistered CSE may not")
    out = tool(*as_mn, "--from", "/id-mn", "create", "cse-in", "--ty", "16", "--body", body % ("/id-other", "/id-other"))
    t.ok("RSC 4106" in out.stdout, "the MN's credential cannot register another CSE-ID (4106)", out.stdout + out.stderr)
    out = tool(*as_mn, "--from", "/id-other", "create", "cse-in", "--ty", "16", "--body", body % ("/id-other", "/id-other"))
    t.ok("RSC 4106" in out.stdout, "... nor speak as that CSE (4106)", out.stdout + out.stderr)
    r = inn.create("/cse-in", 16, {"m2m:csr": {"csi": "/id-other", "cb": "/id-other/x", "rr": True, "srv": ["3"]}},
                   origin="/id-other")
    t.rsc(r, 4107, 403, "unauthenticated, a CSE cannot register at all (4107)")
    t.eq(csr(inn, "id-other")[0], 4004, "no <remoteCSE> for /id-other exists")
    r = inn.create("/cse-in", 16, {"m2m:csr": {"csi": "/id-static", "cb": "/id-static/cse-s", "rr": True,
                                               "srv": ["3"], "poa": ["http://127.0.0.1:9"]}})
    t.rsc(r, 2001, 201, "the admin still adds a static peer")
    out = tool("--url", inn.base, "csr", "add", "/id-peer", "http://127.0.0.1:9")
    t.ok(out.returncode == 0 and "RSC 2001" in out.stdout and csr(inn, "id-peer")[1].get("poa") == ["http://127.0.0.1:9"],
         "m2m csr add: static peering from the command line", out.stdout + out.stderr)
    out = tool("--url", inn.base, "csr", "rm", "/id-peer")
    t.ok(out.returncode == 0 and csr(inn, "id-peer")[0] == 4004, "m2m csr rm removes it", out.stdout + out.stderr)

    # --- certificates over HTTPS, and dcse ----------------------------------------
    cert = secure.make_client_cert(tmp, "mn2", "/id-mn2", (mn.tls_ca, os.path.join(mn.data_dir, "tls", "ca.key")))
    mn2 = Cse(cse_id="id-mn2", cse_name="cse-mn2", cse_type=3, registrar="https://127.0.0.1:%d" % mn.https_port,
              registrar_csi="/id-mn", trusted_ca=mn.tls_ca, outbound_cert=cert[0], outbound_key=cert[1], **FAST)
    mn2.start()
    t.ok(wait_for(lambda: csr(mn, "id-mn2")[0] == 2000), "an ASN-CSE registered at the MN over HTTPS with its certificate",
         mn2.read_log()[-2000:])
    t.ok(wait_for(lambda: "/id-mn2" in (csr(inn, "id-mn")[1].get("dcse") or [])),
         "the MN told the IN of its descendant (dcse)", csr(inn, "id-mn")[1])

    # --- clean stop deregisters; a start registers again ---------------------------------
    t.eq(mn2.stop(), 0, "the ASN-CSE stops cleanly (exit 0)")
    t.eq(csr(mn, "id-mn2")[0], 4004, "a clean stop deregistered the ASN-CSE at once")
    t.ok(wait_for(lambda: not csr(inn, "id-mn")[1].get("dcse")), "... and the MN's dcse at the IN followed")
    mn2.start()
    t.ok(wait_for(lambda: csr(mn, "id-mn2")[0] == 2000), "its restart registered it again")
    # Killed, it cannot deregister; back on other ports, its CREATE meets 4117 and it updates its poa.
    mn2.kill9()
    mn2 = Cse(data_dir=mn2.data_dir, cse_id="id-mn2", cse_name="cse-mn2", cse_type=3,
              registrar="https://127.0.0.1:%d" % mn.https_port, registrar_csi="/id-mn", trusted_ca=mn.tls_ca,
              outbound_cert=cert[0], outbound_key=cert[1], **FAST)
    mn2.own_dir = True
    mn2.start()
    t.ok(wait_for(lambda: "http://127.0.0.1:%d" % mn2.port in (csr(mn, "id-mn2")[1].get("poa") or [])),
         "killed and restarted on new ports: still registered, its poa updated", csr(mn, "id-mn2")[1])

    # --- the registrar down, and back without its data ---------------------------------
    ports = dict(http_port=inn.port, coap_port=inn.coap_port, coaps_port=inn.coaps_port, https_port=inn.https_port)
    t.eq(inn.stop(), 0, "the IN stops cleanly")
    shutil.rmtree(inn.data_dir, ignore_errors=True)
    r = mn.create("/cse-mn", 2, {"m2m:ae": {"rn": "meter", "api": "Nmeter", "rr": False, "srv": ["3"]}},
                  origin="Cmeter")
    t.rsc(r, 2001, 201, "with its registrar down, the MN still serves its AEs")
    time.sleep(3)   # several attempts with back-off
    warnings = [ln for ln in mn.read_log().splitlines() if "registration at /id-in" in ln and "failed" in ln]
    t.ok(1 <= len(warnings) <= 3, "the failure is logged once per change, not per attempt", warnings)
    inn = registrar(ports)
    inn.start()
    t.ok(wait_for(lambda: csr(inn, "id-mn")[0] == 2000, seconds=15),
         "the registrar back with an empty store: the MN registered again", mn.read_log()[-1500:])
    t.ok(wait_for(lambda: "/id-mn2" in (csr(inn, "id-mn")[1].get("dcse") or [])), "... with its dcse")

    t.eq(mn.stop(), 0, "the MN stops cleanly, deregistering")
    t.eq(csr(inn, "id-mn")[0], 4004, "the MN's clean stop deregistered it at the IN")
    t.ok(MN_KEY not in mn.read_log() + inn.read_log(), "no key in any log")
finally:
    for c in (mn2, mn, inn):
        if c:
            c.__exit__(None)
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
