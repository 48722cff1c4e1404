"""http-request-timeout (issue 16, item 3): a request must be complete within
the deadline counted from its first byte. A slowloris client that keeps
sending one header byte every 200 ms is cut off at the deadline (408 with
RSC 4008, then the close) although bytes keep arriving; a slow but complete
request is served; a keep-alive connection may stay silent between requests
for longer than the deadline (only http-idle-timeout applies there)."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, read_response
from conn_attack import log_lines

DEADLINE_MS = 1000
t = Tap()
REQ = ("GET /cse-in HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: CAdmin\r\nX-M2M-RI: d\r\n"
       "X-M2M-RVI: 3\r\nAccept: application/json\r\n\r\n").encode()


def read_until_close(s, timeout):
    """Everything s receives until the peer closes it (or timeout)."""
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    return out


def slowloris(port, period=0.2, limit_s=6.0):
    """Sends a request line, then one header byte every period, reading in
    between; returns (seconds until closed or None, bytes sent, what was read)."""
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.time()
    s.sendall(b"GET /cse-in HTTP/1.1\r\n")
    sent, got = 1, b""
    header = b"X-M2M-Origin: CAdmin-" + b"a" * 200
    s.settimeout(period)
    while time.time() - t0 < limit_s:
        try:
            chunk = s.recv(4096)
            if not chunk:
                s.close()
                return time.time() - t0, sent, got
            got += chunk
            continue
        except socket.timeout:
            pass
        except OSError:
            s.close()
            return time.time() - t0, sent, got
        try:
            s.send(header[sent % len(header):][:1])
            sent += 1
        except OSError:
            s.close()
            return time.time() - t0, sent, got
    s.close()
    return None, sent, got


with Cse(http_request_timeout=DEADLINE_MS) as cse:
    closed_after, sent, got = slowloris(cse.port)
    t.ok(closed_after is not None and DEADLINE_MS / 1000 - 0.05 <= closed_after <= DEADLINE_MS / 1000 + 1.5,
         "a client sending a header byte every 200 ms is cut off at the %d ms deadline (%.2f s)"
         % (DEADLINE_MS, closed_after or -1))
    t.ok(sent >= 4, "bytes kept arriving until then (%d sent): the deadline is not an idle timer" % sent)
    t.ok(got.startswith(b"HTTP/1.1 408") and b"X-M2M-RSC: 4008" in got and b"m2m:dbg" in got,
         "it is answered 408 with RSC 4008 and a reason", got[:300])

    # A slow request that completes in time is served.
    s = socket.create_connection(("127.0.0.1", cse.port))
    third = len(REQ) // 3
    for part in (REQ[:third], REQ[third:2 * third], REQ[2 * third:]):
        s.sendall(part)
        time.sleep(0.25)
    t.ok(read_response(s).startswith(b"HTTP/1.1 200"), "a request sent in pieces over 0.5 s is served")
    # Silence between requests is not a request: longer than the deadline is fine.
    time.sleep(DEADLINE_MS / 1000 + 0.6)
    s.sendall(REQ)
    t.ok(read_response(s).startswith(b"HTTP/1.1 200"),
         "a keep-alive connection silent for longer than the deadline is served (the deadline starts at the first byte)")
    s.close()
    s = socket.create_connection(("127.0.0.1", cse.port))
    time.sleep(DEADLINE_MS / 1000 + 0.6)
    s.sendall(REQ)
    t.ok(read_response(s).startswith(b"HTTP/1.1 200"), "so is a new connection that waits before its first request")
    # A body that trickles in counts too.
    s = socket.create_connection(("127.0.0.1", cse.port))
    s.sendall(b"POST /cse-in HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: CAdmin\r\nX-M2M-RI: b\r\nX-M2M-RVI: 3\r\n"
              b"Content-Type: application/json;ty=3\r\nContent-Length: 100\r\n\r\n{")
    t0 = time.time()
    out = b""
    for _ in range(30):
        try:
            s.sendall(b" ")
        except OSError:
            break
        s.settimeout(0.2)
        try:
            chunk = s.recv(4096)
            out += chunk
            if not chunk:
                break
        except socket.timeout:
            pass
        except OSError:
            break
    took = time.time() - t0
    out += read_until_close(s, 0.5)
    s.close()
    t.ok(out.startswith(b"HTTP/1.1 408") and took <= DEADLINE_MS / 1000 + 1.5,
         "a body trickling in is cut off at the deadline too (%.2f s)" % took, out[:200])
    t.eq(cse.get("/cse-in").status, 200, "other clients were served all along")
    t.eq(log_lines(cse, "warn", "error"), [], "a timed-out request is no warning (debug only)")
    t.eq(cse.stop(), 0, "the CSE stops cleanly")
t.done()
