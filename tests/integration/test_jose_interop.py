"""The JOSE module (security/jose.c, through tests/jose_tool) against an
independent implementation, python3-jwcrypto: for every algorithm Ironbark
claims, objects it makes are opened by jwcrypto and objects jwcrypto makes
are opened by Ironbark (JWE dir/A128KW/A192KW/A256KW and ECDH-ES+A128KW/
A192KW/A256KW to an EC P-256 key and RSA-OAEP-256 to a 2048-bit RSA key
(one with, one without the CRT members), x A128GCM/A192GCM/A256GCM; JWS HS256 and ES256, attached and detached per RFC 7515 Appendix F);
a tampered jwcrypto object is refused."""
import base64, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Tap, BUILD
from jwcrypto import jwe, jwk, jws

TOOL = os.environ.get("JOSE_TOOL", os.path.join(BUILD, "tests", "jose_tool"))
t = Tap()
tmp = tempfile.mkdtemp(prefix="jose-interop-")
PLAIN = '{"t":21.5,"note":"caf\u00e9 \u2013 end"}'.encode()


def key_file(k, name, private=True):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(k.export(private_key=private))
    os.chmod(path, 0o600)
    return path


def tool(*args, data=b""):
    p = subprocess.run([TOOL] + list(args), input=data, capture_output=True, timeout=20)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwcrypto_open(compact, k, alg, enc):
    """jwcrypto's payload and protected header of compact, or (the exception's repr, {})."""
    try:
        o = jwe.JWE()
        o.allowed_algs = [alg, enc]
        o.deserialize(compact, key=k)
        return o.payload, json.loads(o.objects["protected"])
    except Exception as e:  # noqa: BLE001 - reported as the failure detail
        return repr(e), {}


def jwcrypto_seal(k, alg, enc, kid):
    o = jwe.JWE(PLAIN, protected=json.dumps({"alg": alg, "enc": enc, "kid": kid}))
    o.allowed_algs = [alg, enc]
    o.add_recipient(k)
    return o.serialize(compact=True)


SIZES = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32, "A128KW": 16, "A192KW": 24, "A256KW": 32}
for enc in ("A128GCM", "A192GCM", "A256GCM"):
    for alg in ("dir", "A128KW", "A192KW", "A256KW"):
        size = SIZES[enc] if alg == "dir" else SIZES[alg]
        k = jwk.JWK.generate(kty="oct", size=size * 8, kid="k-%s-%s" % (alg, enc))
        kf = key_file(k, "oct-%s-%s.jwk" % (alg, enc))
        rc, out, err = tool("seal", alg, enc, kf, data=PLAIN)
        got, hdr = jwcrypto_open(out.decode(), k, alg, enc)
        t.ok(rc == 0 and got == PLAIN and hdr.get("alg") == alg and hdr.get("enc") == enc,
             "Ironbark %s+%s opened by jwcrypto" % (alg, enc), (rc, err, got))
        compact = jwcrypto_seal(k, alg, enc, k.key_id)
        rc, out, err = tool("open", kf, data=compact.encode())
        t.ok(rc == 0 and out == PLAIN, "jwcrypto %s+%s opened by Ironbark" % (alg, enc), (rc, err))
        if alg == "A128KW" and enc == "A128GCM":
            parts = compact.split(".")
            ct = bytearray(base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4)))
            ct[0] ^= 1
            parts[3] = b64url(bytes(ct))
            rc, out, err = tool("open", kf, data=".".join(parts).encode())
            t.ok(rc == 1 and "tampered" in err and not out, "a tampered jwcrypto JWE is refused", (rc, err))

# ECDH-ES+A*KW (security/jose_ecdh.c, on libcrypto): sealed to the public key, opened with the private one
rcpt = jwk.JWK.generate(kty="EC", crv="P-256", kid="recipient")
rcpt_priv, rcpt_pub = key_file(rcpt, "rcpt.jwk"), key_file(rcpt, "rcpt-pub.jwk", private=False)
for enc in ("A128GCM", "A192GCM", "A256GCM"):
    for alg in ("ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"):
        rc, out, err = tool("seal", alg, enc, rcpt_pub, data=PLAIN)
        got, _ = jwcrypto_open(out.decode(), rcpt, alg, enc)
        t.ok(rc == 0 and got == PLAIN, "Ironbark %s+%s opened by jwcrypto" % (alg, enc), (rc, err, got))
        compact = jwcrypto_seal(rcpt, alg, enc, "recipient")
        rc, out, err = tool("open", rcpt_priv, data=compact.encode())
        t.ok(rc == 0 and out == PLAIN, "jwcrypto %s+%s opened by Ironbark" % (alg, enc), (rc, err))
rc, out, err = tool("open", rcpt_pub, data=compact.encode())
t.ok(rc == 1 and "key" in err, "the public key alone cannot open an ECDH-ES JWE", (rc, err))

# RSA-OAEP-256 (on libcrypto in security/jose.c): sealed to the public key, opened with the private one
rsa = jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-recipient")
rsa_priv, rsa_pub = key_file(rsa, "rsa.jwk"), key_file(rsa, "rsa-pub.jwk", private=False)
no_crt = {m: v for m, v in json.loads(rsa.export(private_key=True)).items() if m not in ("p", "q", "dp", "dq", "qi")}
rsa_ned = os.path.join(tmp, "rsa-ned.jwk")
with open(rsa_ned, "w") as f:
    json.dump(no_crt, f)
alg = "RSA-OAEP-256"
for enc in ("A128GCM", "A192GCM", "A256GCM"):
    rc, out, err = tool("seal", alg, enc, rsa_pub, data=PLAIN)
    got, hdr = jwcrypto_open(out.decode(), rsa, alg, enc)
    t.ok(rc == 0 and got == PLAIN and hdr.get("alg") == alg and hdr.get("enc") == enc,
         "Ironbark %s+%s opened by jwcrypto" % (alg, enc), (rc, err, got))
    compact = jwcrypto_seal(rsa, alg, enc, "rsa-recipient")
    rc, out, err = tool("open", rsa_priv, data=compact.encode())
    t.ok(rc == 0 and out == PLAIN, "jwcrypto %s+%s opened by Ironbark" % (alg, enc), (rc, err))
    rc, out, err = tool("open", rsa_ned, data=compact.encode())
    t.ok(rc == 0 and out == PLAIN, "jwcrypto %s+%s opened with a private JWK of n, e, d only" % (alg, enc), (rc, err))
parts = compact.split(".")
ek = bytearray(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
ek[-1] ^= 1
parts[1] = b64url(bytes(ek))
rc, out, err = tool("open", rsa_priv, data=".".join(parts).encode())
t.ok(rc == 1 and "decryption failed" in err and not out, "a jwcrypto RSA-OAEP-256 JWE with a changed ek is refused",
     (rc, err))
rc, out, err = tool("open", rsa_pub, data=compact.encode())
t.ok(rc == 1 and "key" in err, "the public key alone cannot open an RSA-OAEP-256 JWE", (rc, err))

ec = jwk.JWK.generate(kty="EC", crv="P-256", kid="ec-1")
ec_priv, ec_pub = key_file(ec, "ec.jwk"), key_file(ec, "ec-pub.jwk", private=False)
hs = jwk.JWK.generate(kty="oct", size=256, kid="hs-1")
hs_file = key_file(hs, "hs.jwk")
payload_file = os.path.join(tmp, "payload")
with open(payload_file, "wb") as f:
    f.write(PLAIN)
for alg, sk, vk, sfile, vfile in (("HS256", hs, hs, hs_file, hs_file), ("ES256", ec, ec, ec_priv, ec_pub)):
    # Ironbark signs, jwcrypto verifies (attached, then detached re-attached as Appendix F says)
    rc, out, err = tool("sign", alg, sfile, data=PLAIN)
    try:
        s = jws.JWS()
        s.deserialize(out.decode())
        s.verify(vk, alg=alg)
        ok = s.payload == PLAIN
    except Exception as e:  # noqa: BLE001
        ok = repr(e)
    t.ok(rc == 0 and ok is True, "Ironbark %s verified by jwcrypto" % alg, (rc, err, ok))
    rc, out, err = tool("sign", alg, sfile, "detached", data=PLAIN)
    h, mid, sig = out.decode().split(".")
    try:
        s = jws.JWS()
        s.deserialize("%s.%s.%s" % (h, b64url(PLAIN), sig))
        s.verify(vk, alg=alg)
        ok = mid == ""
    except Exception as e:  # noqa: BLE001
        ok = repr(e)
    t.ok(rc == 0 and ok is True, "Ironbark detached %s verified by jwcrypto over the payload" % alg, (rc, err, ok))
    # jwcrypto signs, Ironbark verifies
    s = jws.JWS(PLAIN)
    s.add_signature(sk, alg=alg, protected=json.dumps({"alg": alg, "kid": sk.key_id}))
    compact = s.serialize(compact=True)
    rc, out, err = tool("verify", vfile, data=compact.encode())
    t.ok(rc == 0 and out == PLAIN, "jwcrypto %s verified by Ironbark" % alg, (rc, err))
    h, _, sig = compact.split(".")
    rc, out, err = tool("verify", vfile, payload_file, data=("%s..%s" % (h, sig)).encode())
    t.ok(rc == 0, "jwcrypto %s made detached, verified by Ironbark with the payload" % alg, (rc, err))
    other = os.path.join(tmp, "other")
    with open(other, "wb") as f:
        f.write(PLAIN + b" ")
    rc, out, err = tool("verify", vfile, other, data=("%s..%s" % (h, sig)).encode())
    t.ok(rc == 1 and "does not verify" in err, "detached %s over other bytes is refused" % alg, (rc, err))
t.done()
