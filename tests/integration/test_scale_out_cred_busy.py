"""A credential change applied while the credential store is busy
(docs/scale-out.md, *Change notices*; cred_pg.c handed_over): the
front-end's credential connection is held by one console login after
another, each waiting on a lock that a session of the test holds, while
`m2m-cse credentials` removes a PSK. PostgreSQL keeps the notice for the
front-end until its statement ends, so it arrives with the first login's
answer; the second login then holds the connection, waiting on a row. The
front-end applies the removal in between, as the connection passes from
the first login to the second, not at the end of a loop round that finds
the credential store free (none comes while the second login waits): the
PSK's live session ends and a new handshake with it is refused while the
second login still waits."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Background as Bg, CSE_BIN, Cse, Tap, curl, wait_for
import pg_server
import secure

t = Tap()
PSK_ID = "busy-key@sp.example.com"
PSK_KEY = "0f14e45fceea167a5a36dedd4bea2543"
ORIGIN = "Cbusykey"
FIRST, SECOND = "A" * 20, "B" * 20          # login codes (20 characters, console.c)

srv = pg_server.server()
db = srv.new_database()
uri = srv.uri(db)


def q(sql):
    return srv.psql(sql, db=db).strip()


def login_waits():
    """The front-end's credential statements waiting on a lock of the test's sessions."""
    return int(q("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                 " AND application_name = 'ironbark-credentials'") or 0)


def handshake(fe):
    return secure.psk_request(fe.https_port, PSK_ID, PSK_KEY, "GET", "/cse-in", ORIGIN).status != -1


def login(fe, code):
    return curl("POST", fe.https_base + "/console/api/login", {"Content-Type": "application/json"},
                '{"code": "%s"}' % code, extra=fe.https_curl_options(), timeout=30)


def admin(fe, *words, stdin=""):
    return subprocess.run([CSE_BIN, "credentials", "--data-dir", fe.data_dir, "--db", uri] + list(words),
                          input=stdin, capture_output=True, text=True, timeout=30)


fe = Cse(db=uri, console="true").start()
held = []
sess = None
try:
    r = admin(fe, "add-psk", stdin="%s:%s:%s\n" % (PSK_ID, PSK_KEY, ORIGIN))
    t.ok(r.returncode == 0 and wait_for(lambda: handshake(fe), seconds=10), "a PSK added and accepted", r.stderr)
    sess, answered = secure.psk_session(fe.https_port, PSK_ID, PSK_KEY, ORIGIN)
    t.ok(answered, "a session of the PSK answers")

    # The second login will wait on its code's row, the first on the table.
    q("INSERT INTO cred_console_code(code, originator, until_us) VALUES ('%s', 'Cnobody', 0)" % SECOND)
    row = pg_server.Held(srv, db, "SELECT 1 FROM cred_console_code WHERE code = '%s' FOR UPDATE;" % SECOND,
                         "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                         " AND query LIKE '%FOR UPDATE%'")
    held.append(row)
    # SHARE: the logins' DELETE waits, the row lock above does not conflict.
    table = pg_server.Held(srv, db, "LOCK TABLE cred_console_code IN SHARE MODE;",
                           "SELECT count(*) FROM pg_locks WHERE mode = 'ShareLock' AND granted"
                           " AND relation = 'cred_console_code'::regclass")
    held.append(table)
    t.ok(row.held and table.held, "a session holds the second code's row, another the code table")
    first = Bg(lambda: login(fe, FIRST))
    t.ok(wait_for(lambda: login_waits() >= 1, seconds=8),
         "the first login's code check waits on the table, holding the credential connection")
    second = Bg(lambda: login(fe, SECOND))
    time.sleep(0.5)            # queued on the credential connection behind the first

    r = admin(fe, "remove-psk", PSK_ID)
    t.ok(r.returncode == 0, "m2m-cse credentials removes the PSK meanwhile", r.stderr)
    time.sleep(0.5)
    t.ok(sess.poll() is None, "the session goes on: the front-end has not seen the removal yet "
         "(its statement holds the notice back)")

    table.release()
    held.remove(table)
    t.eq(first.result().status, 403, "the first login ends once the table is free (an unknown code: 403)")
    t.ok(wait_for(lambda: login_waits() >= 1, seconds=8),
         "the second login's code check now waits on its row, holding the credential connection")
    ended = wait_for(lambda: sess.poll() is not None, seconds=8)
    t.ok(ended, "the PSK's session was ended while the credential store is busy again")
    t.ok(not handshake(fe), "a new handshake with the removed PSK is refused")
    t.ok(second.running() and login_waits() >= 1, "... and the second login still waits")

    row.release()
    held.remove(row)
    t.eq(second.result().status, 403, "the second login ends once the row is free (an expired code: 403)")
    t.ok("closed 1 HTTPS connection of the withdrawn credential 12-%s" % PSK_ID in fe.read_log(),
         "the front-end logs the session it ended", fe.read_log()[-800:])
finally:
    for h in held:
        h.release()
    if sess and sess.poll() is None:
        sess.kill()
        sess.wait()
    t.eq(fe.stop(), 0, "the front-end shuts down cleanly (a sanitizer build: no report)")
t.done()
