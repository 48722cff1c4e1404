"""A CoAP request the CSE sent and reported failed never reaches the peer
later (docs/subscriptions.md, "The outbound path"; docs/decisions.md). libcoap keeps a CON whose
send met an ICMP port unreachable and retransmits it 2-3 s later; were it
sent, a registrar that came up meanwhile would get a stale CREATE. An MN-CSE
registers at a CoAP port where nothing listens; once its first attempt was
reported unreachable, a UDP listener takes the port: within the
retransmission window it receives the registration's fresh attempts (new
Request IDs, Message IDs and tokens, answered 5.03 so they are not resent),
never an attempt that had failed. The same for the verification request of a
subscription whose coap:// notificationURI was unreachable, and for one to a
target that does not answer: once the CSE gave up on it (its timeout), libcoap
sends it no more."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from notify_receiver import CoapReceiver  # noqa: E402
from harness import Cse, Tap, free_port, wait_for  # noqa: E402

t = Tap()
# Seconds watched after the last failure: libcoap retransmits a CON 2-3 s after
# sending it, again 4-6 s later.
WINDOW = 4.5


def listen(port, silent=False):
    """A CoAP peer on a port that was closed: records every request and
    answers each at once (5.03, RSC 5103), so nothing live is resent; silent,
    it answers nothing."""
    return CoapReceiver(port, reply_rsc=None if silent else 5103, reply_code=(5, 3)).start()


def seen(rx):
    """(Message ID, token, Request ID) of each request rx received, and when."""
    with rx.lock:
        reqs = list(rx.requests)
    return ([(r["mid"], r["token"], (r["options"].get("rqi") or b"").decode()) for r in reqs],
            [r["time"] for r in reqs])


def unreachable_lines(cse, port):
    mark = "outbound: coap://127.0.0.1:%d/" % port
    return [ln for ln in cse.read_log().splitlines() if mark in ln and "unreachable: port unreachable" in ln]


def seq(rqi):
    m = re.fullmatch(r"reg-id-mn-(\d+)", rqi)
    return int(m.group(1)) if m else None


reg_port, nu_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
mn = Cse(cse_id="id-mn", cse_type=2, registrar="coap://127.0.0.1:%d" % reg_port,
         registrar_csi="/id-in", registration_retry_max=20000)
listeners = []
try:
    mn.start()
    t.ok(wait_for(lambda: unreachable_lines(mn, reg_port), seconds=5, step=0.02),
         "the registration's first CREATE meets a closed port: reported unreachable", mn.read_log()[-1500:])
    registrar = listen(reg_port)
    listeners.append(registrar)
    time.sleep(0.2)   # a failure of an attempt sent just before the bind is logged by now
    failed_before = len(unreachable_lines(mn, reg_port))   # attempts reg-id-mn-1 .. -n failed

    box = mn.ae_with_container("Cmon", ae="mon")
    url = "coap://127.0.0.1:%d/notify" % nu_port
    r = mn.create(box, 23, {"m2m:sub": {"rn": "s", "nu": [url]}}, origin="Cmon")
    t.rsc(r, 5204, 500, "a subscription whose coap:// notificationURI is a closed port: 5204")
    receiver = listen(nu_port)
    listeners.append(receiver)
    mute = listen(free_port(socket.SOCK_DGRAM), silent=True)
    listeners.append(mute)
    url = "coap://127.0.0.1:%d/notify" % mute.port
    r = mn.create(box, 23, {"m2m:sub": {"rn": "s", "nu": [url]}}, origin="Cmon")
    gave_up = time.time()
    t.rsc(r, 5204, 500, "a subscription whose coap:// notificationURI does not answer: 5204 after the timeout")

    time.sleep(WINDOW)
    got = seen(registrar)[0]
    stale = [g for g in got if seq(g[2]) is not None and seq(g[2]) <= failed_before]
    fresh = [g for g in got if seq(g[2]) is not None and seq(g[2]) > failed_before]
    t.ok(not stale, "no attempt reported failed (%d) reaches the registrar later" % failed_before, got)
    t.ok(fresh, "the registration's fresh attempts do", got)
    t.eq(len({(g[0], g[1]) for g in got}), len(got), "each with its own Message ID and token, none resent")
    t.eq(seen(receiver)[0], [], "the failed verification request never reaches the notification target later")
    # libcoap's first retransmission may go just before the CSE's 2 s timeout:
    # at most that one, and none after the answer.
    muted, times = seen(mute)
    t.ok(1 <= len(muted) <= 2 and not [x for x in times if x > gave_up + 0.3],
         "the one that timed out is not resent once the CSE gave up",
         [(g, round(x - gave_up, 2)) for g, x in zip(muted, times)])
    t.ok(mn.alive(), "the CSE runs on")
finally:
    for x in listeners:
        x.stop()
    mn.__exit__(None)
t.done()
