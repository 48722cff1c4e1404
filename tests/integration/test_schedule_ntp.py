"""<schedule> (18), <notificationTargetPolicy> (26), <policyDeletionRules>
(27) and <timeSyncBeacon> (60) over HTTP (docs/conformance.md).

Checked: CRUD of each type; a bad scheduleEntry, a wrong parent, a missing
mandatory attribute and rule violations are refused (4000 / 4108 / 4105)
with nothing stored; a subscription's schedule is its notificationSchedule;
the system default policy defaultNTP exists at start, after a restart and
after an upper tester Reset, and cannot be deleted; at most two
policyDeletionRules under one policy. These types are stored and validated
only here: notificationSchedule delivery and beacons are tested in
test_notification_schedule and test_time_sync_beacon."""
import os, shutil, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl
from notify_receiver import Receiver

t = Tap()
EVERY_MINUTE = "0 * * * * * *"


def sch(entries, **extra):
    return {"m2m:sch": dict({"se": {"sce": entries}}, **extra)}


def absent(cse, path, name):
    t.rsc(cse.get(path), 4004, 404, name + ": nothing stored")


rx = Receiver().start()
data = tempfile.mkdtemp(prefix="ironbark-sch-")
with Cse(data_dir=data, upper_tester="true") as cse:
    # --- schedule ---------------------------------------------------------------
    r = cse.create("/cse-in", 18, sch([EVERY_MINUTE, "* 0-30/5 8-17 * * 1-5 *"], rn="office"))
    t.rsc(r, 2001, 201, "schedule created under the CSEBase")
    body = r.json.get("m2m:sch", {}) if r.json else {}
    t.eq((body.get("ty"), body.get("se")), (18, {"sce": [EVERY_MINUTE, "* 0-30/5 8-17 * * 1-5 *"]}),
         "its representation carries ty 18 and se")
    t.eq(cse.get("/cse-in/office").json["m2m:sch"]["se"]["sce"][0], EVERY_MINUTE, "RETRIEVE returns se")
    r = cse.update("/cse-in/office", sch(["* * 12 * * * *"]))
    t.rsc(r, 2004, 200, "se updated")
    t.eq(cse.get("/cse-in/office").json["m2m:sch"]["se"], {"sce": ["* * 12 * * * *"]}, "the update is stored")
    for bad, why in ((["* * * * *"], "five fields"), (["61 * * * * * *"], "second 61"),
                     (["* * 25 * * * *"], "hour 25"), (["* * * * 13 * *"], "month 13"),
                     (["a b c d e f g"], "letters"), ([], "an empty list"), ([7], "a number")):
        t.rsc(cse.update("/cse-in/office", sch(bad)), 4000, 400, "UPDATE with %s in se is 4000" % why)
    t.eq(cse.get("/cse-in/office").json["m2m:sch"]["se"], {"sce": ["* * 12 * * * *"]},
         "refused updates changed nothing")
    t.rsc(cse.create("/cse-in", 18, sch(["* * 99 * * * *"], rn="badSch")), 4000, 400,
          "CREATE with a bad scheduleEntry is 4000")
    absent(cse, "/cse-in/badSch", "bad scheduleEntry")
    t.rsc(cse.create("/cse-in", 18, {"m2m:sch": {"rn": "noSe"}}), 4000, 400, "CREATE without se is 4000")
    absent(cse, "/cse-in/noSe", "missing se")
    t.rsc(cse.create("/cse-in", 18, {"m2m:sch": {"rn": "flatSe", "se": [EVERY_MINUTE]}}), 4000, 400,
          "se as a bare list (not {sce: [...]}) is 4000")
    t.rsc(cse.create("/cse-in", 18, sch([EVERY_MINUTE], rn="ncoSch", nco=False)), 4000, 400,
          "nco outside a <node> is 4000")
    absent(cse, "/cse-in/ncoSch", "nco outside a node")
    t.rsc(cse.create("/cse-in", 18, sch([EVERY_MINUTE], rn="second")), 4105, 409,
          "a second schedule under the CSEBase is 4105")
    absent(cse, "/cse-in/second", "second CSEBase schedule")

    t.rsc(cse.register_ae("schAE", origin="CschAE", poa=[rx.url]), 2001, 201, "AE registered")
    t.rsc(cse.create("/cse-in/schAE", 18, sch([EVERY_MINUTE], rn="aeSch"), origin="CschAE"), 4108, 403,
          "a schedule under an AE is 4108")
    absent(cse, "/cse-in/schAE/aeSch", "schedule under an AE")
    t.rsc(cse.create("/cse-in/schAE", 3, {"m2m:cnt": {"rn": "c"}}, origin="CschAE"), 2001, 201, "container")
    t.rsc(cse.create("/cse-in/schAE/c", 18, sch([EVERY_MINUTE], rn="cntSch"), origin="CschAE"), 4108, 403,
          "a schedule under a container is 4108")
    r = cse.create("/cse-in/schAE/c", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url]}}, origin="CschAE")
    t.rsc(r, 2001, 201, "subscription created")
    t.rsc(cse.create("/cse-in/schAE/c/s", 18, sch([EVERY_MINUTE], rn="other"), origin="CschAE"), 4000, 400,
          "a subscription's schedule under another name than notificationSchedule is 4000")
    absent(cse, "/cse-in/schAE/c/s/other", "misnamed notificationSchedule")
    r = cse.create("/cse-in/schAE/c/s", 18, sch([EVERY_MINUTE]), origin="CschAE")
    t.rsc(r, 2001, 201, "a subscription's schedule is created without rn")
    t.eq(r.json["m2m:sch"]["rn"] if r.json else None, "notificationSchedule", "it is named notificationSchedule")
    t.rsc(cse.create("/cse-in/schAE/c/s", 18, sch([EVERY_MINUTE]), origin="CschAE"), 4105, 409,
          "a second notificationSchedule is 4105")
    t.rsc(cse.delete("/cse-in/schAE/c/s/notificationSchedule", origin="CschAE"), 2002, 200,
          "notificationSchedule deleted")
    t.rsc(cse.delete("/cse-in/office"), 2002, 200, "schedule deleted")
    absent(cse, "/cse-in/office", "after DELETE")

    # --- notificationTargetPolicy and policyDeletionRules --------------------------
    r = cse.get("/cse-in/defaultNTP")
    t.rsc(r, 2000, 200, "defaultNTP exists at start")
    ntp = r.json.get("m2m:ntp", {}) if r.json else {}
    t.eq((ntp.get("ty"), ntp.get("plbl"), ntp.get("pi")), (26, "Default", cse.get("/cse-in").json["m2m:cb"]["ri"]),
         "defaultNTP: ty 26, plbl Default, under the CSEBase")
    r = cse.delete("/cse-in/defaultNTP")
    t.rsc(r, 4000, 400, "deleting defaultNTP is 4000")
    t.ok("default" in r.text, "the m2m:dbg says why", r.text)
    t.rsc(cse.get("/cse-in/defaultNTP"), 2000, 200, "defaultNTP is still there")
    t.rsc(cse.update("/cse-in/defaultNTP", {"m2m:ntp": {"et": "20991231T000000"}}), 4000, 400,
          "defaultNTP may not be given an expiration time")
    t.rsc(cse.create("/cse-in", 26, {"m2m:ntp": {"rn": "defaultNTP", "plbl": "x"}}), 4105, 409,
          "another resource named defaultNTP is 4105")

    r = cse.create("/cse-in", 26, {"m2m:ntp": {"rn": "pol", "plbl": "mine", "acn": 1}})
    t.rsc(r, 2001, 201, "notificationTargetPolicy created")
    t.eq(r.json["m2m:ntp"].get("rrs") if r.json else None, 1, "rrs defaults to 1 (AND)")
    t.rsc(cse.update("/cse-in/pol", {"m2m:ntp": {"plbl": "renamed", "rrs": 2}}), 2004, 200,
          "notificationTargetPolicy updated")
    t.eq(cse.get("/cse-in/pol").json["m2m:ntp"]["plbl"], "renamed", "the update is stored")
    t.rsc(cse.update("/cse-in/pol", {"m2m:ntp": {"rrs": 3}}), 4000, 400, "rrs 3 is 4000")
    t.rsc(cse.create("/cse-in", 26, {"m2m:ntp": {"rn": "noLabel"}}), 4000, 400, "CREATE without plbl is 4000")
    absent(cse, "/cse-in/noLabel", "missing plbl")
    t.rsc(cse.create("/cse-in/schAE", 26, {"m2m:ntp": {"rn": "aePol", "plbl": "x"}}, origin="CschAE"),
          4108, 403, "a notificationTargetPolicy under an AE is 4108")
    absent(cse, "/cse-in/schAE/aePol", "policy under an AE")

    t.rsc(cse.create("/cse-in/pol", 27, {"m2m:pdr": {"rn": "r0", "drr": 1}}), 2001, 201,
          "policyDeletionRules created")
    t.rsc(cse.update("/cse-in/pol/r0", {"m2m:pdr": {"lbl": ["x"]}}), 2004, 200,
          "policyDeletionRules updated")
    t.eq(cse.get("/cse-in/pol/r0").json["m2m:pdr"]["lbl"], ["x"], "the update is stored")
    t.rsc(cse.create("/cse-in/pol", 27, {"m2m:pdr": {"rn": "r1"}}), 2001, 201,
          "a second policyDeletionRules")
    t.rsc(cse.create("/cse-in/pol", 27, {"m2m:pdr": {"rn": "r2"}}), 4105, 409,
          "a third policyDeletionRules is 4105")
    absent(cse, "/cse-in/pol/r2", "third policyDeletionRules")
    t.rsc(cse.create("/cse-in/pol", 27, {"m2m:pdr": {"rn": "r3", "drr": 0}}), 4000, 400,
          "drr 0 is 4000")
    t.rsc(cse.create("/cse-in", 27, {"m2m:pdr": {"rn": "loose"}}), 4108, 403,
          "policyDeletionRules under the CSEBase is 4108")
    absent(cse, "/cse-in/loose", "policyDeletionRules under the CSEBase")
    t.rsc(cse.delete("/cse-in/pol/r1"), 2002, 200, "policyDeletionRules deleted")
    t.rsc(cse.delete("/cse-in/pol"), 2002, 200, "notificationTargetPolicy deleted")
    absent(cse, "/cse-in/pol/r0", "the policy's rules went with it")

    # --- timeSyncBeacon ---------------------------------------------------------------
    r = cse.create("/cse-in/schAE", 60, {"m2m:tsb": {"rn": "beacon", "bcnu": [rx.url], "bcni": "PT30S"}},
                   origin="CschAE")
    t.rsc(r, 2001, 201, "timeSyncBeacon created under an AE")
    t.eq(r.json["m2m:tsb"].get("bcnc") if r.json else None, 1, "bcnc defaults to 1 (periodic)")
    t.rsc(cse.update("/cse-in/schAE/beacon", {"m2m:tsb": {"bcnc": 2, "bcni": None, "bcnt": "PT5M",
                                                           "bcnr": "CschAE"}}, origin="CschAE"),
          2004, 200, "switched to loss of synchronization")
    got = cse.get("/cse-in/schAE/beacon", origin="CschAE").json["m2m:tsb"]
    t.eq((got.get("bcnc"), got.get("bcnt"), got.get("bcnr"), "bcni" in got), (2, "PT5M", "CschAE", False),
         "the update is stored")
    t.rsc(cse.update("/cse-in/schAE/beacon", {"m2m:tsb": {"bcni": "PT1M"}}, origin="CschAE"), 4000, 400,
          "bcni with bcnc 2 is 4000")
    t.rsc(cse.update("/cse-in/schAE/beacon", {"m2m:tsb": {"bcnu": []}}, origin="CschAE"), 4000, 400,
          "an empty bcnu is 4000")
    for rn, body, why in (
            ("b1", {}, "without bcnu"),
            ("b2", {"bcnu": [rx.url], "bcni": "soon"}, "with a bcni that is no duration"),
            ("b3", {"bcnu": [rx.url], "bcnc": 3}, "with bcnc 3"),
            ("b4", {"bcnu": [rx.url], "bcnc": 2, "bcnt": "PT1M"}, "with bcnc 2 and no bcnr"),
            ("b5", {"bcnu": [rx.url], "bcnt": "PT1M"}, "with bcnt and bcnc 1")):
        t.rsc(cse.create("/cse-in/schAE", 60, {"m2m:tsb": dict({"rn": rn}, **body)}, origin="CschAE"),
              4000, 400, "CREATE %s is 4000" % why)
        absent(cse, "/cse-in/schAE/" + rn, why)
    t.rsc(cse.create("/cse-in/schAE/c", 60, {"m2m:tsb": {"rn": "cb", "bcnu": [rx.url]}}, origin="CschAE"),
          4108, 403, "a timeSyncBeacon under a container is 4108")
    absent(cse, "/cse-in/schAE/c/cb", "beacon under a container")
    t.rsc(cse.delete("/cse-in/schAE/beacon", origin="CschAE"), 2002, 200, "timeSyncBeacon deleted")

    srt = cse.get("/cse-in").json["m2m:cb"]["srt"]
    t.ok(all(ty in srt for ty in (18, 26, 27, 60)), "the CSEBase's srt lists 18, 26, 27 and 60", srt)

    # --- upper tester Reset ------------------------------------------------------------
    t.rsc(curl("POST", cse.base + "/__ut__", {"X-M2M-RI": "ut", "X-M2M-RVI": "3", "X-M2M-UTCMD": "Reset"}),
          2000, 200, "upper tester Reset")
    t.rsc(cse.get("/cse-in/schAE"), 4004, 404, "Reset removed the AE")
    t.rsc(cse.get("/cse-in/defaultNTP"), 2000, 200, "defaultNTP is there again after Reset")
    t.rsc(cse.delete("/cse-in/defaultNTP"), 4000, 400, "and still cannot be deleted")

# --- restart: the stored defaultNTP is kept, not made twice -------------------------------
with Cse(data_dir=data) as cse:
    r = cse.get("/cse-in/defaultNTP")
    t.rsc(r, 2000, 200, "defaultNTP present after a restart")
    d = cse.request("GET", "/cse-in?fu=1&ty=26")
    t.eq(len([u for u in (d.json or {}).get("m2m:uril", []) if "defaultNTP" in u]), 1,
         "exactly one defaultNTP after the restart")
rx.stop()
shutil.rmtree(data, ignore_errors=True)
t.done()
