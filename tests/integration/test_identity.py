"""Originator identity across ID forms (Ironbark issue 16, item 2): a
credential bound to a foreign service provider ("//evil.example/*") speaks
only for that SP's IDs, and those IDs are never the local AEs of the same
name: not the admin, not an owner, not an ACP entry written in CSE-relative
or SP-relative form, not a group member, not a subscription's own target.
The local forms (Cother, /id-in/Cother, //ironbark.local/id-in/Cother, SP-ID
in any case) still name the same AE. Requests over TLS-PSK use openssl
s_client (tests/integration/secure.py)."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
import secure

EVIL_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OTHER_KEY = "00112233445566778899aabbccddeeff"
EVIL_ID, OTHER_ID = "evil@test.example", "other@test.example"
SP = "ironbark.local"

t = Tap()


def acp(rn, pv, pvs):
    return {"m2m:acp": {"rn": rn, "pv": {"acr": pv}, "pvs": {"acr": pvs}}}


with Cse(psk=["%s:%s://evil.example/*" % (EVIL_ID, EVIL_KEY), "%s:%s:Cother" % (OTHER_ID, OTHER_KEY)]) as cse:
    def evil(method, path, origin, **kw):
        return secure.psk_request(cse.https_port, EVIL_ID, EVIL_KEY, method, path, origin, **kw)

    def other(method, path, origin, **kw):
        return secure.psk_request(cse.https_port, OTHER_ID, OTHER_KEY, method, path, origin, **kw)

    # Cother registers over its own credential and keeps an owner-only container.
    r = other("POST", "/cse-in", "Cother", ty=2,
              body={"m2m:ae": {"rn": "other", "api": "Nother", "rr": False, "srv": ["3"]}})
    t.rsc(r, 2001, 201, "Cother registers over its PSK")
    r = other("POST", "/cse-in/other", "Cother", ty=3, body={"m2m:cnt": {"rn": "private"}})
    t.rsc(r, 2001, 201, "Cother creates a container without acpi (owner only)")
    r = other("POST", "/cse-in/other/private", "Cother", ty=4, body={"m2m:cin": {"con": "secret"}})
    t.rsc(r, 2001, 201, "and writes into it")

    # The reported attack: the foreign SP's CAdmin and Cother.
    for path, what in (("/cse-in/other/private", "Cother's container"), ("/cse-in", "the CSEBase")):
        r = evil("GET", path, "//evil.example/id-in/CAdmin")
        t.rsc(r, 4103, 403, "//evil.example/id-in/CAdmin has no admin rights on %s" % what)
    r = evil("DELETE", "/cse-in/other/private", "//evil.example/id-in/CAdmin")
    t.rsc(r, 4103, 403, "//evil.example/id-in/CAdmin cannot delete Cother's container")
    r = evil("GET", "/cse-in/other/private/la", "//evil.example/id-in/Cother")
    t.rsc(r, 4103, 403, "//evil.example/id-in/Cother cannot read Cother's owner-only container")
    t.ok("secret" not in r.text, "nothing of the content leaks", r.text)
    r = evil("DELETE", "/cse-in/other/private", "//evil.example/id-in/Cother")
    t.rsc(r, 4103, 403, "//evil.example/id-in/Cother cannot delete it")
    r = evil("DELETE", "/cse-in/other", "//evil.example/id-in/Cother")
    t.rsc(r, 4103, 403, "nor the AE <other> itself")
    # The foreign credential cannot claim the local IDs in any form.
    for origin in ("Cother", "/id-in/Cother", "//%s/id-in/Cother" % SP, "//IRONBARK.LOCAL/id-in/CAdmin", "CAdmin"):
        r = evil("GET", "/cse-in/other/private", origin)
        t.rsc(r, 4106, 403, "the //evil.example/* credential may not speak as %s" % origin)
    # ...and the local credential cannot claim the foreign ID.
    r = other("GET", "/cse-in/other/private", "//evil.example/id-in/Cother")
    t.rsc(r, 4106, 403, "Cother's credential may not speak as //evil.example/id-in/Cother")

    # The genuine local forms are still the same owner.
    for origin in ("Cother", "/id-in/Cother", "//%s/id-in/Cother" % SP, "//IronBark.Local/id-in/Cother"):
        r = other("GET", "/cse-in/other/private/la", origin)
        t.eq((r.rsc, (r.json or {}).get("m2m:cin", {}).get("con")), (2000, "secret"),
             "%s reads Cother's container as its owner" % origin)
    for origin in ("/id-in/CAdmin", "//%s/id-in/CAdmin" % SP):
        t.rsc(cse.get("/cse-in/other/private", origin=origin), 2000, 200, "%s is the admin" % origin)
    t.rsc(cse.get("/cse-in/other/private", origin="/id-mn/CAdmin"), 4103, 403,
          "/id-mn/CAdmin (another CSE of this SP) is not")

    # ACP entries: CSE-relative and SP-relative ones name local AEs only; an
    # absolute entry for the foreign SP names that foreign AE only.
    t.rsc(cse.register_ae("friend", origin="Cfriend"), 2001, 201, "Cfriend registers (plain HTTP)")
    t.rsc(cse.register_ae("guest", origin="Cguest"), 2001, 201, "a local Cguest registers too")
    r = other("POST", "/cse-in/other", "Cother", ty=1, body=acp("share", [
        {"acor": ["Cother"], "acop": 63},
        {"acor": ["/id-in/Cfriend"], "acop": 2},
        {"acor": ["//Evil.Example/id-in/Cguest"], "acop": 2}], [{"acor": ["Cother"], "acop": 63}]))
    t.rsc(r, 2001, 201, "Cother creates an ACP")
    other("POST", "/cse-in/other", "Cother", ty=3, body={"m2m:cnt": {"rn": "shared"}})
    r = other("PUT", "/cse-in/other/shared", "Cother", body={"m2m:cnt": {"acpi": ["cse-in/other/share"]}})
    t.rsc(r, 2004, 200, "and links it to a container")
    r = evil("GET", "/cse-in/other/shared", "//evil.example/id-in/Cother")
    t.rsc(r, 4103, 403, "acor 'Cother' does not match //evil.example/id-in/Cother")
    r = evil("GET", "/cse-in/other/shared", "//evil.example/id-in/Cfriend")
    t.rsc(r, 4103, 403, "acor '/id-in/Cfriend' does not match //evil.example/id-in/Cfriend")
    r = evil("GET", "/cse-in/other/share", "//evil.example/id-in/Cother")
    t.rsc(r, 4103, 403, "pvs 'Cother' does not let the foreign Cother read the ACP")
    r = evil("GET", "/cse-in/other/shared", "//evil.example/id-in/Cguest")
    t.rsc(r, 2000, 200, "acor '//Evil.Example/id-in/Cguest' matches that foreign AE (SP-ID in any case)")
    r = evil("DELETE", "/cse-in/other/shared", "//evil.example/id-in/Cguest")
    t.rsc(r, 4103, 403, "with RETRIEVE only")
    t.rsc(cse.get("/cse-in/other/shared", origin="//%s/id-in/Cfriend" % SP), 2000, 200,
          "acor '/id-in/Cfriend' matches the local Cfriend in absolute form")
    t.rsc(cse.get("/cse-in/other/shared", origin="Cguest"), 4103, 403,
          "the foreign acor entry does not match the local Cguest")

    # Group members: a member named Cfriend is the local Cfriend only.
    r = other("POST", "/cse-in/other", "Cother", ty=9,
              body={"m2m:grp": {"rn": "team", "mt": 2, "mnm": 5, "mid": ["Cfriend"]}})
    t.rsc(r, 2001, 201, "Cother creates a group with member Cfriend")
    other("POST", "/cse-in/other", "Cother", ty=1, body=acp("teamacp", [
        {"acor": ["cse-in/other/team"], "acop": 2}], [{"acor": ["Cother"], "acop": 63}]))
    other("POST", "/cse-in/other", "Cother", ty=3, body={"m2m:cnt": {"rn": "teamonly"}})
    r = other("PUT", "/cse-in/other/teamonly", "Cother", body={"m2m:cnt": {"acpi": ["cse-in/other/teamacp"]}})
    t.rsc(r, 2004, 200, "a container readable by the group's members")
    r = evil("GET", "/cse-in/other/teamonly", "//evil.example/id-in/Cfriend")
    t.rsc(r, 4103, 403, "//evil.example/id-in/Cfriend is not the group member Cfriend")
    t.rsc(cse.get("/cse-in/other/teamonly", origin="/id-in/Cfriend"), 2000, 200,
          "/id-in/Cfriend is (SP-relative form)")

    # Subscriptions: a domain entry lets every evil.example originator
    # subscribe to a container; the subscriber's own ID needs no verification,
    # but a foreign subscriber naming the local Cother as target is not Cother.
    other("POST", "/cse-in/other", "Cother", ty=1, body=acp("feedacp", [
        {"acor": ["Cother"], "acop": 63}, {"acor": ["//evil.example"], "acop": 3}],
        [{"acor": ["Cother"], "acop": 63}]))
    other("POST", "/cse-in/other", "Cother", ty=3, body={"m2m:cnt": {"rn": "feed"}})
    r = other("PUT", "/cse-in/other/feed", "Cother", body={"m2m:cnt": {"acpi": ["cse-in/other/feedacp"]}})
    t.rsc(r, 2004, 200, "a container open to the evil.example domain")
    for target in ("Cother", "/id-in/Cother", "//%s/id-in/Cother" % SP):
        r = evil("POST", "/cse-in/other/feed", "//evil.example/id-in/Cother", ty=23,
                 body={"m2m:sub": {"nu": [target]}})
        t.rsc(r, 4101, 403, "//evil.example/id-in/Cother may not send notifications to %s" % target)
    r = evil("POST", "/cse-in/other/feed", "//evil.example/id-in/Cother", ty=23,
             body={"m2m:sub": {"rn": "evilsub", "nu": ["//EVIL.example/id-in/Cother"]}})
    t.rsc(r, 2001, 201, "a foreign subscriber naming itself (SP-ID in another case) needs no verification")
    t.eq((r.json or {}).get("m2m:sub", {}).get("cr"), "//evil.example/id-in/Cother",
         "the subscription records the foreign creator")
    r = other("POST", "/cse-in/other/feed", "Cother", ty=23,
              body={"m2m:sub": {"rn": "mysub", "nu": ["//%s/id-in/Cother" % SP]}})
    t.rsc(r, 2001, 201, "Cother naming itself in absolute form needs no verification either")
    r = evil("DELETE", "/cse-in/other/feed/mysub", "//evil.example/id-in/Cother")
    t.rsc(r, 4103, 403, "the foreign Cother cannot delete the local Cother's subscription")

    # Nothing was lost, and the refusals are audited under the foreign ID.
    r = other("DELETE", "/cse-in/other/private", "//%s/id-in/Cother" % SP)
    t.rsc(r, 2002, 200, "the owner (absolute form) deletes its container")
    with open(os.path.join(cse.data_dir, "audit.log")) as f:
        audit = [json.loads(line) for line in f if line.strip()]
    t.ok(any(a["originator"] == "//evil.example/id-in/CAdmin" and a["decision"] == "deny" for a in audit),
         "the audit log records the foreign CAdmin's refusals")

t.done()
