"""The AE of the pollingChannel tests on PostgreSQL (test_scale_out_polling,
test_store_pg_polling): its channel, its container's events, its polls and
its answers, on whichever front-end (a harness.Cse) is given; con_of reads
any poll's handed-out notification (test_scale_out_busy too)."""
O = "Csensor"
BOX = "/cse-in/sensor/box"
PCU = "/cse-in/sensor/pch/pcu"


def set_up(t, fe):
    """The AE, its channel and a container whose changes notify the AE itself."""
    fe.register_ae("sensor", origin=O, rr=False)
    t.rsc(fe.create("/cse-in/sensor", 15, {"m2m:pch": {"rn": "pch"}}, origin=O), 2001, 201, "pollingChannel on A")
    fe.create("/cse-in/sensor", 3, {"m2m:cnt": {"rn": "box"}}, origin=O)
    r = fe.create(BOX, 23, {"m2m:sub": {"rn": "s", "nu": [O], "nse": True, "enc": {"net": [3]}}}, origin=O)
    t.rsc(r, 2001, 201, "the AE subscribes itself (its notifications go through its channel)")


def poll(fe, ret_ms=None):
    return fe.get(PCU, origin=O, timeout=15, headers={"X-M2M-RET": str(ret_ms)} if ret_ms else None)


def rqp_of(r):
    """The request a poll handed out (m2m:rqp), {} when none."""
    return ((r.json if r is not None else None) or {}).get("m2m:rqp") or {}


def con_of(r):
    """The con of the contentInstance whose notification a poll handed out."""
    return rqp_of(r).get("pc", {}).get("m2m:sgn", {}).get("nev", {}).get("rep", {}).get("m2m:cin", {}).get("con")


def event(fe, con):
    return fe.create(BOX, 4, {"m2m:cin": {"con": con}}, origin=O)


def answer(fe, rqi, big=False):
    rsp = {"rqi": rqi, "rsc": 2000, "rvi": "3", "fr": O}
    if big:
        rsp["pc"] = {"m2m:dbg": "x" * 20000}   # longer than a notice: a pch_answers row on the way
    return fe.request("POST", PCU, origin=O, body={"m2m:rsp": rsp})
