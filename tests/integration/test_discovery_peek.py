"""Listings that pass rows over without decoding them (cse/core/retrieve.c,
peek_row(): hidden rows, rows the filter rejects from their stored text, and
matches before `ofst` whose parent's policies grant every such child) give
the same answers as decoding every row: one tree, read by the same CSE
binary with peeks (the default) and again with IRONBARK_TEST_NO_PEEK set,
for a range of ofst/lim/filters/rcn and originators, among them one whose
rights differ per container (ACPs, an aca rule, owner-only) and one with
none. The paging itself is checked too: ofst=k&lim=m is the k-th to
(k+m-1)-th match of the whole listing."""
import http.client, json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap

t = Tap()
OWN = "Cown"
ORIGINATORS = ["CAdmin", OWN, "Cfriend", "Cnobody"]


def fill(cse):
    ok = [cse.register_ae("own", origin=OWN).rsc == 2001]
    mk = lambda path, ty, body: ok.append(cse.create(path, ty, body, origin=OWN).rsc == 2001)
    full = {"acr": [{"acor": [OWN], "acop": 63}]}
    mk("/cse-in/own", 1, {"m2m:acp": {"rn": "open", "pv": {"acr": [{"acor": ["Cfriend"], "acop": 34}]},
                                       "pvs": full}})
    # aca: an attribute list no instance stays within, so it grants nothing.
    mk("/cse-in/own", 1, {"m2m:acp": {"rn": "aca", "pv": {"acr": [{"acor": ["Cfriend"], "acop": 34,
                                                                    "aca": ["lbl"]}]}, "pvs": full}})
    mk("/cse-in/own", 1, {"m2m:acp": {"rn": "mine", "pv": full, "pvs": full}})
    open_acp, aca_acp, mine = "cse-in/own/open", "cse-in/own/aca", "cse-in/own/mine"
    # The friend may discover below the AE, what each container's rules allow.
    ok.append(cse.update("/cse-in/own", {"m2m:ae": {"acpi": [mine, open_acp]}}, origin=OWN).rsc == 2004)
    boxes = [("pub", [mine, open_acp], {}, 25), ("priv", None, {}, 10), ("acabox", [mine, aca_acp], {}, 8),
             ("hid", [mine, open_acp], {"disr": True}, 6)]
    for rn, acpi, extra, n in boxes:
        body = dict({"rn": rn}, **extra)
        if acpi:
            body["acpi"] = acpi
        mk("/cse-in/own", 3, {"m2m:cnt": body})
        for i in range(n):
            cin = {"rn": "%s%02d" % (rn, i), "con": "%d" % (i * 7 % 13),
                   "cnf": "text/plain:0" if i % 3 else "application/json:0"}
            if i % 4 == 1:
                cin["lbl"] = ["x", "k:%d" % (i % 2)]
            mk("/cse-in/own/" + rn, 4, {"m2m:cin": cin})
        if rn == "pub":
            # A nested container only its owner may see, between instances.
            mk("/cse-in/own/pub", 3, {"m2m:cnt": {"rn": "inner", "acpi": [mine], "lbl": ["x"]}})
            for i in range(5):
                mk("/cse-in/own/pub/inner", 4, {"m2m:cin": {"rn": "in%d" % i, "con": str(i), "lbl": ["x"]}})
            for i in range(25, 30):
                mk("/cse-in/own/pub", 4, {"m2m:cin": {"rn": "pub%02d" % i, "con": str(i)}})
    return all(ok)


FILTERS = ["fu=1", "fu=1&ty=4", "fu=1&lbl=x", "fu=1&con=1*", "fu=1&cty=text/plain", "fu=1&lbq=k",
           "fu=1&fo=2&ty=3&lbl=x"]
PAGES = ["", "&ofst=2", "&ofst=9&lim=4", "&ofst=27", "&ofst=60"]
LISTINGS = ["rcn=4", "rcn=6", "rcn=8", "rcn=4&ty=4"]


def queries():
    for target in ("/cse-in/own", "/cse-in/own/pub"):
        for f in FILTERS:
            for p in PAGES:
                yield target + "?" + f + p
    for lst in LISTINGS:
        for p in ("", "&ofst=3&lim=5", "&lvl=1&ofst=2"):
            yield "/cse-in/own/pub?" + lst + p


def answers(cse):
    """Every query by every originator: status, the paging headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", cse.port, timeout=30)
    out = {}
    for origin in ORIGINATORS:
        for q in queries():
            conn.request("GET", q, headers={"X-M2M-Origin": origin, "X-M2M-RI": "p", "X-M2M-RVI": "3"})
            r = conn.getresponse()
            body = r.read()
            paging = sorted((k.lower(), v) for k, v in r.getheaders() if k.lower() in ("x-m2m-cnst", "x-m2m-cnot"))
            out[(origin, q)] = (r.status, paging, json.loads(body) if body else None)
    conn.close()
    return out


cse = Cse()
cse.start()
try:
    t.ok(fill(cse), "the tree is built (4 containers, 59 instances, 3 ACPs)")
    peeked = answers(cse)
finally:
    cse.stop()
os.environ["IRONBARK_TEST_NO_PEEK"] = "1"
try:
    with Cse(data_dir=cse.data_dir) as plain:
        decoded = answers(plain)
finally:
    del os.environ["IRONBARK_TEST_NO_PEEK"]

differ = [k for k in decoded if decoded[k] != peeked[k]]
t.eq(differ[:5], [], "all %d answers are the same with and without peeks" % len(decoded))


def uris(answer):
    return (answer[2] or {}).get("m2m:uril", [])


# The answers are the right ones, not only the same: paging is a window of
# the whole listing, and rights are applied per container.
bad = []
for origin in ORIGINATORS:
    for target in ("/cse-in/own", "/cse-in/own/pub"):
        for f in FILTERS:
            whole = uris(peeked[(origin, "%s?%s" % (target, f))])
            for p in PAGES[1:]:
                args = dict(kv.split("=") for kv in p[1:].split("&"))
                k, m = int(args.get("ofst", 1)), int(args.get("lim", 10000))
                if uris(peeked[(origin, "%s?%s%s" % (target, f, p))]) != whole[k - 1:k - 1 + m]:
                    bad.append((origin, target, f, p))
t.eq(bad[:5], [], "ofst=k&lim=m is the window [k, k+m) of the whole listing, for every originator and filter")
everything = set(uris(peeked[("CAdmin", "/cse-in/own?fu=1&ty=4")]))
friend = set(uris(peeked[("Cfriend", "/cse-in/own?fu=1&ty=4")]))
t.eq(len(everything), 30 + 5 + 10 + 8, "the admin discovers every instance but the 6 that disr hides")
t.eq(sorted({u.rsplit("/", 1)[0] for u in friend}), ["cse-in/own/pub"],
     "the restricted originator discovers the instances of pub only (not inner, priv, acabox, hid)")
t.eq(len(friend), 30, "all 30 of them")
t.eq(uris(peeked[("Cnobody", "/cse-in/own?fu=1&ty=4&ofst=2")]), [],
     "an originator without rights discovers nothing, whatever the offset")
t.done()
