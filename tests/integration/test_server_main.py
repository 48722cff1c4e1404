"""The engine as a library: tests/server/tiny_server.c is a second server
executable, a short main() handing server_main() a profile with one made-up
resource type (ty 910, "tiny:note"), one authorization decider (guests may
read notes), one setting (--greeting) and an on_reset hook for the upper
tester's Reset. Driven over HTTP like m2m-cse."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness
from harness import Cse, Tap

TINY = os.environ.get("TINY_SERVER", os.path.join(harness.BUILD, "tests", "tiny-server"))
t = Tap()

out = subprocess.run([TINY, "--help"], capture_output=True, text=True, timeout=10).stdout
t.ok("--greeting" in out and "Settings of this server" in out and "--http-port" in out,
     "tiny-server --help lists the engine's settings and its own", out[-300:])

harness.CSE_BIN = TINY
with Cse(coap_port=0, coaps_port=0, https_port=0, greeting="hi-from-the-test") as cse:
    log = cse.read_log()
    t.ok("tiny-server: CSE /id-in ('cse-in') ready" in log, "it starts on the engine's defaults", log[-400:])
    srt = (cse.get("/cse-in").json or {}).get("m2m:cb", {}).get("srt", [])
    # The engine's types and the made-up one, each listed once in srt.
    t.ok(len(srt) > 1 and "tiny-server: %d types, 2 deciders" % len(srt) in log,
         "its on_start hook sees its type and decider beside the engine's", log[-400:])
    t.ok(910 in srt and 3 in srt, "the CSEBase lists the made-up type among the supported ones", srt)

    r = cse.create("/cse-in", 910, {"tiny:note": {"rn": "n1", "txt": "first"}})
    note = (r.json or {}).get("tiny:note", {})
    t.rsc(r, 2001, 201, "CREATE of the made-up type")
    t.eq((note.get("txt"), note.get("grt"), note.get("ty")), ("first", "hi-from-the-test", 910),
         "its hook stamped the server's own setting into it")
    t.rsc(cse.create("/cse-in", 910, {"tiny:note": {"rn": "n2"}}), 4000, 400,
          "its attribute table is enforced (txt is mandatory)")
    r = cse.update("/cse-in/n1", {"tiny:note": {"txt": "second"}})
    t.rsc(r, 2004, 200, "UPDATE of it")
    r = cse.get("/cse-in?fu=1&ty=910")
    t.eq((r.json or {}).get("m2m:uril"), ["cse-in/n1"], "discovery by its type")

    r = cse.get("/cse-in/n1", origin="Cguest")
    t.rsc(r, 2000, 200, "its decider lets a guest read a note the ACPs would not")
    t.eq((r.json or {}).get("tiny:note", {}).get("txt"), "second", "with the representation under its wire key")
    cse.create("/cse-in", 3, {"m2m:cnt": {"rn": "box"}})
    t.rsc(cse.get("/cse-in/box", origin="Cguest"), 4103, 403, "anything else stays refused to the guest")
    t.rsc(cse.delete("/cse-in/n1", origin="Cguest"), 4103, 403, "and so is deleting the note")
    t.rsc(cse.delete("/cse-in/n1"), 2002, 200, "DELETE of it")

# The upper tester's Reset runs the profile's on_reset after emptying the CSE.
with Cse(coap_port=0, coaps_port=0, https_port=0, upper_tester="true") as cse:
    t.rsc(cse.create("/cse-in", 910, {"tiny:note": {"rn": "n9", "txt": "x"}}), 2001, 201, "a note before the reset")
    r = harness.curl("POST", cse.base + "/__ut__", {"X-M2M-UTCMD": "Reset", "X-M2M-RI": "u"})
    t.rsc(r, 2000, 200, "Reset on a second server executable")
    t.rsc(cse.get("/cse-in/n9"), 4004, 404, "the note is gone")
    srt = (cse.get("/cse-in").json or {}).get("m2m:cb", {}).get("srt", [])
    t.ok(910 in srt and "tiny-server: reset, %d types still served" % len(srt) in cse.read_log(),
         "the profile's on_reset hook ran, with every type still served", cse.read_log()[-300:])

harness.CSE_BIN = os.environ.get("M2M_CSE", os.path.join(harness.BUILD, "m2m-cse"))
with Cse(coap_port=0, coaps_port=0, https_port=0) as cse:
    r = cse.create("/cse-in", 910, {"tiny:note": {"rn": "n1", "txt": "x"}})
    t.rsc(r, 5001, 501, "m2m-cse itself does not know the made-up type (5001)")
    t.ok("--greeting" not in subprocess.run([harness.CSE_BIN, "--help"], capture_output=True, text=True,
                                            timeout=10).stdout, "nor its setting")
t.done()
