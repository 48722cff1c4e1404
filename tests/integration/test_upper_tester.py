"""The conformance upper tester (docs/conformance.md, "Upper tester"):
POST /__ut__ with X-M2M-UTCMD.

Checked: off by default it answers exactly like any unknown target and
resets nothing; with `upper-tester` on, Status answers 200/2000 with
X-M2M-UTRSP, Reset removes every resource below the CSEBase (AE,
container, instances, ACP), keeps the CSEBase (same ri, ct) and empties
the rate-limit buckets, a removed AE can register again; unknown, missing
or malformed commands get 400/4000 and change nothing; GET gets 405/4005;
the expiration-check commands answer with the value they replaced;
enableShortRequestExpiration is 501/5001; on a non-loopback http-host the
tester stays off unless `upper-tester-remote` is set too."""
import os, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl
from notify_receiver import Receiver

t = Tap()


def ut(cse, cmd=None, method="POST", path="/__ut__", headers=None):
    h = {"X-M2M-RI": "ut-1", "X-M2M-RVI": "3"}
    if cmd is not None:
        h["X-M2M-UTCMD"] = cmd
    h.update(headers or {})
    return curl(method, cse.base + path, h)


def populate(cse):
    """An AE with a container, two instances and an ACP; returns the AE's ri."""
    r = cse.register_ae("utAE", origin="CutAE")
    t.rsc(r, 2001, 201, "AE registered")
    t.rsc(cse.create("/cse-in/utAE", 3, {"m2m:cnt": {"rn": "box"}}, origin="CutAE"), 2001, 201,
          "container created")
    for i in range(2):
        t.rsc(cse.create("/cse-in/utAE/box", 4, {"m2m:cin": {"con": "v%d" % i}}, origin="CutAE"),
              2001, 201, "instance %d created" % i)
    acp = {"m2m:acp": {"rn": "utAcp", "pv": {"acr": [{"acor": ["CutAE"], "acop": 63}]},
                       "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}}
    t.rsc(cse.create("/cse-in", 1, acp), 2001, 201, "ACP created")
    return r.json["m2m:ae"]["ri"] if r.json else None


# --- off by default: indistinguishable from an unknown target --------------------
with Cse() as cse:
    populate(cse)
    r = ut(cse, "Reset")
    other = ut(cse, "Reset", path="/__xy__")
    t.ok(r.status == other.status and r.rsc == other.rsc and r.status >= 400,
         "off: POST /__ut__ answers like any unknown target",
         "got %r, unknown target %r" % (r, other))
    t.ok("x-m2m-utrsp" not in r.headers, "off: no X-M2M-UTRSP")
    hdr = {"X-M2M-Origin": "CAdmin", "Content-Type": "application/json"}
    r = ut(cse, "Reset", headers=hdr)
    other = ut(cse, "Reset", path="/__xy__", headers=hdr)
    t.ok((r.status, r.rsc) == (other.status, other.rsc) == (404, 4004),
         "off: as a NOTIFY to /__ut__ it is 404/4004 like any unknown target", "got %r, other %r" % (r, other))
    r = ut(cse, "Status", method="GET", headers={"X-M2M-Origin": "CAdmin"})
    t.rsc(r, 4004, 404, "off: GET /__ut__ is 404/4004")
    t.rsc(cse.get("/cse-in/utAE/box/la", origin="CutAE"), 2000, 200, "off: nothing was reset")
    t.ok("upper tester" not in cse.read_log(), "off: nothing logged as an upper tester command")

# --- on ------------------------------------------------------------------------------
with Cse(upper_tester="true") as cse:
    base = cse.get("/cse-in").json["m2m:cb"]
    r = ut(cse, "Status")
    t.rsc(r, 2000, 200, "Status answers 200/2000")
    t.eq(r.headers.get("x-m2m-utrsp"), "RUNNING", "Status says RUNNING in X-M2M-UTRSP")
    t.eq(r.headers.get("x-m2m-ri"), "ut-1", "X-M2M-RI is echoed")
    t.rsc(ut(cse, "status"), 2000, 200, "command names are case-insensitive")

    ae_ri = populate(cse)
    r = ut(cse, "Frobnicate")
    t.rsc(r, 4000, 400, "an unknown command is 400/4000")
    t.ok("Frobnicate" in r.text, "the m2m:dbg names the unknown command", r.text)
    t.rsc(ut(cse), 4000, 400, "a missing X-M2M-UTCMD is 400/4000")
    t.rsc(ut(cse, "Reset now"), 4000, 400, "Reset with an argument is 400/4000")
    t.rsc(ut(cse, "Reset", method="GET"), 4005, 405, "GET /__ut__ is 405/4005")
    t.rsc(cse.get("/cse-in/utAE/box/la", origin="CutAE"), 2000, 200, "refused commands reset nothing")

    r = ut(cse, "Reset")
    t.rsc(r, 2000, 200, "Reset answers 200/2000")
    for path in ("/cse-in/utAE", "/cse-in/utAE/box", "/cse-in/utAE/box/la", "/cse-in/utAcp"):
        t.rsc(cse.get(path), 4004, 404, "after Reset %s is gone" % path)
    if ae_ri:
        t.rsc(cse.get("/" + ae_ri), 4004, 404, "after Reset the AE is gone by its ri too")
    after = cse.get("/cse-in")
    t.rsc(after, 2000, 200, "the CSEBase remains")
    cb = after.json["m2m:cb"] if after.json else {}
    t.eq((cb.get("ri"), cb.get("ct"), cb.get("csi")), (base["ri"], base["ct"], base["csi"]),
         "the CSEBase keeps its ri, ct and csi")
    d = cse.request("GET", "/cse-in?fu=1", origin="CAdmin")
    t.rsc(d, 2000, 200, "discovery after Reset")
    uril = d.json.get("m2m:uril") if d.json else None
    t.ok(isinstance(uril, list) and not [u for u in uril if "ut" in u], "discovery finds nothing below the CSEBase", uril)
    r = cse.get("/cse-in", base=cse.https_base, curl_extra=cse.https_curl_options())
    t.rsc(r, 2000, 200, "HTTPS is served after Reset (the listener's handshake limit outlives it)")
    t.rsc(cse.register_ae("utAE", origin="CutAE"), 2001, 201, "the AE registers again after Reset")
    t.rsc(ut(cse, "Reset"), 2000, 200, "a second Reset")
    t.rsc(cse.get("/cse-in/utAE"), 4004, 404, "the second Reset removed the new AE")

    r = ut(cse, "enableShortResourceExpiration 2")
    t.rsc(r, 2000, 200, "enableShortResourceExpiration 2 answers 200/2000")
    t.eq(r.headers.get("x-m2m-utrsp"), "1", "it answers the check interval it replaced (1 s)")
    r = ut(cse, "enableShortResourceExpiration 3")
    t.eq(r.headers.get("x-m2m-utrsp"), "2", "a second one answers the shortened interval")
    t.rsc(ut(cse, "enableShortResourceExpiration"), 4000, 400, "without seconds it is 400/4000")
    t.rsc(ut(cse, "enableShortResourceExpiration soon"), 4000, 400, "non-numeric seconds are 400/4000")
    t.rsc(ut(cse, "disableShortResourceExpiration"), 2000, 200, "disableShortResourceExpiration answers 200/2000")
    r = ut(cse, "enableShortResourceExpiration 1")
    t.eq(r.headers.get("x-m2m-utrsp"), "1", "disable restored the configured interval")
    ut(cse, "disableShortResourceExpiration")
    t.rsc(ut(cse, "enableShortRequestExpiration 5"), 5001, 501,
          "enableShortRequestExpiration is 501/5001 (not implemented)")
    t.ok("upper tester: 'Reset'" in cse.read_log(), "commands are logged")
    t.ok("the upper tester is on" in cse.read_log(), "the start-up log says the upper tester is on")

# --- a request waiting for an outside answer (subscription verification) ----------
rx = Receiver().start()
rx.delay = 2.0
with Cse(upper_tester="true") as cse:
    t.rsc(cse.register_ae("subAE", origin="CsubAE", poa=[rx.url]), 2001, 201, "AE for the subscription")
    t.rsc(cse.create("/cse-in/subAE", 3, {"m2m:cnt": {"rn": "c"}}, origin="CsubAE"), 2001, 201, "its container")
    got = {}

    def subscribe():
        got["r"] = cse.create("/cse-in/subAE/c", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url]}}, origin="CsubAE")
    th = threading.Thread(target=subscribe)
    th.start()
    rx.wait_count(1, timeout=5)          # the verification request is waiting for its answer
    t.rsc(ut(cse, "Reset"), 2000, 200, "Reset while a subscription waits for its verification")
    th.join(timeout=15)
    t.rsc(got.get("r"), 5000, 500, "the waiting CREATE is answered 5000 by the reset")
    t.ok("reset" in (got["r"].text if got.get("r") else ""), "its m2m:dbg says the CSE was reset", got.get("r"))
    time.sleep(2.5)                      # the receiver's late answer arrives and is only counted
    t.rsc(cse.get("/cse-in/subAE/c/s"), 4004, 404, "the subscription was not created")
    t.rsc(cse.get("/cse-in"), 2000, 200, "the CSE serves on after the late answer")
rx.stop()

# --- rate-limit buckets: one token a second, so a refusal lasts -----------------------
with Cse(upper_tester="true", rate_per_originator="1,2", rate_limit_loopback="true") as cse:
    # Eight in a row: a refill (one a second) cannot keep up even when a
    # loaded machine makes each request slow; four sometimes did.
    codes = [cse.get("/cse-in", origin="CAdmin").status for _ in range(8)]
    t.ok(429 in codes, "the rate limit refuses CAdmin before the reset", codes)
    t.rsc(ut(cse, "Reset"), 2000, 200, "Reset answers 200/2000")
    r = cse.get("/cse-in", origin="CAdmin")
    t.rsc(r, 2000, 200, "after Reset the originator's bucket is full again")

# --- a non-loopback listener: asked twice --------------------------------------------
with Cse(upper_tester="true", http_host="0.0.0.0", security_http="optional") as cse:
    r = curl("POST", "http://127.0.0.1:%d/__ut__" % cse.port, {"X-M2M-UTCMD": "Status", "X-M2M-RI": "u"})
    other = curl("POST", "http://127.0.0.1:%d/__xy__" % cse.port, {"X-M2M-UTCMD": "Status", "X-M2M-RI": "u"})
    t.ok(r.status == other.status and r.rsc == other.rsc and r.status >= 400,
         "non-loopback http-host: upper-tester alone leaves it off", "got %r, unknown %r" % (r, other))
    t.ok(r.headers.get("x-m2m-utrsp") is None, "non-loopback http-host: no UTRSP")
    t.ok("upper-tester is off: http-host 0.0.0.0 is not loopback" in cse.read_log(),
         "the start-up log says why it stays off")

with Cse(upper_tester="true", upper_tester_remote="true", http_host="0.0.0.0",
         security_http="optional") as cse:
    r = curl("POST", "http://127.0.0.1:%d/__ut__" % cse.port, {"X-M2M-UTCMD": "Status", "X-M2M-RI": "u"})
    t.rsc(r, 2000, 200, "with upper-tester-remote too it answers (here a loopback peer)")

t.done()
