"""notificationTargetSelfReference: a <subscription> whose nu names another
AE is accepted, and that AE removes itself with DELETE <sub>/ntsr as the
notificationTargetPolicy allows (the subscriber's own default policy, else
defaultNTP): acn 1 accept, 2 reject, 3 ask the subscriber, 4 inform it and
refuse. Other operations on ntsr, other originators and bad policies are
refused with nothing changed."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, sgn

t = Tap()
A1, A2, A3 = "Cn1", "Cn2", "Cn3"

rx = Receiver().start()
try:
    with Cse(cse_acpi="cse-in/rootAcp") as cse:
        # AE 1 and AE 3 may make policies under the CSEBase
        cse.create("/cse-in", 1, {"m2m:acp": {"rn": "rootAcp", "pv": {"acr": [{"acor": [A1, A3], "acop": 63}]},
                                              "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}})
        r = cse.create("/cse-in", 1, {"m2m:acp": {"rn": "notify2", "pv": {"acr": [{"acor": [A1, A2], "acop": 63}]},
                                                  "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}})
        notify2 = r.json["m2m:acp"]["ri"]
        r = cse.register_ae("ae1", origin=A1, poa=[rx.url])
        t.rsc(r, 2001, 201, "AE 1 (the subscriber)")
        r = cse.register_ae("ae2", origin=A2, poa=[rx.url], acpi=[notify2])
        t.rsc(r, 2001, 201, "AE 2 (the notification target), which lets AE 1 notify it")
        cse.register_ae("ae3", origin=A3)
        # AE 2 may see the subscription (for the checks below)
        r = cse.create("/cse-in/ae1", 1, {"m2m:acp": {"rn": "acp", "pv": {"acr": [{"acor": [A1, A2], "acop": 63}]},
                                                      "pvs": {"acr": [{"acor": [A1], "acop": 63}]}}}, origin=A1)
        acp = r.json["m2m:acp"]["ri"]
        rx.clear()
        r = cse.create("/cse-in/ae1", 23, {"m2m:sub": {"rn": "sub", "nu": [A2], "acpi": [acp]}},
                       origin=A1)
        t.rsc(r, 2001, 201, "a subscription whose nu is another AE's ID is accepted")
        t.ok(any((sgn(q["body"]) or {}).get("vrq") for q in rx.snapshot()), "... after verifying it at that AE's poa")
        sub = "/cse-in/ae1/sub"

        def nu():
            return cse.get(sub, origin=A1).json["m2m:sub"]["nu"]

        t.rsc(cse.get(sub + "/ntsr", origin=A2), 4005, 405, "RETRIEVE ntsr -> 4005")
        t.rsc(cse.update(sub + "/ntsr", {"m2m:sub": {"lbl": ["x"]}}, origin=A2), 4005, 405, "UPDATE ntsr -> 4005")
        t.rsc(cse.create(sub + "/ntsr", 23, {"m2m:sub": {"nu": [rx.url]}}, origin=A2), 4005, 405,
              "CREATE under ntsr -> 4005")
        t.rsc(cse.create(sub, 18, {"m2m:sch": {"rn": "ntsr", "se": {"sce": ["* * * * * * *"]}}}, origin=A1),
              4000, 400, "ntsr is a reserved name under a subscription")
        t.rsc(cse.delete("/cse-in/ae1/nosub/ntsr", origin=A1), 4004, 404, "ntsr of a missing subscription -> 4004")
        t.rsc(cse.delete(sub + "/ntsr", origin=A3), 4103, 403, "an originator that is no target -> 4103")
        t.rsc(cse.delete(sub + "/ntsr", origin=A2), 4103, 403, "the system default policy (no acn) refuses -> 4103")
        t.eq(nu(), [A2], "nu unchanged after refusals")

        # --- the subscriber's own default policy ------------------------------------
        r = cse.create("/cse-in", 26, {"m2m:ntp": {"rn": "mine", "plbl": "Default", "acn": 5, "cr": None}}, origin=A1)
        t.rsc(r, 4000, 400, "acn outside 1..4 -> 4000")
        r = cse.create("/cse-in", 26, {"m2m:ntp": {"rn": "mine", "plbl": "Default", "acn": 2, "cr": None}}, origin=A1)
        t.rsc(r, 2001, 201, "AE 1's default policy: reject")
        t.rsc(cse.delete(sub + "/ntsr", origin=A2), 4103, 403, "acn 2 (reject) -> 4103")
        t.eq(nu(), [A2], "nu unchanged")

        cse.update("/cse-in/mine", {"m2m:ntp": {"acn": 4}}, origin=A1)
        rx.clear()
        t.rsc(cse.delete(sub + "/ntsr", origin=A2), 4103, 403, "acn 4 (inform) -> 4103")
        reqs = rx.wait(lambda q: any((sgn(x["body"]) or {}).get("trr") for x in q), timeout=5)
        s = [sgn(x["body"]) for x in reqs if (sgn(x["body"]) or {}).get("trr")]
        t.ok(s and s[0]["sur"].endswith("/" + cse.get(sub, origin=A1).json["m2m:sub"]["ri"]) and s[0].get("ntt") == A2,
             "acn 4: the subscriber is told {trr: true, ntt: the target}", reqs)
        t.eq(nu(), [A2], "nu unchanged")

        cse.update("/cse-in/mine", {"m2m:ntp": {"acn": 3}}, origin=A1)
        rx.clear()
        rx.set_reply(4103)
        t.rsc(cse.delete(sub + "/ntsr", origin=A2), 4103, 403, "acn 3: the subscriber refuses -> 4103")
        t.ok(any((sgn(x["body"]) or {}).get("tra") for x in rx.snapshot()), "acn 3: the subscriber was asked {tra: true}")
        t.eq(nu(), [A2], "nu unchanged")
        rx.set_reply(2000)
        t.rsc(cse.delete(sub + "/ntsr", origin=A2), 2002, 200, "acn 3: the subscriber allows -> 2002")
        t.eq(nu(), [], "the target is gone from nu")

        # --- acn 1 accept; other entries stay ----------------------------------------
        r = cse.create("/cse-in/ae1", 23, {"m2m:sub": {"rn": "sub2", "nu": [rx.url, "/id-in/" + A2],
                                                      "acpi": [acp]}}, origin=A1)
        t.rsc(r, 2001, 201, "a subscription with a URL and AE 2's SP-relative ID")
        cse.update("/cse-in/mine", {"m2m:ntp": {"acn": 1}}, origin=A1)
        t.rsc(cse.delete("/cse-in/ae1/sub2/ntsr", origin=A2), 2002, 200, "acn 1 (accept) -> 2002")
        t.eq(cse.get("/cse-in/ae1/sub2", origin=A1).json["m2m:sub"]["nu"], [rx.url],
             "AE 2 went (in its other ID form), the URL stayed")
        t.rsc(cse.delete("/cse-in/ae1/sub2/ntsr", origin=A2), 4103, 403, "a second removal: no longer a target -> 4103")
        # another AE's default policy does not govern AE 1's subscriptions
        cse.delete("/cse-in/mine", origin=A1)
        cse.create("/cse-in", 26, {"m2m:ntp": {"rn": "theirs", "plbl": "Default", "acn": 1, "cr": None}}, origin=A3)
        cse.update("/cse-in/ae1/sub2", {"m2m:sub": {"nu": [rx.url, A2]}}, origin=A1)
        t.rsc(cse.delete("/cse-in/ae1/sub2/ntsr", origin=A2), 4103, 403,
              "another subscriber's default policy does not apply: defaultNTP refuses")
finally:
    rx.stop()
t.done()
