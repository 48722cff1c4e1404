"""AE registration rules: originator forms, api rules per release, conflicts,
mandatory attributes, re-registration."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
AE = lambda **kw: {"m2m:ae": dict({"api": "Nx", "rr": False, "srv": ["3"]}, **kw)}
with Cse() as cse:
    r = cse.create("/cse-in", 2, AE(rn="e1"), origin=None)
    t.rsc(r, 2001, 201, "registration without X-M2M-Origin")
    aei = r.json["m2m:ae"]["aei"]
    t.ok(aei.startswith("C") and len(aei) > 1, "empty originator gets a CSE-assigned C... AE-ID", aei)
    t.eq(r.json["m2m:ae"]["ri"], aei, "ri equals aei")
    t.eq(r.headers.get("content-location"), aei, "Content-Location is the ri")

    r = cse.create("/cse-in", 2, AE(rn="e2"), origin="C")
    t.ok(r.rsc == 2001 and r.json["m2m:ae"]["aei"].startswith("C") and r.json["m2m:ae"]["aei"] != "C",
         "originator 'C' gets a fresh C... AE-ID", r)
    r = cse.create("/cse-in", 2, AE(rn="e3"), origin="S")
    t.ok(r.rsc == 2001 and r.json["m2m:ae"]["aei"].startswith("S") and r.json["m2m:ae"]["aei"] != "S",
         "originator 'S' gets a fresh S... AE-ID", r)
    r = cse.create("/cse-in", 2, AE(rn="e4"), origin="Cmystem")
    t.ok(r.rsc == 2001 and r.json["m2m:ae"]["aei"] == "Cmystem", "C-stem originator is kept", r)
    r = cse.create("/cse-in", 2, AE(rn="e5"), origin="Sprov1")
    t.ok(r.rsc == 2001 and r.json["m2m:ae"]["aei"] == "Sprov1", "S-stem originator is kept", r)
    r = cse.create("/cse-in", 2, AE(), origin="Cnoname")
    t.ok(r.rsc == 2001 and r.json["m2m:ae"]["rn"] == "Cnoname", "rn defaults to the AE-ID", r)

    r = cse.create("/cse-in", 2, AE(rn="e6"), origin="Cmystem")
    t.rsc(r, 4117, 403, "re-registration with the same originator -> 4117")
    r = cse.create("/cse-in", 2, AE(rn="e1"), origin="Cother")
    t.rsc(r, 4105, 409, "rn already taken -> 4105")
    r = cse.create("/cse-in", 2, AE(rn="e7"), origin="Xbad")
    t.rsc(r, 4000, 400, "originator not starting with C or S -> 4000")
    r = cse.create("/cse-in", 2, AE(rn="e8"), origin="C/x")
    t.rsc(r, 4000, 400, "originator with a '/' -> 4000")

    r = cse.create("/cse-in", 2, AE(rn="a1", api="Rorg.example"), origin="Ca1")
    t.rsc(r, 2001, 201, "api starting with R")
    r = cse.create("/cse-in", 2, AE(rn="a2", api="Nfree"), origin="Ca2")
    t.rsc(r, 2001, 201, "api starting with N")
    r = cse.create("/cse-in", 2, AE(rn="a3", api="rlow"), origin="Ca3", rvi="3")
    t.rsc(r, 2001, 201, "lower-case r accepted with rvi 3")
    r = cse.create("/cse-in", 2, AE(rn="a4", api="rlow"), origin="Ca4", rvi="4")
    t.rsc(r, 4000, 400, "lower-case r rejected with rvi 4")
    r = cse.create("/cse-in", 2, AE(rn="a5", api="Xapp"), origin="Ca5")
    t.rsc(r, 4000, 400, "api starting with another letter -> 4000")
    r = cse.create("/cse-in", 2, AE(rn="a6", api=""), origin="Ca6")
    t.rsc(r, 4000, 400, "empty api -> 4000")

    for missing in ("api", "rr", "srv"):
        body = AE(rn="m-" + missing)
        del body["m2m:ae"][missing]
        r = cse.create("/cse-in", 2, body, origin="Cm" + missing)
        t.rsc(r, 4000, 400, "missing mandatory %s -> 4000" % missing)
    r = cse.create("/cse-in", 2, AE(rn="w1", rr="yes"), origin="Cw1")
    t.rsc(r, 4000, 400, "rr of the wrong type -> 4000")
    r = cse.create("/cse-in", 2, AE(rn="w2", csz=["json", "yaml"]), origin="Cw2")
    t.rsc(r, 4000, 400, "unknown serialization in csz -> 4000")
    r = cse.create("/cse-in", 2, AE(rn="w3", aei="Cforced"), origin="Cw3")
    t.rsc(r, 4000, 400, "aei in CREATE (NP) -> 4000")

    r = cse.update("/cse-in/e4", {"m2m:ae": {"api": "Nnew"}}, origin="Cmystem")
    t.rsc(r, 4000, 400, "api is not updatable -> 4000")
    r = cse.update("/cse-in/e4", {"m2m:ae": {"rr": True, "poa": ["http://127.0.0.1:9"]}}, origin="Cmystem")
    t.ok(r.rsc == 2004 and r.json["m2m:ae"]["rr"] is True, "rr and poa updatable", r)
    r = cse.update("/cse-in/e4", {"m2m:ae": {"rr": None}}, origin="Cmystem")
    t.rsc(r, 4000, 400, "deleting a mandatory attribute -> 4000")
    r = cse.create("/cse-in/e4", 2, AE(rn="nested"), origin="Cnested")
    t.rsc(r, 4108, 403, "AE under an AE -> 4108")

    r = cse.delete("/cse-in/e4", origin="Cmystem")
    t.rsc(r, 2002, 200, "deregistration")
    r = cse.create("/cse-in", 2, AE(rn="e4"), origin="Cmystem")
    t.rsc(r, 2001, 201, "registration again after deregistration")
t.done()
