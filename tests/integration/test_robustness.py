"""Seeded random requests (methods, targets, queries, bodies, headers and raw
garbage) against a live CSE: every request is answered with an X-M2M-RSC,
nothing answers 500, and the CSE stays up (and, in the ASan build, clean)."""
import os, random, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, raw_exchange

PATHS = ["/cse-in", "/cse-in/app", "/cse-in/app/c", "/cse-in/app/c/la", "/cse-in/app/c/ol", "/~/id-in/cse-in",
         "/_/ironbark.local/id-in/cse-in/app", "/Capp", "/Capp/c", "/-/app", "/cse-in/app%23lbl", "/cse-in/%zz",
         "/", "/~/", "/_/", "/~/id-in", "//x"]
QUERIES = ["rcn=%d", "fu=%d", "ty=%d", "lim=%d", "ofst=%d", "lvl=%d", "lbl=a", "lbq=a%%20EQ%%20b", "arp=..",
           "arp=la", "c.rn=*", "p.rn=x", "drt=%d", "atrl=rn+lbl", "cra=20200101T000000", "sts=%d", "fo=%d",
           "rn=c*", "cty=text/plain", "sza=%d"]
BODIES = [None, '{"m2m:cnt":{}}', '{"m2m:cin":{"con":"x"}}', '{"m2m:ae":{"api":"Nx","rr":true,"srv":["3"]}}',
          '{"m2m:cnt":{"mni":1,"mbs":5,"disr":true}}', '{"m2m:cnt":{"et":null}}', '{"m2m:cnt":{"lbl":null}}',
          '{', '[]', '{"m2m:cnt":{"rn":"c"}}', '{"m2m:cin":{"conr":"x"}}', '{"m2m:cnt":{"disr":false}}', 'null',
          '{"m2m:cnt":{"acpi":["a"]}}', '{"m2m:cnt":{"et":"20000101T000000"}}']

def random_request(rnd, i):
    if rnd.random() < 0.05:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200))), True
    qs = "&".join((q % rnd.randint(-1, 13)) if "%d" in q else q for q in rnd.sample(QUERIES, rnd.randint(0, 3)))
    body = rnd.choice(BODIES)
    hdr = "X-M2M-Origin: %s\r\nX-M2M-RI: f%d\r\n" % (rnd.choice(["Capp", "C", "", "S", "Cx"]), i)
    if rnd.random() < 0.8:
        hdr += "X-M2M-RVI: 3\r\n"
    if body is not None:
        ty = rnd.choice(["", ";ty=2", ";ty=3", ";ty=4", ";ty=5", ";ty=99", ";ty=x"])
        hdr += "Content-Type: application/json%s\r\nContent-Length: %d\r\n" % (ty, len(body))
    head = "%s %s%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" % (
        rnd.choice(["GET", "POST", "PUT", "DELETE", "PATCH"]), rnd.choice(PATHS), "?" + qs if qs else "", hdr)
    return head.encode() + (body or "").encode(), False

t = Tap()
rnd = random.Random(20261122)
with Cse(expiry_interval=50, max_body=2048) as cse:
    cse.register_ae("app", origin="Capp")
    cse.create("/cse-in/app", 3, {"m2m:cnt": {"rn": "c"}}, origin="Capp")
    unanswered, errors = [], []
    for i in range(300):
        data, garbage = random_request(rnd, i)
        out = raw_exchange(cse.port, data)
        if not out.startswith(b"HTTP/1.1 ") or (not garbage and b"\r\nX-M2M-RSC: " not in out):
            unanswered.append((data[:120], out[:120]))
        elif out.startswith(b"HTTP/1.1 500"):
            errors.append((data[:120], out[:200]))
        if not cse.alive():
            break
    t.ok(cse.alive(), "the CSE survives 300 random requests", cse.read_log()[-2000:])
    t.ok(not unanswered, "every request is answered with an RSC", unanswered[:3])
    t.ok(not errors, "no 500 answers", errors[:3])
    t.rsc(cse.get("/cse-in"), 2000, 200, "still serving normally")
t.done()
