"""Rate limiting (docs/security.md, "Rate limiting"): token buckets per
source address, originator and credential in front of the dispatcher, and
per source address for TLS and DTLS handshakes. All of 127.0.0.0/8 is
loopback on Linux, so clients bind to 127.0.0.x to be different addresses;
`rate-limit-loopback` makes loopback peers subject to the limits (by default
they are exempt, which the last part checks).

Checked: an HTTP burst beyond the limit gets 429 + Retry-After + RSC 4000
with an m2m:dbg naming the key, another address is served meanwhile, the
bucket refills after the announced wait; CoAP gets 4.29 with Max-Age (raw
client and coap-client-openssl); one originator is limited while another
from the same address is not; a PSK credential is limited over HTTPS; a TLS
and a DTLS handshake flood from one address is refused beyond the burst
while another address handshakes; a repeat offender gets one audit record
per window; the log line is rate-limited; loopback is exempt by default."""
import http.client, json, os, re, socket, ssl, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import RawClient, coap_client, m2m_options, GET, CON
import secure

t = Tap()
DBG = re.compile(r"^too many requests from (source address|originator|credential) (\S+); retry after (\d+) s$")
MAX_AGE = 14


class Http:
    """A keep-alive HTTP/1.1 client bound to a source address."""

    def __init__(self, cse, source):
        self.conn = http.client.HTTPConnection("127.0.0.1", cse.port, timeout=10,
                                               source_address=(source, 0))
        self.n = 0

    def get(self, path="/cse-in", origin="CAdmin"):
        self.n += 1
        self.conn.request("GET", path, headers={"X-M2M-Origin": origin, "X-M2M-RI": "r%d" % self.n,
                                                "X-M2M-RVI": "3"})
        r = self.conn.getresponse()
        body = r.read().decode()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body

    def close(self):
        self.conn.close()


def dbg_of(body):
    try:
        return json.loads(body).get("m2m:dbg", "")
    except ValueError:
        return ""


def burst(client, n, **kw):
    """n requests as fast as one connection goes; returns (answers, seconds taken)."""
    start = time.time()
    out = [client.get(**kw) for _ in range(n)]
    return out, time.time() - start


def audit_records(cse):
    path = os.path.join(cse.data_dir, "audit.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in (json.loads(l) for l in f if l.strip()) if r.get("decision") == "rate-limited"]


# --- per source address: HTTP and CoAP -----------------------------------------------------
with Cse(rate_limit_loopback="true", rate_per_address="2,10", rate_per_originator="0",
         rate_per_credential="0", rate_handshakes_per_address="0") as cse:
    a = Http(cse, "127.0.0.2")
    answers, took = burst(a, 16)
    served = [x for x in answers if x[0] == 200]
    refused = [x for x in answers if x[0] == 429]
    # The burst is always served; refill during the run may add a request or two.
    t.ok(10 <= len(served) <= 10 + 2 * took + 1 and len(served) + len(refused) == 16,
         "HTTP: a burst of 10 is served, the rest of 16 requests get 429",
         [x[0] for x in answers])
    t.ok(answers[:10] == [x for x in answers[:10] if x[0] == 200], "the first 10 requests are all served")
    st, h, body = refused[0] if refused else (None, {}, "")
    t.eq(h.get("x-m2m-rsc"), "4000", "429 carries RSC 4000 (a client fault, no oneM2M code exists)")
    m = DBG.match(dbg_of(body))
    t.ok(m and m.group(1) == "source address" and m.group(2) == "127.0.0.2",
         "m2m:dbg names the source address", body)
    t.ok(h.get("retry-after", "").isdigit() and int(h["retry-after"]) >= 1 and m
         and int(m.group(3)) == int(h["retry-after"]),
         "Retry-After gives whole seconds, the same as the dbg text", h)
    t.ok(h.get("x-m2m-ri", "").startswith("r"), "the refusal still echoes X-M2M-RI", h)

    b = Http(cse, "127.0.0.3")
    st, h, body = b.get()
    t.eq(st, 200, "another source address is served while 127.0.0.2 is refused")
    b.close()

    wait = int(refused[0][1]["retry-after"]) if refused else 1
    time.sleep(wait)
    st, h, body = a.get()
    t.eq(st, 200, "after waiting Retry-After seconds the bucket has refilled and 127.0.0.2 is served")

    # Repeat offender: more than 20 refusals within a minute -> one audit record.
    answers, _ = burst(a, 45)
    t.ok(sum(1 for x in answers if x[0] == 429) > 21, "a client that ignores Retry-After keeps being refused")
    recs = [r for r in audit_records(cse) if "127.0.0.2" in r.get("reason", "")]
    t.eq(len(recs), 1, "the repeat offender has exactly one audit record for this window")
    rec = recs[0] if recs else {}
    t.ok(rec.get("op") == "REQUEST" and "source address 127.0.0.2 refused more than 20 times" in
         rec.get("reason", "") and rec.get("originator") == "CAdmin",
         "the record says rate-limited, which key, the limit and the originator", rec)
    burst(a, 30)
    t.eq(len([r for r in audit_records(cse) if "127.0.0.2" in r.get("reason", "")]), 1,
         "more refusals in the same window add no record")
    a.close()
    t.eq(len(re.findall(r"rate limit: refused a request", cse.read_log())), 1,
         "the log has one line for all these refusals (at most one a minute)")

    # CoAP from another address: 4.29 with Max-Age.
    c = RawClient(cse.coap_port)
    c.sock.bind(("127.0.0.5", 0))
    codes, first_429 = [], None
    for i in range(20):
        m = c.request(GET, "cse-in", m2m_options(fr="CAdmin", rqi="c%d" % i, rvi="3"), mtype=CON)
        codes.append(m.code if m else None)
        if m and m.code == (4 << 5 | 29) and first_429 is None:
            first_429 = m
    t.ok(codes[:10] == [2 << 5 | 5] * 10 and (4 << 5 | 29) in codes,
         "CoAP: the burst is served (2.05), then 4.29 Too Many Requests", codes)
    max_age = int.from_bytes(first_429.opt(MAX_AGE), "big") if first_429 and first_429.opt(MAX_AGE) else 0
    md = DBG.match((first_429.json or {}).get("m2m:dbg", "")) if first_429 else None
    t.ok(first_429 and first_429.rsc == 4000 and max_age >= 1 and md and md.group(2) == "127.0.0.5"
         and int(md.group(3)) == max_age,
         "4.29 carries Max-Age = seconds to wait, RSC 4000 and the dbg text", first_429)
    c.close()
    # A slow start of the client may find a refilled token: a few tries, each spends it.
    for i in range(4):
        r = coap_client(cse.coap_port, "cse-in", params=dict(fr="CAdmin", rqi="cc1-%d" % i, rvi="3"),
                        extra=["-a", "127.0.0.5"], timeout=3)
        if r.code != "2.05":
            break
    t.ok(r.code == "4.29" and r.rsc == 4000, "coap-client-openssl from that address sees 4.29 too", r)
    r = coap_client(cse.coap_port, "cse-in", params=dict(fr="CAdmin", rqi="cc2", rvi="3"),
                    extra=["-a", "127.0.0.6"], timeout=3)
    t.ok(r.code == "2.05" and r.rsc == 2000, "and from another address it is served", r)
    cse.stop()
    t.ok(re.search(r"rate limits refused \d+ requests \(\d+ by source address", cse.read_log()),
         "at shutdown the log sums up the refusals")

# --- per originator and per credential -----------------------------------------------------
KEY = "00112233445566778899aabbccddeeff"
with Cse(rate_limit_loopback="true", rate_per_address="0", rate_per_originator="1,5",
         rate_per_credential="1,3", rate_handshakes_per_address="0",
         psk="meter-key@test.example:%s:Cmeter*" % KEY) as cse:
    a = Http(cse, "127.0.0.2")
    answers, took = burst(a, 8, origin="Cflood")
    refused = [x for x in answers if x[0] == 429]
    t.ok(refused and len(answers) - len(refused) <= 5 + took + 1,
         "the originator Cflood is refused beyond its burst of 5", [x[0] for x in answers])
    m = DBG.match(dbg_of(refused[0][2])) if refused else None
    t.ok(m and m.group(1) == "originator" and m.group(2) == "Cflood", "m2m:dbg names the originator",
         refused[:1])
    st, h, body = a.get(origin="Cflood")
    t.eq(st, 429, "Cflood is still refused")
    st, h, body = a.get(origin="CAdmin")
    t.eq(st, 200, "another originator from the same address is served")
    st, h, body = a.get(origin="/id-in/Cflood")
    t.eq(st, 429, "another spelling of Cflood is the same originator (refused)")
    a.close()

    # A credential: requests over one PSK, each with another originator it vouches for,
    # until one is refused (each s_client run takes a while, so a token may refill).
    codes = []
    for i in range(1, 9):
        r = secure.psk_request(cse.https_port, "meter-key@test.example", KEY, "GET", "/cse-in",
                               "Cmeter%d" % i)
        codes.append((r.status, r.rsc, dbg_of(r.text)))
        if r.status == 429:
            break
    t.ok(all(c[0] not in (429, -1) for c in codes[:3]) and codes[-1][0] == 429 and codes[-1][1] == 4000,
         "over HTTPS the PSK credential is refused beyond its burst of 3", codes)
    m = DBG.match(codes[-1][2])
    t.ok(m and m.group(1) == "credential" and m.group(2) == "12-meter-key@test.example",
         "m2m:dbg names the Credential-ID", codes[-1])

# --- handshakes ----------------------------------------------------------------------------
SECRET = "coaps-secret-01"
with Cse(rate_limit_loopback="true", rate_per_address="0", rate_per_originator="0",
         rate_per_credential="0", rate_handshakes_per_address="1,3",
         psk="dev-key@test.example:%s:C*" % SECRET.encode().hex()) as cse:
    ctx = ssl.create_default_context(cafile=cse.tls_ca)

    def handshake(source):
        try:
            s = socket.create_connection(("127.0.0.1", cse.https_port), timeout=5,
                                         source_address=(source, 0))
        except OSError:
            return False
        try:
            with ctx.wrap_socket(s, server_hostname="localhost"):
                return True
        except (OSError, ssl.SSLError):
            return False

    start = time.time()
    results = [handshake("127.0.0.7") for _ in range(7)]
    took = time.time() - start
    t.ok(results[:3] == [True] * 3 and results.count(True) <= 3 + took + 1 and False in results,
         "TLS: three handshakes from 127.0.0.7, then refused at accept", results)
    t.ok(handshake("127.0.0.8"), "another address handshakes meanwhile")
    r = cse.get("/cse-in", base=cse.https_base,
                curl_extra=cse.https_curl_options() + ["--interface", "127.0.0.8"])
    t.eq(r.status, 200, "and its HTTPS request is served")

    def dtls(source, n):
        return coap_client(cse.coaps_port, "cse-in", params=dict(fr="CAdmin", rqi="d%d" % n, rvi="3"),
                           scheme="coaps", extra=["-k", SECRET, "-u", "dev-key@test.example", "-a", source],
                           timeout=3)

    start = time.time()
    results = [dtls("127.0.0.9", i) for i in range(8)]
    took = time.time() - start
    ok = [r.code == "2.05" for r in results]
    t.ok(ok[:3] == [True] * 3 and ok.count(True) <= 3 + took + 1 and False in ok,
         "DTLS: three handshakes from 127.0.0.9, then refused at the ClientHello",
         [r.code for r in results])
    r = dtls("127.0.0.10", 99)
    t.eq(r.code, "2.05", "another address completes its DTLS handshake and is served")
    recs = [x for x in audit_records(cse) if x.get("op") == "HANDSHAKE"]
    t.eq(recs, [], "a few refused handshakes are not yet a repeat offender")
    cse.stop()
    t.ok(re.search(r"and [1-9]\d* handshakes", cse.read_log()), "the refused handshakes are counted")

# --- loopback is exempt by default -----------------------------------------------------------
with Cse(rate_per_address="1,2", rate_per_originator="1,2", rate_handshakes_per_address="1,2") as cse:
    a = Http(cse, "127.0.0.2")
    answers, _ = burst(a, 25)
    t.eq([x[0] for x in answers], [200] * 25, "without rate-limit-loopback, loopback peers are not limited")
    a.close()
    t.ok(all(handshake_ok for handshake_ok in
             [cse.get("/cse-in", base=cse.https_base, curl_extra=cse.https_curl_options()).status == 200
              for _ in range(4)]),
         "nor are their TLS handshakes")

t.done()
