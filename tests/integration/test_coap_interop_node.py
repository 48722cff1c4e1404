"""CoAP interoperability with two implementations that are not libcoap
(issue 20): node-coap (npm "coap") and node-coap-client (an independent
client: its own codec, message layer and Block2) each run the oneM2M
scenario of tests/interop/scenario.js against the real CSE: AE registration,
container and contentInstances, retrieve with and without queries,
discovery, update, block-wise bodies, an empty Uri-Query (node-coap's
encoder), subscriptions whose CoAP notification target the same library
serves, a separate response, deletes. The drivers print JSON lines; every
step's CoAP code, oneM2M RSC and content is checked here.

node and the npm packages are installed by scripts/install-deps.sh into
tests/interop/node_modules; without them this test fails."""
import json
import os
import shutil
import subprocess
import sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

INTEROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop")
DRIVERS = [("node_coap.js", "coap"), ("node_coap_client.js", "node-coap-client")]
BIG = "".join("0123456789abcdef"[i * 7 % 16] for i in range(3000))   # 3 kB: several blocks

t = Tap()


def run_driver(cse, script, name, big_path):
    node = shutil.which("node")
    inp = json.dumps({"host": "127.0.0.1", "port": cse.coap_port, "name": name, "big": BIG,
                      "big_path": big_path})
    p = subprocess.run([node, os.path.join(INTEROP, script)], input=inp.encode(), capture_output=True,
                       timeout=150)
    lines = []
    for line in p.stdout.decode(errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            lines.append({"step": "unparsable", "line": line})
    return p.returncode, lines, p.stderr.decode(errors="replace")


def expect(lib, steps, step, code, rsc, check=None, what=""):
    """One step's CoAP code, oneM2M RSC, echoed RQI and RVI, and content."""
    r = steps.get(step)
    ok = (r is not None and "error" not in r and r["code"] == code and r["rsc"] == rsc
          and r["rqi"] == r["sent_rqi"] and r["rvi"] == "3"
          and (r["len"] == 0 or r["cf"] == 50))
    if ok and check is not None:
        try:
            ok = bool(check(r["body"] or {}, r))
        except (KeyError, IndexError, TypeError):
            ok = False
    detail = json.dumps(r)[:600] if r else "no such step in the driver's output"
    return t.ok(ok, "%s: %s -> %s / %d%s" % (lib, step, code, rsc, " (" + what + ")" if what else ""), detail)


def sgn(req):
    return (req.get("body") or {}).get("m2m:sgn") or {}


missing = [p for p in ("node",) if not shutil.which(p)] + [
    m for _, m in DRIVERS if not os.path.isdir(os.path.join(INTEROP, "node_modules", m))]
if missing:
    t.ok(False, "node and the interop npm packages are installed (scripts/install-deps.sh)",
         "missing: %s" % ", ".join(missing))
    t.done()

with Cse() as cse:
    # A 3 kB contentInstance made over HTTP, for Block2 alone (node-coap-client
    # has no Block1, so it cannot create one).
    cse.register_ae("bigsrc", origin="Cbigsrc")
    cse.create("/cse-in/bigsrc", 3, {"m2m:cnt": {"rn": "c"}}, origin="Cbigsrc")
    r = cse.create("/cse-in/bigsrc/c", 4, {"m2m:cin": {"rn": "big", "con": BIG}}, origin="Cbigsrc")
    t.rsc(r, 2001, 201, "a 3 kB contentInstance over HTTP for the Block2 steps")

    for script, module in DRIVERS:
        name = script.split(".")[0].replace("_", "")
        rc, lines, err = run_driver(cse, script, name, "cse-in/bigsrc/c/big")
        steps = {l["step"]: l for l in lines if l.get("step") != "target_request"}
        info = steps.get("library", {})
        LIB = info.get("library", module)
        feat = info.get("features", {})
        t.ok(rc == 0 and "done" in steps, "%s: the driver ran the whole scenario" % LIB,
             "rc %s\n%s\n%s" % (rc, "\n".join(json.dumps(l)[:300] for l in lines[-5:]), err[-1500:]))

        expect(LIB, steps, "retrieve_cse", "2.05", 2000, lambda b, r: b["m2m:cb"]["csi"] == "/id-in", "CSEBase")
        expect(LIB, steps, "create_ae", "2.01", 2001,
               lambda b, r: b["m2m:ae"]["aei"] == "C" + name and r["location"] == ["C" + name],
               "AE-ID in aei and Location-Path")
        expect(LIB, steps, "create_cnt", "2.01", 2001, lambda b, r: b["m2m:cnt"]["rn"] == "data")
        expect(LIB, steps, "create_cin_0", "2.01", 2001, lambda b, r: b["m2m:cin"]["con"] == "v0")
        expect(LIB, steps, "create_cin_1", "2.01", 2001, lambda b, r: b["m2m:cin"]["con"] == "v1")
        expect(LIB, steps, "retrieve_la", "2.05", 2000, lambda b, r: b["m2m:cin"]["con"] == "v1", "latest")
        expect(LIB, steps, "retrieve_la_non", "2.05", 2000, lambda b, r: b["m2m:cin"]["con"] == "v1",
               "NON request answered")
        expect(LIB, steps, "retrieve_rcn4", "2.05", 2000,
               lambda b, r: [c["con"] for c in b["m2m:cnt"]["m2m:cin"]] == ["v0", "v1"], "?rcn=4: children")
        expect(LIB, steps, "discover", "2.05", 2000,
               lambda b, r: len(b["m2m:uril"]) == 2 and all(u.startswith("cse-in/%s/data/" % name)
                                                           for u in b["m2m:uril"]), "?fu=1&ty=4")
        expect(LIB, steps, "update_cnt", "2.04", 2004, lambda b, r: b["m2m:cnt"]["lbl"] == ["interop"])

        created = 2
        if feat.get("block1"):
            expect(LIB, steps, "create_big", "2.01", 2001, lambda b, r: b["m2m:cin"]["con"] == BIG,
                   "3 kB body in Block1, answer in Block2, intact")
            expect(LIB, steps, "retrieve_big", "2.05", 2000, lambda b, r: b["m2m:cin"]["con"] == BIG,
                   "3 kB answer in Block2, intact")
            created += 1
        expect(LIB, steps, "create_mid", "2.01", 2001, lambda b, r: b["m2m:cin"]["con"] == BIG[:900] and r["len"] > 1024,
               "a POST answered in Block2 pieces")
        expect(LIB, steps, "retrieve_mid", "2.05", 2000, lambda b, r: b["m2m:cin"]["con"] == BIG[:900])
        created += 1
        expect(LIB, steps, "count_after_blocks", "2.05", 2000, lambda b, r: b["m2m:cnt"]["cni"] == created,
               "Block2 follow-ups created nothing more: cni %d" % created)
        expect(LIB, steps, "retrieve_big_http", "2.05", 2000, lambda b, r: b["m2m:cin"]["con"] == BIG,
               "the HTTP-made 3 kB contentInstance in Block2, intact")
        if feat.get("emptyQuery"):
            expect(LIB, steps, "empty_query_retrieve", "2.05", 2000, lambda b, r: b["m2m:cnt"]["rn"] == "data",
                   "RETRIEVE with an empty Uri-Query")
            expect(LIB, steps, "empty_query_create", "2.01", 2001, lambda b, r: b["m2m:cin"]["con"] == "eq",
                   "CREATE with an empty Uri-Query")
            expect(LIB, steps, "empty_query_delete", "2.02", 2002, None, "DELETE with an empty Uri-Query")

        url = steps.get("target", {}).get("url", "?")
        expect(LIB, steps, "create_sub", "2.01", 2001, lambda b, r: b["m2m:sub"]["nu"] == [url],
               "verified through the library's CoAP target")
        expect(LIB, steps, "create_cin_notified", "2.01", 2001)
        expect(LIB, steps, "create_sub_slow", "2.01", 2001, lambda b, r: b["m2m:sub"]["rn"] == "slow",
               "target answers after the piggy-back bound: empty ACK, then a separate CON response")
        reqs = [l for l in lines if l.get("step") == "target_request"]
        t.ok(reqs and all(q["path"] == "/notify" and q["code"] == "POST" and q["fr"] == "/id-in"
                          and q["rvi"] == "3" and q["rqi"] for q in reqs),
             "%s: the CSE's notifications are CoAP POSTs to the URL's path with FR, RQI, RVI" % LIB,
             json.dumps(reqs)[:800])
        sub_ri = (steps.get("create_sub", {}).get("body") or {}).get("m2m:sub", {}).get("ri")
        slow_ri = (steps.get("create_sub_slow", {}).get("body") or {}).get("m2m:sub", {}).get("ri")
        vrq = [sgn(q).get("sur") for q in reqs if sgn(q).get("vrq") is True and sgn(q).get("cr") == "C" + name]
        t.eq(vrq, ["/id-in/" + str(sub_ri), "/id-in/" + str(slow_ri)],
             "%s: a verification request for each subscription reached the target" % LIB)
        events = [sgn(q)["nev"] for q in reqs if "nev" in sgn(q)]
        t.ok(any(e.get("net") == 3 and e["rep"].get("m2m:cin", {}).get("con") == "notified" for e in events),
             "%s: the new contentInstance was notified (net 3) to the target" % LIB, json.dumps(events)[:600])

        expect(LIB, steps, "delete_sub", "2.02", 2002)
        expect(LIB, steps, "delete_ae", "2.02", 2002)
        expect(LIB, steps, "retrieve_deleted", "4.04", 4004, lambda b, r: "m2m:dbg" in b, "gone")
t.done()
