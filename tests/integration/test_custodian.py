"""custodian (cstn, Release 4): on a resource without acpi the default
access policy gives the custodian full access instead of the creator; with
acpi the ACPs decide as before. cstn must be an AE-ID or CSE-ID (4000
otherwise, nothing stored); null in an UPDATE removes it. Over HTTP and CoAP."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import coap_client

t = Tap()
A, B, C = "Ccus1", "Ccus2", "Ccus3"

with Cse() as cse:
    cse.register_ae("a", origin=A)
    cse.register_ae("b", origin=B)
    cse.register_ae("c", origin=C)
    box = "/cse-in/a/box"

    for bad, why in (("", "empty"), (5, "a number"), (["Ccus2"], "a list"), ("C cus2", "white space"),
                     ("C*", "a wildcard"), ("/", "a bare slash")):
        r = cse.create("/cse-in/a", 3, {"m2m:cnt": {"rn": "bad", "cstn": bad}}, origin=A)
        t.rsc(r, 4000, 400, "cstn %s -> 4000" % why)
    t.rsc(cse.get("/cse-in/a/bad"), 4004, 404, "nothing stored")
    r = coap_client(cse.coap_port, "cse-in/a", "post", params=dict(fr=A, rqi="c1", rvi="3", ty=3),
                    body=json.dumps({"m2m:cnt": {"rn": "bad", "cstn": "C cus2"}}), cf=50)
    t.eq(r.rsc, 4000, "CoAP: a malformed cstn -> 4000")

    r = cse.create("/cse-in/a", 3, {"m2m:cnt": {"rn": "box", "cstn": B}}, origin=A)
    t.ok(r.rsc == 2001 and r.json["m2m:cnt"]["cstn"] == B, "a container with a custodian", r)
    t.rsc(cse.get(box, origin=B), 2000, 200, "the custodian retrieves it")
    t.rsc(cse.get(box, origin=A), 4103, 403, "the creator no longer does (the custodian takes its place)")
    t.rsc(cse.get(box, origin=C), 4103, 403, "nor does anyone else")
    r = cse.update(box, {"m2m:cnt": {"lbl": ["kept"]}}, origin=B)
    t.rsc(r, 2004, 200, "the custodian updates it")
    t.rsc(cse.create(box, 4, {"m2m:cin": {"rn": "i1", "con": "x"}}, origin=B), 2001, 201,
          "the custodian creates an instance under it")
    t.rsc(cse.get(box + "/la", origin=B), 2000, 200, "... and reads it (instances take their container's rules)")
    t.rsc(cse.get(box + "/la", origin=A), 4103, 403, "the creator cannot read the instance")

    r = coap_client(cse.coap_port, "cse-in/a/box", params=dict(fr=B, rqi="c2", rvi="3"))
    t.ok(r.rsc == 2000 and (r.json or {}).get("m2m:cnt", {}).get("cstn") == B, "CoAP: the custodian retrieves it", r)
    r = coap_client(cse.coap_port, "cse-in/a/box", params=dict(fr=A, rqi="c3", rvi="3"))
    t.eq(r.rsc, 4103, "CoAP: the creator is refused")

    t.rsc(cse.update(box, {"m2m:cnt": {"cstn": "/id-in/" + C}}, origin=B), 2004, 200,
          "the custodian hands it on (SP-relative form)")
    t.rsc(cse.get(box, origin=C), 2000, 200, "the new custodian (CSE-relative originator) has access")
    t.rsc(cse.get(box, origin=B), 4103, 403, "the former one has none")
    t.rsc(cse.get(box + "/la", origin=C), 2000, 200, "... also to the instances below it")
    t.rsc(cse.get(box + "/la", origin=B), 4103, 403, "which the former one no longer reads")
    t.rsc(cse.update(box, {"m2m:cnt": {"cstn": "bad id"}}, origin=C), 4000, 400, "UPDATE with a malformed cstn -> 4000")
    t.eq(cse.get(box, origin=C).json["m2m:cnt"]["cstn"], "/id-in/" + C, "... and nothing changed")
    t.rsc(cse.update(box, {"m2m:cnt": {"cstn": None}}, origin=C), 2004, 200, "cstn null removes the custodian")
    r = cse.get(box, origin=A)
    t.ok(r.rsc == 2000 and "cstn" not in r.json["m2m:cnt"], "the creator has access again", r)
    t.rsc(cse.get(box, origin=C), 4103, 403, "and the former custodian none")

    # With acpi the ACPs decide; a custodian adds nothing
    r = cse.create("/cse-in/a", 1, {"m2m:acp": {"rn": "p", "pv": {"acr": [{"acor": [A], "acop": 63}]},
                                                "pvs": {"acr": [{"acor": [A], "acop": 63}]}}}, origin=A)
    acp = r.json["m2m:acp"]["ri"]
    r = cse.create("/cse-in/a", 3, {"m2m:cnt": {"rn": "ruled", "cstn": B, "acpi": [acp]}}, origin=A)
    t.rsc(r, 2001, 201, "a container with acpi and a custodian")
    t.rsc(cse.get("/cse-in/a/ruled", origin=A), 2000, 200, "the ACP grants the creator")
    t.rsc(cse.get("/cse-in/a/ruled", origin=B), 4103, 403, "the custodian is not in the ACP: refused")

    # An AE with a custodian: the custodian manages it
    r = cse.update("/cse-in/c", {"m2m:ae": {"cstn": B}}, origin=C)
    t.rsc(r, 2004, 200, "an AE names a custodian")
    t.rsc(cse.get("/cse-in/c", origin=B), 2000, 200, "the custodian retrieves the AE")
    t.rsc(cse.get("/cse-in/c", origin=A), 4103, 403, "another AE does not")
    t.rsc(cse.get("/cse-in/c", origin="CAdmin"), 2000, 200, "the admin still does")

t.done()
