"""ESPrim against an independent implementation: an Originator written here
with python3-jwcrypto (JWE) and Python's hmac (the session key, the layout of
docs/decisions.md) talks to the real m2m-cse. Ironbark opens the objects
jwcrypto sealed (CREATE, RETRIEVE) and jwcrypto opens the responses Ironbark
sealed; a tampered jwcrypto object is refused with 4115. The fixed vector of
tests/unit/test_esprim.c is recomputed here."""
import base64, hashlib, hmac, json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, write_private
import tempfile

from jwcrypto import jwe, jwk

KEY = bytes.fromhex("5a" * 16 + "a5" * 16)
LABEL = b"oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm"
t = Tap()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def session_key(pairwise, recv_value, orig_value):
    return hmac.new(pairwise, recv_value + orig_value + LABEL, hashlib.sha256).digest()


# The fixed vector of the unit test, computed independently.
t.eq(session_key(bytes(range(32)), bytes(range(0xa0, 0xb0)), bytes(range(0xb0, 0xc0))).hex(),
     "0abc783bc4c1d37c9bdb9efedd2219eee765cb65b7800d588bb3cf9250e78b43",
     "the session-key vector of test_esprim matches Python's HMAC-SHA256")

tmp = tempfile.mkdtemp(prefix="ironbark-esprim-interop-")
conf = write_private(os.path.join(tmp, "cse.conf"),
                     "esprim = true\nesprim-key = py-k1:%s:Cpy*\n" % KEY.hex())

with Cse(config=conf, coap_port=0) as cse:
    def notify(body, origin="Cpy1"):
        return cse.request("POST", "/cse-in", origin=origin, body=body, content_type="application/json")

    r = notify({"m2m:seci": {"sit": 3}})
    ero = r.json["m2m:seci"]["ero"]
    orig = {"esri": "upython1", "esrv": b64(os.urandom(16)), "esrx": ero["esrx"], "esk": 1, "espa": [12]}
    skey = session_key(KEY, unb64(ero["esrv"]), unb64(orig["esrv"]))
    k = jwk.JWK(kty="oct", k=b64(skey))

    def seal(inner, with_oro):
        hdr = {"alg": "dir", "enc": "A256GCM", "kid": "py-k1", "ori": orig["esri"], "rri": ero["esri"],
               "cty": "application/vnd.onem2m-preq+json"}
        if with_oro:
            hdr["oro"] = orig
        o = jwe.JWE(json.dumps(inner).encode(), protected=json.dumps(hdr))
        o.add_recipient(k)
        return o.serialize(compact=True)

    def open_answer(r):
        o = jwe.JWE()
        o.deserialize(r.json["m2m:seci"]["epo"], key=k)
        return json.loads(o.payload), json.loads(o.objects["protected"])

    inner = {"op": 1, "to": "cse-in", "fr": "Cpy1", "rqi": "py-1", "rvi": "3", "ty": 2,
             "pc": {"m2m:ae": {"rn": "py1", "api": "Npy", "rr": False, "srv": ["3"]}}}
    r = notify({"m2m:seci": {"sit": 5, "epo": seal(inner, True)}})
    t.ok(r.rsc == 2000 and r.json["m2m:seci"]["sit"] == 5, "Ironbark opens a CREATE jwcrypto sealed", r)
    ans, hdr = open_answer(r)
    t.ok(ans["rsc"] == 2001 and ans["rqi"] == "py-1" and ans["pc"]["m2m:ae"]["aei"] == "Cpy1",
         "jwcrypto opens the response Ironbark sealed: 2001 with the AE", ans)
    t.ok(hdr["alg"] == "dir" and hdr["enc"] == "A256GCM" and hdr["kid"] == "py-k1" and
         hdr["ori"] == "upython1" and hdr["rri"] == ero["esri"],
         "... its header names the same key, originator and receiver objects", hdr)
    t.eq(cse.get("/cse-in/py1", origin="Cpy1").rsc, 2000, "... the AE is stored")

    # Later objects of the session name the originator object by ori alone.
    inner = {"op": 2, "to": "cse-in/py1", "fr": "Cpy1", "rqi": "py-2", "rvi": "3"}
    r = notify({"m2m:seci": {"sit": 5, "epo": seal(inner, False)}})
    ans, _ = open_answer(r) if r.rsc == 2000 else ({}, {})
    t.ok(ans.get("rsc") == 2000 and ans["pc"]["m2m:ae"]["rn"] == "py1",
         "a RETRIEVE sealed by jwcrypto without oro (session known) -> 2000, opened by jwcrypto", r)

    # A flipped ciphertext byte: the tag fails.
    epo = seal(dict(inner, rqi="py-3"), False).split(".")
    ct = bytearray(unb64(epo[3]))
    ct[0] ^= 1
    epo[3] = b64(bytes(ct))
    r = notify({"m2m:seci": {"sit": 5, "epo": ".".join(epo)}})
    t.rsc(r, 4115, 403, "a jwcrypto object with a flipped ciphertext byte -> 4115")

t.done()
