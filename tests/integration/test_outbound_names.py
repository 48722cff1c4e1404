"""Notification targets named by host name (issue 8, "One way out"): names
are looked up with c-ares on the loop, here from a DNS server the test runs
(setting dns-servers), never from /etc/hosts. Verification and notifications
reach a named receiver; a slow lookup delays only the request that needs it
while others are answered at once; an unknown name is logged at info with
the reason and the subscription is refused with 5204, as is a target that
refuses the connection."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from notify_receiver import Receiver, sgn
from dns_peer import DnsPeer

DNS_DELAY = 1.5
# A loop blocked by the lookup would answer the probe only after the ~1.2 s of
# the delay that remain when it is sent; well under that means it was not
# blocked, with room for a loaded machine.
FAST = 0.8

t = Tap()
rx = Receiver().start()
dns = DnsPeer({"rx.ironbark.test": "127.0.0.1", "slow.ironbark.test": "127.0.0.1"},
              delays={"slow.ironbark.test": DNS_DELAY}).start()


def url(name):
    return "http://%s:%d/notify" % (name, rx.port)


try:
    with Cse(coap_port=0, coaps_port=0, https_port=0, dns_servers=dns.server) as cse:
        cse.ae_with_container("Cmon", ae="mon")

        r = cse.create("/cse-in/mon/box", 23, {"m2m:sub": {"rn": "named", "nu": [url("rx.ironbark.test")], "enc": {"net": [3]}}},
                       origin="Cmon")
        t.rsc(r, 2001, 201, "subscription to a host name: verified")
        t.ok(dns.asked("rx.ironbark.test") >= 1, "the name was asked of the configured DNS server")
        reqs = rx.wait_count(1)
        t.ok(reqs and sgn(reqs[0]["body"]).get("vrq") is True, "the verification request arrived")
        t.eq(reqs[0]["headers"].get("host") if reqs else None, "rx.ironbark.test:%d" % rx.port,
             "its Host header names the host, not the address")

        rx.clear()
        cse.create("/cse-in/mon/box", 4, {"m2m:cin": {"con": "v1"}}, origin="Cmon")
        reqs = rx.wait(lambda q: any((sgn(x["body"]) or {}).get("nev") for x in q))
        nev = [sgn(x["body"])["nev"] for x in reqs if (sgn(x["body"]) or {}).get("nev")]
        t.ok(nev and nev[0]["rep"]["m2m:cin"]["con"] == "v1", "the notification arrived at the named target")

        # A slow lookup: the verification waits for it, nothing else does.
        out = {}
        th = threading.Thread(target=lambda: out.setdefault("r", cse.create(
            "/cse-in/mon/box", 23, {"m2m:sub": {"rn": "slow", "nu": [url("slow.ironbark.test")]}},
            origin="Cmon")), daemon=True)
        th.start()
        time.sleep(0.3)
        t0 = time.time()
        g = cse.get("/cse-in")
        took = time.time() - t0
        t.ok(th.is_alive(), "the subscription still waits for the slow DNS answer after the probe")
        t.ok(g.rsc == 2000 and took < FAST, "another request is served meanwhile (%.3fs)" % took)
        th.join(timeout=10)
        t.rsc(out.get("r"), 2001, 201, "after the slow lookup the subscription is verified")

        r = cse.create("/cse-in/mon/box", 23, {"m2m:sub": {"rn": "lost", "nu": [url("nowhere.ironbark.test")]}},
                       origin="Cmon")
        t.rsc(r, 5204, 500, "an unknown name: verification fails 5204")
        log = cse.read_log()
        t.ok(any("INFO" in l.upper() and "nowhere.ironbark.test" in l and "unreachable" in l
                 for l in log.splitlines()),
             "the unreachable target is logged at info with the reason",
             [l for l in log.splitlines() if "nowhere" in l])
        closed = Receiver()  # a port nobody listens on
        r = cse.create("/cse-in/mon/box", 23, {"m2m:sub": {"rn": "refused", "nu": [closed.url]}}, origin="Cmon")
        t.rsc(r, 5204, 500, "a refused connection: verification fails 5204")
        t.ok(any(" info " in l and closed.url in l and "refused" in l for l in cse.read_log().splitlines()),
             "the refused connection is logged at info with the reason")
        t.eq(cse.get("/cse-in").rsc, 2000, "the CSE still serves")
finally:
    dns.stop()
    rx.stop()
t.done()
