"""The oneM2M CoAP options against libcoap's option filter, duplicate
detection, and bad datagrams.

libcoap 4.3.1 knows at most two critical option numbers above 255, and every
oneM2M option is one (docs/coap.md). Here every oneM2M option travels in one
request and must be accepted, while an unregistered critical option must
still be refused with 4.02 (CON) or dropped (NON)."""
import json
import os
import sys
import threading
import time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import (CON, NON, ACK, RST, GET, POST, OPT, RawClient, code_str, coap_client,
                       encode, m2m_options, path_options, uint_bytes)

t = Tap()


def check(r, want_code, want_rsc, name):
    return t.ok(r is not None and code_str(r.code) == want_code and r.rsc == want_rsc, name,
                "got %r, want %s/%s" % (r, want_code, want_rsc))


def every_option(rqi, ty=None):
    """Every oneM2M option of TS-0008 Table 6.2.2.4.0-1 (and R4+ ones); TY only
    when given, since it is not permitted in a RETRIEVE (4000)."""
    return m2m_options(ot="20261122T000000", rturi="", ty=ty, rvi="3", asri="a",
                       fr="Cmeter", rqi=rqi, rqet="20991231T000000", rset="20991231T000000",
                       oet="20200101T000000", ec=2, rsc=2000, gid="g-1", cto=0, cts=1,
                       ati="lti:tk", vsi="ironbark-test", gtm="/id-in/x", aus="sig", omr="o",
                       prpi="p", msu="u")


with Cse() as cse:
    port = cse.coap_port
    raw = RawClient(port)
    r = raw.request(POST, "cse-in", m2m_options(fr="Cmeter", rqi="s1", ty=2),
                    json.dumps({"m2m:ae": {"rn": "meter", "api": "Nm", "rr": True, "srv": ["3"]}}), cf=50)
    check(r, "2.01", 2001, "AE registered over CoAP")

    t.eq(sorted({n for n, _ in every_option("x", ty=3)}), sorted(OPT.values()),
         "the CREATE below carries all 22 oneM2M options, the RETRIEVEs all but TY")
    r = raw.request(GET, "cse-in/meter", every_option("all-1"))
    check(r, "2.05", 2000, "RETRIEVE with every oneM2M option is accepted (2.05 / 2000)")
    t.eq(r.opt(OPT["rqi"]) if r else None, b"all-1", "oneM2M-RQI echoed")
    r = raw.request(POST, "cse-in/meter", every_option("all-2", ty=3),
                    '{"m2m:cnt": {"rn": "data"}}', cf=50)
    check(r, "2.01", 2001, "CREATE with every oneM2M option is accepted (2.01 / 2001)")
    r = raw.request(GET, "cse-in/meter", every_option("all-3"), mtype=NON)
    check(r, "2.05", 2000, "NON request with every oneM2M option is accepted")

    params = dict(ot="20261122T000000", rturi="", rvi="3", asri="a", fr="Cmeter", rqi="all-4",
                  rqet="20991231T000000", rset="20991231T000000", oet="20200101T000000", ec=2,
                  rsc=2000, gid="g-1", cto=0, cts=1, ati="lti:tk", vsi="v", gtm="/id-in/x",
                  aus="sig", omr="o", prpi="p", msu="u")
    r = coap_client(port, "cse-in/meter", params=params)
    t.ok(r.code == "2.05" and r.rsc == 2000, "coap-client with every oneM2M option (-O ...) gets 2.05 / 2000", r)

    # -- unknown options ------------------------------------------------------
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="u1") + [(65001, b"x")])
    t.ok(r is not None and code_str(r.code) == "4.02", "unknown critical option 65001 gets 4.02 Bad Option", r)
    r = raw.request(GET, "cse-in/meter", every_option("u2") + [(65001, b"x")])
    t.ok(r is not None and code_str(r.code) == "4.02", "... also beside every oneM2M option", r)
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="u3") + [(65000 + 5, b"x")])
    t.ok(r is not None and code_str(r.code) == "4.02", "unknown critical option 65005 gets 4.02", r)
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="u4") + [(261, b"x")])
    t.ok(r is not None and code_str(r.code) == "4.02", "legacy-numbered critical option 261 gets 4.02", r)
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="u5") + [(65001, b"x")], mtype=NON,
                    timeout=0.7)
    t.ok(r is None or (r.type == RST and r.code == 0),
         "NON request with an unknown critical option is rejected: no response, at most RST (RFC 7252 5.4.1)", r)
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="u6") + [(65002, b"x")])
    check(r, "2.05", 2000, "unknown elective option 65002 is ignored")
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="u7") + [(OPT["fr"], b"Cother")])
    check(r, "4.00", 4000, "a repeated oneM2M option is 4.00 / 4000")
    r = raw.request(GET, "cse-in/meter", [(OPT["fr"], b"Cmeter"), (OPT["rqi"], b"u8"), (OPT["rvi"], b"3")])
    check(r, "2.05", 2000, "string options as text")
    r = raw.request(POST, "cse-in/meter", [(OPT["fr"], b"Cmeter"), (OPT["rqi"], b"u9"), (OPT["ty"], b"3")],
                    '{"m2m:cnt": {"rn": "textty"}}', cf=50)
    check(r, "2.01", 2001, "oneM2M-TY as decimal text ('3') is accepted, as tinyIoT does")

    # -- duplicate detection --------------------------------------------------
    cin = '{"m2m:cin": {"con": "once"}}'
    opts = m2m_options(fr="Cmeter", rqi="dup-1", ty=4) + path_options("cse-in/meter/data") + [(12, uint_bytes(50))]
    mid, token = 0x4242, b"\x01\x02"
    dgram = encode(CON, POST, mid, token, opts, cin)
    raw.send_raw(dgram)
    first = raw.recv()
    raw.send_raw(dgram)          # a retransmission: same MID, same token
    second = raw.recv()
    check(first, "2.01", 2001, "CON CREATE answered")
    t.ok(second is not None and first is not None and second.mid == mid and second.type == ACK and
         second.payload == first.payload, "retransmitted CON gets the same answer again (same ri)",
         (first, second))
    r = raw.request(GET, "cse-in/meter/data", m2m_options(fr="Cmeter", rqi="dup-2"))
    t.eq((r.json or {}).get("m2m:cnt", {}).get("cni") if r else None, 1,
         "the retransmitted CON did not run twice (cni 1)")
    dgram = encode(NON, POST, 0x4343, b"\x03", m2m_options(fr="Cmeter", rqi="dup-3", ty=4) +
                   path_options("cse-in/meter/data") + [(12, uint_bytes(50))], cin)
    raw.send_raw(dgram)
    first = raw.recv()
    raw.send_raw(dgram)
    second = raw.recv(timeout=0.7)
    check(first, "2.01", 2001, "NON CREATE answered")
    r = raw.request(GET, "cse-in/meter/data", m2m_options(fr="Cmeter", rqi="dup-4"))
    t.eq((r.json or {}).get("m2m:cnt", {}).get("cni") if r else None, 2,
         "a duplicated NON did not run twice (cni 2)")
    other = RawClient(port)
    r = other.request(POST, "cse-in/meter/data", m2m_options(fr="Cmeter", rqi="dup-5", ty=4), cin,
                      mid=0x4242, cf=50)
    check(r, "2.01", 2001, "the same MID from another peer is a new request")
    other.close()

    # -- bad datagrams --------------------------------------------------------
    bad = {
        "empty datagram": b"",
        "one byte": b"\x40",
        "three bytes": b"\x40\x01\x00",
        "CoAP version 2": b"\x80\x01\x00\x01",
        "token length 9": b"\x49\x01\x00\x01" + b"t" * 9,
        "token longer than the datagram": b"\x48\x01\x00\x01ab",
        "option longer than the datagram": b"\x40\x01\x00\x01\xbd\x20abc",
        "reserved option delta 15": b"\x40\x01\x00\x01\xf1a",
        "payload marker without payload": b"\x40\x01\x00\x01\xb6cse-in\xff",
        "extended length running off the end": b"\x40\x01\x00\x01\xee",
        "request with a response code": b"\x40\x45\x00\x01\xb6cse-in",
        "empty CON with a token": b"\x42\x00\x00\x01ab",
        "random bytes": bytes((i * 97 + 13) & 0xFF for i in range(1200)),
        "oneM2M-TY of 5 bytes": encode(CON, POST, 77, b"z", path_options("cse-in") +
                                      [(OPT["ty"], b"\x01\x02\x03\x04\x05"), (OPT["fr"], b"C"),
                                       (OPT["rqi"], b"b")], "{}"),
    }
    for name, data in bad.items():
        raw.send_raw(data)
        replies = []
        while True:
            m = None
            try:
                m = raw.recv(timeout=0.15)
            except ValueError:
                m = "undecodable"
            if m is None:
                break
            replies.append(m)
        # Clean refusals: silence, RST, an empty ACK, or a 4.xx error response.
        ok_reply = all(not isinstance(m, str) and (m.type == RST or m.code == 0 or
                                                   code_str(m.code) >= "4.00") for m in replies)
        t.ok(ok_reply, "%s: refused cleanly (%s)" % (name, ", ".join(
            "RST" if not isinstance(m, str) and m.type == RST else
            "empty ACK" if not isinstance(m, str) and m.code == 0 else
            (code_str(m.code) if not isinstance(m, str) else m) for m in replies) or "ignored"), replies)
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="after-bad"))
    check(r, "2.05", 2000, "after the bad datagrams a valid request is served")

    # -- CoAP and HTTP at once, garbage interleaved --------------------------
    results = []

    def coap_load():
        c = RawClient(port)
        for i in range(200):
            if i % 10 == 0:
                c.send_raw(b"\x40\x01\x00")                  # a truncated header now and then
            m = c.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="load-%d" % i))
            results.append(m is not None and m.rsc == 2000)
        c.close()

    worker = threading.Thread(target=coap_load)
    worker.start()
    http_ok = sum(cse.get("/cse-in/meter", origin="Cmeter").status == 200 for _ in range(20))
    worker.join(timeout=60)
    t.eq((len(results), all(results), http_ok), (200, True, 20),
         "200 CoAP requests with bad datagrams between them and 20 HTTP requests, concurrently")
    raw.close()
    t.ok(cse.alive(), "CSE still running")
    t.eq(cse.stop(), 0, "clean shutdown (exit code 0)")
t.done()
