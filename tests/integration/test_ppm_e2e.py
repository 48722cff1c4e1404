"""The Privacy Policy Manager with real processes (issue 13): an m2m-cse whose
das-default is a real m2m-ppm (option 3.1, direct consultations) and which
trusts the PPM's token issuer (option 3.2, tokens), a household (subscriber,
Chome) and an energy-advice provider (Cadvice) driven by curl and the m2m tool.

Preferences and a policy are registered, checked and versioned; a consent
shows the customised policy and the differences; the provider is refused
before consent, served within it (operation, resource, time window), refused
after withdrawal and after expiry. Bad documents and forged consents are
refused with a clear error and grant nothing."""
import datetime
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Cse, Server, Tap, wait_for  # noqa: E402

PPM_BIN = os.path.abspath(os.environ.get("M2M_PPM", os.path.join(harness.BUILD, "m2m-ppm")))
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
SP = "//ironbark.local"
HOSTING = SP + "/id-in"
ROOT = HOSTING + "/cse-in"
METER = ROOT + "/Chome/meter"
ADVICE = HOSTING + "/Cadvice"

t = Tap()


def m2m(*args, timeout=30):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=timeout)


def later(seconds):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)).strftime(
        "%Y%m%dT%H%M%S")


def other_hour():
    return "* * %d * * * *" % ((datetime.datetime.now(datetime.timezone.utc).hour + 3) % 24)


PREFS = {"tags": {"2.0": "personal", "3.0": "hourly", "6.0": 30, "7.0": False},
         "ops": ["retrieve", "discover"], "windows": ["* * * * * * *"], "data": [METER]}
POLICY = {"tags": {"1.0": "Energy Advice Ltd", "2.0": "personal", "3.0": "minutes", "6.0": 90, "7.0": False},
          "ops": ["retrieve", "update"], "originators": [ADVICE]}


def dynamic_acps(cse):
    r = cse.get("/cse-in/Chome/meter?fu=1&ty=1", origin="CAdmin")
    return [u for u in (r.json or {}).get("m2m:uril", []) if "dacp-" in u]


CSE_PORT = harness.free_port()
# The grant lifetime is long (60 s): refusals right after a withdrawal come from the push (ppm-cse).
with Server(PPM_BIN, "/~/id-ppm/ppm-in", ppm_grant_lifetime=60, expiry_interval=100,
            ppm_cse="http://127.0.0.1:%d/~/id-in/cse-in" % CSE_PORT) as ppm:
    P = "/ppm-in"
    # --- documents --------------------------------------------------------------------------------
    r = ppm.create(P, 941, {"ppm:prf": {"rn": "home-prefs", "doc": PREFS}}, origin="Chome")
    t.rsc(r, 2001, 201, "the household registers its privacy preferences")
    t.ok((r.json or {}).get("ppm:prf", {}).get("ver") == 1 and r.json["ppm:prf"].get("own") == "Chome",
         "the preferences are version 1, owned by their registrant", r.text[:300])
    r = ppm.create(P, 942, {"ppm:pol": {"rn": "advice", "doc": POLICY}}, origin="Cadvice")
    t.rsc(r, 2001, 201, "the provider registers its privacy policy")
    r = ppm.update(P + "/advice", {"ppm:pol": {"doc": POLICY}}, origin="Cadvice")
    t.ok(r.rsc == 2004 and r.json["ppm:pol"].get("ver") == 2, "an update makes version 2", r.text[:300])

    bad = [
        ({"tags": {"2.0": "personal"}, "ops": ["retrieve"], "data": [ROOT + "/Cneighbour/meter"]},
         "not the subscriber's", "preferences naming another subscriber's resources"),
        ({"tags": {"2.0": "not-collected"}, "ops": ["retrieve"], "data": [METER]}, "contradictory",
         "contradictory preferences (not collected, yet retrieve)"),
        ({"tags": {"2.0": "very-personal"}, "ops": ["retrieve"], "data": [METER]}, "tag 2.0",
         "an unknown value of tag 2.0"),
        ({"tags": {"42.0": 1}, "ops": ["retrieve"], "data": [METER]}, "not an Annex J tag", "an unknown tag"),
        ({"tags": {}, "ops": ["steal"], "data": [METER]}, "ops", "an unknown operation"),
        ({"tags": {}, "ops": ["retrieve"], "data": [METER + "/*"]}, "pattern", "a wildcard resource"),
        ({"tags": {}, "ops": ["retrieve"], "windows": ["whenever"], "data": [METER]}, "schedule",
         "a malformed time window"),
    ]
    for doc, words, name in bad:
        r = ppm.create(P, 941, {"ppm:prf": {"doc": doc}}, origin="Chome")
        t.ok(r.rsc == 4000 and words in r.text, "refused: " + name, r.text[:300])
    r = ppm.create(P, 942, {"ppm:pol": {"doc": {"tags": {"7.0": "sometimes"}, "ops": ["retrieve"],
                                                 "originators": [ADVICE]}}}, origin="Cadvice")
    t.ok(r.rsc == 4000 and "7.0" in r.text, "refused: a policy with a malformed sharing tag", r.text[:300])
    r = ppm.get(P + "/home-prefs", origin="Cadvice")
    t.rsc(r, 4103, 403, "the provider cannot read the household's preferences")
    t.rsc(ppm.get(P + "/advice", origin="Chome"), 2000, 200, "the household reads the provider's policy")

    # --- consent: shown, then decided ----------------------------------------------------------------
    r = ppm.create(P, 943, {"ppm:cns": {"rn": "forged", "prf": "home-prefs", "pol": "advice", "acc": True,
                                        "et": later(600)}}, origin="Cadvice")
    t.ok(r.rsc == 4103 and "another subscriber" in r.text, "the provider forging the household's consent is refused",
         r.text[:300])
    r = ppm.create(P, 943, {"ppm:cns": {"rn": "c1", "prf": "home-prefs", "pol": "advice",
                                        "data": [ROOT + "/Cneighbour/meter"], "et": later(600)}}, origin="Chome")
    t.ok(r.rsc == 4000 and "not among" in r.text, "a consent for resources the household does not own is refused",
         r.text[:300])
    r = ppm.create(P, 943, {"ppm:cns": {"rn": "c1", "prf": "home-prefs", "pol": "advice"}}, origin="Chome")
    t.ok(r.rsc == 4000 and "expiry" in r.text, "a consent without an expiry is refused", r.text[:300])
    r = ppm.create(P, 943, {"ppm:cns": {"rn": "c1", "prf": "home-prefs", "pol": "advice", "et": later(600)}},
                   origin="Chome")
    cns = (r.json or {}).get("ppm:cns", {})
    t.ok(r.rsc == 2001 and cns.get("acop") == 0, "a pending consent grants nothing", r.text[:400])
    diff = {(d.get("tag") or d.get("op")) for d in cns.get("diff", [])}
    t.eq(sorted(diff), ["3.0", "6.0", "update"], "the differences: 3.0 more often, 6.0 kept longer, update asked")
    t.eq(cns.get("cpol", {}).get("ops"), ["retrieve"], "the customised policy grants retrieve only")
    t.eq(cns.get("polv"), 2, "the consent names the policy version it was computed from")

    with Cse(http_port=CSE_PORT, das_default=ppm.url, token_trust_file=os.path.join(ppm.data_dir, "issuers.json"), das_timeout=2000,
             expiry_interval=100, audit_grants="true") as cse:
        served = []

        def provider(method, path, **kw):
            """A request of the provider's; the ones served are the access log's truth."""
            r = cse.request(method, path, origin="Cadvice", **kw)
            if r.rsc in (2000, 2004):
                served.append(path)
            return r

        t.rsc(cse.register_ae("Chome", origin="Chome"), 2001, 201, "the household's AE registers at the CSE")
        own = {"acr": [{"acor": ["Chome"], "acop": 63}]}
        cse.create("/cse-in/Chome", 1, {"m2m:acp": {"rn": "own", "pv": own, "pvs": own}}, origin="Chome")
        t.rsc(cse.create("/cse-in/Chome", 3, {"m2m:cnt": {"rn": "meter", "acpi": ["cse-in/Chome/own"]}},
                         origin="Chome"), 2001, 201, "the meter's container, only the household may use it")
        cse.create("/cse-in/Chome/meter", 4, {"m2m:cin": {"con": "1.2 kWh"}}, origin="Chome")
        cse.create("/cse-in/Chome", 3, {"m2m:cnt": {"rn": "diary", "acpi": ["cse-in/Chome/own"]}}, origin="Chome")

        t.rsc(provider("GET", "/cse-in/Chome/meter/la"), 4103, 403, "before consent: the provider is refused")
        r = ppm.update(P + "/c1", {"ppm:cns": {"acc": True}}, origin="Chome")
        t.ok(r.rsc == 2004 and r.json["ppm:cns"].get("acop") == 2 and r.json["ppm:cns"].get("dect"),
             "the household accepts: retrieve granted, the decision's time recorded", r.text[:400])
        t.rsc(provider("GET", "/cse-in/Chome/meter/la"), 2000, 200,
              "after consent: the provider reads the meter's latest reading")
        t.rsc(provider("PUT", "/cse-in/Chome/meter", body={"m2m:cnt": {"lbl": ["x"]}}), 4103, 403,
              "update, which the household did not consent to, is refused")
        t.rsc(provider("GET", "/cse-in/Chome/diary"), 4103, 403, "another of her resources is refused")
        t.rsc(cse.get("/cse-in/Chome/meter", origin="Cstranger"), 4103, 403, "another originator is refused")
        r = m2m("--das", ppm.url, "--from", ADVICE, "token", "get", "--target", METER, "--op", "retrieve")
        lines = r.stdout.splitlines()
        token = lines[1] if len(lines) > 1 else ""
        t.ok(r.returncode == 0 and token.count(".") == 2, "option 3.2: the provider gets a token from the PPM",
             r.stdout + r.stderr)
        t.rsc(provider("GET", "/cse-in/Chome/meter", headers={"Authorization": "Bearer " + token}),
              2000, 200, "the token grants the consented RETRIEVE")

        # --- revocations the CSE does not take ---------------------------------------------------------
        rvk = {"das:rvk": {"orp": [ADVICE]}}
        r = cse.request("POST", "/cse-in", origin="Cstranger", body=rvk)
        t.rsc(r, 4103, 403, "a revocation from an originator that is no trusted DAS is refused")
        r = cse.request("POST", "/cse-in", origin="/id-ppm", body={"das:rvk": {"orp": "Cadvice"}})
        t.ok(r.rsc == 4000 and "orp" in r.text, "a malformed revocation is refused with a clear error", r.text[:300])

        # --- withdrawal: pushed to the CSE, in effect at once --------------------------------------------
        r = ppm.update(P + "/c1", {"ppm:cns": {"acc": False}}, origin="Chome")
        cns = (r.json or {}).get("ppm:cns", {})
        t.ok(r.rsc == 2004 and cns.get("acop") == 0, "the household withdraws", r.text[:300])
        t.eq(cns.get("psh", {}).get("rsc"), 2000, "the withdrawal reached the CSE before it was answered (psh)")
        t.rsc(provider("GET", "/cse-in/Chome/meter/la"), 4103, 403,
              "right after withdrawal the cached grant (dynamic ACP, decision) is dropped: refused")
        t.rsc(provider("GET", "/cse-in/Chome/meter", headers={"Authorization": "Bearer " + token}), 4103, 403,
              "and the token issued before the withdrawal is refused")
        r = m2m("--das", ppm.url, "--from", ADVICE, "token", "get", "--target", METER, "--op", "retrieve")
        t.ok(r.returncode != 0, "after withdrawal the PPM issues no token", r.stdout + r.stderr)
        t.rsc(provider("GET", "/cse-in/Chome/meter"), 4103, 403, "after withdrawal: the provider is refused")

        # --- time windows -------------------------------------------------------------------------------
        night = dict(PREFS, windows=[other_hour()])
        ppm.update(P + "/home-prefs", {"ppm:prf": {"doc": night}}, origin="Chome")
        r = ppm.create(P, 943, {"ppm:cns": {"rn": "c2", "prf": "home-prefs", "pol": "advice", "acc": True,
                                            "et": later(600)}}, origin="Chome")
        t.ok(r.rsc == 2001 and r.json["ppm:cns"].get("ctw") == [other_hour()],
             "a consent within the household's window (another hour) is accepted", r.text[:300])
        t.rsc(provider("GET", "/cse-in/Chome/meter"), 4103, 403, "outside the window: refused")
        ppm.delete(P + "/c2", origin="Chome")

        # --- expiry --------------------------------------------------------------------------------------
        ppm.update(P + "/home-prefs", {"ppm:prf": {"doc": PREFS}}, origin="Chome")
        r = ppm.create(P, 943, {"ppm:cns": {"rn": "c3", "prf": "home-prefs", "pol": "advice", "acc": True,
                                            "et": later(4)}}, origin="Chome")
        t.rsc(r, 2001, 201, "a consent for 4 seconds")
        cns = (r.json or {}).get("ppm:cns", {})
        t.ok(cns.get("cet") and cns.get("et", "") > cns["cet"],
             "its expiry is kept as cet; the record (et) lasts ppm-history-days longer", r.text[:400])
        t.rsc(provider("GET", "/cse-in/Chome/meter"), 2000, 200, "within it the provider is served")
        # A grant's pl is whole seconds, at least 1: it may outlast the consent by less than a second.
        cet = datetime.datetime.strptime(cns.get("cet", later(0))[:15], "%Y%m%dT%H%M%S").replace(
            tzinfo=datetime.timezone.utc)
        wait_for(lambda: datetime.datetime.now(datetime.timezone.utc) > cet + datetime.timedelta(seconds=2), 10)
        t.ok(wait_for(lambda: not dynamic_acps(cse), 10), "the CSE's cached grant ended with the consent")
        t.rsc(provider("GET", "/cse-in/Chome/meter"), 4103, 403, "after expiry: refused")
        r = ppm.get(P + "/c3", origin="Chome")
        t.ok(r.rsc == 2000 and r.json["ppm:cns"].get("acc") is True,
             "the expired consent's record stays (history) for the access log", r.text[:300])

        # --- the m2m tool (m2m ppm ...) -----------------------------------------------------------------
        doc = os.path.join(ppm.data_dir, "prefs.json")
        with open(doc, "w") as f:
            json.dump(PREFS, f)
        sub = ["--ppm", ppm.url, "--from", "Chome", "ppm"]
        r = m2m(*sub, "prefs", "home-prefs", "--file", doc)
        t.ok(r.returncode == 0 and "home-prefs version 4" in r.stdout, "m2m ppm prefs: an update, version 4",
             r.stdout + r.stderr)
        r = m2m(*sub, "consent", "c4", "--prefs", "home-prefs", "--policy", "advice", "--until", later(600))
        t.ok(r.returncode == 0 and "decision=pending" in r.stdout and "operation update" in r.stdout and
             "tag 6.0 = 90 (you: 30)" in r.stdout, "m2m ppm consent: pending, the differences shown", r.stdout + r.stderr)
        r = m2m("--ppm", ppm.url, "--from", "Cadvice", "ppm", "accept", "c4")
        t.ok(r.returncode != 0 and "4103" in r.stdout + r.stderr, "m2m ppm accept by the provider: refused",
             r.stdout + r.stderr)
        t.rsc(provider("GET", "/cse-in/Chome/meter"), 4103, 403, "so the provider is still refused")
        r = m2m(*sub, "accept", "c4")
        t.ok(r.returncode == 0 and "decision=accepted" in r.stdout, "m2m ppm accept", r.stdout + r.stderr)
        t.rsc(provider("GET", "/cse-in/Chome/meter"), 2000, 200, "the provider is served")
        r = m2m(*sub, "withdraw", "c4")
        t.ok(r.returncode == 0 and "decision=refused" in r.stdout, "m2m ppm withdraw", r.stdout + r.stderr)
        t.rsc(provider("GET", "/cse-in/Chome/meter"), 4103, 403, "right after withdrawal the provider is refused")

        # --- the access log ----------------------------------------------------------------------------
        r = m2m(*sub, "log", "home-prefs", "--file", os.path.join(cse.data_dir, "audit.log"))
        lines = r.stdout.splitlines()
        permits = [ln for ln in lines if ln.split()[1:2] == ["Cadvice"] and " permit" in ln]
        t.eq(len(permits), len(served), "m2m ppm log: as many of the provider's accesses as were served")
        t.ok(all("RETRIEVE cse-in/Chome/meter" in ln and "consent=" in ln for ln in permits),
             "each a RETRIEVE of the meter, with its consent", lines)
        # The withdrawals reached the CSE (psh): each access is under the consent created last
        # among those in force then, and the expired c3 is still on record.
        named = {ln.split("consent=")[1] for ln in permits}
        t.eq(sorted(named), ["c1 (withdrawn)", "c3 (expired)", "c4 (withdrawn)"],
             "each access names its consent, now withdrawn or expired")
        t.ok(any(" deny" in ln and "Cadvice" in ln for ln in lines), "the refusals are listed too", lines)
        t.ok(not any(ln.split()[1:2] == ["Chome"] for ln in lines), "the household's own accesses are not")
        t.ok(all(ln.split()[1] in ("Cadvice", "Cstranger", "CAdmin") for ln in lines),
             "and only those who asked: the provider, the stranger, the test's admin (not the CSE's upkeep)", lines)

        # --- deletion requests: carried out at the CSE, the outcome recorded -----------------------------
        r = ppm.create(P, 944, {"ppm:dlr": {"cns": "c4"}}, origin="Cadvice")
        t.ok(r.rsc == 4103 and "another subscriber" in r.text, "the provider cannot ask to delete with her consent",
             r.text[:300])
        r = ppm.create(P, 944, {"ppm:dlr": {"data": [ROOT + "/Cneighbour/meter"]}}, origin="Chome")
        t.ok(r.rsc == 4103 and "not yours" in r.text, "nor can she ask to delete another's resources", r.text[:300])
        r = ppm.create(P, 944, {"ppm:dlr": {}}, origin="Chome")
        t.ok(r.rsc == 4000 and "either cns" in r.text, "a deletion request names a consent or resources", r.text[:300])
        r = m2m(*sub, "erase", "e1", "--consent", "c4")
        t.ok(r.returncode == 1 and "e1 failed" in r.stdout and METER + " 4103" in r.stdout,
             "m2m ppm erase before her ACP lets the PPM delete: recorded as failed (4103 at the CSE)",
             r.stdout + r.stderr)
        t.rsc(cse.get("/cse-in/Chome/meter", origin="Chome"), 2000, 200, "the meter is still there")
        ppm_may_delete = {"acr": [{"acor": ["Chome"], "acop": 63}, {"acor": ["/id-ppm"], "acop": 8}]}
        t.rsc(cse.update("/cse-in/Chome/own", {"m2m:acp": {"pv": ppm_may_delete}}, origin="Chome"), 2004, 200,
              "the household lets the PPM (its CSE-ID) delete her data")
        r = m2m(*sub, "erase", "e2", "--consent", "c4")
        t.ok(r.returncode == 0 and "e2 done" in r.stdout and METER + " 2002" in r.stdout,
             "m2m ppm erase: the data c4 covered is deleted at the CSE", r.stdout + r.stderr)
        t.rsc(cse.get("/cse-in/Chome/meter", origin="Chome"), 4004, 404, "the meter and its readings are gone")
        r = ppm.get(P + "/e2", origin="Chome")
        t.ok(r.rsc == 2000 and r.json["ppm:dlr"].get("res") == [{"ri": METER, "rsc": 2002}],
             "the deletion request stays on record with its outcome", r.text[:300])
        t.rsc(ppm.get(P + "/e2", origin="Cadvice"), 4103, 403, "only she reads it")
        t.ok(cse.alive() and ppm.alive(), "both servers still run")
t.done()
