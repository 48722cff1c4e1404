"""The notification queue is bounded in bytes (Ironbark issue 16, item 5).

Reproduces the report scaled down: a target that accepts TCP and never
answers, many subscriptions naming it, several 100 KB contentInstances. The
CSE's memory must stay near the configured byte bounds (the deliveries of one
event share one body), the drops must be counted and logged rate-limited,
another target must not suffer, and once the target answers everything that
was kept, and everything new, is delivered."""
import json, os, re, socket, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, sgn

t = Tap()

MIB = 1 << 20
TARGET_BYTES = 1 * MIB
TOTAL_BYTES = 4 * MIB
NSUBS = 200
NCINS = 10
CIN_BYTES = 100 * 1000
# Allowed RSS growth: the overall bound three times over (allocator slack,
# the request being parsed, the representation being serialized) plus a
# constant for what is not notification memory. Without byte bounds the
# flood below grows the CSE by NSUBS * NCINS * CIN_BYTES = 200 MB.
RSS_SLACK = 3 * TOTAL_BYTES + 16 * MIB
# Drops are summed up every DROP_REPORT_S (notify-drop-report; 10 s by
# default): longer than the ten creations that cause every drop take (half
# a second; a few under a sanitizer on a loaded machine), so that one
# summary line counts them all.
DROP_REPORT_S = 4


class StallingTarget:
    """An HTTP notification target on loopback. It answers verification
    requests (so subscriptions can name it), and while stalled it accepts
    every other request, reads it, and never answers. answer() makes it
    answer (2000) the requests it holds and all later ones, recording them."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.05)
        self.port = self.lsock.getsockname()[1]
        self.stalled = True
        self.running = True
        self.lock = threading.Lock()
        self.answered = []          # bodies of the notifications answered
        self.held = 0               # requests read and not (yet) answered
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def url(self, path="/t"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def answer(self):
        self.stalled = False

    def _accept(self):
        while self.running:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            th = threading.Thread(target=self._serve, args=(c,), daemon=True)
            th.start()
            self.threads.append(th)

    def _read_request(self, c, buf):
        """One request (head, body, rest of buffer), or None when the peer
        closed or the test ended."""
        while b"\r\n\r\n" not in buf:
            data = self._recv(c)
            if data is None:
                return None
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(buf) < n:
            data = self._recv(c)
            if data is None:
                return None
            buf += data
        return head, buf[:n], buf[n:]

    def _recv(self, c):
        while self.running:
            try:
                data = c.recv(65536)
                return data or None
            except socket.timeout:
                continue
            except OSError:
                return None
        return None

    def _serve(self, c):
        c.settimeout(0.05)
        buf = b""
        try:
            while self.running:
                req = self._read_request(c, buf)
                if req is None:
                    return
                head, body, buf = req
                verification = b'"vrq"' in body
                if not verification and self.stalled and not self._hold(c):
                    return
                if not verification:
                    with self.lock:
                        self.answered.append(json.loads(body))
                c.sendall(b"HTTP/1.1 200 OK\r\nX-M2M-RSC: 2000\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            return
        finally:
            c.close()

    def _hold(self, c):
        """Reads (and discards) whatever comes, answering nothing, until told
        to answer (True) or the CSE gives up on the connection (False)."""
        with self.lock:
            self.held += 1
        try:
            while self.stalled and self.running:
                try:
                    if not c.recv(65536):
                        return False
                except socket.timeout:
                    continue
            return self.running
        finally:
            with self.lock:
                self.held -= 1

    def bodies(self):
        with self.lock:
            return list(self.answered)

    def wait(self, cond, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond(self.bodies()):
                return True
            time.sleep(0.05)
        return cond(self.bodies())

    def stop(self):
        self.running = False
        self.lsock.close()
        self.acceptor.join(2)
        for th in self.threads:
            th.join(2)


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def rss_peak(pid, seconds=1.0):
    """The largest RSS seen over a short while (the queue settles meanwhile)."""
    peak = 0
    for _ in range(int(seconds / 0.1)):
        peak = max(peak, rss_bytes(pid))
        time.sleep(0.1)
    return peak


def events_of(bodies):
    """(sur, content tag) of every event notification among bodies, in order."""
    out = []
    for b in bodies:
        s = sgn(b) or {}
        rep = (s.get("nev") or {}).get("rep") or {}
        con = (rep.get("m2m:cin") or {}).get("con")
        if con:
            out.append((s.get("sur"), con.split(":")[0]))
    return out


def delivered_pairs(bodies, prefix=""):
    return {p for p in events_of(bodies) if p[1].startswith(prefix)}


def in_order(pairs):
    """Each subscription's notifications arrived in the order of their events."""
    last = {}
    for sur, tag in pairs:
        n = int(tag[1:])
        if n <= last.get(sur, -1):
            return False
        last[sur] = n
    return True


def big_cin(cse, path, tag):
    con = tag + ":" + "x" * (CIN_BYTES - len(tag) - 1)
    return cse.create(path, 4, {"m2m:cin": {"con": con}}, origin="Cmon")


def drop_summaries(log):
    """(dropped in the period, since start) of every drop summary line."""
    return [(int(a), int(b)) for a, b in
            re.findall(r"notify: dropped (\d+) notifications? in the last \d+ s \((\d+) since start", log)]


# Under AddressSanitizer freed memory waits in a quarantine (256 MB by
# default) before reuse, which RSS would count: keep it small (still catching
# a use of what was just freed) so RSS measures what the CSE holds.
os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"

tgt = StallingTarget()
rx = Receiver().start()
try:
    with Cse(notify_target_bytes=TARGET_BYTES, notify_total_bytes=TOTAL_BYTES, notify_drop_report=DROP_REPORT_S,
             https_port=0, coap_port=0, coaps_port=0) as cse:
        t.rsc(cse.register_ae("mon", origin="Cmon"), 2001, 201, "AE registered")
        t.rsc(cse.create("/cse-in/mon", 3, {"m2m:cnt": {"rn": "box"}}, origin="Cmon"), 2001, 201,
              "container")
        box = "/cse-in/mon/box"
        made = cse.create_many(box, 23, [{"m2m:sub": {"rn": "s%d" % i, "nu": [tgt.url()],
                                                       "enc": {"net": [3], "chty": [4]}}} for i in range(NSUBS)],
                               origin="Cmon").count(2001)
        t.eq(made, NSUBS, "%d subscriptions naming the stalling target" % NSUBS)
        r = cse.create(box, 23, {"m2m:sub": {"rn": "healthy", "nu": [rx.url],
                                             "enc": {"net": [3], "chty": [4]}}}, origin="Cmon")
        t.rsc(r, 2001, 201, "one subscription naming a healthy receiver")
        rx.clear()

        pid = cse.proc.pid
        rss0 = rss_bytes(pid)
        made = 0
        for i in range(NCINS):
            made += big_cin(cse, box, "a%d" % i).rsc == 2001
        t.eq(made, NCINS, "%d contentInstances of %d bytes created" % (NCINS, CIN_BYTES))
        healthy = lambda reqs: delivered_pairs([q["body"] for q in reqs])
        t.eq(len(healthy(rx.wait(lambda reqs: len(healthy(reqs)) >= NCINS, timeout=15))), NCINS,
             "the healthy receiver got every notification while the other target stalls")
        deadline = time.time() + 5
        while tgt.held < 1 and time.time() < deadline:
            time.sleep(0.05)
        t.ok(tgt.held >= 1, "the stalling target holds a notification unanswered", tgt.held)
        peak = rss_peak(pid)
        t.ok(peak - rss0 < RSS_SLACK,
             "RSS growth %.1f MiB stays below %.1f MiB (bounds %d KiB per target, %d KiB overall)"
             % ((peak - rss0) / MIB, RSS_SLACK / MIB, TARGET_BYTES >> 10, TOTAL_BYTES >> 10),
             "before %d, peak %d" % (rss0, peak))

        log = cse.read_log()
        first = [l for l in log.splitlines() if "dropping notifications" in l]
        t.ok(len(first) == 1 and tgt.url() in first[0] and "per-target bound" in first[0] and
             "reported every %d s" % DROP_REPORT_S in first[0],
             "one immediate log line names the target, the per-target bound and the report period", first[:3])

        # The target answers from now on: what was kept arrives.
        tgt.answer()
        total = NSUBS * NCINS
        t.ok(tgt.wait(lambda b: len(b) > 0, timeout=20), "the target answers and notifications flow")
        # Drops are summarized at most every DROP_REPORT_S: wait (bounded) for the summary.
        deadline = time.time() + 20
        while not drop_summaries(cse.read_log()) and time.time() < deadline:
            time.sleep(0.2)
        sums = drop_summaries(cse.read_log())
        t.ok(len(sums) == 1, "one summary line counts the drops (rate-limited, not one per drop)", sums)
        dropped = sums[-1][1] if sums else 0
        t.ok(dropped >= NCINS * NSUBS // 10, "a substantial share was dropped (%d of %d)" % (dropped, total))
        ok = tgt.wait(lambda b: len(delivered_pairs(b)) + dropped >= total, timeout=30)
        kept = delivered_pairs(tgt.bodies())
        t.ok(ok and len(kept) + dropped == total,
             "every notification was either delivered or counted as dropped (%d + %d of %d)"
             % (len(kept), dropped, total), [l for l in cse.read_log().splitlines() if "notify:" in l][:8])
        newest = {"a%d" % (NCINS - 1)}
        t.eq({tag for _, tag in kept} & newest, newest, "the newest event was kept (oldest are dropped)")
        t.ok(in_order(events_of(tgt.bodies())), "what was kept arrived in the order of the events")
        t.eq(len([l for l in cse.read_log().splitlines() if "dropping notifications" in l]), 1,
             "the per-drop line is not repeated")

        # Answering normally: a burst to the same target is delivered whole
        # with no drop. Without a shared body per event this burst (600
        # deliveries of 100 KB) would be 60 MB against a 1 MiB bound.
        for i in range(3):
            big_cin(cse, box, "b%d" % i)
        ok = tgt.wait(lambda b: len(delivered_pairs(b, "b")) >= 3 * NSUBS, timeout=30)
        fresh = delivered_pairs(tgt.bodies(), "b")
        t.ok(ok and len(fresh) == 3 * NSUBS, "all %d notifications of a new burst delivered" % (3 * NSUBS),
             len(fresh))
        t.eq(drop_summaries(cse.read_log()), sums, "no drop after the target answers")

    # The overall bound binds first when it is the smaller: the new notification is refused.
    tgt2 = StallingTarget()
    try:
        with Cse(notify_total_bytes=512 * 1024, https_port=0, coap_port=0, coaps_port=0) as cse:
            cse.register_ae("mon", origin="Cmon")
            cse.create("/cse-in/mon", 3, {"m2m:cnt": {"rn": "box"}}, origin="Cmon")
            box = "/cse-in/mon/box"
            # Five targets (paths of one stalling server), ten subscriptions each.
            cse.create_many(box, 23, [{"m2m:sub": {"rn": "s%d" % i, "nu": [tgt2.url("/t%d" % (i % 5))],
                                                   "enc": {"net": [3], "chty": [4]}}} for i in range(50)],
                            origin="Cmon")
            pid = cse.proc.pid
            rss0 = rss_bytes(pid)
            for i in range(NCINS):
                big_cin(cse, box, "c%d" % i)
            peak = rss_peak(pid, 0.5)
            t.ok(peak - rss0 < 3 * (512 * 1024) + 16 * MIB,
                 "RSS growth %.1f MiB bounded by the overall bound" % ((peak - rss0) / MIB))
            first = [l for l in cse.read_log().splitlines() if "dropping notifications" in l]
            t.ok(len(first) == 1 and "overall bound" in first[0],
                 "the log line names the overall bound", first[:3])
    finally:
        tgt2.stop()
finally:
    rx.stop()
    tgt.stop()
t.done()
