"""Nothing blocks the event loop while an answer from outside is awaited:
a notification receiver that holds its answer (until the test has probed
the CSE, well below the 2 s verification timeout) delays only the request
that needs it (subscription CREATE over CoAP with its verification, over
HTTP and CoAP inside a fopt fan-out, the execution of a non-blocking
request, a NOTIFY forwarded to an AE's poa), while other HTTP and CoAP
requests are answered at once; the deferred request gets the right answer."""
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, sgn
import coap_peer as cp

# The receiver holds its answers while a gate is closed: each deferred
# request is probed while the CSE waits for it (the request has reached the
# receiver), then the gate opens. A loop that waited for the answer would
# not serve the probes before the 2 s verification timeout.
FAST = 0.8
WAIT = 3.5   # bound of every wait for a deferred answer once the gate opened

t = Tap()


def opts(fr, rqi, **kw):
    return cp.m2m_options(fr=fr, rqi=rqi, rvi="3", **kw)


def hold():
    """Closes the receiver's gate: it records and holds what arrives from now on."""
    rx.gate = threading.Event()
    return len(rx.snapshot())


def release():
    rx.gate.set()


def held(seen):
    """Waits (bounded) until a request beyond the first `seen` reached the
    receiver: the deferred request now waits for its answer."""
    return rx.wait(lambda reqs: len(reqs) > seen, WAIT)[seen:]


def probe_fast(cse, name, during, seen):
    """While the receiver holds the answer `during` waits for (a request
    beyond the first `seen` reached it): an HTTP and a CoAP retrieve are
    both served, fast."""
    t.ok(held(seen), "%s: the request reached the receiver, which holds its answer" % name)
    t0 = time.time()
    r = cse.get("/cse-in")
    http_s = time.time() - t0
    c = cp.RawClient(cse.coap_port)
    t0 = time.time()
    m = c.request(cp.GET, "cse-in", opts("CAdmin", "probe"))
    coap_s = time.time() - t0
    c.close()
    t.ok(during(), "%s: still waiting for the receiver when probed" % name)
    t.ok(r.rsc == 2000 and http_s < FAST, "%s: HTTP served meanwhile (%.3fs)" % (name, http_s))
    t.ok(m is not None and m.rsc == 2000 and coap_s < FAST,
         "%s: CoAP served meanwhile (%.3fs)" % (name, coap_s))


def verifications(requests):
    return sum(1 for x in requests if (sgn(x["body"]) or {}).get("vrq"))


def in_thread(fn):
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", fn()), daemon=True)
    th.start()
    return th, out


def no_early_answer(c, name):
    """No separate response while the receiver holds its answer. One sent
    without waiting for it would have left before the probes did: 0.2 s
    more is ample to see it."""
    early = c.recv(0.2)
    t.ok(early is None, "%s: no answer before the receiver's" % name, early)


def coap_deferred(cse, name, path, options, body, token):
    """A CoAP CON request whose answer is deferred: an empty ACK at once,
    HTTP and CoAP served meanwhile, then the separate response (ACKed)."""
    seen = hold()
    c = cp.RawClient(cse.coap_port)
    c.send_raw(cp.encode(cp.CON, cp.POST, c.next_mid(), token, cp.path_options(path) + options +
                         [(cp.CONTENT_FORMAT, cp.uint_bytes(50))], body))
    ack = c.recv(1.0)
    t.ok(ack is not None and ack.type == cp.ACK and ack.code == 0, "%s: empty ACK at once" % name, ack)
    probe_fast(cse, name, lambda: not rx.gate.is_set(), seen)
    no_early_answer(c, name)
    release()
    m = c.recv(WAIT)
    if m is not None and m.type == cp.CON:
        c.send_raw(cp.encode(cp.ACK, 0, m.mid))
    c.close()
    return m if m is not None and m.token == token else None


rx = Receiver().start()
hold()
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
        seen = hold()
        c.send_raw(pdu)
        ack = c.recv(1.0)
        t.ok(ack is not None and ack.type == cp.ACK and ack.code == 0 and ack.mid == mid,
             "CoAP sub CREATE: empty ACK at once (separate response follows)", ack)
        probe_fast(cse, "CoAP sub CREATE", lambda: not rx.gate.is_set(), seen)
        c.send_raw(pdu)  # retransmission while pending
        again = c.recv(1.0)
        t.ok(again is not None and again.type == cp.ACK and again.code == 0,
             "retransmitted CON while pending: empty ACK again, not executed twice", again)
        no_early_answer(c, "CoAP sub CREATE")   # it comes after the receiver answered
        release()
        m = c.recv(WAIT)
        t.ok(m is not None and m.type == cp.CON and m.token == token and m.code == cp.code(2, 1)
             and m.rsc == 2001, "separate response: CON 2.01 / 2001 with the request's token", m)
        if m is not None and m.type == cp.CON:
            c.send_raw(cp.encode(cp.ACK, 0, m.mid))
        c.send_raw(pdu)  # a late duplicate: answered from the cache
        dup = c.recv(1.0)
        t.ok(dup is not None and dup.code == cp.code(2, 1) and dup.rsc == 2001,
             "a late duplicate gets the cached 2.01", dup)
        # NON: nothing at once, a NON response later.
        body = json.dumps({"m2m:sub": {"rn": "s2", "nu": [rx.url]}})
        seen = hold()
        c.send_raw(cp.encode(cp.NON, cp.POST, c.next_mid(), b"\x55", cp.path_options("cse-in/box") +
                             opts("CAdmin", "cs-2", ty=23) + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))], body))
        t.ok(held(seen), "NON sub CREATE: its verification reached the receiver, which holds its answer")
        no_early_answer(c, "NON sub CREATE")
        release()
        m = c.recv(WAIT)
        t.ok(m is not None and m.type == cp.NON and m.token == b"\x55" and m.rsc == 2001,
             "NON sub CREATE: NON 2.01 after the verification", m)
        c.close()
        r = cse.get("/cse-in/box?fu=1&ty=23")
        t.eq(len((r.json or {}).get("m2m:uril", [])), 2, "exactly one subscription per request was created")
        t.eq(sum(1 for x in rx.snapshot() if sgn(x["body"]).get("vrq")), 2,
             "exactly one verification request per subscription was sent")

        def ri_of(path):
            r = cse.get(path)
            return list((r.json or {}).values())[0]["ri"]

        def subs_under(path):
            return len((cse.get(path + "?fu=1&ty=23").json or {}).get("m2m:uril", []))

        def vrq_count():
            return sum(1 for x in rx.snapshot() if sgn(x["body"]).get("vrq"))

        # -- fopt over HTTP: every member verifies through the slow receiver --
        for n in ("m1", "m2"):
            cse.create("/cse-in", 3, {"m2m:cnt": {"rn": n}})
        cse.create("/cse-in", 9, {"m2m:grp": {"rn": "g", "mnm": 5,
                                              "mid": [ri_of("/cse-in/m1"), ri_of("/cse-in/m2")]}})
        rx.clear()
        seen = hold()
        th, out = in_thread(lambda: cse.create("/cse-in/g/fopt", 23, {"m2m:sub": {"nu": [rx.url]}}))
        probe_fast(cse, "fopt sub CREATE over HTTP", th.is_alive, seen)
        release()
        th.join(WAIT + 5)
        r = out.get("r")
        rsps = (r.json or {}).get("m2m:agr", {}).get("m2m:rsp", []) if r else []
        t.eq(sorted(x.get("rsc") for x in rsps), [2001, 2001], "fopt: both members answer 2001 in m2m:agr")
        t.eq((subs_under("/cse-in/m1"), subs_under("/cse-in/m2")), (1, 1),
             "fopt: one subscription per member (the rerun created nothing twice)")
        t.eq(vrq_count(), 2, "fopt: one verification per member")

        # -- fopt over CoAP ----------------------------------------------------
        rx.clear()
        body = json.dumps({"m2m:sub": {"rn": "viacoap", "nu": [rx.url]}})
        m = coap_deferred(cse, "fopt sub CREATE over CoAP", "cse-in/g/fopt", opts("CAdmin", "cg-1", ty=23),
                          body, b"\x61\x62")
        rsps = (m.json or {}).get("m2m:agr", {}).get("m2m:rsp", []) if m and m.payload else []
        t.ok(m is not None and m.rsc == 2000 and sorted(x.get("rsc") for x in rsps) == [2001, 2001],
             "fopt over CoAP: separate response with m2m:agr of two 2001", m)
        t.eq((subs_under("/cse-in/m1"), subs_under("/cse-in/m2")), (2, 2), "fopt over CoAP: one more each")

        # -- NOTIFY forwarded to an AE's poa: directly over CoAP, in fopt ------
        r = cse.register_ae("fwd", origin="Cfwd", poa=[rx.url])
        fwd_ri = (r.json or {}).get("m2m:ae", {}).get("ri")
        rx.clear()
        note = json.dumps({"m2m:sgn": {"nev": {"rep": {"m2m:cin": {"con": "x"}}, "net": 3}, "sur": "/id-in/x"}})
        m = coap_deferred(cse, "NOTIFY forward over CoAP", "cse-in/fwd", opts("CAdmin", "nf-1"), note, b"\x71")
        t.ok(m is not None and m.rsc == 2000, "NOTIFY forward over CoAP: 2000 relayed", m)
        t.eq(len(rx.snapshot()), 1, "the AE's poa received the notification once")

        # A group of the CSEBase (answers at once) and the AE (forwarded):
        # the member that completed in the first run is not run again.
        cse.create("/cse-in", 9, {"m2m:grp": {"rn": "gn", "mnm": 5, "mid": [ri_of("/cse-in"), fwd_ri]}})
        rx.clear()
        seen = hold()
        th, out = in_thread(lambda: cse.request("POST", "/cse-in/gn/fopt", body=json.loads(note)))
        probe_fast(cse, "fopt NOTIFY forward", th.is_alive, seen)
        release()
        th.join(WAIT + 5)
        r = out.get("r")
        rsps = (r.json or {}).get("m2m:agr", {}).get("m2m:rsp", []) if r else []
        t.eq(sorted((x.get("to"), x.get("rsc")) for x in rsps), sorted([(ri_of("/cse-in"), 2000), (fwd_ri, 2000)]),
             "fopt NOTIFY: CSEBase 2000 and the forwarded member's 2000")
        t.eq(len(rx.snapshot()), 1, "fopt NOTIFY: forwarded once")

        # -- non-blocking requests: the execution waits without blocking -------
        rx.clear()
        rx2 = Receiver().start()
        try:
            for rt, want in ((1, 1001), (2, 1002)):
                seen = hold()
                r = cse.request("POST", "/cse-in/m1?rt=%d" % rt, ty=23, body={"m2m:sub": {"nu": [rx.url]}},
                                headers={"X-M2M-RTU": rx2.url})
                t.eq(r.rsc, want, "rt=%d sub CREATE accepted with %d" % (rt, want))
                rec = (r.json or {}).get("m2m:uri")
                pending = lambda: (cse.get("/" + rec).json or {}).get("m2m:req", {}).get("rs") == 3
                probe_fast(cse, "rt=%d execution" % rt, pending, seen)
                release()
                deadline, ors = time.time() + WAIT + 4, None
                while time.time() < deadline:
                    q = cse.get("/" + rec).json or {}
                    if q.get("m2m:req", {}).get("rs") == 1:
                        ors = q["m2m:req"].get("ors")
                        break
                    time.sleep(0.1)
                t.eq((ors or {}).get("rsc"), 2001, "rt=%d: the <request> record completes with 2001" % rt)
            t.ok(rx2.wait(lambda reqs: any("m2m:rsp" in (x["body"] or {}) for x in reqs), timeout=3),
                 "rt=2: the result was notified to the RTU")
        finally:
            rx2.stop()
        t.eq(subs_under("/cse-in/m1"), 4, "non-blocking: one subscription per request")

    # Stopping the CSE while a CoAP request, a fopt fan-out and a non-blocking
    # execution wait: a clean exit (the sanitizer build fails on a leak).
    with Cse() as cse2:
        cse2.create("/cse-in", 3, {"m2m:cnt": {"rn": "b"}})
        cse2.create("/cse-in", 9, {"m2m:grp": {"rn": "g", "mnm": 2,
                                               "mid": [cse2.get("/cse-in/b").json["m2m:cnt"]["ri"]]}})
        rx.clear()
        hold()   # opened once the CSE stopped
        c = cp.RawClient(cse2.coap_port)
        c.send_raw(cp.encode(cp.CON, cp.POST, c.next_mid(), b"\x01", cp.path_options("cse-in/b") +
                             opts("CAdmin", "q-1", ty=23) + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))],
                             json.dumps({"m2m:sub": {"nu": [rx.url]}})))
        cse2.request("POST", "/cse-in/b?rt=1", ty=23, body={"m2m:sub": {"nu": [rx.url]}})
        th, _ = in_thread(lambda: cse2.create("/cse-in/g/fopt", 23, {"m2m:sub": {"nu": [rx.url]}}))
        rx.wait_count(3, timeout=3)
        t.eq(cse2.stop(), 0, "the CSE stops cleanly while deferred CoAP, fopt and rt=1 requests wait")
        release()
        th.join(10)
        c.close()

    # A deferred answer, too, leaves only once its write is committed (group
    # commit): when that commit fails it is 5000 and nothing is stored.
    data_dir = tempfile.mkdtemp(prefix="ironbark-defer-")
    flag = os.path.join(data_dir, "fail-next-commit")
    os.environ["IRONBARK_TEST_FAIL_COMMIT"] = flag
    try:
        cse3 = Cse(data_dir=data_dir).start()
    finally:
        os.environ.pop("IRONBARK_TEST_FAIL_COMMIT")
    try:
        cse3.create("/cse-in", 3, {"m2m:cnt": {"rn": "b"}})
        seen = verifications(rx.snapshot())
        hold()
        c = cp.RawClient(cse3.coap_port)
        c.send_raw(cp.encode(cp.CON, cp.POST, c.next_mid(), b"\x02", cp.path_options("cse-in/b") +
                             opts("CAdmin", "f-1", ty=23) + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))],
                             json.dumps({"m2m:sub": {"rn": "lost", "nu": [rx.url]}})))
        c.recv(1.0)
        # The first run's round (rolled back, nothing to keep) ends as its
        # verification goes out; the receiver holds its answer until the flag
        # is set, so the flag fails the commit of the run after it.
        rx.wait(lambda q: verifications(q) > seen, WAIT)
        time.sleep(0.1)
        open(flag, "w").close()  # the commit of the run after the verification fails
        release()
        m = c.recv(WAIT)
        t.ok(m is not None and m.token == b"\x02" and m.rsc == 5000,
             "CoAP deferred CREATE whose commit fails: separate response 5000", m)
        c.close()
        t.eq(cse3.get("/cse-in/b/lost").rsc, 4004, "…and the subscription is not stored")
        seen = verifications(rx.snapshot())
        hold()
        th, out = in_thread(lambda: cse3.create("/cse-in/b", 23, {"m2m:sub": {"rn": "lost2", "nu": [rx.url]}}))
        rx.wait(lambda q: verifications(q) > seen, WAIT)
        time.sleep(0.1)
        open(flag, "w").close()
        release()
        th.join(WAIT + 5)
        t.eq(out["r"].rsc if "r" in out else None, 5000, "HTTP deferred CREATE whose commit fails: 5000")
        t.eq(cse3.get("/cse-in/b/lost2").rsc, 4004, "…and it is not stored")
    finally:
        t.eq(cse3.stop(), 0, "that CSE stops cleanly")
        shutil.rmtree(data_dir, ignore_errors=True)
finally:
    release()
    rx.stop()
t.done()
