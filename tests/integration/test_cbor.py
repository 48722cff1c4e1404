"""application/cbor over HTTP and CoAP (Content-Format 60): a CBOR body is read as its JSON equivalent,
an Accept naming CBOR first gets a CBOR answer (application/cbor); the
mapping is exact both ways (integers at the 64-bit edges, strings, arrays,
maps, booleans, null, floats), checked with an independent codec (cbor2).
Bad CBOR -> 4000 with nothing stored; an Accept naming neither JSON nor
CBOR -> 5207."""
import http.client, json, math, os, struct, sys
sys.path.insert(0, os.path.dirname(__file__))
import cbor2
from harness import Cse, Tap
from notify_receiver import Receiver
from coap_peer import GET, POST, ACCEPT, RawClient, code_str, coap_client, m2m_options, uint_bytes

t = Tap()


def raw(cse, method, path, body=None, ct=None, accept=None, origin="Ccb", ty=None):
    c = http.client.HTTPConnection("127.0.0.1", cse.port, timeout=10)
    h = {"X-M2M-Origin": origin, "X-M2M-RI": "r1", "X-M2M-RVI": "3"}
    if ct:
        h["Content-Type"] = ct + (";ty=%d" % ty if ty else "")
    if accept:
        h["Accept"] = accept
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def rsc(r):
    return int(r[1].get("x-m2m-rsc", "0"))


with Cse() as cse:
    r = raw(cse, "GET", "/cse-in", accept="application/cbor", origin="CAdmin")
    t.eq(cbor2.loads(r[2])["m2m:cb"].get("csz") if r[2] else None, ["application/json", "application/cbor"],
         "the CSEBase's csz lists JSON and CBOR (media types)")
    ae = cbor2.dumps({"m2m:ae": {"rn": "cb", "api": "Ncb", "rr": False, "srv": ["3"]}})
    r = raw(cse, "POST", "/cse-in", ae, "application/cbor", "application/cbor", ty=2)
    t.eq((r[0], rsc(r)), (201, 2001), "AE registered with a CBOR body")
    t.eq(r[1].get("content-type"), "application/cbor", "answered as application/cbor")
    got = cbor2.loads(r[2]) if r[2] else {}
    t.eq((got.get("m2m:ae", {}).get("rn"), got.get("m2m:ae", {}).get("rr")), ("cb", False),
         "the CBOR answer decodes to the AE")

    # every JSON kind, and the edges, through a CBOR CREATE and a CBOR RETRIEVE
    con = {"i": [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32, 2**63 - 1, -1, -24, -25, -256, -257, -2**63],
           "s": ["", "a", "ü€😀", "x" * 300], "b": [True, False], "n": None,
           "f": [0.5, -1.25, 1e300, 3.141592653589793, 1.0], "m": {"k": {"deep": [[], {}]}}}
    # con is of any type: the whole value goes in as CBOR and must come back
    # the same, in CBOR and in JSON.
    body = cbor2.dumps({"m2m:cnt": {"rn": "c", "mni": 2**62, "mbs": 100000, "lbl": ["x", "y"]}})
    r = raw(cse, "POST", "/cse-in/cb", body, "application/cbor", "application/cbor", ty=3)
    got = cbor2.loads(r[2]).get("m2m:cnt", {}) if r[2] else {}
    t.eq((rsc(r), got.get("mni"), got.get("mbs"), got.get("lbl")), (2001, 2**62, 100000, ["x", "y"]),
         "container created in CBOR; integers and arrays come back exact")
    body = cbor2.dumps({"m2m:cin": {"rn": "all", "con": con}})
    r = raw(cse, "POST", "/cse-in/cb/c", body, "application/vnd.onem2m-res+cbor", "application/json", ty=4)
    t.eq(rsc(r), 2001, "a CBOR CREATE answered in JSON when Accept asks for JSON")
    t.eq(r[1].get("content-type", "").split(";")[0], "application/json", "JSON content type then")
    t.eq(json.loads(r[2])["m2m:cin"]["con"] if r[2] else None, con, "CBOR -> JSON exact: every kind and edge")
    r = raw(cse, "GET", "/cse-in/cb/c/all", accept="application/cbor")
    cgot = cbor2.loads(r[2])["m2m:cin"] if r[2] else {}
    t.eq(cgot.get("con"), con, "JSON -> CBOR exact: the same value back in CBOR")
    fl = r[2] or b""
    t.ok(struct.pack(">Bd", 0xfb, 0.5) in fl and b"\x1b\x7f\xff\xff\xff\xff\xff\xff\xff" in fl,
         "reals are CBOR doubles, integers use their shortest head")
    r = raw(cse, "GET", "/cse-in/cb/c/all", accept="application/json")
    jgot = json.loads(r[2])["m2m:cin"]
    r = raw(cse, "GET", "/cse-in/cb/c/all", accept="application/cbor, application/json")
    t.eq(cbor2.loads(r[2])["m2m:cin"], jgot, "the CBOR answer equals the JSON answer, value for value")
    t.eq(raw(cse, "GET", "/cse-in/cb/c/all", accept="application/json, application/cbor")[1].get("content-type",
         "").split(";")[0], "application/json", "JSON first in Accept: JSON")
    r = raw(cse, "GET", "/cse-in/cb/nothing", accept="application/cbor")
    t.ok(rsc(r) == 4004 and "m2m:dbg" in cbor2.loads(r[2]), "errors are answered in CBOR too", r)
    body = cbor2.dumps({"m2m:cnt": {"lbl": ["f"], "mbs": 0, "mni": None}})
    r = raw(cse, "PUT", "/cse-in/cb/c", body, "application/cbor", "application/cbor")
    got = cbor2.loads(r[2]).get("m2m:cnt", {}) if r[2] else {}
    t.ok(rsc(r) == 2004 and got.get("mbs") == 0 and "mni" not in got, "a CBOR UPDATE with null removes", got)

    # bad CBOR: 4000, nothing stored
    bad = [
        (b"", "empty body"),
        (b"\xa1\x62rn", "truncated map"),
        (cbor2.dumps({"m2m:cnt": {"rn": "b1"}}) + b"\x00", "bytes after the item"),
        (cbor2.dumps({"m2m:cnt": {"rn": "b2", "lbl": [b"\x01"]}}), "a byte string"),
        (cbor2.dumps({"m2m:cnt": {"rn": "b3", "mni": 2**64 - 1}}), "an integer beyond int64"),
        (cbor2.dumps({"m2m:cnt": {"rn": "b4", "lbl": [float("nan")]}}), "NaN"),
        (cbor2.dumps(cbor2.CBORTag(1, 5)), "a tag"),
        (b"\xa1\x01\x02", "an integer map key"),
        (b"\xa2\x61a\x01\x61a\x02", "a duplicate key"),
        (b"\x7f\x61a\xff", "an indefinite text string"),
        (b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", "an array claiming 2^64-1 items"),
        (b"\x81" * 100 + b"\x01", "nested 100 deep"),
        (b"\xa1\x62rn\x62\xff\xfe", "invalid UTF-8"),
        (b"\xf7", "undefined"),
        (b"\x1c", "a reserved additional-information value"),
    ]
    for data, what in bad:
        r = raw(cse, "POST", "/cse-in/cb", data, "application/cbor", ty=3)
        t.eq((r[0], rsc(r)), (400, 4000), "bad CBOR (%s) -> 4000" % what)
    for rn in ("b1", "b2", "b3", "b4"):
        t.eq(rsc(raw(cse, "GET", "/cse-in/cb/" + rn)), 4004, "nothing stored for %s" % rn)
    # indefinite arrays and maps are well-formed and accepted
    body = b"\xbf\x67m2m:cnt\xbf\x62rn\x62ix\x63lbl\x9f\x61p\xff\xff\xff"
    r = raw(cse, "POST", "/cse-in/cb", body, "application/cbor", "application/cbor", ty=3)
    got = cbor2.loads(r[2]).get("m2m:cnt", {}) if r[2] else {}
    t.eq((rsc(r), got.get("rn"), got.get("lbl")), (2001, "ix", ["p"]), "indefinite-length arrays and maps read")
    r = raw(cse, "GET", "/cse-in/cb", accept="application/xml")
    t.eq(rsc(r), 5207, "Accept naming neither JSON nor CBOR -> 5207 (not acceptable)")
    r = raw(cse, "POST", "/cse-in/cb", b"<x/>", "application/xml", ty=3)
    t.eq(rsc(r), 4015, "an XML body -> 4015")

    # --- CoAP: Content-Format 60 in, Accept 60 out --------------------------------
    port = cse.coap_port
    body = cbor2.dumps({"m2m:cnt": {"rn": "k", "lbl": ["coap"], "mni": 7}})
    r = coap_client(port, "cse-in/cb", "post", params=dict(fr="Ccb", rqi="k1", rvi="3", ty=3), body=body, cf=60)
    t.ok(r.code == "2.01" and r.rsc == 2001 and (r.json or {}).get("m2m:cnt", {}).get("mni") == 7,
         "coap-client: a CBOR CREATE (Content-Format 60), answered in JSON", r)
    raw_c = RawClient(port)
    m = raw_c.request(GET, "cse-in/cb/k", m2m_options(fr="Ccb", rqi="k2", rvi="3") + [(ACCEPT, uint_bytes(60))])
    got = cbor2.loads(m.raw_payload) if m and m.raw_payload else {}
    t.ok(m is not None and code_str(m.code) == "2.05" and m.opt(12) == uint_bytes(60)
         and got.get("m2m:cnt", {}).get("lbl") == ["coap"], "Accept 60: the answer is CBOR, Content-Format 60", m)
    m = raw_c.request(POST, "cse-in/cb", m2m_options(fr="Ccb", rqi="k3", rvi="3", ty=3), payload=b"\xa1\x62rn", cf=60)
    t.ok(m is not None and code_str(m.code) == "4.00" and m.rsc == 4000, "CoAP: bad CBOR -> 4.00 / 4000", m)
    m = raw_c.request(GET, "cse-in/cb/k", m2m_options(fr="Ccb", rqi="k4", rvi="3") + [(ACCEPT, uint_bytes(41))])
    t.ok(m is not None and m.rsc == 5207, "CoAP: Accept 41 (XML) -> 5207", m)

    # --- notifications in CBOR: the target AE's csz prefers it, or ?ct=cbor ----------
    rx = Receiver().start()
    try:
        ae = {"m2m:ae": {"rn": "nb", "api": "Nnb", "rr": True, "srv": ["3"], "poa": [rx.url],
                         "csz": ["application/cbor", "application/json"]}}
        r = raw(cse, "POST", "/cse-in", json.dumps(ae), "application/json", origin="Cnb", ty=2)
        t.eq(rsc(r), 2001, "AE with csz [application/cbor, application/json] and a poa")
        acp = {"m2m:acp": {"rn": "nbacp", "pv": {"acr": [{"acor": ["Cnb", "Ccb"], "acop": 63}]},
                           "pvs": {"acr": [{"acor": ["Cnb"], "acop": 63}]}}}
        raw(cse, "POST", "/cse-in/nb", json.dumps(acp), "application/json", origin="Cnb", ty=1)
        raw(cse, "PUT", "/cse-in/nb", json.dumps({"m2m:ae": {"acpi": ["cse-in/nb/nbacp"]}}), "application/json",
            origin="Cnb")
        raw(cse, "POST", "/cse-in/cb", json.dumps({"m2m:cnt": {"rn": "n"}}), "application/json", ty=3)
        sub = {"m2m:sub": {"rn": "s", "nu": ["Cnb"], "enc": {"net": [3]}}}
        r = raw(cse, "POST", "/cse-in/cb/n", json.dumps(sub), "application/json", origin="Ccb", ty=23)
        t.eq(rsc(r), 2001, "subscription whose nu is that AE")
        rx.clear()
        raw(cse, "POST", "/cse-in/cb/n", json.dumps({"m2m:cin": {"con": {"v": 1.5, "n": -3}}}),
            "application/json", ty=4)
        reqs = rx.wait_count(1, timeout=5)
        got = cbor2.loads(reqs[0]["raw"]) if reqs and reqs[0]["raw"] else {}
        t.ok(reqs and reqs[0]["headers"].get("content-type") == "application/cbor"
             and got.get("m2m:sgn", {}).get("nev", {}).get("rep", {}).get("m2m:cin", {}).get("con") == {"v": 1.5, "n": -3},
             "the notification goes in CBOR to an AE preferring it", reqs[:1])
        raw(cse, "DELETE", "/cse-in/cb/n/s")
        r = raw(cse, "POST", "/cse-in/cb/n", json.dumps({"m2m:sub": {"rn": "u", "nu": [rx.url + "?ct=cbor"],
                                                                   "enc": {"net": [3]}}}),
                "application/json", ty=23)
        t.eq(rsc(r), 2001, "subscription with a URL ?ct=cbor")
        rx.clear()
        raw(cse, "POST", "/cse-in/cb/n", json.dumps({"m2m:cin": {"con": "u"}}), "application/json", ty=4)
        reqs = rx.wait_count(1, timeout=5)
        t.ok(reqs and reqs[0]["path"] == "/notify" and reqs[0]["headers"].get("content-type") == "application/cbor"
             and cbor2.loads(reqs[0]["raw"])["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"] == "u",
             "?ct=cbor: CBOR, the suffix removed", reqs[:1])
        r = raw(cse, "POST", "/cse-in", json.dumps({"m2m:ae": {"rn": "nx", "api": "Nnx", "rr": False, "srv": ["3"],
                                                              "csz": ["application/yaml"]}}),
                "application/json", origin="Cnx", ty=2)
        t.eq(rsc(r), 4000, "csz with an unknown media type -> 4000")
        t.eq(rsc(raw(cse, "GET", "/cse-in/nx")), 4004, "that AE is not stored")
    finally:
        rx.stop()
    t.ok(cse.alive(), "CSE still running")
t.done()
