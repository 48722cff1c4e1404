"""http-idle-timeout: an HTTP connection left silent for the configured time
is closed by the CSE; one that keeps sending requests within that time stays
open and is served on the same connection."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, read_response

IDLE_MS = 1000
t = Tap()


def request_bytes(host_port):
    return ("GET /cse-in HTTP/1.1\r\nHost: %s\r\nX-M2M-Origin: CAdmin\r\nX-M2M-RI: idle\r\n"
            "X-M2M-RVI: 3\r\nAccept: application/json\r\n\r\n" % host_port).encode()


def closed_within(s, seconds):
    """Seconds until the peer closed s (EOF or reset), None if it did not."""
    t0 = time.time()
    s.settimeout(seconds)
    try:
        data = s.recv(1)
    except socket.timeout:
        return None
    except ConnectionResetError:
        data = b""
    return time.time() - t0 if data == b"" else None


with Cse(http_idle_timeout=IDLE_MS) as cse:
    hp = "127.0.0.1:%d" % cse.port
    idle = socket.create_connection(("127.0.0.1", cse.port))
    active = socket.create_connection(("127.0.0.1", cse.port))
    idle.sendall(request_bytes(hp))
    t.ok(read_response(idle).startswith(b"HTTP/1.1 200"), "the idle connection is served first")
    t0 = time.time()
    watch = {}
    watcher = threading.Thread(target=lambda: watch.setdefault("w", closed_within(idle, 4.0)), daemon=True)
    watcher.start()
    # The active connection sends a request every 0.3 s for 2.1 s (past twice the timeout).
    served = 0
    for _ in range(7):
        active.sendall(request_bytes(hp))
        if read_response(active).startswith(b"HTTP/1.1 200"):
            served += 1
        time.sleep(0.3)
    t.eq(served, 7, "an active connection is served on the same socket past the idle timeout")
    watcher.join(4.0)
    w = watch.get("w")
    t.ok(w is not None and IDLE_MS / 1000 - 0.05 <= w <= IDLE_MS / 1000 + 1.5,
         "while the other was active, the idle connection was closed after ~%d ms (%.2f s)" % (IDLE_MS, w or -1))
    active.sendall(request_bytes(hp))
    t.ok(read_response(active).startswith(b"HTTP/1.1 200"), "the active connection is still open")
    # Closed no earlier than the timeout: a fresh connection survives 0.6 s of silence.
    fresh = socket.create_connection(("127.0.0.1", cse.port))
    t0 = time.time()
    w = closed_within(fresh, 3.0)
    t.ok(w is not None and IDLE_MS / 1000 - 0.05 <= w <= IDLE_MS / 1000 + 1.5,
         "a silent new connection is closed after the timeout, not before (%.2f s)" % (w or -1))
    for s in (idle, active, fresh):
        s.close()
    t.eq(cse.stop(), 0, "the CSE stops cleanly")

with Cse() as cse:
    s = socket.create_connection(("127.0.0.1", cse.port))
    t.eq(closed_within(s, 1.5), None, "by default (60 s) a connection silent for 1.5 s stays open")
    s.sendall(request_bytes("127.0.0.1:%d" % cse.port))
    t.ok(read_response(s).startswith(b"HTTP/1.1 200"), "…and is served")
    s.close()
t.done()
