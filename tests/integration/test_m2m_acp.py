"""The m2m client against a real CSE: generic primitives and the one-line
`m2m acp` commands (create, grant, revoke, attach, detach, list, show, audit)."""
import json, os, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, BUILD

TOOL = os.environ.get("M2M_TOOL", os.path.join(BUILD, "m2m"))
t = Tap()


def m2m(cse, *args, origin="CAdmin"):
    p = subprocess.run([TOOL, "--url", cse.base, "--from", origin] + list(args),
                       capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


def last(out):
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


with Cse() as cse:
    A, B = "Cae1", "Cae2"
    rc, out, _ = m2m(cse, "create", "cse-in", "--ty", "2", "--body",
                     '{"m2m:ae":{"rn":"ae1","api":"Nx","rr":true,"srv":["3"]}}', origin=A)
    t.eq((rc, last(out)), (0, "RSC 2001 CREATED"), "m2m create registers an AE")
    t.eq(json.loads(out[:out.rindex("RSC")])["m2m:ae"]["aei"], A, "the response content is printed as JSON")
    cse.register_ae("ae2", origin=B)
    body = os.path.join(cse.data_dir, "cnt.json")
    with open(body, "w") as f:
        f.write('{"m2m:cnt":{"rn":"data"}}')
    rc, out, _ = m2m(cse, "create", "cse-in/ae1", "--ty", "3", "--body", "@" + body, origin=A)
    t.eq(last(out), "RSC 2001 CREATED", "--body @file")
    rc, out, _ = m2m(cse, "retrieve", "/id-in/cse-in/ae1/data", "--rcn", "1", origin=A)
    t.eq((rc, last(out)), (0, "RSC 2000 OK"), "SP-relative target and --rcn")
    rc, out, _ = m2m(cse, "retrieve", "cse-in/ae1/data", origin=B)
    t.eq((rc, last(out)), (1, "RSC 4103 ORIGINATOR_HAS_NO_PRIVILEGE"), "a refusal exits 1 with the RSC name")
    rc, out, _ = m2m(cse, "retrieve", "cse-in", "--query", "fu=1", "--query", "ty=3")
    t.ok(rc == 0 and "cse-in/ae1/data" in out, "--query builds discovery", out)

    rc, out, _ = m2m(cse, "acp", "create", "cse-in/ae1", "share", "--grant", A + ":all", origin=A)
    t.ok(rc == 0 and out.startswith("created cse-in/ae1/share"), "acp create in one line", out)
    rc, out, _ = m2m(cse, "acp", "grant", "cse-in/ae1/share", "--to", B, "--ops", "retrieve,discover", origin=A)
    t.eq((rc, last(out)), (0, "RSC 2004 UPDATED"), "acp grant in one line")
    rc, out, _ = m2m(cse, "acp", "attach", "cse-in/ae1/share", "cse-in/ae1/data", origin=A)
    t.eq((rc, last(out)), (0, "RSC 2004 UPDATED"), "acp attach")
    t.rsc(cse.get("/cse-in/ae1/data", origin=B), 2000, 200, "AE2 can read after grant + attach")
    t.rsc(cse.delete("/cse-in/ae1/data", origin=B), 4103, 403, "but not delete")
    acp = cse.get("/cse-in/ae1/share", origin=A).json["m2m:acp"]
    t.eq(acp["pvs"]["acr"], [{"acor": [A], "acop": 63}], "the creator manages the ACP by default")
    t.eq(acp["pv"]["acr"], [{"acor": [A], "acop": 63}, {"acor": [B], "acop": 34}], "grant added one rule")

    rc, out, _ = m2m(cse, "acp", "grant", "cse-in/ae1/share", "--to", B, "--ops", "update", origin=A)
    acp = cse.get("/cse-in/ae1/share", origin=A).json["m2m:acp"]
    t.eq(acp["pv"]["acr"][1], {"acor": [B], "acop": 38}, "a second grant widens the same rule")
    m2m(cse, "acp", "grant", "cse-in/ae1/share", "--to", B, "--ops", "delete", "--ip", "10.0.0.0/8",
        "--window", "* * 8-17 * * 1-5 *", "--authenticated", origin=A)
    acp = cse.get("/cse-in/ae1/share", origin=A).json["m2m:acp"]
    t.eq(acp["pv"]["acr"][2], {"acor": [B], "acop": 8, "acaf": True,
                               "acco": [{"actw": ["* * 8-17 * * 1-5 *"], "acip": {"ipv4": ["10.0.0.0/8"]}}]},
         "a grant with contexts becomes its own rule")
    t.rsc(cse.delete("/cse-in/ae1/data", origin=B), 4103, 403, "the context-bound delete does not apply here")

    rc, out, _ = m2m(cse, "acp", "show", "cse-in/ae1/share", origin=A)
    t.ok(rc == 0 and "retrieve,update,discover" in out and "authenticated only" in out, "acp show is readable", out)
    rc, out, _ = m2m(cse, "acp", "list", "cse-in")
    t.ok(rc == 0 and "cse-in/ae1/share" in out and "pv 3 rules, pvs 1 rules" in out, "acp list", out)

    rc, out, _ = m2m(cse, "acp", "revoke", "cse-in/ae1/share", "--to", B, "--ops", "update", origin=A)
    t.eq(cse.get("/cse-in/ae1/share", origin=A).json["m2m:acp"]["pv"]["acr"][1]["acop"], 34, "revoke removes one operation")
    rc, out, _ = m2m(cse, "acp", "revoke", "cse-in/ae1/share", "--to", B, origin=A)
    t.eq(cse.get("/cse-in/ae1/share", origin=A).json["m2m:acp"]["pv"]["acr"], [{"acor": [A], "acop": 63}],
         "revoke without --ops removes every rule for the originator")
    t.rsc(cse.get("/cse-in/ae1/data", origin=B), 4103, 403, "AE2 lost access")

    rc, out, err = m2m(cse, "acp", "grant", "cse-in/ae1/share", "--to", B, "--ops", "retrieve", "--pvs", origin=B)
    t.eq((rc, last(out)), (1, "RSC 4103 ORIGINATOR_HAS_NO_PRIVILEGE"), "AE2 cannot grant itself rights")
    rc, out, _ = m2m(cse, "acp", "grant", "cse-in/ae1/share", "--to", "Cops", "--ops", "retrieve", "--pvs", origin=A)
    t.eq(cse.get("/cse-in/ae1/share", origin=A).json["m2m:acp"]["pvs"]["acr"][-1], {"acor": ["Cops"], "acop": 2},
         "--pvs edits selfPrivileges")

    rc, out, _ = m2m(cse, "acp", "detach", "cse-in/ae1/share", "cse-in/ae1/data", origin=A)
    t.eq((rc, last(out)), (0, "RSC 2004 UPDATED"), "acp detach")
    t.ok("acpi" not in cse.get("/cse-in/ae1/data", origin=A).json["m2m:cnt"], "acpi is gone")
    rc, out, _ = m2m(cse, "acp", "grant", "cse-in/ae1/share", "--to", B, origin=A)
    t.eq(rc, 2, "usage errors exit 2")

    rc, out, _ = m2m(cse, "acp", "audit", "--data-dir", cse.data_dir, "--deny")
    t.ok(rc == 0 and "RETRIEVE" in out and B in out and "permit" not in out, "acp audit --deny shows refusals", out)
    rc, out, _ = m2m(cse, "acp", "audit", "--data-dir", cse.data_dir, "--tail", "2")
    t.eq(len(out.strip().splitlines()), 2, "acp audit --tail")

rc, out, err = subprocess.run([TOOL, "--url", "http://127.0.0.1:1", "retrieve", "cse-in"],
                              capture_output=True, text=True, timeout=20).returncode, "", ""
t.eq(rc, 2, "a connection failure exits 2")
t.done()
