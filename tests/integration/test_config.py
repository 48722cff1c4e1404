"""Configuration and process life cycle: --help, bad flags, config file and
flag precedence, log levels, clean shutdown on SIGTERM/SIGINT."""
import os, shutil, signal, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, CSE_BIN, store_flags

t = Tap()

p = subprocess.run([CSE_BIN, "--help"], capture_output=True, text=True, timeout=10)
t.ok(p.returncode == 0 and "--http-port" in p.stdout and "--config" in p.stdout, "--help exits 0 and lists settings", p)
p = subprocess.run([CSE_BIN, "--version"], capture_output=True, text=True, timeout=10)
t.ok(p.returncode == 0 and "ironbark" in p.stdout, "--version exits 0", p)
for args, name in ((["--no-such-flag", "1"], "unknown flag"), (["--http-port", "70000"], "port out of range"),
                   (["--http-port"], "flag without a value"), (["stray"], "positional argument"),
                   (["--sync", "sometimes"], "bad enum value"), (["--config", "/nonexistent/x.conf"], "missing config file"),
                   (["--log-level", "loud"], "bad log level")):
    p = subprocess.run([CSE_BIN] + args, capture_output=True, text=True, timeout=10)
    t.ok(p.returncode == 2 and p.stderr.strip(), "%s exits 2 with a message" % name, p)

d = tempfile.mkdtemp(prefix="ironbark-cfg-")
try:
    conf = os.path.join(d, "cse.conf")
    with open(conf, "w") as f:
        f.write("# test configuration\ncse-id = id-file\ncse-name = \"cse-file\"\nsp-id = file.sp  # trailing comment\n"
                "log-level = debug\n\nmax-body = 2048\n")
    cse = Cse(data_dir=d, config=conf, cse_name="cse-flag")
    cse.start()
    r = cse.get("/cse-flag")
    t.ok(r.rsc == 2000 and r.json["m2m:cb"]["csi"] == "/id-file", "file sets cse-id, flag overrides cse-name", r)
    t.rsc(cse.get("/cse-file"), 4004, 404, "file's cse-name is overridden by the flag")
    t.rsc(cse.get("/_/file.sp/id-file/cse-flag"), 2000, 200, "sp-id from the file")
    r = cse.create("/cse-flag", 2, {"m2m:ae": {"api": "Nx", "rr": False, "srv": ["3"], "lbl": ["x" * 3000]}}, origin="Cbig")
    t.eq(r.status, 413, "max-body from the file applies")
    r = cse.create("/cse-flag", 2, {"m2m:ae": {"api": "Nx", "rr": False, "srv": ["3"]}}, origin="Csmall")
    t.rsc(r, 2001, 201, "a registration within max-body")
    t.eq(cse.stop(signal.SIGTERM), 0, "SIGTERM: exit code 0")
    log = cse.read_log()
    t.ok(log.rstrip().endswith("stopped"), "'stopped' is the last log line", log[-500:])
    t.ok(" debug created cse-flag/Csmall" in log, "log-level debug from the file shows debug lines", log[-500:])

    first_run = len(log)
    cse = Cse(data_dir=d, config=conf, log_level="error", cse_name="cse-flag")
    cse.start()
    t.rsc(cse.get("/cse-flag"), 2000, 200, "restart on the same data dir")
    t.eq(cse.stop(signal.SIGINT), 0, "SIGINT: exit code 0")
    log = cse.read_log()[first_run:]
    t.ok(log.strip() == "", "log-level error from a flag silences info and debug lines", log[-500:])

    # The data directory belongs to one CSEBase: another name or CSE-ID refuses to start.
    for flags, name in ((["--cse-name", "renamed"], "cse-name"), (["--cse-id", "id-other", "--cse-name", "cse-flag"], "cse-id")):
        p = subprocess.run([CSE_BIN, "--config", conf, "--data-dir", d, "--http-port", "0"] + store_flags(d) + flags,
                           capture_output=True, text=True, timeout=10)
        t.ok(p.returncode == 1 and ("belongs to CSEBase" in p.stderr or "already holds a CSEBase" in p.stderr),
             "another %s on the same data directory: exit 1 with a reason" % name, p)

    # Durability levels and an explicit database file.
    db = os.path.join(d, "other.db")
    for level in ("full", "off"):
        cse = Cse(data_dir=d, sync=level, db=db)
        cse.start()
        r = cse.register_ae("s" + level, origin="C" + level)
        t.rsc(r, 2001, 201, "sync=%s: writes work" % level)
        t.eq(cse.stop(), 0, "sync=%s: clean stop" % level)
    cse = Cse(data_dir=d, db=db)
    cse.start()
    t.ok(cse.get("/cse-in/sfull").rsc == 2000 and cse.get("/cse-in/soff").rsc == 2000,
         "--db: both registrations are in the explicit database file")
    t.eq(cse.stop(), 0, "clean stop")
    t.ok(os.path.exists(db), "--db file created where asked")

    with open(conf, "w") as f:
        f.write("this line has no equals sign\n")
    p = subprocess.run([CSE_BIN, "--config", conf, "--http-port", "0"], capture_output=True, text=True, timeout=10)
    t.ok(p.returncode == 2 and "cse.conf:1" in p.stderr, "malformed config file: exit 2 naming the line", p)
    with open(conf, "w") as f:
        f.write("bogus = 1\n")
    p = subprocess.run([CSE_BIN, "--config", conf], capture_output=True, text=True, timeout=10)
    t.ok(p.returncode == 2 and "bogus" in p.stderr, "unknown key in the config file: exit 2", p)
finally:
    shutil.rmtree(d, ignore_errors=True)
t.done()
