"""CoAP peers for the integration tests: a small RFC 7252 codec with a raw UDP
client (exact control over types, Message IDs, options and bad datagrams) and
a wrapper around the real coap-client-openssl (libcoap3-bin).

coap-client-openssl 4.3.1 drops responses that carry oneM2M options (they are
unknown critical options to it), so the wrapper preloads the build's
libm2m-coapopts.so unless asked not to; see docs/coap.md.
"""
import os
import random
import re
import socket
import subprocess
import tempfile
import time

CON, NON, ACK, RST = 0, 1, 2, 3
GET, POST, PUT, DELETE = 1, 2, 3, 4

# oneM2M option numbers (TS-0008 Table 6.2.2.4.0-1)
OPT = dict(ot=259, rturi=263, ty=267, rvi=271, asri=275, fr=279, rqi=283, rqet=291, rset=295,
           oet=299, ec=303, rsc=307, gid=311, cto=319, cts=323, ati=327, vsi=331, gtm=335,
           aus=339, omr=343, prpi=347, msu=351)
UINT_OPTS = {267, 303, 307, 319, 323}
URI_PATH, CONTENT_FORMAT, URI_QUERY, ACCEPT, LOCATION_PATH, BLOCK2 = 11, 12, 15, 17, 8, 23

BUILD = os.environ.get("IRONBARK_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PRELOAD = os.environ.get("M2M_COAP_PRELOAD", os.path.join(BUILD, "libm2m-coapopts.so"))
COAP_CLIENT = "coap-client-openssl"


def code(c, d):
    return c << 5 | d


def code_str(c):
    return "%d.%02d" % (c >> 5, c & 31)


def uint_bytes(v):
    out = b""
    while v:
        out = bytes([v & 0xFF]) + out
        v >>= 8
    return out


def _ext(v):
    if v < 13:
        return v, b""
    if v < 269:
        return 13, bytes([v - 13])
    return 14, (v - 269).to_bytes(2, "big")


def encode(mtype, mcode, mid, token=b"", options=(), payload=b""):
    """Encodes a CoAP message; options is a list of (number, bytes)."""
    out = bytearray([0x40 | mtype << 4 | len(token), mcode]) + mid.to_bytes(2, "big") + token
    last = 0
    for num, val in sorted(options, key=lambda o: o[0]):
        if isinstance(val, str):
            val = val.encode()
        d, dx = _ext(num - last)
        l, lx = _ext(len(val))
        out += bytes([d << 4 | l]) + dx + lx + val
        last = num
    if payload:
        out += b"\xff" + (payload.encode() if isinstance(payload, str) else payload)
    return bytes(out)


class Message:
    def __init__(self, mtype, mcode, mid, token, options, payload):
        self.type, self.code, self.mid, self.token = mtype, mcode, mid, token
        self.options, self.payload = options, payload

    def opt(self, num):
        for n, v in self.options:
            if n == num:
                return v
        return None

    def opts(self, num):
        return [v for n, v in self.options if n == num]

    @property
    def rsc(self):
        v = self.opt(OPT["rsc"])
        return int.from_bytes(v, "big") if v is not None else None

    @property
    def json(self):
        import json
        return json.loads(self.payload) if self.payload else None

    def __repr__(self):
        return "<%s rsc=%s %r>" % (code_str(self.code), self.rsc, self.payload[:300])


def decode(data):
    if len(data) < 4 or data[0] >> 6 != 1:
        raise ValueError("not a CoAP message")
    tkl = data[0] & 15
    mtype, mcode, mid = (data[0] >> 4) & 3, data[1], int.from_bytes(data[2:4], "big")
    pos = 4 + tkl
    token = data[4:pos]
    options, num = [], 0
    while pos < len(data) and data[pos] != 0xFF:
        b = data[pos]
        pos += 1
        d, l = b >> 4, b & 15
        for which in ("d", "l"):
            v = d if which == "d" else l
            if v == 13:
                v = data[pos] + 13
                pos += 1
            elif v == 14:
                v = int.from_bytes(data[pos:pos + 2], "big") + 269
                pos += 2
            if which == "d":
                d = v
            else:
                l = v
        num += d
        options.append((num, bytes(data[pos:pos + l])))
        pos += l
    payload = bytes(data[pos + 1:]) if pos < len(data) else b""
    m = Message(mtype, mcode, mid, token, options, payload.decode(errors="replace"))
    m.raw_payload = bytes(payload)  # binary content (CBOR) as it came
    return m


def m2m_options(**params):
    """oneM2M options from short names: m2m_options(fr="C1", rqi="r1", ty=3)."""
    out = []
    for k, v in params.items():
        if v is None:
            continue
        num = OPT[k]
        out.append((num, uint_bytes(v) if num in UINT_OPTS else str(v).encode()))
    return out


def path_options(path):
    return [(URI_PATH, s.encode()) for s in path.strip("/").split("/") if s] if path else []


class RawClient:
    """A UDP CoAP client that sends exactly what it is told."""

    def __init__(self, port, host="127.0.0.1"):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.mid = random.randrange(0, 0xFFFF)

    def close(self):
        self.sock.close()

    def next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid

    def send_raw(self, data):
        self.sock.sendto(data, self.addr)

    def recv(self, timeout=2.0):
        """Next datagram as a Message, or None after timeout."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65536)
        except socket.timeout:
            return None
        return decode(data)

    def request(self, method, path, options=(), payload=b"", mtype=CON, mid=None, token=None,
                timeout=2.0, cf=None):
        """Sends one request and waits for its response (matched by token)."""
        mid = self.next_mid() if mid is None else mid
        token = token if token is not None else os.urandom(4)
        opts = path_options(path) + list(options)
        if cf is not None:
            opts.append((CONTENT_FORMAT, uint_bytes(cf)))
        self.send_raw(encode(mtype, method, mid, token, opts, payload))
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.recv(max(0.01, deadline - time.time()))
            if m is None:
                return None
            if m.token == token or (m.type == RST and m.mid == mid):
                return m
        return None


class ClientResult:
    def __init__(self, rc, out, body):
        self.rc, self.out, self.body = rc, out, body
        self.code = None
        self.options = {}
        self.location = []
        lines = [l for l in out.splitlines() if re.match(r"^v:1 t:(ACK|CON|NON) c:\d\.\d\d ", l)]
        if lines:
            last = lines[-1]
            self.code = re.match(r"^v:1 t:\w+ c:(\d\.\d\d)", last).group(1)
            for num, val in re.findall(r"(?<![\w-])(\d+):((?:\\x[0-9A-Fa-f]{2})*)", last.split(" :: ")[0]):
                self.options[int(num)] = bytes(int(h, 16) for h in re.findall(r"\\x([0-9A-Fa-f]{2})", val))
            self.location = re.findall(r"Location-Path:([^,\] ]+)", last.split(" :: ")[0])

    @property
    def rsc(self):
        v = self.options.get(OPT["rsc"])
        return int.from_bytes(v, "big") if v is not None else None

    @property
    def json(self):
        import json
        return json.loads(self.body) if self.body.strip() else None

    def __repr__(self):
        return "<coap-client rc=%s %s rsc=%s %s>" % (self.rc, self.code, self.rsc, self.body[:300])


def coap_client(port, path, method="get", params=None, body=None, cf=None, non=False, preload=True,
                extra=(), timeout=5, host="127.0.0.1", scheme="coap"):
    """Runs coap-client-openssl against the CSE; params are oneM2M options by
    short name; scheme "coaps" with DTLS options in extra. Returns a
    ClientResult with the last response seen."""
    cmd = [COAP_CLIENT, "-v", "7", "-B", str(timeout), "-m", method]
    for num, val in m2m_options(**(params or {})):
        cmd += ["-O", "%d,0x%s" % (num, val.hex()) if val else "%d," % num]
    if non:
        cmd.append("-N")
    if cf is not None:
        cmd += ["-t", str(cf)]
    tmp = tempfile.NamedTemporaryFile(prefix="coap-", delete=False)
    tmp.close()
    infile = None
    if body is not None:
        infile = tmp.name + ".in"
        with open(infile, "wb") as f:
            f.write(body.encode() if isinstance(body, str) else body)
        cmd += ["-f", infile]
    host = "[%s]" % host if ":" in host else host
    cmd += ["-o", tmp.name] + list(extra) + ["%s://%s:%d/%s" % (scheme, host, port, path.lstrip("/"))]
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = PRELOAD
    else:
        env.pop("LD_PRELOAD", None)
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=timeout + 10)
    with open(tmp.name, "rb") as f:
        got = f.read().decode(errors="replace")
    os.unlink(tmp.name)
    if infile:
        os.unlink(infile)
    return ClientResult(p.returncode, (p.stdout + p.stderr).decode(errors="replace"), got)
