"""Secrets and data on disk: keys never on a command line (m2m-cse refuses
--psk and reads a psk-file or an owner-only config file; `credentials add-psk`
reads standard input), files the CSE creates are owner-only whatever the
umask, files an earlier version left open are restricted, and `m2m-cse
credentials` never creates a store outside a data directory."""
import os, shutil, stat, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, CSE_BIN, write_private
import secure

KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
t = Tap()
os.umask(0o022)        # what a login shell gives: the CSE must not depend on it
work = tempfile.mkdtemp(prefix="ironbark-secrets-")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def cse_run(args, cwd=None, stdin=None):
    p = subprocess.run([CSE_BIN] + args, capture_output=True, text=True, timeout=15, cwd=cwd, input=stdin)
    return p.returncode, p.stdout, p.stderr


def quiet_ports():
    return ["--http-port", "0", "--https-port", "0", "--coap-port", "0", "--coaps-port", "0"]


# --- keys on the command line are refused --------------------------------
for args, name in ((["--psk", "k@x:%s:C*" % KEY], "--psk ID:KEY:PATTERNS"),
                   (["--psk=k@x:%s:C*" % KEY], "--psk=ID:KEY:PATTERNS")):
    d = os.path.join(work, "refused")
    rc, out, err = cse_run(args + ["--data-dir", d])
    t.ok(rc == 2 and "--psk-file" in err and "credentials add-psk" in err and not os.path.exists(d),
         "%s is refused before anything starts, naming the alternatives" % name, err)
rc, out, err = cse_run(["--help"])
t.ok(rc == 0 and "--psk-file" in out and "--psk " not in out and "Config file only" in out,
     "--help offers --psk-file and lists psk as config-file only", out[-600:])

# --- the psk-file --------------------------------------------------------
open_file = os.path.join(work, "open.psk")
with open(open_file, "w") as f:
    f.write("k@x:%s:C*\n" % KEY)
os.chmod(open_file, 0o644)
rc, out, err = cse_run(quiet_ports() + ["--data-dir", os.path.join(work, "d1"), "--psk-file", open_file])
t.ok(rc == 1 and "chmod 600" in err and "0644" in err and KEY not in err,
     "a psk-file others may read stops the start with a message (and no key in it)", err)
bad_file = write_private(os.path.join(work, "bad.psk"), "# keys\n\nk@x:%s:C*\nk2@x:nothex:C*\n" % KEY)
rc, out, err = cse_run(quiet_ports() + ["--data-dir", os.path.join(work, "d2"), "--psk-file", bad_file])
t.ok(rc == 1 and "bad.psk:4:" in err and "not hexadecimal" in err, "a bad psk-file line is named", err)

psk_file = write_private(os.path.join(work, "keys.psk"), "# meters\nmeter@x:%s:Cmeter*\n\n  gw@x:%s:Cgw  \n" % (KEY, KEY))
d3 = os.path.join(work, "d3")
os.mkdir(d3)           # the harness keeps its log there
# The SQLite files' modes are what is checked here, so the store is SQLite
# whatever the suite's setup (PostgreSQL's files are its server's).
sqlite_db = os.path.join(d3, "cse.db")
with Cse(data_dir=d3, psk_file=psk_file, coap_port=0, db=sqlite_db) as cse:
    with open("/proc/%d/cmdline" % cse.proc.pid, "rb") as f:
        cmdline = f.read()
    t.ok(KEY.encode() not in cmdline and b"--psk-file" in cmdline, "the running CSE's cmdline holds no key")
    def register(identity, origin):
        return secure.psk_request(cse.https_port, identity, KEY, "POST", "/cse-in", origin, ty=2,
                                  body={"m2m:ae": {"rn": origin[1:], "api": "Nx", "rr": False, "srv": ["3"]}})
    t.rsc(register("meter@x", "Cmeter1"), 2001, 201, "a key from the psk-file authenticates over TLS-PSK")
    t.rsc(register("gw@x", "Cgw"), 2001, 201,
          "every line of the psk-file is provisioned (blank lines, comments, spaces)")
    t.rsc(register("meter@x", "Cgw2"), 4106, 403, "with the originator patterns of its line")

    # --- files on disk: owner-only, whatever the umask -------------------
    cse.register_ae("m1", origin="Cm1")
    cse.get("/cse-in/m1", origin="Cintruder")          # a denial: an audit entry
    files = ["cse.db", "audit.log", "credentials.db", "tls/ca.key", "tls/server.key"]
    files += [f for f in ("cse.db-wal", "cse.db-shm", "credentials.db-wal", "credentials.db-shm")
              if os.path.exists(os.path.join(d3, f))]
    modes = {f: oct(mode(os.path.join(d3, f))) for f in files}
    t.ok("cse.db-wal" in files and all(m == "0o600" for m in modes.values()),
         "database, WAL, audit log, credential store and keys are 0600 under umask 022", modes)
    t.eq(oct(mode(os.path.join(d3, "tls"))), "0o700", "the key directory is 0700")
    t.eq(oct(mode(os.path.join(d3, "tls", "ca.pem"))), "0o644", "the CA certificate (public) stays 0644")
t.ok(os.path.getsize(os.path.join(d3, "audit.log")) > 0, "the audit log was written")

# A data directory from an earlier version: open files are restricted at start.
for f in ("cse.db", "audit.log", "tls/server.key"):
    os.chmod(os.path.join(d3, f), 0o644)
cse = Cse(data_dir=d3, coap_port=0, db=sqlite_db)
cse.start()
log = cse.read_log()
t.eq(cse.stop(), 0, "restart on the old directory")
t.ok(all(mode(os.path.join(d3, f)) == 0o600 for f in ("cse.db", "audit.log", "tls/server.key")),
     "files left readable by others are made owner-only at start")
t.ok("audit.log was readable by group or others (mode 0644): now owner-only" in log, "and the log says so",
     log[-800:])

# --- psk lines in a config file ------------------------------------------
conf = os.path.join(work, "cse.conf")
with open(conf, "w") as f:
    f.write("log-level = debug\npsk = conf@x:%s:Cconf\n" % KEY)
os.chmod(conf, 0o640)
rc, out, err = cse_run(quiet_ports() + ["--config", conf, "--data-dir", os.path.join(work, "d4")])
t.ok(rc == 2 and "cse.conf:2:" in err and "chmod 600" in err and KEY not in err,
     "a psk line in a config file others may read stops the start", err)
os.chmod(conf, 0o600)
os.makedirs(os.path.join(work, "d4"), exist_ok=True)
with Cse(data_dir=os.path.join(work, "d4"), config=conf, coap_port=0) as cse:
    r = secure.psk_request(cse.https_port, "conf@x", KEY, "POST", "/cse-in", "Cconf", ty=2,
                           body={"m2m:ae": {"rn": "conf", "api": "Nx", "rr": False, "srv": ["3"]}})
    t.rsc(r, 2001, 201, "a psk line of an owner-only config file is provisioned")

# --- m2m-cse credentials -------------------------------------------------
nowhere = os.path.join(work, "cwd")
os.mkdir(nowhere)
for cmd, stdin in ((["list"], None), (["add-psk"], "k@x:%s:C*\n" % KEY), (["remove-psk", "k@x"], None)):
    rc, out, err = cse_run(["credentials"] + cmd, cwd=nowhere, stdin=stdin)
    t.ok(rc == 1 and "no data directory ./var" in err and os.listdir(nowhere) == [],
         "credentials %s outside a data directory: refused, nothing created" % cmd[0], err)
empty = os.path.join(work, "empty")
os.mkdir(empty, 0o700)
rc, out, err = cse_run(["credentials", "--data-dir", empty, "list"])
t.ok(rc == 1 and "no credential store" in err and os.listdir(empty) == [],
     "list in a data directory without a store: says so, creates none", err)
rc, out, err = cse_run(["credentials", "--data-dir", empty, "add-psk", "k@x:%s:C*" % KEY])
t.ok(rc == 2 and "standard input" in err and os.listdir(empty) == [],
     "add-psk with the key as an argument is refused", err)
rc, out, err = cse_run(["credentials", "--data-dir", empty, "add-psk"],
                       stdin="a@x:%s:Ca\nb@x:zz:Cb\n" % KEY)
t.ok(rc == 1 and "stdin:2:" in err and "nothing stored" in err, "one bad line on stdin: refused", err)
rc, out, err = cse_run(["credentials", "--data-dir", empty, "list"])
t.ok("a@x" not in out, "and nothing of it was stored", out + err)
rc, out, err = cse_run(["credentials", "--data-dir", empty, "add-psk"], stdin="a@x:%s:Ca\nb@x:%s:Cb\n" % (KEY, KEY))
t.ok(rc == 0 and "added 2 keys" in out, "add-psk stores the lines read from stdin", out + err)
rc, out, err = cse_run(["credentials", "--data-dir", empty, "list"])
t.ok("psk a@x -> Ca" in out and "psk b@x -> Cb" in out and KEY not in out, "list shows them, never keys", out)
t.eq(oct(mode(os.path.join(empty, "credentials.db"))), "0o600", "the store add-psk created is 0600")

shutil.rmtree(work, ignore_errors=True)
t.done()
