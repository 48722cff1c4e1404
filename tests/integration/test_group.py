"""<group>: member validation, fopt fan-out with m2m:agr, 4109; and
non-blocking requests (rt 1 and 2) with the <request> resource."""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver

t = Tap()


def grp(cse, rn, mid, mnm=10, **attrs):
    return cse.create("/cse-in/gapp", 9, {"m2m:grp": dict({"rn": rn, "mid": mid, "mnm": mnm}, **attrs)},
                      origin="Cgapp")


def by_to(agr):
    return {r["to"]: r for r in agr["m2m:agr"]["m2m:rsp"]}


rx = Receiver().start()
try:
    with Cse() as cse:
        cse.register_ae("gapp", origin="Cgapp", poa=[rx.url])
        ris = []
        for i in range(3):
            r = cse.create("/cse-in/gapp", 3, {"m2m:cnt": {"rn": "c%d" % i}}, origin="Cgapp")
            ris.append(r.json["m2m:cnt"]["ri"])
        ae_ri = "Cgapp"

        # --- validation ---------------------------------------------------------
        r = grp(cse, "g", [ris[0], ris[1], ris[0], "cse-in/gapp/c2"], mt=3)
        t.rsc(r, 2001, 201, "group of three containers (one duplicate)")
        g = r.json["m2m:grp"] if r.json else {}
        t.eq((g.get("mid"), g.get("cnm"), g.get("mtv"), g.get("csy")),
             ([ris[0], ris[1], "cse-in/gapp/c2"], 3, True, 1), "duplicates removed, cnm 3, mtv, csy default 1")
        t.rsc(grp(cse, "bad", ["nothere"]), 4004, 404, "nonexistent member -> 4004")
        t.rsc(grp(cse, "bad", ris, mnm=2), 6010, 400, "more members than mnm -> 6010")
        r = grp(cse, "am", [ris[0], ae_ri], mt=3)
        t.eq(r.json["m2m:grp"]["mid"] if r.json else None, [ris[0]], "csy 1: the AE of the wrong type is dropped")
        t.rsc(grp(cse, "ag", [ris[0], ae_ri], mt=3, csy=2), 4110, 400, "csy 2: wrong member type -> 4110")
        r = grp(cse, "sm", [ris[0], ae_ri], mt=3, csy=3)
        t.eq(r.json["m2m:grp"]["mt"] if r.json else None, 0, "csy 3: memberType becomes mixed (0)")
        t.rsc(cse.update("/cse-in/gapp/g", {"m2m:grp": {"mnm": 2}}, origin="Cgapp"), 6010, 400,
              "lowering mnm below cnm -> 6010")
        t.rsc(grp(cse, "empty", []), 2001, 201, "empty group")

        # --- fan-out ---------------------------------------------------------------
        r = cse.create("/cse-in/gapp/g/fopt", 4, {"m2m:cin": {"con": "all"}}, origin="Cgapp")
        t.rsc(r, 2000, 200, "CREATE through fopt answers 2000")
        rsps = by_to(r.json) if r.json else {}
        t.ok(len(rsps) == 3 and all(x["rsc"] == 2001 for x in rsps.values()),
             "three member responses, each 2001", r.json)
        t.ok(all(x.get("pc", {}).get("m2m:cin", {}).get("con") == "all" for x in rsps.values()),
             "member responses carry their pc", r.json)
        r = cse.get("/cse-in/gapp/g/fopt/la", origin="Cgapp")
        rsps = by_to(r.json) if r.json else {}
        t.ok(len(rsps) == 3 and all(x["rsc"] == 2000 for x in rsps.values())
             and ris[0] + "/la" in rsps, "RETRIEVE fopt/la on every member (path appended)", r.json)
        r = cse.update("/cse-in/gapp/g/fopt", {"m2m:cnt": {"lbl": ["x"]}}, origin="Cgapp")
        t.ok(r.json and all(x["rsc"] == 2004 for x in r.json["m2m:agr"]["m2m:rsp"]), "UPDATE fan-out", r.json)
        t.eq(cse.get("/cse-in/gapp/c1", origin="Cgapp").json["m2m:cnt"].get("lbl"), ["x"], "member updated")

        rx.clear()
        r = cse.create("/cse-in/gapp/g/fopt", 23, {"m2m:sub": {"nu": [rx.url], "enc": {"net": [1]}}}, origin="Cgapp")
        subs = [x["pc"]["m2m:sub"]["ri"] for x in r.json["m2m:agr"]["m2m:rsp"] if x["rsc"] == 2001] if r.json else []
        t.eq(len(subs), 3, "subscription CREATE fanned out to the three members")
        t.eq(sorted(b["m2m:sgn"]["sur"].split("/")[-1] for b in rx.bodies()), sorted(subs),
             "each member's subscription verified its own sur")
        cse.delete("/cse-in/gapp/c1", origin="Cgapp")
        g = cse.get("/cse-in/gapp/g", origin="Cgapp").json["m2m:grp"]
        t.eq((g["cnm"], ris[1] in g["mid"], len(g["mid"])), (2, False, 2),
             "mid and cnm follow the deletion of a member")
        r = cse.get("/cse-in/gapp/g/fopt", origin="Cgapp")
        rsps = by_to(r.json) if r.json else {}
        t.eq(sorted(x["rsc"] for x in rsps.values()), [2000, 2000],
             "a deleted member is no longer fanned out to")
        t.rsc(cse.update("/cse-in/gapp/g", {"m2m:grp": {"gn": "renamed"}}, origin="Cgapp"), 2004, 200,
              "a group with a deleted member can still be updated")
        t.rsc(cse.update("/cse-in/gapp/g", {"m2m:grp": {"mid": [ris[0], ris[1]]}}, origin="Cgapp"), 4004, 404,
              "setting mid to a list with a deleted member -> 4004")
        r = cse.delete("/cse-in/gapp/g/fopt/la", origin="Cgapp")
        t.ok(r.json and sorted(x["rsc"] for x in r.json["m2m:agr"]["m2m:rsp"]) == [2002, 2002],
             "DELETE fan-out", r.json)
        g = cse.get("/cse-in/gapp/g", origin="Cgapp").json["m2m:grp"]
        t.eq((g["cnm"], len(g["mid"])), (2, 2), "the group's own UPDATE stored the shorter mid")
        t.rsc(cse.get("/cse-in/gapp/empty/fopt", origin="Cgapp"), 4109, 403, "fopt of an empty group -> 4109")
        t.rsc(cse.create("/cse-in/gapp/g", 23, {"m2m:sub": {"rn": "fopt", "nu": ["Cgapp"]}}, origin="Cgapp"),
              4000, 400,
              "'fopt' is a reserved name under a group")

        # --- macp: who may use fopt ---------------------------------------------------
        t.rsc(cse.get("/cse-in/gapp/g/fopt", origin="Cother"), 4103, 403,
              "without macp the group's own policy (owner only) guards fopt")
        pol = {"m2m:acp": {"rn": "members", "pv": {"acr": [{"acor": ["Cother"], "acop": 2}]},
                           "pvs": {"acr": [{"acor": ["Cgapp"], "acop": 63}]}}}
        t.rsc(cse.create("/cse-in/gapp", 1, pol, origin="Cgapp"), 2001, 201, "an ACP for the members")
        t.rsc(cse.update("/cse-in/gapp/g", {"m2m:grp": {"macp": ["nosuchacp"]}}, origin="Cgapp"), 4000, 400,
              "macp must name existing ACPs")
        t.rsc(cse.update("/cse-in/gapp/g", {"m2m:grp": {"macp": ["cse-in/gapp/members"]}}, origin="Cgapp"),
              2004, 200, "macp set")
        r = cse.get("/cse-in/gapp/g/fopt", origin="Cother")
        t.rsc(r, 2000, 200, "macp grants Cother RETRIEVE through fopt")
        t.ok(r.json and all(x["rsc"] in (4103, 4004) for x in r.json["m2m:agr"]["m2m:rsp"]),
             "each member still applies its own access control", r.json)
        t.rsc(cse.delete("/cse-in/gapp/g/fopt", origin="Cother"), 4103, 403, "macp grants no DELETE")

        # --- non-blocking synch (rt 1) -----------------------------------------------
        srt = cse.get("/cse-in").json["m2m:cb"]["srt"]
        t.ok(17 in srt and 23 in srt and 9 in srt, "srt lists request, subscription and group", srt)
        r = cse.create("/cse-in/gapp/c0", 4, {"m2m:cin": {"con": "nb"}}, origin="Cgapp",
                       headers={}, rqi="nb-1")
        r = cse.request("POST", "/cse-in/gapp/c0?rt=1", origin="Cgapp", ty=4, body={"m2m:cin": {"con": "nb1"}},
                        rqi="nb-1")
        t.rsc(r, 1001, 202, "rt 1 answers 1001")
        req_ri = (r.json or {}).get("m2m:uri")
        t.ok(req_ri, "with the <request> ID", r.json)
        rec = None
        deadline = time.time() + 5
        while time.time() < deadline:
            rec = cse.get("/" + req_ri, origin="Cgapp").json["m2m:req"]
            if rec["rs"] != 3:
                break
            time.sleep(0.05)
        t.eq((rec["rs"], rec["ors"]["rsc"], rec["ors"]["pc"]["m2m:cin"]["con"], rec["op"], rec["rid"]),
             (1, 2001, "nb1", 1, "nb-1"), "<request> COMPLETED with the operation result")
        r = cse.request("GET", "/cse-in/nothing?rt=1", origin="Cgapp")
        rri = r.json["m2m:uri"]
        time.sleep(0.3)
        rec = cse.get("/" + rri, origin="Cgapp").json["m2m:req"]
        t.eq((rec["rs"], rec["ors"]["rsc"]), (2, 4004), "failed operation: rs FAILED with 4004")
        t.rsc(cse.request("GET", "/" + rri + "?rt=1", origin="Cgapp"), 4000, 400,
              "a <request> cannot be read non-blocking")
        t.rsc(cse.create("/cse-in", 17, {"m2m:req": {}}, origin="Cgapp"), 4005, 405, "<request> CREATE -> 4005")
        t.rsc(cse.delete("/" + rri, origin="Cgapp"), 2002, 200, "the originator deletes its <request>")

        # --- non-blocking asynch (rt 2) ----------------------------------------------
        rx.clear()
        r = cse.request("GET", "/cse-in/gapp/c0?rt=2", origin="Cgapp", rqi="nb-2",
                        headers={"X-M2M-RTU": rx.url})
        t.rsc(r, 1002, 202, "rt 2 answers 1002")
        reqs = rx.wait_count(1)
        body = reqs[0]["body"] if reqs else {}
        rsp = (body or {}).get("m2m:rsp", {})
        t.eq((rsp.get("rsc"), rsp.get("rqi"), (rsp.get("pc") or {}).get("m2m:cnt", {}).get("rn")),
             (2000, "nb-2", "c0"), "the result is notified to the RTU target as m2m:rsp")
        rx.clear()
        r = cse.request("GET", "/cse-in/gapp/c0?rt=2", origin="Cgapp", rqi="nb-3")
        reqs = rx.wait_count(1)
        t.ok(reqs and reqs[0]["body"]["m2m:rsp"]["rqi"] == "nb-3", "no RTU: result sent to the originator's poa", reqs)
        rx.clear()
        r = cse.request("GET", "/cse-in/gapp/c0?rt=2", origin="Cgapp", rqi="nb-4", curl_extra=["-H", "X-M2M-RTU;"])
        t.rsc(r, 1002, 202, "rt 2 with an empty RTU")
        time.sleep(0.4)
        t.eq(len(rx.snapshot()), 0, "empty RTU: no result notification")
finally:
    rx.stop()
t.done()
