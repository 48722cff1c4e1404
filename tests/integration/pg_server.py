"""A private PostgreSQL server for the integration tests (the PostgreSQL
store, docs/configuration.md `db`): initdb in a temporary directory, run by
an unprivileged user when the tests run as root (CI), listening on a Unix
socket in that directory only (no TCP port to collide on). One server per
test process (server()); each CSE gets its own database (database_for()),
so a restart on the same data directory finds its tree again. The server
stops when the process exits, and a watchdog stops it should the process
be killed instead (a meson timeout).
"""
import atexit
import os
import pwd
import shutil
import subprocess
import tempfile
import time

PG_BIN = os.environ.get("IRONBARK_PG_BIN", "/usr/lib/postgresql/15/bin")
USER = "ironbark"          # the database superuser initdb creates
_server = None


def _as_owner(cmd):
    """cmd run as the unprivileged owner of the cluster when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "nobody", "--"] + cmd
    return cmd


def _template():
    """An initdb'd cluster to copy (initdb takes seconds, a copy a fraction):
    made once (per build directory under meson), atomically, owned by the cluster user."""
    path = os.environ.get("IRONBARK_PG_TEMPLATE") or os.path.join(
        tempfile.gettempdir(), "ironbark-pg-template-%d" % os.geteuid())
    if os.path.exists(os.path.join(path, "PG_VERSION")):
        return path
    work = tempfile.mkdtemp(prefix="pg-template-", dir=os.path.dirname(path))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(work, nobody.pw_uid, nobody.pw_gid)
    subprocess.run(_as_owner([os.path.join(PG_BIN, "initdb"), "-D", os.path.join(work, "data"), "-U", USER,
                              "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]),
                   check=True, capture_output=True, timeout=120)
    try:
        os.rename(os.path.join(work, "data"), path)
    except OSError:
        pass                    # another test process made it first
    shutil.rmtree(work, ignore_errors=True)
    return path


def _copy_template(dest):
    subprocess.run(["cp", "-a", _template(), dest], check=True, timeout=60)


class PgServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ironbark-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = 5432
        self.databases = {}        # data directory -> database name
        self.made = 0
        _copy_template(self.data)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        # Throw-away data: no fsync (the CSE's own durability tests kill the
        # CSE, never this server uncleanly); a socket in our directory only.
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n"
                    "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
                    "shared_buffers = 16MB\nmax_connections = 200\nlog_min_messages = warning\n"
                    % (self.dir, self.port))
        self.start()
        atexit.register(self.stop)
        # Stops the server (bounded) should this process die without atexit.
        subprocess.Popen(["sh", "-c", 'while kill -0 %d 2>/dev/null; do sleep 1; done; '
                          'exec %s' % (os.getpid(), " ".join(_as_owner(
                              [os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "immediate",
                               "-t", "10", "stop"])))],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def pg_ctl(self, *args, timeout=60):
        return subprocess.run(_as_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-w", "-t", "30",
                                         "-l", os.path.join(self.dir, "server.log")] + list(args)),
                              capture_output=True, timeout=timeout)

    def start(self):
        p = self.pg_ctl("start")
        if p.returncode:
            raise RuntimeError("PostgreSQL did not start: %s %s" % (p.stdout, p.stderr))

    def restart(self):
        """A clean restart (pg_ctl restart -m fast): connections are cut."""
        return self.pg_ctl("restart", "-m", "fast").returncode == 0

    def restart_command(self):
        """A shell command that restarts the server (for a C test)."""
        return " ".join(_as_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-w", "-t", "30",
                                   "-l", os.path.join(self.dir, "server.log"), "-m", "fast", "restart"])) \
            + " >/dev/null"

    def stop_server(self):
        """Stops the server, keeping its data (start() brings it back)."""
        return self.pg_ctl("stop", "-m", "fast").returncode == 0

    def stop(self):
        if self.data and os.path.isdir(self.data):
            self.pg_ctl("stop", "-m", "immediate")
            shutil.rmtree(self.dir, ignore_errors=True)
        self.data = None

    def psql(self, sql, db="postgres"):
        p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", self.dir, "-p", str(self.port), "-U", USER, "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode:
            raise RuntimeError("psql failed: %s" % p.stderr)
        return p.stdout

    def uri(self, db):
        return "postgresql://%s@/%s?host=%s&port=%d" % (USER, db, self.dir, self.port)

    def new_database(self):
        self.made += 1
        name = "cse_%d" % self.made
        self.psql("CREATE DATABASE %s STRATEGY = FILE_COPY" % name)
        return name

    def dump(self, data_dir):
        """Every stored row of a CSE's database as text (COPY)."""
        return self.psql("COPY resources TO STDOUT", db=self.database_for(data_dir).split("/")[3].split("?")[0])

    def database_for(self, data_dir):
        """The database of a CSE data directory (made on first use)."""
        key = os.path.realpath(data_dir)
        if key not in self.databases:
            self.databases[key] = self.new_database()
        return self.uri(self.databases[key])


class Held:
    """A psql session of its own on database db of srv that runs `sql` in a
    transaction it keeps open until release(): what the statements lock
    stays locked meanwhile. `held` says whether the query held_sql (run
    from another session) answered 1 within 10 s."""

    def __init__(self, srv, db, sql, held_sql):
        self.srv, self.db = srv, db
        self.p = subprocess.Popen(
            [os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", srv.dir,
             "-p", str(srv.port), "-U", USER, "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        self.p.stdin.write("BEGIN; %s\n" % sql)
        self.p.stdin.flush()
        deadline = time.time() + 10
        while True:
            self.held = srv.psql(held_sql, db=db).strip() == "1"
            if self.held or time.time() > deadline:
                break
            time.sleep(0.1)

    def release(self):
        self.p.stdin.write("COMMIT;\n")
        self.p.stdin.close()
        self.p.wait(timeout=10)


class TableLock(Held):
    """LOCK TABLE `table` (resources) IN ACCESS EXCLUSIVE MODE in a session
    of its own on database db of srv, held until release(): the CSE's
    statements on the table wait meanwhile."""

    def __init__(self, srv, db, table="resources"):
        super().__init__(srv, db, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;" % table,
                         "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted"
                         " AND relation = '%s'::regclass" % table)


def waiting_on_lock(srv, db, table="resources"):
    """Sessions (of a CSE) that wait for a TableLock on database db."""
    return int(srv.psql("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '%s'::regclass" % table,
                        db=db).strip() or 0)


def enabled():
    return os.environ.get("IRONBARK_TEST_STORE", "sqlite") == "postgresql"


def server():
    """The test process's server, started on first use."""
    global _server
    if _server is None:
        _server = PgServer()
    return _server


def wait_ready(srv, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            srv.psql("SELECT 1")
            return True
        except (RuntimeError, subprocess.TimeoutExpired):
            time.sleep(0.2)
    return False
