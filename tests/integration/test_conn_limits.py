"""Connection limits (issue 16, item 3): one client holding many connections,
each trickling bytes, cannot lock other clients out (max-connections-per-client);
at max-connections the least recently active idle connection is closed to
admit a new client, while connections with a request in progress are kept
(and refused clients get a 503 with the reason); refusals are logged once
per burst, not once per connection; HTTP and HTTPS count together."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, read_response
from conn_attack import connect_from, drop_closed, log_lines, peer_closed, wait_until_closed

t = Tap()
REQ = ("GET /cse-in HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: CAdmin\r\nX-M2M-RI: a\r\n"
       "X-M2M-RVI: 3\r\nAccept: application/json\r\n\r\n").encode()


def trickle(socks, stop, period=0.2):
    """Sends one more header byte on every held connection each period."""
    while not stop.is_set():
        for s in list(socks):
            try:
                s.send(b"x")
            except OSError:
                pass
        stop.wait(period)


# --- 1. one address, 300 connections trickling bytes, per-client limit 8 ------
PER_CLIENT = 8
with Cse(max_connections=32, max_connections_per_client=PER_CLIENT) as cse:
    held, refused_503 = [], 0
    for i in range(300):
        s = connect_from("127.0.0.2", cse.port)
        if s is None:
            continue
        try:
            s.send(b"GET /cse-in HTTP/1.1\r\nX-Slow: ")   # a request in progress, never finished
        except OSError:
            pass                                          # refused before it was sent
        held.append(s)
    stop = threading.Event()
    th = threading.Thread(target=trickle, args=(held, stop), daemon=True)
    th.start()
    # The refused ones are closed at once; look at what they were told first.
    time.sleep(0.5)
    for s in list(held):
        s.setblocking(False)
        try:
            if s.recv(200).startswith(b"HTTP/1.1 503"):
                refused_503 += 1
        except OSError:
            pass
    wait_until_closed(held, 1.0)
    t.ok(0 < len(held) <= PER_CLIENT, "the attacker keeps at most %d of its 300 connections (%d)" % (PER_CLIENT, len(held)))
    t.ok(refused_503 > 0, "refused connections are told why: 503 (%d seen)" % refused_503)
    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "a client at another address is served while the attacker trickles bytes")
    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "…and again")
    alive = sum(1 for s in held if not peer_closed(s))
    t.eq(alive, len(held), "the attacker's admitted connections are still open (trickling, within the deadline)")
    stop.set()
    th.join(2)
    refusals = log_lines(cse, "refus")
    t.ok(1 <= len(refusals) <= 3, "the burst of %d refusals is logged in one line, not one per connection (%d lines)"
         % (300 - PER_CLIENT, len(refusals)), "\n".join(refusals[:5]))
    t.ok(any("max-connections-per-client" in line and "127.0.0.2" in line for line in refusals),
         "the line names the limit and the address", "\n".join(refusals[:5]))
    for s in held:
        s.close()
    # Once the attacker has gone, its address may connect again.
    s = connect_from("127.0.0.2", cse.port)
    s.sendall(REQ)
    t.ok(read_response(s).startswith(b"HTTP/1.1 200"), "the attacker's address is admitted again once its connections closed")
    s.close()
    t.eq(cse.stop(), 0, "the CSE stops cleanly")

# --- 2. max-connections: idle ones are shed, busy ones are not ----------------
MAX = 16
with Cse(max_connections=MAX, max_connections_per_client=1000, http_request_timeout=1500) as cse:
    idle = []
    for i in range(MAX):
        s = connect_from("127.0.0.2", cse.port)
        s.sendall(REQ)
        ok = read_response(s).startswith(b"HTTP/1.1 200")
        idle.append(s)
        if not ok:
            break
        time.sleep(0.01)   # a clear order of activity
    t.eq(len(idle), MAX, "%d keep-alive connections are open and idle" % MAX)
    first = idle[0]
    time.sleep(0.3)    # idle means quiet for a moment (200 ms), not just answered
    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "at max-connections a new client is admitted")
    wait_until_closed(idle, 0.5)
    t.eq(len(idle), MAX - 1, "…by closing one idle connection")
    t.ok(first not in idle, "the one closed was the least recently active (the first opened)")
    # Touch the oldest remaining one: it becomes the most recently active.
    idle[0].sendall(REQ)
    t.ok(read_response(idle[0]).startswith(b"HTTP/1.1 200"), "a kept connection is still served")
    for s in idle:
        s.close()
    time.sleep(0.3)

    busy = []
    for i in range(MAX):
        s = connect_from("127.0.0.%d" % (2 + i % 4), cse.port)
        s.send(b"GET /cse-in HTTP/1.1\r\nX-Slow: ")
        busy.append(s)
    time.sleep(0.3)
    t0 = time.time()
    r = cse.get("/cse-in")
    t.ok(r.status == 503 and r.rsc == 5000 and "too many connections" in r.text,
         "with every connection busy with a request, a new client gets 503 / 5000 'too many connections'", r)
    t.eq(sum(1 for s in busy if not peer_closed(s)), MAX, "requests in progress are never shed")
    # Their deadline frees the slots.
    wait_until_closed(busy, 3.5)
    t.eq(len(busy), 0, "the stalled requests are closed at http-request-timeout")
    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "after the deadline new clients are served again")
    for s in busy:
        s.close()
    t.eq(cse.stop(), 0, "the CSE stops cleanly")

# --- 3. HTTP and HTTPS count together ------------------------------------------
with Cse(max_connections_per_client=4) as cse:
    tls_side = [connect_from("127.0.0.2", cse.https_port) for _ in range(4)]
    time.sleep(0.3)
    s = connect_from("127.0.0.2", cse.port)
    s.sendall(REQ)
    head = read_response(s)
    t.ok(head.startswith(b"HTTP/1.1 503"), "4 HTTPS connections use up a per-client limit of 4 for HTTP too", head[:100])
    s.close()
    t.rsc(cse.get("/cse-in"), 2000, 200, "another address is still served over HTTP")
    for x in tls_side:
        x.close()
    t.eq(cse.stop(), 0, "the CSE stops cleanly")
t.done()
