"""The credential store on PostgreSQL never holds up the event loop
(docs/scale-out.md "Failure modes", cred_pg.c): on a private PostgreSQL
server (pg_server.py), while the front-end's read of the trusted CAs after a
change waits for a table lock, and while its reconnection waits for a
database that does not answer (its postmaster stopped), the front-end goes
on answering HTTP and HTTPS; each is proved in flight when the answer comes
(the statement waiting on the lock in pg_locks; the connection attempt
pending in the server's accept queue, its connect_timeout 30 s away). The
blocking code these replaced fails both checks (the CA read waited in the
TLS handshake, the connection attempt in the loop)."""
import os, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl, wait_for
import pg_server

t = Tap()
srv = pg_server.server()
db = srv.new_database()
# connect_timeout from the URI wins over the front-end's 3 s: an attempt at
# a stopped server stays in flight while the loop is checked.
uri = srv.uri(db) + "&connect_timeout=30"


def q(sql):
    return srv.psql(sql, db=db).strip()


def waiting_on(table):
    """Sessions of the front-end's credential store waiting for a lock on table."""
    return int(q("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted"
                 " AND l.relation = '%s'::regclass AND a.application_name = 'ironbark-credentials'" % table) or 0)


def health(fe):
    return curl("GET", "http://127.0.0.1:%d/__health__" % fe.port, timeout=5).status == 200


def health_https(fe):
    return curl("GET", "https://localhost:%d/__health__" % fe.https_port, timeout=5,
                extra=fe.https_curl_options()).status == 200


def pending_connections():
    """Connections queued at the server's listening Unix socket (ss: Recv-Q of a listener)."""
    path = os.path.join(srv.dir, ".s.PGSQL.%d" % srv.port)
    out = subprocess.run(["ss", "-xlnH"], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[4] == path:
            return int(f[2])
    return 0


with Cse(db=uri) as fe:
    t.ok(health(fe) and health_https(fe), "the front-end answers HTTP and HTTPS")

    # --- the CA list read after a change waits in a fiber --------------------------------
    lock = subprocess.Popen([os.path.join(pg_server.PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                             srv.dir, "-p", str(srv.port), "-U", pg_server.USER, "-d", db],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    lock.stdin.write("BEGIN; LOCK TABLE cred_trusted_ca IN ACCESS EXCLUSIVE MODE;\n")
    lock.stdin.flush()
    held = wait_for(lambda: q("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted"
                              " AND relation = 'cred_trusted_ca'::regclass") == "1", seconds=10)
    # The notice a CA change sends (the trigger's form): the front-end reads the CAs again.
    q("""SELECT pg_notify('ironbark_credentials', '["cred_trusted_ca","INSERT",{"name":"probe"}]')""")
    waits = wait_for(lambda: waiting_on("cred_trusted_ca") == 1, seconds=10)
    t.ok(held and waits, "a CA change noticed: the front-end's read of the CAs waits for the table lock")
    answered = health(fe) and health_https(fe)
    still = waiting_on("cred_trusted_ca") == 1
    t.ok(answered and still, "meanwhile the front-end answers HTTP and HTTPS (a TLS handshake checks the CAs) "
         "while that read still waits (answered %s, still waiting %s)" % (answered, still))
    lock.stdin.write("COMMIT;\n")
    lock.stdin.close()
    lock.wait(timeout=10)
    t.ok(wait_for(lambda: waiting_on("cred_trusted_ca") == 0, seconds=10) and health_https(fe),
         "once the lock goes the read ends, and HTTPS serves on")

    # --- reconnecting waits in a fiber ---------------------------------------------------
    q("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ironbark-credentials'")
    with open(os.path.join(srv.data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    os.kill(postmaster, signal.SIGSTOP)   # new connections queue unanswered; live sessions go on
    try:
        attempt = wait_for(lambda: pending_connections() >= 1, seconds=10)
        seen = time.monotonic()
        t.ok(attempt, "the front-end's reconnection attempt is queued at the stopped server")
        answered = health(fe) and health_https(fe)
        log = fe.read_log()
        in_flight = time.monotonic() - seen < 25 and "credentials read again" not in log
        t.ok(answered and in_flight, "meanwhile the front-end answers HTTP and HTTPS, the attempt still in flight "
             "(answered %s, in flight %s)" % (answered, in_flight), log[-600:])
    finally:
        os.kill(postmaster, signal.SIGCONT)
    t.ok(wait_for(lambda: "credentials read again" in fe.read_log(), seconds=20),
         "once the server answers the front-end reconnects and reads the credentials again", fe.read_log()[-600:])
t.done()
