"""The m2m client over HTTPS, CoAP and CoAPS: server verification with the
generated CA, a PSK and a client certificate as credentials, the SAEF gate's
4106 with the client's exit status, and an `acaf` (authenticated-only) ACP
rule that grants over a PSK session what plain HTTP does not get. The key
never goes on the command line: --psk-key-file (owner-only) or M2M_PSK_KEY.
Refusals end with a message and exit status 2: an unknown identity over HTTPS
(never a death by SIGPIPE), a wrong key over CoAPS (within the handshake
bound, not the request timeout)."""
import os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, BUILD, write_private
import secure

TOOL = os.environ.get("M2M_TOOL", os.path.join(BUILD, "m2m"))
KEY = "8f1e6b0c2d4a59e7c3b1a0f9d8e7c6b5"
t = Tap()
certs = tempfile.mkdtemp(prefix="ironbark-m2m-")


def last(out):
    lines = out.strip().splitlines()
    return lines[-1] if lines else ""


key_file = write_private(os.path.join(certs, "meter.key"), KEY + "\n")
wrong_key_file = write_private(os.path.join(certs, "wrong.key"), "00" * 16)
open_key_file = os.path.join(certs, "open.key")
with open(open_key_file, "w") as f:
    f.write(KEY)
os.chmod(open_key_file, 0o644)

with Cse(psk=["meter@test:%s:Cmeter*" % KEY, "reader@test:%s:Creader" % KEY]) as cse:
    def m2m(*args, origin="CAdmin", url=None, creds=(), env=None):
        p = subprocess.run([TOOL, "--url", url or cse.https_base.replace("localhost", "127.0.0.1"),
                            "--from", origin] + list(creds) + list(args),
                           capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, **(env or {})))
        return p.returncode, p.stdout, p.stderr

    ca = ["--ca", cse.tls_ca]
    meter = ["--psk-id", "meter@test", "--psk-key-file", key_file]
    reader = ["--psk-id", "reader@test", "--psk-key-file", key_file]
    https_host = "https://localhost:%d" % cse.https_port

    rc, out, err = m2m("retrieve", "cse-in", url=https_host, creds=ca)
    t.ok(rc == 0 and last(out) == "RSC 2000 OK", "m2m over https verifies the server with the generated CA", err)
    rc, out, err = m2m("retrieve", "cse-in", url=https_host, creds=["--ca", os.path.join(certs, "none.pem")])
    t.ok(rc != 0 and "CA file" in err, "a missing CA file is reported", err)
    other = secure.make_ca(certs, "otherca")
    rc, out, err = m2m("retrieve", "cse-in", url=https_host, creds=["--ca", other[0]])
    t.ok(rc != 0 and "handshake" in err, "a server certificate from another CA is refused", err)

    rc, out, err = m2m("create", "cse-in", "--ty", "2", "--body",
                       '{"m2m:ae":{"rn":"meter1","api":"Nm","rr":false,"srv":["3"]}}', origin="Cmeter1", creds=meter)
    t.ok(rc == 0 and last(out) == "RSC 2001 CREATED", "AE registers with m2m over TLS-PSK", out + err)
    rc, out, err = m2m("create", "cse-in/meter1", "--ty", "3", "--body", '{"m2m:cnt":{"rn":"data"}}',
                       origin="Cmeter1", creds=meter)
    t.ok(rc == 0 and last(out) == "RSC 2001 CREATED", "container with m2m over TLS-PSK", out + err)
    rc, out, err = m2m("retrieve", "cse-in/meter1", origin="Cother", creds=meter)
    t.ok(rc != 0 and last(out) == "RSC 4106 ORIGINATOR_NOT_AUTHENTICATED",
         "m2m shows 4106 when the key does not vouch for the originator", out + err)
    rc, out, err = m2m("retrieve", "cse-in", creds=["--psk-id", "meter@test", "--psk-key-file", wrong_key_file])
    t.ok(rc == 2 and "handshake" in err, "a wrong PSK fails the handshake with a message", err)

    # Where the key comes from: a private file or the environment, never argv.
    rc, out, err = m2m("retrieve", "cse-in", origin="Cmeter1", creds=["--psk-id", "meter@test"],
                       env={"M2M_PSK_KEY": KEY})
    t.ok(rc == 0 and last(out) == "RSC 2000 OK", "the key from M2M_PSK_KEY", out + err)
    rc, out, err = m2m("retrieve", "cse-in", creds=["--psk-id", "meter@test", "--psk-key", KEY])
    t.ok(rc == 2 and "--psk-key-file" in err and "M2M_PSK_KEY" in err and not out,
         "--psk-key (a key in argv) is refused, naming the alternatives", err)
    rc, out, err = m2m("retrieve", "cse-in", creds=["--psk-id", "meter@test", "--psk-key=" + KEY])
    t.ok(rc == 2 and "--psk-key-file" in err, "--psk-key=HEX is refused too", err)
    rc, out, err = m2m("retrieve", "cse-in", creds=["--psk-id", "meter@test", "--psk-key-file", open_key_file])
    t.ok(rc == 2 and "chmod 600" in err and "0644" in err, "a key file others may read is refused", err)
    rc, out, err = m2m("retrieve", "cse-in", creds=["--psk-id", "meter@test"], env={"M2M_PSK_KEY": ""})
    t.ok(rc == 2 and "M2M_PSK_KEY" in err, "--psk-id without a key says where the key comes from", err)

    # An identity the CSE does not know: a message and status 2, every time
    # (the CSE closes such connections; a write to them raised SIGPIPE).
    results = set()
    for _ in range(10):
        rc, out, err = m2m("retrieve", "cse-in", creds=["--psk-id", "nobody@test", "--psk-key-file", key_file])
        results.add((rc, "did not accept the PSK identity 'nobody@test'" in err))
    t.eq(results, {(2, True)}, "unknown PSK identity over HTTPS: status 2 and a message in 10 of 10 runs")
    rc, out, err = m2m("retrieve", "cse-in", url=https_host,
                       creds=ca + ["--psk-id", "nobody@test", "--psk-key-file", key_file])
    t.ok(rc == 2 and "did not accept the PSK identity" in err, "the same with --ca (a verified fallback)", err)

    dev = secure.make_client_cert(certs, "dev", "Cdev1", (cse.tls_ca, os.path.join(cse.data_dir, "tls", "ca.key")))
    rc, out, err = m2m("create", "cse-in", "--ty", "2", "--body",
                       '{"m2m:ae":{"rn":"dev1","api":"Nd","rr":false,"srv":["3"]}}', origin="Cdev1",
                       url=https_host, creds=ca + ["--cert", dev[0], "--key", dev[1]])
    t.ok(rc == 0 and last(out) == "RSC 2001 CREATED",
         "AE registers with m2m and a certificate issued by the generated CA (SAN URI = AE-ID)", out + err)

    # acaf: the grant holds only for an authenticated originator.
    rc, out, err = m2m("acp", "create", "cse-in/meter1", "share", "--grant", "Cmeter1:all", origin="Cmeter1",
                       creds=meter)
    t.eq(rc, 0, "ACP created over TLS-PSK")
    rc, out, err = m2m("acp", "grant", "cse-in/meter1/share", "--to", "Creader", "--ops", "retrieve",
                       "--authenticated", origin="Cmeter1", creds=meter)
    t.eq(rc, 0, "authenticated-only grant for Creader")
    rc, out, err = m2m("acp", "attach", "cse-in/meter1/share", "cse-in/meter1/data", origin="Cmeter1", creds=meter)
    t.eq(rc, 0, "ACP attached to the container")
    rc, out, err = m2m("retrieve", "cse-in/meter1/data", origin="Creader", url=cse.base)
    t.ok(last(out).startswith("RSC 4103"), "plain HTTP: the acaf rule does not apply (4103)", out + err)
    rc, out, err = m2m("retrieve", "cse-in/meter1/data", origin="Creader", creds=reader)
    t.ok(rc == 0 and last(out) == "RSC 2000 OK", "over TLS-PSK the same originator is authenticated and granted",
         out + err)

    # The same client over CoAP and CoAPS (DTLS 1.2).
    coap = "coap://127.0.0.1:%d" % cse.coap_port
    coaps = "coaps://127.0.0.1:%d" % cse.coaps_port
    rc, out, err = m2m("retrieve", "cse-in", url=coap)
    t.ok(rc == 0 and last(out) == "RSC 2000 OK", "m2m over plain CoAP", out + err)
    rc, out, err = m2m("create", "cse-in/meter1", "--ty", "3", "--body", '{"m2m:cnt":{"rn":"viacoaps"}}',
                       origin="Cmeter1", url=coaps, creds=meter)
    t.ok(rc == 0 and last(out) == "RSC 2001 CREATED", "container with m2m over CoAPS/PSK", out + err)
    rc, out, err = m2m("create", "cse-in/meter1/viacoaps", "--ty", "4", "--body", '{"m2m:cin":{"con":"7"}}',
                       origin="Cmeter1", url=coaps, creds=meter)
    t.ok(rc == 0 and last(out) == "RSC 2001 CREATED", "contentInstance with m2m over CoAPS/PSK", out + err)
    rc, out, err = m2m("retrieve", "cse-in/meter1", origin="Cother", url=coaps, creds=meter)
    t.ok(rc != 0 and last(out) == "RSC 4106 ORIGINATOR_NOT_AUTHENTICATED", "4106 over CoAPS too", out + err)
    rc, out, err = m2m("retrieve", "cse-in/dev1", origin="Cdev1", url=coaps,
                       creds=ca + ["--cert", dev[0], "--key", dev[1]])
    t.ok(rc == 0 and last(out) == "RSC 2000 OK", "m2m over CoAPS with a client certificate", out + err)
    rc, out, err = m2m("retrieve", "cse-in", url=coaps, creds=ca + ["--timeout", "3000"])
    t.ok(rc != 0 and "DTLS" in err, "CoAPS without a client credential is refused, with a message", err)
    # A wrong key gets no answer in DTLS: the handshake bound ends the wait,
    # not the (long) request timeout; the message says which bound it was.
    rc, out, err = m2m("retrieve", "cse-in", url=coaps,
                       creds=["--psk-id", "meter@test", "--psk-key-file", wrong_key_file,
                              "--timeout", "60000", "--handshake-timeout", "1500"])
    t.ok(rc == 2 and "DTLS handshake" in err and "not completed within 1500 ms" in err,
         "a wrong CoAPS key fails at the handshake bound with a message", err)
    rc, out, err = m2m("retrieve", "cse-in", url=coaps,
                       creds=["--psk-id", "nobody@test", "--psk-key-file", key_file, "--timeout", "60000"])
    t.ok(rc == 2 and "DTLS handshake" in err and "failed" in err, "an unknown CoAPS identity is refused at once", err)

shutil.rmtree(certs, ignore_errors=True)
t.done()
