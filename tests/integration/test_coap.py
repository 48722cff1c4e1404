"""The CoAP binding with a real peer (coap-client-openssl) and a raw client:
CRUD, discovery, addressing forms, error codes, block-wise transfer both
ways, NON requests, HTTP served beside CoAP."""
import json
import os
import sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import (CON, NON, GET, POST, PUT, DELETE, ACCEPT, LOCATION_PATH, URI_QUERY,
                       RawClient, code, code_str, coap_client, m2m_options, uint_bytes)

t = Tap()


def hdr(fr, rqi, **kw):
    return dict(fr=fr, rqi=rqi, rvi="3", **kw)


def check(r, want_code, want_rsc, name):
    got = getattr(r, "code", None)
    if isinstance(got, int):
        got = code_str(got)
    return t.ok(r is not None and got == want_code and r.rsc == want_rsc, name,
                "got %r, want %s/%s" % (r, want_code, want_rsc))


with Cse() as cse:
    port = cse.coap_port
    raw = RawClient(port)

    # -- a real peer: coap-client-openssl -------------------------------------
    r = coap_client(port, "cse-in", params=hdr("CAdmin", "c-1"))
    check(r, "2.05", 2000, "coap-client: CSEBase retrieve is 2.05 with oneM2M-RSC 2000")
    t.eq(r.options.get(283), b"c-1", "coap-client: oneM2M-RQI echoed")
    t.eq(r.options.get(271), b"3", "coap-client: oneM2M-RVI present")
    t.eq((r.json or {}).get("m2m:cb", {}).get("csi"), "/id-in", "coap-client: CSEBase body")

    r = coap_client(port, "cse-in", params=hdr("CAdmin", "c-2"), preload=False)
    t.ok(r.body == "" and "unknown critical option 307" in r.out,
         "stock coap-client-openssl 4.3.1 drops a response carrying oneM2M options (docs/coap.md)",
         r.out[-600:])

    ae = json.dumps({"m2m:ae": {"rn": "meter", "api": "Nmeter", "rr": True, "srv": ["3"]}})
    r = coap_client(port, "cse-in", "post", hdr("Cmeter", "c-3", ty=2), ae, cf=50)
    check(r, "2.01", 2001, "coap-client: AE registration is 2.01 / 2001")
    t.eq(r.location, ["Cmeter"], "AE registration: Location-Path names the new resource")

    r = coap_client(port, "cse-in/meter", "post", hdr("Cmeter", "c-4", ty=3),
                    '{"m2m:cnt": {"rn": "data"}}', cf=50)
    check(r, "2.01", 2001, "coap-client: container create")
    cnt_ri = (r.json or {}).get("m2m:cnt", {}).get("ri")

    for i in range(2):
        r = coap_client(port, "cse-in/meter/data", "post", hdr("Cmeter", "c-5%d" % i, ty=4),
                        '{"m2m:cin": {"con": "v%d"}}' % i, cf=50)
        check(r, "2.01", 2001, "coap-client: contentInstance %d create" % i)

    r = coap_client(port, "cse-in/meter/data/la", params=hdr("Cmeter", "c-6"))
    check(r, "2.05", 2000, "coap-client: la retrieve")
    t.eq((r.json or {}).get("m2m:cin", {}).get("con"), "v1", "la is the newest instance")

    r = coap_client(port, "cse-in/meter/data", "put", hdr("Cmeter", "c-7"),
                    '{"m2m:cnt": {"lbl": ["kitchen"]}}', cf=50)
    check(r, "2.04", 2004, "coap-client: container update is 2.04 / 2004")
    t.eq((r.json or {}).get("m2m:cnt", {}).get("lbl"), ["kitchen"], "update returns the labels")

    r = coap_client(port, "cse-in/meter?fu=1&ty=4", params=hdr("Cmeter", "c-8"))
    check(r, "2.05", 2000, "coap-client: discovery via Uri-Query fu=1&ty=4")
    t.eq(len((r.json or {}).get("m2m:uril", [])), 2, "discovery finds both instances")

    # -- addressing forms -----------------------------------------------------
    r = raw.request(GET, "~/id-in/cse-in/meter/data", m2m_options(fr="Cmeter", rqi="a1"))
    check(r, "2.05", 2000, "SP-relative target: Uri-Path ~, id-in, cse-in, ...")
    r = raw.request(GET, "_/ironbark.local/id-in/cse-in/meter", m2m_options(fr="Cmeter", rqi="a2"))
    check(r, "2.05", 2000, "absolute target: Uri-Path _, sp, id-in, ...")
    r = raw.request(GET, cnt_ri, m2m_options(fr="Cmeter", rqi="a3"))
    check(r, "2.05", 2000, "unstructured CSE-relative target")
    r = raw.request(GET, "", m2m_options(fr="Cmeter", rqi="a4"),)
    check(r, "4.00", 4000, "no Uri-Path at all is 4.00 / 4000")
    r = raw.request(GET, None, m2m_options(fr="Cmeter", rqi="a5") + [(11, b"cse-in"), (11, b"")])
    check(r, "4.00", 4000, "empty Uri-Path segment (trailing slash) is 4.00 / 4000")

    # -- error codes ----------------------------------------------------------
    r = raw.request(GET, "cse-in/nothing", m2m_options(fr="Cmeter", rqi="e1"))
    check(r, "4.04", 4004, "unknown target is 4.04 / 4004")
    r = raw.request(GET, "cse-in", m2m_options(fr="Cmeter"))
    check(r, "4.00", 4000, "missing oneM2M-RQI is 4.00 / 4000")
    r = raw.request(GET, "cse-in", m2m_options(rqi="e2"))
    check(r, "4.00", 4000, "missing oneM2M-FR is 4.00 / 4000")
    r = raw.request(PUT, "cse-in/meter/data/la", m2m_options(fr="Cmeter", rqi="e3"),
                    '{"m2m:cin": {"lbl": ["x"]}}', cf=50)
    check(r, "4.05", 4005, "updating a contentInstance is 4.05 / 4005")
    r = raw.request(POST, "cse-in/meter", m2m_options(fr="Cmeter", rqi="e4", ty=3),
                    '{"m2m:cnt": {"rn": "data"}}', cf=50)
    check(r, "4.03", 4105, "a second container named data is 4.03 / 4105 CONFLICT")
    r = raw.request(POST, "cse-in/meter", m2m_options(fr="Cmeter", rqi="e5", ty=3),
                    "<cnt/>", cf=41)
    check(r, "4.15", 4015, "XML Content-Format is 4.15 / 4015")
    r = raw.request(GET, "cse-in", m2m_options(fr="Cmeter", rqi="e6") + [(ACCEPT, uint_bytes(41))])
    check(r, "4.06", 5207, "Accept application/xml is 4.06 / 5207")
    r = raw.request(POST, "cse-in/meter", m2m_options(fr="Cmeter", rqi="e7", ty=3),
                    '{"m2m:cnt": ', cf=50)
    check(r, "4.00", 4000, "malformed JSON is 4.00 / 4000")
    r = raw.request(GET, "cse-in", m2m_options(fr="Cmeter", rqi="e8", rvi="9"))
    check(r, "5.01", 4001, "unsupported release version is 5.01 / 4001")
    r = raw.request(GET, "cse-in", m2m_options(fr="Cmeter", rqi="e9") + [(URI_QUERY, b"bogus=1")])
    check(r, "4.00", 4000, "unknown query parameter is 4.00 / 4000")
    r = raw.request(7, "cse-in", m2m_options(fr="Cmeter", rqi="e10"))
    check(r, "4.05", 4005, "iPATCH (not in the binding) is 4.05 / 4005")

    # -- NOTIFY and non-blocking op ------------------------------------------
    r = raw.request(POST, "cse-in/meter", m2m_options(fr="Cmeter", rqi="n1"),
                    '{"m2m:sgn": {"vrq": true}}', cf=50)
    t.ok(r is not None and r.code != code(4, 2), "POST without oneM2M-TY is a NOTIFY (not refused)", r)
    r = raw.request(POST, "cse-in/meter/data", m2m_options(fr="Cmeter", rqi="n2") +
                    [(URI_QUERY, b"op=2")])
    check(r, "2.05", 2000, "POST with op=2 is a RETRIEVE")

    # -- block-wise transfer both ways ---------------------------------------
    big = "x" * 3000
    r = coap_client(port, "cse-in/meter/data", "post", hdr("Cmeter", "b1", ty=4),
                    json.dumps({"m2m:cin": {"con": big}}), cf=50)
    check(r, "2.01", 2001, "coap-client: 3 kB contentInstance created with Block1")
    t.ok("Block1:" in r.out and "Block2:" in r.out, "request used Block1, response Block2", r.out[-300:])
    t.eq((r.json or {}).get("m2m:cin", {}).get("con"), big, "the whole body came back (Block2)")
    r = coap_client(port, "cse-in/meter/data/la", params=hdr("Cmeter", "b2"))
    check(r, "2.05", 2000, "coap-client: large la retrieve")
    t.eq((r.json or {}).get("m2m:cin", {}).get("con"), big, "large la body intact (Block2)")
    r = raw.request(GET, "cse-in/meter/data", m2m_options(fr="Cmeter", rqi="b3"))
    t.eq((r.json or {}).get("m2m:cnt", {}).get("cni") if r else None, 3,
         "the large create ran once despite its Block2 follow-ups (cni 3)")

    r = raw.request(POST, "cse-in/meter/data", m2m_options(fr="Cmeter", rqi="b4", ty=4) +
                    [(23, bytes([0x16]))], '{"m2m:cin": {"con": "again"}}', cf=50)
    check(r, "4.08", 4000, "a stray Block2 continuation of a CREATE is refused (4.08), not re-executed")
    r = raw.request(GET, "cse-in/meter/data", m2m_options(fr="Cmeter", rqi="b5"))
    t.eq((r.json or {}).get("m2m:cnt", {}).get("cni") if r else None, 3, "... and created nothing")

    # -- NON requests ---------------------------------------------------------
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="Cmeter", rqi="non1"), mtype=NON)
    check(r, "2.05", 2000, "NON request answered")
    t.eq(r.type if r else None, NON, "NON request answered by a NON response")
    r = coap_client(port, "cse-in/meter", params=hdr("Cmeter", "non2"), non=True)
    check(r, "2.05", 2000, "coap-client -N (NON) request answered")

    # -- HTTP at the same time ------------------------------------------------
    h = cse.get("/cse-in/meter/data/la", origin="Cmeter")
    t.rsc(h, 2000, 200, "HTTP still served beside CoAP")
    t.eq(h.json["m2m:cin"]["con"], big, "HTTP sees what CoAP created")

    r = coap_client(port, "cse-in/meter", "delete", hdr("Cmeter", "d1"))
    check(r, "2.02", 2002, "coap-client: AE delete is 2.02 / 2002")
    r = raw.request(GET, "cse-in/meter", m2m_options(fr="CAdmin", rqi="d2"))
    check(r, "4.04", 4004, "deleted AE is gone")
    raw.close()
    t.ok(cse.alive(), "CSE still running")

with Cse(max_body=2048, coap_host="::1") as cse:
    r = coap_client(cse.coap_port, "cse-in", params=hdr("CAdmin", "v6-1"), host="::1")
    check(r, "2.05", 2000, "CoAP over IPv6 (coap-host ::1)")
    r = coap_client(cse.coap_port, "cse-in", "post", hdr("Cbig", "big-1", ty=2),
                    json.dumps({"m2m:ae": {"rn": "big", "api": "N" + "x" * 3000, "rr": True,
                                           "srv": ["3"]}}), cf=50, host="::1")
    check(r, "4.13", 4000, "a body above max-body is 4.13 / 4000 after block-wise assembly")
    t.eq(r.options.get(283), b"big-1", "... and still echoes oneM2M-RQI")
t.done()
