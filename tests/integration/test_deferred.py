"""Nothing blocks the event loop while an answer from outside is awaited:
a notification receiver that takes 1.5 s to answer delays only the request
that needs it (subscription CREATE over CoAP with its verification, over
HTTP and CoAP inside a fopt fan-out, the execution of a non-blocking
request, a NOTIFY forwarded to an AE's poa), while other HTTP and CoAP
requests are answered at once; the deferred request gets the right answer."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, sgn
import coap_peer as cp

DELAY = 1.5
FAST = 0.3

t = Tap()


def opts(fr, rqi, **kw):
    return cp.m2m_options(fr=fr, rqi=rqi, rvi="3", **kw)


def probe_fast(cse, name, during):
    """While `during` is running: an HTTP and a CoAP retrieve are both fast."""
    time.sleep(0.3)  # let the deferred request reach its wait
    t0 = time.time()
    r = cse.get("/cse-in")
    http_s = time.time() - t0
    c = cp.RawClient(cse.coap_port)
    t0 = time.time()
    m = c.request(cp.GET, "cse-in", opts("CAdmin", "probe"))
    coap_s = time.time() - t0
    c.close()
    t.ok(during.is_alive(), "%s: still waiting for the slow receiver when probed" % name)
    t.ok(r.rsc == 2000 and http_s < FAST, "%s: HTTP served meanwhile (%.3fs)" % (name, http_s))
    t.ok(m is not None and m.rsc == 2000 and coap_s < FAST,
         "%s: CoAP served meanwhile (%.3fs)" % (name, coap_s))


def in_thread(fn):
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", fn()), daemon=True)
    th.start()
    return th, out


rx = Receiver().start()
rx.delay = DELAY
try:
    with Cse() as cse:
        cse.create("/cse-in", 3, {"m2m:cnt": {"rn": "box"}})

        # -- CoAP: subscription CREATE, verification to the slow receiver ------
        c = cp.RawClient(cse.coap_port)
        body = json.dumps({"m2m:sub": {"rn": "s1", "nu": [rx.url]}})
        mid, token = c.next_mid(), b"\x51\x52\x53\x54"
        pdu = cp.encode(cp.CON, cp.POST, mid, token,
                        cp.path_options("cse-in/box") + opts("CAdmin", "cs-1", ty=23) +
                        [(cp.CONTENT_FORMAT, cp.uint_bytes(50))], body)
        t0 = time.time()
        c.send_raw(pdu)
        ack = c.recv(1.0)
        t.ok(ack is not None and ack.type == cp.ACK and ack.code == 0 and ack.mid == mid,
             "CoAP sub CREATE: empty ACK at once (separate response follows)", ack)
        waiter = threading.Thread(target=time.sleep, args=(DELAY - 0.5,), daemon=True)
        waiter.start()
        probe_fast(cse, "CoAP sub CREATE", waiter)
        c.send_raw(pdu)  # retransmission while pending
        again = c.recv(1.0)
        t.ok(again is not None and again.type == cp.ACK and again.code == 0,
             "retransmitted CON while pending: empty ACK again, not executed twice", again)
        m = c.recv(DELAY + 2)
        took = time.time() - t0
        t.ok(m is not None and m.token == token and m.code == cp.code(2, 1) and m.rsc == 2001,
             "separate response 2.01 / 2001 with the request's token", m)
        t.ok(took >= DELAY - 0.1, "it came after the receiver answered (%.2fs)" % took)
        if m is not None and m.type == cp.CON:
            c.send_raw(cp.encode(cp.ACK, 0, m.mid))
        c.send_raw(pdu)  # a late duplicate: answered from the cache
        dup = c.recv(1.0)
        t.ok(dup is not None and dup.code == cp.code(2, 1) and dup.rsc == 2001,
             "a late duplicate gets the cached 2.01", dup)
        c.close()
        r = cse.get("/cse-in/box?fu=1&ty=23")
        t.eq(len((r.json or {}).get("m2m:uril", [])), 1, "exactly one subscription was created")
        t.eq(sum(1 for x in rx.snapshot() if sgn(x["body"]).get("vrq")), 1,
             "exactly one verification request was sent")
finally:
    rx.stop()
t.done()
