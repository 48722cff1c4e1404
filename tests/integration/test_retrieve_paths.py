"""RETRIEVE shortcuts (docs/performance.md, round 2): the parent read once per
primitive (cse_parent) is never stale, and rcn=1 answered from the stored
text is byte for byte the serialised representation, over HTTP and CoAP."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import GET, RawClient, m2m_options

t = Tap()
O = "Cret"
with Cse() as cse:
    t.rsc(cse.register_ae("ret", origin=O), 2001, 201, "AE registration")
    t.rsc(cse.create("/cse-in/ret", 3, {"m2m:cnt": {"rn": "box"}}, origin=O), 2001, 201, "container")
    con = "quote\" back\\ nl\n \u00e9\U0001F600 1.5e300"
    r = cse.create("/cse-in/ret/box", 4, {"m2m:cin": {"con": con, "lbl": ["a/b"], "cnf": "text/plain:0"}},
                   origin=O)
    t.rsc(r, 2001, 201, "instance")
    ri = r.json["m2m:cin"]["ri"]

    # The stored-text answer equals the canonical compact serialisation.
    la = cse.get("/cse-in/ret/box/la", origin=O)
    t.rsc(la, 2000, 200, "la")
    t.eq(la.text, json.dumps(la.json, separators=(",", ":"), ensure_ascii=False),
         "la's body is compact JSON in attribute order")
    t.eq(la.json["m2m:cin"]["con"], con, "content with escapes survives the stored-text path")
    by_ri = cse.get("/" + ri, origin=O)
    t.eq(by_ri.text, la.text, "the instance by ri and by la: identical bodies")
    # Paths that must not take the shortcut still answer correctly.
    r = cse.get("/cse-in/ret/box/la?atrl=con", origin=O)
    t.eq((r.status, r.json), (200, {"m2m:cin": {"con": con}}), "partial retrieve (atrl) is not the stored text")
    r = cse.get("/cse-in/ret/box/la?lbl=nomatch", origin=O)
    t.rsc(r, 4004, 404, "a conditional retrieve that does not match is 4004")

    # The parent read for access control and the disr hook follows changes
    # made between requests (the store generation moves).
    t.rsc(cse.update("/cse-in/ret/box", {"m2m:cnt": {"disr": True}}, origin=O), 2004, 200, "disr on")
    r = cse.get("/cse-in/ret/box/la", origin=O)
    t.rsc(r, 4005, 405, "la refused right after disr was set")
    t.rsc(cse.update("/cse-in/ret/box", {"m2m:cnt": {"disr": False}}, origin=O), 2004, 200, "disr off")
    # (disr=true removed the instances: TS-0001 9.6.6)
    t.rsc(cse.create("/cse-in/ret/box", 4, {"m2m:cin": {"con": "after"}}, origin=O), 2001, 201, "new instance")
    t.rsc(cse.get("/cse-in/ret/box/la", origin=O), 2000, 200, "la allowed again")

    # Access through the container's acpi: granting and then revoking
    # another originator takes effect at once.
    other = "Cother"
    acp = {"m2m:acp": {"rn": "acp1", "pv": {"acr": [{"acor": [O, other], "acop": 63}]},
                       "pvs": {"acr": [{"acor": [O], "acop": 63}]}}}
    t.rsc(cse.create("/cse-in/ret", 1, acp, origin=O), 2001, 201, "ACP for both originators")
    acp_ri = cse.get("/cse-in/ret/acp1", origin=O).json["m2m:acp"]["ri"]
    t.rsc(cse.get("/cse-in/ret/box/la", origin=other), 4103, 403, "other originator: no acpi yet, denied")
    t.rsc(cse.update("/cse-in/ret/box", {"m2m:cnt": {"acpi": [acp_ri]}}, origin=O), 2004, 200, "acpi set")
    t.rsc(cse.get("/cse-in/ret/box/la", origin=other), 2000, 200, "other originator allowed via the container")
    t.rsc(cse.update("/cse-in/ret/box", {"m2m:cnt": {"acpi": None}}, origin=O), 2004, 200, "acpi removed")
    t.rsc(cse.get("/cse-in/ret/box/la", origin=other), 4103, 403, "other originator denied again")

    # A newer instance replaces the cached answer.
    t.rsc(cse.create("/cse-in/ret/box", 4, {"m2m:cin": {"con": "second"}}, origin=O), 2001, 201, "second")
    t.eq(cse.get("/cse-in/ret/box/la", origin=O).json["m2m:cin"]["con"], "second", "la follows")

    # la answered from the store's memo shares its cached attributes: requests
    # through la that are not plain reads (rcn with children, discovery,
    # DELETE) must leave the next answers intact.
    first = cse.get("/cse-in/ret/box/la", origin=O).text
    t.eq(cse.get("/cse-in/ret/box/la", origin=O).text, first, "la twice (the memo): same body")
    r = cse.get("/cse-in/ret/box/la?rcn=4", origin=O)
    t.eq((r.status, r.json["m2m:cin"]["con"] if r.json else None), (200, "second"), "la with rcn=4")
    t.eq(cse.get("/cse-in/ret/box/la", origin=O).text, first, "la after rcn=4: unchanged")
    t.rsc(cse.update("/cse-in/ret/box/la", {"m2m:cin": {"con": "x"}}, origin=O), 4005, 405,
          "UPDATE through la is refused (no update of an instance)")
    t.eq(cse.get("/cse-in/ret/box/la", origin=O).text, first, "la after the refused UPDATE: unchanged")
    t.rsc(cse.delete("/cse-in/ret/box/la", origin=O), 2002, 200, "DELETE through la")
    r = cse.get("/cse-in/ret/box/la", origin=O)
    t.eq((r.status, r.json["m2m:cin"]["con"]), (200, "after"), "la is the previous instance after the DELETE")

    # CoAP takes the same text.
    client = RawClient(cse.coap_port)
    try:
        rsp = client.request(GET, "/cse-in/ret/box/la", m2m_options(fr=O, rqi="rq1"))
        body = rsp.payload if rsp else ""
        t.eq(body, cse.get("/cse-in/ret/box/la", origin=O).text, "CoAP la body equals the HTTP one")
    finally:
        client.close()
t.done()
