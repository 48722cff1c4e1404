"""Basic CRUD over HTTP: AE registration, container, contentInstance, la/ol."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
with Cse() as cse:
    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "CSEBase retrieve")
    t.eq(r.json["m2m:cb"]["csi"], "/id-in", "CSEBase csi is /id-in")
    t.eq(r.headers.get("x-m2m-ri"), "rqi-1", "X-M2M-RI echoed")
    poa = r.json["m2m:cb"]["poa"]
    t.eq([p.split(":")[0] for p in poa], ["http", "https", "coap", "coaps"],
         "CSEBase poa names every transport that listens")
    t.ok("http://127.0.0.1:%d" % cse.port in poa, "poa carries the HTTP port", poa)

with Cse(https_port=0, coap_port=0, coaps_port=0) as cse:
    poa = cse.get("/cse-in").json["m2m:cb"]["poa"]
    t.eq(poa, ["http://127.0.0.1:%d" % cse.port], "transports switched off are not announced")

with Cse() as cse:

    r = cse.register_ae("meter", origin="Cmeter")
    t.rsc(r, 2001, 201, "AE registration with a C stem")
    t.eq(r.json["m2m:ae"]["aei"], "Cmeter", "aei is the originator stem")
    t.eq(r.json["m2m:ae"]["ri"], "Cmeter", "ri equals the AE-ID stem")

    r = cse.create("/cse-in/meter", 3, {"m2m:cnt": {"rn": "data", "mni": 2}}, origin="Cmeter")
    t.rsc(r, 2001, 201, "container create")
    cnt_ri = r.json["m2m:cnt"]["ri"]

    for i in range(3):
        r = cse.create("/cse-in/meter/data", 4, {"m2m:cin": {"con": "v%d" % i}}, origin="Cmeter")
        t.rsc(r, 2001, 201, "contentInstance %d create" % i)

    r = cse.get("/cse-in/meter/data/la", origin="Cmeter")
    t.eq(r.json["m2m:cin"]["con"], "v2", "la is the newest instance")
    r = cse.get("/cse-in/meter/data/ol", origin="Cmeter")
    t.eq(r.json["m2m:cin"]["con"], "v1", "ol is the oldest kept instance (mni=2 evicted v0)")
    r = cse.get("/" + cnt_ri, origin="Cmeter")
    t.eq((r.json["m2m:cnt"]["cni"], r.json["m2m:cnt"]["cbs"]), (2, 4), "cni/cbs follow the instances")

    r = cse.update("/cse-in/meter/data", {"m2m:cnt": {"lbl": ["kitchen"]}}, origin="Cmeter")
    t.rsc(r, 2004, 200, "container update")
    t.eq(r.json["m2m:cnt"]["lbl"], ["kitchen"], "updated labels returned")

    r = cse.delete("/cse-in/meter", origin="Cmeter")
    t.rsc(r, 2002, 200, "AE delete")
    r = cse.get("/" + cnt_ri, origin="Cmeter")
    t.rsc(r, 4004, 404, "children are gone with their parent")
t.done()
