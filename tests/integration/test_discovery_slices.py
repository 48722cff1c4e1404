"""A discovery or child listing that reads more rows than one loop round's
share (LISTING_ROWS_PER_ROUND, 4096) yields and goes on in the next round
(docs/performance.md): the same answers as read whole (paging, lim, rcn
4/6, filters no index answers), the yields counted, and RETRIEVEs on
another connection answered while such discoveries run. The same on
PostgreSQL (meson test --setup postgresql): there a slice is a run of
keyset pages, and the store's lock is free between slices."""
import http.client, json, os, re, socket, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl
t = Tap()
O = "Cslice"
N = 9000          # instances: each full scan yields twice
RARE = {1500, 4500, 8990}   # their con is "rare"


def hdr(extra=None):
    h = {"X-M2M-Origin": O, "X-M2M-RI": "s", "X-M2M-RVI": "3"}
    h.update(extra or {})
    return h


def fill(port):
    """N instances over one keep-alive connection, 64 pipelined at a time."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    for start in range(0, N, 64):
        out = b""
        for i in range(start, min(N, start + 64)):
            body = json.dumps({"m2m:cin": {"rn": "i%05d" % i, "cnf": "text/plain:0",
                                           "con": "rare" if i in RARE else str(i)}}).encode()
            out += (b"POST /cse-in/app/box HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: " + O.encode() +
                    b"\r\nX-M2M-RI: f\r\nX-M2M-RVI: 3\r\nContent-Type: application/json;ty=4\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body)
        s.sendall(out)
        for i in range(start, min(N, start + 64)):
            status = f.readline()
            n = 0
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            f.read(n)
            if b" 201 " not in status:
                raise RuntimeError("create %d: %r" % (i, status))
    s.close()


def yields(cse):
    r = curl("GET", cse.base + "/__metrics__", {"X-M2M-Origin": "CAdmin"})
    m = re.search(r"^ironbark_listing_yields_total (\d+)", r.text, re.M)
    return int(m.group(1)) if m else -1


with Cse() as cse:
    cse.register_ae("app", origin=O)
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "box", "mni": N + 10}}, origin=O)
    fill(cse.port)
    conn = http.client.HTTPConnection("127.0.0.1", cse.port, timeout=30)

    def get(q):
        conn.request("GET", "/cse-in/app/box" + q, headers=hdr())
        r = conn.getresponse()
        body = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), json.loads(body) if body else None

    before = yields(cse)
    # An attribute condition: no index answers it, every row is read.
    status, h, body = get("?fu=1&con=rare")
    t.eq([u.split("/")[-1] for u in body.get("m2m:uril", [])], ["i01500", "i04500", "i08990"],
         "a full scan over %d rows finds the rare matches, in order" % N)
    after = yields(cse)
    t.ok(after - before >= 2, "it yielded the loop on the way (%d times)" % (after - before), (before, after))
    status, h, body = get("?fu=1&con=rare&lim=2")
    t.eq([u.split("/")[-1] for u in body.get("m2m:uril", [])], ["i01500", "i04500"], "lim across a yield")
    t.ok(h.get("x-m2m-cts") == "1", "and the answer says more follow", h)
    status, h, body = get("?fu=1&con=rare&ofst=2")
    t.eq([u.split("/")[-1] for u in body.get("m2m:uril", [])], ["i04500", "i08990"], "ofst across a yield")
    status, h, body = get("?fu=1&ty=4&ofst=8000&lim=3")
    t.eq([u.split("/")[-1] for u in body.get("m2m:uril", [])], ["i07999", "i08000", "i08001"],
         "ty=4 paging past two rounds' rows")
    status, h, body = get("?rcn=4&con=rare")
    t.eq([c["rn"] for c in body["m2m:cnt"].get("m2m:cin", [])], ["i01500", "i04500", "i08990"],
         "rcn=4 with a filter no index answers")
    t.eq(body["m2m:cnt"].get("rn"), "box", "rcn=4 keeps the container's own attributes")
    status, h, body = get("?rcn=6&lim=5&ofst=8996")
    t.eq([c["nm"] for c in body["m2m:rrl"]["rrf"]], ["i08995", "i08996", "i08997", "i08998", "i08999"],
         "rcn=6 child references past two rounds")

    # RETRIEVEs on another connection while full scans run on three more:
    # some la must start and end inside one scan (without yields each
    # waits for the scan in progress to end).
    stop = time.time() + 3.0
    scans, las = [], []

    def timed(c, path, into):
        t0 = time.monotonic()
        c.request("GET", path, headers=hdr())
        r = c.getresponse()
        r.read()
        into.append((t0, time.monotonic(), r.status))

    def scanner():
        c = http.client.HTTPConnection("127.0.0.1", cse.port, timeout=30)
        while time.time() < stop:
            timed(c, "/cse-in/app/box?fu=1&con=nothing", scans)
        c.close()

    threads = [threading.Thread(target=scanner) for _ in range(3)]
    for th in threads:
        th.start()
    c = http.client.HTTPConnection("127.0.0.1", cse.port, timeout=30)
    while time.time() < stop:
        timed(c, "/cse-in/app/box/la", las)
    for th in threads:
        th.join()
    t.ok(scans and all(s[2] == 200 for s in scans), "the scans were answered (%d)" % len(scans), scans[:3])
    t.ok(las and all(s[2] == 200 for s in las), "the RETRIEVEs were answered (%d)" % len(las), las[:3])
    inside = sum(1 for a in las if any(s[0] < a[0] and a[1] < s[1] for s in scans))
    t.ok(inside > 0, "RETRIEVEs were answered while a scan was in progress (%d of %d)" % (inside, len(las)))
    conn.close()
t.done()
