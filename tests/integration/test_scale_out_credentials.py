"""Credentials shared by several front-ends on one PostgreSQL database
(docs/scale-out.md, docs/security.md "The credential store"): a PSK added
with `m2m-cse credentials` through front-end A's settings lets a client
handshake with front-end B within the bound; removing it makes B refuse new
handshakes and end B's live session within the bound, also when it was
removed while B's connection was cut (B reads everything again); a trusted CA added
through A is honoured by B's HTTPS and CoAPS (DTLS) listeners within the
bound, and no longer once removed; a
front-end whose credentials-root.key differs refuses to start; no key is
in the database in the clear."""
import os, shutil, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import CSE_BIN, Cse, Tap, within
from coap_peer import coap_client
import pg_server
import secure

t = Tap()
BOUND_S = 2.0   # a change is followed within one loop round of its notice (docs/scale-out.md)
PSK_ID = "meter-key@sp.example.com"
PSK_KEY = "8f14e45fceea167a5a36dedd4bea2543"
ORIGIN = "Cmeter1"


def admin(fe, uri, *words, stdin=""):
    """`m2m-cse credentials` run against front-end fe's data directory and the shared database."""
    return subprocess.run([CSE_BIN, "credentials", "--data-dir", fe.data_dir, "--db", uri] + list(words),
                          input=stdin, capture_output=True, text=True, timeout=30)


def handshake(fe):
    """True when B (fe) accepts the PSK handshake (any HTTP answer came)."""
    return secure.psk_request(fe.https_port, PSK_ID, PSK_KEY, "GET", "/cse-in", ORIGIN).status != -1


def live_session(fe):
    """openssl s_client holding one PSK session open on fe after one answered request."""
    return secure.psk_session(fe.https_port, PSK_ID, PSK_KEY, ORIGIN)


def ends(sess):
    """True when the server ended the s_client session within the bound."""
    try:
        sess.wait(timeout=BOUND_S)
        return True
    except subprocess.TimeoutExpired:
        sess.kill()
        sess.wait()
        return False


pg = pg_server.server()
db = pg.new_database()
uri = pg.uri(db)
a = Cse(db=uri).start()
bdir = tempfile.mkdtemp(prefix="ironbark-test-")
# Every front-end needs the first one's root key (docs/security.md).
shutil.copy2(os.path.join(a.data_dir, "credentials-root.key"), os.path.join(bdir, "credentials-root.key"))
b = Cse(data_dir=bdir, db=uri).start()
try:
    t.ok(not handshake(b), "before: B refuses the unknown PSK identity")

    # --- a PSK added through A's settings is accepted by B within the bound ---
    r = admin(a, uri, "add-psk", stdin="%s:%s:%s\n" % (PSK_ID, PSK_KEY, ORIGIN))
    t.ok(r.returncode == 0, "credentials add-psk into the shared database", r.stderr)
    took = within(lambda: handshake(b), BOUND_S + 5)
    t.ok(took is not None and took < BOUND_S, "B accepts the PSK added through A within %.0f s (took %s s)"
         % (BOUND_S, None if took is None else round(took, 2)))
    t.ok(handshake(a), "A accepts it too")
    listed = admin(b, uri, "list").stdout
    t.ok("psk %s -> %s" % (PSK_ID, ORIGIN) in listed, "credentials list through B's settings shows it", listed)

    # --- keys are not in the database in the clear ---
    dump = pg.psql("SELECT identity, encode(key, 'hex') FROM cred_psk", db=db)
    t.ok(PSK_ID in dump and PSK_KEY not in dump.lower(), "cred_psk holds the identity, not the key", dump)
    everything = subprocess.run([os.path.join(pg_server.PG_BIN, "pg_dump"), "-h", pg.dir, "-p", str(pg.port),
                                 "-U", pg_server.USER, "-d", db, "--data-only"],
                                capture_output=True, text=True, timeout=60).stdout
    t.ok("cred_psk" in everything and PSK_KEY not in everything.lower(),
         "a dump of the whole database holds no key bytes in hex", everything[-500:])

    # --- removing it through A: B refuses new handshakes and ends B's live session ---
    sess, answered = live_session(b)
    t.ok(answered, "a PSK session on B answers")
    r = admin(a, uri, "remove-psk", PSK_ID)
    t.ok(r.returncode == 0, "credentials remove-psk from the shared database", r.stderr)
    took = within(lambda: not handshake(b), BOUND_S + 5)
    t.ok(took is not None and took < BOUND_S, "B refuses the removed PSK within %.0f s (took %s s)"
         % (BOUND_S, None if took is None else round(took, 2)))
    t.ok(ends(sess), "B's live session of the removed PSK was ended within %.0f s" % BOUND_S)
    t.ok("closed 1 HTTPS connection of the withdrawn credential 12-%s" % PSK_ID in b.read_log(),
         "B logs the session it ended", b.read_log()[-800:])

    # --- a lost connection: B reads everything again and misses no removal ---
    r = admin(a, uri, "add-psk", stdin="%s:%s:%s\n" % (PSK_ID, PSK_KEY, ORIGIN))
    t.ok(r.returncode == 0 and within(lambda: handshake(b), BOUND_S + 5) is not None, "the PSK is back at B", r.stderr)
    sess, answered = live_session(b)
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ironbark-credentials'",
            db=db)
    r = admin(a, uri, "remove-psk", PSK_ID)   # while the front-ends' connections are down: no notice reaches B
    took = within(lambda: not handshake(b), BOUND_S + 5)
    t.ok(r.returncode == 0 and took is not None and took < BOUND_S + 1,
         "after its connection was cut B reconnects, reads the credentials again and refuses the key removed "
         "meanwhile within one retry (1 s) plus the bound (took %s s)" % (None if took is None else round(took, 2)))
    t.ok(answered and ends(sess) and "credentials read again" in b.read_log(), "and ends the session made with it", b.read_log()[-600:])

    # --- a trusted CA added through A is honoured by B ---
    certs = tempfile.mkdtemp(prefix="ironbark-certs-")
    ca = secure.make_ca(certs, "shared-ca")
    client = secure.make_client_cert(certs, "client1", "Cclient1", ca)
    with_cert = dict(base=b.https_base, curl_extra=b.https_curl_options() + ["--cert", client[0], "--key", client[1]])
    t.eq(b.get("/cse-in", origin="Cclient1", **with_cert).status, -1, "before: B refuses the unknown CA's certificate")
    # CoAPS too: the CA list built at start is built again on the change (dtls.c refresh_cas()).
    coaps = lambda: coap_client(b.coaps_port, "cse-in", "get", dict(fr="Cclient1", rqi="ca-%d" % time.time_ns(),
                                                                  rvi="3"), scheme="coaps", timeout=3,
                                extra=["-c", client[0], "-j", client[1], "-C", b.tls_ca]).rsc is not None
    t.ok(not coaps(), "before: B's CoAPS listener refuses it too")
    r = admin(a, uri, "add-ca", "shared-ca", ca[0])
    t.ok(r.returncode == 0, "credentials add-ca into the shared database", r.stderr)
    accepted = lambda: b.get("/cse-in", origin="Cclient1", **with_cert).status != -1
    took = within(accepted, BOUND_S + 5)
    t.ok(took is not None and took < BOUND_S, "B accepts a certificate of the CA added through A over HTTPS "
         "within %.0f s, without a restart (took %s s)" % (BOUND_S, None if took is None else round(took, 2)))
    took = within(coaps, BOUND_S + 5)
    t.ok(took is not None and took < BOUND_S, "B's CoAPS listener accepts the certificate of the CA added through A "
         "within %.0f s, without a restart (took %s s)" % (BOUND_S, None if took is None else round(took, 2)))
    t.ok("dtls: trusted CAs reloaded" in b.read_log(), "B logs the reload of its DTLS CA list", b.read_log()[-600:])
    r = admin(a, uri, "remove-ca", "shared-ca")
    took = within(lambda: not accepted(), BOUND_S + 5)
    t.ok(r.returncode == 0 and took is not None and took < BOUND_S,
         "and refuses it within %.0f s once the CA is removed through A" % BOUND_S, r.stderr)
    t.ok(not coaps(), "B's CoAPS listener refuses it too once the CA is removed (no session of it resumes)")

    # --- a front-end with another root key refuses to start, saying why ---
    c = Cse(db=uri)
    try:
        c.start()
        started = True
    except RuntimeError:
        started = False
    log = c.read_log()
    t.ok(not started and "credentials-root.key does not open the keys in the database" in log,
         "a front-end with another credentials-root.key refuses to start, naming the cause", log[-600:])
    c.stop()
    shutil.rmtree(c.data_dir, ignore_errors=True)
finally:
    for name, fe in (("A", a), ("B", b)):
        rc = fe.stop()
        if rc: print("# LOG", name, fe.read_log()[-6000:].replace("\n", "\n# "))
        t.eq(rc, 0, "front-end %s shuts down cleanly (a sanitizer build: no report)" % name)
    shutil.rmtree(bdir, ignore_errors=True)
t.done()
