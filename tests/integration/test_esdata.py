"""ESData end to end (docs/end-to-end-security.md): a producer seals a
reading with `m2m esdata seal --encrypt-for`, stores it over CoAP; the CSE
(which has no key) checks only the envelope's form against cnf, stores it,
notifies it unchanged; a consumer retrieves it over HTTP with
`m2m retrieve --decrypt` (key file, or cred:KpsaID from the credential
store). The SQLite file holds no plaintext. Wrong keys, tampered envelopes,
--verify of unsigned content fail with exit status 3 and a message; a cnf
claiming protection over a con that is no envelope is 4000 with nothing stored.
Signing (ES256 with a jwcrypto-made key, HS256) and sign-then-encrypt too;
sealing to a recipient's EC (ECDH-ES+A256KW) or RSA (RSA-OAEP-256) public JWK."""
import glob, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, BUILD, store_flags, write_private
from coap_peer import coap_client
from notify_receiver import Receiver, events
from jwcrypto import jwk

TOOL = os.environ.get("M2M_TOOL", os.path.join(BUILD, "m2m"))
t = Tap()
tmp = tempfile.mkdtemp(prefix="esdata-")
KEY = "4f" * 32                       # the meter's provisioned 256-bit key (A256KW)
SECRET = "reading-7741-secret"        # plaintext marker that must never reach the store
key_file = write_private(os.path.join(tmp, "meter.key"), KEY + "\n")
wrong_file = write_private(os.path.join(tmp, "wrong.key"), "50" * 32 + "\n")
ec, ec2 = jwk.JWK.generate(kty="EC", crv="P-256", kid="meter-sig"), jwk.JWK.generate(kty="EC", crv="P-256")
ec_file = write_private(os.path.join(tmp, "ec.jwk"), ec.export(private_key=True))
ec_pub = os.path.join(tmp, "ec-pub.jwk")
with open(ec_pub, "w") as f:
    f.write(ec.export(private_key=False))   # a public key may be world-readable
os.chmod(ec_pub, 0o644)
ec2_pub = os.path.join(tmp, "ec2-pub.jwk")
with open(ec2_pub, "w") as f:
    f.write(ec2.export(private_key=False))


def last(out):
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


rx = Receiver().start()
try:
    with Cse(psk=["meter@test:%s:Cmeter*" % KEY]) as cse:
        def m2m(*args, origin="Cmeter"):
            # m2m targets are CSE-relative ("cse-in/..."), the harness's SP-relative ("/cse-in/...")
            args = [a[1:] if a.startswith("/cse-in") else a for a in args]
            p = subprocess.run([TOOL, "--url", cse.base, "--from", origin] + args,
                               capture_output=True, text=True, timeout=20)
            return p.returncode, p.stdout, p.stderr

        box = cse.ae_with_container("Cmeter", ae="meter", cnt="data")
        r = cse.create(box, 23, {"m2m:sub": {"rn": "s", "nu": [rx.url], "enc": {"net": [3]}}}, origin="Cmeter")
        t.rsc(r, 2001, 201, "a subscriber for new readings")

        # --- producer: seal, store over CoAP ---------------------------------
        rc, sealed, err = m2m("esdata", "seal", "--encrypt-for", key_file,
                              "--body", json.dumps({"m2m:cin": {"rn": "r1", "cnf": "application/json:0",
                                                                "con": {"t": 21.5, "id": SECRET}}}))
        cin = json.loads(sealed)["m2m:cin"] if rc == 0 else {}
        envelope = cin.get("con", "")
        t.ok(rc == 0 and envelope.count(".") == 4 and cin.get("cnf") == "application/json:0:1",
             "m2m esdata seal: con becomes a JWE compact, cnf gains :1", (rc, err, sealed))
        r = coap_client(cse.coap_port, "cse-in/meter/data", "post",
                        {"fr": "Cmeter", "rqi": "e1", "rvi": "3", "ty": 4}, sealed, cf=50)
        t.ok(r.rsc == 2001, "the sealed reading is stored over CoAP (2001)", r)

        # --- consumer over HTTP ----------------------------------------------
        rc, out, err = m2m("retrieve", box + "/r1", "--decrypt", key_file)
        got = json.loads(out[:out.rfind("RSC")]) if rc == 0 else {}
        t.ok(rc == 0 and got.get("m2m:cin", {}).get("con") == {"t": 21.5, "id": SECRET}
             and got["m2m:cin"].get("cnf") == "application/json:0",
             "m2m retrieve --decrypt (key file) over HTTP gives the reading back", (rc, out, err))
        rc, out, err = m2m("--data-dir", cse.data_dir, *store_flags(cse.data_dir), "retrieve", box + "/r1", "--decrypt", "cred:meter@test")
        t.ok(rc == 0 and SECRET in out, "--decrypt cred:meter@test takes the key from the credential store",
             (rc, out, err))
        r = cse.get(box + "/r1", origin="Cmeter")
        t.eq(r.json["m2m:cin"]["con"], envelope, "a plain RETRIEVE shows the envelope as stored, untouched")
        t.eq(r.json["m2m:cin"]["cnf"], "application/json:0:1", "cnf kept as given")

        # --- the notification carries the same bytes ---------------------------
        reqs = rx.wait(lambda q: any(e[0] == 3 for e in events(q)))
        reps = [e[1] for e in events(reqs) if e[0] == 3]
        t.ok(reps and reps[-1]["m2m:cin"]["con"] == envelope, "the notification carries the envelope unchanged",
             reps[-1:])
        note = os.path.join(tmp, "note.json")
        with open(note, "w") as f:
            json.dump(reps[-1] if reps else {}, f)
        rc, out, err = m2m("esdata", "open", "--decrypt", key_file, "--body", "@" + note)
        t.ok(rc == 0 and SECRET in out, "the notified reading opens with m2m esdata open", (rc, err))

        # --- nothing readable at rest ----------------------------------------
        cse.stop()
        blobs = cse.stored_bytes()
        t.ok(len(blobs) > 0 and SECRET.encode() not in blobs and b"21.5" not in blobs
             and envelope.encode()[-30:] in blobs,
             "the store (SQLite files or PostgreSQL rows) holds the envelope, not the plaintext", len(blobs))
        cse.start()

        # --- wrong key, tampering, missing signature ----------------------------
        rc, out, err = m2m("retrieve", box + "/r1", "--decrypt", wrong_file)
        t.ok(rc == 3 and "wrong key or tampered" in err and SECRET not in out,
             "a wrong key: exit 3 with a clear message, nothing shown", (rc, out, err))
        parts = envelope.split(".")
        parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
        tampered = ".".join(parts)
        r = cse.create(box, 4, {"m2m:cin": {"rn": "t1", "cnf": "application/json:0:1", "con": tampered}},
                       origin="Cmeter")
        t.rsc(r, 2001, 201, "a tampered but well-formed envelope is stored (the CSE cannot know)")
        rc, out, err = m2m("retrieve", box + "/t1", "--decrypt", key_file)
        t.ok(rc == 3 and "tampered" in err, "the consumer reports the tampered reading (exit 3)", (rc, err))
        rc, out, err = m2m("retrieve", box + "/r1", "--decrypt", key_file, "--verify", ec_pub)
        t.ok(rc == 3 and "not signed" in err, "--verify of unsigned content fails (exit 3)", (rc, err))
        rc, out, err = m2m("retrieve", box + "/r1")
        t.ok(rc == 0 and envelope in out, "without --decrypt the envelope is printed as it is")
        loose = os.path.join(tmp, "loose.key")
        with open(loose, "w") as f:
            f.write(KEY)
        os.chmod(loose, 0o644)
        rc, out, err = m2m("retrieve", box + "/r1", "--decrypt", loose)
        t.ok(rc == 3 and "chmod 600" in err, "a secret key file readable by others is refused", (rc, err))

        # --- signing, and sign-then-encrypt -------------------------------------
        rc, out, err = m2m("create", box, "--ty", "4", "--sign", ec_file,
                           "--body", json.dumps({"m2m:cin": {"rn": "s1", "con": "door open"}}))
        t.ok(rc == 0, "m2m create --sign (ES256) stores a JWS", (rc, out, err))
        stored = cse.get(box + "/s1", origin="Cmeter").json["m2m:cin"]
        t.ok(stored["con"].count(".") == 2 and stored["cnf"] == "text/plain:0:1", "con is a JWS, cnf text/plain:0:1",
             stored)
        rc, out, err = m2m("retrieve", box + "/s1", "--verify", ec_pub)
        t.ok(rc == 0 and '"door open"' in out and "signature verified" in err, "--verify with the public key", (rc, err))
        rc, out, err = m2m("retrieve", box + "/s1", "--verify", ec2_pub)
        t.ok(rc == 3 and "does not verify" in err, "--verify with another key: exit 3", (rc, err))
        rc, out, err = m2m("create", box, "--ty", "4", "--sign", ec_file, "--encrypt-for", key_file,
                           "--body", json.dumps({"m2m:cin": {"rn": "se", "cnf": "text/plain:0", "con": SECRET}}))
        t.ok(rc == 0, "sign-then-encrypt stored", (rc, err))
        rc, out, err = m2m("retrieve", box + "/se", "--decrypt", key_file, "--verify", ec_pub)
        t.ok(rc == 0 and SECRET in out and "signature verified" in err, "decrypted, then the inner JWS verified",
             (rc, out, err))
        rc, out, err = m2m("retrieve", box + "/se", "--decrypt", key_file, "--verify", ec2_pub)
        t.ok(rc == 3, "sign-then-encrypt with the wrong verifying key: exit 3", (rc, err))
        hs_file = write_private(os.path.join(tmp, "hs.key"), "61" * 32)
        rc, out, err = m2m("create", box, "--ty", "4", "--sign", hs_file, "--jwe-enc", "A128GCM",
                           "--body", json.dumps({"m2m:cin": {"rn": "h1", "con": "x"}}))
        rc2, out2, err2 = m2m("retrieve", box + "/h1", "--verify", hs_file)
        t.ok(rc == 0 and rc2 == 0 and '"x"' in out2, "HS256 with a symmetric key", (rc, err, rc2, err2))

        # --- to a recipient's EC key (ECDH-ES+A256KW) or RSA key (RSA-OAEP-256): anyone may seal,
        # only the key holder opens
        import base64
        privs = {}
        for kind, rn, want, gen in (("EC", "x1", "ECDH-ES+A256KW", {"crv": "P-256"}),
                                    ("RSA", "x2", "RSA-OAEP-256", {"size": 2048})):
            rcpt = jwk.JWK.generate(kty=kind, kid="consumer-" + kind, **gen)
            privs[kind] = write_private(os.path.join(tmp, "consumer-%s.jwk" % kind), rcpt.export(private_key=True))
            rcpt_pub = os.path.join(tmp, "consumer-%s-pub.jwk" % kind)
            with open(rcpt_pub, "w") as f:
                f.write(rcpt.export(private_key=False))
            os.chmod(rcpt_pub, 0o644)
            rc, out, err = m2m("create", box, "--ty", "4", "--encrypt-for", rcpt_pub,
                               "--body", json.dumps({"m2m:cin": {"rn": rn, "cnf": "text/plain:0", "con": SECRET}}))
            hdr = cse.get(box + "/" + rn, origin="Cmeter").json["m2m:cin"]["con"].split(".")[0]
            alg = json.loads(base64.urlsafe_b64decode(hdr + "=" * (-len(hdr) % 4))).get("alg")
            t.ok(rc == 0 and alg == want, "--encrypt-for a public %s JWK seals with %s" % (kind, want), (rc, err, alg))
            rc, out, err = m2m("retrieve", box + "/" + rn, "--decrypt", privs[kind])
            t.ok(rc == 0 and SECRET in out, "the recipient's private %s key opens it" % kind, (rc, err))
            rc, out, err = m2m("retrieve", box + "/" + rn, "--decrypt", rcpt_pub)
            t.ok(rc == 3 and SECRET not in out, "the public %s key alone cannot (exit 3)" % kind, (rc, err))
        rc, out, err = m2m("retrieve", box + "/x2", "--decrypt", privs["EC"])
        t.ok(rc == 3 and SECRET not in out, "another recipient's key cannot open the RSA-OAEP-256 reading (exit 3)",
             (rc, err))

        # --- the CSE's form check: 4000 and nothing stored ------------------------
        cni = cse.get(box, origin="Cmeter").json["m2m:cnt"]["cni"]
        bad = [("application/json:0:1", "hello", "plain text under :1"),
               ("application/json:0:1", {"t": 1}, "a JSON object under :1"),
               ("text/plain:0:1", "eyJhbGciOiJub25lIn0.eyJhIjoxfQ.", "an unsigned JWS (alg none, no signature)"),
               ("text/plain:0:1", "eyJhbGciOiJub25lIn0.eyJhIjoxfQ.AAAA", "a JWS with alg none"),
               ("text/plain:0:1", "a.b.c.d", "four parts"),
               ("text/plain:0:1", "e30..AA.AA.AA", "a JWE header without alg/enc"),
               ("text/plain:0:2", "not json", "JSON serialisation claimed, not JSON"),
               ("text/plain:0:3", "%%%", "base64 JSON serialisation claimed, not base64"),
               ("text/plain:0:4", "plain", "XML claimed, not XML")]
        for cnf, con, what in bad:
            r = cse.create(box, 4, {"m2m:cin": {"cnf": cnf, "con": con}}, origin="Cmeter")
            t.ok(r.rsc == 4000 and "end-to-end protected" in (r.json or {}).get("m2m:dbg", ""),
                 "cnf %s with %s -> 4000" % (cnf, what), r)
        t.eq(cse.get(box, origin="Cmeter").json["m2m:cnt"]["cni"], cni, "nothing stored by the refused requests")
        ok = [("text/plain:0:2", {"protected": "e30", "ciphertext": "AA", "iv": "AA", "tag": "AA"}, "JWE JSON"),
              ("text/plain:0:2", json.dumps({"payload": "e30", "signature": "AA", "protected": "e30"}), "JWS JSON text"),
              ("text/plain:0:0", "hello", "contentSecurity 0"),
              ("text/plain:0", "hello", "no contentSecurity")]
        for cnf, con, what in ok:
            r = cse.create(box, 4, {"m2m:cin": {"cnf": cnf, "con": con}}, origin="Cmeter")
            t.rsc(r, 2001, 201, "cnf %s with %s is stored" % (cnf, what))
        # a timeSeries' cnf covers its instances
        cse.create("/cse-in/meter", 29, {"m2m:ts": {"rn": "ts", "cnf": "text/plain:0:1"}}, origin="Cmeter")
        r = cse.create("/cse-in/meter/ts", 30, {"m2m:tsi": {"dgt": "20260101T000000", "con": "plain"}},
                       origin="Cmeter")
        t.rsc(r, 4000, 400, "a timeSeriesInstance under a protected timeSeries needs an envelope")
        r = cse.create("/cse-in/meter/ts", 30, {"m2m:tsi": {"dgt": "20260101T000000", "con": envelope}},
                       origin="Cmeter")
        t.rsc(r, 2001, 201, "and accepts one")
finally:
    rx.stop()
t.done()
