"""Access control end to end: two AEs and the operator CAdmin; each sees
exactly what its rights allow across CRUD and discovery, denied requests
change nothing, acpi updates follow pvs, and the audit log records it."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()


def acp(rn, pv, pvs):
    return {"m2m:acp": {"rn": rn, "pv": {"acr": pv}, "pvs": {"acr": pvs}}}


def uris(r):
    return set((r.json or {}).get("m2m:uril", []))


with Cse() as cse:
    A, B = "Cae1", "Cae2"
    t.rsc(cse.register_ae("ae1", origin=A), 2001, 201, "AE1 registers")
    t.rsc(cse.register_ae("ae2", origin=B), 2001, 201, "AE2 registers")
    t.rsc(cse.create("/cse-in/ae1", 3, {"m2m:cnt": {"rn": "data"}}, origin=A), 2001, 201, "AE1 creates a container")
    t.rsc(cse.create("/cse-in/ae1", 3, {"m2m:cnt": {"rn": "private"}}, origin=A), 2001, 201, "AE1 creates a private container")
    t.rsc(cse.create("/cse-in/ae1/data", 4, {"m2m:cin": {"con": "21.5"}}, origin=A), 2001, 201, "AE1 writes an instance")

    # Without acpi only the owner (and the admin) may act.
    t.rsc(cse.get("/cse-in/ae1/data", origin=B), 4103, 403, "AE2 cannot read AE1's container without an ACP")
    t.rsc(cse.get("/cse-in/ae1/data/la", origin=B), 4103, 403, "nor its instances")
    t.rsc(cse.get("/cse-in/ae1/data", origin="CAdmin"), 2000, 200, "the admin can")
    r = cse.get("/cse-in/ae1/nothere", origin=B)
    t.rsc(r, 4103, 403, "a missing name under a hidden AE looks forbidden, not missing")
    t.ok("nothere" not in r.text, "the denial does not echo the name", r.text)
    t.rsc(cse.get("/cse-in/ae1/nothere", origin=A), 4004, 404, "the owner learns it is missing")

    r = cse.create("/cse-in/ae1", 5, {"m2m:cb": {}}, origin=B)
    t.rsc(r, 4005, 405, "a type never created through the API is refused before authorization")

    # Creating ACPs: validation.
    t.rsc(cse.create("/cse-in/ae1", 1, acp("bad", [], []), origin=A), 4000, 400, "empty pvs is rejected")
    t.rsc(cse.create("/cse-in/ae1", 1, {"m2m:acp": {"pv": {"acr": []}}}, origin=A), 4000, 400, "missing pvs is rejected")
    t.rsc(cse.create("/cse-in/ae1", 1, acp("bad", [{"acor": [B], "acop": 99}], [{"acor": [A], "acop": 63}]), origin=A),
          4000, 400, "acop above 63 is rejected")
    t.rsc(cse.create("/cse-in/ae1", 1, acp("bad", [{"acor": [B], "acop": 2, "acco": [{"actw": ["9-17 * *"]}]}],
                                           [{"acor": [A], "acop": 63}]), origin=A), 4000, 400, "a malformed time window is rejected")
    t.rsc(cse.create("/cse-in/ae1", 1, acp("share", [{"acor": [A], "acop": 63}, {"acor": [B], "acop": 34}],
                                           [{"acor": [A], "acop": 63}]), origin=A), 2001, 201, "AE1 creates an ACP")
    t.rsc(cse.create("/cse-in/ae1", 1, acp("x", [], [{"acor": [B], "acop": 63}]), origin=B), 4103, 403,
          "AE2 cannot create an ACP under AE1")
    t.rsc(cse.get("/cse-in/ae1/share", origin=B), 4103, 403, "AE2 cannot read the ACP (pvs)")
    t.rsc(cse.get("/cse-in/ae1/share", origin=A), 2000, 200, "AE1 can read the ACP (pvs)")
    t.rsc(cse.update("/cse-in/ae1/share", {"m2m:acp": {"pvs": {"acr": []}}}, origin=A), 4000, 400,
          "an update emptying pvs is rejected")

    # Linking the ACP: acpi rules.
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"acpi": ["cse-in/ae1/share"], "lbl": ["x"]}}, origin=A),
          4000, 400, "acpi cannot be updated together with other attributes")
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"acpi": ["acpNoSuch"]}}, origin=A), 4000, 400,
          "acpi must reference an existing ACP")
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"acpi": ["cse-in/ae1/share"]}}, origin=B), 4103, 403,
          "AE2 cannot attach an ACP to AE1's container")
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"acpi": ["cse-in/ae1/share"]}}, origin=A), 2004, 200,
          "the owner attaches the ACP")

    # AE2: RETRIEVE and DISCOVERY only.
    r = cse.get("/cse-in/ae1/data", origin=B)
    t.rsc(r, 2000, 200, "AE2 reads the container through the ACP")
    before = r.json["m2m:cnt"]
    t.rsc(cse.get("/cse-in/ae1/data/la", origin=B), 2000, 200, "the instance inherits the container's ACP")
    t.rsc(cse.create("/cse-in/ae1/data", 4, {"m2m:cin": {"con": "evil"}}, origin=B), 4103, 403, "AE2 cannot write")
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"lbl": ["evil"]}}, origin=B), 4103, 403, "AE2 cannot update")
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"bogus": 1}}, origin=B), 4103, 403,
          "a denied update is refused before its content is judged")
    t.rsc(cse.delete("/cse-in/ae1/data", origin=B), 4103, 403, "AE2 cannot delete")
    t.rsc(cse.delete("/cse-in/ae1/data/la", origin=B), 4103, 403, "AE2 cannot delete an instance")
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"acpi": []}}, origin=B), 4103, 403,
          "AE2 cannot change acpi (needs UPDATE in pvs)")
    after = cse.get("/cse-in/ae1/data", origin=B).json["m2m:cnt"]
    t.eq((after["lt"], after["st"], after["cni"], after.get("lbl"), after["acpi"]),
         (before["lt"], before["st"], before["cni"], before.get("lbl"), before["acpi"]),
         "denied requests changed nothing")
    t.rsc(cse.get("/cse-in/ae1/private", origin=B), 4103, 403, "the private container stays closed")

    # Discovery returns only what AE2 may discover.
    r = cse.get("/cse-in?fu=1", origin=B)
    t.rsc(r, 2000, 200, "AE2 discovers from the CSEBase")
    found = uris(r)
    t.ok("cse-in/ae1/data" in found, "discovery shows the shared container", found)
    t.ok(any(u.startswith("cse-in/ae1/data/") for u in found), "and its instance", found)
    t.ok("cse-in/ae2" in found, "and AE2's own AE", found)
    hidden = {"cse-in/ae1", "cse-in/ae1/private", "cse-in/ae1/share"}
    t.ok(not (found & hidden), "but not the AE, the private container or the ACP", found)
    r = cse.get("/cse-in?fu=1&ty=3", origin=A)
    t.ok({"cse-in/ae1/data", "cse-in/ae1/private"} <= uris(r), "AE1 discovers its containers", uris(r))
    r = cse.get("/cse-in?fu=1&ty=3", origin="CAdmin")
    t.ok({"cse-in/ae1/data", "cse-in/ae1/private"} <= uris(r), "the admin discovers everything", uris(r))
    r = cse.get("/cse-in/ae1/data?rcn=4", origin=B)
    t.rsc(r, 2000, 200, "AE2 retrieves the container with its children")
    t.eq(len(r.json["m2m:cnt"].get("m2m:cin", [])), 1, "children visible through inheritance")
    t.rsc(cse.get("/cse-in?fu=1", origin="Cnobody"), 4103, 403, "an unregistered originator cannot discover")

    # The linked ACP binds the owner too: AE1 keeps rights because pv lists it.
    t.rsc(cse.create("/cse-in/ae1/data", 4, {"m2m:cin": {"con": "22"}}, origin=A), 2001, 201,
          "AE1 writes through its own rule")

    # Granting UPDATE later through the ACP (pvs lets AE1 edit it).
    r = cse.update("/cse-in/ae1/share", {"m2m:acp": {"pv": {"acr": [{"acor": [A], "acop": 63},
                                                                   {"acor": [B], "acop": 38}]}}}, origin=A)
    t.rsc(r, 2004, 200, "AE1 grants UPDATE to AE2")
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"lbl": ["shared"]}}, origin=B), 2004, 200,
          "AE2 may update now (the cached ACP was refreshed)")

    # Contexts over a real connection: the peer is 127.0.0.1, never authenticated over HTTP.
    pvs = [{"acor": [A], "acop": 63}]
    cse.create("/cse-in/ae1", 1, acp("lo", [{"acor": [B], "acop": 2, "acco": [{"acip": {"ipv4": ["127.0.0.0/8"]}}]}], pvs), origin=A)
    cse.create("/cse-in/ae1", 1, acp("lan", [{"acor": [B], "acop": 2, "acco": [{"acip": {"ipv4": ["10.0.0.0/8"]}}]}], pvs), origin=A)
    cse.create("/cse-in/ae1", 1, acp("authn", [{"acor": [B], "acop": 2, "acaf": True}], pvs), origin=A)
    for rn in ("c_lo", "c_lan", "c_authn"):
        cse.create("/cse-in/ae1", 3, {"m2m:cnt": {"rn": rn, "acpi": ["cse-in/ae1/" + rn[2:]]}}, origin=A)
    t.rsc(cse.get("/cse-in/ae1/c_lo", origin=B), 2000, 200, "acip 127.0.0.0/8 admits a loopback peer")
    t.rsc(cse.get("/cse-in/ae1/c_lan", origin=B), 4103, 403, "acip 10.0.0.0/8 refuses it")
    t.rsc(cse.get("/cse-in/ae1/c_authn", origin=B), 4103, 403, "acaf refuses an unauthenticated originator")

    # Deleting an ACP: the resources linking it grant nothing through it any more.
    t.rsc(cse.delete("/cse-in/ae1/lo", origin=A), 2002, 200, "AE1 deletes an ACP")
    t.rsc(cse.get("/cse-in/ae1/c_lo", origin=B), 4103, 403, "its grants are gone at once")

    # Role IDs in acor match only roles a DAS assigns (issue #9): rids alone,
    # a claim anyone can make, grant nothing (test_das_roles covers the DAS).
    cse.create("/cse-in/ae1", 1, acp("roles", [{"acor": ["r-reader@roles.test"], "acop": 2}], pvs), origin=A)
    cse.create("/cse-in/ae1", 3, {"m2m:cnt": {"rn": "c_roles", "acpi": ["cse-in/ae1/roles"]}}, origin=A)
    t.rsc(cse.get("/cse-in/ae1/c_roles", origin=B), 4103, 403, "no role presented: refused")
    t.rsc(cse.get("/cse-in/ae1/c_roles?rids=r-other@roles.test,r-reader@roles.test", origin=B), 4103, 403,
          "the listed role presented in rids without a DAS to confirm it: refused")

    # SP-relative originator forms name the same AE.
    t.rsc(cse.get("/cse-in/ae1/data", origin="/id-in/Cae2"), 2000, 200, "an SP-relative From matches a CSE-relative acor")

    # The admin can do anything, including removing AE2's grants.
    t.rsc(cse.update("/cse-in/ae1/data", {"m2m:cnt": {"acpi": None}}, origin="CAdmin"), 2004, 200,
          "the admin detaches the ACP")
    t.rsc(cse.get("/cse-in/ae1/data", origin=B), 4103, 403, "AE2 lost access")
    t.rsc(cse.get("/cse-in/ae1/data", origin=A), 2000, 200, "AE1 (owner) has it back by the default policy")

    # Audit log.
    lines = [json.loads(l) for l in open(os.path.join(cse.data_dir, "audit.log")) if l.strip()]
    denies = [l for l in lines if l["decision"] == "deny"]
    t.ok(any(l["originator"] == B and l["op"] == "DELETE" and l["target"] == "cse-in/ae1/data" for l in denies),
         "the audit log records AE2's refused DELETE", denies[-5:])
    t.ok(all(set(l) >= {"ts", "originator", "target", "op", "decision", "reason"} for l in lines),
         "every audit entry has time, originator, target, operation, decision and reason")
    t.ok(denies and all(l.get("decider") == "acp" for l in denies),
         "every refusal names the decider of the authorization chain that decided (acp)", denies[-3:])
    changes = [l for l in lines if l["decision"] == "permit"]
    t.ok(any("accessControlPolicy created" in l["reason"] for l in changes), "ACP creation is audited", changes[:3])
    t.ok(any("accessControlPolicy updated" in l["reason"] for l in changes), "ACP update is audited")
    t.ok(any("accessControlPolicy deleted" in l["reason"] for l in changes), "ACP deletion is audited")
    t.ok(any(l["reason"].startswith("acpi set to") and l["target"] == "cse-in/ae1/data" for l in changes),
         "acpi changes are audited")
    t.ok(not any(l["op"] == "DISCOVERY" and l["originator"] == B for l in denies),
         "hidden discovery results are not logged as denials")

# Expiry of a linked ACP takes its grants away at once (the cache is dropped).
import datetime, time
with Cse(expiry_interval=100) as cse:
    cse.register_ae("ae1", origin="Cae1")
    cse.register_ae("ae2", origin="Cae2")
    # et has whole seconds: 3 s ahead leaves at least 2 s for the requests
    # below on a loaded machine (1.5 s left as little as 0.5 s).
    et = (datetime.datetime.utcnow() + datetime.timedelta(seconds=3)).strftime("%Y%m%dT%H%M%S")
    body = acp("brief", [{"acor": ["Cae2"], "acop": 2}], [{"acor": ["Cae1"], "acop": 63}])
    body["m2m:acp"]["et"] = et
    t.rsc(cse.create("/cse-in/ae1", 1, body, origin="Cae1"), 2001, 201, "an ACP with a short lifetime")
    t.rsc(cse.create("/cse-in/ae1", 3, {"m2m:cnt": {"rn": "c", "acpi": ["acpNoSuch"]}}, origin="Cae1"), 4000, 400,
          "CREATE with an acpi naming no ACP is rejected")
    t.rsc(cse.create("/cse-in/ae1", 3, {"m2m:cnt": {"rn": "c", "acpi": ["cse-in/ae1/brief"]}}, origin="Cae1"),
          2001, 201, "CREATE with a valid acpi")
    t.rsc(cse.get("/cse-in/ae1/c", origin="Cae2"), 2000, 200, "granted while the ACP lives")
    deadline = time.time() + 8
    while time.time() < deadline and cse.get("/cse-in/ae1/brief", origin="CAdmin").rsc == 2000:
        time.sleep(0.2)
    t.rsc(cse.get("/cse-in/ae1/c", origin="Cae2"), 4103, 403, "refused once the ACP expired")

# The CSEBase's acpi comes from configuration.
with Cse(cse_acpi="cse-in/rootAcp") as cse:
    cse.register_ae("ae1", origin="Cae1")
    cse.register_ae("ae2", origin="Cae2")
    t.rsc(cse.create("/cse-in", 3, {"m2m:cnt": {"rn": "shared"}}, origin="Cae1"), 4103, 403,
          "the configured ACP does not exist yet: nobody but the admin creates under the CSEBase")
    t.rsc(cse.create("/cse-in", 1, acp("rootAcp", [{"acor": ["Cae1"], "acop": 35}, {"acor": ["all"], "acop": 2}],
                                       [{"acor": ["CAdmin"], "acop": 63}])), 2001, 201, "the admin creates it")
    t.eq(cse.get("/cse-in").json["m2m:cb"].get("acpi"), ["cse-in/rootAcp"], "the CSEBase shows the configured acpi")
    t.rsc(cse.create("/cse-in", 3, {"m2m:cnt": {"rn": "shared"}}, origin="Cae1"), 2001, 201,
          "now Cae1 may create under the CSEBase")
    t.rsc(cse.create("/cse-in", 3, {"m2m:cnt": {"rn": "other"}}, origin="Cae2"), 4103, 403, "Cae2 may not")
    t.rsc(cse.get("/cse-in", origin="Cae2"), 2000, 200, "but may retrieve it (rule for all)")
    t.rsc(cse.update("/cse-in", {"m2m:cb": {"acpi": []}}, origin="CAdmin"), 4005, 405, "the CSEBase acpi is not updatable")

# Rotation by size.
with Cse(audit_max_bytes=600, audit_keep=2) as cse:
    cse.register_ae("ae1", origin="Cae1")
    for i in range(12):
        cse.get("/cse-in/ae1", origin="Cintruder")
    files = sorted(f for f in os.listdir(cse.data_dir) if f.startswith("audit.log"))
    t.eq(files, ["audit.log", "audit.log.1", "audit.log.2"], "the audit log rotates and keeps 2 old files")
    t.ok(all(os.path.getsize(os.path.join(cse.data_dir, f)) <= 600 for f in files), "no file exceeds audit-max-bytes")
t.done()
