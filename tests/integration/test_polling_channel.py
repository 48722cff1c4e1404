"""<pollingChannel> (ty 15) and its pcu: the channel's rules, long polls over
HTTP and CoAP, a subscription's verification and notifications to an AE
without poa delivered through the channel and answered by NOTIFY to pcu, a
NOTIFY forwarded to the AE, the long-poll timeout, the queue bound, and the
channel's deletion while polled."""
import os, sys, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl
from coap_peer import coap_client, ClientResult

t = Tap()
PCU = "/cse-in/sensor/pch/pcu"


class Bg:
    """Runs fn() in a thread; result() waits for it (bounded)."""

    def __init__(self, fn):
        self.value = None
        self.th = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.th.start()

    def _run(self, fn):
        self.value = fn()

    def result(self, timeout=20):
        self.th.join(timeout)
        return self.value


def coap_poll(cse, rqi, timeout=10, **params):
    """A CoAP long poll; the result read from the CSE's (separate) response,
    not from coap-client's own empty ACK to it."""
    r = coap_client(cse.coap_port, PCU, params=dict(fr="Csensor", rqi=rqi, **params), timeout=timeout)
    return ClientResult(r.rc, "\n".join(l for l in r.out.splitlines() if " c:0.00 " not in l), r.body)


def rqp_of(r):
    return ((r.json if r is not None else None) or {}).get("m2m:rqp") or {}


def answer(cse, rqi, rsc=2000, origin="Csensor", **kw):
    return cse.request("POST", PCU, origin=origin,
                       body={"m2m:rsp": {"rqi": rqi, "rsc": rsc, "rvi": "3", "fr": origin}}, **kw)


def poll(cse, **kw):
    kw.setdefault("timeout", 15)
    return cse.get(PCU, origin="Csensor", **kw)


with Cse(**{"pch-poll-timeout": "1500", "pch-request-timeout": "8000", "pch-queue": "3",
            "upper-tester": "true"}) as cse:
    cse.register_ae("sensor", origin="Csensor", rr=False)
    cse.register_ae("mon", origin="Cmon")
    # Cmon may send notifications to the sensor (so may subscribe it).
    r = cse.create("/cse-in/sensor", 1, {"m2m:acp": {"rn": "acp", "pv": {"acr": [
        {"acor": ["Cmon"], "acop": 16}, {"acor": ["Csensor"], "acop": 63}]},
        "pvs": {"acr": [{"acor": ["Csensor"], "acop": 63}]}}}, origin="Csensor")
    cse.update("/cse-in/sensor", {"m2m:ae": {"acpi": [r.json["m2m:acp"]["ri"]]}}, origin="Csensor")
    cse.create("/cse-in/mon", 3, {"m2m:cnt": {"rn": "box"}}, origin="Cmon")
    box = "/cse-in/mon/box"

    # --- the channel's rules -------------------------------------------------
    t.ok(15 in cse.get("/cse-in").json["m2m:cb"]["srt"], "the CSEBase's srt lists 15")
    r = cse.create("/cse-in/sensor", 15, {"m2m:pch": {"rn": "pch"}}, origin="CAdmin")
    t.rsc(r, 4103, 403, "only the AE itself creates its pollingChannel (the admin is refused)")
    r = cse.create("/cse-in/sensor", 15, {"m2m:pch": {"rn": "pch"}}, origin="Csensor")
    t.rsc(r, 2001, 201, "the AE creates its pollingChannel")
    pch = (r.json or {}).get("m2m:pch", {})
    t.ok(pch.get("ty") == 15 and pch.get("rqag") is False and pch.get("et"), "ty 15, rqag false, an et", pch)
    r = cse.create("/cse-in/sensor", 15, {"m2m:pch": {"rn": "pch2"}}, origin="Csensor")
    t.rsc(r, 4000, 400, "a second pollingChannel under the same AE -> 4000")
    t.rsc(cse.create("/cse-in", 15, {"m2m:pch": {"rn": "p"}}), 4108, 403,
          "a pollingChannel under the CSEBase -> 4108")
    t.rsc(cse.create(box, 15, {"m2m:pch": {"rn": "p"}}, origin="Cmon"), 4108, 403,
          "a pollingChannel under a container -> 4108")
    r = cse.create("/cse-in/sensor", 15, {"m2m:pch": {"rn": "p3", "acpi": ["x"]}}, origin="Csensor")
    t.rsc(r, 4000, 400, "acpi is no attribute of a pollingChannel")
    t.rsc(cse.get("/cse-in/sensor/pch", origin="Cmon"), 4103, 403, "another AE cannot retrieve it")
    r = cse.update("/cse-in/sensor/pch", {"m2m:pch": {"rqag": True}}, origin="Csensor")
    t.ok(r.rsc == 2004 and r.json["m2m:pch"]["rqag"] is True, "rqag can be updated", r)
    cse.update("/cse-in/sensor/pch", {"m2m:pch": {"rqag": False}}, origin="Csensor")
    t.rsc(cse.update(PCU, {"m2m:pch": {}}, origin="Csensor"), 4005, 405, "UPDATE of pcu -> 4005")
    t.rsc(cse.delete(PCU, origin="Csensor"), 4005, 405, "DELETE of pcu -> 4005")
    t.rsc(cse.create(PCU, 3, {"m2m:cnt": {}}, origin="Csensor"), 4005, 405, "CREATE under pcu -> 4005")

    # --- long polls that find nothing ----------------------------------------
    r = poll(cse, headers={"X-M2M-RET": "700"})
    t.rsc(r, 4008, 504, "a long poll with rqet 700 ms and nothing queued -> 4008")
    r = poll(cse)
    t.rsc(r, 4008, 504, "without rqet it lasts pch-poll-timeout, then 4008")
    t.rsc(cse.get(PCU, origin="Cmon"), 4103, 403, "another originator's poll -> 4103")
    t.rsc(cse.get(PCU, origin="CAdmin"), 4103, 403, "even the admin's poll -> 4103")

    # --- a subscription's verification through the channel -------------------
    polling = Bg(lambda: poll(cse))
    time.sleep(0.3)
    sub = Bg(lambda: cse.create(box, 23, {"m2m:sub": {"rn": "s", "nu": ["Csensor"], "nse": True,
                                                      "enc": {"net": [3]}}}, origin="Cmon", timeout=15))
    got = polling.result()
    q = rqp_of(got)
    t.ok(got is not None and got.rsc == 2000 and q.get("op") == 5 and q.get("to") == "Csensor"
         and q.get("fr") == "/id-in" and q.get("pc", {}).get("m2m:sgn", {}).get("vrq") is True,
         "the parked poll gets the verification request as m2m:rqp", got)
    t.rsc(answer(cse, q.get("rqi")), 2000, 200, "the AE answers it: m2m:rsp by NOTIFY to pcu")
    r = sub.result()
    t.rsc(r, 2001, 201, "the subscription is created once the AE's answer is in")

    # --- a notification waits at the channel, is polled and answered ---------
    t.rsc(cse.create(box, 4, {"m2m:cin": {"con": "c1"}}, origin="Cmon"), 2001, 201, "an event")
    got = poll(cse)
    q = rqp_of(got)
    rep = q.get("pc", {}).get("m2m:sgn", {}).get("nev", {}).get("rep", {})
    t.ok(got.rsc == 2000 and q.get("op") == 5 and rep.get("m2m:cin", {}).get("con") == "c1" and q.get("rqi"),
         "the queued notification is handed to the next poll at once", got)
    t.rsc(answer(cse, "no-such-rqi"), 4004, 404,
          "an answer to no waiting request -> 4004")
    r = cse.request("POST", PCU, origin="Csensor", body={"m2m:rqp": {"rqi": q.get("rqi"), "rsc": 2000}})
    t.rsc(r, 4000, 400, "a NOTIFY to pcu without m2m:rsp -> 4000")
    t.rsc(answer(cse, q.get("rqi"), origin="Cmon"), 4103, 403, "another originator cannot answer")
    t.rsc(answer(cse, q.get("rqi")), 2000, 200, "the AE answers the notification")
    nsi = []
    for _ in range(20):
        nsi = cse.get(box + "/s", origin="Cmon").json["m2m:sub"].get("nsi", [])
        if nsi and nsi[0].get("rsr") == 1:
            break
        time.sleep(0.1)
    t.ok(nsi and nsi[0].get("rqs") == 1 and nsi[0].get("rsr") == 1,
         "the notification counts as sent and answered (nsi)", nsi)

    # --- the same over CoAP --------------------------------------------------
    cpoll = Bg(lambda: coap_poll(cse, "cp1"))
    time.sleep(0.5)
    cse.create(box, 4, {"m2m:cin": {"con": "c2"}}, origin="Cmon")
    got = cpoll.result()
    q = (got.json or {}).get("m2m:rqp", {}) if got and got.body.strip() else {}
    rep = q.get("pc", {}).get("m2m:sgn", {}).get("nev", {}).get("rep", {})
    t.ok(got is not None and got.rsc == 2000 and rep.get("m2m:cin", {}).get("con") == "c2",
         "a CoAP long poll gets the notification when it happens", got)
    body = '{"m2m:rsp": {"rqi": "%s", "rsc": 2000}}' % q.get("rqi")
    r = coap_client(cse.coap_port, PCU, method="post", params={"fr": "Csensor", "rqi": "cp2"}, body=body, cf=50)
    t.eq(r.rsc, 2000, "and the AE answers over CoAP")
    r = coap_poll(cse, "cp3", rqet="500")
    t.eq((r.rsc, r.code), (4008, "5.04"), "a CoAP long poll that finds nothing -> 4008 (5.04)")
    for _ in range(20):
        nsi = cse.get(box + "/s", origin="Cmon").json["m2m:sub"].get("nsi", [])
        if nsi and nsi[0].get("rsr") == 2:
            break
        time.sleep(0.1)
    t.eq(nsi[0].get("rsr") if nsi else None, 2, "the CoAP-answered notification counts as answered")
    cse.delete(box + "/s", origin="Cmon")
    got = poll(cse)
    t.ok(rqp_of(got).get("pc", {}).get("m2m:sgn", {}).get("sud") is not True,
         "no deletion notification without su", got)

    # --- a NOTIFY forwarded to the AE gets the AE's own answer --------------
    fwd = Bg(lambda: cse.request("POST", "/cse-in/sensor", origin="CAdmin", rqi="fw-1",
                                 body={"m2m:sgn": {"nev": {"rep": {"x": 1}, "net": 1}}}, timeout=15))
    got = poll(cse)
    q = rqp_of(got)
    t.ok(q.get("rqi") == "fw-1" and q.get("fr") == "CAdmin" and q.get("to") == "Csensor",
         "a NOTIFY to the AE is polled with its own rqi and originator", got)
    t.rsc(answer(cse, "fw-1", rsc=4005), 2000, 200, "the AE answers it with 4005")
    t.rsc(fwd.result(), 4005, 405, "the forwarded NOTIFY's originator gets the AE's answer")

    # --- the queue bound: the oldest waiting request is dropped --------------
    sent = []
    for i in range(5):
        rqi = "q%d" % i
        sent.append(Bg(lambda rqi=rqi: cse.request("POST", "/cse-in/sensor", origin="CAdmin", rqi=rqi,
                                                   body={"m2m:sgn": {"nev": {"rep": {"n": rqi}, "net": 1}}},
                                                   timeout=15)))
        time.sleep(0.3)
    dropped = [b.result() for b in sent[:2]]
    t.ok(all(d is not None and d.rsc == 5103 for d in dropped),
         "with pch-queue 3, the two oldest of five are dropped: their originators get 5103", dropped)
    order = []
    for _ in range(3):
        q = rqp_of(poll(cse))
        order.append(q.get("rqi"))
        answer(cse, q.get("rqi"))
    t.eq(order, ["q2", "q3", "q4"], "the three kept are polled oldest first")
    t.eq([b.result().rsc for b in sent[2:]], [2000, 2000, 2000], "and answered")
    t.ok("queue full" in cse.read_log(), "the drops are logged")

    # --- rqag: a poll takes every waiting request at once ------------------
    cse.update("/cse-in/sensor/pch", {"m2m:pch": {"rqag": True}}, origin="Csensor")
    sent = []
    for rqi in ("a1", "a2"):
        sent.append(Bg(lambda rqi=rqi: cse.request("POST", "/cse-in/sensor", origin="CAdmin", rqi=rqi,
                                                   body={"m2m:sgn": {"nev": {"rep": {}, "net": 1}}},
                                                   timeout=15)))
        time.sleep(0.3)
    got = poll(cse)
    agrp = (got.json or {}).get("m2m:agrp")
    t.ok(got.rsc == 2000 and isinstance(agrp, list) and [a.get("rqi") for a in agrp] == ["a1", "a2"]
         and all(a.get("op") == 5 for a in agrp), "with rqag, one poll gets both as m2m:agrp", got)
    for rqi in ("a2", "a1"):
        answer(cse, rqi)
    t.eq([b.result().rsc for b in sent], [2000, 2000], "each answered by its rqi, in any order")
    cse.update("/cse-in/sensor/pch", {"m2m:pch": {"rqag": False}}, origin="Csensor")

    # --- the channel's deletion ----------------------------------------------
    fwd = Bg(lambda: cse.request("POST", "/cse-in/sensor", origin="CAdmin", rqi="gone-1",
                                 body={"m2m:sgn": {"nev": {"rep": {}, "net": 1}}}, timeout=15))
    time.sleep(0.4)
    t.rsc(cse.delete("/cse-in/sensor/pch", origin="Csensor"), 2002, 200, "delete the pollingChannel")
    t.rsc(fwd.result(), 5103, 404, "a request waiting at the deleted channel -> 5103")
    t.rsc(poll(cse), 4004, 404, "pcu is gone with its channel -> 4004")
    cse.create("/cse-in/sensor", 15, {"m2m:pch": {"rn": "pch"}}, origin="Csensor")
    polling = Bg(lambda: poll(cse, headers={"X-M2M-RET": "8000"}))
    time.sleep(0.5)
    t0 = time.time()
    t.rsc(cse.delete("/cse-in/sensor/pch", origin="Csensor"), 2002, 200, "delete it while a poll is parked")
    r = polling.result()
    t.rsc(r, 4004, 404, "the parked poll is answered 4004")
    t.ok(time.time() - t0 < 6, "at the deletion, not at its rqet")

    # --- without a channel, nothing changes ----------------------------------
    r = cse.create(box, 23, {"m2m:sub": {"rn": "s2", "nu": ["Csensor"]}}, origin="Cmon")
    t.rsc(r, 5204, 500, "an AE without poa and without channel cannot be verified -> 5204")
    t.ok(cse.alive(), "the CSE is still running")

    # --- an upper tester Reset, then a stop, with a poll parked and a request queued
    def pending():
        cse.register_ae("sensor", origin="Csensor", rr=False)
        cse.register_ae("sensor2", origin="Csensor2", rr=False)
        cse.create("/cse-in/sensor2", 15, {"m2m:pch": {"rn": "pch"}}, origin="Csensor2")
        cse.create("/cse-in/sensor", 15, {"m2m:pch": {"rn": "pch"}}, origin="Csensor")
        parked = Bg(lambda: cse.get("/cse-in/sensor2/pch/pcu", origin="Csensor2",
                                    headers={"X-M2M-RET": "20000"}, timeout=25))
        queued = Bg(lambda: cse.request("POST", "/cse-in/sensor", origin="CAdmin", rqi="left",
                                        body={"m2m:sgn": {"nev": {"rep": {}, "net": 1}}}, timeout=25))
        time.sleep(0.5)
        t.ok(parked.th.is_alive() and queued.th.is_alive(), "a poll parked and a request queued")
        return parked, queued

    cse.delete("/cse-in/sensor", origin="Csensor")
    parked, queued = pending()
    r = curl("POST", cse.base + "/__ut__", {"X-M2M-RI": "ut-1", "X-M2M-RVI": "3", "X-M2M-UTCMD": "Reset"})
    t.eq(r.rsc, 2000, "upper tester Reset")
    t.eq((parked.result().rsc, queued.result().rsc), (5000, 5000), "the Reset answers both 5000")
    parked, queued = pending()
# (leaving the with-block stops the CSE: the harness fails the test unless it exits 0)
t.ok(parked.result(10) is not None and queued.result(10) is not None, "both clients got an end at the stop")
t.done()
