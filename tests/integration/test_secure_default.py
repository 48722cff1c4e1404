"""Secure by default off loopback (issue 16 item 9): a listener on a
non-loopback address defaults to `required` and says so at start (and how to
opt out); the admin originator is never served unauthenticated from a
non-loopback peer. The test runs in a network namespace of its own (unshare
-n) whose loopback also carries 192.0.2.1 (TEST-NET-1), so that a peer with a
non-loopback address exists without any traffic leaving the namespace."""
import json
import os
import subprocess
import sys

if os.environ.get("IRONBARK_NETNS") != "1":
    env = dict(os.environ, IRONBARK_NETNS="1")
    # No skip: CI runs as root on the same kind of machine; a failure here fails the test.
    os.execvpe("unshare", ["unshare", "-n", sys.executable, os.path.abspath(__file__)], env)

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
subprocess.run(["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"], check=True)

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, curl
import coap_peer as cp

t = Tap()
FAR = "192.0.2.1"


def get(cse, host, origin, path="/cse-in"):
    return curl("GET", "http://%s:%d%s" % (host, cse.port, path),
                {"X-M2M-Origin": origin, "X-M2M-RI": "r", "X-M2M-RVI": "3"})


# -- defaults by listen address --------------------------------------------------
with Cse(http_host="0.0.0.0", coap_host="0.0.0.0") as cse:
    log = cse.read_log()
    t.ok("HTTP listens on 0.0.0.0, not loopback: security-http is 'required' by default" in log
         and "set security-http to 'optional'" in log, "start-up says HTTP is 'required' and how to opt out")
    t.ok("security-coap is 'required' by default" in log, "and the same for CoAP")
    r = get(cse, "127.0.0.1", "Cany")
    t.rsc(r, 4107, 403, "plain HTTP on 0.0.0.0: a self-declared originator gets 4107, even from loopback")
    c = cp.RawClient(cse.coap_port)
    m = c.request(cp.GET, "cse-in", cp.m2m_options(fr="Cany", rqi="1", rvi="3"))
    c.close()
    t.ok(m is not None and m.rsc == 4107, "plain CoAP on 0.0.0.0: 4107", m)

with Cse() as cse:
    t.ok("not loopback" not in cse.read_log(), "a loopback listener says nothing and stays 'optional'")
    t.rsc(cse.register_ae("any", origin="Cany"), 2001, 201, "loopback quick start: self-declared originators served")

# -- the operator opts out; the admin still needs loopback or a credential ----
with Cse(http_host="0.0.0.0", coap_host="0.0.0.0", security_http="optional", security_coap="optional") as cse:
    t.ok("not loopback" not in cse.read_log(), "explicit 'optional': no message")
    t.rsc(get(cse, "127.0.0.1", "CAdmin"), 2000, 200, "the admin from 127.0.0.1 is served")
    t.rsc(get(cse, FAR, "CAdmin"), 4107, 403, "the admin from %s (not loopback) gets 4107" % FAR)
    t.rsc(get(cse, FAR, "/id-in/CAdmin"), 4107, 403, "also in SP-relative form")
    r = curl("POST", "http://%s:%d/cse-in" % (FAR, cse.port),
             {"X-M2M-Origin": "Cfar", "X-M2M-RI": "r", "X-M2M-RVI": "3", "Content-Type": "application/json;ty=2"},
             json.dumps({"m2m:ae": {"rn": "far", "api": "Nfar", "rr": False, "srv": ["3"]}}))
    t.rsc(r, 2001, 201, "any other self-declared originator from afar is served ('optional')")
    c = cp.RawClient(cse.coap_port, host=FAR)
    m = c.request(cp.GET, "cse-in", cp.m2m_options(fr="CAdmin", rqi="2", rvi="3"))
    t.ok(m is not None and m.rsc == 4107, "CoAP: the admin from afar gets 4107", m)
    m = c.request(cp.GET, "cse-in/far", cp.m2m_options(fr="Cfar", rqi="3", rvi="3"))
    t.ok(m is not None and m.rsc == 2000, "CoAP: another originator from afar is served", m)
    c.close()
    c = cp.RawClient(cse.coap_port)
    m = c.request(cp.GET, "cse-in", cp.m2m_options(fr="CAdmin", rqi="4", rvi="3"))
    t.ok(m is not None and m.rsc == 2000, "CoAP: the admin from loopback is served", m)
    c.close()
t.done()
