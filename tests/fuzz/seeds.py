#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/<target>/ (seed-*): real
requests, datagrams, bodies and query strings as the tests send them, in
each target's input format (see the comment at the top of each target).
Crash reproducers (crash-*) found while fuzzing live beside them and are
not touched. Run it after changing a target's input format."""
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from coap_peer import CON, NON, GET, POST, PUT, DELETE, OPT, encode  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")

AE = '{"m2m:ae":{"rn":"meter","api":"Nmeter","rr":true,"srv":["3"]}}'
CNT = '{"m2m:cnt":{"rn":"power","mni":10,"lbl":["kind/temp"]}}'
CIN = '{"m2m:cin":{"con":"42","cnf":"text/plain:0"}}'
ACP = ('{"m2m:acp":{"rn":"acp1","pv":{"acr":[{"acor":["Cmeter"],"acop":63,'
       '"acco":[{"actw":["* * * * * * *"]}]}]},"pvs":{"acr":[{"acor":["CAdmin"],"acop":63}]}}}')
GRP = '{"m2m:grp":{"rn":"g","mt":3,"mnm":10,"mid":["cse-in/fuzzae/cnt"],"csy":1}}'
SUB = ('{"m2m:sub":{"rn":"s","nu":["http://127.0.0.1:9/n"],"enc":{"net":[1,3],"atr":["mni"]},'
       '"bn":{"num":2,"dur":"PT1S"},"exc":3,"nct":1}}')
NTFY = '{"m2m:sgn":{"nev":{"rep":{"m2m:cin":{"con":"1"}},"net":3},"sur":"cse-in/x/s"}}'

QUERIES = [
    "fu=1&ty=4", "fu=1&rcn=11", "fu=1&ty=2+3", "rcn=6&ty=4", "atrl=rn+lbl", "atrl=con",
    "lbl=kind/temp", "fu=1&lim=5&lvl=2&ofst=1", "crb=20000101T000000&stb=1&fo=2",
    "cra=20250101T000000,5", "cty=application/json+text/plain", "c.rn=cin_*",
    "c.rn=temp&c.mni=10", "p.lbl=x", "lbq=floor%20IN%20(1,%203)", "lbq=NT%20site&ty=3",
    "lbq=a%20EQ%20b", "lbq=k:v", "fu=1&arp=la", "fu=1&arp=..", "drt=2&fu=1", "rcn=4",
    "rcn=8&lim=1", "ms=20250101T000000&us=20990101T000000", "exb=20990101T000000",
    "sza=1&szb=100", "rp=PT1H&rids=r1", "da=true&sqi=0", "tids=x&ltids=y", "con=42",
    "rn=*", "mni=5&fo=2", "fu=2&rcn=1", "rt=1", "op=2", "x%3Dy=%41", "=", "&&", "rcn",
]


# Seeds written by this run: a stale seed is one in a target this script
# generates for that it did not write again. Targets without a generator here
# (san, esprim, mef, maf, ppm, cbor: seeded from their own tests) keep theirs.
WRITTEN = set()


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path = os.path.join(d, "seed-" + name)
    with open(path, "wb") as f:
        f.write(data)
    WRITTEN.add(path)


def http_request(method, target, headers, body=""):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1:8080"]
    lines += ["%s: %s" % h for h in headers]
    if body:
        lines.append("Content-Length: %d" % len(body.encode()))
    return "\r\n".join(lines) + "\r\n\r\n" + body


def m2m(origin="Cmeter", rqi="1", ty=None):
    h = [("X-M2M-Origin", origin), ("X-M2M-RI", rqi), ("X-M2M-RVI", "3"), ("Accept", "application/json")]
    if ty is not None:
        h.append(("Content-Type", "application/json;ty=%d" % ty))
    return h


def http_seeds():
    reqs = {
        "create-ae": http_request("POST", "/cse-in", m2m("Cmeter", "1", 2), AE),
        "create-cnt": http_request("POST", "/cse-in/meter", m2m("Cmeter", "2", 3), CNT),
        "create-cin": http_request("POST", "/cse-in/meter/power", m2m("Cmeter", "3", 4), CIN),
        "retrieve-la": http_request("GET", "/cse-in/meter/power/la", m2m()),
        "discovery": http_request("GET", "/cse-in?fu=1&ty=4&lbl=a+b&crb=20250101T000000&lim=5",
                                  m2m("CAdmin")),
        "update": http_request("PUT", "/~/id-in/cse-in/meter/power",
                               m2m() + [("Content-Type", "application/json")], '{"m2m:cnt":{"mni":3}}'),
        "delete": http_request("DELETE", "/_/ironbark.local/id-in/cse-in/meter", m2m()),
        "notify": http_request("POST", "/cse-in/meter",
                               m2m() + [("Content-Type", "application/vnd.onem2m-ntfy+json")], NTFY),
        "headers": http_request("GET", "/cse-in/%6deter", m2m() + [
            ("X-M2M-RTU", "http://127.0.0.1:9/r"), ("X-M2M-OT", "20250101T000000"),
            ("X-M2M-RET", "20990101T000000"), ("X-M2M-EC", "2"), ("X-M2M-GID", "g1"),
            ("X-M2M-VSI", "v"), ("Authorization", "Bearer x"), ("Connection", "keep-alive")]),
        "close": http_request("GET", "/cse-in", m2m() + [("Connection", "close")]),
    }
    chunked = ("POST /cse-in HTTP/1.1\r\nX-M2M-Origin: Cx\r\nX-M2M-RI: 9\r\nX-M2M-RVI: 3\r\n"
               "Content-Type: application/json;ty=2\r\nTransfer-Encoding: chunked\r\n\r\n"
               "%x\r\n%s\r\n0\r\n\r\n" % (len(AE), AE))
    reqs["chunked"] = chunked
    reqs["pipelined"] = reqs["retrieve-la"] + reqs["discovery"] + reqs["create-cin"]
    reqs["expect"] = http_request("POST", "/cse-in", m2m("Cx", "1", 2) + [("Expect", "100-continue")], AE)
    for name, r in reqs.items():
        put("http", name, b"\x00" + r.encode())
    # Split into small reads, and the 1 KiB body limit.
    put("http", "create-ae-split", b"\x03" + reqs["create-ae"].encode())
    put("http", "pipelined-split", b"\x01" + reqs["pipelined"].encode())
    put("http", "large-body", b"\x80" + http_request("POST", "/cse-in/meter/power", m2m("Cmeter", "3", 4),
                                                     '{"m2m:cin":{"con":"%s"}}' % ("x" * 1100)).encode())


def coap_seeds():
    def req(mcode, path, opts=(), payload=b"", mtype=CON, mid=1, token=b"\x01\x02"):
        o = [(11, seg) for seg in path] + [(OPT["fr"], "Cmeter"), (OPT["rqi"], "1"), (OPT["rvi"], "3")]
        return encode(mtype, mcode, mid, token, o + list(opts), payload)

    d = {
        "get": req(GET, ["cse-in", "meter", "power", "la"]),
        "create-ae": req(POST, ["cse-in"], [(12, b"\x32"), (OPT["ty"], b"\x02")], AE.encode()),
        "create-cin-text-ty": req(POST, ["cse-in", "meter", "power"], [(12, b"\x27\x1f"), (OPT["ty"], "4")],
                                  CIN.encode()),
        "discovery": req(GET, ["cse-in"], [(15, "fu=1"), (15, "ty=4"), (15, "lim=5"), (17, b"\x32")]),
        "empty-query": req(GET, ["cse-in"], [(15, b""), (15, "rcn=1")]),
        "sp-relative": req(GET, ["~", "id-in", "cse-in"]),
        "absolute": req(GET, ["_", "ironbark.local", "id-in", "cse-in"]),
        "update": req(PUT, ["cse-in", "meter"], [(12, b"\x32")], b'{"m2m:ae":{"lbl":["a"]}}'),
        "delete": req(DELETE, ["cse-in", "meter"], mtype=NON),
        "nonblocking": req(POST, ["cse-in"], [(15, "op=2"), (15, "rt=1"), (OPT["rturi"], "http://x/")]),
        "block2": req(GET, ["cse-in"], [(15, "fu=1"), (23, b"\x16")]),
        "block1": req(POST, ["cse-in"], [(27, b"\x0e"), (60, b"\x08\x00"), (OPT["ty"], b"\x02")],
                      b"x" * 1024),
        "options": req(GET, ["cse-in"], [(OPT["ot"], "20250101T000000"), (OPT["rqet"], "20990101T000000"),
                                         (OPT["ec"], b"\x02"), (OPT["gid"], "g"), (OPT["vsi"], "v"),
                                         (OPT["gtm"], "m"), (OPT["aus"], "a"), (OPT["rset"], "x"),
                                         (OPT["oet"], "y"), (4, b""), (60, b"\x00\x00\x00\x00\x00")]),
        "empty": bytes([0x40, 0, 0, 1]),
        "reserved-nibble": bytes([0x40, 1, 0, 1, 0xf0]),
    }
    for name, dgram in d.items():
        put("coap", name, dgram)


def block_step(op, block, payload=b"", tick=0, blen=None):
    """One step of fuzz_coap_block's input (see its header comment)."""
    v = block.to_bytes(3, "big")
    n = blen if blen is not None else (3 if block > 0xFFFF else 2 if block > 0xFF else 1 if block else 0)
    v = bytes([v[0] | n << 6]) + v[1:]
    return bytes([op]) + v + len(payload).to_bytes(2, "big") + bytes([tick]) + payload


def block_seeds():
    limits = (1024).to_bytes(2, "big") + bytes([8, 3, 10]) + (0).to_bytes(2, "big")
    b = lambda num, more, szx: num << 4 | more << 3 | szx  # noqa: E731
    upload = (block_step(0x00, b(0, 1, 2), b"a" * 64, 2) + block_step(0x00, b(1, 1, 2), b"b" * 64, 2)
              + block_step(0x00, b(1, 1, 2), b"b" * 64, 2) + block_step(0x00, b(2, 0, 2), b"c" * 10, 2))
    put("coap_block", "upload", limits + upload)
    interleaved = b"".join(block_step(peer | (peer << 2), b(num, 1, 0), bytes([peer]) * 16, 1)
                           for num in range(3) for peer in range(4))
    put("coap_block", "interleaved", limits + interleaved + block_step(0x81, b(3, 0, 0), b"z", 3))
    held = (block_step(0x40, b(0, 0, 6), b"r" * 900, 1) + block_step(0x60, b(1, 0, 6), b"", 1)
            + block_step(0x60, b(2, 0, 6), b"", 250) + block_step(0x70, b(1, 0, 6), b"", 1))
    put("coap_block", "held", limits + held)
    put("coap_block", "bad", limits + block_step(0x00, 0x07, b"", 0) + block_step(0x00, b(5, 1, 0), b"q" * 16, 0)
        + block_step(0x80, b(0, 1, 6), b"s" * 1024, 0))


def body_seeds():
    # (type, target, originator, body): fuzz_paths and originators (CAdmin, Cfuzz, C, Cnew)
    # in fuzz_body.c; an ACP under the CSEBase needs CAdmin, a new AE registers as Cnew.
    creates = [(1, 0, 0, ACP), (2, 0, 3, AE), (3, 1, 1, CNT), (4, 2, 1, CIN), (9, 1, 1, GRP),
               (23, 2, 1, SUB),
               (4, 2, 1, '{"m2m:cin":{"con":{"a":[1,2.5,null]},"lbl":["x"],"et":"20991231T235959"}}'),
               (3, 1, 1, '{"m2m:cnt":{"rn":"c2","mbs":10,"mia":60,"disr":true,"acpi":["cse-in/acp"]}}'),
               (9, 1, 1, '{"m2m:grp":{"mnm":1,"mid":["cse-in/fuzzae/cnt","cse-in/fuzzae/cnt"],"mt":3}}'),
               (23, 1, 1, '{"m2m:sub":{"nu":["Cfuzz"],"su":"http://127.0.0.1:9/su","nse":true,"ln":true}}'),
               (2, 0, 2, '{"m2m:ae":{"api":"Rx","rr":false,"srv":["2a","3"],"poa":["coap://127.0.0.1:9"],'
                         '"csz":["json"]}}'),
               (1, 1, 1, '{"m2m:acp":{"pv":{"acr":[{"acor":["all"],"acop":2,"acco":[{"actw":["0 0 8-17 * * 1-5 *"],'
                         '"acip":{"ipv4":["192.168.0.0/16"],"ipv6":["fe80::/10"]},"aclr":{"accc":["DE"]}}],'
                         '"acod":[{"ty":4,"chty":[3]}]}]},"pvs":{"acr":[{"acor":["Cfuzz"],"acop":63,"acaf":true}]}}}'),
               (3, 1, 0, '{"m2m:cnt":{"cr":null,"or":"x","li":"y"}}')]
    types = [1, 2, 3, 4, 9, 23, 5, 17, 0]
    for i, (ty, path, who, body) in enumerate(creates):
        put("body", "create%02d-ty%d" % (i, ty), bytes([types.index(ty), who << 4 | path]) + body.encode())
    updates = [(2, '{"m2m:cnt":{"mni":1,"mbs":null,"lbl":["y"]}}'),
               (1, '{"m2m:ae":{"lbl":["n"],"poa":[],"rr":false}}'),
               (7, '{"m2m:acp":{"pv":{"acr":[]}}}'),
               (6, '{"m2m:grp":{"mid":["cse-in/fuzzae"],"mnm":2}}'),
               (5, '{"m2m:sub":{"enc":{"net":[2]},"exc":1}}'),
               (2, '{"m2m:cnt":{"et":"20991231T235959"}}'),
               (0, '{"m2m:cb":{"lbl":["x"]}}')]
    for i, (path, body) in enumerate(updates):
        who = 0 if path in (0, 7) else 1   # the CSEBase and its ACP are CAdmin's
        put("body", "update%02d" % i, bytes([0x80, who << 4 | path]) + body.encode())


def query_seeds():
    for i, q in enumerate(QUERIES):
        put("query", "q%02d" % i, bytes([i % 3]) + q.encode())


# Tokens made once with tests/token_tool from fuzz_token.c's test keys (EC
# P-256 and HMAC): valid for //ironbark.local/id-in/CAE1 at 1800000000, and
# one that expired at 1700000100.
TOKEN_CLAIMS = ("eyJ0a3ZyIjoiMSIsImp0aSI6InQtMUBkYXMuaXJvbmJhcmsubG9jYWwiLCJpc3MiOiIvL2lyb25iYXJrLmxvY2FsL2lkLWRhcyIs"
                "ImF6cCI6Ii8vaXJvbmJhcmsubG9jYWwvaWQtaW4vQ0FFMSIsIm5iZiI6MTc5OTk5MDAwMCwiZXhwIjoxODAwMDEwMDAwLCJhdWQi"
                "OlsiLy9pcm9uYmFyay5sb2NhbC9pZC1pbiJdLCJ0a25tIjoibiIsInRrcHMiOnsicG0iOlt7InJpcyI6WyIvL2lyb25iYXJrLmxv"
                "Y2FsL2lkLWluL2NudDEiXSwicHYiOnsiYWNyIjpbeyJhY29yIjpbIi8vaXJvbmJhcmsubG9jYWwvaWQtaW4vQ0FFMSJdLCJhY29w"
                "IjoyfV19fV19LCJ0a2V4IjoieCJ9")
TOKENS = {
    "es256": "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9." + TOKEN_CLAIMS + "."
             "3LaaL3ukKsBVU8Qx-nW6rfdHHpB7AP55BO9Jq0_ub-AOxIxQyru8U0M94UTgQJyFFK9jVFhxL7_ccY__vrqGsQ",
    "hs256": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + TOKEN_CLAIMS + ".gblJfkLY3NZYOHIoV6D5Dg6NMa6qhxgDERlLbHp2U14",
    "expired": "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0a3ZyIjoiMSIsImp0aSI6InQtMkBkYXMuaXJvbmJhcmsubG9jYWwiLCJp"
               "c3MiOiIvL2lyb25iYXJrLmxvY2FsL2lkLWRhcyIsImF6cCI6Ii8vaXJvbmJhcmsubG9jYWwvaWQtaW4vQ0FFMSIsIm5iZiI6MTcw"
               "MDAwMDAwMCwiZXhwIjoxNzAwMDAwMTAwfQ.rucQBmKljD3BuIXyofO4ctD6tBvscXIAk3Zc3WYwKM2z2qOvw984eMXVr4i_HdLet"
               "xSo7UeFKnYv5YSpwC1w_Q",
    "none": "eyJhbGciOiJub25lIn0." + TOKEN_CLAIMS + ".",
    "jwe": "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMTI4R0NNIn0.a2V5.aXY.Y2lwaGVy.dGFn",
}
TOKEN_PARTS = {
    "keti": '{"alg":"RS256","typ":"JWT"}\n{"vr":"1","jti":"token_1@x","iss":"//ironbark.local/id-das",'
            '"azp":"//ironbark.local/id-in/CAE1","nbf":1799990000,"exp":1800010000.5,'
            '"aud":"https://ironbark.local/id-in","tkps":"{\\"pm\\":[]}"}\nc2ln',
    "es256": '{"alg":"ES256","crit":["b64"]}\n{"jti":"t@d","iss":"//ironbark.local/id-das","azp":"CAE1",'
             '"nbf":1,"exp":2,"aud":["//ironbark.local/id-in",1]}\n' + "A" * 86,
}


def token_seeds():
    for name, jwt in TOKENS.items():
        put("token", name + "-now", bytes([0x02]) + jwt.encode())       # checked, 1800000000
        put("token", name + "-past", bytes([0x04]) + jwt.encode())      # unchecked, 1700000050
    for name, parts in TOKEN_PARTS.items():
        put("token", "parts-" + name, bytes([0x03]) + parts.encode())


# fuzz_jose: the RFC 7520 5.6 / 5.8 / 5.4 JWEs, an RSA-OAEP-256 JWE and RFC 7515 A.1 / A.3 JWSs (the
# target holds their keys), detached and form-check variants, one header as JSON.
RFC7520_5_6 = ("eyJhbGciOiJkaXIiLCJraWQiOiI3N2M3ZTJiOC02ZTEzLTQ1Y2YtODY3Mi02MTdiNWI0NTI0M2EiLCJlbmMiOiJBMTI4R0NNIn0"
               "..refa467QzzKx6QAB.JW_i_f52hww_ELQPGaYyeAB6HYGcR559l9TYnSovc23XJoBcW29rHP8yZOZG7YhLpT1bjFuvZPjQS-m0IFtVcXk"
               "ZXdH_lr_FrdYt9HRUYkshtrMmIUAyGmUnd9zMDB2n0cRDIHAzFVeJUDxkUwVAE7_YGRPdcqMyiBoCO-FBdE-Nceb4h3-FtBP-c_BIwCPTjb"
               "9o0SbdcdREEMJMyZBH8ySWMVi1gPD9yxi-aQpGbSv_F9N4IZAxscj5g-NJsUPbjk29-s7LJAGb15wEBtXphVCgyy53CoIKLHHeJHXex45Uz9"
               "aKZSRSInZI-wjsY0yu3cT4_aQ3i1o-tiE-F8Ios61EKgyIQ4CWao8PFMj8TTnp.vbb32Xvllea2OtmHAdccRQ")
RFC7520_5_8 = ("eyJhbGciOiJBMTI4S1ciLCJraWQiOiI4MWIyMDk2NS04MzMyLTQzZDktYTQ2OC04MjE2MGFkOTFhYzgiLCJlbmMiOiJBMTI4R0NNIn0"
               ".CBI6oDw8MydIx1IBntf_lQcw2MmJKIQx.Qx0pmsDa8KnJc9Jo.AwliP-KmWgsZ37BvzCefNen6VTbRK3QMA4TkvRkH0tP1bTdhtFJgJxeVm"
               "JkLD61A1hnWGetdg11c9ADsnWgL56NyxwSYjU1ZEHcGkd3EkU0vjHi9gTlb90qSYFfeF0LwkcTtjbYKCsiNJQkcIp1yeM03OmuiYSoYJVSpf7"
               "ej6zaYcMv3WwdxDFl8REwOhNImk2Xld2JXq6BR53TSFkyT7PwVLuq-1GwtGHlQeg7gDT6xW0JqHDPn_H-puQsmthc9Zg0ojmJfqqFvETUxLAF"
               "-KjcBTS5dNy6egwkYtOt8EIHK-oEsKYtZRaa8Z7MOZ7UGxGIMvEmxrGCPeJa14slv2-gaqK0kEThkaSqdYw0FkQZF.ER7MWJZ1FBI_NKvn7Zb1Lw")
RFC7520_5_4 = ("eyJhbGciOiJFQ0RILUVTK0ExMjhLVyIsImtpZCI6InBlcmVncmluLnRvb2tAdHVja2Jvcm91Z2guZXhhbXBsZSIsImVwayI6eyJrdHkiOiJF"
               "QyIsImNydiI6IlAtMzg0IiwieCI6InVCbzRrSFB3Nmtiang1bDB4b3dyZF9vWXpCbWF6LUdLRlp1NHhBRkZrYllpV2d1dEVLNml1RURzUTZ3"
               "TmROZzMiLCJ5Ijoic3AzcDVTR2haVkMyZmFYdW1JLWU5SlUyTW84S3BvWXJGRHI1eVBOVnRXNFBnRXdaT3lRVEEtSmRhWTh0YjdFMCJ9LCJl"
               "bmMiOiJBMTI4R0NNIn0.0DJjBXri_kBcC46IkU5_Jk9BqaQeHdv2.mH-G2zVqgztUtnW_.tkZuOO9h95OgHJmkkrfLBisku8rGf6nzVxhRM3sV"
               "OhXgz5NJ76oID7lpnAi_cPWJRCjSpAaUZ5dOR3Spy7QuEkmKx8-3RCMhSYMzsXaEwDdXta9Mn5B7cCBoJKB0IgEnj_qfo1hIi-uEkUpOZ8aLT"
               "ZGHfpl05jMwbKkTe2yK3mjF6SBAsgicQDVCkcY9BLluzx1RmC3ORXaM0JaHPB93YcdSDGgpgBWMVrNU1ErkjcMqMoT_wtCex3w03XdLkjXIuEr"
               "2hWgeP-nkUZTPU9EoGSPj6fAS-bSz87RCPrxZdj_iVyC6QWcqAu07WNhjzJEPc4jVntRJ6K53NgPQ5p99l3Z408OUqj4ioYezbS6vTPlQ"
               ".WuGzxmcreYjpHGJoa17EBg")
# RSA-OAEP-256 + A128GCM (no RFC 7520 vector exists): sealed by tests/jose_tool to fuzz_jose.c's RSA key.
RSA_OAEP_256 = ("eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMTI4R0NNIn0.jNeUoUxmM6nuXNf3CTE9q5w5oqpvp8C8UXU5s801V3w5NA05bDRUxfEarN"
                "w9-hHdgpYzQa-sKercge0DC0Of8XTABzaY2GdonizKsH_nmw8UoVLFSojJKRKr8RLV4EYBCFLApSULbIYj5sAaUNiRWx4Ks63yv0Sgmg1L-IL1"
                "xYCTHhDFoLb-PYKorPcy3DURHwQ_rygrFFiQHrLU5FixILT9mYzZyuAEPk_3PytEDx8dcvhlpBJoNFVkKyf0UYfLBHo0DXTU99ta1wL53omvyl"
                "80-XkiHJ3XdCPiVcst9bORAk6axP3vACrKZHpBee2ksMAZ1iB2anVKEqisSe5Htw._qBKHIGBuoWDS1Po.TBOcDtJA2-uB7nWxQ5Xm043XK-qi"
                "o5mv2W4.XHjHqHLg92d0ncU_UZjP-A")
RFC7515_PAYLOAD = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
RFC7515_A1 = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + RFC7515_PAYLOAD + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
RFC7515_A3 = ("eyJhbGciOiJFUzI1NiJ9." + RFC7515_PAYLOAD + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApm"
              "WQxfKTUJqPP3-Kg6NU1Q")


def jose_seeds():
    put("jose", "rfc7520-5-6", b"\x00" + RFC7520_5_6.encode())
    put("jose", "rfc7520-5-8", b"\x00" + RFC7520_5_8.encode())
    put("jose", "rfc7520-5-4", b"\x00" + RFC7520_5_4.encode())
    put("jose", "rsa-oaep-256", b"\x00" + RSA_OAEP_256.encode())
    put("jose", "rfc7520-5-6-json", b"\x04" + b'{"alg":"dir","enc":"A128GCM"}\n' + RFC7520_5_6.split(".", 1)[1].encode())
    put("jose", "rfc7515-a1", b"\x01" + RFC7515_A1.encode())
    put("jose", "rfc7515-a3", b"\x01" + RFC7515_A3.encode())
    payload = '{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'
    for name, jws in (("a1", RFC7515_A1), ("a3", RFC7515_A3)):
        h, _, sig = jws.split(".")
        put("jose", "detached-" + name, b"\x02" + ("%s..%s\n%s" % (h, sig, payload)).encode())
        put("jose", "form-" + name, b"\x03" + jws.encode())
    put("jose", "form-jwe", b"\x03" + RFC7520_5_8.encode())
    put("jose", "form-json", b"\x03" + b'{"protected":"e30","ciphertext":"AA","iv":"AA","tag":"AA"}')


def console_seeds():
    # flags: bits 0-1 method (GET POST OPTIONS PUT), 4 TLS, 8 live session,
    # 16 preflight header, 32 X-M2M-Origin CAdmin (else Cother), 64 no X-M2M-Origin.
    def c(flags, target, origin="", token="", body=""):
        return bytes([flags]) + "\n".join((target, origin, token, body)).encode()
    put("console", "login", c(1 | 4, "/console/api/login", body='{"code": "ABCD-EFGH-JKLM"}'))
    put("console", "session", c(4 | 8, "/console/api/session"))
    put("console", "audit", c(4 | 8, "/console/api/audit?originator=C%41dmin&decision=deny&limit=5"))
    put("console", "credentials", c(4 | 8, "/console/api/credentials"))
    put("console", "logout", c(1 | 4, "/console/api/logout", token="not-a-token"))
    put("console", "page", c(4, "/console/app.js"))
    put("console", "plain-http", c(0, "/console/"))
    put("console", "preflight", c(2 | 16, "/cse-in", origin="https://ops.example"))
    put("console", "foreign-origin", c(1, "/cse-in", origin="https://evil.example"))
    put("console", "bind-session", c(4 | 8 | 64, "/cse-in"))
    put("console", "bind-other", c(4 | 8, "/cse-in"))


if __name__ == "__main__":
    http_seeds()
    coap_seeds()
    block_seeds()
    body_seeds()
    query_seeds()
    token_seeds()
    jose_seeds()
    console_seeds()
    generated = {os.path.dirname(p) for p in WRITTEN}
    for old in glob.glob(os.path.join(CORPUS, "*", "seed-*")):
        if os.path.dirname(old) in generated and old not in WRITTEN:
            os.remove(old)
