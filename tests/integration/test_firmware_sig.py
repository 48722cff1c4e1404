"""Signed firmware (docs/decisions.md "Signed firmware"): with firmware-trust,
a <firmware> mgmtObj is stored only with fwsg, a detached ES256 JWS by a
trusted key over fwn/vr/url/fwdg. Signed by `m2m firmware sign` and by
jwcrypto (independent) -> accepted; unsigned or malformed -> 4000; signed by
another key or with url changed after signing -> 4103; each decision in the
audit log; nothing stored on a refusal. A bad trust file stops the start;
without the setting unsigned firmware is accepted as before."""
import base64, hashlib, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, BUILD, write_private
from jwcrypto import jwk, jws

TOOL = os.environ.get("M2M_TOOL", os.path.join(BUILD, "m2m"))
t = Tap()
tmp = tempfile.mkdtemp(prefix="fwsig-")
op, rogue = jwk.JWK.generate(kty="EC", crv="P-256", kid="ops-2026"), jwk.JWK.generate(kty="EC", crv="P-256")
op_file = write_private(os.path.join(tmp, "ops.jwk"), op.export(private_key=True))
rogue_file = write_private(os.path.join(tmp, "rogue.jwk"), rogue.export(private_key=True))
trust = os.path.join(tmp, "firmware-trust.json")
with open(trust, "w") as f:
    json.dump({"keys": [json.loads(op.export(private_key=False))]}, f)
image = os.path.join(tmp, "fw-1.2.bin")
with open(image, "wb") as f:
    f.write(os.urandom(4096))
digest = "sha256:" + hashlib.sha256(open(image, "rb").read()).hexdigest()
FW = {"mgd": 1001, "vr": "1.2", "fwn": "gw-fw", "url": "http://updates.example/fw-1.2.bin", "ud": False}


def sign(key_file, body, *extra):
    p = subprocess.run([TOOL, "firmware", "sign", "--sign", key_file, "--body", json.dumps({"m2m:fwr": body})]
                       + list(extra), capture_output=True, text=True, timeout=20)
    return p.returncode, (json.loads(p.stdout)["m2m:fwr"] if p.returncode == 0 else None), p.stderr


def audit(cse):
    path = os.path.join(cse.data_dir, "audit.log")
    return [json.loads(l) for l in open(path) if l.strip()] if os.path.exists(path) else []


with Cse(firmware_trust=trust) as cse:
    cse.create("/cse-in", 14, {"m2m:nod": {"rn": "gw", "ni": "urn:dev:gw-1"}})
    rc, signed, err = sign(op_file, dict(FW, rn="fw1"), "--image", image)
    t.ok(rc == 0 and signed["fwdg"] == digest and signed["fwsg"].count(".") == 2 and ".." in signed["fwsg"],
         "m2m firmware sign adds fwdg (sha256 of the image) and a detached JWS", (rc, err, signed))
    r = cse.create("/cse-in/gw", 13, {"m2m:fwr": signed})
    t.rsc(r, 2001, 201, "firmware signed by the trusted key is accepted")
    t.ok(any(a["decision"] == "permit" and "firmware" in a["reason"] for a in audit(cse)), "and audited")

    # independent signer: jwcrypto over the same documented payload, then detached (RFC 7515 App. F)
    body = dict(FW, rn="fw2", vr="1.3", fwdg=digest)
    payload = "ironbark-firmware-v1\n%s\n%s\n%s\n%s" % (body["fwn"], body["vr"], body["url"], digest)
    s = jws.JWS(payload.encode())
    s.add_signature(op, alg="ES256", protected=json.dumps({"alg": "ES256", "kid": "ops-2026"}))
    h, _, sig = s.serialize(compact=True).split(".")
    r = cse.create("/cse-in/gw", 13, {"m2m:fwr": dict(body, fwsg="%s..%s" % (h, sig))})
    t.rsc(r, 2001, 201, "firmware signed by jwcrypto with the trusted key is accepted")

    def refused(body, rsc, what):
        before = len(audit(cse))
        r = cse.create("/cse-in/gw", 13, {"m2m:fwr": body})
        t.rsc(r, rsc, 400 if rsc == 4000 else 403, what)
        t.ok(cse.get("/cse-in/gw/" + body["rn"]).rsc == 4004, "  nothing stored")
        new = audit(cse)[before:]
        t.ok(any(a["decision"] == "deny" and "firmware refused" in a["reason"] for a in new), "  refusal audited", new)

    refused(dict(FW, rn="u1"), 4000, "unsigned firmware -> 4000")
    refused(dict(FW, rn="u2", fwdg=digest), 4000, "a digest without signature -> 4000")
    refused(dict(signed, rn="u3", fwsg="not-a-jws"), 4000, "a malformed fwsg -> 4000")
    refused(dict(signed, rn="u4", fwdg="md5:abc"), 4000, "a malformed fwdg -> 4000")
    attached = s.serialize(compact=True)
    refused(dict(body, rn="u5", fwsg=attached), 4000, "an attached (non-detached) JWS -> 4000")
    rc, forged, err = sign(rogue_file, dict(FW, rn="f1"), "--image", image)
    refused(forged, 4103, "signed by an untrusted key -> 4103")
    refused(dict(signed, rn="f2", url="http://evil.example/fw.bin"), 4103, "url changed after signing -> 4103")
    refused(dict(signed, rn="f3", vr="9.9"), 4103, "vr changed after signing -> 4103")
    refused(dict(signed, rn="f4", fwdg="sha256:" + "0" * 64), 4103, "another digest -> 4103")

    # updates are checked against the record as it would be stored
    r = cse.update("/cse-in/gw/fw1", {"m2m:fwr": {"url": "http://evil.example/fw.bin"}})
    t.rsc(r, 4103, 403, "an UPDATE of url alone breaks the signature -> 4103")
    t.eq(cse.get("/cse-in/gw/fw1").json["m2m:fwr"]["url"], FW["url"], "  url unchanged")
    r = cse.update("/cse-in/gw/fw1", {"m2m:fwr": {"ud": True}})
    t.rsc(r, 2004, 200, "an UPDATE that triggers the signed update (ud) is accepted")
    rc, resigned, err = sign(op_file, dict(FW, vr="1.4", fwdg=digest))
    r = cse.update("/cse-in/gw/fw1", {"m2m:fwr": {"vr": "1.4", "fwsg": resigned["fwsg"]}})
    t.rsc(r, 2004, 200, "a new version with its new signature is accepted")
    r = cse.update("/cse-in/gw/fw1", {"m2m:fwr": {"fwsg": None}})
    t.rsc(r, 4000, 400, "removing the signature -> 4000")

bad = os.path.join(tmp, "bad-trust.json")
with open(bad, "w") as f:
    json.dump({"keys": [json.loads(op.export(private_key=True))]}, f)
for path, what in ((bad, "a private key"), (os.path.join(tmp, "missing.json"), "a missing file")):
    c = Cse(firmware_trust=path)
    try:
        c.start()
        started = True
    except RuntimeError:
        started = False
    finally:
        if c.proc and c.proc.poll() is None:
            c.stop()
    t.ok(not started and "firmware-trust" in c.read_log(), "a trust file with %s stops the start" % what,
         c.read_log()[-300:])

with Cse() as cse:
    cse.create("/cse-in", 14, {"m2m:nod": {"rn": "gw", "ni": "urn:dev:gw-1"}})
    r = cse.create("/cse-in/gw", 13, {"m2m:fwr": dict(FW, rn="fw")})
    t.rsc(r, 2001, 201, "without firmware-trust unsigned firmware is accepted (as before)")
t.done()
