"""The Privacy Policy Manager in option 0 (issue 13): a real m2m-ppm acting as an AE
(Cppm) of a real m2m-cse that consults no DAS, so the ACPs the PPM creates and links
decide alone. A household (Chome) delegates the management of her meter's access to
the PPM; an energy-advice provider (Cadvice) is refused before consent, served exactly
within it (operation, resource, time window, through an ACP with actw), refused right
after withdrawal and after expiry; the PPM unlinks what it linked."""
import datetime
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Cse, Server, Tap, wait_for  # noqa: E402

PPM_BIN = os.path.abspath(os.environ.get("M2M_PPM", os.path.join(harness.BUILD, "m2m-ppm")))
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
ROOT = "//ironbark.local/id-in/cse-in"
METER = ROOT + "/Chome/meter"
ADVICE = "//ironbark.local/id-in/Cadvice"
OWN = ["cse-in/Chome/own"]

t = Tap()


def later(seconds):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)).strftime(
        "%Y%m%dT%H%M%S")


def other_hour():
    return "* * %d * * * *" % ((datetime.datetime.now(datetime.timezone.utc).hour + 3) % 24)


PREFS = {"tags": {"2.0": "personal", "3.0": "hourly"}, "ops": ["retrieve"], "windows": ["* * * * * * *"],
         "data": [METER]}
POLICY = {"tags": {"2.0": "personal", "3.0": "hourly"}, "ops": ["retrieve", "update"], "originators": [ADVICE]}

CSE_PORT = harness.free_port()
with Server(PPM_BIN, "/~/id-ppm/ppm-in", ppm_cse="http://127.0.0.1:%d/~/id-in/cse-in" % CSE_PORT, ppm_ae="Cppm",
            expiry_interval=100) as ppm, Cse(http_port=CSE_PORT, expiry_interval=100, audit_grants="true") as cse:
    P = "/ppm-in"
    served = []

    def acpi():
        r = cse.get("/cse-in/Chome/meter", origin="Chome")
        return (r.json or {}).get("m2m:cnt", {}).get("acpi")

    def consent(rn, et=600, **extra):
        body = dict({"rn": rn, "prf": "home-prefs", "pol": "advice", "et": later(et)}, **extra)
        r = ppm.create(P, 943, {"ppm:cns": body}, origin="Chome")
        return r, (r.json or {}).get("ppm:cns", {}).get("ri", "")

    def enf(rn):
        return (ppm.get(P + "/" + rn, origin="Chome").json or {}).get("ppm:cns", {}).get("enf") or {}

    def meter(**kw):
        """The provider reads the meter; what is served is the access log's truth."""
        r = cse.get("/cse-in/Chome/meter", origin="Cadvice", **kw)
        if r.rsc == 2000:
            served.append(r)
        return r

    cse.register_ae("Chome", origin="Chome")
    own = {"acr": [{"acor": ["Chome"], "acop": 63}]}
    cse.create("/cse-in/Chome", 1, {"m2m:acp": {"rn": "own", "pv": own, "pvs": own}}, origin="Chome")
    t.rsc(cse.create("/cse-in/Chome", 3, {"m2m:cnt": {"rn": "meter", "acpi": OWN}}, origin="Chome"), 2001, 201,
          "the household's meter, only she may use it")
    cse.create("/cse-in/Chome/meter", 4, {"m2m:cin": {"con": "1.2 kWh"}}, origin="Chome")
    ppm.create(P, 941, {"ppm:prf": {"rn": "home-prefs", "doc": PREFS}}, origin="Chome")
    ppm.create(P, 942, {"ppm:pol": {"rn": "advice", "doc": POLICY}}, origin="Cadvice")
    t.rsc(meter(), 4103, 403, "before consent: the provider is refused")

    # --- without her delegation the PPM can link nothing ---------------------------------------------
    r, c0 = consent("c0", acc=True)
    t.rsc(r, 2001, 201, "a consent accepted before she delegated to the PPM")
    t.ok(wait_for(lambda: cse.get("/cse-in/Cppm/ppm-" + c0, origin="Cppm").rsc == 2000, 10),
         "the PPM registered its AE and made the consent's ACP there")
    t.ok(wait_for(lambda: enf("c0").get("failed"), 10), "but it could not link it", enf("c0"))
    t.ok([f.get("ri") for f in enf("c0").get("failed", [])] == [METER] and enf("c0").get("linked") == [] and
         enf("c0")["failed"][0].get("rsc") == 4103,
         "the consent records why: her meter could not be read (4103), nothing linked", enf("c0"))
    t.eq(acpi(), OWN, "her meter's acpi is unchanged")
    t.rsc(meter(), 4103, 403, "so the provider is still refused")
    ppm.delete(P + "/c0", origin="Chome")
    t.ok(wait_for(lambda: cse.get("/cse-in/Cppm/ppm-" + c0, origin="Cppm").rsc == 4004, 10),
         "removing the consent removes its ACP")

    # --- she lets the PPM manage her ACP links: read the acpi (pv), change it (pvs) -------------------
    pv = {"acr": [{"acor": ["Chome"], "acop": 63}, {"acor": ["Cppm"], "acop": 2}]}
    pvs = {"acr": [{"acor": ["Chome"], "acop": 63}, {"acor": ["Cppm"], "acop": 4}]}
    t.rsc(cse.update("/cse-in/Chome/own", {"m2m:acp": {"pv": pv, "pvs": pvs}}, origin="Chome"), 2004, 200,
          "the household delegates her meter's ACP links to the PPM's AE")

    # --- a time window: the ACP's actw ----------------------------------------------------------------
    ppm.update(P + "/home-prefs", {"ppm:prf": {"doc": dict(PREFS, windows=[other_hour()])}}, origin="Chome")
    r, c2 = consent("c2", acc=True)
    acp2 = "cse-in/Cppm/ppm-" + c2
    t.ok(wait_for(lambda: acp2 in (acpi() or []), 10), "a consent within another hour: its ACP is linked", acpi())
    r = cse.get("/" + acp2, origin="Cppm")
    rule = ((r.json or {}).get("m2m:acp", {}).get("pv", {}).get("acr") or [{}])[0]
    t.ok(rule.get("acor") == [ADVICE] and rule.get("acop") == 2 and
         rule.get("acco") == [{"actw": [other_hour()]}],
         "the ACP grants exactly the consented retrieve to the provider, in her window (actw)", r.text[:400])
    t.rsc(meter(), 4103, 403, "outside the window: refused")
    ppm.delete(P + "/c2", origin="Chome")
    t.ok(wait_for(lambda: acpi() == OWN, 10), "the consent removed: its ACP is unlinked", acpi())
    ppm.update(P + "/home-prefs", {"ppm:prf": {"doc": PREFS}}, origin="Chome")

    # --- accepted: served exactly within it ------------------------------------------------------------
    r, c1 = consent("c1")
    t.ok(r.rsc == 2001 and r.json["ppm:cns"].get("acop") == 0, "a pending consent", r.text[:300])
    t.rsc(meter(), 4103, 403, "pending: refused")
    r = ppm.update(P + "/c1", {"ppm:cns": {"acc": True}}, origin="Chome")
    t.rsc(r, 2004, 200, "the household accepts")
    acp1 = "cse-in/Cppm/ppm-" + c1
    t.ok(wait_for(lambda: acpi() == OWN + [acp1], 10), "the PPM links the consent's ACP to her meter", acpi())
    t.ok(wait_for(lambda: enf("c1").get("linked") == [METER], 10) and enf("c1").get("acp") == acp1 and
         not enf("c1").get("failed"), "the consent records its ACP and where it is linked (enf)", enf("c1"))
    r = ppm.update(P + "/c1", {"ppm:cns": {"enf": {"linked": []}}}, origin="Chome")
    t.ok(r.rsc == 4000 and "PPM alone" in r.text, "nobody else may set enf", r.text[:300])
    t.rsc(meter(), 2000, 200, "after consent: the provider reads the meter (the ACPs alone decide)")
    r = cse.get("/cse-in/Chome/meter/la", origin="Cadvice")
    served += [r] if r.rsc == 2000 else []
    t.rsc(r, 2000, 200, "and its latest reading")
    t.rsc(cse.update("/cse-in/Chome/meter", {"m2m:cnt": {"lbl": ["x"]}}, origin="Cadvice"), 4103, 403,
          "update, which she did not consent to, is refused")
    t.rsc(cse.get("/cse-in/Chome", origin="Cadvice"), 4103, 403, "her other resources are refused")
    t.rsc(cse.get("/cse-in/Chome/meter", origin="Cstranger"), 4103, 403, "another originator is refused")
    t.rsc(cse.get("/cse-in/Chome/meter", origin="Chome"), 2000, 200, "she keeps her own access")

    # --- withdrawal: the ACP is gone before the withdrawal is answered --------------------------------
    r = ppm.update(P + "/c1", {"ppm:cns": {"acc": False}}, origin="Chome")
    psh = (r.json or {}).get("ppm:cns", {}).get("psh", {})
    t.ok(r.rsc == 2004 and psh.get("acp") == 2002, "the household withdraws: the PPM removed the ACP at once",
         r.text[:400])
    t.rsc(meter(), 4103, 403, "right after withdrawal the provider is refused")
    t.ok(wait_for(lambda: acpi() == OWN, 10), "and the PPM unlinks the ACP from her meter", acpi())

    # --- expiry: the CSE removes the ACP at its et, the PPM unlinks it --------------------------------
    # 6 s (whole seconds, so 5 to 6): room for the checks within it on a loaded machine.
    r, c3 = consent("c3", et=6, acc=True)
    acp3 = "cse-in/Cppm/ppm-" + c3
    t.ok(wait_for(lambda: acp3 in (acpi() or []), 10), "a consent for 6 seconds: linked", acpi())
    t.rsc(meter(), 2000, 200, "within it the provider is served")
    cet = (r.json or {}).get("ppm:cns", {}).get("cet")
    r = cse.get("/" + acp3, origin="Cppm")
    t.ok(cet and (r.json or {}).get("m2m:acp", {}).get("et") == cet, "the ACP expires with the consent (et = cet)",
         r.text[:300])
    t.ok(wait_for(lambda: meter().rsc == 4103, 15), "after expiry the provider is refused")
    t.ok(wait_for(lambda: acpi() == OWN, 10), "and the expired consent's ACP is unlinked", acpi())
    t.rsc(cse.get("/cse-in/Chome/meter", origin="Chome"), 2000, 200, "she keeps her own access")

    # --- the access log: the CSE's audit of the ACP decider's grants ----------------------------------
    r = subprocess.run([TOOL, "--ppm", ppm.url, "--from", "Chome", "ppm", "log", "home-prefs", "--file",
                        os.path.join(cse.data_dir, "audit.log")], capture_output=True, text=True, timeout=30)
    permits = [ln for ln in r.stdout.splitlines() if ln.split()[1:2] == ["Cadvice"] and " permit" in ln]
    t.eq(len(permits), len(served), "m2m ppm log: as many of the provider's accesses as were served")
    named = sorted({ln.split("consent=")[1] for ln in permits})
    t.eq(named, ["c1 (withdrawn)", "c3 (expired)"], "each under its consent, now withdrawn or expired")
    t.ok(any(ln.split()[1:2] == ["Cppm"] for ln in r.stdout.splitlines()),
         "the PPM's own reads and links of her meter are listed too", r.stdout)
    t.ok(cse.alive() and ppm.alive(), "both servers still run")
t.done()
