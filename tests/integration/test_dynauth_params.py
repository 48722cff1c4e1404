"""The dynamic-authorization request parameters through the real m2m-cse:
tokens in the HTTP Authorization header (optionally after Bearer), tids,
ltids, tqi, rids in the HTTP query and the CoAP Uri-Query (tkns too there),
each checked and bounded with 4000 for what is malformed; the m2m client's
--token/--tids/--ltids/--rids/--tqi over HTTP and CoAP, tokens never shown.
(Whether a token grants anything is the DAS decider's part, not tested here.)"""
import os, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import coap_client

t = Tap()
from harness import BUILD
TOOL = os.environ.get("M2M_TOOL", os.path.join(BUILD, "m2m"))
JWS = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ0MUBkYXMuaXJvbmJhcmsubG9jYWwifQ.c2lnbmF0dXJl"
JWE = "eyJhbGciOiJkaXIifQ..aXY.Y2lwaGVy.dGFn"

with Cse() as cse:
    t.rsc(cse.register_ae("par", origin="Cpar"), 2001, 201, "AE registered")

    def get(query="", auth=None, **kw):
        return cse.get("/cse-in/par" + query, headers={"Authorization": auth} if auth is not None else None, **kw)

    # --- HTTP: Authorization ---------------------------------------------------
    for name, auth in [("one token", JWS), ("two tokens joined by '+'", JWS + "+" + JWE),
                       ("'+' with spaces as in TS-0009's example", JWS + " + " + JWE),
                       ("after the Bearer scheme", "Bearer " + JWS), ("Bearer in lower case", "bearer " + JWS),
                       ("a truncated token (the verifier's to judge)", JWS[:40])]:
        t.rsc(get(auth=auth), 2000, 200, "Authorization with %s: accepted" % name)
    for name, auth in [("another scheme (Basic)", "Basic dXNlcjpwYXNz"), ("Bearer and nothing", "Bearer "),
                       ("a quote", JWS + '"'), ("nine tokens", "+".join([JWS] * 9)),
                       ("20 KB", "A" * 20000 + ".b.c")]:
        r = get(auth=auth)
        t.rsc(r, 4000, 400, "Authorization with %s: 4000" % name)
        t.ok("Authorization" in (r.json or {}).get("m2m:dbg", ""), "  and the reason names the header", r.text)
    r = get(auth="A" * 70000)
    t.ok(r.status in (400, 431) and cse.alive(), "a 70 KB Authorization header is refused and the CSE lives", r)
    r = get("?tkns=" + JWS)
    t.rsc(r, 4000, 400, "tkns in an HTTP query: 4000 (TS-0009 puts tokens in the Authorization header)")

    # --- HTTP: query parameters -----------------------------------------------
    for q in ["?tids=t1@das.ironbark.local", "?tids=t1@das.example+t2@das.example", "?tids=a@b.c&tids=d@e.f",
              "?ltids=lt1", "?ltids=lt1+_lt.2", "?tqi=true", "?tqi=1", "?tqi=false", "?tqi=0",
              "?rids=reader@roles.example", "?tids=t1@das.example&ltids=lt1&tqi=true&rids=r@x.y"]:
        t.rsc(get(q), 2000, 200, "query %s accepted" % q)
    for q in ["?tids=notokenid", "?tids=t1@DAS.example", "?tids=t%201@das.example", "?tids=",
              "?ltids=1abc", "?ltids=a:b", "?tqi=yes", "?tqi=",
              "?tids=" + "+".join("t%d@das.example" % i for i in range(9)),
              "?tids=" + "a" * 300 + "@das.example"]:
        t.rsc(get(q), 4000, 400, "query %s refused with 4000" % q[:60])

    # --- CoAP: Uri-Query --------------------------------------------------------
    hdr = {"fr": "Cpar", "rqi": "c1"}
    LONG = "eyJhbGciOiJFUzI1NiJ9." + "e" * 600 + ".c2ln"   # a realistic size: beyond RFC 7252's 255
    for q in ["tkns=" + JWS, "tkns=" + LONG, "tids=t1@das.example", "ltids=lt1", "tqi=true", "rids=reader@roles.example"]:
        r = coap_client(cse.coap_port, "cse-in/par?" + q, params=hdr)
        t.ok(r.code == "2.05" and r.rsc == 2000, "CoAP query %s accepted" % q[:30], r)
    for q in ["tkns=x%22y", "tids=nope", "ltids=9", "tqi=maybe"]:
        r = coap_client(cse.coap_port, "cse-in/par?" + q, params=hdr)
        t.ok(r.code == "4.00" and r.rsc == 4000, "CoAP query %s refused with 4000" % q, r)

    # --- the m2m client -----------------------------------------------------------
    with open(os.path.join(cse.data_dir, "token.jwt"), "w") as f:
        f.write(JWE + "\n")
    for url in [cse.base, "coap://127.0.0.1:%d" % cse.coap_port]:
        p = subprocess.run([TOOL, "--url", url, "--from", "Cpar", "-v", "--token", JWS,
                            "--token", "@" + os.path.join(cse.data_dir, "token.jwt"),
                            "--tids", "t1@das.example", "--ltids", "lt1", "--rids", "r@roles.example", "--tqi",
                            "retrieve", "cse-in/par"], capture_output=True, text=True, timeout=30)
        t.ok(p.returncode == 0 and "RSC 2000" in p.stdout, "m2m with --token x2, --tids, --ltids, --rids, --tqi "
             "over %s: 2000" % url.split(":")[0], p.stdout + p.stderr)
        t.ok(JWS not in p.stderr and JWE not in p.stderr, "  verbose output shows no token", p.stderr[:500])
        if url.startswith("http"):
            t.ok("tids=t1@das.example&ltids=lt1&rids=r@roles.example&tqi=true" in p.stderr and
                 "Authorization: (tokens not shown)" in p.stderr, "  the request carried them", p.stderr[:800])
    p = subprocess.run([TOOL, "--url", cse.base, "--from", "Cpar", "--tids", "bad", "retrieve", "cse-in/par"],
                       capture_output=True, text=True, timeout=30)
    t.ok(p.returncode == 1 and "RSC 4000" in p.stdout, "m2m --tids with a malformed ID: the CSE answers 4000",
         p.stdout + p.stderr)
    p = subprocess.run([TOOL, "--url", cse.base, "--token", "@/nonexistent/token", "retrieve", "cse-in"],
                       capture_output=True, text=True, timeout=30)
    t.ok(p.returncode == 2 and "token file" in p.stderr, "m2m --token @missing-file: usage error", p.stderr)
    t.ok(cse.alive(), "the CSE is still running")
t.done()
