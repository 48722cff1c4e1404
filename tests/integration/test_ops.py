"""What an operator watches: the health endpoint, Prometheus metrics for the
admin only (values move as requests are made over HTTP, CoAP and failed
TLS and DTLS handshakes, a wrong DTLS PSK included), one request log line per request at info, JSON log
lines with log-format = json, and no key material or token in any log line
even at debug."""
import json, os, re, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl, raw_exchange, wait_for
import pg_server
from coap_peer import coap_client

SECRET = "ops-secret-psk-42"        # coap-client -k takes the key as text
KEY_HEX = SECRET.encode().hex()
PSK = "ops-dev@test.example:%s:Cmeter*" % KEY_HEX
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJvcHMtdG9rZW4tbWFya2VyIjoxfQ.c2lnbmF0dXJlLW9wcy0xMjM0"

t = Tap()
n = [0]


def hdr(fr, **kw):
    n[0] += 1
    return dict(fr=fr, rqi="ops-%d" % n[0], rvi="3", **kw)


def scrape(cse, origin="CAdmin"):
    h = {"X-M2M-Origin": origin} if origin else {}
    return curl("GET", cse.base + "/__metrics__", h)


def samples(text):
    """{'name{labels}': value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def value(m, key):
    return m.get(key, 0.0)


# coaps-handshake-timeout 2 s: the wrong PSK's handshake ends then, not at libcoap's ~31 s.
with Cse(psk=PSK, log_level="info", coaps_handshake_timeout=2000) as cse:
    # --- health ---------------------------------------------------------
    r = curl("GET", cse.base + "/__health__")
    body = json.loads(r.text or "{}")
    t.ok(r.status == 200 and body.get("status") == "ok" and body.get("cse") == "/id-in"
         and isinstance(body.get("uptime_s"), int), "GET /__health__ answers 200 with a small JSON body", r)
    r = curl("POST", cse.base + "/__health__", {}, "x")
    t.eq(r.status, 405, "the health endpoint answers GET only")

    # A wrong key for a known identity shows nothing at once: DTLS drops the
    # client's Finished it cannot decrypt, and the server ends the session at
    # coaps-handshake-timeout. Made first, checked last.
    coaps_failed = 'ironbark_handshake_failures_total{transport="coaps"}'
    first = value(samples(scrape(cse).text), coaps_failed)
    wrong = coap_client(cse.coaps_port, "cse-in", "get", hdr("Cmeter"), scheme="coaps",
                        extra=["-k", SECRET[::-1], "-u", "ops-dev@test.example"], timeout=2)
    t.ok(wrong.code is None, "a DTLS handshake with a wrong PSK for a known identity fails")

    # --- metrics: the admin only ---------------------------------------------
    r = scrape(cse, origin=None)
    t.rsc(r, 4103, 403, "metrics without an originator are refused (4103)")
    r = scrape(cse, origin="Cnobody")
    t.rsc(r, 4103, 403, "metrics for another originator are refused (4103)")
    r = scrape(cse)
    t.ok(r.status == 200 and r.headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
         "the admin scrapes the metrics in the Prometheus text format", r)
    before = samples(r.text)
    for family in ("ironbark_requests_total", "ironbark_request_duration_seconds", "ironbark_open_connections",
                   "ironbark_handshake_failures_total", "ironbark_access_denials_total",
                   "ironbark_notification_queue_depth", "ironbark_notifications_dropped_total",
                   "ironbark_group_commit_batch_size", "ironbark_store_bytes"):
        t.ok("# TYPE %s " % family in r.text, "metric family %s is exposed" % family)

    # --- requests move them -----------------------------------------------
    created = cse.register_ae("meter", origin="Cmeter")
    t.rsc(created, 2001, 201, "an AE registers")
    denied = cse.get("/cse-in/meter", origin="Cstranger")
    t.rsc(denied, 4103, 403, "a stranger is refused the AE")
    c = coap_client(cse.coap_port, "cse-in/meter", "get", hdr("Cmeter"), timeout=3)
    t.eq(c.code, "2.05", "a CoAP RETRIEVE is answered")
    raw_exchange(cse.https_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)   # plain text to TLS
    bad = coap_client(cse.coaps_port, "cse-in", "get", hdr("Cmeter"), scheme="coaps",
                      extra=["-k", SECRET, "-u", "nobody@test.example"], timeout=2)
    t.ok(bad.code is None, "a DTLS handshake with an unknown PSK identity fails")

    after = samples(scrape(cse).text)
    key = 'ironbark_requests_total{op="create",binding="http",rsc="2001"}'
    t.eq(value(after, key) - value(before, key), 1, "requests_total counts the CREATE by op, binding, RSC")
    key = 'ironbark_requests_total{op="retrieve",binding="http",rsc="4103"}'
    t.eq(value(after, key) - value(before, key), 1, "requests_total counts the refused RETRIEVE")
    key = 'ironbark_requests_total{op="retrieve",binding="coap",rsc="2000"}'
    t.eq(value(after, key) - value(before, key), 1, "requests_total counts the CoAP RETRIEVE")
    key = 'ironbark_request_duration_seconds_count{op="create",binding="http"}'
    t.eq(value(after, key) - value(before, key), 1, "the latency histogram counts the CREATE")
    key = 'ironbark_request_duration_seconds_bucket{op="create",binding="http",le="+Inf"}'
    t.ok(value(after, key) == value(after, 'ironbark_request_duration_seconds_count{op="create",binding="http"}'),
         "the +Inf bucket holds every observation")
    key = 'ironbark_access_denials_total{decider="acp"}'
    t.eq(value(after, key) - value(before, key), 1, "the ACP decider's denial is counted")
    key = "ironbark_group_commit_batch_size_count"
    t.ok(value(after, key) > value(before, key), "group commits are counted with their batch sizes")
    if pg_server.enabled():   # the database's files are its server's
        t.eq(value(after, 'ironbark_store_bytes{file="db"}'), 0, "PostgreSQL: the store's file size is 0")
    else:
        t.ok(value(after, 'ironbark_store_bytes{file="db"}') > 0, "the store's size is shown")
    t.ok(value(after, 'ironbark_open_connections{transport="http"}') >= 1,
         "open connections include the scrape's own")
    key = 'ironbark_handshake_failures_total{transport="https"}'
    t.eq(value(after, key) - value(before, key), 1, "a failed TLS handshake is counted")
    key = 'ironbark_handshake_failures_total{transport="coaps"}'
    t.ok(value(after, key) - value(before, key) >= 1, "a DTLS handshake refused for its PSK identity is counted")
    t.ok("ironbark_notification_queue_depth 0" in scrape(cse).text, "nothing is queued for notification")

    # --- the request log ----------------------------------------------------
    log = cse.read_log()
    t.ok(re.search(r" info  request binding=http peer=127\.0\.0\.1 fr=Cmeter op=create to=cse-in rqi=\S+ "
                   r"rsc=2001 us=\d+$", log, re.M), "the CREATE is logged at info with its microseconds", log[-2000:])
    t.ok(re.search(r"request binding=coap peer=127\.0\.0\.1 fr=Cmeter op=retrieve to=cse-in/meter rqi=ops-\d+ "
                   r"rsc=2000 us=\d+$", log, re.M), "the CoAP RETRIEVE is logged")
    forged = cse.get("/cse-in", origin='Cx rsc=2000 "us=1')
    log = cse.read_log()
    t.ok('fr="Cx rsc=2000 \\"us=1"' in log, "an originator with spaces and quotes is quoted, not a forged field",
         log[-600:])
    t.ok("/__metrics__" not in log and "/__health__" not in log, "scrapes and probes are not request lines")
    t.ok(" rqi=s " not in log, "the CoAP binding's start-up self-test is not a request line")

    good = coap_client(cse.coaps_port, "cse-in/meter", "get", hdr("Cmeter"), scheme="coaps",
                       extra=["-k", SECRET, "-u", "ops-dev@test.example"], timeout=3)
    t.eq(good.code, "2.05", "a CoAPS request with the right PSK is answered (not a failed handshake)")
    # The wrong key (first thing above) and the unknown identity: each counted once.
    # Bounded by 25 s, well below libcoap's own give-up (~31 s): only our bound counts it in time.
    wait_for(lambda: value(samples(scrape(cse).text), coaps_failed) - first >= 2, seconds=25, step=0.5)
    t.eq(value(samples(scrape(cse).text), coaps_failed) - first, 2,
         "a DTLS handshake that failed on a wrong PSK is counted too, each failed handshake once")
    t.ok(re.search(r" info  dtls: handshake with 127\.0\.0\.1 unfinished after 2000 ms: ended$", cse.read_log(), re.M),
         "... ended by coaps-handshake-timeout, logged at info", cse.read_log()[-1500:])
    t.eq(cse.read_log().count("unfinished after"), 1,
         "only that one: the refused identity ended at once, the finished handshake was not ended")

# --- JSON lines, and no secret in any line at debug ------------------------------
with Cse(psk=PSK, log_level="debug", log_format="json") as cse:
    t.rsc(cse.register_ae("meter", origin="Cmeter"), 2001, 201, "an AE registers (json logs)")
    r = cse.get("/cse-in/meter?tkns=" + TOKEN, origin="Cmeter", headers={"Authorization": "Bearer " + TOKEN})
    t.ok(r.status > 0, "a request carrying a token is answered", r)
    ok = coap_client(cse.coaps_port, "cse-in/meter", "get", hdr("Cmeter"), scheme="coaps",
                     extra=["-k", SECRET, "-u", "ops-dev@test.example"], timeout=3)
    t.eq(ok.code, "2.05", "a CoAPS request with the PSK is answered")
    cse.get("/cse-in", origin='Cq"\u00e9}{' + "x" * 600)     # quotes, braces, non-ASCII, long
    coap_client(cse.coaps_port, "cse-in", "get", hdr("Cmeter"), scheme="coaps",
                extra=["-k", SECRET[::-1], "-u", "ops-dev@test.example"], timeout=2)
    log = cse.read_log()
    raw = open(cse.log_path, "rb").read()
    t.ok(raw.decode("utf-8", errors="strict") is not None and all(b < 0x80 for b in raw),
         "JSON log lines are plain ASCII (bytes above it escaped)")
    lines = [l for l in log.splitlines() if l.strip()]
    parsed = []
    for l in lines:
        try:
            parsed.append(json.loads(l))
        except ValueError:
            parsed.append(None)
    t.ok(lines and all(isinstance(p, dict) and {"ts", "level", "msg"} <= set(p) for p in parsed),
         "every log line is a JSON object with ts, level and msg",
         [l for l, p in zip(lines, parsed) if not isinstance(p, dict)][:3])
    reqs = [p for p in parsed if p and p.get("msg") == "request"]
    t.ok(any(p.get("binding") == "http" and p.get("fr") == "Cmeter" and p.get("op") == "create"
             and p.get("to") == "cse-in" and p.get("rsc") == 2001 and isinstance(p.get("us"), int) for p in reqs),
         "a request line carries binding, originator, operation, target, RSC and microseconds as fields", reqs[:2])
    t.ok(any(p.get("binding") == "coap" and p.get("rsc") == 2000 for p in reqs), "CoAPS requests are logged")
    t.ok(any(p.get("fr", "").startswith('Cq"\u00c3\u00a9}{x') and p.get("rsc") == 4103 and len(p["fr"]) <= 400
             for p in reqs), "a hostile originator stays inside its field, cut at 400 bytes", [p.get("fr") for p in reqs][-2:])
    for secret, what in ((KEY_HEX, "the PSK in hex"), (SECRET, "the PSK as text"), (SECRET[::-1], "a wrong key tried"),
                         (TOKEN, "a token"), (TOKEN.split(".")[2], "a token's signature"),
                         (TOKEN.split(".")[1], "a token's claims")):
        t.ok(secret not in log, "no log line holds %s" % what)

t.done()
