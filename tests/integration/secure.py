"""Helpers for the secure-transport tests: certificates made with the openssl
command line, and oneM2M requests over TLS-PSK with `openssl s_client`
(curl has no TLS-PSK). s_client, like coap-client-openssl, takes a PSK only
as an argument: the tests use throw-away keys on loopback with these
third-party peers; Ironbark's own tools read keys from files or stdin
(docs/security.md)."""
import json
import re
import os
import subprocess

from harness import Response, parse_response


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, check=True, timeout=30, **kw)


def make_key(path):
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
    return path


def make_ca(d, name):
    """A P-256 CA; returns (cert, key)."""
    key = make_key(os.path.join(d, name + ".key"))
    cert = os.path.join(d, name + ".pem")
    run(["openssl", "req", "-x509", "-new", "-key", key, "-subj", "/CN=" + name, "-days", "30",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,cRLSign",
         "-out", cert])
    return cert, key


def crl_issuer(d, ca):
    """`openssl ca` set up in d for ca (cert, key), as a device CA issuing CRLs: returns a
    function running `openssl ca` with it and more arguments ("-gencrl", "-out", path; or
    "-revoke", cert)."""
    cnf = os.path.join(d, "ca.cnf")
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "crlnumber"), "w") as f:
        f.write("01\n")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca = dev\n[dev]\ndatabase = %s/index.txt\ncrlnumber = %s/crlnumber\n"
                "default_md = sha256\ndefault_crl_days = 30\n" % (d, d))

    def ca_cmd(*args):
        run(["openssl", "ca", "-batch", "-config", cnf, "-keyfile", ca[1], "-cert", ca[0]] + list(args))
    return ca_cmd


def raw_uri_san(*uris):
    """A subjectAltName extension for openssl -addext holding the given URIs
    byte for byte (an embedded NUL or control character included), which the
    URI: syntax cannot express: GeneralNames DER, each URI as [6] IA5String."""
    def tlv(tag, value):
        n = len(value)
        head = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82, n >> 8, n & 0xff])
        return bytes([tag]) + head + value
    return "subjectAltName=DER:" + tlv(0x30, b"".join(tlv(0x86, u) for u in uris)).hex()


def make_csr(d, name, san_uri):
    """san_uri: a URI string, or a full extension (raw_uri_san())."""
    key = make_key(os.path.join(d, name + ".key"))
    csr = os.path.join(d, name + ".csr")
    ext = san_uri if san_uri.startswith("subjectAltName=") else "subjectAltName=URI:" + san_uri
    run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + name, "-addext", ext, "-out", csr])
    return csr, key


def make_client_cert(d, name, san_uri, ca):
    """A client certificate with san_uri as URI subjectAltName (or the
    extension raw_uri_san() made), signed by ca."""
    csr, key = make_csr(d, name, san_uri)
    cert = os.path.join(d, name + ".pem")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
         "-days", "30", "-copy_extensions", "copy", "-out", cert])
    return cert, key


def make_expired_cert(d, name, san_uri, ca):
    """Like make_client_cert, but valid only in 2020 (openssl ca sets the dates)."""
    csr, key = make_csr(d, name, san_uri)
    cadir = os.path.join(d, "ca-db")
    os.makedirs(cadir, exist_ok=True)
    open(os.path.join(cadir, "index.txt"), "w").close()
    with open(os.path.join(cadir, "serial"), "w") as f:
        f.write("1000\n")
    cnf = os.path.join(cadir, "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\nnew_certs_dir = %s\n"
                "serial = %s/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
                "[p]\ncommonName = supplied\n" % (cadir, cadir, cadir))
    cert = os.path.join(d, name + ".pem")
    run(["openssl", "ca", "-batch", "-config", cnf, "-cert", ca[0], "-keyfile", ca[1], "-in", csr,
         "-startdate", "20200101000000Z", "-enddate", "20201231000000Z", "-notext", "-out", cert])
    return cert, key


def raw_request(method, path, origin, ty=None, body=None, rqi="psk-1"):
    """One HTTP/1.1 request as bytes, asking the server to close afterwards."""
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost", "X-M2M-RI: " + rqi,
             "X-M2M-RVI: 3", "Connection: close"]
    if origin is not None:
        lines.append("X-M2M-Origin: " + origin)
    if ty is not None or body is not None:
        lines.append("Content-Type: application/json" + (";ty=%d" % ty if ty else ""))
    data = (body or "").encode()
    lines.append("Content-Length: %d" % len(data))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def s_client_request(port, args, method, path, origin, ty=None, body=None):
    """Sends one request with openssl s_client and the given arguments.
    Returns (Response, s_client's stdout); the Response has status -1 (text =
    s_client's output) when no HTTP answer came."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
           "-ign_eof"] + args
    p = subprocess.run(cmd, input=raw_request(method, path, origin, ty, body), capture_output=True,
                       timeout=20)
    out = p.stdout.decode(errors="replace")
    i = out.find("HTTP/1.1 ")
    if i < 0:
        return Response(-1, {}, out + p.stderr.decode(errors="replace")), out
    return parse_response(out[i:]), out


def psk_request(port, identity, key_hex, method, path, origin, ty=None, body=None, version="1.3",
                cipher=None, extra=None):
    """Sends one request over TLS-PSK with openssl s_client. Returns a Response,
    or one with status -1 (text = s_client's output) when no HTTP answer came."""
    args = ["-psk_identity", identity, "-psk", key_hex, "-tls" + version.replace(".", "_"), "-quiet"]
    if cipher:
        args += ["-cipher", cipher]
    return s_client_request(port, args + (extra or []), method, path, origin, ty, body)[0]


def psk_session(port, identity, key_hex, origin):
    """openssl s_client holding one TLS-PSK session open on port after one
    answered keep-alive request: (the process, whether the answer came).
    The process ends when the server ends the session."""
    import select
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername",
                          "localhost", "-psk_identity", identity, "-psk", key_hex, "-tls1_3", "-quiet"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    req = raw_request("GET", "/cse-in", origin).replace(b"Connection: close", b"Connection: keep-alive")
    p.stdin.write(req)
    p.stdin.flush()
    ready, _, _ = select.select([p.stdout], [], [], 10)
    return p, bool(ready) and p.stdout.read1(4096).startswith(b"HTTP/1.1")


def dtls_request(port, path, origin, method=1, ty=None, body=None, auth=(), sess_in=None, sess_out=None,
                 timeout=5.0):
    """One CoAP request over DTLS 1.2 with openssl s_client, which (unlike
    coap-client-openssl) can save its session and resume it. auth: s_client's
    PSK or certificate arguments. Returns (reused, message): reused is True/False
    from s_client's "Reused"/"New" line (None without a handshake), message the
    decoded CoAP answer or None. Bounded: s_client is ended after timeout."""
    import select, time
    from coap_peer import CON, decode, encode, m2m_options, path_options, CONTENT_FORMAT
    token = os.urandom(4)
    opts = path_options(path) + m2m_options(fr=origin, rqi="dtls-%s" % token.hex(), rvi="3", ty=ty)
    if body:
        opts.append((CONTENT_FORMAT, bytes([50])))
    pdu = encode(CON, method, int.from_bytes(token[:2], "big"), token, opts, body or b"")
    cmd = ["openssl", "s_client", "-dtls1_2", "-connect", "127.0.0.1:%d" % port, "-ign_eof"] + list(auth)
    cmd += ["-sess_in", sess_in] if sess_in else []
    cmd += ["-sess_out", sess_out] if sess_out else []
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, end, sent = b"", time.time() + timeout, False
    try:
        while time.time() < end:
            if not sent and re.search(rb"^(New|Reused), ", out, re.M):
                p.stdin.write(pdu)      # after the handshake: s_client sends what it reads as one record
                p.stdin.flush()
                sent = True
            i = out.find(token, out.find(b"\n---\n") + 1) if sent else -1
            if i >= 4:
                try:
                    msg = decode(out[i - 4:])
                    if msg.token == token and msg.payload.rstrip().endswith("}") or not msg.payload:
                        break
                except ValueError:
                    pass
            r, _, _ = select.select([p.stdout], [], [], 0.1)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        p.kill()
        p.wait(timeout=5)
    m = re.search(rb"^(New|Reused), ", out, re.M)
    reused = None if not m else m.group(1) == b"Reused"
    i = out.find(token, out.find(b"\n---\n") + 1)
    msg = None
    if i >= 4:
        try:
            msg = decode(out[i - 4:])
        except ValueError:
            msg = None
    return reused, msg
