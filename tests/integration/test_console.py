"""The web console without a browser (docs/console.md): off by default, its
assets over HTTPS only, login codes single-use and expiring, sessions that
end, sessions honoured over HTTPS only and as their own originator, CORS
preflights and foreign pages refused, and no key material in any answer."""
import json, os, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, CSE_BIN, admin_flags, curl

KEY = "00112233445566778899aabbccddeeff"
t = Tap()


def mint(cse, *extra):
    p = subprocess.run([CSE_BIN, "console-login", *admin_flags(cse.data_dir), *extra],
                       capture_output=True, text=True, timeout=20)
    return p.stdout.strip(), p


def console(cse, method, path, headers=None, body=None):
    return curl(method, cse.https_base + "/console" + path, headers, body, extra=cse.https_curl_options())


def login(cse, code):
    return console(cse, "POST", "/api/login", {"Content-Type": "application/json"}, json.dumps({"code": code}))


with Cse() as cse:
    r = console(cse, "GET", "/")
    t.eq(r.status, 404, "the console is off by default: /console/ is 404 over HTTPS")
    r = curl("GET", cse.base + "/console/")
    t.eq(r.status, 404, "and over HTTP")

with Cse(console="true", console_session_ttl=600, psk="meter-key@test.example:%s:Cmeter*" % KEY,
         cors_origins="https://dash.example:9443") as cse:
    r = curl("GET", cse.base + "/console/")
    t.ok(r.status == 403 and "<html" not in r.text, "console on: no page over plain HTTP (403)", r)
    r = console(cse, "GET", "/")
    t.ok(r.status == 200 and "<html" in r.text and r.headers.get("content-type", "").startswith("text/html"),
         "the page is served over HTTPS", r.status)
    t.ok("frame-ancestors 'none'" in r.headers.get("content-security-policy", "") and
         "script-src 'self'" in r.headers.get("content-security-policy", ""),
         "with a CSP that allows only its own scripts and no framing")
    for asset, ctype in (("console.js", "text/javascript"), ("console.css", "text/css")):
        r = console(cse, "GET", "/" + asset)
        t.ok(r.status == 200 and r.headers.get("content-type", "").startswith(ctype) and len(r.text) > 100,
             "%s is embedded in the binary and served" % asset, r.status)
    t.eq(console(cse, "GET", "/nothing.js").status, 404, "an unknown asset is 404")

    code, p = mint(cse)
    t.ok(p.returncode == 0 and len(code) == 20, "m2m-cse console-login prints a code", p.stderr)
    t.ok(code not in cse.read_log(), "the code is not in the CSE's log")
    r = login(cse, code[:5] + "-" + code[5:].lower())
    t.ok(r.status == 200 and r.json and r.json.get("originator") == "CAdmin" and len(r.json.get("token", "")) == 64,
         "the code is exchanged for a session of the admin (dashes and case forgiven)", r)
    token = r.json["token"] if r.json else ""
    r = login(cse, code)
    t.eq(r.status, 403, "a login code works once")
    t.ok(token not in cse.read_log(), "the session token is not in the CSE's log")

    sess = {"X-Ironbark-Session": token}
    r = cse.get("/cse-in", origin=None, headers=sess, base=cse.https_base, curl_extra=cse.https_curl_options())
    t.rsc(r, 2000, 200, "the oneM2M API serves the session as its originator (no X-M2M-Origin)")
    r = cse.get("/cse-in", origin="Cmeter", headers=sess, base=cse.https_base, curl_extra=cse.https_curl_options())
    t.rsc(r, 4106, 403, "a session cannot speak as another originator")
    r = cse.get("/cse-in", origin=None, headers=sess)
    t.rsc(r, 4107, 403, "a session over plain HTTP is refused (4107)")
    r = console(cse, "GET", "/api/session", sess)
    t.ok(r.status == 200 and r.json["admin"] is True and r.json["rn"] == "cse-in", "the session describes itself", r)

    # Nothing secret in any console answer.
    answers = [console(cse, "GET", "/api/" + what, sess) for what in ("credentials", "audit", "session")]
    t.ok(answers[0].status == 200 and any(p["identity"] == "meter-key@test.example" for p in answers[0].json["psk"]),
         "the credentials view lists PSK identities and patterns", answers[0])
    t.ok(all(KEY not in a.text and KEY.upper() not in a.text and "key\"" not in a.text for a in answers),
         "no key material in any console answer")
    r = console(cse, "GET", "/api/audit?decision=permit&target=%2Fconsole", sess)
    t.ok(r.status == 200 and r.json["entries"] and all(e["decision"] == "permit" and "/console" in e["target"]
                                                       for e in r.json["entries"]),
         "the audit view filters by decision and target", r)

    # An operator other than the admin: its own originator, no audit or credentials.
    ocode, _ = mint(cse, "--as", "Coperator")
    op = login(cse, ocode).json or {}
    r = console(cse, "GET", "/api/audit", {"X-Ironbark-Session": op.get("token", "")})
    t.ok(op.get("originator") == "Coperator" and r.status == 403, "an operator session sees no audit log", r)

    # Expiry: a code minted for one second.
    short, _ = mint(cse, "--ttl", "1")
    time.sleep(1.5)
    t.eq(login(cse, short).status, 403, "an expired login code is refused")
    t.eq(login(cse, "not a code").status, 403, "a malformed code is refused")
    t.eq(login(cse, "").status, 403, "an empty body is refused")

    # CORS and foreign pages.
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "x-m2m-origin,content-type"}
    r = curl("OPTIONS", cse.base + "/cse-in", pre)
    t.ok(r.status == 403 and "access-control-allow-origin" not in r.headers,
         "a preflight from a foreign origin is refused, with no allowance", r)
    r = cse.get("/cse-in", headers={"Origin": "https://evil.example"})
    t.ok(r.status == 403 and r.rsc is None, "a request from a foreign page is refused, even as the admin on loopback", r)
    own = "https://localhost:%d" % cse.https_port
    r = curl("OPTIONS", cse.https_base + "/cse-in", dict(pre, Origin=own), extra=cse.https_curl_options())
    t.ok(r.status == 204 and r.headers.get("access-control-allow-origin") == own,
         "the console's own origin passes a preflight", r)
    r = curl("OPTIONS", cse.base + "/cse-in", dict(pre, Origin=own))
    t.eq(r.status, 403, "the console's origin is not allowed to the plain HTTP port")
    dash = "https://dash.example:9443"
    r = curl("OPTIONS", cse.base + "/cse-in", dict(pre, Origin=dash))
    t.ok(r.status == 204 and r.headers.get("access-control-allow-origin") == dash and
         "X-M2M-Origin" in r.headers.get("access-control-allow-headers", ""), "a cors-origins origin passes", r)
    r = cse.get("/cse-in", headers={"Origin": dash})
    t.ok(r.rsc == 2000 and r.headers.get("access-control-allow-origin") == dash and
         "X-M2M-RSC" in r.headers.get("access-control-expose-headers", ""),
         "and may read the answer (Access-Control-Allow-Origin, exposed X-M2M headers)", r)
    r = cse.create("/cse-in", 3, {"m2m:cnt": {"rn": "fromdash"}}, headers={"Origin": dash})
    t.ok(r.rsc == 2001 and r.headers.get("access-control-allow-origin") == dash,
         "a write from it too (answered after the group commit)", r)
    r = curl("OPTIONS", cse.base + "/cse-in")
    t.rsc(r, 4005, 405, "OPTIONS without Origin is no preflight: still not part of the binding")
# Sessions end: a CSE whose sessions last one second (its own, so that a busy
# machine cannot end the sessions the checks above use).
with Cse(console="true", console_session_ttl=1, coap_port=0, coaps_port=0) as cse:
    code, _ = mint(cse)
    r = login(cse, code)
    token = r.json["token"] if r.json else ""
    t.ok(r.status == 200 and token, "a session of one second", r)
    time.sleep(1.5)
    sess = {"X-Ironbark-Session": token}
    r = cse.get("/cse-in", origin=None, headers=sess, base=cse.https_base, curl_extra=cse.https_curl_options())
    t.rsc(r, 4106, 403, "a session is refused after it ended")
    t.eq(console(cse, "GET", "/api/session", sess).status, 401, "and by the console's own endpoints")
t.done()
