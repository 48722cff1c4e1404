"""m2m-cse store export|import|checksum (docs/scale-out.md, "Migration"):
a varied tree moves to a fresh store with the same checksum, the file's
trailer is the SHA-256 of its row lines (recomputed here with hashlib), a
CSE on the imported store serves the same resources, and bad inputs are
refused with a clear message, a non-zero exit and nothing imported. The tree
goes SQLite -> SQLite -> PostgreSQL -> SQLite (a private PostgreSQL server,
tests/integration/pg_server.py), whichever store the suite runs on: each CSE
here names its store itself. An export from a PostgreSQL database that a
CSE writes into meanwhile is one state of the tree (one snapshot)."""
import hashlib, json, os, shutil, subprocess, sys, tempfile, threading
sys.path.insert(0, os.path.dirname(__file__))
from harness import CSE_BIN, Cse, Tap, raw_create
import pg_server

t = Tap()
O = "Cmig"
work = tempfile.mkdtemp(prefix="ironbark-mig-")
sanitizer_reports = []


def store(*args, stdin=None):
    """Runs m2m-cse store ...; returns (exit code, stdout, stderr)."""
    p = subprocess.run([CSE_BIN, "store"] + list(args), input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), checked(args, p.stderr)


def checked(args, stderr):
    """A store command's standard error as text, its sanitizer report (an
    ASan/UBSan build's) kept for the test's last check."""
    err = stderr.decode(errors="replace")
    if "Sanitizer" in err or "runtime error:" in err:
        sanitizer_reports.append((args, err[-2000:]))
    return err


def summary(text):
    """'rows N sha256 HEX' -> (N, HEX)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "rows" and parts[2] == "sha256":
            return int(parts[1]), parts[3]
    return None


def fill(cse):
    """AEs, containers with instances, an ACP, a subscription, a group, a
    flexContainer: every create must succeed (the tree is what is compared)."""
    made = []
    def ok(r, what):
        made.append((what, r.rsc))
        return r
    ok(cse.register_ae("app", origin=O, rr=False), "ae")
    ok(cse.register_ae("app2", origin="Cmig2", rr=False), "ae2")
    ok(cse.create("/cse-in", 1, {"m2m:acp": {"rn": "acp1", "pv": {"acr": [{"acor": [O, "Cmig2"], "acop": 63}]},
                                             "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}}), "acp")
    for c in ("temp", "hum"):
        ok(cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": c, "mni": 5, "lbl": ["k:" + c]}}, origin=O), "cnt " + c)
        for i in range(7):   # more than mni: the oldest are gone, the rest keep their order
            ok(cse.create("/cse-in/app/" + c, 4, {"m2m:cin": {"con": "%s-%d" % (c, i), "cnf": "text/plain:0"}},
                          origin=O), "cin")
    ok(cse.create("/cse-in/app/temp", 3, {"m2m:cnt": {"rn": "nested"}}, origin=O), "nested cnt")
    ok(cse.create("/cse-in/app/temp/nested", 4, {"m2m:cin": {"con": {"v": 1.5, "u": "°C"}}}, origin=O), "json cin")
    ok(cse.create("/cse-in/app/temp", 23, {"m2m:sub": {"rn": "sub1", "nu": [O], "enc": {"net": [3]}}}, origin=O), "sub")
    ok(cse.create("/cse-in/app", 9, {"m2m:grp": {"rn": "grp1", "mt": 3, "mnm": 5,
                                                 "mid": ["/id-in/cse-in/app/temp", "/id-in/cse-in/app/hum"]}},
                  origin=O), "grp")
    ok(cse.update("/cse-in/app2", {"m2m:ae": {"lbl": ["moved"]}}, origin="Cmig2"), "ae2 update")
    ok(cse.update("/cse-in/app2", {"m2m:ae": {"acpi": ["/id-in/cse-in/acp1"]}}, origin="Cmig2"), "ae2 acpi")
    return made


# What a client sees: each resource, the latest instance, a discovery (pre-order).
PROBES = ["/cse-in/app", "/cse-in/app2", "/cse-in/acp1", "/cse-in/app/temp", "/cse-in/app/temp/la",
          "/cse-in/app/temp/ol", "/cse-in/app/hum/la", "/cse-in/app/temp/nested/la", "/cse-in/app/temp/sub1",
          "/cse-in/app/grp1", "/cse-in/app?fu=1&rcn=1"]


def observe(cse):
    out = {}
    for p in PROBES:
        r = cse.get(p, origin=O if "app2" not in p else "Cmig2")
        out[p] = (r.rsc, r.json)
    return out


def synthetic_tree(raw, count):
    """raw (an export) with `count` more contentInstances under its first
    container, as canonical lines with a fresh trailer."""
    lines = raw.split(b"\n")
    rows = [json.loads(r) for r in lines[1:-2]]
    box = next(r for r in rows if r["ty"] == 3)
    extra = []
    for i in range(count):
        ri = "bulk%05d" % i
        body = {"ri": ri, "pi": box["ri"], "rn": ri, "ty": 4, "con": "v%d" % i, "cs": 1, "st": 0,
                "ct": "20261207T000000", "lt": "20261207T000000"}
        extra.append({"body": body, "et": None, "path": box["path"] + "/" + ri, "pi": box["ri"], "ri": ri, "ty": 4})
    at = rows.index(box) + 1
    rows[at:at] = extra
    out = [json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() for r in rows]
    digest = hashlib.sha256(b"".join(r + b"\n" for r in out)).hexdigest()
    trailer = json.dumps({"end": "ironbark-tree", "rows": len(out), "sha256": digest}).encode()
    return b"\n".join([lines[0]] + out + [trailer, b""]), (len(out), digest)


def fresh_dir(name):
    d = os.path.join(work, name)
    os.mkdir(d)
    return d


holder = None
try:
    # A database that is not there: the store tries for a bounded time
    # (10 s), so that attempt runs beside the rest of the test.
    unreachable = subprocess.Popen([CSE_BIN, "store", "checksum", "--db",
                                    "postgresql://ironbark:secret@/cse?host=%s&port=1" % work],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # The store belongs to one process: no export while a CSE runs on it.
    # The export waits out SQLite's busy timeout (5 s) before it refuses, so
    # it, too, runs beside the rest of the test, on a CSE of its own that
    # holds its store (an AE written) until the export has answered.
    dir_busy = fresh_dir("busy")
    holder = Cse(data_dir=dir_busy, db=os.path.join(dir_busy, "cse.db"), https_port=0, coaps_port=0).start()
    holder_ae = holder.register_ae("held", origin=O, rr=False).rsc
    busy_file = os.path.join(work, "busy.jsonl")
    busy = subprocess.Popen([CSE_BIN, "store", "export", busy_file, "--data-dir", dir_busy],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dir_a = fresh_dir("a")
    cse = Cse(data_dir=dir_a, db=os.path.join(dir_a, "cse.db")).start()
    made = fill(cse)
    t.ok(all(rsc in (2001, 2004) for _, rsc in made), "the tree is built (%d requests)" % len(made),
         [m for m in made if m[1] not in (2001, 2004)])
    before = observe(cse)

    t.eq(cse.stop(), 0, "CSE stopped cleanly")

    rc, out, err = store("checksum", "--data-dir", dir_a)
    sum_a = summary(out)
    t.ok(rc == 0 and sum_a and sum_a[0] >= 20, "checksum of the source store", (rc, out, err))

    export = os.path.join(work, "tree.jsonl")
    rc, out, err = store("export", export, "--data-dir", dir_a)
    t.ok(rc == 0 and summary(out) == sum_a, "export prints the same rows and checksum", (rc, out, err, sum_a))
    lines = open(export, "rb").read().split(b"\n")
    t.eq(lines[-1], b"", "the export ends with a newline")
    header, rows, trailer = json.loads(lines[0]), lines[1:-2], json.loads(lines[-2])
    t.eq(header, {"format": "ironbark-tree", "version": 1}, "header names the format and its version")
    digest = hashlib.sha256(b"".join(r + b"\n" for r in rows)).hexdigest()
    t.ok(trailer == {"end": "ironbark-tree", "rows": len(rows), "sha256": digest} and (len(rows), digest) == sum_a,
         "trailer: row count and SHA-256 of the row lines, as hashlib computes it", (trailer, len(rows), digest))
    parsed = [json.loads(r) for r in rows]
    t.ok(all(r == json.dumps(p, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
             for r, p in zip(rows, parsed)), "each row line is canonical JSON (sorted keys, compact)")
    seen, order_ok = set(), True
    for p in parsed:
        order_ok &= p["pi"] == "" or p["pi"] in seen
        seen.add(p["ri"])
    t.ok(order_ok, "parents come before their children")
    t.ok({"ri", "path", "pi", "ty", "et", "body"} == set(parsed[0]) and
         {4, 9, 23, 1, 2, 3} <= {p["ty"] for p in parsed}, "rows carry ri, path, pi, ty, et, body of every kind")
    cins = [p["body"]["con"] for p in parsed if p["path"].rsplit("/", 1)[0] == "cse-in/app/temp" and p["ty"] == 4]
    t.eq(cins, ["temp-2", "temp-3", "temp-4", "temp-5", "temp-6"], "instances in creation order")

    # Into a fresh SQLite store: same checksum, and a second export is byte-identical.
    dir_b = fresh_dir("b")
    rc, out, err = store("import", export, "--data-dir", dir_b)
    t.ok(rc == 0 and summary(out) == sum_a, "import into a fresh SQLite store: same checksum", (rc, out, err))
    rc, out, err = store("checksum", "--data-dir", dir_b)
    t.eq(summary(out), sum_a, "checksum of the imported store")
    rc, data, err = store("export", "-", "--data-dir", dir_b)
    t.ok(rc == 0 and data.encode() == open(export, "rb").read() and summary(err) == sum_a,
         "export of the imported store (to standard output) is byte-identical", (rc, err))

    # Bad inputs: each refused with a reason, the target left as it was.
    dir_c = fresh_dir("c")
    raw = open(export, "rb").read()
    body_lines = raw.split(b"\n")
    damaged = raw.replace(b'"con":"temp-6"', b'"con":"temp-X"')
    cases = [
        ("a non-empty target", None, ["--data-dir", dir_b], 3, "not empty"),
        ("an unreadable file", "missing", ["--data-dir", dir_c], 1, "cannot read"),
        ("an empty file", b"", ["--data-dir", dir_c], 1, "no header line"),
        ("another format", b'{"format":"other","version":1}\n', ["--data-dir", dir_c], 1, "not an export"),
        ("a later version", b'{"format":"ironbark-tree","version":2}\n', ["--data-dir", dir_c], 1, "version"),
        ("a truncated file", b"\n".join(body_lines[:-2]) + b"\n", ["--data-dir", dir_c], 1, "truncated"),
        ("a cut line", raw[:len(raw) // 2], ["--data-dir", dir_c], 1, "not a JSON object"),
        ("a changed value", damaged, ["--data-dir", dir_c], 1, "checksum differs"),
        ("a child before its parent", b"\n".join([body_lines[0], body_lines[5]] + body_lines[1:5] + body_lines[6:]),
         ["--data-dir", dir_c], 1, "parent"),
        ("a row twice", b"\n".join(body_lines[:-2] + [body_lines[-3]] + body_lines[-2:]),
         ["--data-dir", dir_c], 1, "taken"),
        ("a row missing a column", raw.replace(b',"ty":2}\n', b"}\n", 1), ["--data-dir", dir_c], 1, "a row needs"),
        ("a path that does not end with the name", raw.replace(b'"path":"cse-in/app"', b'"path":"cse-in/other"', 1),
         ["--data-dir", dir_c], 1, "rn"),
        ("columns that disagree with the body", raw.replace(b'"ri":"Cmig","ty":2}', b'"ri":"Cxxx","ty":2}', 1),
         ["--data-dir", dir_c], 1, "disagree"),
    ]
    for name, content, args, want_rc, want_msg in cases:
        if content is None:
            rc, out, err = store("import", export, *args)
        elif content == "missing":
            rc, out, err = store("import", os.path.join(work, "no-such-file"), *args)
        else:
            rc, out, err = store("import", "-", *args, stdin=content)
        target = summary(store("checksum", *args)[1])
        want_sum = sum_a if args[1] == dir_b else (0, hashlib.sha256(b"").hexdigest())
        t.ok(rc == want_rc and want_msg in err and ("nothing was imported" in err or content == "missing")
             and target == want_sum, "import of %s: exit %d, a reason, nothing imported" % (name, want_rc),
             (rc, err, target))
    rc, out, err = store("import", export, "--replace", "--data-dir", dir_b)
    t.ok(rc == 0 and summary(out) == sum_a, "--replace imports over a tree in one transaction", (rc, out, err))
    rc, out, err = store("checksum", "--data-dir", os.path.join(work, "nowhere"))
    t.ok(rc == 1 and "no store" in err, "checksum of a store that is not there: exit 1", (rc, err))
    rc, out, err = store("frobnicate")
    t.ok(rc == 2 and "usage" in err, "unknown subcommand: usage, exit 2", (rc, err))

    # Into PostgreSQL and back into SQLite: the same checksum at every step.
    pg = pg_server.server()
    pg_uri = pg.uri(pg.new_database())
    rc, data_b, err = store("export", "-", "--data-dir", dir_b)
    rc, out, err = store("import", "-", "--db", pg_uri, stdin=data_b.encode())
    t.ok(rc == 0 and summary(out) == sum_a, "import into PostgreSQL: same checksum", (rc, out, err))
    rc, out, err = store("checksum", "--db", pg_uri)
    t.eq(summary(out), sum_a, "checksum of the PostgreSQL store")
    rc, data_pg, err = store("export", "-", "--db", pg_uri)
    t.ok(rc == 0 and data_pg.encode() == raw, "export from PostgreSQL is byte-identical to SQLite's", (rc, err))
    dir_d = fresh_dir("d")
    rc, out, err = store("import", "-", "--data-dir", dir_d, stdin=data_pg.encode())
    t.ok(rc == 0 and summary(out) == sum_a, "back into SQLite: same checksum", (rc, out, err))
    rc, out, err = store("import", export, "--db", pg_uri)
    t.ok(rc == 3 and "not empty" in err and summary(store("checksum", "--db", pg_uri)[1]) == sum_a,
         "a PostgreSQL target holding a tree: refused (exit 3), its tree kept", (rc, err))
    pg_empty = pg.uri(pg.new_database())
    rc, out, err = store("import", "-", "--db", pg_empty, stdin=damaged)
    t.ok(rc == 1 and "checksum differs" in err and
         summary(store("checksum", "--db", pg_empty)[1]) == (0, hashlib.sha256(b"").hexdigest()),
         "a damaged file into PostgreSQL: refused, nothing imported", (rc, err))
    # Into PostgreSQL in several multi-row INSERTs (500 rows each): the
    # checksum holds across them, and a row refused in a later one is named
    # by its line, with nothing imported.
    big, big_sum = synthetic_tree(raw, 1234)
    pg_big = pg.uri(pg.new_database())
    rc, out, err = store("import", "-", "--db", pg_big, stdin=big)
    t.ok(rc == 0 and summary(out) == big_sum and summary(store("checksum", "--db", pg_big)[1]) == big_sum,
         "%d rows into PostgreSQL: the file's checksum" % big_sum[0], (rc, out, err))
    big_lines = big.split(b"\n")
    twice = b"\n".join(big_lines[:1100] + [big_lines[100]] + big_lines[1100:])   # siblings, batches 1 and 3
    pg_twice = pg.uri(pg.new_database())
    rc, out, err = store("import", "-", "--db", pg_twice, stdin=twice)
    t.ok(rc == 1 and ":1101: its path is taken" in err and "nothing was imported" in err and
         summary(store("checksum", "--db", pg_twice)[1]) == (0, hashlib.sha256(b"").hexdigest()),
         "a row twice, far apart, into PostgreSQL: refused at its line, nothing imported", (rc, err))
    rc, err = busy.wait(timeout=60), checked(busy.args[2:], busy.stderr.read())
    t.ok(holder_ae == 2001 and rc == 1 and "stop it first" in err and not os.path.exists(busy_file),
         "export while the CSE runs: refused, no file left", (holder_ae, rc, err))
    t.eq(holder.stop(), 0, "the CSE holding that store stopped cleanly")

    # A CSE starts on each imported store and serves the same tree.
    for name, settings in (("SQLite", {"db": os.path.join(dir_b, "cse.db")}), ("PostgreSQL", {"db": pg_uri})):
        cse_i = Cse(data_dir=fresh_dir("serve-" + name), **settings).start()
        after = observe(cse_i)
        t.eq([p for p in PROBES if after[p] != before[p]], [], "every probe answers the same on the imported %s store" % name)
        r = cse_i.create("/cse-in/app/temp", 4, {"m2m:cin": {"con": "after"}}, origin=O)
        t.rsc(r, 2001, 201, "the imported %s store takes new instances" % name)
        r = cse_i.get("/cse-in/app/temp/la", origin=O)
        t.ok(r.rsc == 2000 and r.json["m2m:cin"]["con"] == "after", "and la is the new one", r)
        t.eq(cse_i.stop(), 0, "CSE on the imported %s store stopped cleanly" % name)

    # --- An export while a CSE writes into the same PostgreSQL database ---
    # What must hold: the file is one state of the tree. Its trailer matches
    # its rows, it imports into a fresh SQLite store whose checksum is the
    # trailer's, and every container's cni and cbs (written in the same
    # transaction as each instance) agree with the instances exported under
    # it. The container's row is read before its instances, pages apart: a
    # walk that saw the writes committed between its pages would export
    # instances its container does not count.
    live_uri = pg.uri(pg.new_database())
    live = Cse(data_dir=fresh_dir("live"), db=live_uri).start()
    live.register_ae("live", origin=O, rr=False)
    live.create("/cse-in/live", 3, {"m2m:cnt": {"rn": "box", "mni": 100000}}, origin=O)
    for i in range(200):   # more than the first pages of a scan (32, then 128)
        raw_create(live.port, "/cse-in/live/box", 4, {"m2m:cin": {"con": "seed"}}, "seed%d" % i, O)
    writing, writes = threading.Event(), []

    def writer(n):
        i = 0
        while not writing.is_set():
            res = raw_create(live.port, "/cse-in/live/box", 4, {"m2m:cin": {"con": "w" * (i % 7)}},
                             "w%d-%d" % (n, i), O)
            writes.append(res and res[0])
            i += 1
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for w in writers:
        w.start()
    results = []
    try:
        for k in range(3):
            f = os.path.join(work, "live%d.jsonl" % k)
            results.append((f,) + store("export", f, "--db", live_uri))
    finally:
        writing.set()
        for w in writers:
            w.join(timeout=30)
    t.ok(writes.count(2001) > 20, "instances were created during the exports (%d)" % writes.count(2001))
    for k, (f, rc, out, err) in enumerate(results):
        lines = open(f, "rb").read().split(b"\n") if rc == 0 else [b"{}", b"{}", b""]
        rows, trailer = lines[1:-2], json.loads(lines[-2])
        parsed = [json.loads(r) for r in rows]
        digest = hashlib.sha256(b"".join(r + b"\n" for r in rows)).hexdigest()
        t.ok(rc == 0 and summary(out) == (len(rows), digest) and trailer["sha256"] == digest,
             "live export %d: its trailer and printed line match its rows" % k, (rc, err))
        boxes = [p for p in parsed if p["ty"] == 3]
        counts = [(p["body"]["cni"], p["body"]["cbs"],
                   sum(1 for c in parsed if c["pi"] == p["ri"] and c["ty"] == 4),
                   sum(c["body"]["cs"] for c in parsed if c["pi"] == p["ri"] and c["ty"] == 4)) for p in boxes]
        t.ok(boxes and all(c[0] == c[2] and c[1] == c[3] for c in counts),
             "live export %d: one state of the tree (cni/cbs equal the instances exported)" % k, counts)
        target = fresh_dir("live-into-%d" % k)
        rc, out, err = store("import", f, "--data-dir", target)
        t.ok(rc == 0 and summary(out) == (len(rows), digest) and
             summary(store("checksum", "--data-dir", target)[1]) == (len(rows), digest),
             "live export %d imports into a fresh SQLite store with the file's checksum" % k, (rc, out, err))
    t.eq(live.stop(), 0, "the writing CSE stopped cleanly")
    # Last: the attempt on the unreachable database gives up after its bound
    # (10 s, longer than the rest of the test takes).
    rc, err = unreachable.wait(timeout=60), checked(unreachable.args[2:], unreachable.stderr.read())
    t.ok(rc == 1 and "cannot open the store" in err and "reachable" in err and "secret" not in err,
         "an unreachable database: exit 1 with the reason, its password not shown", (rc, err))
    t.eq(sanitizer_reports, [], "no sanitizer report from any store command")
finally:
    if holder and holder.alive():
        holder.stop()
    shutil.rmtree(work, ignore_errors=True)
t.done()
