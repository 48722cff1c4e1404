"""<AEContactList> (ty 43) and <AEContactListPerCSE> (ty 44), TS-0004
7.4.53/7.4.54: an IN-CSE makes its list at start-up (again after a Reset);
it is retrieved (nic = the number of per-CSE children), never created,
updated or deleted through the API (4005), over HTTP and CoAP; without an
acpi only the admin reads it. An MN-CSE has none. A reference notification
(aerid) from an unauthenticated CSE is refused; the inter-CSE behaviour is
test_c2c_ae_contact_list."""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl
from coap_peer import coap_client

t = Tap()
AL = "/cse-in/aeContactList"

with Cse(upper_tester="true") as cse:
    r = cse.get(AL)
    alst = (r.json or {}).get("m2m:alst", {})
    t.ok(r.rsc == 2000 and alst.get("ty") == 43 and alst.get("nic") == 0 and alst.get("pi"),
         "the IN-CSE's AEContactList: ty 43, nic 0", r)
    cse.register_ae("app", origin="Cal")
    t.rsc(cse.get(AL, origin="Cal"), 4103, 403, "an AE may not read it (no acpi: the admin only)")

    t.rsc(cse.create("/cse-in", 43, {"m2m:alst": {"rn": "mine"}}), 4005, 405, "CREATE <AEContactList> -> 4005")
    t.rsc(cse.create(AL, 44, {"m2m:alpc": {"csi": "/id-mn", "ail": ["Cal"]}}), 4005, 405,
          "CREATE <AEContactListPerCSE> -> 4005")
    t.rsc(cse.update(AL, {"m2m:alst": {"lbl": ["x"]}}), 4005, 405, "UPDATE -> 4005")
    t.rsc(cse.delete(AL), 4005, 405, "DELETE -> 4005")
    t.rsc(cse.get(AL), 2000, 200, "... and it is still there")
    t.rsc(cse.create("/cse-in", 43, {"m2m:alst": {"rn": "mine"}}, origin="Cal"), 4005, 405,
          "an AE's CREATE is refused the same way")

    # Reference notifications come from registered CSEs only (test_c2c_ae_contact_list has them)
    r = cse.request("POST", "/cse-in", body={"m2m:sgn": {"aerid": True, "tid1": None, "tid2": "/id-mn/Cal"}},
                    origin="/id-mn")
    t.rsc(r, 4107, 403, "a NOTIFY with aerid from an unauthenticated 'CSE' is refused (4107)")
    r = cse.get(AL + "?rcn=4")
    t.ok(r.rsc == 2000 and r.json["m2m:alst"]["nic"] == 0 and "m2m:alpc" not in r.json["m2m:alst"],
         "... and creates no AEContactListPerCSE", r)

    r = coap_client(cse.coap_port, "cse-in/aeContactList", params=dict(fr="CAdmin", rqi="c1", rvi="3"))
    t.ok(r.rsc == 2000 and (r.json or {}).get("m2m:alst", {}).get("nic") == 0, "CoAP: retrieved", r)
    r = coap_client(cse.coap_port, "cse-in", "post", params=dict(fr="CAdmin", rqi="c2", rvi="3", ty=43),
                    body=json.dumps({"m2m:alst": {}}), cf=50)
    t.eq(r.rsc, 4005, "CoAP: CREATE -> 4005")
    r = coap_client(cse.coap_port, "cse-in/aeContactList", "delete", params=dict(fr="CAdmin", rqi="c3", rvi="3"))
    t.eq(r.rsc, 4005, "CoAP: DELETE -> 4005")

    t.rsc(curl("POST", cse.base + "/__ut__", {"X-M2M-RI": "ut", "X-M2M-RVI": "3", "X-M2M-UTCMD": "Reset"}),
          2000, 200, "upper tester Reset")
    t.rsc(cse.get(AL), 2000, 200, "the AEContactList is there again after the Reset")

with Cse(cse_type="2") as cse:
    t.rsc(cse.get(AL), 4004, 404, "an MN-CSE has no AEContactList")
    t.rsc(cse.create("/cse-in", 43, {"m2m:alst": {}}), 4005, 405, "... and cannot be given one")

t.done()
