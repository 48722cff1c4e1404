"""CoAP edges that libcoap 4.3.1 got wrong, sent byte for byte with the raw
client (tests/integration/coap_peer.py):
- the two-datagram Block1 crash (issue 16), also under --security-coap
  required, and a bounded storm of hostile block-wise sequences (size
  changes, restarts, gaps, overlaps, huge NUM, interleaved tokens, BERT)
  after which the CSE still serves and has logged no flood;
- the body limit applied during Block1 assembly (4.13 with Size1 at the
  piece that crosses it), and Block2 pieces of a large response;
- every option length the RFCs allow: a zero-length Uri-Query on every
  method (CoAPthon's requests), zero-length Uri-Path segments, zero-length
  uint options, repeated options, extended delta forms; unknown elective
  options ignored, unknown critical ones 4.02, malformed datagrams Reset;
- a deferred answer ready within coap-piggyback rides on the ACK, a
  retransmission meanwhile runs nothing twice, a slow one gets an empty ACK
  then a separate CON;
- coap-max-sessions: peers beyond the idle-session bound are served, and a
  peer whose session was dropped still gets its retransmission from the
  duplicate cache;
- a burst of datagrams queued from several peers at once (the CSE reads
  them in batches, docs/decisions.md): each answered once, to its sender,
  with its own token and Message ID, a malformed and an oversized one among
  them answered as alone."""
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, sgn
import coap_peer as cp

t = Tap()
BLOCK1, SIZE1, SIZE2 = 27, 60, 28
n = [0]


def opts(fr="CAdmin", **kw):
    n[0] += 1
    return cp.m2m_options(fr=fr, rqi="x-%d" % n[0], rvi="3", **kw)


def block(num, more, szx):
    return cp.uint_bytes(num << 4 | (8 if more else 0) | szx)


def crash_sequence(c):
    """The issue's reproduction: Block1 0/M=1/256 then 0/M=0/1024, same path."""
    o = cp.path_options("cse-in") + opts(fr="Cevil", ty=2)
    c.send_raw(cp.encode(cp.CON, cp.POST, c.next_mid(), b"ab", o + [(BLOCK1, block(0, 1, 4))], b"x" * 256))
    first = c.recv(1.0)
    c.send_raw(cp.encode(cp.CON, cp.POST, c.next_mid(), b"ab", o + [(BLOCK1, block(0, 0, 6))], b"y" * 100))
    second = c.recv(1.0)
    return first, second


def serves(cse, name, rsc=2000):
    c = cp.RawClient(cse.coap_port)
    m = c.request(cp.GET, "cse-in", opts())
    c.close()
    t.ok(cse.alive() and m is not None and m.rsc == rsc, "%s: the CSE is alive and answers CoAP (%d)" % (name, rsc), m)


def warn_lines(cse):
    return [l for l in cse.read_log().splitlines() if " warn " in l or " error " in l]


# -- 1. the crash, the class of it, and the log -----------------------------
for settings in ({}, {"security_coap": "required"}):
    label = "required" if settings else "default"
    with Cse(**settings) as cse:
        c = cp.RawClient(cse.coap_port)
        first, second = crash_sequence(c)
        t.ok(first is not None and first.code == cp.code(2, 31), "%s: Block1 piece 0 of 256 -> 2.31 Continue" % label, first)
        t.ok(second is not None and second.code >> 5 in (2, 4), "%s: a fresh 1024-byte start is answered" % label, second)
        c.close()
        time.sleep(0.2)
        # Under `required` plain CoAP answers everything 4107: still an answer.
        serves(cse, "after the crash sequence (%s)" % label, 4107 if settings else 2000)

with Cse(max_body=8192) as cse:
    rnd = random.Random(7)
    socks = [cp.RawClient(cse.coap_port) for _ in range(3)]
    paths = ["cse-in", "cse-in/a", "cse-in/b/c"]
    sent, t0 = 0, time.time()
    while sent < 3000 and time.time() - t0 < 20:
        c = rnd.choice(socks)
        num = rnd.choice([0, 0, 1, 2, 3, rnd.randrange(0, 1 << 20)])
        szx = rnd.randrange(0, 8)
        more = rnd.random() < 0.7
        size = rnd.choice([16 << min(szx, 6), rnd.randrange(0, 1100)])
        which = rnd.choice([BLOCK1, BLOCK1, cp.BLOCK2, None])
        o = cp.path_options(rnd.choice(paths)) + opts(ty=rnd.choice([None, 3, 4]))
        if which:
            o.append((which, block(num, more, szx)))
        if rnd.random() < 0.2:
            o.append((BLOCK1 if which == cp.BLOCK2 else cp.BLOCK2, block(rnd.randrange(0, 5), rnd.random() < 0.5, rnd.randrange(0, 8))))
        if rnd.random() < 0.1:
            o.append((SIZE1, cp.uint_bytes(rnd.randrange(0, 1 << 24))))
        if rnd.random() < 0.1:
            o.append((292, os.urandom(rnd.randrange(0, 9))))          # Request-Tag
        token = bytes([rnd.randrange(0, 4)])                           # few, reused tokens
        method = rnd.choice([cp.POST, cp.POST, cp.GET, cp.PUT, cp.DELETE])
        c.send_raw(cp.encode(rnd.choice([cp.CON, cp.NON]), method, c.next_mid(), token, o, os.urandom(size)))
        sent += 1
        if sent % 50 == 0:
            for s in socks:             # drain what came back, bounded
                while s.recv(0.001) is not None:
                    pass
    for s in socks:
        s.close()
    t.ok(sent >= 1000, "block-wise storm: %d hostile datagrams sent from 3 peers" % sent)
    time.sleep(0.3)
    serves(cse, "after the block-wise storm")
    w = warn_lines(cse)
    t.ok(len(w) <= 5, "the storm left at most a few warnings in the log (%d)" % len(w), w[:5])

    # -- 2. the body limit during assembly, Block2 pieces --------------------
    c = cp.RawClient(cse.coap_port)
    cse.create("/cse-in", 3, {"m2m:cnt": {"rn": "lim"}})
    body = json.dumps({"m2m:cin": {"con": "z" * 9000}}).encode()
    o = cp.path_options("cse-in/lim") + opts(ty=4) + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))]
    answers = []
    for num in range(12):
        piece = body[num * 1024:(num + 1) * 1024]
        more = (num + 1) * 1024 < len(body)
        m = c.request(cp.POST, "", o + [(BLOCK1, block(num, more, 6))], payload=piece, timeout=2)
        answers.append(m.code if m else None)
        if m is None or m.code != cp.code(2, 31):
            break
    t.eq(answers, [cp.code(2, 31)] * 8 + [cp.code(4, 13)],
         "max-body 8192: eight 1024-byte pieces continue, the ninth is 4.13 at once (not after assembly)")
    t.ok(m is not None and m.rsc == 4000 and m.opt(SIZE1) == cp.uint_bytes(8192) and "max-body" in m.payload,
         "the 4.13 says RSC 4000, Size1 8192 and why", m)
    t.eq(len((cse.get("/cse-in/lim?fu=1&ty=4").json or {}).get("m2m:uril", [])), 0, "nothing was stored")
    m = c.request(cp.POST, "", o + [(BLOCK1, block(5, 1, 6))], payload=body[:1024])
    t.ok(m is not None and m.code == cp.code(4, 8), "a later piece of the refused transfer is 4.08", m)

    big = "q" * 3000
    cse.create("/cse-in/lim", 4, {"m2m:cin": {"con": big}})
    m = c.request(cp.GET, "cse-in/lim/la", opts())
    t.ok(m is not None and m.code == cp.code(2, 5) and m.opt(cp.BLOCK2) == block(0, 1, 6) and len(m.payload) == 1024
         and int.from_bytes(m.opt(SIZE2) or b"", "big") > 3000,
         "a 3 kB response: piece 0 of 1024 bytes with Block2 and Size2", m)
    full = m.payload if m else ""
    for num in (1, 2, 3):
        m = c.request(cp.GET, "cse-in/lim/la", opts() + [(cp.BLOCK2, block(num, 0, 6))])
        full += m.payload if m else ""
        if m is None or not m.opt(cp.BLOCK2)[-1] & 8:
            break
    t.eq((json.loads(full or "{}").get("m2m:cin") or {}).get("con"), big, "its later pieces make the whole body")
    m = c.request(cp.GET, "cse-in/lim/la", opts() + [(cp.BLOCK2, block(0, 0, 2))])
    t.ok(m is not None and m.opt(cp.BLOCK2) == block(0, 1, 2) and len(m.payload) == 64,
         "a client asking for 64-byte pieces gets them", m)
    m = c.request(cp.GET, "cse-in/lim/la", opts() + [(cp.BLOCK2, block(999, 0, 6))])
    t.ok(m is not None and m.code == cp.code(4, 0), "a piece past the end is 4.00", m)
    c.close()

# -- 3. option forms the RFCs allow ---------------------------------------------
with Cse() as cse:
    c = cp.RawClient(cse.coap_port)
    EMPTY_Q = [(cp.URI_QUERY, b"")]
    ae = json.dumps({"m2m:ae": {"rn": "thon", "api": "Nthon", "rr": False, "srv": ["3"]}})
    m = c.request(cp.POST, "cse-in", opts(fr="Cthon", ty=2) + EMPTY_Q + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))],
                  payload=ae)
    t.ok(m is not None and m.code == cp.code(2, 1) and m.rsc == 2001, "CREATE with an empty Uri-Query (CoAPthon) -> 2.01", m)
    m = c.request(cp.GET, "cse-in/thon", opts(fr="Cthon") + EMPTY_Q)
    t.ok(m is not None and m.code == cp.code(2, 5) and m.rsc == 2000, "RETRIEVE with an empty Uri-Query -> 2.05", m)
    cnt = json.dumps({"m2m:cnt": {"rn": "box"}})
    m = c.request(cp.POST, "cse-in/thon", opts(fr="Cthon", ty=3) + EMPTY_Q + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))],
                  payload=cnt)
    t.ok(m is not None and m.rsc == 2001, "container CREATE with an empty Uri-Query", m)
    m = c.request(cp.PUT, "cse-in/thon/box", opts(fr="Cthon") + EMPTY_Q + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))],
                  payload=json.dumps({"m2m:cnt": {"lbl": ["a"]}}))
    t.ok(m is not None and m.code == cp.code(2, 4) and m.rsc == 2004, "UPDATE with an empty Uri-Query -> 2.04", m)
    m = c.request(cp.GET, "cse-in/thon", opts(fr="Cthon") + [(cp.URI_QUERY, b""), (cp.URI_QUERY, b"fu=1"),
                                                          (cp.URI_QUERY, b""), (cp.URI_QUERY, b"ty=3")])
    t.ok(m is not None and m.rsc == 2000 and m.json.get("m2m:uril") == ["cse-in/thon/box"],
         "discovery: empty Uri-Query options among repeated real ones", m)
    m = c.request(cp.GET, "cse-in/thon", opts(fr="Cthon") + [(cp.URI_PATH, b"")])
    h = cse.get("/cse-in/thon/", origin="Cthon")
    t.ok(m is not None and m.code == cp.code(4, 0) and m.rsc == 4000 and "Uri-Path" in m.payload and h.rsc == 4000,
         "a zero-length Uri-Path segment reaches the mapping: 4.00 / 4000 as a trailing slash over HTTP "
         "(oneM2M addresses have no empty segment)", (m, h))
    m = c.request(cp.GET, "cse-in/thon", opts(fr="Cthon") + [(cp.ACCEPT, b""), (65002, b"elective")])
    t.ok(m is not None and m.rsc == 2000, "zero-length Accept (0) and an unknown elective option: served", m)
    m = c.request(cp.GET, "cse-in/thon", opts(fr="Cthon") + [(65001, b"critical")])
    t.ok(m is not None and m.code == cp.code(4, 2), "an unknown critical option -> 4.02", m)
    m = c.request(cp.GET, "cse-in/thon", opts(fr="Cthon") + [(SIZE1, b"\1\2\3\4\5")])
    t.ok(m is not None and m.rsc == 2000, "an elective option of a length outside its range is ignored", m)
    mid = c.next_mid()
    c.send_raw(bytes([0x40, 0x01]) + mid.to_bytes(2, "big") + bytes([0xbf, 0x00]))   # length nibble 15
    m = c.recv(1.0)
    t.ok(m is not None and m.type == cp.RST and m.mid == mid, "a malformed datagram gets a Reset", m)
    # One datagram larger than libcoap takes (1152 bytes): 4.13 naming the
    # block size, not silence (found by the node-coap-client interop test).
    big = json.dumps({"m2m:cin": {"con": "b" * 1100}})
    m = c.request(cp.POST, "cse-in/thon/box", opts(fr="Cthon", ty=4) + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))],
                  payload=big)
    t.ok(m is not None and m.code == cp.code(4, 13) and m.rsc == 4000 and m.opt(BLOCK1) == block(0, 0, 6)
         and "block-wise" in m.payload, "a %d-byte datagram: 4.13 with Block1 0/0/1024 (RFC 7959 2.9.3)" % len(big), m)
    m = c.request(cp.DELETE, "cse-in/thon/box", opts(fr="Cthon") + EMPTY_Q)
    t.ok(m is not None and m.code == cp.code(2, 2) and m.rsc == 2002, "DELETE with an empty Uri-Query -> 2.02", m)
    c.close()
    t.ok(not any("malformed PDU" in l or "bad length" in l for l in warn_lines(cse)),
         "no warnings about any of it in the log")

# -- 4. deferred answers: piggy-backed within the bound, separate after ------
rx = Receiver().start()
try:
    with Cse() as cse:
        cse.register_ae("pig", origin="Cpig")
        cse.create("/cse-in/pig", 3, {"m2m:cnt": {"rn": "box"}}, origin="Cpig")
        c = cp.RawClient(cse.coap_port)
        sub = lambda rn: json.dumps({"m2m:sub": {"rn": rn, "nu": [rx.url]}})
        o = cp.path_options("cse-in/pig/box") + opts(fr="Cpig", ty=23) + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))]
        mid = c.next_mid()
        c.send_raw(cp.encode(cp.CON, cp.POST, mid, b"\x01", o, sub("fast")))
        m = c.recv(2.0)
        t.ok(m is not None and m.type == cp.ACK and m.mid == mid and m.code == cp.code(2, 1) and m.rsc == 2001,
             "a verification answered at once: the 2.01 is piggy-backed on the ACK", m)
        t.ok(c.recv(0.3) is None, "and nothing else follows")

        rx.delay = 0.3            # within the 500 ms bound, with a retransmission meanwhile
        rx.clear()
        mid = c.next_mid()
        msg = cp.encode(cp.CON, cp.POST, mid, b"\x02", o, sub("slowish"))
        c.send_raw(msg)
        time.sleep(0.1)
        c.send_raw(msg)           # the same CON again while it is being served
        m = c.recv(2.0)
        t.ok(m is not None and m.type == cp.ACK and m.code == cp.code(2, 1),
             "ready after 0.3 s: still piggy-backed; the retransmission got nothing of its own", m)
        t.ok(c.recv(0.5) is None, "one answer only")
        t.eq(sum(1 for x in rx.snapshot() if sgn(x["body"]).get("vrq")), 1, "one verification: the retransmission ran nothing")

        rx.delay = 1.2
        mid = c.next_mid()
        c.send_raw(cp.encode(cp.CON, cp.POST, mid, b"\x03", o, sub("slow")))
        t0 = time.time()
        ack = c.recv(1.0)
        took = time.time() - t0
        t.ok(ack is not None and ack.type == cp.ACK and ack.code == 0 and ack.mid == mid and 0.3 < took < 0.95,
             "a slow one: an empty ACK after the bound (%.2fs)" % took, ack)
        m = c.recv(3.0)
        t.ok(m is not None and m.type == cp.CON and m.token == b"\x03" and m.rsc == 2001,
             "then the answer as a separate CON", m)
        if m is not None:
            c.send_raw(cp.encode(cp.ACK, 0, m.mid))
        c.close()
    with Cse(coap_piggyback=0) as cse:
        cse.register_ae("pig", origin="Cpig")
        cse.create("/cse-in/pig", 3, {"m2m:cnt": {"rn": "box"}}, origin="Cpig")
        rx.delay = 0
        c = cp.RawClient(cse.coap_port)
        mid = c.next_mid()
        c.send_raw(cp.encode(cp.CON, cp.POST, mid, b"\x04", o, sub("zero")))
        first, second = c.recv(2.0), c.recv(2.0)
        t.ok(first is not None and first.type == cp.ACK and first.code == 0 and second is not None
             and second.type == cp.CON and second.rsc == 2001,
             "coap-piggyback 0: always an empty ACK, then a separate response", (first, second))
        if second is not None:
            c.send_raw(cp.encode(cp.ACK, 0, second.mid))
        c.close()
finally:
    rx.stop()

# -- the idle-session bound (coap-max-sessions) ----------------------------------
# 40 peers (fresh ports) against a bound of 16: the first peer's idle session
# is dropped on the way, yet it is served again, and its retransmitted CREATE
# still comes from the duplicate cache (keyed by address, not by session).
with Cse(coap_max_sessions=16) as cse:
    cse.register_ae("few", origin="Cfew")
    first = cp.RawClient(cse.coap_port)
    mid = first.next_mid()
    create = cp.encode(cp.CON, cp.POST, mid, b"\x01", cp.path_options("cse-in/few") + opts(fr="Cfew", ty=3),
                       json.dumps({"m2m:cnt": {"rn": "once"}}).encode())
    first.send_raw(create)
    made = first.recv(2.0)
    answered = 0
    for i in range(40):
        c = cp.RawClient(cse.coap_port)
        m = c.request(cp.GET, "cse-in", opts())
        answered += m is not None and m.rsc == 2000
        c.close()
    t.ok(answered == 40, "coap-max-sessions 16: 40 peers in turn, every one answered", answered)
    first.send_raw(create)
    again = first.recv(2.0)
    t.ok(made is not None and made.rsc == 2001 and again is not None and again.rsc == 2001
         and again.mid == mid and again.payload == made.payload,
         "the first peer's retransmitted CREATE, its session dropped meanwhile, is answered from the duplicate cache",
         (made, again))
    m = first.request(cp.GET, "cse-in/few/once", opts(fr="Cfew"))
    t.ok(m is not None and m.rsc == 2000, "and the first peer is served again", m)
    first.close()
# -- 5. a burst of queued datagrams, read in batches --------------------------
with Cse() as cse:
    peers = [cp.RawClient(cse.coap_port) for _ in range(3)]
    expect = {}   # (peer, mid) -> (token, expected code)
    big = json.dumps({"m2m:cin": {"con": "b" * 1100}})
    for k in range(60):
        p = k % 3
        mid = peers[p].next_mid()
        token = bytes([p, k])
        if k == 31:    # malformed: a Reset with its Message ID
            peers[p].send_raw(bytes([0x40, 0x01]) + mid.to_bytes(2, "big") + bytes([0xbf, 0x00]))
            expect[(p, mid)] = (b"", "RST")
        elif k == 44:  # larger than libcoap takes: 4.13
            o = cp.path_options("cse-in") + opts(ty=4) + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))]
            peers[p].send_raw(cp.encode(cp.CON, cp.POST, mid, token, o, big))
            expect[(p, mid)] = (token, cp.code(4, 13))
        else:
            peers[p].send_raw(cp.encode(cp.CON, cp.GET, mid, token, cp.path_options("cse-in") + opts()))
            expect[(p, mid)] = (token, cp.code(2, 5))
    got, wrong = {}, []
    for p, c in enumerate(peers):
        deadline = time.time() + 5
        while sum(1 for q, _ in got if q == p) < 20 and time.time() < deadline:
            m = c.recv(max(0.01, deadline - time.time()))
            if m is None:
                break
            key = (p, m.mid)
            want = expect.get(key)
            kind = "RST" if m.type == cp.RST else m.code
            if want is None or key in got or m.type not in (cp.ACK, cp.RST) or kind != want[1] or \
                    (m.type == cp.ACK and m.token != want[0]):
                wrong.append(m)
            got[key] = m
    t.eq(sorted(got), sorted(expect), "a burst of 60 datagrams from 3 peers: each answered, to its sender")
    t.eq(wrong, [], "every answer has its request's Message ID, token and code (2.05, a Reset, a 4.13)")
    for c in peers:
        c.close()
    serves(cse, "after the burst")
t.done()
