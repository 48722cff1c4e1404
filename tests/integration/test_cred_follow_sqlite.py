"""A running CSE on the default SQLite credential store follows the changes
`m2m-cse credentials`, run as another process, makes to it (docs/security.md,
"The admin interface"): a trusted CA added is honoured by the HTTPS and
CoAPS (DTLS) listeners within the bound, without a restart, and no longer once
removed; a PSK added is accepted over TLS-PSK and DTLS-PSK, and once removed
new handshakes fail and the live HTTPS session made with it is ended within
the bound. Under `--setup postgresql` the same holds through LISTEN/NOTIFY."""
import os, select, shutil, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import CSE_BIN, Cse, Tap, admin_flags, within
from coap_peer import coap_client
import secure

t = Tap()
BOUND_S = 3.0   # the file is checked every second (docs/security.md), then the next handshake; room for a loaded machine
PSK_ID = "lamp-key@sp.example.com"
SECRET = "lamp-secret-0001"   # coap-client -k takes the key as text, openssl s_client -psk as hex
PSK_KEY = SECRET.encode().hex()
ORIGIN = "Clamp1"


def admin(cse, *words, stdin=""):
    """`m2m-cse credentials` in its own process, on the running CSE's store."""
    return subprocess.run([CSE_BIN, "credentials"] + admin_flags(cse.data_dir) + list(words),
                          input=stdin, capture_output=True, text=True, timeout=30)


def timely(took):
    return took is not None and took < BOUND_S


def shown(took):
    return "%.0f s (took %s s)" % (BOUND_S, None if took is None else round(took, 2))


cse = Cse().start()
certs = tempfile.mkdtemp(prefix="ironbark-certs-")
try:
    # --- a trusted CA: HTTPS and CoAPS --------------------------------------------------
    ca = secure.make_ca(certs, "device-ca")
    client = secure.make_client_cert(certs, "lamp", "Clamp2", ca)
    with_cert = dict(base=cse.https_base, curl_extra=cse.https_curl_options() + ["--cert", client[0],
                                                                               "--key", client[1]])
    https_cert = lambda: cse.get("/cse-in", origin="Clamp2", **with_cert).status != -1
    coaps_cert = lambda: coap_client(cse.coaps_port, "cse-in", "get",
                                     dict(fr="Clamp2", rqi="ca-%d" % time.time_ns(), rvi="3"), scheme="coaps",
                                     timeout=3, extra=["-c", client[0], "-j", client[1], "-C", cse.tls_ca]
                                     ).rsc is not None
    t.ok(not https_cert(), "before: HTTPS refuses a certificate of an unknown CA")
    t.ok(not coaps_cert(), "before: CoAPS refuses it too")
    r = admin(cse, "add-ca", "device-ca", ca[0])
    t.ok(r.returncode == 0, "credentials add-ca, another process", r.stderr)
    took = within(https_cert, BOUND_S + 5)
    t.ok(timely(took), "HTTPS accepts the new CA's certificate within %s, without a restart" % shown(took))
    took = within(coaps_cert, BOUND_S + 5)
    t.ok(timely(took), "CoAPS accepts it within %s" % shown(took))
    log = cse.read_log()
    t.ok("tls: trusted CAs reloaded" in log and "dtls: trusted CAs reloaded" in log,
         "both listeners log the reload", log[-800:])
    r = admin(cse, "remove-ca", "device-ca")
    t.ok(r.returncode == 0, "credentials remove-ca", r.stderr)
    took = within(lambda: not https_cert(), BOUND_S + 5)
    t.ok(timely(took), "HTTPS refuses the certificate again within %s" % shown(took))
    t.ok(not coaps_cert(), "and so does CoAPS (no session of it resumes)")

    # --- a PSK: TLS-PSK and DTLS-PSK ----------------------------------------------------
    tls_psk = lambda: secure.psk_request(cse.https_port, PSK_ID, PSK_KEY, "GET", "/cse-in", ORIGIN).status != -1
    dtls_psk = lambda: coap_client(cse.coaps_port, "cse-in", "get",
                                   dict(fr=ORIGIN, rqi="psk-%d" % time.time_ns(), rvi="3"), scheme="coaps",
                                   timeout=3, extra=["-k", SECRET, "-u", PSK_ID]).rsc is not None
    t.ok(not tls_psk() and not dtls_psk(), "before: TLS-PSK and DTLS-PSK refuse the unknown identity")
    r = admin(cse, "add-psk", stdin="%s:%s:%s\n" % (PSK_ID, PSK_KEY, ORIGIN))
    t.ok(r.returncode == 0, "credentials add-psk, another process", r.stderr)
    took = within(tls_psk, BOUND_S + 5)
    t.ok(timely(took), "TLS-PSK accepts the added key within %s" % shown(took))
    took = within(dtls_psk, BOUND_S + 5)
    t.ok(timely(took), "DTLS-PSK accepts it within %s" % shown(took))

    sess = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % cse.https_port, "-servername",
                             "localhost", "-psk_identity", PSK_ID, "-psk", PSK_KEY, "-tls1_3", "-quiet"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sess.stdin.write(secure.raw_request("GET", "/cse-in", ORIGIN).replace(b"Connection: close",
                                                                           b"Connection: keep-alive"))
    sess.stdin.flush()
    ready, _, _ = select.select([sess.stdout], [], [], 10)
    t.ok(bool(ready) and sess.stdout.read1(4096).startswith(b"HTTP/1.1"), "a kept-alive TLS-PSK session answers")
    r = admin(cse, "remove-psk", PSK_ID)
    t.ok(r.returncode == 0, "credentials remove-psk, another process", r.stderr)
    took = within(lambda: not tls_psk() and not dtls_psk(), BOUND_S + 5)
    t.ok(timely(took), "TLS-PSK and DTLS-PSK refuse the removed key within %s" % shown(took))
    try:
        sess.wait(timeout=BOUND_S)
        ended = True
    except subprocess.TimeoutExpired:
        sess.kill()
        sess.wait()
        ended = False
    t.ok(ended, "the live session made with the removed key was ended within %.0f s" % BOUND_S)
    t.ok("closed 1 HTTPS connection of the withdrawn credential 12-%s" % PSK_ID in cse.read_log(),
         "the CSE logs the session it ended", cse.read_log()[-800:])
finally:
    rc = cse.stop()
    if rc: print("# LOG", cse.read_log()[-6000:].replace("\n", "\n# "))
    t.eq(rc, 0, "the CSE shuts down cleanly (a sanitizer build: no report)")
    shutil.rmtree(certs, ignore_errors=True)
t.done()
