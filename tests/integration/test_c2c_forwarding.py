"""CSE-to-CSE forwarding (#15): three real CSEs peered statically by their
admins (an IN-CSE, two MN-CSEs whose registrar is the IN-CSE). Every
operation is forwarded, over HTTP (IN <-> MN1) and CoAP (IN <-> MN2), both
ways and over two hops (MN1 -> IN -> MN2); the hosting CSE's ACPs decide on
the real originator; loops, no route, a dead next hop; a notification from a
remote hosting CSE reaches an AE on the other one; a group with a remote
member fans out through forwarding."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, free_port, wait_for
from notify_receiver import Receiver
from coap_peer import coap_client

t = Tap()


def peer(cse, base, csi, poa):
    """The admin of cse creates the <remoteCSE> of another CSE: a static route."""
    return cse.create("/" + base, 16, {"m2m:csr": {"csi": csi, "cb": csi + "/x", "poa": [poa], "rr": True,
                                                   "srv": ["3"]}})


def acp(cse, base, rn, originators, origin="CAdmin"):
    return cse.create("/" + base, 1, {"m2m:acp": {"rn": rn, "pv": {"acr": [{"acor": originators, "acop": 63}]},
                                                  "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}},
                      origin=origin)


def notified_con():
    """The con of the first m2m:sgn with an event the receiver got (bounded wait)."""
    got = rx.wait(lambda reqs: any((q["body"] or {}).get("m2m:sgn", {}).get("nev") for q in reqs))
    sgn = [q["body"]["m2m:sgn"] for q in got if (q["body"] or {}).get("m2m:sgn", {}).get("nev")]
    return sgn[0]["nev"]["rep"]["m2m:cin"]["con"] if sgn else None


rx = Receiver().start()
IN = Cse(cse_id="id-in", cse_name="cse-in")
MN1 = Cse(cse_id="id-mn1", cse_name="cse-mn1", registrar_csi="/id-in")
MN2 = Cse(cse_id="id-mn2", cse_name="cse-mn2", registrar_csi="/id-in")
try:
    with IN, MN1, MN2:
        coap = lambda c: "coap://127.0.0.1:%d" % c.coap_port
        t.rsc(peer(IN, "cse-in", "/id-mn1", MN1.base), 2001, 201, "IN: static <remoteCSE> for MN1 (HTTP)")
        t.rsc(peer(MN1, "cse-mn1", "/id-in", IN.base), 2001, 201, "MN1: static <remoteCSE> for IN (HTTP)")
        t.rsc(peer(IN, "cse-in", "/id-mn2", coap(MN2)), 2001, 201, "IN: static <remoteCSE> for MN2 (CoAP)")
        t.rsc(peer(MN2, "cse-mn2", "/id-in", coap(IN)), 2001, 201, "MN2: static <remoteCSE> for IN (CoAP)")

        # An AE on the IN, one on each MN; on MN1 a container the IN's AE may use.
        t.rsc(IN.register_ae("ae1", origin="Cae1", poa=[rx.url]), 2001, 201, "AE Cae1 registers on the IN")
        t.rsc(IN.register_ae("ae2", origin="Cae2"), 2001, 201, "AE Cae2 registers on the IN")
        MN1.create("/cse-mn1", 2, {"m2m:ae": {"rn": "mnae", "api": "Nmn", "rr": True, "srv": ["3"]}},
                   origin="Cmnae")
        MN2.create("/cse-mn2", 2, {"m2m:ae": {"rn": "mn2ae", "api": "Nmn", "rr": True, "srv": ["3"]}},
                   origin="Cmn2ae")
        acp(MN1, "cse-mn1", "share", ["Cmnae", "/id-in/Cae1", "/id-mn2/Cmn2ae"])
        r = MN1.create("/cse-mn1/mnae", 3, {"m2m:cnt": {"rn": "cnt", "acpi": ["cse-mn1/share"]}}, origin="Cmnae")
        t.rsc(r, 2001, 201, "MN1: a container shared through an ACP")
        acp(IN, "cse-in", "inshare", ["Cae1", "/id-mn1/Cmnae", "/id-mn2/Cmn2ae"])
        IN.create("/cse-in/ae1", 3, {"m2m:cnt": {"rn": "box", "acpi": ["cse-in/inshare"]}}, origin="Cae1")

        # --- every operation IN -> MN1 over HTTP, the originator Cae1 ----------------------------
        cnt = "/~/id-mn1/cse-mn1/mnae/cnt"
        r = IN.create(cnt, 4, {"m2m:cin": {"rn": "c1", "con": "21"}}, origin="Cae1")
        t.rsc(r, 2001, 201, "CREATE forwarded IN -> MN1 (HTTP)")
        cin = (r.json or {}).get("m2m:cin", {})
        t.eq((r.headers.get("content-location"), cin.get("con"), cin.get("pi") is not None),
             (cin.get("ri"), "21", True), "the created instance and its Content-Location as MN1 answered them")
        r = IN.get(cnt + "/c1", origin="Cae1", rqi="fwd-rqi-1")
        t.rsc(r, 2000, 200, "RETRIEVE forwarded")
        t.eq((r.headers.get("x-m2m-ri"), (r.json or {}).get("m2m:cin", {}).get("con")), ("fwd-rqi-1", "21"),
             "rqi and content come back unchanged")
        r = IN.update(cnt, {"m2m:cnt": {"lbl": ["fwd"]}}, origin="Cae1")
        t.eq((r.rsc, (r.json or {}).get("m2m:cnt", {}).get("lbl")), (2004, ["fwd"]), "UPDATE forwarded")
        r = IN.get(cnt + "%23lbl", origin="Cae1")
        t.eq((r.rsc, r.json), (2000, MN1.get("/cse-mn1/mnae/cnt%23lbl", origin="Cmnae").json),
             "an attribute (#lbl) of a remote resource, as MN1 answers it")
        r = IN.get(cnt + "?fu=1&ty=4", origin="Cae1")
        t.eq((r.rsc, (r.json or {}).get("m2m:uril")), (2000, ["cse-mn1/mnae/cnt/c1"]),
             "discovery forwarded with its filter criteria")
        r = IN.get(cnt + "?fu=1&ty=4&rcn=6", origin="Cae1")
        t.eq([x.get("val") for x in (r.json or {}).get("m2m:rrl", {}).get("rrf", [])], ["cse-mn1/mnae/cnt/c1"],
             "and with its rcn (6: m2m:rrl)")
        r = IN.get("/_/ironbark.local/id-mn1/cse-mn1/mnae/cnt/la", origin="Cae1")
        t.eq((r.rsc, (r.json or {}).get("m2m:cin", {}).get("rn")), (2000, "c1"), "absolute ID forwarded (la)")
        c1_ri = cin.get("ri", "?")
        r = IN.get("/~/id-mn1/" + c1_ri, origin="Cae1")
        t.eq((r.rsc, (r.json or {}).get("m2m:cin", {}).get("rn")), (2000, "c1"), "unstructured SP-relative ID forwarded")

        # --- the hosting CSE's ACPs decide on the real originator --------------------------------
        t.rsc(IN.get(cnt + "/c1", origin="Cae2"), 4103, 403, "Cae2 (not in MN1's ACP) -> 4103 from MN1")
        t.rsc(IN.get(cnt + "/c1", origin="CAdmin"), 4103, 403,
              "the IN's admin is /id-in/CAdmin at MN1, not MN1's admin -> 4103")
        t.rsc(IN.get(cnt + "/nothere", origin="Cae1"), 4004, 404, "a missing remote resource: MN1's 4004 comes back")
        t.rsc(IN.create("/~/id-mn1/cse-mn1", 2, {"m2m:ae": {"api": "Nx", "rr": True, "srv": ["3"]}}, origin="C"),
              4000, 400, "a registration is not forwarded -> 4000")

        # --- MN1 -> IN over HTTP, and the other way round ---------------------------------------
        r = MN1.create("/~/id-in/cse-in/ae1/box", 4, {"m2m:cin": {"con": "up"}}, origin="Cmnae")
        t.rsc(r, 2001, 201, "CREATE forwarded MN1 -> IN (HTTP), originator /id-mn1/Cmnae")
        t.rsc(MN1.get("/~/id-in/cse-in/ae1/box/la", origin="Cmnae"), 2000, 200, "RETRIEVE forwarded MN1 -> IN")

        # --- CoAP: IN <-> MN2, and two hops MN1 -> IN -> MN2 -------------------------------------
        acp(MN2, "cse-mn2", "share2", ["Cmn2ae", "/id-in/Cae1", "/id-mn1/Cmnae"])
        MN2.create("/cse-mn2/mn2ae", 3, {"m2m:cnt": {"rn": "c", "acpi": ["cse-mn2/share2"]}}, origin="Cmn2ae")
        c2 = "/~/id-mn2/cse-mn2/mn2ae/c"
        r = IN.create(c2, 4, {"m2m:cin": {"rn": "x", "con": "co"}}, origin="Cae1")
        t.eq((r.rsc, r.headers.get("content-location")), (2001, (r.json or {}).get("m2m:cin", {}).get("ri")),
             "CREATE forwarded IN -> MN2 over CoAP, Content-Location (Location-Path) back")
        t.eq(IN.get(c2 + "/x", origin="Cae1").rsc, 2000, "RETRIEVE over CoAP")
        t.eq(IN.update(c2, {"m2m:cnt": {"lbl": ["coap"]}}, origin="Cae1").rsc, 2004, "UPDATE over CoAP")
        r = IN.get(c2 + "%23lbl", origin="Cae1")
        t.eq((r.rsc, r.json), (2000, {"m2m:cnt": {"lbl": ["coap"]}}), "an attribute over CoAP (Uri-Path cnt#lbl)")
        r = IN.get(c2 + "?fu=1&lbl=nothing", origin="Cae1")
        t.eq((r.rsc, (r.json or {}).get("m2m:uril", [])), (2000, []), "discovery over CoAP keeps its filter")
        t.rsc(IN.get(c2 + "/x", origin="Cae2"), 4103, 403, "over CoAP too, MN2's ACPs decide on the originator")
        r = MN2.create("/~/id-in/cse-in/ae1/box", 4, {"m2m:cin": {"con": "from-mn2"}}, origin="Cmn2ae")
        t.eq(r.rsc, 2001, "CREATE forwarded MN2 -> IN over CoAP")
        r = MN2.get("/~/id-in/cse-in/ae1/box/la", origin="Cmn2ae")
        t.eq((r.rsc, (r.json or {}).get("m2m:cin", {}).get("con")), (2000, "from-mn2"),
             "RETRIEVE forwarded MN2 -> IN over CoAP")
        r = MN1.get(c2 + "/x", origin="Cmnae")
        t.eq((r.rsc, (r.json or {}).get("m2m:cin", {}).get("con")), (2000, "co"),
             "two hops: MN1 -> IN (HTTP) -> MN2 (CoAP), through MN1's registrar")
        t.eq(MN1.delete(c2 + "/x", origin="Cmnae").rsc, 2002, "DELETE over two hops")
        t.rsc(IN.delete(cnt + "/c1", origin="Cae1"), 2002, 200, "DELETE forwarded IN -> MN1")
        t.rsc(IN.get(cnt + "/c1", origin="Cae1"), 4004, 404, "and it is gone")

        # --- no route, loops, a dead next hop ------------------------------------------------------
        r = IN.get("/~/id-nowhere/cse/x", origin="Cae1")
        t.eq((r.rsc, "route" in r.text), (4004, True), "unknown CSE-ID on the IN (no registrar) -> 4004")
        t.rsc(IN.get("/_/other.example/id-mn1/cse-mn1/mnae/cnt", origin="Cae1"), 4004, 404,
              "another SP, no route configured -> 4004")
        peer(IN, "cse-in", "/id-loop", MN1.base)
        peer(MN1, "cse-mn1", "/id-loop", IN.base)
        r = IN.get("/~/id-loop/cse/x", origin="Cae1")
        t.eq((r.rsc, "loop" in r.text), (4004, True), "A -> B -> A: the loop is detected (4004, says so)")
        r = IN.update("/cse-in/id-mn1", {"m2m:csr": {"poa": ["http://127.0.0.1:%d" % free_port(), MN1.base]}})
        t.eq((r.rsc, IN.get(cnt, origin="Cae1").rsc), (2004, 2000),
             "MN1's first poa is down: the next one in its poa list answers")
        r = IN.update("/cse-in/id-mn1", {"m2m:csr": {"dcse": ["/id-asn"]}})
        t.rsc(r, 2004, 200, "MN1's <remoteCSE> on the IN lists a descendant /id-asn (dcse)")
        r = IN.get("/~/id-asn/cse-asn/x", origin="Cae1")
        t.eq((r.rsc, "other than back to /id-in" in r.text), (4004, True),
             "the IN routes /id-asn down through MN1; MN1, with no route but back up, answers 4004")
        peer(IN, "cse-in", "/id-dead", "http://127.0.0.1:%d" % free_port())
        t.rsc(IN.get("/~/id-dead/cse/x", origin="Cae1"), 5103, 404, "the next hop is down -> 5103")
        t.ok(IN.alive() and MN1.alive() and MN2.alive(), "all three CSEs still serve")

        # --- a notification from MN1 (HTTP) and from MN2 (CoAP) reaches the IN's AE Cae1 ------------
        for cse, ae, target, local, con, how in ((MN1, "Cmnae", cnt, "/cse-mn1/mnae/cnt", "event", "HTTP"),
                                                 (MN2, "Cmn2ae", c2, "/cse-mn2/mn2ae/c", "coap-event", "CoAP")):
            rx.clear()
            r = IN.create(target, 23, {"m2m:sub": {"rn": "s", "nu": ["/id-in/Cae1"], "enc": {"net": [3]}}},
                          origin="Cae1")
            t.rsc(r, 2001, 201, "a subscription on %s, nu = the IN's AE, made from the IN by that AE" % target)
            cse.create(local, 4, {"m2m:cin": {"con": con}}, origin=ae)
            t.eq(notified_con(), con, "the notification crossed %s to the IN and reached its AE's poa" % how)

        # --- a group on the IN with a member on MN1 fans out through forwarding -----------------------
        r = IN.create("/cse-in/ae1", 9, {"m2m:grp": {"rn": "g", "mnm": 5, "mid": ["/id-mn1/cse-mn1/mnae/cnt",
                                                                                 "cse-in/ae1/box"]}}, origin="Cae1")
        t.eq((r.rsc, (r.json or {}).get("m2m:grp", {}).get("mtv")), (2001, False),
             "a group with a remote member: created, mtv false (validated when used)")
        r = IN.get("/cse-in/ae1/g/fopt", origin="Cae1")
        rsps = {x["to"]: x for x in (r.json or {}).get("m2m:agr", {}).get("m2m:rsp", [])}
        remote = rsps.get("/id-mn1/cse-mn1/mnae/cnt", {})
        t.eq((r.rsc, remote.get("rsc"), (remote.get("pc") or {}).get("m2m:cnt", {}).get("rn"),
              rsps.get("cse-in/ae1/box", {}).get("rsc")), (2000, 2000, "cnt", 2000),
             "fopt RETRIEVE: the remote member answered through MN1, the local one here")

    # --- SAEF: a forwarded originator over an authenticated link (CoAPS, PSK) -------------------------
    # The MN binds the key "in-key" to the IN's CSE-ID; the IN forwards under it
    # (outbound-psk). An AE's key ("ae-key", bound to Cdev*) cannot pass as a
    # forwarding CSE, and a peer cannot speak for the MN's own entities.
    KEY, AEKEY = "c2c-forward-key", "c2c-ae-key-0001"
    in_key = "in-key:%s:/id-in" % KEY.encode().hex()
    MN = Cse(cse_id="id-mn", cse_name="cse-mn", log_level="debug", psk=[in_key, "ae-key:%s:Cdev*" % AEKEY.encode().hex()])
    with MN:
        IN = Cse(cse_id="id-in", cse_name="cse-in", psk=[in_key], outbound_psk="127.0.0.1:%d=in-key" % MN.coaps_port)
        with IN:
            peer(IN, "cse-in", "/id-mn", "coaps://127.0.0.1:%d" % MN.coaps_port)
            peer(MN, "cse-mn", "/id-in", IN.base)
            IN.register_ae("ae1", origin="Cae1")
            IN.register_ae("ae2", origin="Cae2")
            MN.create("/cse-mn", 2, {"m2m:ae": {"rn": "mnae", "api": "Nmn", "rr": True, "srv": ["3"]}},
                      origin="Cmnae")
            acp(MN, "cse-mn", "share", ["Cmnae", "/id-in/Cae1"])
            MN.create("/cse-mn/mnae", 3, {"m2m:cnt": {"rn": "cnt", "acpi": ["cse-mn/share"]}}, origin="Cmnae")
            r = IN.get("/~/id-mn/cse-mn/mnae/cnt", origin="Cae1")
            t.eq((r.rsc, "dtls: request over PSK" in MN.read_log()), (2000, True),
                 "forwarded over CoAPS under the IN's key: /id-in/Cae1 accepted, MN's ACP grants it")
            t.rsc(IN.get("/~/id-mn/cse-mn/mnae/cnt", origin="Cae2"), 4103, 403,
                  "the same link for Cae2: SAEF passes, MN's ACP refuses (4103)")

            def direct(fr, key, identity, query=""):
                return coap_client(MN.coaps_port, "cse-mn/mnae/cnt" + query, "get",
                                   dict(fr=fr, rqi="saef-%s" % fr.replace("/", "_"), rvi="3"),
                                   scheme="coaps", extra=["-k", key, "-u", identity], timeout=3)
            r = direct("/id-in/Cae1", KEY, "in-key", "?via=/id-in")
            t.ok(r.rsc == 2000, "the IN's key, via /id-in, originator /id-in/Cae1: accepted", r)
            r = direct("/id-in/Cae1", KEY, "in-key")
            t.ok(r.rsc == 4106, "the IN's key without via speaks only as /id-in: 4106", r)
            r = direct("/id-mn/Cmnae", KEY, "in-key", "?via=/id-in")
            t.ok(r.rsc == 4106, "a peer cannot forward as one of the MN's own AEs: 4106", r)
            r = direct("/id-in/Cae1", AEKEY, "ae-key", "?via=/id-in")
            t.ok(r.rsc == 4106, "an AE's key claiming to forward for /id-in/Cae1: 4106", r)
            r = direct("/id-in/Cae1", AEKEY, "ae-key", "?via=/id-nobody")
            t.ok(r.rsc == 4106, "nor through a CSE that is no peer: 4106", r)
finally:
    rx.stop()
t.done()
