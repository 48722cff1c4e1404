"""CSE to CSE end to end (issue 15), with real registration and no static
peering: an MN-CSE registers at an IN-CSE over CoAPS with a PSK bound to its
CSE-ID (and a second MN over HTTPS with a PSK). An AE on the MN announces a
container to the IN; an AE registered at the IN finds the copy by discovery,
follows its lnk (forwarded through the IN's <remoteCSE> for the MN) and reads
the latest instance; subscribes to the MN's container and is notified; a
group at the IN with a member on the MN fans out. The MN restarts and
registers again (the copy stays); the IN goes down for a while (the MN serves
its AEs) and the MN registers when it comes back."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, wait_for
from notify_receiver import Receiver

t = Tap()
KEY = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"
FAST = dict(registration_check=300, registration_retry_max=800)
rx = Receiver().start()


def body(r):
    v = next(iter(r.json.values())) if r is not None and isinstance(r.json, dict) and r.json else {}
    return v if isinstance(v, dict) else {}


def registered(inn, csi):
    return inn.get("/cse-in/" + csi.lstrip("/")).rsc == 2000


def mn(cse_id, inn, scheme, port, data_dir=None):
    c = Cse(data_dir=data_dir, cse_id=cse_id, cse_name="cse-" + cse_id[3:], cse_type=2,
            registrar="%s://127.0.0.1:%d" % (scheme, port), registrar_csi="/id-in",
            outbound_psk="127.0.0.1:%d=%s-key" % (port, cse_id), psk=["%s-key:%s:/id-in" % (cse_id, KEY)], **FAST)
    if data_dir:
        c.own_dir = True
    return c


def copy_at_in(inn, cse_id, ri):
    """The IN's announced copy of cse_id's resource ri, found by discovery (ty 10003)."""
    r = inn.get("/cse-in?fu=1&ty=10003&lbl=kind:power", origin="Cuser")
    for uri in (r.json or {}).get("m2m:uril", []):
        a = body(inn.get("/" + uri.lstrip("/"), origin="Cuser"))
        if a.get("lnk") == "/%s/%s" % (cse_id, ri):
            return a
    return None


inn = Cse(cse_id="id-in", cse_name="cse-in", psk=["id-mn-key:%s:/id-mn" % KEY, "id-mn2-key:%s:/id-mn2" % KEY])
inn.start()
mns = [mn("id-mn", inn, "coaps", inn.coaps_port), mn("id-mn2", inn, "https", inn.https_port)]
try:
    for m in mns:
        m.start()
    t.rsc(inn.register_ae("user", origin="Cuser", poa=[rx.url]), 2001, 201, "AE Cuser registers at the IN")
    originals = {}
    for m, how in zip(mns, ("CoAPS", "HTTPS")):
        cid, base = m.settings["cse_id"], "/" + m.settings["cse_name"]
        t.ok(wait_for(lambda: registered(inn, cid)), "%s registered at the IN over %s with its PSK" % (cid, how),
             m.read_log()[-1500:])
        r = m.create(base, 2, {"m2m:ae": {"rn": "meter", "api": "Nmeter", "rr": True, "srv": ["3"]}}, origin="Cmeter")
        t.rsc(r, 2001, 201, "%s: AE Cmeter registers" % cid)
        # The ACP is announced too: its acpA decides at the IN who may read the copy.
        r = m.create(base + "/meter", 1, {"m2m:acp": {"rn": "share", "at": ["/id-in"], "pv": {"acr": [
            {"acor": ["Cmeter", "/id-in/Cuser"], "acop": 63}]}, "pvs": {"acr": [{"acor": ["Cmeter"], "acop": 63}]}}},
            origin="Cmeter")
        t.rsc(r, 2001, 201, "%s: an ACP for Cmeter and /id-in/Cuser, announced to /id-in" % cid)
        r = m.create(base + "/meter", 3, {"m2m:cnt": {"rn": "power", "lbl": ["kind:power"], "at": ["/id-in"],
                                                      "acpi": [base[1:] + "/meter/share"]}}, origin="Cmeter")
        t.rsc(r, 2001, 201, "%s: a container announced to /id-in, shared with /id-in/Cuser by an ACP" % cid)
        originals[cid] = body(r).get("ri")
        for v in ("1", "2"):
            m.create(base + "/meter/power", 4, {"m2m:cin": {"con": "%s-%s" % (cid, v)}}, origin="Cmeter")

        # 1. discovery at the IN, then lnk followed through the IN to the MN
        copy = wait_for(lambda: copy_at_in(inn, cid, originals[cid]))
        t.ok(copy, "%s: discovery at the IN finds the announced cntA" % cid,
             inn.get("/cse-in?fu=1&ty=10003").text + m.read_log()[-1500:])
        r = inn.get("/~%s/la" % (copy or {}).get("lnk", "/none"), origin="Cuser")
        t.eq((r.rsc, body(r).get("con")), (2000, "%s-2" % cid),
             "%s: Cuser follows the copy's lnk (forwarded) and reads the latest instance" % cid)

        # 2. a subscription made from the IN, notified when the MN's AE adds an instance
        rx.clear()
        r = inn.create("/~/%s%s/meter/power" % (cid, base), 23,
                       {"m2m:sub": {"rn": "s", "nu": ["/id-in/Cuser"], "enc": {"net": [3]}}}, origin="Cuser")
        t.rsc(r, 2001, 201, "%s: Cuser subscribes to the MN's container (forwarded CREATE, nu its AE-ID)" % cid)
        m.create(base + "/meter/power", 4, {"m2m:cin": {"con": "%s-3" % cid}}, origin="Cmeter")
        got = rx.wait(lambda reqs: any((q["body"] or {}).get("m2m:sgn", {}).get("nev") for q in reqs))
        cons = [q["body"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"] for q in got
                if (q["body"] or {}).get("m2m:sgn", {}).get("nev")]
        t.eq(cons[:1], ["%s-3" % cid], "%s: the notification reached Cuser's poa through the IN" % cid)

    # 3. a group at the IN with a member on each MN
    mids = ["/id-mn/cse-mn/meter/power/la", "/id-mn2/cse-mn2/meter/power/la"]
    r = inn.create("/cse-in/user", 9, {"m2m:grp": {"rn": "g", "mnm": 5, "mid": mids}}, origin="Cuser")
    t.rsc(r, 2001, 201, "a group at the IN with members on both MNs")
    r = inn.get("/cse-in/user/g/fopt", origin="Cuser")
    rsps = {x.get("to"): x for x in (r.json or {}).get("m2m:agr", {}).get("m2m:rsp", [])}
    t.eq([(rsps.get(x, {}).get("pc") or {}).get("m2m:cin", {}).get("con") for x in mids], ["id-mn-3", "id-mn2-3"],
         "fopt fans out through forwarding: each MN's latest instance")

    # 4a. the MN restarts: registered again, the copy still found, lnk still followed
    m = mns[0]
    ports = dict(http_port=m.port, https_port=m.https_port, coap_port=m.coap_port, coaps_port=m.coaps_port)
    t.eq(m.stop(), 0, "the MN stops cleanly (deregistering)")
    t.ok(not registered(inn, "/id-mn"), "... its <remoteCSE> at the IN is gone")
    mns[0] = m = mn("id-mn", inn, "coaps", inn.coaps_port, data_dir=m.data_dir)
    m.port, m.https_port, m.coap_port, m.coaps_port = (ports[k] for k in ("http_port", "https_port", "coap_port",
                                                                         "coaps_port"))
    m.start()
    t.ok(wait_for(lambda: registered(inn, "/id-mn")), "the restarted MN registered again", m.read_log()[-1500:])
    copy = wait_for(lambda: copy_at_in(inn, "id-mn", originals["id-mn"]))
    r = inn.get("/~%s/la" % (copy or {}).get("lnk", "/none"), origin="Cuser")
    t.eq((bool(copy), r.rsc, body(r).get("con")), (True, 2000, "id-mn-3"),
         "the announced copy is found at the IN again and its lnk followed")

    # 4b. the IN down for a while: the MN serves its AEs; back, the MN registers again
    ports = dict(http_port=inn.port, https_port=inn.https_port, coap_port=inn.coap_port, coaps_port=inn.coaps_port)
    inn.kill9()
    r = m.create("/cse-mn/meter/power", 4, {"m2m:cin": {"con": "offline"}}, origin="Cmeter")
    t.rsc(r, 2001, 201, "the IN down: the MN still serves its AE")
    t.eq(body(m.get("/cse-mn/meter/power/la", origin="Cmeter")).get("con"), "offline", "... and reads it back")
    inn = Cse(data_dir=inn.data_dir, cse_id="id-in", cse_name="cse-in",
              psk=["id-mn-key:%s:/id-mn" % KEY, "id-mn2-key:%s:/id-mn2" % KEY], **ports)
    inn.own_dir = True
    inn.start()
    r = wait_for(lambda: inn.get("/~/id-mn/cse-mn/meter/power/la", origin="Cuser").rsc == 2000, seconds=12)
    t.ok(r and registered(inn, "/id-mn"), "the IN back: the MN registered, its data read from the IN again",
         m.read_log()[-1500:])
finally:
    for c in mns + [inn]:
        c.__exit__(None)
    rx.stop()
t.done()
