"""Group commit (cse.h, docs/performance.md): the primitives of one loop round
share a transaction, each in its own savepoint, and no response leaves before
the commit. A failing primitive in a batch leaves its neighbours alone; a
failed commit turns every held response into 5000 (HTTP and CoAP); kill -9
under a pipelined, concurrent write load loses no acknowledged write."""
import json, os, shutil, socket, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, kill9_under_load
from coap_peer import ACK, CON, CONTENT_FORMAT, POST, RawClient, encode, m2m_options, path_options, uint_bytes
from notify_receiver import Receiver, sgn

t = Tap()
O = "Cgrp"


def http_request(method, path, rqi, ty=None, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    head = "%s %s HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: %s\r\nX-M2M-RI: %s\r\nX-M2M-RVI: 3\r\n" % (method, path, O, rqi)
    if ty:
        head += "Content-Type: application/json;ty=%d\r\n" % ty
    head += "Content-Length: %d\r\n\r\n" % len(data)
    return head.encode() + data


class Conn:
    """A keep-alive connection that sends pipelined requests in one write."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, reqs):
        self.sock.sendall(b"".join(reqs))

    def response(self):
        """(rsc, rqi, json) of the next response; None when the peer is gone."""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        hdrs = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode()
        n = int(hdrs.get("content-length", "0"))
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            rest += chunk
        self.buf = rest[n:]
        body = json.loads(rest[:n]) if n else None
        return int(hdrs.get("x-m2m-rsc", "0")), hdrs.get("x-m2m-ri"), body

    def close(self):
        self.sock.close()


data_dir = tempfile.mkdtemp(prefix="ironbark-grp-")
flag = os.path.join(data_dir, "fail-next-commit")
os.environ["IRONBARK_TEST_FAIL_COMMIT"] = flag
try:
    cse = Cse(data_dir=data_dir).start()
    t.rsc(cse.register_ae("grp", origin=O), 2001, 201, "AE registration")
    t.rsc(cse.create("/cse-in/grp", 3, {"m2m:cnt": {"rn": "box"}}, origin=O), 2001, 201, "container")
    t.rsc(cse.create("/cse-in/grp/box", 4, {"m2m:cin": {"rn": "dup", "con": "first"}}, origin=O), 2001, 201,
          "instance 'dup'")
    cin = lambda rn, con: {"m2m:cin": {"rn": rn, "con": con}}

    # One batch: a, a failing create (its container update must be undone
    # with it), b, and a read of the container inside the same round.
    c = Conn(cse.port)
    c.send([http_request("POST", "/cse-in/grp/box", "p1", 4, cin("a", "xx")),
            http_request("POST", "/cse-in/grp/box", "p2", 4, cin("dup", "yyyy")),
            http_request("POST", "/cse-in/grp/box", "p3", 4, cin("b", "zzz")),
            http_request("GET", "/cse-in/grp/box", "p4")])
    got = [c.response() for _ in range(4)]
    t.eq([(g[0], g[1]) for g in got], [(2001, "p1"), (4105, "p2"), (2001, "p3"), (2000, "p4")],
         "pipelined batch: each primitive answered in order with its own result")
    t.eq((got[3][2]["m2m:cnt"]["cni"], got[3][2]["m2m:cnt"]["cbs"]), (3, 5 + 2 + 3),
         "the read in the batch sees a and b, not the failed create")
    r = cse.get("/cse-in/grp/box", origin=O)
    t.eq((r.json["m2m:cnt"]["cni"], r.json["m2m:cnt"]["cbs"]), (3, 10),
         "after the commit: the failed primitive's container update was rolled back alone")
    t.eq(cse.get("/cse-in/grp/box/dup", origin=O).json["m2m:cin"]["con"], "first", "'dup' is untouched")
    t.eq([cse.get("/cse-in/grp/box/" + rn, origin=O).rsc for rn in ("a", "b")], [2000, 2000],
         "a and b are stored")

    # A failed group commit: every response held for it becomes 5000,
    # including a read that saw the uncommitted writes.
    open(flag, "w").close()
    c.send([http_request("POST", "/cse-in/grp/box", "f1", 4, cin("f1", "1")),
            http_request("POST", "/cse-in/grp/box", "f2", 4, cin("f2", "2")),
            http_request("GET", "/cse-in/grp/box/la", "f3")])
    got = [c.response() for _ in range(3)]
    t.eq([(g[0], g[1]) for g in got], [(5000, "f1"), (5000, "f2"), (5000, "f3")],
         "failed commit: all three held responses are 5000 with their request IDs")
    t.ok(not os.path.exists(flag), "the fault was consumed")
    t.eq([cse.get("/cse-in/grp/box/" + rn, origin=O).rsc for rn in ("f1", "f2")], [4004, 4004],
         "nothing of the failed batch is stored")
    t.eq(cse.get("/cse-in/grp/box", origin=O).json["m2m:cnt"]["cni"], 3, "cni unchanged")
    t.eq(cse.get("/cse-in/grp/box/la", origin=O).json["m2m:cin"]["rn"], "b", "la is still b")
    c.send([http_request("POST", "/cse-in/grp/box", "g1", 4, cin("g1", "1"))])
    t.eq(c.response()[0], 2001, "the next batch commits again")
    c.close()

    # CoAP answers wait for their round's commit; a failed commit is 5000 there too.
    client = RawClient(cse.coap_port)
    try:
        payload = json.dumps(cin("k1", "1")).encode()
        rsp = client.request(POST, "/cse-in/grp/box", m2m_options(fr=O, rqi="k1", ty=4), payload, cf=50)
        t.eq(rsp.rsc if rsp else None, 2001, "CoAP create")
        t.rsc(cse.get("/cse-in/grp/box/k1", origin=O), 2000, 200, "…readable over HTTP at once")
        open(flag, "w").close()
        payload = json.dumps(cin("k2", "2")).encode()
        rsp = client.request(POST, "/cse-in/grp/box", m2m_options(fr=O, rqi="k2", ty=4), payload, cf=50)
        t.eq(rsp.rsc if rsp else None, 5000, "CoAP create whose commit fails: 5000")
        t.rsc(cse.get("/cse-in/grp/box/k2", origin=O), 4004, 404, "…and it is not stored")
        # A burst of CON creates on one socket: the CSE reads them in rounds and
        # holds each answer until its round commits; each still goes
        # piggy-backed on the ACK of its own request (MID and token).
        sent = {}
        for i in range(16):
            mid, token = client.next_mid(), b"b%03d" % i
            payload = json.dumps(cin("burst%d" % i, str(i))).encode()
            opts = path_options("/cse-in/grp/box") + m2m_options(fr=O, rqi="burst%d" % i, ty=4) + \
                [(CONTENT_FORMAT, uint_bytes(50))]
            client.send_raw(encode(CON, POST, mid, token, opts, payload))
            sent[token] = mid
        got = {}
        for _ in range(16):
            m = client.recv(5.0)
            if m is None:
                break
            got[m.token] = m
        t.eq(sorted(got), sorted(sent), "burst: an answer for each of the 16 creates")
        t.ok(all(m.type == ACK and m.mid == sent[tok] and m.rsc == 2001 for tok, m in got.items()),
             "burst: each is 2.01 / 2001 piggy-backed on its request's ACK")
        t.eq([cse.get("/cse-in/grp/box/burst%d" % i, origin=O).rsc for i in range(16)], [2000] * 16,
             "burst: all 16 are stored")
    finally:
        client.close()

    # Notifications go out only for committed changes: a change whose group
    # commit fails is answered 5000 and never announced.
    rx = Receiver().start()
    try:
        t.rsc(cse.create("/cse-in/grp", 3, {"m2m:cnt": {"rn": "watched"}}, origin=O), 2001, 201, "watched container")
        t.rsc(cse.create("/cse-in/grp/watched", 23, {"m2m:sub": {"rn": "s", "nu": [rx.url], "nct": 1, "enc": {"net": [3]}}}, origin=O),
              2001, 201, "subscription (verified)")
        rx.clear()
        open(flag, "w").close()
        r = cse.create("/cse-in/grp/watched", 4, cin("lost", "1"), origin=O)
        t.rsc(r, 5000, 500, "create under a subscription whose commit fails: 5000")
        time.sleep(0.5)
        t.eq(len(rx.snapshot()), 0, "…and no notification was sent for it")
        t.rsc(cse.get("/cse-in/grp/watched/lost", origin=O), 4004, 404, "…nor is it stored")
        r = cse.create("/cse-in/grp/watched", 4, cin("kept", "2"), origin=O)
        t.rsc(r, 2001, 201, "the next create commits")
        rx.wait_count(1)
        got = [sgn(x["body"]) for x in rx.snapshot()]
        reps = [g.get("nev", {}).get("rep", {}).get("m2m:cin", {}).get("rn") for g in got]
        t.eq(reps, ["kept"], "exactly the committed instance was announced")
    finally:
        rx.stop()

    # kill -9 during pipelined writes on several connections: every
    # acknowledged write is there after the restart.
    t.rsc(cse.create("/cse-in/grp", 3, {"m2m:cnt": {"rn": "load"}}, origin=O), 2001, 201, "load container")
    def writer(n, stop, ack):
        try:
            conn = Conn(cse.port)
            for burst in range(100):
                if stop.is_set():
                    break
                conn.send([http_request("POST", "/cse-in/grp/load", "w%d-%d-%d" % (n, burst, i), 4,
                                        {"m2m:cin": {"con": "%d-%d-%d" % (n, burst, i)}}) for i in range(8)])
                for _ in range(8):
                    res = conn.response()
                    if res is None:
                        return
                    if res[0] == 2001:
                        ack(res[2]["m2m:cin"]["ri"])
        except OSError:
            return

    acked = kill9_under_load(cse, writer, enough=400)
    t.ok(len(acked) > 40, "writers got acknowledgements before the kill (%d)" % len(acked))
    r = cse.get("/cse-in/grp/load?fu=1&ty=4&drt=2&lim=100000", origin=O)
    found = set(r.json["m2m:uril"]) if r.rsc == 2000 else set()
    missing = [ri for ri in acked if ri not in found]
    t.ok(not missing, "every acknowledged pipelined write survives kill -9 (%d acked, %d stored)"
         % (len(acked), len(found)), missing[:5])
    t.eq(cse.get("/cse-in/grp/load", origin=O).json["m2m:cnt"]["cni"], len(found),
         "cni matches the stored instances after the crash")
    t.eq(cse.stop(), 0, "clean stop")
finally:
    shutil.rmtree(data_dir, ignore_errors=True)
t.done()
