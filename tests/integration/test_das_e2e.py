"""Dynamic authorization with three real processes (issue 9): an m2m-cse that
consults a real m2m-das (das-default) and trusts its token issuer
(token-trust-file = the DAS's issuers.json), driven by curl and the m2m tool.

Direct: a grant by a DAS rule becomes a dynamic child ACP of the target that
expires; a deny; a DAS that went away. Indirect: a device gets a token from the
DAS (m2m token get) and presents it (m2m --token), gets a local token ID (ATI)
and uses it (ltids); a token by ID (tids) the CSE fetches from the DAS; tqi
gives 4103 with tqf naming the DAS; a forged token is refused. Roles: rids
honoured only for a role the DAS assigned."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Cse, Server, Tap, curl, wait_for  # noqa: E402

DAS_BIN = os.path.abspath(os.environ.get("M2M_DAS", os.path.join(harness.BUILD, "m2m-das")))
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
SP = "//ironbark.local"
HOSTING = SP + "/id-in"
TARGET = HOSTING + "/cse-in/room/temp"
ROLE = "reader@roles.ironbark.local"

t = Tap()


def m2m(*args, timeout=30):
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=timeout)


def dynamic_acps(cse):
    """The dacp-… children of the target (as the admin sees them)."""
    r = cse.get("/cse-in/room/temp?fu=1&ty=1", origin="CAdmin")
    return [u for u in (r.json or {}).get("m2m:uril", []) if "/dacp-" in u or u.split("/")[-1].startswith("dacp-")]


with Server(DAS_BIN, "/~/id-das/das-in") as das:
    admin = ["--das", das.url, "--from", "CAdmin"]
    r = m2m(*admin, "das", "rule", "add", "readers", "--who", HOSTING + "/Creader*", "--ops", "retrieve",
            "--target", HOSTING + "/cse-in/room/*", "--lifetime", "3")
    t.ok(r.returncode == 0, "rule: readers may RETRIEVE below room for 3 s", r.stdout + r.stderr)
    r = m2m(*admin, "das", "rule", "add", "devices", "--who", HOSTING + "/Cdev", "--ops", "retrieve",
            "--target", TARGET, "--lifetime", "600")
    t.ok(r.returncode == 0, "rule: Cdev may RETRIEVE the target (tokens)", r.stdout + r.stderr)
    r = m2m(*admin, "das", "role", "add", "--holder", HOSTING + "/Crole", "--role", ROLE)
    t.ok(r.returncode == 0, "role: Crole holds " + ROLE, r.stdout + r.stderr)
    trust = os.path.join(das.data_dir, "issuers.json")

    with Cse(das_default=das.url, token_trust_file=trust, das_timeout=2000, expiry_interval=100) as cse:
        t.rsc(cse.register_ae("room", origin="Cowner"), 2001, 201, "the owner registers")
        own = {"acr": [{"acor": ["Cowner"], "acop": 63}, {"acor": [ROLE], "acop": 2}]}
        cse.create("/cse-in/room", 1, {"m2m:acp": {"rn": "own", "pv": own,
                                                   "pvs": {"acr": [{"acor": ["Cowner"], "acop": 63}]}}},
                   origin="Cowner")
        t.rsc(cse.create("/cse-in/room", 3, {"m2m:cnt": {"rn": "temp", "acpi": ["cse-in/room/own"]}},
                         origin="Cowner"), 2001, 201, "a container only its owner and the role may read")

        # --- direct: the CSE consults the DAS -------------------------------------------------
        r = cse.get("/cse-in/room/temp", origin="Creader1")
        t.rsc(r, 2000, 200, "the ACPs deny, m2m-das grants: Creader1's RETRIEVE is answered")
        made = wait_for(lambda: dynamic_acps(cse), 5)
        t.ok(len(made) == 1, "the grant is a dynamic child ACP of the target", made)
        if made:
            acp = cse.get("/" + made[0].lstrip("/") if not made[0].startswith("/") else made[0], origin="CAdmin")
            t.ok(acp.status == 200, "the dynamic ACP can be read by the admin", acp.text[:300])
        t.rsc(cse.get("/cse-in/room/temp", origin="Creader1"), 2000, 200, "the next RETRIEVE is granted again")
        t.rsc(cse.delete("/cse-in/room/temp", origin="Creader1"), 4103, 403,
              "DELETE, which the rule does not grant, is refused")
        t.rsc(cse.get("/cse-in/room/temp", origin="Cstranger"), 4103, 403, "no rule: m2m-das denies")
        gone = wait_for(lambda: not dynamic_acps(cse), 12)
        t.ok(gone, "the dynamic ACP expires with the rule's lifetime (pl)", dynamic_acps(cse))
        t.rsc(cse.get("/cse-in/room/temp", origin="Cowner"), 2000, 200, "the owner is served by its ACP throughout")

        # --- indirect: tokens -------------------------------------------------------------------
        r = m2m("--das", das.url, "--from", HOSTING + "/Cdev", "token", "get", "--target", TARGET, "--op", "retrieve")
        lines = r.stdout.splitlines()
        tkid = lines[0].split()[1] if lines and lines[0].startswith("tkid ") else ""
        token = lines[1] if len(lines) > 1 else ""
        t.ok(r.returncode == 0 and token.count(".") == 2, "the device gets a signed token from m2m-das",
             r.stdout + r.stderr)
        r = m2m("--url", cse.base, "--from", "Cdev", "-v", "--token", token, "retrieve", "cse-in/room/temp")
        t.ok(r.returncode == 0 and "2000" in r.stdout + r.stderr, "m2m --token: the CSE verifies it and grants",
             r.stdout + r.stderr)
        ati = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.startswith("X-M2M-ATI:")]
        lti = ""
        if ati:
            pair = ati[0].split()[-1]
            lti = pair.split(":")[0] if ":" in pair else ""
        t.ok(lti != "", "the answer assigns a local token ID (X-M2M-ATI)", ati)
        if lti:
            t.rsc(cse.get("/cse-in/room/temp?ltids=" + lti, origin="Cdev"), 2000, 200,
                  "the local token ID (ltids) grants later")
        t.rsc(cse.get("/cse-in/room/temp", origin="Cdev", headers={"Authorization": "Bearer " + token}), 2000, 200,
              "the token in the Authorization header (curl)")
        head, claims, sig = token.split(".") if token.count(".") == 2 else ("", "", "")
        forged = "%s.%s.%s" % (head, claims, ("A" if sig[:1] != "A" else "B") + sig[1:])
        t.rsc(cse.get("/cse-in/room/temp", origin="Cdev", headers={"Authorization": "Bearer " + forged}), 4103, 403,
              "a forged token is refused")
        t.rsc(cse.get("/cse-in/room/temp", origin="Cother", headers={"Authorization": "Bearer " + token}), 4103, 403,
              "another originator presenting Cdev's token is refused")
        t.rsc(cse.get("/cse-in/room/temp?tids=" + tkid, origin="Cdev"), 2000, 200,
              "by ID (tids): the CSE fetches the token from m2m-das and grants")
        r = cse.get("/cse-in/room/temp?tqi=true", origin="Cnobody")
        tqf = (r.json or {}).get("dasi") or ((r.json or {}).get("m2m:tqf") or {}).get("dasi")
        t.ok(r.rsc == 4103 and tqf and das.url in json.dumps(tqf), "tqi: 4103 with tqf naming the DAS", r.text[:400])

        # --- roles ---------------------------------------------------------------------------------
        t.rsc(cse.get("/cse-in/room/temp?rids=" + ROLE, origin="Crole"), 2000, 200,
              "rids: a role m2m-das assigned matches the ACP's role entry")
        t.rsc(cse.get("/cse-in/room/temp?rids=" + ROLE, origin="Cnorole"), 4103, 403,
              "rids: the same role named by an originator it was not assigned to is refused")

        # --- the DAS goes away ------------------------------------------------------------------------
        das.stop()
        t.rsc(cse.get("/cse-in/room/temp", origin="Creader2"), 4103, 403, "m2m-das down: a new consultation means deny")
        t.rsc(cse.get("/cse-in/room/temp", origin="Cowner"), 2000, 200, "and the CSE keeps serving the others")
        t.ok(cse.alive(), "the CSE is still running")
t.done()
