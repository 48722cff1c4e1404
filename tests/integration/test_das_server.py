"""m2m-das, the Dynamic Authorization System (das/, docs/dynamic-authorization.md):
zero-configuration start beside an m2m-cse, rules managed with `m2m das rule`,
consultations (NOTIFY of m2m:seci sit 1 to its CSEBase, sent with curl)
answered grant / deny / context-denied, tokens signed and verified by the
token module (tests/token_tool) and by PyJWT, tokens by ID, roles as <role>
resources under role_resource_name(), bad seci bodies, and a restart that
keeps rules, roles and the signing key."""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Cse, Tap, curl  # noqa: E402

t = Tap()
try:
    import jwt
except ImportError as e:
    t.ok(False, "PyJWT is importable (apt-get install python3-jwt)", str(e))
    t.done()

DAS_BIN = os.path.abspath(os.environ.get("M2M_DAS", os.path.join(harness.BUILD, "m2m-das")))
TOOL = os.environ.get("M2M_TOOL", os.path.join(harness.BUILD, "m2m"))
TOKEN_TOOL = os.environ.get("TOKEN_TOOL", os.path.join(harness.BUILD, "tests", "token_tool"))
SP = "//ironbark.local"
ISSUER = SP + "/id-das"
HOSTING = SP + "/id-in"
DEV = HOSTING + "/CAE1"
TARGET = HOSTING + "/cse-in/room1/temp"
ELSEWHERE = HOSTING + "/cse-in/hall/door"   # outside the "sensors" rule


class Das(Cse):
    """A running m2m-das on free loopback ports (CoAP off, as by default)."""

    def __init__(self, data_dir=None, **settings):
        super().__init__(data_dir=data_dir, coap_port=0, coaps_port=0, https_port=0, **settings)

    def args(self):
        return [DAS_BIN] + super().args()[1:]

    @property
    def url(self):
        return self.base + "/~/id-das/das-in"


def m2m(das, *args, origin="CAdmin"):
    return subprocess.run([TOOL, "--das", das.url, "--from", origin] + list(args),
                          capture_output=True, text=True, timeout=30)


def seci(das, dreq, origin="/id-in", key="dreq", raw=None):
    body = raw if raw is not None else json.dumps({"m2m:seci": {"sit": 1, key: dreq}})
    return curl("POST", das.url, {"X-M2M-Origin": origin, "X-M2M-RI": "c1", "X-M2M-RVI": "3",
                                  "Content-Type": "application/json"}, body)


def dres(r):
    return ((r.json or {}).get("m2m:seci") or {}).get("dres")


def granted(r):
    """The acop bits granted to the consultation's originator, 0 for none."""
    acr = (((dres(r) or {}).get("dai") or {}).get("gp") or {}).get("acr") or []
    return sum(a.get("acop", 0) for a in acr)


def role_name(holder, role):
    """security/role_name.h, computed independently: FNV-1a 64 of holder \\n role."""
    h = 0xcbf29ce484222325
    for b in (holder + "\n" + role).encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "rol-%016x" % h


def audit_lines(das):
    try:
        with open(os.path.join(das.data_dir, "audit.log")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def wait_port(port, proc, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# --- zero configuration, beside an m2m-cse in the same directory --------------
def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the server does: TIME_WAIT is no owner
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


t.ok(port_free(8281) and port_free(8282), "the default ports 8281 and 8282 are free for the zero-config run")
work = tempfile.mkdtemp(prefix="ironbark-das-zero-")
try:
    das = subprocess.Popen([DAS_BIN], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    cse_port = harness.free_port()
    cse = subprocess.Popen([os.path.abspath(harness.CSE_BIN), "--http-port", str(cse_port), "--https-port", "0",
                            "--coap-port", "0", "--coaps-port", "0"], cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    up = wait_port(8281, das) and wait_port(cse_port, cse)
    t.ok(up, "m2m-das with no flags listens on 8281 beside an m2m-cse started in the same directory")
    r = curl("GET", "http://127.0.0.1:8281/~/id-das/das-in", {"X-M2M-Origin": "CAdmin", "X-M2M-RI": "z",
                                                              "X-M2M-RVI": "3"})
    cb = (r.json or {}).get("m2m:cb", {})
    t.eq((r.rsc, cb.get("csi"), cb.get("rn")), (2000, "/id-das", "das-in"),
         "its CSEBase is /id-das/das-in, reached at http://127.0.0.1:8281/~/id-das/das-in")
    t.ok(931 in cb.get("srt", []) and 31 in cb.get("srt", []) and 32 in cb.get("srt", []),
         "it serves das:rule (931), <role> (31) and <token> (32)", cb.get("srt"))
    with open(os.path.join(work, "var-das", "issuers.json")) as f:
        issuers = json.load(f)["issuers"]
    t.eq([i["iss"] for i in issuers], [ISSUER], "var-das/issuers.json names the DAS's issuer ID")
    t.ok("d" not in issuers[0]["jwk"] and issuers[0]["jwk"].get("crv") == "P-256",
         "and holds only the public half of an EC P-256 key", issuers[0]["jwk"])
    key_mode = os.stat(os.path.join(work, "var-das", "das-signing-key.jwk")).st_mode & 0o777
    t.eq(key_mode, 0o600, "the signing key is owner-only")
    t.ok(os.path.exists(os.path.join(work, "var", "cse.db")) and
         os.path.exists(os.path.join(work, "var-das", "cse.db")),
         "the CSE keeps ./var, the DAS ./var-das: no shared files", os.listdir(work))
    for p in (das, cse):
        p.send_signal(signal.SIGTERM)
    t.eq((das.wait(timeout=10), cse.wait(timeout=10)), (0, 0), "both stop cleanly")
    log = das.stdout.read().decode(errors="replace")
    t.ok("m2m-das: CSE /id-das ('das-in') ready" in log and '"d"' not in log,
         "its log says where it is and never shows the private key", log[-500:])
finally:
    shutil.rmtree(work, ignore_errors=True)

r = subprocess.run([DAS_BIN, "--das-fqdn", "Not A.Host", "--http-port", "0"], capture_output=True, text=True,
                   timeout=10)
t.ok(r.returncode == 2 and "das-fqdn" in r.stderr, "a das-fqdn no Token-ID can end in stops the start (exit 2)",
     r.stderr)

# --- rules, consultations, tokens, roles --------------------------------------
data = tempfile.mkdtemp(prefix="ironbark-das-")
try:
    with Das(data_dir=data) as das:
        r = m2m(das, "das", "rule", "add", "sensors", "--who", HOSTING + "/C*", "--ops", "retrieve,notify",
                "--target", HOSTING + "/cse-in/room1/*", "--lifetime", "600")
        t.ok(r.returncode == 0 and "RSC 2001" in r.stdout, "m2m das rule add creates a rule", r.stdout + r.stderr)
        r = m2m(das, "das", "rule", "add", "lab", "--who", HOSTING + "/CLAB*", "--ops", "update",
                "--target", "*", "--ip", "10.0.0.0/8", "--ip", "fd00::/8")
        t.ok(r.returncode == 0, "a rule limited to address ranges", r.stdout + r.stderr)
        hour = time.gmtime().tm_hour
        away = "%d" % ((hour + 12) % 24)
        r = m2m(das, "das", "rule", "add", "night", "--who", HOSTING + "/CNIGHT", "--ops", "delete",
                "--target", "*", "--window", "* * %s * * * *" % away)
        t.ok(r.returncode == 0, "a rule limited to a time window (hour %s only)" % away, r.stdout + r.stderr)
        r = m2m(das, "das", "rule", "add", "bad", "--who", "x", "--ops", "retrieve", "--target", "x",
                "--window", "every day")
        t.ok(r.returncode == 1 and "RSC 4000" in r.stdout and "schedule entry" in r.stderr,
             "a malformed time window is refused with 4000 and says why", r.stdout + r.stderr)
        r = m2m(das, "das", "rule", "add", "sneaky", "--who", "*", "--ops", "all", "--target", "*",
                origin="CMallory")
        t.ok(r.returncode == 1 and "RSC 4103" in r.stdout, "only the admin originator manages rules (4103)",
             r.stdout + r.stderr)
        r = m2m(das, "das", "rule", "list")
        lines = r.stdout.splitlines()
        t.ok(r.returncode == 0 and len(lines) == 3 and lines[0].startswith("sensors ops=retrieve,notify") and
             "lifetime=600s" in lines[0] and "ipv4=10.0.0.0/8" in lines[1] and "ipv6=fd00::/8" in lines[1]
             and "windows=* * %s * * * *" % away in lines[2], "m2m das rule list shows the three rules", r.stdout)

        # Grant: dai.gp names the originator with the rule's operations, pl 600 s ahead.
        r = seci(das, {"or": DEV, "trt": 2, "op": 2, "trid": TARGET, "oip": {"ip4": "127.0.0.1"}, "rts": "x"})
        d = dres(r) or {}
        acr = ((d.get("dai") or {}).get("gp") or {}).get("acr") or [{}]
        t.eq((r.rsc, acr[0].get("acor"), acr[0].get("acop")), (2000, [DEV], 2 | 16),
             "a consultation the rule covers is granted (retrieve+notify) to the originator")
        pl = (d.get("dai") or {}).get("pl", "")
        pl_s = time.mktime(time.strptime(pl[:15], "%Y%m%dT%H%M%S")) - time.timezone if pl else 0
        t.ok(abs(pl_s - time.time() - 600) < 30, "pl is the rule's lifetime ahead", pl)
        t.ok("tkns" not in d, "no tokens in a consultation's answer unless the rule says so", d)
        r = seci(das, {"or": DEV, "op": 4, "trid": TARGET})
        t.eq((r.rsc, dres(r)), (2000, {}), "an operation no rule grants: 2000 with an empty dres (no dai)")
        r = seci(das, {"or": SP + "/id-other/CAE1", "op": 2, "trid": TARGET})
        t.eq(granted(r), 0, "an originator no rule names is denied")
        r = seci(das, {"or": DEV, "op": 2, "trid": HOSTING + "/cse-in/room2/temp"})
        t.eq(granted(r), 0, "a target no rule names is denied")
        r = seci(das, None, raw=json.dumps({"m2m:seci": {"sit": 1, "daq": {
            "org": DEV, "tirt": 2, "op": 2, "trid": TARGET, "oid": {"ip4": "127.0.0.1"}}}}))
        t.eq(granted(r), 2 | 16, "the other spellings (daq, org, tirt, oid) are understood")

        # Contexts: address ranges and time windows.
        lab = HOSTING + "/CLAB7"
        t.eq(granted(seci(das, {"or": lab, "op": 3, "trid": TARGET, "oip": {"ip4": "10.1.2.3"}})), 4,
             "IP range: from 10.1.2.3 the lab rule grants update")
        t.eq(granted(seci(das, {"or": lab, "op": 3, "trid": TARGET, "oip": {"ip6": "fd00::7"}})), 4,
             "and from fd00::7")
        t.eq(granted(seci(das, {"or": lab, "op": 3, "trid": TARGET, "oip": {"ip4": "192.168.1.1"}})), 0,
             "IP range: from 192.168.1.1 it is denied")
        t.eq(granted(seci(das, {"or": lab, "op": 3, "trid": TARGET})), 0, "and without oip too")
        t.eq(granted(seci(das, {"or": HOSTING + "/CNIGHT", "op": 4, "trid": TARGET})), 0,
             "time window: outside its hour the night rule denies")
        r = m2m(das, "das", "rule", "add", "now", "--who", HOSTING + "/CNIGHT", "--ops", "delete",
                "--target", "*", "--window", "* * %d * * * *" % hour)
        t.eq(granted(seci(das, {"or": HOSTING + "/CNIGHT", "op": 4, "trid": TARGET})), 8,
             "and a rule whose window is this hour grants")
        m2m(das, "das", "rule", "rm", "now")

        # Rate: two grants per minute per originator.
        m2m(das, "das", "rule", "add", "metered", "--who", HOSTING + "/CMETER*", "--ops", "retrieve",
            "--target", "*", "--rate", "2")
        got = [granted(seci(das, {"or": HOSTING + "/CMETER1", "op": 2, "trid": ELSEWHERE})) for _ in range(3)]
        other = granted(seci(das, {"or": HOSTING + "/CMETER2", "op": 2, "trid": ELSEWHERE}))
        t.eq((got, other), ([2, 2, 0], 2), "rate 2/min: the third consultation for one originator is denied, "
             "another originator still has its own budget")

        audit = audit_lines(das)
        grants = [a for a in audit if a.get("decision") == "grant" and a.get("originator") == DEV]
        denies = [a for a in audit if a.get("decision") == "deny"]
        t.ok(grants and grants[0].get("target") == TARGET and grants[0].get("op") == "retrieve" and
             grants[0].get("decider") == "das" and "sensors" in grants[0].get("reason", ""),
             "every grant is audited with originator, target, op and rule", grants[:1])
        reasons = " | ".join(a.get("reason", "") for a in denies)
        t.ok("rule lab: originator address outside" in reasons and "rule metered: the rule's rate" in reasons and
             "rule night: outside the rule's time windows" in reasons and "no rule grants it" in reasons,
             "every denial is audited with the rule and the reason", reasons)

        # A device asks for its own token (indirect DA).
        r = m2m(das, "token", "get", "--target", TARGET, "--op", "retrieve", origin=DEV)
        out = r.stdout.splitlines()
        tkid = out[0].split()[1] if out and out[0].startswith("tkid ") else ""
        token = out[1] if len(out) > 1 else ""
        t.ok(r.returncode == 0 and tkid.endswith("@das.ironbark.local") and token.count(".") == 2,
             "m2m token get prints the token ID and the token", r.stdout + r.stderr)
        trust = os.path.join(das.data_dir, "issuers.json")
        v = subprocess.run([TOKEN_TOOL, "verify", trust, token, "--holder", DEV, "--csi", HOSTING],
                           capture_output=True, text=True, timeout=30)
        t.ok(v.returncode == 0, "the token module verifies it against issuers.json (holder, audience)",
             v.stdout + v.stderr)
        with open(trust) as f:
            pub = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(json.load(f)["issuers"][0]["jwk"]))
        claims = jwt.decode(token, pub, algorithms=["ES256"], audience=HOSTING, issuer=ISSUER)
        t.eq((claims.get("azp"), claims.get("jti"), claims.get("tkvr"),
              claims.get("tkps", {}).get("pm", [{}])[0].get("ris"),
              claims.get("tkps", {}).get("pm", [{}])[0].get("pv", {}).get("acr")),
             (DEV, tkid, "1", [TARGET], [{"acor": [DEV], "acop": 18}]),
             "PyJWT verifies the ES256 signature; claims per the contract (azp, jti, tkvr, tkps)")
        t.eq(claims["exp"] - claims["nbf"], 600, "it lives for the rule's privileges lifetime")
        r = m2m(das, "token", "get", "--target", TARGET, "--op", "delete", origin=DEV)
        t.ok(r.returncode == 1 and "granted no token" in r.stderr and "eyJ" not in r.stdout,
             "a token for an operation no rule grants is not issued", r.stdout + r.stderr)
        r = seci(das, {"or": HOSTING + "/CAE2", "op": 2, "trid": TARGET}, origin=DEV)
        t.rsc(r, 4103, 403, "a device asks for itself only (its From must be dreq.or)")
        r = das.get("/das-in/tk-" + tkid.split("@")[0])
        tk = (r.json or {}).get("m2m:tk", {})
        t.eq((r.rsc, tk.get("tkid"), tk.get("tkhd"), tk.get("tkob")), (2000, tkid, DEV, token),
             "the issued token is stored as a <token> resource")

        # Token by ID.
        r = seci(das, {"or": DEV, "tids": [tkid]})
        t.eq((r.rsc, (dres(r) or {}).get("tkns")), (2000, [token]), "dreq.tids: the DAS returns the token")
        r = seci(das, {"or": HOSTING + "/CAE2", "tids": [tkid, "nope@das.ironbark.local"]})
        t.eq((dres(r) or {}).get("tkns"), [], "not to another holder, and unknown IDs give nothing")

        # A rule may put tokens into a consultation's answer.
        m2m(das, "das", "rule", "add", "tokens", "--who", HOSTING + "/CTK", "--ops", "retrieve",
            "--target", "*", "--issue-tokens")
        r = seci(das, {"or": HOSTING + "/CTK", "op": 2, "trid": ELSEWHERE})
        tkns = (dres(r) or {}).get("tkns") or []
        t.ok(granted(r) == 2 and len(tkns) == 1 and
             jwt.decode(tkns[0], pub, algorithms=["ES256"], audience=HOSTING)["azp"] == HOSTING + "/CTK",
             "with --issue-tokens the answer carries a token for the consulting CSE (aud = its CSE-ID)", dres(r))

        # Roles.
        role = "operator@das.ironbark.local"
        holder = HOSTING + "/COPS"
        r = m2m(das, "das", "role", "add", "--holder", holder, "--role", role, "--until", "20991231T000000")
        name = role_name(holder, role)
        t.ok(r.returncode == 0 and name in r.stdout, "m2m das role add creates " + name, r.stdout + r.stderr)
        r = das.get("/das-in/" + name, origin="/id-in")
        rol = (r.json or {}).get("m2m:rol", {})
        t.eq((r.rsc, rol.get("rlid"), rol.get("tkhd"), rol.get("tkis"), rol.get("tkna")),
             (2000, role, holder, ISSUER, "20991231T000000"),
             "a CSE retrieves it by the computed name: rlid, tkhd, tkis (absolute), tkna")
        t.ok(rol.get("tknb", "9") <= time.strftime("%Y%m%dT%H%M%S", time.gmtime()), "tknb is now", rol)
        t.rsc(das.get("/das-in/" + name, origin="CAE9"), 4103, 403, "a non-CSE originator may not read it")
        r = m2m(das, "das", "role", "list", "--holder", holder)
        t.ok(r.returncode == 0 and name in r.stdout and "role=" + role in r.stdout, "m2m das role list", r.stdout)
        m2m(das, "das", "rule", "add", "ops", "--role", role, "--ops", "update", "--target", "*")
        t.eq(granted(seci(das, {"or": holder, "op": 3, "trid": TARGET})), 4,
             "a rule naming the role grants its holder")
        t.eq(granted(seci(das, {"or": HOSTING + "/CAE1", "op": 3, "trid": TARGET})), 0, "and nobody else")
        t.eq(granted(seci(das, {"or": holder, "op": 3, "trid": TARGET, "rids": ["other@das.ironbark.local"]})),
             0, "nor its holder acting in another role (rids)")
        r = das.create("/das-in", 31, {"m2m:rol": {"rn": name, "rlid": role, "tkhd": holder, "tkis": "/id-other",
                                                   "tknb": "20200101T000000", "tkna": "20991231T000000"}})
        t.rsc(r, 4000, 400, "a role issued by someone else is refused")

        # Bad consultation bodies.
        t.rsc(seci(das, None, raw="not json"), 4000, 400, "a body that is not JSON: 4000")
        t.rsc(seci(das, None, raw=json.dumps({"m2m:seci": {"sit": 2, "dres": {}}})), 4000, 400,
              "sit 2 (an answer) sent to the DAS: 4000")
        t.rsc(seci(das, {"op": 2, "trid": TARGET}), 4000, 400, "a dreq without or: 4000")
        t.rsc(seci(das, {"or": DEV, "op": 9, "trid": TARGET}), 4000, 400, "an op outside 1..5: 4000")
        t.rsc(seci(das, {"or": DEV, "op": 2}), 4000, 400, "a dreq without trid: 4000")
        t.rsc(seci(das, None, raw=json.dumps({"m2m:seci": []})), 4000, 400, "m2m:seci not an object: 4000")
        t.rsc(seci(das, {"or": "x" * 100000, "op": 2, "trid": TARGET}), 4000, 400, "a 100 kB originator: 4000")
        t.rsc(seci(das, {"or": DEV, "tids": ["a"] * 1000}), 4000, 400, "a thousand token IDs: 4000")
        r = seci(das, None, raw=json.dumps({"m2m:seci": {"sit": 1, "dreq": {"or": "x" * (3 << 20)}}}))
        t.ok(r.status == 413 or r.rsc == 4000, "a 3 MB seci is refused by the binding", r)
        t.eq(granted(seci(das, {"or": DEV, "op": 2, "trid": TARGET})), 18, "and the DAS still answers")

        r = m2m(das, "das", "rule", "rm", "lab")
        t.ok(r.returncode == 0 and "RSC 2002" in r.stdout, "m2m das rule rm removes a rule", r.stdout)
        t.eq(granted(seci(das, {"or": lab, "op": 3, "trid": TARGET, "oip": {"ip4": "10.1.2.3"}})), 0,
             "its grants are gone")
        logs = das.read_log() + open(os.path.join(das.data_dir, "audit.log")).read()
        t.ok(token not in logs and "eyJ" not in logs and '"d":' not in logs,
             "no token and no key in the log or the audit log")
        first_jwk = pub

    # Restart on the same data: rules, roles and the key are kept.
    with Das(data_dir=data) as das:
        r = m2m(das, "das", "rule", "list")
        t.ok("sensors" in r.stdout and "metered" in r.stdout and not any(x.startswith("lab ") for x in r.stdout.splitlines()),
             "after a restart the rules are there (and the removed one is not)", r.stdout)
        t.eq(das.get("/das-in/" + name, origin="/id-in").rsc, 2000, "the role assignment is there")
        with open(os.path.join(das.data_dir, "issuers.json")) as f:
            pub2 = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(json.load(f)["issuers"][0]["jwk"]))
        t.ok(jwt.decode(token, pub2, algorithms=["ES256"], audience=HOSTING)["jti"] == tkid,
             "the signing key is the same: the earlier token still verifies with the new issuers.json")
        t.eq((dres(seci(das, {"or": DEV, "tids": [tkid]})) or {}).get("tkns"), [token],
             "and the token is still found by its ID")
        r = m2m(das, "das", "role", "rm", "--holder", holder, "--role", role)
        t.ok(r.returncode == 0 and das.get("/das-in/" + name).rsc == 4004,
             "m2m das role rm removes the assignment", r.stdout)
        t.eq(granted(seci(das, {"or": holder, "op": 3, "trid": TARGET})), 0, "and the role rule no longer applies")
        os.chmod(os.path.join(das.data_dir, "das-signing-key.jwk"), 0o644)
    bad = Das(data_dir=data)
    try:
        bad.start()
        started = True
    except RuntimeError:
        started = False
    bad.stop()
    t.ok(not started and "chmod 600" in bad.read_log(), "a signing key others may read stops the start",
         bad.read_log()[-300:])
finally:
    shutil.rmtree(data, ignore_errors=True)
t.done()
