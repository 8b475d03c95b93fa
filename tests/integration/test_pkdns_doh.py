"""pkdns's DNS over HTTP (RFC 8484) on dns_over_http_socket, asked by the real curl (and by
Python's http.client where one connection must carry two requests): a pkarr name from a
`pkdns-cli testnet` and an ICANN name forwarded to dnsmasq resolve over GET and POST with the
headers the Rust pkdns sends; bad requests get their statuses and leave the server answering;
the ACL applies, to the X-Forwarded-For address when the peer is a loopback proxy."""

import base64
import http.client
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402

import dhtnet  # noqa: E402
import harness  # noqa: E402
import test_pkdns_resolve as resolve  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402

CURL = "/usr/bin/curl"
DNS_TYPE = "application/dns-message"
SEED = bytes(range(1, 33))


class Doh:
    """pkdns with DNS over HTTP on its own loopback port; `url` is the /dns-query URL."""

    def __init__(self, case, forward, bootstrap="[]", general=""):
        self.port = harness.free_port("127.0.0.1")
        self.pkdns = resolve.start_pkdns(
            case, forward, bootstrap=bootstrap,
            general=f'dns_over_http_socket = "127.0.0.1:{self.port}"\n{general}')
        self.url = f"http://127.0.0.1:{self.port}/dns-query"
        self.case = case


def wire_query(name, rdtype="A", rdclass="IN"):
    q = dns.message.make_query(name, rdtype, rdclass)
    q.id = 0  # RFC 8484 4.1: 0, so that caches see one URL per question
    return q.to_wire()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def curl(case, args, url):
    """Runs curl; returns (status, headers as a dict of lower-case names, body bytes)."""
    head = case.path("curl.head")
    body = case.path("curl.body")
    for p in (head, body):
        if os.path.exists(p):
            os.unlink(p)
    argv = [CURL, "-sS", "--max-time", "10", "-D", head, "-o", body, *args, url]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=20)
    expect(done.returncode == 0, f"{' '.join(argv)} failed: {done.stdout.decode()}")
    with open(head, "rb") as f:
        lines = f.read().decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    with open(body, "rb") as f:
        return status, headers, f.read()


def doh_get(doh, name, rdtype="A", rdclass="IN", extra=()):
    return curl(doh.case, ["-H", f"accept: {DNS_TYPE}", *extra],
                f"{doh.url}?dns={b64url(wire_query(name, rdtype, rdclass))}")


def doh_post(doh, name, rdtype="A"):
    path = doh.case.path("query.bin")
    with open(path, "wb") as f:
        f.write(wire_query(name, rdtype))
    return curl(doh.case, ["-H", f"accept: {DNS_TYPE}", "-H", f"content-type: {DNS_TYPE}",
                           "--data-binary", f"@{path}"], doh.url)


def answer_of(status, headers, body, what):
    """The DNS message of a 200 response, after checking the headers every answer carries."""
    expect_eq(status, 200, f"{what}: HTTP status (body {body[:80]!r})")
    expect_eq(headers.get("content-type"), DNS_TYPE, f"{what}: Content-Type")
    expect_eq(headers.get("access-control-allow-origin"), "*", f"{what}: CORS")
    expect_eq(headers.get("content-length"), str(len(body)), f"{what}: Content-Length")
    return dns.message.from_wire(body)


def expect_max_age_is_answer_ttl(headers, msg, what):
    ttls = [rrset.ttl for rrset in msg.answer + msg.authority]
    expect(ttls, f"{what}: the answer has records")
    expect_eq(headers.get("cache-control"), f"max-age={min(ttls)}", f"{what}: Cache-Control")


def raw_exchange(doh, data):
    """Sends data on a new connection and returns all the server sends back until it closes."""
    with socket.create_connection(("127.0.0.1", doh.port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_pkarr_and_icann_names_resolve_over_get_and_post(case):
    net = dhtnet.Testnet(case, 20)
    key = dhtnet.public_key(SEED)
    name = resolve.zbase32(key)
    seq = int(time.time() * 1_000_000)
    status, stored, out = dhtnet.dht_put(net.bootstrap_arg(len(net.addrs)), SEED, seq,
                                         resolve.pkarr_message((name, "A", "192.0.2.7")))
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    upstream = harness.Dnsmasq(case, ["--host-record=www.example.test,198.51.100.1"], ttl=120)
    boot = "[\n" + "".join(f'    "{h}:{p}",\n' for h, p in net.addrs) + "    ]"
    doh = Doh(case, upstream, bootstrap=boot)

    def resolved():
        reply = answer_of(*doh_get(doh, name), "GET of the key")
        return reply if reply.rcode() == dns.rcode.NOERROR else None

    msg = dhtnet.wait_for(resolved, "pkdns answers the key over HTTP", timeout=20, step=0.5)
    expect_eq(harness.answer_texts(msg, "A"), ["192.0.2.7"], "the key's A record over GET")
    status, headers, body = doh_post(doh, name)
    msg = answer_of(status, headers, body, "POST of the key")
    expect_eq(harness.answer_texts(msg, "A"), ["192.0.2.7"], "the key's A record over POST")
    expect_max_age_is_answer_ttl(headers, msg, "POST of the key")

    status, headers, body = doh_get(doh, "www.example.test")
    msg = answer_of(status, headers, body, "GET of an ICANN name")
    expect_eq(harness.answer_texts(msg, "A"), ["198.51.100.1"], "forwarded A over GET")
    expect_max_age_is_answer_ttl(headers, msg, "GET of an ICANN name")
    status, headers, body = doh_post(doh, "www.example.test")
    msg = answer_of(status, headers, body, "POST of an ICANN name")
    expect_eq(harness.answer_texts(msg, "A"), ["198.51.100.1"], "forwarded A over POST")
    doh.pkdns.wait_log(r"DNS over HTTP on 127\.0\.0\.1:%d" % doh.port, timeout=1)
    expect_eq(doh.pkdns.stop(10), 0, "exit status after SIGTERM")
    doh.pkdns.wait_log(r"DNS over HTTP: [1-9]\d* requests", timeout=1)


def test_an_answer_without_records_is_not_cached(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    upstream.negative_soa = False
    doh = Doh(case, upstream)
    msg = answer_of(*doh_get(doh, "absent.example.test"), "NXDOMAIN without SOA")
    expect_eq(msg.rcode(), dns.rcode.NXDOMAIN, "rcode")
    status, headers, body = doh_get(doh, "absent.example.test")
    expect_eq(headers.get("cache-control"), "max-age=0", "Cache-Control of an empty answer")


def test_bad_requests_get_their_status_and_the_server_goes_on(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    doh = Doh(case, upstream)
    accept = ["-H", f"accept: {DNS_TYPE}"]
    status, headers, body = curl(case, accept, doh.url + "?dns=AA*B")
    expect_eq(status, 400, "bad base64url")
    expect(body, "a 400 has a short text body")
    expect_eq(headers.get("access-control-allow-origin"), "*", "CORS on an error")
    status, _, _ = curl(case, accept, doh.url + "?other=1")
    expect_eq(status, 400, "no dns parameter")
    status, _, _ = curl(case, accept, doh.url + "?dns=" + b64url(b"\x00\x01\x02"))
    expect_eq(status, 400, "base64url of something that is not a DNS query")
    status, _, _ = curl(case, accept, f"http://127.0.0.1:{doh.port}/resolve?dns=AAAA")
    expect_eq(status, 404, "another path")
    status, headers, _ = curl(case, [*accept, "-X", "PUT", "--data-binary", "x"], doh.url)
    expect_eq(status, 405, "PUT")
    expect("GET" in headers.get("allow", "") and "POST" in headers.get("allow", ""),
           f"405 names the methods: {headers}")
    status, _, _ = curl(case, ["-H", "accept: text/html"],
                        doh.url + "?dns=" + b64url(wire_query("id.server", "TXT", "CH")))
    expect_eq(status, 406, "an Accept without DNS messages")
    status, _, _ = curl(case, [*accept, "-H", "content-type: text/plain", "--data-binary", "x"],
                        doh.url)
    expect_eq(status, 415, "POST of another type")
    status, headers, _ = curl(case, ["-X", "OPTIONS"], doh.url)
    expect_eq(status, 204, "OPTIONS (CORS preflight)")
    expect("POST" in headers.get("access-control-allow-methods", ""), f"preflight: {headers}")

    reply = raw_exchange(doh, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    expect(reply.startswith(b"HTTP/1.1 400 "), f"garbage: {reply[:80]!r}")
    reply = raw_exchange(doh, b"POST /dns-query HTTP/1.1\r\nHost: a\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    expect(reply.startswith(b"HTTP/1.1 501 "), f"chunked: {reply[:80]!r}")
    msg = answer_of(*doh_get(doh, "id.server", "TXT", "CH"), "after the bad requests")
    expect(msg.answer, "id.server answered after the bad requests")
    expect(doh.pkdns.running(), "pkdns still runs")


def test_one_connection_carries_two_requests(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    doh = Doh(case, upstream)
    conn = http.client.HTTPConnection("127.0.0.1", doh.port, timeout=5)
    query = b64url(wire_query("id.server", "TXT", "CH"))
    conn.request("GET", f"/dns-query?dns={query}", headers={"Accept": DNS_TYPE})
    first = conn.getresponse()
    first_body = first.read()
    sock = conn.sock
    conn.request("POST", "/dns-query", body=wire_query("id.server", "TXT", "CH"),
                 headers={"Accept": DNS_TYPE, "Content-Type": DNS_TYPE})
    second = conn.getresponse()
    second_body = second.read()
    expect(conn.sock is sock, "the second request went on the same connection")
    conn.close()
    for resp, body, what in ((first, first_body, "GET"), (second, second_body, "POST")):
        expect_eq(resp.status, 200, f"{what} on a kept-alive connection")
        expect(dns.message.from_wire(body).answer, f"{what}: id.server answered")

    # Two requests in one write: both answered, in order.
    two = (f"GET /dns-query?dns={query} HTTP/1.1\r\nHost: a\r\n\r\n"
           f"GET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").encode()
    reply = raw_exchange(doh, two)
    expect(reply.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 404 " in reply,
           f"pipelined: {reply[:200]!r}")


def test_acl_applies_to_the_forwarded_address_of_a_local_proxy(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    doh = Doh(case, upstream, general='acl = ["10.0.0.0/8"]')
    msg = answer_of(*doh_get(doh, "id.server", "TXT", "CH"), "outside acl")
    expect_eq(msg.rcode(), dns.rcode.REFUSED, "a loopback client outside acl")
    msg = answer_of(*doh_get(doh, "id.server", "TXT", "CH",
                             extra=["-H", "X-Forwarded-For: 10.1.2.3, 127.0.0.1"]),
                    "forwarded for a client inside acl")
    expect_eq(msg.rcode(), dns.rcode.NOERROR, "X-Forwarded-For from a loopback proxy")


def test_a_taken_dns_over_http_address_stops_startup(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = harness.free_port("127.0.0.1")
    conf = resolve.write_conf(
        case, port, upstream,
        general=f'dns_over_http_socket = "127.0.0.1:{taken.getsockname()[1]}"')
    p = harness.Process(case, "pkdns", [resolve.PKDNS, "-c", conf])
    status = p.wait_exit(10)
    taken.close()
    expect_eq(status, 1, "exit status with the DNS over HTTP address taken")
    p.wait_log(r"cannot listen for DNS over HTTP on 127\.0\.0\.1:\d+: address already in use",
               timeout=1)


if __name__ == "__main__":
    if not os.access(CURL, os.X_OK):
        raise Failure(f"{CURL} is needed")
    harness.main(globals())
