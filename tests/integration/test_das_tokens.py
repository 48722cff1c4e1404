"""Indirect dynamic authorization at the hosting CSE (the "das" decider,
issue #9): tokens in the Authorization header verified against
token-trust-file (signed by tests/token_tool, the token module's tool),
their tkps evaluated (pv with ris, rids), local token IDs in X-M2M-ATI and
accepted back in ltids, every bad kind of token refused with 4103 and
audited by decider "das" without the token, nothing changed; a refused
request with tqi gets tqf naming the DAS. Real m2m-cse, curl."""
import base64, json, os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from fake_das import FakeDas
import das_keys

t = Tap()
SP, ISS = das_keys.SP, das_keys.ISS
A, B, C = "Cowner", "Cdevice", "Cother"
B_ABS = SP + "/id-in/" + B
C_RIS = [SP + "/id-in/cse-in/owner/c"]
keys = das_keys.Keys()
trust, other_key = keys.trust, keys.stranger


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**kw):
    return keys.claims(B_ABS, C_RIS, 3, **kw)


def sign(c, with_key=None):
    return keys.sign(c, with_key)


def bearer(*jwts):
    return {"Authorization": "Bearer " + "+".join(jwts)}


das = FakeDas().start()
with Cse(token_trust_file=trust) as cse:
    t.rsc(cse.register_ae("owner", origin=A), 2001, 201, "owner AE registered")
    t.rsc(cse.register_ae("device", origin=B), 2001, 201, "device AE registered")
    pvs = [{"acor": [A], "acop": 63}]
    cse.create("/cse-in/owner", 1, {"m2m:acp": {"rn": "own", "pv": {"acr": [{"acor": [A], "acop": 63},
               {"acor": ["reader@das.test"], "acop": 2}]}, "pvs": {"acr": pvs}}}, origin=A)
    for rn in ("c", "c2", "c3"):
        cse.create("/cse-in/owner", 3, {"m2m:cnt": {"rn": rn, "acpi": ["cse-in/owner/own"]}}, origin=A)
    t.rsc(cse.get("/cse-in/owner/c", origin=B), 4103, 403, "without a token the device is refused (ACPs only)")

    # --- a good token ----------------------------------------------------------------
    good_claims = claims()
    good = sign(good_claims)
    r = cse.get("/cse-in/owner/c", origin=B, headers=bearer(good))
    t.rsc(r, 2000, 200, "a good token grants what its pv allows (RETRIEVE)")
    ati = r.headers.get("x-m2m-ati", "")
    lti, _, tkid = ati.partition(":")
    t.ok(tkid == good_claims["jti"] and lti[:1].isalpha() and "+" not in ati,
         "X-M2M-ATI assigns a local token ID (an NCName) to the token's ID", ati)
    r = cse.create("/cse-in/owner/c", 4, {"m2m:cin": {"con": "by token"}}, origin=B, headers=bearer(good))
    t.rsc(r, 2001, 201, "... and CREATE (acop 3)")
    t.rsc(cse.delete("/cse-in/owner/c", origin=B, headers=bearer(good)), 4103, 403,
          "... but not DELETE, which its pv does not grant")
    t.rsc(cse.get("/cse-in/owner/c2", origin=B, headers=bearer(good)), 4103, 403,
          "ris restricts it to the resources it names")
    t.rsc(cse.get("/cse-in/owner/c", origin=C, headers=bearer(good)), 4103, 403,
          "another originator presenting the token is refused (holder)")

    # --- local token IDs -----------------------------------------------------------------
    t.rsc(cse.get("/cse-in/owner/c?ltids=" + lti, origin=B), 2000, 200, "the local token ID stands for the token")
    t.rsc(cse.get("/cse-in/owner/c?ltids=" + lti, origin=C), 4103, 403, "... for its holder only")
    t.rsc(cse.get("/cse-in/owner/c?ltids=lnothere", origin=B), 4103, 403, "an unknown local token ID is refused")

    # --- rids from a token -----------------------------------------------------------------
    role_token = sign(claims(tkps={"pm": [{"ris": [SP + "/id-in/cse-in/owner/c3"], "rids": ["reader@das.test"]}]}))
    t.rsc(cse.get("/cse-in/owner/c3?rids=reader@das.test", origin=B), 4103, 403,
          "rids alone is a claim: refused")
    t.rsc(cse.get("/cse-in/owner/c3", origin=B, headers=bearer(role_token)), 2000, 200,
          "a role the token's tkps.rids carries matches the acor role entry")
    t.rsc(cse.get("/cse-in/owner/c2", origin=B, headers=bearer(role_token)), 4103, 403,
          "... only on the resources its ris names")

    # --- bad tokens: 4103, audited, nothing changes -----------------------------------------
    now = int(time.time())
    header_none = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    bad = {
        "forged signature": sign(claims(), other_key),
        "untrusted issuer": sign(claims(iss=SP + "/id-evil"), other_key),
        "expired": sign(claims(nbf=now - 7200, exp=now - 3600)),
        "not yet valid": sign(claims(nbf=now + 3600, exp=now + 7200)),
        "wrong audience": sign(claims(aud=[SP + "/id-other"])),
        "another holder": sign(claims(azp=SP + "/id-in/" + C)),
        "alg none": header_none + "." + b64(json.dumps(claims()).encode()) + ".",
        "truncated": good[:-12],
        "huge": sign(claims(tkex="x" * 9000)),
    }
    cni = lambda: cse.get("/cse-in/owner/c", origin=A).json["m2m:cnt"]["cni"]
    before = cni()
    for kind, jwt in bad.items():
        r = cse.create("/cse-in/owner/c", 4, {"m2m:cin": {"con": kind}}, origin=B, headers=bearer(jwt))
        t.rsc(r, 4103, 403, "%s: 4103" % kind)
    t.eq(cni(), before, "nothing was created by any bad token")
    t.rsc(cse.get("/cse-in/owner/c", origin=B, headers=bearer(good, bad["expired"])), 4103, 403,
          "one bad token among good ones refuses the request")

    audit_text = open(os.path.join(cse.data_dir, "audit.log")).read()
    lines = [json.loads(l) for l in audit_text.splitlines() if l.strip()]
    das_lines = [l for l in lines if l.get("decider") == "das" and l.get("originator") == B]
    reasons = " | ".join(l.get("reason", "") for l in das_lines)
    t.ok(len(das_lines) >= 8, "every refused token is in the audit log with decider das", len(das_lines))
    t.ok(not any(jwt[:40] in audit_text for jwt in bad.values()) and good[:40] not in audit_text,
         "no token text in the audit log")
    for kind, verdict in (("forged signature", "signature does not verify"), ("untrusted issuer", "issuer not trusted"),
                          ("expired", "expired"), ("not yet valid", "not yet valid"),
                          ("wrong audience", "not issued for this CSE"), ("another holder", "issued to another originator"),
                          ("alg none", "algorithm refused"), ("huge", "token too large")):
        t.ok(verdict in reasons, "%s: the audit line gives the verdict '%s'" % (kind, verdict), reasons)

    # --- tqi: 4103 with tqf naming the DAS ------------------------------------------------------
    r = cse.get("/cse-in/owner/c2?tqi=true", origin=B)
    t.rsc(r, 4103, 403, "tqi without any DAS applying: 4103")
    t.ok(not (r.json or {}).get("dasi"), "... and no tqf, there is no DAS to name", r)
    dac = {"rn": "dac", "dae": True, "dap": [das.url], "dal": "20991231T000000"}
    t.rsc(cse.create("/cse-in/owner", 34, {"m2m:dac": dac}, origin=A), 2001, 201, "<dac> under the owner AE")
    t.rsc(cse.update("/cse-in/owner/c2", {"m2m:cnt": {"daci": ["cse-in/owner/dac"]}}, origin=A), 2004, 200,
          "c2 links it in daci")
    r = cse.get("/cse-in/owner/c2?tqi=true", origin=B)
    t.rsc(r, 4103, 403, "tqi and a DAS: 4103")
    dasi = (r.json or {}).get("dasi") or [{}]
    dreq = dasi[0].get("dreq") or {}
    t.eq(dasi[0].get("uri"), das.url, "tqf names the DAS's URL")
    t.eq((dreq.get("or"), dreq.get("op"), dreq.get("trid"), dreq.get("trt")),
         (B_ABS, 2, SP + "/id-in/cse-in/owner/c2", 3), "tqf's dreq: absolute originator, op, trid, trt")
    t.ok("m2m:dbg" not in (r.json or {}), "the 4103 body is the tqf, no debug text (TS-0009 6.5)", r)
    t.rsc(cse.get("/cse-in/owner/c2", origin=B), 4103, 403, "without tqi: a plain 4103")

das.stop()
keys.close()
t.done()
