"""Packaging: `meson install --destdir` into a temporary directory puts the
executables, the dlopened modules, the default config, the systemd unit and
the docs where Debian expects them; the installed m2m-cse starts from that
tree with its installed config, finds its modules there (HTTPS, CoAP, the
JOSE module of `credentials add-psk`) and serves; and `systemd-analyze
verify` accepts the unit (and rejects a broken copy, so the check bites).
Starting the unit itself needs a running systemd, which a container or CI
job does not have: this is as far as a test here can go."""
import glob, json, os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import CSE_BIN, Tap, curl, free_port, wait_for
import socket

t = Tap()
dest = tempfile.mkdtemp(prefix="ironbark-install-")
build = os.path.dirname(os.path.abspath(CSE_BIN))     # the build directory under test
intro = json.load(open(os.path.join(build, "meson-info", "intro-buildoptions.json")))
opt = {o["name"]: o["value"] for o in intro}
prefix = dest + opt["prefix"]
sysconfdir = opt["sysconfdir"] if opt["sysconfdir"].startswith("/") else os.path.join(opt["prefix"], opt["sysconfdir"])

p = subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"],
                   capture_output=True, text=True, timeout=120)
t.ok(p.returncode == 0, "meson install --destdir succeeds", p.stderr[-1500:])

bindir = os.path.join(prefix, opt["bindir"])
moddir = os.path.join(prefix, opt["libdir"], "ironbark")
for exe in ("m2m-cse", "m2m", "m2m-das", "m2m-mef", "m2m-maf", "m2m-ppm"):
    path = os.path.join(bindir, exe)
    t.ok(os.access(path, os.X_OK), "%s is installed in bindir" % exe)
for mod in ("ironbark-transports.so", "ironbark-jose.so"):
    t.ok(os.path.isfile(os.path.join(moddir, mod)), "%s is installed in <libdir>/ironbark" % mod)
    t.ok(not os.path.exists(os.path.join(bindir, mod)), "%s is not in bindir" % mod)
conf = os.path.join(dest + sysconfdir, "ironbark", "cse.conf")
t.ok(os.path.isfile(conf), "the default config is installed as <sysconfdir>/ironbark/cse.conf", conf)
unit = os.path.join(prefix, "lib", "systemd", "system", "ironbark.service")
t.ok(os.path.isfile(unit), "the systemd unit is installed in <prefix>/lib/systemd/system")
docdir = os.path.join(prefix, opt["datadir"], "doc", "ironbark")
t.ok(os.path.isfile(os.path.join(docdir, "README.md")) and os.path.isfile(os.path.join(docdir, "docs", "security.md")),
     "README.md and docs/ are installed in <datadir>/doc/ironbark")

# --- the installed m2m-cse runs from the installed tree -------------------------
data = os.path.join(dest, "state")
http, https = free_port(), free_port()
coap = free_port(socket.SOCK_DGRAM)
args = [os.path.join(bindir, "m2m-cse"), "--config", conf, "--data-dir", data, "--http-port", str(http),
        "--https-port", str(https), "--coap-port", str(coap), "--coaps-port", "0"]
log = open(os.path.join(dest, "cse.log"), "w")
proc = subprocess.Popen(args, stdout=log, stderr=log)
try:
    up = wait_for(lambda: curl("GET", "http://127.0.0.1:%d/__health__" % http, timeout=2).status == 200, seconds=10)
    t.ok(up, "the installed m2m-cse starts with the installed config and answers /__health__",
         open(os.path.join(dest, "cse.log")).read()[-1500:])
    r = curl("GET", "https://localhost:%d/__health__" % https, extra=["--cacert", os.path.join(data, "tls", "ca.pem")])
    t.eq(r.status, 200, "HTTPS is served: the transport module was found under the installed prefix")
    maps = open("/proc/%d/maps" % proc.pid).read()
    t.ok(os.path.join(moddir, "ironbark-transports.so") in maps.replace("/../", "/")
         or "ironbark/ironbark-transports.so" in maps and dest in maps,
         "the module mapped is the installed one, not the build tree's")
    t.ok(build + "/" not in maps, "nothing of the build directory is mapped")
    r = curl("GET", "http://127.0.0.1:%d/cse-in" % http, {"X-M2M-Origin": "CAdmin", "X-M2M-RI": "i1", "X-M2M-RVI": "3"})
    t.ok(r.status == 200 and r.json and r.json["m2m:cb"]["csi"] == "/id-in", "the installed CSE serves its CSEBase", r)
finally:
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
t.eq(proc.returncode, 0, "the installed m2m-cse stops cleanly on SIGTERM")

p = subprocess.run([os.path.join(bindir, "m2m-cse"), "credentials", "add-psk", "--data-dir", data],
                   input="inst-key@test.example:00112233445566778899aabbccddeeff:Cinst*\n",
                   capture_output=True, text=True, timeout=15)
q = subprocess.run([os.path.join(bindir, "m2m-cse"), "credentials", "list", "--data-dir", data],
                   capture_output=True, text=True, timeout=15)
t.ok(p.returncode == 0 and "inst-key@test.example" in q.stdout,
     "credentials add-psk seals the key with the installed JOSE module", p.stderr + q.stderr)
for exe in ("m2m-das", "m2m-mef", "m2m-maf", "m2m-ppm", "m2m"):
    p = subprocess.run([os.path.join(bindir, exe), "--help"], capture_output=True, text=True, timeout=15)
    t.ok(p.returncode == 0 and p.stdout, "the installed %s runs (--help)" % exe, p.stderr[-300:])

# --- the unit ---------------------------------------------------------------
text = open(unit).read()
for line in ("DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=ironbark", "NoNewPrivileges=yes",
             "ExecStart=%s/m2m-cse --config %s/ironbark/cse.conf" % (os.path.join(opt["prefix"], opt["bindir"]), sysconfdir)):
    t.ok(line in text.splitlines(), "the unit has %s" % line)
analyze = shutil.which("systemd-analyze")
t.ok(analyze, "systemd-analyze is installed (scripts/install-deps.sh installs systemd)")
if analyze:
    # The unit names the final path of m2m-cse; verify checks that it exists,
    # so the copy checked here points into the temporary tree.
    checked = os.path.join(dest, "ironbark.service")
    with open(checked, "w") as f:
        f.write(text.replace("ExecStart=" + os.path.join(opt["prefix"], opt["bindir"]), "ExecStart=" + bindir))
    p = subprocess.run([analyze, "verify", checked], capture_output=True, text=True, timeout=60)
    t.ok(p.returncode == 0 and not p.stderr.strip(), "systemd-analyze verify accepts the unit", p.stderr[-1500:])
    broken = os.path.join(dest, "ironbark-broken.service")
    with open(broken, "w") as f:
        f.write(text.replace("ExecStart=" + os.path.join(opt["prefix"], opt["bindir"]), "ExecStart=" + dest + "/nowhere"))
    p = subprocess.run([analyze, "verify", broken], capture_output=True, text=True, timeout=60)
    t.ok(p.returncode != 0, "systemd-analyze verify rejects a unit whose executable is missing", p.stderr[-500:])
    p = subprocess.run([analyze, "security", "--offline=yes", "--threshold=30", checked],
                       capture_output=True, text=True, timeout=60)
    t.ok(p.returncode == 0, "systemd-analyze security rates the unit's exposure 3.0 or better (of 10)", p.stdout[-400:])

shutil.rmtree(dest, ignore_errors=True)
t.done()
