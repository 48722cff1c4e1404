"""ESPrim end to end (docs/end-to-end-security.md, "ESPrim"): the CSEBase's
esi, the receiver nonce exchange (m2m:seci sit 3 -> 4), CREATE / RETRIEVE /
UPDATE / DELETE sealed with `m2m --esprim` over HTTP and over CoAP and
executed under ACPs as the inner originator, and the refusals, each with its
code and nothing stored: a replayed object (HTTP and CoAP), a wrong key, an
unknown key ID, a swapped originator, an inner originator the key is not
bound to, a truncated object, an oversized object, an expired nonce, an
unsupported enc. esi on an AE is validated."""
import base64, json, os, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, BUILD, write_private
import coap_peer as cp
from notify_receiver import Receiver

TOOL = os.environ.get("M2M_TOOL", os.path.join(BUILD, "m2m"))
KEY = "3c0f8e1d2b4a69788796a5b4c3d2e1f000112233445566778899aabbccddeeff"
WRONG = "00" * 32
t = Tap()
tmp = tempfile.mkdtemp(prefix="ironbark-esprim-")
key_file = write_private(os.path.join(tmp, "k.key"), KEY + "\n")
wrong_file = write_private(os.path.join(tmp, "w.key"), WRONG + "\n")


def last(out):
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


def config(lifetime=300):
    return write_private(os.path.join(tmp, "cse-%d.conf" % lifetime),
                         "esprim = true\nesprim-nonce-lifetime = %d\n"
                         "esprim-key = meter-k1:%s:Cmeter*\n"
                         "esprim-key = admin-k1:%s:CAdmin\n" % (lifetime, KEY, KEY))


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


with Cse(config=config()) as cse:
    def m2m(*args, origin="CAdmin", url=None, kid="meter-k1", keyf=key_file):
        cmd = [TOOL, "--url", url or cse.base, "--from", origin]
        if kid:
            cmd += ["--esprim", kid, "--esprim-key-file", keyf]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=20)
        return p.returncode, p.stdout, p.stderr

    def sealed(*args, origin="Cmeter1", kid="meter-k1", keyf=key_file):
        """The outer NOTIFY's content m2m would send, not sent."""
        rc, out, err = m2m(*args, "--esprim-seal-only", origin=origin, kid=kid, keyf=keyf)
        assert rc == 0, err
        return json.loads(out)

    def notify(body, origin="Cmeter1"):
        return cse.request("POST", "/cse-in", origin=origin, body=body,
                           content_type="application/json")

    def exists(path):
        return cse.get("/" + path).rsc

    r = cse.get("/cse-in")
    esi = r.json["m2m:cb"].get("esi")
    t.eq(esi, {"esf": [13]}, "the CSEBase's esi announces ESPrim with pre-provisioned keys (SUID 13)")

    # --- the nonce exchange ----------------------------------------------------
    r = notify({"m2m:seci": {"sit": 3}})
    ero = r.json["m2m:seci"]["ero"] if r.rsc == 2000 else {}
    t.ok(r.rsc == 2000 and r.json["m2m:seci"]["sit"] == 4 and ero["esri"].startswith("u") and
         len(unb64(ero["esrv"])) == 16 and ero["esks"] == [1] and ero["espa"] == [12] and "esrx" in ero,
         "NOTIFY m2m:seci sit 3 -> sit 4 with an unshared receiver nonce object", r)
    r2 = notify({"m2m:seci": {"sit": 3}})
    t.ok(r2.json["m2m:seci"]["ero"]["esrv"] != ero.get("esrv"), "every nonce object is fresh", r2)
    r = notify({"m2m:seci": {"sit": 5}})
    t.rsc(r, 4000, 400, "sit 5 without epo -> 4000")

    # --- CRUD sealed over HTTP -------------------------------------------------
    rc, out, err = m2m("create", "cse-in", "--ty", "2", "--body",
                       '{"m2m:ae":{"rn":"meter1","api":"Nmeter","rr":false,"srv":["3"]}}',
                       origin="Cmeter1")
    t.ok(rc == 0 and last(out) == "RSC 2001 CREATED" and '"aei": "Cmeter1"' in out,
         "sealed CREATE of an AE over HTTP: the inner response printed", out + err)
    rc, out, err = m2m("create", "cse-in/meter1", "--ty", "3", "--body", '{"m2m:cnt":{"rn":"data","mni":5}}',
                       origin="Cmeter1")
    t.ok(rc == 0 and last(out) == "RSC 2001 CREATED", "sealed CREATE of a container", out + err)
    rc, out, err = m2m("retrieve", "cse-in/meter1/data", origin="Cmeter1")
    t.ok(rc == 0 and last(out) == "RSC 2000 OK" and '"mni": 5' in out, "sealed RETRIEVE", out + err)
    rc, out, err = m2m("update", "cse-in/meter1/data", "--body", '{"m2m:cnt":{"mni":7}}', origin="Cmeter1")
    t.ok(rc == 0 and last(out) == "RSC 2004 UPDATED" and '"mni": 7' in out, "sealed UPDATE", out + err)
    t.ok('"mni":7' in cse.get("/cse-in/meter1/data", origin="Cmeter1").text.replace(" ", ""),
         "... the update is stored (read in the clear)")
    # ACPs judge the inner originator: Cmeter2 (the key covers Cmeter*) may not read meter1's data.
    rc, out, err = m2m("retrieve", "cse-in/meter1/data", origin="Cmeter2")
    t.ok(rc == 1 and last(out) == "RSC 4103 ORIGINATOR_HAS_NO_PRIVILEGE",
         "the inner primitive runs under ACPs as its originator: 4103, sealed", out + err)
    rc, out, err = m2m("delete", "cse-in/meter1/data", origin="Cmeter1")
    t.ok(rc == 0 and last(out) == "RSC 2002 DELETED", "sealed DELETE", out + err)
    t.eq(exists("cse-in/meter1/data"), 4004, "... the container is gone")
    rc, out, err = m2m("retrieve", "/id-in/cse-in/meter1", origin="Cmeter1")
    t.ok(rc == 0 and last(out) == "RSC 2000 OK", "an SP-relative target: the Receiver is /id-in/-", out + err)

    # --- CRUD sealed over CoAP ---------------------------------------------------
    coap = "coap://127.0.0.1:%d" % cse.coap_port
    rc, out, err = m2m("create", "cse-in/meter1", "--ty", "3", "--body", '{"m2m:cnt":{"rn":"c"}}',
                       origin="Cmeter1", url=coap)
    t.ok(rc == 0 and last(out) == "RSC 2001 CREATED", "sealed CREATE over CoAP", out + err)
    rc, out, err = m2m("retrieve", "cse-in/meter1/c", origin="Cmeter1", url=coap)
    t.ok(rc == 0 and last(out) == "RSC 2000 OK" and '"rn": "c"' in out, "sealed RETRIEVE over CoAP", out + err)
    rc, out, err = m2m("update", "cse-in/meter1/c", "--body", '{"m2m:cnt":{"lbl":["x"]}}', origin="Cmeter1", url=coap)
    t.ok(rc == 0 and last(out) == "RSC 2004 UPDATED", "sealed UPDATE over CoAP", out + err)
    rc, out, err = m2m("delete", "cse-in/meter1/c", origin="Cmeter1", url=coap)
    t.ok(rc == 0 and last(out) == "RSC 2002 DELETED", "sealed DELETE over CoAP", out + err)
    t.eq(exists("cse-in/meter1/c"), 4004, "... gone")

    # A sealed CREATE that waits for an outside answer: the subscription's
    # verification request goes out, the sealed answer follows it.
    with Receiver() as rx:
        rc, out, err = m2m("create", "cse-in/meter1", "--ty", "23", "--body",
                           json.dumps({"m2m:sub": {"rn": "s1", "nu": [rx.url], "enc": {"net": [3]}}}),
                           origin="Cmeter1")
        t.ok(rc == 0 and last(out) == "RSC 2001 CREATED" and len(rx.bodies()) >= 1,
             "a sealed subscription CREATE waits for its verification and is answered sealed", out + err)
        t.eq(exists("cse-in/meter1/s1"), 2000, "... the subscription is stored once")

    cnt = lambda rn: ("create", "cse-in/meter1", "--ty", "3", "--body", '{"m2m:cnt":{"rn":"%s"}}' % rn)

    # --- replay ------------------------------------------------------------------
    body = sealed(*cnt("once"))
    r = notify(body)
    t.ok(r.rsc == 2000 and r.json["m2m:seci"]["sit"] == 5, "a sealed CREATE sent with curl: sealed answer", r)
    cse.delete("/cse-in/meter1/once")
    r = notify(body)
    t.rsc(r, 4115, 403, "the same object again (replay) -> 4115, in the clear")
    t.eq(exists("cse-in/meter1/once"), 4004, "... nothing stored by the replay")
    # Over CoAP too.
    body = sealed(*cnt("conce"))
    c = cp.RawClient(cse.coap_port)
    o = cp.m2m_options(fr="Cmeter1", rqi="co-1", rvi="3") + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))]
    m = c.request(cp.POST, "cse-in", o, payload=json.dumps(body).encode())
    t.ok(m is not None and m.rsc == 2000, "a sealed CREATE over raw CoAP", m)
    cse.delete("/cse-in/meter1/conce")
    o = cp.m2m_options(fr="Cmeter1", rqi="co-2", rvi="3") + [(cp.CONTENT_FORMAT, cp.uint_bytes(50))]
    m = c.request(cp.POST, "cse-in", o, payload=json.dumps(body).encode())
    t.ok(m is not None and m.rsc == 4115 and m.code == cp.code(4, 3), "its replay over CoAP -> 4115 (4.03)", m)
    c.close()
    t.eq(exists("cse-in/meter1/conce"), 4004, "... nothing stored by the CoAP replay")

    # --- keys ----------------------------------------------------------------------
    rc, out, err = m2m(*cnt("wk"), origin="Cmeter1", keyf=wrong_file)
    t.ok(rc == 1 and "RSC 4115 ESPRIM_BAD_MAC" in out, "a wrong key -> 4115", out + err)
    t.eq(exists("cse-in/meter1/wk"), 4004, "... nothing stored")
    rc, out, err = m2m(*cnt("uk"), origin="Cmeter1", kid="nobody-k")
    t.ok(rc == 1 and "RSC 4112 ESPRIM_UNKNOWN_KEY_ID" in out, "an unknown key ID -> 4112", out + err)
    t.eq(exists("cse-in/meter1/uk"), 4004, "... nothing stored")

    # --- impersonation -------------------------------------------------------------
    body = sealed(*cnt("sw"), origin="Cmeter1")
    r = notify(body, origin="Cmeter2")
    t.rsc(r, 4116, 403, "a genuine object resent by another outer originator (swapped) -> 4116")
    t.eq(exists("cse-in/meter1/sw"), 4004, "... nothing stored")
    rc, out, err = m2m("retrieve", "cse-in", origin="CAdmin", kid="meter-k1")
    t.ok(rc == 1 and "RSC 4116 ESPRIM_IMPERSONATION_ERROR" in out,
         "an inner originator the key is not bound to (CAdmin with a Cmeter* key) -> 4116", out + err)
    rc, out, err = m2m("retrieve", "cse-in", origin="CAdmin", kid="admin-k1")
    t.ok(rc == 0 and last(out) == "RSC 2000 OK", "... the admin's own key serves it", out + err)

    # --- malformed objects ---------------------------------------------------------
    body = sealed(*cnt("tr"))
    epo = body["m2m:seci"]["epo"]
    r = notify({"m2m:seci": {"sit": 5, "epo": epo[:epo.rfind(".")]}})
    t.rsc(r, 4000, 400, "a truncated object (tag cut off) -> 4000")
    r = notify({"m2m:seci": {"sit": 5, "epo": epo[:-3]}})
    t.rsc(r, 4000, 400, "a truncated tag -> 4000")
    parts = epo.split(".")
    ct = unb64(parts[3])
    r = notify({"m2m:seci": {"sit": 5, "epo": ".".join(parts[:3] + [b64(ct[:-1])] + parts[4:])}})
    t.rsc(r, 4115, 403, "a ciphertext one byte short -> 4115")
    t.eq(exists("cse-in/meter1/tr"), 4004, "... nothing stored")
    big = ".".join(parts[:3] + [b64(b"x" * 60000)] + parts[4:])
    r = notify({"m2m:seci": {"sit": 5, "epo": big}})
    t.rsc(r, 4000, 400, "an oversized object (> 64 KiB) -> 4000")
    hdr = json.loads(unb64(parts[0]))
    hdr["enc"] = "A128GCM"
    r = notify({"m2m:seci": {"sit": 5, "epo": ".".join([b64(json.dumps(hdr).encode())] + parts[1:])}})
    t.rsc(r, 4111, 403, "enc A128GCM (not offered) -> 4111")
    hdr = json.loads(unb64(parts[0]))
    hdr["rri"] = "unever"
    r = notify({"m2m:seci": {"sit": 5, "epo": ".".join([b64(json.dumps(hdr).encode())] + parts[1:])}})
    t.rsc(r, 4114, 403, "an unknown receiver nonce ID -> 4114")
    hdr = json.loads(unb64(parts[0]))
    del hdr["oro"]
    r = notify({"m2m:seci": {"sit": 5, "epo": ".".join([b64(json.dumps(hdr).encode())] + parts[1:])}})
    t.rsc(r, 4113, 403, "a new originator nonce ID without oro -> 4113")
    r = notify({"m2m:seci": {"sit": 5, "epo": "not.a.jwe"}})
    t.rsc(r, 4000, 400, "no JWE at all -> 4000")
    t.eq(exists("cse-in/meter1/tr"), 4004, "... nothing stored by any of them")

    # --- esi on an AE ------------------------------------------------------------
    r = cse.create("/cse-in", 2, {"m2m:ae": {"rn": "e1", "api": "Ne", "rr": False, "srv": ["3"],
                                             "esi": {"esf": [13]}}}, origin="Ce1")
    t.rsc(r, 2001, 201, "an AE with esi {esf:[13]}")
    r = cse.update("/cse-in/e1", {"m2m:ae": {"esi": {"esf": ["x"]}}}, origin="Ce1")
    t.rsc(r, 4000, 400, "an esi with a bad esf -> 4000")
    r = cse.update("/cse-in/e1", {"m2m:ae": {"esi": {"esf": [13], "esro": {"esri": "s1"}}}}, origin="Ce1")
    t.rsc(r, 4000, 400, "an esi with a malformed esro -> 4000")
    t.ok(cse.get("/cse-in/e1", origin="Ce1").text.replace(" ", "").count('"esi":{"esf":[13]}') == 1,
         "... the stored esi is unchanged")
    log = cse.read_log()
    t.ok(KEY not in log and KEY.upper() not in log, "the pairwise key never appears in the log")

# --- nonce expiry -------------------------------------------------------------------
with Cse(config=config(lifetime=1)) as cse:
    rc = subprocess.run([TOOL, "--url", cse.base, "--from", "Cmeter9", "--esprim", "meter-k1",
                         "--esprim-key-file", key_file, "--esprim-seal-only", "create", "cse-in", "--ty", "2",
                         "--body", '{"m2m:ae":{"rn":"late","api":"Nl","rr":false,"srv":["3"]}}'],
                        capture_output=True, text=True, timeout=20)
    time.sleep(2.2)
    r = cse.request("POST", "/cse-in", origin="Cmeter9", body=rc.stdout.strip(), content_type="application/json")
    t.rsc(r, 4114, 403, "an object under an expired receiver nonce -> 4114")
    t.eq(cse.get("/cse-in/late").rsc, 4004, "... nothing stored")

# --- off by default ---------------------------------------------------------------
with Cse() as cse:
    t.ok("esi" not in cse.get("/cse-in").json["m2m:cb"], "without esprim the CSEBase has no esi")
    r = cse.request("POST", "/cse-in", origin="Cx", body={"m2m:seci": {"sit": 3}}, content_type="application/json")
    t.ok(r.rsc == 4000, "... and a sit 3 NOTIFY is no notification it takes (4000)", r)

t.done()
