"""tls-extra-names: the generated server certificate names more DNS names
and IP addresses than localhost, so a CSE on another address is reached
over HTTPS with the generated CA alone (curl --resolve for a name, a
loopback address other than 127.0.0.1 for an IP); a name not listed is
still refused; changing the list makes a new server certificate under the
same CA; a malformed entry stops the start with a message."""
import os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, CSE_BIN, curl, free_port

t = Tap()
data = tempfile.mkdtemp(prefix="ironbark-tlsnames-")


def health(url, cse, *extra):
    return curl("GET", url + "/__health__", extra=["--cacert", cse.tls_ca] + list(extra), timeout=5)


with Cse(data_dir=data, http_host="127.0.0.2", coap_port=0, coaps_port=0,
         tls_extra_names="cse.ironbark.test,127.0.0.2, *.fleet.ironbark.test") as cse:
    p = cse.https_port
    r = health("https://cse.ironbark.test:%d" % p, cse, "--resolve", "cse.ironbark.test:%d:127.0.0.2" % p)
    t.eq(r.status, 200, "an extra DNS name verifies against the generated CA (curl --resolve)")
    r = health("https://127.0.0.2:%d" % p, cse)
    t.eq(r.status, 200, "an extra IP address verifies (https://127.0.0.2)")
    r = health("https://gw7.fleet.ironbark.test:%d" % p, cse, "--resolve", "gw7.fleet.ironbark.test:%d:127.0.0.2" % p)
    t.eq(r.status, 200, "a wildcard name covers one label")
    r = health("https://other.ironbark.test:%d" % p, cse, "--resolve", "other.ironbark.test:%d:127.0.0.2" % p)
    t.ok(r.status == -1, "a name not listed is refused by the client's verification", r)
    r = health("https://other.ironbark.test:%d" % p, cse, "--resolve", "other.ironbark.test:%d:127.0.0.2" % p, "-k")
    t.eq(r.status, 200, "the same request without verification connects: the refusal was the name")
    san = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                          os.path.join(data, "tls", "server.pem")], capture_output=True, text=True).stdout
    t.ok("DNS:localhost" in san and "IP Address:127.0.0.1" in san and "DNS:cse.ironbark.test" in san
         and "IP Address:127.0.0.2" in san, "the certificate names localhost, loopback and the extra names", san)
    ca_before = open(cse.tls_ca).read()
    log = cse.read_log()
    t.ok("cse.ironbark.test" in log and "server.pem" in log, "the start-up line names the certificate's names")

with Cse(data_dir=data, http_host="127.0.0.2", coap_port=0, coaps_port=0, tls_extra_names="gw.ironbark.test") as cse:
    p = cse.https_port
    r = health("https://gw.ironbark.test:%d" % p, cse, "--resolve", "gw.ironbark.test:%d:127.0.0.2" % p)
    t.eq(r.status, 200, "a changed list makes a new server certificate with the new name")
    r = health("https://cse.ironbark.test:%d" % p, cse, "--resolve", "cse.ironbark.test:%d:127.0.0.2" % p)
    t.ok(r.status == -1, "the name no longer listed is refused", r)
    t.eq(open(cse.tls_ca).read(), ca_before, "the CA stays: clients keep trusting the same ca.pem")

with Cse(data_dir=data, http_host="127.0.0.2", coap_port=0, coaps_port=0, tls_extra_names="gw.ironbark.test") as cse:
    t.ok("created server certificate" not in cse.read_log().split("received")[-1],
         "an unchanged list keeps the certificate")

p = subprocess.run([CSE_BIN, "--data-dir", os.path.join(data, "bad"), "--http-port", str(free_port()),
                    "--https-port", str(free_port()), "--coap-port", "0", "--coaps-port", "0",
                    "--tls-extra-names", "ok.test,bad_name!"], capture_output=True, text=True, timeout=15)
t.ok(p.returncode == 1 and "tls-extra-names: 'bad_name!' is neither an IP address nor a DNS name" in p.stderr,
     "a malformed entry stops the start, naming it", p.stderr[-600:])
shutil.rmtree(data, ignore_errors=True)
t.done()
