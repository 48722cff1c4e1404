"""Request parameter semantics (docs/conformance.md, "Request parameters"):
rqet/rset/oet with relative and absolute forms and their order, oet as
delayed execution (blocking and non-blocking), X-M2M-RST on a 1001, rt 3/4/5,
RVI, ty rules, an empty UPDATE, label syntax, NOTIFY to the CSE itself,
X-M2M-VSI and X-M2M-OT in answers, the CSEBase's ctm, and registration
with a CSE-ID. Every refusal is checked for its RSC and HTTP status (or
CoAP code), and that nothing was stored."""
import datetime, os, re, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, wait_for
from coap_peer import RawClient, m2m_options, GET, POST, CONTENT_FORMAT, code

t = Tap()
TS = re.compile(r"^\d{8}T\d{6}(,\d{1,6})?$")


def ts(delta_s):
    """An absolute oneM2M timestamp delta_s seconds from now (UTC)."""
    d = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_s)
    return d.strftime("%Y%m%dT%H%M%S")


def parse_ts(s):
    return datetime.datetime.strptime(s[:15], "%Y%m%dT%H%M%S").replace(tzinfo=datetime.timezone.utc)


with Cse() as cse:
    t.rsc(cse.register_ae("rp", origin="Crp"), 2001, 201, "AE registered")

    def cnt(rn, headers=None, query="", rvi="3"):
        return cse.request("POST", "/cse-in/rp" + query, ty=3, body={"m2m:cnt": {"rn": rn}}, origin="Crp",
                           headers=headers, rvi=rvi)

    def absent(rn, what):
        t.rsc(cse.get("/cse-in/rp/" + rn, origin="Crp"), 4004, 404, what + ": nothing stored")

    # --- rqet -------------------------------------------------------------------------
    r = cnt("late", {"X-M2M-RET": ts(-60)})
    t.rsc(r, 4008, 504, "rqet in the past (absolute) -> 4008")
    absent("late", "expired rqet")
    t.rsc(cnt("rel", {"X-M2M-RET": "5000"}), 2001, 201, "rqet relative (5000 ms) is served")
    t.rsc(cnt("abs", {"X-M2M-RET": ts(60)}), 2001, 201, "rqet absolute ahead is served")
    t.rsc(cnt("frac", {"X-M2M-RET": ts(60) + ",123456"}), 2001, 201, "rqet with fractional seconds")
    r = cnt("badrqet", {"X-M2M-RET": "tomorrow"})
    t.rsc(r, 4000, 400, "malformed rqet -> 4000")
    absent("badrqet", "malformed rqet")

    # --- rset and the order of the three ---------------------------------------------
    r = cnt("order1", {"X-M2M-RET": ts(120), "X-M2M-RST": ts(60)})
    t.rsc(r, 4000, 400, "rset before rqet -> 4000")
    t.ok("result expiration" in r.text, "the m2m:dbg names the result expiration", r.text)
    absent("order1", "rset before rqet")
    r = cnt("order2", {"X-M2M-RET": "10000", "X-M2M-OET": "20000"})
    t.rsc(r, 4000, 400, "oet after rqet (relative forms) -> 4000")
    absent("order2", "oet after rqet")
    r = cnt("order3", {"X-M2M-RST": "10000", "X-M2M-OET": "20000"})
    t.rsc(r, 4000, 400, "oet after rset -> 4000")
    absent("order3", "oet after rset")
    r = cnt("rsetpast", {"X-M2M-RST": ts(-60)})
    t.rsc(r, 4008, 504, "rset in the past -> 4008")
    absent("rsetpast", "rset in the past")
    t.rsc(cnt("badrset", {"X-M2M-RST": "x1"}), 4000, 400, "malformed rset -> 4000")
    t.rsc(cnt("badoet", {"X-M2M-OET": "x1"}), 4000, 400, "malformed oet -> 4000")
    r = cnt("faroet", {"X-M2M-OET": str(400 * 1000)})
    t.rsc(r, 4000, 400, "a blocking request's oet more than 300 s ahead -> 4000")
    absent("faroet", "far oet")
    r = cnt("ok3", {"X-M2M-RET": "60000", "X-M2M-RST": "120000", "X-M2M-OET": "10"})
    t.rsc(r, 2001, 201, "rqet <= rset, oet before both: served")
    rst = r.headers.get("x-m2m-rst", "")
    t.ok(TS.match(rst) is not None, "the answer carries rset as an absolute timestamp", rst)
    if TS.match(rst):
        delta = (parse_ts(rst) - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        t.ok(60 < delta < 125, "X-M2M-RST is the relative rset made absolute", delta)
    else:
        t.ok(False, "X-M2M-RST is the relative rset made absolute")

    # --- oet with a non-blocking request, and X-M2M-RST on the 1001 -----------------
    r = cnt("nb", {"X-M2M-OET": "1500", "X-M2M-RST": "60000"}, query="?rt=1")
    t.rsc(r, 1001, 202, "rt=1 with oet: accepted (1001)")
    t.ok(TS.match(r.headers.get("x-m2m-rst", "")) is not None, "the 1001 carries X-M2M-RST", r.headers)
    req_ri = r.json.get("m2m:uri") if r.json else None
    t.rsc(cse.get("/cse-in/rp/nb", origin="Crp"), 4004, 404, "rt=1 with oet: not executed before oet")
    if req_ri:
        rq = cse.get("/" + req_ri, origin="Crp")
        t.eq((rq.json or {}).get("m2m:req", {}).get("rs"), 3, "the <request> is pending before oet")
    # (its oet passes while the blocking ones below wait for theirs)

    # --- oet: delayed execution, blocking -------------------------------------------
    got = {}

    def delayed():
        start = time.time()
        got["r"] = cnt("later", {"X-M2M-OET": "1500"})
        got["took"] = time.time() - start
    th = threading.Thread(target=delayed)
    th.start()
    time.sleep(0.5)
    t.rsc(cse.get("/cse-in/rp/later", origin="Crp"), 4004, 404, "oet 1500 ms: not created before its time")
    t.rsc(cse.get("/cse-in"), 2000, 200, "other requests are served meanwhile")
    th.join(timeout=15)
    t.rsc(got.get("r"), 2001, 201, "oet: created once its time came")
    t.ok(got.get("took", 0) >= 1.4, "oet: the answer came no earlier than oet", got.get("took"))
    t.rsc(cse.get("/cse-in/rp/later", origin="Crp"), 2000, 200, "oet: the container exists afterwards")
    start = time.time()
    r = cnt("laterabs", {"X-M2M-OET": ts(2)})
    t.rsc(r, 2001, 201, "oet absolute: created")
    t.ok(time.time() - start >= 0.9, "oet absolute: not before its time", time.time() - start)
    r = cnt("past", {"X-M2M-OET": ts(-10)})
    t.rsc(r, 2001, 201, "oet in the past: executed at once")
    deadline = time.time() + 10
    while time.time() < deadline and cse.get("/cse-in/rp/nb", origin="Crp").status != 200:
        time.sleep(0.05)
    t.rsc(cse.get("/cse-in/rp/nb", origin="Crp"), 2000, 200, "rt=1 with oet: executed after oet")


    # --- response types ----------------------------------------------------------------
    r = cnt("rt3", query="?rt=3")
    t.rsc(r, 2001, 201, "rt=3 (blocking) is served")
    t.ok(r.json and "m2m:cnt" in r.json, "rt=3 answers with the resource")
    r = cnt("rt4", query="?rt=4")
    t.rsc(r, 2001, 201, "rt=4 (flexBlocking) is served blocking")
    r = cnt("rt5", query="?rt=5")
    t.rsc(r, 2001, 201, "rt=5 (noResponse) is executed: 2001")
    t.eq(r.text.strip(), "", "rt=5: the answer has no content")
    t.rsc(cse.get("/cse-in/rp/rt5", origin="Crp"), 2000, 200, "rt=5: the container exists")
    r = cse.request("GET", "/cse-in/rp/nothing?rt=5", origin="Crp")
    t.rsc(r, 4004, 404, "rt=5: an error still has its RSC")
    t.rsc(cnt("rt6", query="?rt=6"), 4000, 400, "rt=6 -> 4000")
    absent("rt6", "rt=6")

    # --- RVI ---------------------------------------------------------------------------
    r = cnt("rvi", rvi="9")
    t.rsc(r, 4001, 501, "unsupported RVI -> 4001")
    absent("rvi", "unsupported RVI")

    # --- ty ----------------------------------------------------------------------------
    r = cse.create("/cse-in/rp", 999, {"m2m:cnt": {"rn": "t999"}}, origin="Crp")
    t.rsc(r, 5001, 501, "ty=999 (no type this CSE serves) -> 5001, as before")
    absent("t999", "ty=999")
    t.rsc(cse.create("/cse-in/rp", 0, {"m2m:cnt": {"rn": "t0"}}, origin="Crp", content_type="application/json;ty=0"),
          4000, 400, "ty=0 -> 4000")
    absent("t0", "ty=0")
    r = cse.request("GET", "/cse-in/rp", origin="Crp", ty=3)
    t.rsc(r, 4000, 400, "ty in a RETRIEVE (Content-Type) -> 4000")
    r = cse.request("PUT", "/cse-in/rp", origin="Crp", ty=2, body={"m2m:ae": {"lbl": ["tyupd"]}})
    t.rsc(r, 2004, 200, "ty in an UPDATE is still ignored (decisions.md)")
    t.rsc(cse.request("GET", "/cse-in/rp?fu=1&ty=3", origin="Crp"), 2000, 200, "ty as a filter criterion stays valid")
    r = cse.request("POST", "/cse-in", body={"m2m:cnt": {"rn": "noty"}}, origin="Crp")
    t.rsc(r, 4000, 400, "a CREATE body without ty (POST to the CSEBase) -> 4000")
    t.rsc(cse.get("/cse-in/noty"), 4004, 404, "CREATE without ty: nothing stored")
    r = cse.request("POST", "/cse-in", body={"m2m:sgn": {"vrq": True, "sur": "/id-in/sub1"}}, origin="Crp")
    t.rsc(r, 2000, 200, "NOTIFY to the CSE itself is accepted")

    # --- empty UPDATE, labels ------------------------------------------------------------
    before = cse.get("/cse-in/rp", origin="Crp").json["m2m:ae"]
    r = cse.update("/cse-in/rp", {"m2m:ae": {}}, origin="Crp")
    t.rsc(r, 4000, 400, "an empty UPDATE -> 4000")
    after = cse.get("/cse-in/rp", origin="Crp").json["m2m:ae"]
    t.eq(after["lt"], before["lt"], "the empty UPDATE changed nothing (lt)")
    for bad, what in ((["a b"], "white space"), ([""], "an empty label"), (["ok", 5], "a number"),
                      ("k:v", "not a list"), (["tab\tx"], "a tab")):
        r = cse.update("/cse-in/rp", {"m2m:ae": {"lbl": bad}}, origin="Crp")
        t.rsc(r, 4000, 400, "UPDATE label with %s -> 4000" % what)
    r = cse.create("/cse-in/rp", 3, {"m2m:cnt": {"rn": "lblbad", "lbl": ["x y"]}}, origin="Crp")
    t.rsc(r, 4000, 400, "CREATE with a label containing a space -> 4000")
    absent("lblbad", "bad label")
    t.eq(cse.get("/cse-in/rp", origin="Crp").json["m2m:ae"].get("lbl"), ["tyupd"], "refused labels changed nothing")
    r = cse.update("/cse-in/rp", {"m2m:ae": {"lbl": ["key:value", "plain", "a/b"]}}, origin="Crp")
    t.rsc(r, 2004, 200, "labels key:value and plain tokens are accepted")

    # --- VSI, OT -----------------------------------------------------------------------
    r = cse.get("/cse-in", headers={"X-M2M-VSI": "vendor-42", "X-M2M-OT": ts(0)})
    t.eq(r.headers.get("x-m2m-vsi"), "vendor-42", "X-M2M-VSI is echoed")
    ot = r.headers.get("x-m2m-ot", "")
    t.ok(TS.match(ot) is not None, "X-M2M-OT answers with the CSE's own timestamp", ot)
    r = cse.get("/cse-in")
    t.ok("x-m2m-vsi" not in r.headers and "x-m2m-ot" not in r.headers and "x-m2m-rst" not in r.headers,
         "no VSI, OT or RST when the request had none", r.headers)
    r = cse.get("/cse-in/nothing", headers={"X-M2M-VSI": "v"})
    t.eq((r.status, r.headers.get("x-m2m-vsi")), (404, "v"), "VSI is echoed on errors too")

    # --- CSEBase ctm -------------------------------------------------------------------
    cb = cse.get("/cse-in").json["m2m:cb"]
    ctm = cb.get("ctm", "")
    t.ok(TS.match(ctm) is not None, "the CSEBase has ctm (currentTime)", ctm)
    if TS.match(ctm):
        skew = abs((parse_ts(ctm) - datetime.datetime.now(datetime.timezone.utc)).total_seconds())
        t.ok(skew < 60, "ctm is the CSE's current time", skew)
    else:
        t.ok(False, "ctm is the CSE's current time")

    def later_ctm():
        c = cse.get("/cse-in").json["m2m:cb"].get("ctm", "")
        return c if c > ctm else None
    # Polled (bounded) instead of a 1.1 s sleep: ctm has microseconds now,
    # but whole seconds would pass too.
    ctm2 = wait_for(later_ctm, seconds=3, step=0.05) or ""
    t.ok(ctm2 > ctm, "ctm advances between retrievals", (ctm, ctm2))

    # --- registration with a CSE-ID ----------------------------------------------------
    for origin in ("/id-mn", "//other.sp/id-mn"):
        r = cse.register_ae("cseAsAe", origin=origin)
        t.rsc(r, 4107, 403, "AE registration with CSE-ID %s -> 4107" % origin)
        t.rsc(cse.get("/cse-in/cseAsAe"), 4004, 404, "registration as %s: nothing stored" % origin)
    t.rsc(cse.register_ae("sprel", origin="/id-in/Cx"), 4000, 400, "an SP-relative AE-ID is still 4000")

    # --- CoAP: the binding-specific parts -----------------------------------------------
    raw = RawClient(cse.coap_port)
    try:
        r = raw.request(GET, "cse-in/rp", m2m_options(fr="Crp", rqi="c1", ty=3))
        t.eq((r.code, r.rsc), (code(4, 0), 4000), "CoAP: ty on a GET -> 4.00 / 4000")
        r = raw.request(GET, "cse-in", m2m_options(fr="Crp", rqi="c2", vsi="vv", ot=ts(0)))
        t.eq((r.code, r.rsc), (code(2, 5), 2000), "CoAP: GET with VSI and OT")
        t.eq(r.opt(331), b"vv", "CoAP: VSI is echoed")
        t.ok(r.opt(259) is not None and TS.match(r.opt(259).decode()) is not None,
             "CoAP: OT answers with a 15-byte timestamp", r.opt(259))
        r = raw.request(GET, "cse-in", m2m_options(fr="Crp", rqi="c3", rqet=ts(-60)))
        t.eq(r.rsc, 4008, "CoAP: rqet in the past -> 4008")
        r = raw.request(POST, "cse-in/rp", m2m_options(fr="Crp", rqi="c4", ty=3, rset=ts(60), rqet=ts(120)) +
                        [(CONTENT_FORMAT, b"\x32")], payload=b'{"m2m:cnt":{"rn":"coaprset"}}')
        t.eq(r.rsc, 4000, "CoAP: rset before rqet -> 4000")
        absent("coaprset", "CoAP rset before rqet")
        start = time.time()
        r = raw.request(POST, "cse-in/rp", m2m_options(fr="Crp", rqi="c5", ty=3, oet="1500") +
                        [(CONTENT_FORMAT, b"\x32")], payload=b'{"m2m:cnt":{"rn":"coapoet"}}', timeout=8)
        took = time.time() - start
        t.eq((r.code, r.rsc) if r else None, (code(2, 1), 2001), "CoAP: a CREATE with oet 1500 ms is answered 2.01")
        t.ok(took >= 1.4, "CoAP: ... no earlier than its oet (a separate response)", took)
        t.rsc(cse.get("/cse-in/rp/coapoet", origin="Crp"), 2000, 200, "CoAP: the delayed CREATE was executed")
    finally:
        raw.close()

# --- waiting for oet when the CSE is reset or stops -------------------------------------
with Cse(upper_tester="true") as cse:
    t.rsc(cse.register_ae("w", origin="Cw"), 2001, 201, "AE for the waits")
    got = {}

    OET = 2.0   # the Reset (0.5 s in) and the stop come well before it

    def waiting(key, rn):
        got[key] = cse.request("POST", "/cse-in/w", ty=3, body={"m2m:cnt": {"rn": rn}}, origin="Cw",
                               headers={"X-M2M-OET": str(int(OET * 1000))})
    sent = time.time()
    th = threading.Thread(target=waiting, args=("reset", "r1"))
    th.start()
    time.sleep(0.5)
    from harness import curl
    r = curl("POST", cse.base + "/__ut__", {"X-M2M-UTCMD": "Reset", "X-M2M-RI": "u1"})
    t.rsc(r, 2000, 200, "Reset while a request waits for its oet")
    th.join(timeout=15)
    t.rsc(got.get("reset"), 5000, 500, "the waiting request is answered 5000 by the reset")
    # Looked at half a second after its oet (counted from before it was sent) has passed.
    time.sleep(max(0.0, sent + OET + 0.5 - time.time()))
    t.rsc(cse.get("/cse-in/w/r1"), 4004, 404, "it never runs after the reset")

    t.rsc(cse.register_ae("w", origin="Cw"), 2001, 201, "AE again")
    th = threading.Thread(target=waiting, args=("stop", "r2"))
    th.start()
    time.sleep(0.5)
    rc = cse.stop()
    th.join(timeout=15)
    t.eq(rc, 0, "the CSE stops cleanly while a request waits for its oet")
    t.ok(got.get("stop") is not None and got["stop"].status != 201, "the waiting request was not answered 2001",
         got.get("stop"))
    cse.start()
    t.rsc(cse.get("/cse-in/w/r2"), 4004, 404, "nor executed")

t.done()
