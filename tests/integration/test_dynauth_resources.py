"""<dynamicAuthorizationConsultation> (ty 34), <role> (ty 31), <token> (ty 32)
and the daci common attribute: CRUD through the real m2m-cse over HTTP (curl),
every refused input with its RSC and nothing stored, one CoAP round trip."""
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import coap_client
from notify_receiver import Receiver

t = Tap()
A = "Cdyn"
JWS = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ0MUBkYXMuaXJvbmJhcmsubG9jYWwifQ.c2lnbmF0dXJl"
JWE = "eyJhbGciOiJkaXIifQ..aXY.Y2lwaGVy.dGFn"
ROLE = {"rn": "r1", "rlid": "reader@das.ironbark.local", "tkis": "//ironbark.local/id-das",
        "tkhd": "//ironbark.local/id-in/Cdyn", "tknb": "20260101T000000", "tkna": "20990101T000000"}
TOKEN = {"rn": "t1", "tkid": "t-0042@das.ironbark.local", "tkob": JWS, "vr": "1",
         "tkis": "//ironbark.local/id-das", "tkhd": "//ironbark.local/id-in/Cdyn",
         "tkau": ["//ironbark.local/id-in"], "tknb": "20260101T000000", "tkna": "20990101T000000",
         "tkps": {"pm": [{"ris": ["//ironbark.local/id-in/cse-in/dyn"],
                          "pv": {"acr": [{"acor": ["//ironbark.local/id-in/Cdyn"], "acop": 2}]}}]}}


def refused(r, rsc, status, name, path, cse):
    t.rsc(r, rsc, status, name)
    t.eq(cse.get(path).rsc, 4004, name + ": nothing stored")


with Cse() as cse:
    srt = cse.get("/cse-in").json["m2m:cb"]["srt"]
    t.ok(all(ty in srt for ty in (31, 32, 34)), "the CSEBase lists ty 31, 32, 34 in srt", srt)
    t.rsc(cse.register_ae("dyn", origin=A), 2001, 201, "AE registered")

    # --- <dac> -------------------------------------------------------------
    dac = {"rn": "dac1", "dae": True, "dap": ["http://127.0.0.1:8281/~/id-das/das-in"],
           "dal": "20991231T000000", "lbl": ["das"]}
    r = cse.create("/cse-in", 34, {"m2m:dac": dac})
    t.rsc(r, 2001, 201, "<dac> created under the CSEBase")
    d = (r.json or {}).get("m2m:dac", {})
    t.eq((d.get("ty"), d.get("dae"), d.get("dap"), d.get("dal")), (34, True, dac["dap"], dac["dal"]),
         "ty, dae, dap, dal as sent")
    r = cse.create("/cse-in/dyn", 34, {"m2m:dac": dict(dac, rn="dac2", daci=["cse-in/dac1"])}, origin=A)
    t.rsc(r, 2001, 201, "<dac> created under an AE by its owner, with daci")
    t.rsc(cse.get("/cse-in/dyn/dac2", origin=A), 2000, 200, "<dac> retrieved")
    for name, body in [("without dap", {"rn": "x", "dae": True}),
                       ("with an empty dap", {"rn": "x", "dae": True, "dap": []}),
                       ("with a null dap", {"rn": "x", "dae": True, "dap": None}),
                       ("with dap not a list", {"rn": "x", "dae": True, "dap": "http://a"}),
                       ("with an empty dap entry", {"rn": "x", "dae": True, "dap": [""]}),
                       ("without dae", {"rn": "x", "dap": ["http://a"]}),
                       ("with dae not a boolean", {"rn": "x", "dae": "true", "dap": ["http://a"]}),
                       ("with dal not a timestamp", {"rn": "x", "dae": True, "dap": ["http://a"], "dal": "soon"}),
                       ("with an unknown attribute", {"rn": "x", "dae": True, "dap": ["http://a"], "zz": 1})]:
        refused(cse.create("/cse-in", 34, {"m2m:dac": body}), 4000, 400, "<dac> " + name, "/cse-in/x", cse)
    cse.create("/cse-in/dyn", 3, {"m2m:cnt": {"rn": "box"}}, origin=A)
    refused(cse.create("/cse-in/dyn/box", 34, {"m2m:dac": dict(dac, rn="x")}, origin=A), 4108, 403,
            "<dac> under a container: invalid child type", "/cse-in/dyn/box/x", cse)
    r = cse.update("/cse-in/dac1", {"m2m:dac": {"dae": False, "dap": ["http://127.0.0.1:1/a", "coap://127.0.0.1:2/b"]}})
    t.rsc(r, 2004, 200, "<dac> dae and dap updated")
    t.eq(cse.get("/cse-in/dac1").json["m2m:dac"].get("dap"), ["http://127.0.0.1:1/a", "coap://127.0.0.1:2/b"],
         "the new dap is stored")
    for name, body in [("dap null", {"dap": None}), ("dap empty", {"dap": []}), ("dae null", {"dae": None}),
                       ("dae a number", {"dae": 1})]:
        t.rsc(cse.update("/cse-in/dac1", {"m2m:dac": body}), 4000, 400, "<dac> UPDATE with " + name + ": 4000")
    g = cse.get("/cse-in/dac1").json["m2m:dac"]
    t.eq((g.get("dae"), len(g.get("dap", []))), (False, 2), "the refused updates changed nothing")
    t.rsc(cse.update("/cse-in/dac1", {"m2m:dac": {"dal": None}}), 2004, 200, "<dac> dal removed")
    t.ok("dal" not in cse.get("/cse-in/dac1").json["m2m:dac"], "dal is gone")
    with Receiver() as rx:
        r = cse.create("/cse-in/dac1", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url]}})
        t.rsc(r, 2001, 201, "a <subscription> under a <dac>")
        cse.update("/cse-in/dac1", {"m2m:dac": {"lbl": ["changed"]}})
        changed = lambda: [b for b in rx.bodies() if isinstance(b, dict) and b.get("m2m:sgn", {}).get("nev")]
        rx.wait(lambda _: changed())
        t.ok(changed(), "a change of the <dac> is notified to its subscriber", rx.bodies())
    t.rsc(cse.get("/cse-in?fu=1&ty=34"), 2000, 200, "discovery by ty=34")
    t.ok(len(cse.get("/cse-in?fu=1&ty=34").json.get("m2m:uril", [])) == 2, "both <dac> found")

    # --- daci on the types that have acpi -----------------------------------
    made = {
        "container": ("/cse-in/dyn", 3, {"m2m:cnt": {"rn": "c", "daci": ["cse-in/dac1"]}}, "m2m:cnt"),
        "flexContainer": ("/cse-in/dyn", 28, {"cod:tmpSr": {"rn": "f", "cnd": "org.onem2m.common.moduleclass.temperature",
                                                            "daci": ["cse-in/dac1"]}}, "cod:tmpSr"),
        "group": ("/cse-in/dyn", 9, {"m2m:grp": {"rn": "g", "mt": 3, "mnm": 2, "mid": [], "daci": ["cse-in/dac1"]}}, "m2m:grp"),
        "timeSeries": ("/cse-in/dyn", 29, {"m2m:ts": {"rn": "ts", "daci": ["cse-in/dac1"]}}, "m2m:ts"),
        "<dac> itself": ("/cse-in/dyn", 34, {"m2m:dac": dict(dac, rn="dac3", daci=["cse-in/dac1"])}, "m2m:dac"),
    }
    for name, (parent, ty, body, key) in made.items():
        r = cse.create(parent, ty, body, origin=A)
        t.ok(r.rsc == 2001 and (r.json or {}).get(key, {}).get("daci") == ["cse-in/dac1"],
             "daci accepted and answered on a %s" % name, r)
    t.rsc(cse.update("/cse-in/dyn", {"m2m:ae": {"daci": ["cse-in/dac1", "cse-in/dyn/dac2"]}}, origin=A), 2004, 200,
          "daci set on the AE")
    t.eq(cse.get("/cse-in/dyn", origin=A).json["m2m:ae"].get("daci"), ["cse-in/dac1", "cse-in/dyn/dac2"],
         "the AE's daci is stored")
    t.rsc(cse.update("/cse-in/dyn/c", {"m2m:cnt": {"daci": "cse-in/dac1"}}, origin=A), 4000, 400,
          "daci that is no list: 4000")
    t.rsc(cse.update("/cse-in/dyn/c", {"m2m:cnt": {"daci": [""]}}, origin=A), 4000, 400,
          "daci with an empty entry: 4000")
    t.rsc(cse.update("/cse-in/dyn/c", {"m2m:cnt": {"daci": None}}, origin=A), 2004, 200, "daci removed")
    t.ok("daci" not in cse.get("/cse-in/dyn/c", origin=A).json["m2m:cnt"], "the container has no daci any more")
    refused(cse.create("/cse-in/dyn/c", 4, {"m2m:cin": {"con": "x", "rn": "i", "daci": ["cse-in/dac1"]}}, origin=A),
            4000, 400, "daci on a contentInstance (no acpi there): 4000", "/cse-in/dyn/c/i", cse)
    t.rsc(cse.update("/cse-in", {"m2m:cb": {"daci": ["cse-in/dac1"]}}), 4005, 405,
          "the CSEBase's daci is read-only (the CSEBase is not updatable)")

    # --- <role> --------------------------------------------------------------
    r = cse.create("/cse-in", 31, {"m2m:rol": dict(ROLE, rlnm="Reader", rltl="cse-in/t1")})
    t.rsc(r, 2001, 201, "<role> created under the CSEBase")
    g = (r.json or {}).get("m2m:rol", {})
    t.eq((g.get("ty"), g.get("rlid"), g.get("tkhd"), g.get("rlnm")), (31, ROLE["rlid"], ROLE["tkhd"], "Reader"),
         "<role> attributes as sent")
    for name, change in [("without rlid", {"rlid": None}), ("without tkis", {"tkis": None}),
                         ("without tkhd", {"tkhd": None}), ("without tknb", {"tknb": None}),
                         ("without tkna", {"tkna": None}), ("with a bad rlid", {"rlid": "reader"}),
                         ("with an upper-case issuer FQDN", {"rlid": "reader@DAS.example"}),
                         ("with tknb no timestamp", {"tknb": "yesterday"}),
                         ("with tkna before tknb", {"tkna": "20250101T000000"}),
                         ("with rlnm no string", {"rlnm": 5})]:
        body = {k: v for k, v in dict(ROLE, rn="x", **change).items() if v is not None}
        refused(cse.create("/cse-in", 31, {"m2m:rol": body}), 4000, 400, "<role> " + name, "/cse-in/x", cse)
    refused(cse.create("/cse-in/dyn", 31, {"m2m:rol": dict(ROLE, rn="x")}, origin=A), 4108, 403,
            "<role> under an AE: invalid child type", "/cse-in/dyn/x", cse)
    t.rsc(cse.update("/cse-in/r1", {"m2m:rol": {"rltl": "cse-in/t2"}}), 2004, 200, "<role> rltl updated")
    t.rsc(cse.update("/cse-in/r1", {"m2m:rol": {"tkhd": "Cother"}}), 4000, 400, "<role> tkhd is not updatable")
    t.eq(cse.get("/cse-in/r1").json["m2m:rol"].get("tkhd"), ROLE["tkhd"], "tkhd unchanged")

    # --- <token> -------------------------------------------------------------
    r = cse.create("/cse-in", 32, {"m2m:tk": TOKEN})
    t.rsc(r, 2001, 201, "<token> created (compact JWS)")
    g = (r.json or {}).get("m2m:tk", {})
    t.eq((g.get("ty"), g.get("tkid"), g.get("tkob"), g.get("tkps")), (32, TOKEN["tkid"], JWS, TOKEN["tkps"]),
         "<token> attributes as sent")
    t.rsc(cse.create("/cse-in", 32, {"m2m:tk": {"rn": "t2", "tkid": "t-2@das.ironbark.local", "tkob": JWE}}),
          2001, 201, "<token> created with only tkid and a compact JWE")
    for name, change in [("without tkid", {"tkid": None}), ("without tkob", {"tkob": None}),
                         ("with a tkid without issuer", {"tkid": "t-0042"}),
                         ("with a tkid with a space", {"tkid": "t 1@das.example"}),
                         ("with a two-part tkob", {"tkob": "abc.def"}),
                         ("with a four-part tkob", {"tkob": "a.b.c.d"}),
                         ("with a tkob holding padding", {"tkob": "YQ==.Yg.Yw"}),
                         ("with a JWS without signature", {"tkob": "eyJh.eyJi."}),
                         ("with a JWE without ciphertext", {"tkob": "a.b.c..e"}),
                         ("with tkau no list", {"tkau": "//ironbark.local/id-in"}),
                         ("with tkna no timestamp", {"tkna": 5}),
                         ("with tkps without pm", {"tkps": {"x": []}}),
                         ("with tkps pv without ris", {"tkps": {"pm": [{"pv": {"acr": []}}]}}),
                         ("with tkps entry empty", {"tkps": {"pm": [{}]}}),
                         ("with tkps rids no role IDs", {"tkps": {"pm": [{"rids": ["reader"]}]}}),
                         ("with tkps pv malformed", {"tkps": {"pm": [{"ris": ["x"], "pv": {"acr": [{"acop": 99}]}}]}})]:
        body = {k: v for k, v in dict(TOKEN, rn="x", **change).items() if v is not None}
        refused(cse.create("/cse-in", 32, {"m2m:tk": body}), 4000, 400, "<token> " + name, "/cse-in/x", cse)
    t.rsc(cse.update("/cse-in/t1", {"m2m:tk": {"tkob": JWE}}), 4000, 400, "<token> tkob is not updatable")
    t.rsc(cse.update("/cse-in/t1", {"m2m:tk": {"lbl": ["kept"]}}), 2004, 200, "<token> labels updatable")
    t.rsc(cse.delete("/cse-in/t2"), 2002, 200, "<token> deleted")
    t.rsc(cse.get("/cse-in/t2"), 4004, 404, "the deleted <token> is gone")

    # --- over CoAP -------------------------------------------------------------
    r = coap_client(cse.coap_port, "cse-in/dac1", params={"fr": "CAdmin", "rqi": "c1"})
    t.ok(r.code == "2.05" and r.rsc == 2000 and (r.json or {}).get("m2m:dac", {}).get("ty") == 34,
         "<dac> retrieved over CoAP", r)

    t.rsc(cse.delete("/cse-in/dac1"), 2002, 200, "<dac> deleted")
    t.rsc(cse.delete("/cse-in/r1"), 2002, 200, "<role> deleted")
# The CSEBase's daci comes from the cse-daci setting, as its acpi from cse-acpi.
with Cse(cse_daci="cse-in/dacRoot, cse-in/dacB") as cse:
    t.eq(cse.get("/cse-in").json["m2m:cb"].get("daci"), ["cse-in/dacRoot", "cse-in/dacB"],
         "cse-daci sets the CSEBase's daci")
with Cse() as cse:
    t.ok("daci" not in cse.get("/cse-in").json["m2m:cb"], "no cse-daci: the CSEBase has no daci")
t.done()
