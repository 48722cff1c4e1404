"""HTTP binding on a raw socket: keep-alive, pipelining, header mapping,
RSC -> status, Connection: close."""
import os, socket, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, raw_exchange

t = Tap()

def req(method, path, rqi, extra="", body=b"", origin="CAdmin"):
    h = "%s %s HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: %s\r\nX-M2M-RI: %s\r\nX-M2M-RVI: 3\r\n%s" % (
        method, path, origin, rqi, extra)
    if body:
        h += "Content-Length: %d\r\n" % len(body)
    return (h + "\r\n").encode() + body

def read_responses(sock, n, timeout=5):
    """Reads n complete HTTP responses (Content-Length framed)."""
    sock.settimeout(timeout)
    buf, out = b"", []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buf[:head_end].decode()
            length = 0
            hdrs = {}
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            length = int(hdrs.get("content-length", "0"))
            if len(buf) < head_end + 4 + length:
                break
            status = int(head.split()[1])
            out.append((status, hdrs, buf[head_end + 4:head_end + 4 + length]))
            buf = buf[head_end + 4 + length:]
        if len(out) >= n:
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return out

with Cse() as cse:
    s = socket.create_connection(("127.0.0.1", cse.port))
    s.sendall(req("GET", "/cse-in", "p1") + req("GET", "/cse-in/nothere", "p2") + req("GET", "/cse-in", "p3"))
    rs = read_responses(s, 3)
    t.eq([r[1].get("x-m2m-ri") for r in rs], ["p1", "p2", "p3"], "three pipelined requests answered in order")
    t.eq([r[0] for r in rs], [200, 404, 200], "pipelined statuses")
    t.eq([r[1].get("x-m2m-rsc") for r in rs], ["2000", "4004", "2000"], "X-M2M-RSC on each")
    t.ok(all(r[1].get("x-m2m-rvi") == "3" for r in rs), "X-M2M-RVI echoed")
    body = b'{"m2m:ae":{"rn":"ka","api":"Nka","rr":false,"srv":["3"]}}'
    s.sendall(req("POST", "/cse-in", "p4", "Content-Type: application/json;ty=2\r\n", body, origin="Cka"))
    rs = read_responses(s, 1)
    t.ok(rs and rs[0][0] == 201 and rs[0][1].get("content-location") == "Cka", "POST on the reused connection", rs)
    s.sendall(req("DELETE", "/cse-in/ka", "p5"))
    rs = read_responses(s, 1)
    t.ok(rs and rs[0][0] == 200 and rs[0][1].get("x-m2m-rsc") == "2002", "DELETE on the reused connection", rs)
    # Split a request across writes.
    raw = req("GET", "/cse-in", "p6")
    s.sendall(raw[:10]); time.sleep(0.05); s.sendall(raw[10:])
    rs = read_responses(s, 1)
    t.ok(rs and rs[0][0] == 200, "request split across two writes", rs)
    s.sendall(req("GET", "/cse-in", "p7", "Connection: close\r\n"))
    rs = read_responses(s, 1)
    t.ok(rs and rs[0][1].get("connection", "").lower() == "close", "Connection: close is honoured", rs)
    s.settimeout(2)
    try:
        t.eq(s.recv(100), b"", "server closes after Connection: close")
    except OSError as e:
        t.ok(False, "server closes after Connection: close", e)
    s.close()

    # Garbage gets a 400 and a close.
    data = raw_exchange(cse.port, b"GARBAGE\r\n\r\n")
    t.ok(data.startswith(b"HTTP/1.1 400"), "unparseable request -> 400", data[:200])
    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "server still serves after garbage")

    base = b"GET /cse-in HTTP/1.1\r\nX-M2M-Origin: CAdmin\r\nConnection: close\r\n"
    out = raw_exchange(cse.port, base + b"X-M2M-RVI: 3\r\nX-M2M-RI: " + b"r" * 300 + b"\r\n\r\n")
    t.ok(out.startswith(b"HTTP/1.1 400") and b"X-M2M-RSC: 4000" in out and b"X-M2M-RI:" not in out,
         "X-M2M-RI too long to echo -> 4000", out[:300])
    out = raw_exchange(cse.port, base + b"X-M2M-RI: " + b"r" * 256 + b"\r\n\r\n")
    t.ok(out.startswith(b"HTTP/1.1 200") and (b"X-M2M-RI: " + b"r" * 256 + b"\r\n") in out,
         "256-character X-M2M-RI echoed whole", out[:200])
    t.ok(b"X-M2M-RVI" not in out, "no X-M2M-RVI in the request: none in the response (Release 1)", out[:300])
    out = raw_exchange(cse.port, base + b"X-M2M-RI: 1\r\n" + b"".join(b"X-A%d: 1\r\n" % i for i in range(60)) + b"\r\n")
    t.ok(out.startswith(b"HTTP/1.1 431") and b"X-M2M-RSC: 4000" in out and b"m2m:dbg" in out,
         "too many header fields -> 431 with RSC 4000", out[:300])
    out = raw_exchange(cse.port, b"GET /cse-in?" + b"a" * 70000 + b" HTTP/1.1\r\nX-M2M-Origin: CAdmin\r\nX-M2M-RI: 1\r\n\r\n")
    t.ok(out.startswith(b"HTTP/1.1 431"), "70 kB request target -> 431", out[:300])
    out = raw_exchange(cse.port, base.replace(b"HTTP/1.1", b"HTTP/1.0").replace(b"Connection: close\r\n", b"") + b"X-M2M-RI: 1\r\n\r\n")
    t.ok(out.startswith(b"HTTP/1.1 200"), "HTTP/1.0 request answered and closed", out[:200])

    # Media types and methods.
    r = cse.request("POST", "/cse-in", body={"m2m:ae": {"api": "Nv", "rr": False, "srv": ["3"]}}, origin="Cvnd",
                    content_type="application/vnd.onem2m-res+json;ty=2")
    t.rsc(r, 2001, 201, "Content-Type application/vnd.onem2m-res+json;ty=2")
    t.eq(r.headers.get("content-type"), "application/json", "responses are application/json")
    r = cse.get("/cse-in", headers={"Accept": "application/vnd.onem2m-res+json"})
    t.rsc(r, 2000, 200, "Accept application/vnd.onem2m-res+json")
    r = cse.get("/cse-in", headers={"Accept": "application/xml, application/json;q=0.5"})
    t.rsc(r, 2000, 200, "Accept with JSON among others")
    r = cse.request("POST", "/cse-in", body={"m2m:sgn": {"vrq": True}})
    t.ok(r.rsc == 2000 and r.status == 200, "POST without ty is a NOTIFY; to the CSEBase -> 2000", r)
    r = cse.request("PUT", "/cse-in/Cvnd", body={"m2m:ae": {"lbl": ["x"]}}, ty=2, origin="Cvnd")
    t.rsc(r, 2004, 200, "ty in the Content-Type of an UPDATE is ignored")

    # Many connections in parallel all answered.
    socks = [socket.create_connection(("127.0.0.1", cse.port)) for _ in range(20)]
    for i, so in enumerate(socks):
        so.sendall(req("GET", "/cse-in", "m%d" % i))
    ok = all((lambda rs: rs and rs[0][0] == 200)(read_responses(so, 1)) for so in socks)
    t.ok(ok, "20 concurrent connections answered")
    for so in socks:
        so.close()
# IPv6 loopback.
with Cse(http_host="::1") as cse:
    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "serves on [::1]")
    t.ok("http://[::1]:%d" % cse.port in r.json["m2m:cb"]["poa"], "CSEBase poa brackets an IPv6 literal",
         r.json["m2m:cb"]["poa"])
t.done()
