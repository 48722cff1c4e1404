"""HTTPS when several TLS records arrive in one TCP segment: the server reads
ahead (one read takes them all), so OpenSSL holds records the socket no
longer signals, and each must still be answered without a further byte from
the client. A Python TLS client over memory BIOs decides what leaves in one
write: the handshake's last flight with the request (TLS 1.3, and a resumed
TLS 1.2 handshake), pipelined requests each in its own record, a request
split into several records, a request behind a deferred one (a long poll of
a pollingChannel), responses large enough to pause reading (back-pressure),
and keep-alive after a pause; and how many reads a connection costs."""
import os, socket, ssl, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
O = "Csensor"


class Client:
    """A TLS client whose records leave only on send(): everything written
    since goes out in one TCP write."""

    def __init__(self, cse, ctx, session=None, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", cse.https_port))
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost", session=session)
        self.rest = b""

    def send(self):
        self.sock.sendall(self.out.read())

    def fill(self):
        data = self.sock.recv(1 << 16)
        if data:
            self.inc.write(data)
        else:
            self.inc.write_eof()
        return data

    def handshake(self):
        """Up to the client's last flight, which stays unsent (the caller's send())."""
        while True:
            try:
                self.tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                self.send()
                if not self.fill():
                    raise ConnectionError("closed during the handshake")

    def record(self, data):
        """data as one TLS record of its own (queued, see send())."""
        self.tls.write(data)

    def responses(self, n, timeout=5):
        """n HTTP responses as (status, headers, body); fewer when the time is up."""
        out, end = [], time.time() + timeout
        self.sock.settimeout(0.2)
        while len(out) < n and time.time() < end:
            got = parse(self.rest)
            out += got[0]
            self.rest = got[1]
            if len(out) >= n:
                break
            try:
                self.rest += self.tls.read(1 << 20)
            except ssl.SSLWantReadError:
                self.send()   # a key update or an alert, never in these tests
                try:
                    if not self.fill():
                        break
                except socket.timeout:
                    pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
        return out

    def close(self):
        self.sock.close()


def parse(buf):
    """Complete Content-Length framed responses at the start of buf, and the rest."""
    out = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, buf
        lines = buf[:end].decode().split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        length = int(hdrs.get("content-length", "0"))
        if len(buf) < end + 4 + length:
            return out, buf
        out.append((int(lines[0].split()[1]), hdrs, buf[end + 4:end + 4 + length]))
        buf = buf[end + 4 + length:]


def req(method, path, rqi, origin="CAdmin", body=b"", ty=None):
    h = "%s %s HTTP/1.1\r\nHost: localhost\r\nX-M2M-Origin: %s\r\nX-M2M-RI: %s\r\nX-M2M-RVI: 3\r\n" % (
        method, path, origin, rqi)
    if body:
        h += "Content-Type: application/json%s\r\nContent-Length: %d\r\n" % (";ty=%d" % ty if ty else "", len(body))
    return (h + "\r\n").encode() + body


def rsc(rs):
    return [r[1].get("x-m2m-rsc") for r in rs]


def rqis(rs):
    return [r[1].get("x-m2m-ri") for r in rs]


def context(cse, version=None):
    ctx = ssl.create_default_context(cafile=cse.tls_ca)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


with Cse(pch_poll_timeout=500) as cse:
    tls13 = context(cse, ssl.TLSVersion.TLSv1_3)

    # The client's Finished and its request in one segment: the server's
    # handshake step ends with the request already read.
    c = Client(cse, tls13)
    c.handshake()
    c.record(req("GET", "/cse-in", "f1"))
    c.send()
    rs = c.responses(1)
    t.eq((rsc(rs), rqis(rs)), (["2000"], ["f1"]), "TLS 1.3: request sent with the client's Finished is answered")

    # Pipelined requests, one record each, in one segment.
    for i in range(3):
        c.record(req("GET", "/cse-in" if i != 1 else "/cse-in/nothere", "p%d" % i))
    c.send()
    rs = c.responses(3)
    t.eq((rsc(rs), rqis(rs)), (["2000", "4004", "2000"], ["p0", "p1", "p2"]),
         "three pipelined requests in three records of one segment, answered in order")

    # One request in five records (head in three, body in two), one segment.
    body = b'{"m2m:ae":{"rn":"sensor","api":"Nsensor","rr":false,"srv":["3"]}}'
    raw = req("POST", "/cse-in", "s1", origin=O, body=body, ty=2)
    cuts = [0, 20, 50, len(raw) - len(body), len(raw) - 10, len(raw)]
    for a, b in zip(cuts, cuts[1:]):
        c.record(raw[a:b])
    c.send()
    rs = c.responses(1)
    t.eq((rsc(rs), rqis(rs)), (["2001"], ["s1"]), "a request split over five records of one segment is answered")

    # Keep-alive after a pause: the next request comes alone, later.
    time.sleep(0.3)
    c.record(req("GET", "/cse-in/sensor", "k1", origin=O))
    c.send()
    rs = c.responses(1)
    t.eq((rsc(rs), rqis(rs)), (["2000"], ["k1"]), "keep-alive: a request after a pause is answered")

    # A deferred request (a long poll, answered 4008 after pch-poll-timeout)
    # with a request behind it in the same segment: the second waits in
    # OpenSSL while the first is owed, and is read when it is answered.
    c.record(req("POST", "/cse-in/sensor", "d0", origin=O, body=b'{"m2m:pch":{"rn":"pch"}}', ty=15))
    c.send()
    t.eq(rsc(c.responses(1)), ["2001"], "pollingChannel created over TLS")
    c.record(req("GET", "/cse-in/sensor/pch/pcu", "d1", origin=O))
    c.record(req("GET", "/cse-in", "d2"))
    c.send()
    rs = c.responses(2)
    t.eq((rsc(rs), rqis(rs)), (["4008", "2000"], ["d1", "d2"]),
         "a request behind a deferred long poll is answered once the poll is")

    # Back-pressure: responses the client does not read pile up until the
    # server stops reading; once they are read, the request queued behind
    # them (its own record) is answered too.
    con = "x" * 900000
    c.record(req("POST", "/cse-in/sensor", "b0", origin=O, body=b'{"m2m:cnt":{"rn":"box","mbs":10000000}}', ty=3))
    c.send()
    t.eq(rsc(c.responses(1)), ["2001"], "container for large instances")
    c.record(req("POST", "/cse-in/sensor/box", "b1", origin=O, body=('{"m2m:cin":{"con":"%s"}}' % con).encode(), ty=4))
    c.send()
    t.eq(rsc(c.responses(1)), ["2001"], "a 900 kB contentInstance")
    c.close()
    c = Client(cse, tls13, rcvbuf=32768)
    c.handshake()
    for i in range(8):
        c.record(req("GET", "/cse-in/sensor/box/la", "g%d" % i, origin=O))
    c.record(req("GET", "/cse-in", "g8"))
    c.send()
    time.sleep(0.5)     # nothing read: about 7 MB of responses wait at the server
    rs = c.responses(9, timeout=15)
    t.eq(rqis(rs), ["g%d" % i for i in range(9)], "eight large responses, then the request behind them, all answered")
    t.ok(all(r[0] == 200 for r in rs) and all(len(r[2]) > 900000 for r in rs[:8]), "large responses whole")
    c.close()

    # Reads per connection, by the kernel's count of the CSE's read calls
    # (/proc/PID/io syscr): the ClientHello, at most one that finds nothing
    # after the server's flight, then the client's Finished with its request
    # in one; OpenSSL without read-ahead took two per record (about ten).
    def reads():
        with open("/proc/%d/io" % cse.proc.pid) as f:
            return int(next(ln.split()[1] for ln in f if ln.startswith("syscr")))
    before, answered = reads(), 0
    for i in range(20):
        c = Client(cse, tls13)
        c.handshake()
        c.record(req("GET", "/cse-in", "n%d" % i)[:-2] + b"Connection: close\r\n\r\n")
        c.send()
        answered += rsc(c.responses(1)) == ["2000"]
        c.close()
    per = (reads() - before) / 20.0
    t.eq(answered, 20, "20 connections, each with its request in the handshake's last segment")
    t.ok(per <= 4, "at most 4 reads per connection (%.1f)" % per)

    # TLS 1.2: a resumed handshake ends with the client's flight, sent here
    # with the request.
    tls12 = context(cse, ssl.TLSVersion.TLSv1_2)
    c = Client(cse, tls12)
    c.handshake()
    c.record(req("GET", "/cse-in", "r1"))
    c.send()
    t.eq(rsc(c.responses(1)), ["2000"], "TLS 1.2 full handshake and a request")
    session = c.tls.session
    c.close()
    c = Client(cse, tls12, session=session)
    c.handshake()
    t.ok(c.tls.session_reused, "TLS 1.2 session resumed")
    c.record(req("GET", "/cse-in", "r2"))
    c.send()
    rs = c.responses(1)
    t.eq((rsc(rs), rqis(rs)), (["2000"], ["r2"]), "TLS 1.2 resumed: request sent with the client's Finished is answered")
    c.close()

t.done()
