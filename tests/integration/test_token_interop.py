"""Tokens between Ironbark's token module (security/token.c, through
tests/token_tool) and an independent JOSE implementation, PyJWT with
cryptography (Debian python3-jwt): what we sign verifies there, what it
signs (ES256, RS256, HS256) verifies here, and its alg-none token is refused.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Tap, write_private  # noqa: E402

t = Tap()
try:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm
except ImportError as e:
    t.ok(False, "PyJWT and cryptography are importable (apt-get install python3-jwt python3-cryptography)", str(e))
    t.done()

TOOL = os.environ.get("TOKEN_TOOL", os.path.join(os.path.dirname(__file__), "..", "..", "build", "tests", "token_tool"))
ISS = "//ironbark.local/id-das"
HOLDER = "//ironbark.local/id-in/CAE1"
CSI = "//ironbark.local/id-in"
VERDICT_OK, VERDICT_ALG_REFUSED, VERDICT_BAD_SIGNATURE, VERDICT_EXPIRED = 0, 3, 5, 7


def tool(*args, stdin=None):
    return subprocess.run([TOOL] + list(args), input=stdin, capture_output=True, text=True, timeout=30)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(now, **extra):
    c = {"tkvr": "1", "jti": "t-%d@das.ironbark.local" % now, "iss": ISS, "azp": HOLDER,
         "nbf": now - 10, "exp": now + 600, "aud": [CSI],
         "tkps": {"pm": [{"ris": [CSI + "/cnt1"], "pv": {"acr": [{"acor": [HOLDER], "acop": 2}]}}]}}
    c.update(extra)
    return c


work = tempfile.mkdtemp(prefix="token-interop-")
now = int(time.time())

# Keys: EC P-256 from token_tool, RSA 2048 and an HMAC secret from Python.
r = tool("new-key")
t.eq(r.returncode, 0, "token_tool new-key makes a key")
ec_priv = r.stdout.strip()
ec_file = write_private(os.path.join(work, "ec.jwk"), ec_priv)
ec_pub = json.loads(tool("public-jwk", ec_file).stdout)
t.ok("d" not in ec_pub and ec_pub.get("crv") == "P-256", "its public half has no private part", ec_pub.keys())
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_priv = RSAAlgorithm.to_jwk(rsa_key)
rsa_file = write_private(os.path.join(work, "rsa.jwk"), rsa_priv)
rsa_pub = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
secret = os.urandom(32)
oct_jwk = {"kty": "oct", "k": b64url(secret)}
oct_file = write_private(os.path.join(work, "oct.jwk"), json.dumps(oct_jwk))
trust_file = write_private(os.path.join(work, "issuers.json"), json.dumps(
    {"issuers": [{"iss": ISS, "jwk": [ec_pub, rsa_pub, oct_jwk]}]}))
pyjwt_keys = {"ES256": ECAlgorithm.from_jwk(json.dumps(ec_pub)),
              "RS256": rsa_key.public_key(), "HS256": secret}


def sign_here(key_file, c):
    path = os.path.join(work, "claims.json")
    with open(path, "w") as f:
        json.dump(c, f)
    return tool("sign", key_file, path)


# Ours -> PyJWT.
for alg, key_file in (("ES256", ec_file), ("RS256", rsa_file), ("HS256", oct_file)):
    c = claims(now)
    r = sign_here(key_file, c)
    if not t.eq(r.returncode, 0, "%s: token_tool signs" % alg):
        print("# " + r.stderr)
        continue
    token = r.stdout.strip()
    header = jwt.get_unverified_header(token)
    t.ok(header.get("alg") == alg and header.get("typ") == "JWT" and "cty" not in header,
         "%s: header alg %s, typ JWT, no cty" % (alg, alg), header)
    try:
        got = jwt.decode(token, pyjwt_keys[alg], algorithms=[alg], audience=CSI, issuer=ISS)
        t.eq(got, c, "%s: PyJWT verifies our token and reads the same claims" % alg)
    except jwt.PyJWTError as e:
        t.ok(False, "%s: PyJWT verifies our token" % alg, repr(e))
    # A changed payload under our signature: PyJWT refuses it too.
    h, p, s = token.split(".")
    forged = ".".join([h, b64url(json.dumps(claims(now, azp="//ironbark.local/id-in/CAE2")).encode()), s])
    try:
        jwt.decode(forged, pyjwt_keys[alg], algorithms=[alg], audience=CSI)
        t.ok(False, "%s: PyJWT refuses our signature over another payload" % alg)
    except jwt.InvalidSignatureError:
        t.ok(True, "%s: PyJWT refuses our signature over another payload" % alg)
    r = tool("verify", trust_file, forged, "--csi", CSI)
    t.eq(r.returncode, VERDICT_BAD_SIGNATURE, "%s: and so do we" % alg)

# PyJWT -> ours.
signing_keys = {"ES256": ECAlgorithm.from_jwk(ec_priv), "RS256": rsa_key, "HS256": secret}
for alg in ("ES256", "RS256", "HS256"):
    c = claims(now, jti="py-%s@das.ironbark.local" % alg)
    token = jwt.encode(c, signing_keys[alg], algorithm=alg, headers={"typ": "JWT"})
    r = tool("verify", trust_file, token, "--holder", HOLDER, "--csi", CSI)
    t.eq((r.returncode, r.stdout.splitlines()[:1]), (VERDICT_OK, ["valid"]), "%s: a PyJWT token verifies" % alg)
    got = json.loads(r.stdout.splitlines()[1]) if r.returncode == 0 else {}
    t.eq(got, c, "%s: with the claims PyJWT signed" % alg)
    r = tool("verify", trust_file, token, "--holder", "//ironbark.local/id-in/CAE2", "--csi", CSI)
    t.eq(r.stdout.strip(), "issued to another originator", "%s: for its holder only" % alg)

# TS-0004/IoTKETI spellings from PyJWT: vr, an https:-prefixed audience.
token = jwt.encode({"vr": "1", "jti": "token_1_2@ironbark.local", "iss": ISS, "azp": HOLDER,
                    "nbf": now - 10, "exp": now + 600, "aud": ["https:" + CSI]}, rsa_key, algorithm="RS256")
r = tool("verify", trust_file, token, "--holder", HOLDER, "--csi", CSI)
t.eq(r.returncode, VERDICT_OK, "a KETI-style token (vr, https: audience) verifies")

# Expired, by PyJWT's clock and ours.
token = jwt.encode(claims(now, nbf=now - 100, exp=now - 50), signing_keys["ES256"], algorithm="ES256")
r = tool("verify", trust_file, token, "--csi", CSI)
t.eq((r.returncode, r.stdout.strip()), (VERDICT_EXPIRED, "expired"), "an expired PyJWT token is refused as expired")

# alg none from PyJWT: refused, whatever it claims.
none = jwt.encode(claims(now), None, algorithm="none")
t.ok(none.endswith("."), "PyJWT made an unsecured token (alg none, empty signature)", none[:40])
r = tool("verify", trust_file, none, "--holder", HOLDER, "--csi", CSI)
t.eq((r.returncode, r.stdout.strip()), (VERDICT_ALG_REFUSED, "algorithm refused"), "its alg-none token is refused")
r = tool("peek", none)
t.ok(r.returncode == 0 and json.loads(r.stdout)["azp"] == HOLDER, "peek still reads its claims (unchecked)")

# HS256 keyed with the EC issuer's public JWK text (algorithm confusion): refused.
trust_ec = write_private(os.path.join(work, "issuers-ec.json"), json.dumps({"issuers": [{"iss": ISS, "jwk": ec_pub}]}))
confused = jwt.encode(claims(now), json.dumps(ec_pub).encode(), algorithm="HS256")
r = tool("verify", trust_ec, confused, "--csi", CSI)
t.eq(r.returncode, VERDICT_ALG_REFUSED, "HS256 against an EC issuer is refused")

shutil.rmtree(work, ignore_errors=True)
t.done()
