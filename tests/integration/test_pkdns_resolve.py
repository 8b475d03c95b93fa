"""The pkdns daemon: pkarr names resolved from a `pkdns-cli testnet` on loopback, other names
forwarded to a scripted server (its SERVFAIL never cached), a key without a packet NXDOMAIN,
id.server and version.server, FORMERR, and a clean stop on SIGTERM."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rrset  # noqa: E402

import dhtnet  # noqa: E402
import harness  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402

PKDNS = os.path.join(harness.BIN_DIR, "pkdns")
SEED = bytes(range(1, 33))
ALIAS_SEED = bytes(range(51, 83))
ABSENT_SEED = bytes(range(101, 133))
ZBASE32 = "ybndrfg8ejkmcpqxot1uwisza345h769"


def zbase32(data):
    bits = int.from_bytes(data, "big")
    nbits = len(data) * 8
    chars = (nbits + 4) // 5
    bits <<= chars * 5 - nbits
    return "".join(ZBASE32[(bits >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def pkarr_message(*records):
    """A pkarr DNS message: a response with ID 0 and `records` ((owner, type, rdata)) as its
    answers."""
    msg = dns.message.Message(id=0)
    msg.flags = dns.flags.QR | dns.flags.AA
    for owner, rdtype, rdata in records:
        msg.answer.append(dns.rrset.from_text(owner + ".", 300, "IN", rdtype, rdata))
    return msg.to_wire()


class Pkdns(harness.Process, harness.Endpoint):
    def __init__(self, case, argv, addr, port):
        if not os.access(PKDNS, os.X_OK):
            raise Failure(f"{PKDNS} is not built")
        harness.Process.__init__(self, case, f"pkdns{len(case.processes)}", argv,
                                 must_survive=True)
        harness.Endpoint.__init__(self, addr, port)


def write_conf(case, port, forward, bootstrap="[]", timeout_ms=3000, general="", dns_extra=""):
    return case.write("pkdns.toml", f"""
[general]
socket = "127.0.0.1:{port}"
forward = "{forward.addr}:{forward.port}"
{general}

[dns]
answer_timeout_ms = {timeout_ms}
{dns_extra}

[dht]
bootstrap = {bootstrap}
read_only = true
state_dir = "{case.dir}"
""")


def start_pkdns(case, forward, bootstrap="[]", timeout_ms=3000, **extra):
    port = harness.free_port("127.0.0.1")
    conf = write_conf(case, port, forward, bootstrap, timeout_ms, **extra)
    p = Pkdns(case, [PKDNS, "-c", conf, "-v"], "127.0.0.1", port)
    harness.wait_until_answers(p, p)
    return p


def test_daemon_answers_identity_formerr_forwards_and_stops(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    upstream.add("www.example.test", "A", "198.51.100.1")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a DHT node that never answers
    silent.bind(("127.0.0.1", 0))
    boot = f'["127.0.0.1:{silent.getsockname()[1]}"]'
    p = start_pkdns(case, upstream, bootstrap=boot, timeout_ms=500)
    key = zbase32(dhtnet.public_key(SEED))
    started = time.monotonic()
    r = harness.query(p, key, "A")
    took = time.monotonic() - started
    expect_eq(harness.rcode(r), "SERVFAIL", "a lookup nobody answers")
    # Only the lower bound is checked: the client's own timeout bounds it from above, and a
    # busy machine may only make it later.
    expect(took >= 0.45, f"SERVFAIL only after answer_timeout_ms (500 ms), took {took:.2f} s")
    r = harness.query(p, "id.server", "TXT", "CH")
    expect_eq(harness.rcode(r), "NOERROR", "id.server rcode")
    expect(r.answer, f"id.server answered: {harness.describe(r)}")
    r = harness.query(p, "www.example.test", "A")
    expect_answer = harness.answer_texts(r, "A")
    expect_eq(expect_answer, ["198.51.100.1"], "forwarded A")
    r = harness.query(p, "www.example.test", "A", tcp=True)
    expect_eq(harness.answer_texts(r, "A"), ["198.51.100.1"], "forwarded A over TCP")
    expect_eq(upstream.count("www.example.test", "A"), 1, "second answer from the cache")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07broken", (p.addr, p.port))
    data = s.recv(512)
    s.close()
    expect(data[:2] == b"\x12\x34" and (data[3] & 0xF) == 1, f"FORMERR: {data.hex()}")
    p.wait_log(r"pkdns \S+ started", timeout=2)
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")
    silent.close()
    p.wait_log(r"stopped after \d+ queries", timeout=1)


def test_identity_answers_name_pkdns_and_its_version(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    p = start_pkdns(case, upstream)
    status, out = harness.run_command([PKDNS, "--version"])
    expect_eq(status, 0, "pkdns --version")
    version = out.split()[-1]
    for name, text in (("id.server", "pkdns"), ("hostname.bind", "pkdns"),
                       ("version.server", version), ("version.bind", version)):
        r = harness.query(p, name, "TXT", "CH")
        expect_eq(harness.rcode(r), "NOERROR", f"{name} rcode")
        expect(r.flags & dns.flags.AA, f"{name}: AA")
        expect_eq([(rr.name.to_text(), rr.rdclass, rr.ttl, [t.decode() for rd in rr
                                                           for t in rd.strings])
                   for rr in r.answer],
                  [(name + ".", dns.rdataclass.CH, 0, [text])], f"{name}'s answer")
    expect_eq(upstream.count(), 0, "nothing forwarded")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


def test_forwarded_servfail_is_not_cached(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    upstream.add("www.example.test", "A", "198.51.100.1")
    upstream.rcode = dns.rcode.SERVFAIL
    p = start_pkdns(case, upstream)
    for attempt in range(2):
        r = harness.query(p, "www.example.test", "A")
        expect_eq(harness.rcode(r), "SERVFAIL", f"the forward server's SERVFAIL ({attempt})")
    expect_eq(upstream.count("www.example.test", "A"), 2, "asked again: the SERVFAIL not cached")
    upstream.rcode = None
    harness.expect_answer(harness.query(p, "www.example.test", "A"), "A", ["198.51.100.1"],
                          "the forward server's answer once it has one")
    expect_eq(upstream.count("www.example.test", "A"), 3, "questions to the forward server")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


def test_acl_and_rate_limit_follow_sighup(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    p = start_pkdns(case, upstream, general='acl = ["10.0.0.0/8"]')
    expect_eq(harness.rcode(harness.query(p, "id.server", "TXT", "CH")), "REFUSED",
              "a client outside acl")
    limits = "query_rate_limit = 5\nquery_rate_limit_burst = 5"
    write_conf(case, p.port, upstream, general='acl = ["127.0.0.0/8"]', dns_extra=limits)
    p.send_signal(1)  # SIGHUP
    p.wait_log(r"configuration reloaded", timeout=5)
    rcodes = [harness.rcode(harness.query(p, "id.server", "TXT", "CH")) for _ in range(12)]
    expect_eq(rcodes, ["NOERROR"] * 12,
              "loopback is spared the rate limit by default (behind the router, every client)")
    write_conf(case, p.port, upstream, general='acl = ["127.0.0.0/8"]\nrate_limit_loopback = true',
               dns_extra=limits)
    p.send_signal(1)  # SIGHUP
    deadline = time.monotonic() + 5
    while p.log().count("configuration reloaded") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    expect_eq(p.log().count("configuration reloaded"), 2, "the second reload")
    rcodes = [harness.rcode(harness.query(p, "id.server", "TXT", "CH")) for _ in range(12)]
    expect_eq(rcodes[0], "NOERROR", "inside acl after SIGHUP")
    expect("REFUSED" in rcodes[5:], f"over query_rate_limit with rate_limit_loopback: {rcodes}")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


def test_pkarr_names_resolve_from_the_testnet(case):
    net = dhtnet.Testnet(case, 20)
    key = dhtnet.public_key(SEED)
    name = zbase32(key)
    seq = int(time.time() * 1_000_000)
    everyone = net.bootstrap_arg(len(net.addrs))
    status, stored, out = dhtnet.dht_put(everyone, SEED, seq,
                                         pkarr_message((name, "A", "192.0.2.7")))
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    alias = zbase32(dhtnet.public_key(ALIAS_SEED))
    value = pkarr_message((alias, "CNAME", name + "."),
                          ("www." + alias, "CNAME", "www.example.test."))
    status, stored, out = dhtnet.dht_put(everyone, ALIAS_SEED, seq, value)
    expect(status == 0 and stored >= 4, f"dht-put of the alias stored on {stored} nodes:\n{out}")
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    upstream.add("www.example.test", "A", "198.51.100.1")
    # Every node as a bootstrap, so that puts and gets all find the true closest nodes of a key
    # in a testnet whose tables are still filling.
    boot = "[\n" + "".join(f'    "{h}:{p}",\n' for h, p in net.addrs) + "    ]"
    p = start_pkdns(case, upstream, bootstrap=boot)

    def answered(qname):
        r = harness.query(p, qname, "A", timeout=5)
        return r if harness.rcode(r) != "SERVFAIL" else None

    r = dhtnet.wait_for(lambda: answered(name), "pkdns answers the key", timeout=20, step=0.5)
    expect_eq(harness.answer_texts(r, "A"), ["192.0.2.7"], "the key's A record")
    r = harness.query(p, name, "A", tcp=True)
    expect_eq(harness.answer_texts(r, "A"), ["192.0.2.7"], "again, from the cache, over TCP")
    absent = zbase32(dhtnet.public_key(ABSENT_SEED))
    r = dhtnet.wait_for(lambda: answered(absent), "pkdns answers the absent key", timeout=20,
                        step=0.5)
    expect_eq(harness.rcode(r), "NXDOMAIN", "a key without a packet")
    r = harness.query(p, "www.example.test", "A")
    expect_eq(harness.answer_texts(r, "A"), ["198.51.100.1"], "forwarded A")
    r = dhtnet.wait_for(lambda: answered(alias), "pkdns follows the alias", timeout=20, step=0.5)
    expect_eq(harness.answer_texts(r, "A"), ["192.0.2.7"], "a CNAME to another key")
    r = harness.query(p, "www." + alias, "A", timeout=5)
    expect_eq(harness.answer_texts(r, "A"), ["198.51.100.1"], "a CNAME to an ICANN name")
    r = harness.query(p, "id.server", "TXT", "CH")
    expect(r.answer, "id.server answered")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    harness.main(globals())
