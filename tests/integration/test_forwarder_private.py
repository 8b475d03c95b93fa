"""domain-needed and bogus-priv, side by side with dnsmasq: for each question both daemons,
given the same options and the same upstream, either answer NXDOMAIN themselves or forward
it; ours never lets a kept question reach the upstream."""

import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode  # noqa: E402

import harness  # noqa: E402
from harness import Dnsmasq, ScriptedServer, expect, expect_eq, query  # noqa: E402

OPTIONS = ["domain-needed", "bogus-priv"]


def rev(address):
    return ipaddress.ip_address(address).reverse_pointer + "."


# (name, type): what both daemons keep to themselves (True) or forward (False).
QUESTIONS = [
    ("printer.", "A", True), ("printer.", "AAAA", True), ("printer.", "ANY", True),
    ("printer.", "MX", False), ("printer.", "TXT", False), ("printer.lan.", "A", False),
    (rev("192.168.0.1"), "PTR", True), (rev("10.1.2.3"), "PTR", True),
    (rev("172.16.1.1"), "PTR", True), (rev("172.31.1.1"), "PTR", True),
    (rev("172.32.1.1"), "PTR", False), (rev("172.15.1.1"), "PTR", False),
    (rev("127.0.0.1"), "PTR", True), (rev("169.254.9.9"), "PTR", True),
    (rev("0.0.0.1"), "PTR", True), (rev("192.0.2.7"), "PTR", True),
    (rev("198.51.100.7"), "PTR", True), (rev("203.0.113.7"), "PTR", True),
    (rev("255.255.255.255"), "PTR", True), (rev("100.64.1.1"), "PTR", False),
    (rev("8.8.8.8"), "PTR", False), (rev("224.3.2.1"), "PTR", False),
    (rev("192.168.0.1"), "TXT", False), (rev("192.168.0.1"), "NS", False),
    ("168.192.in-addr.arpa.", "PTR", True), ("16.172.in-addr.arpa.", "PTR", True),
    ("172.in-addr.arpa.", "PTR", False), ("168.192.in-addr.arpa.", "SOA", False),
    ("x.1.0.168.192.in-addr.arpa.", "PTR", False),
    (rev("::"), "PTR", True), (rev("::1"), "PTR", True), (rev("::2"), "PTR", False),
    (rev("fe80::1"), "PTR", True), (rev("febf::1"), "PTR", True),
    (rev("fec0::1"), "PTR", True), (rev("fd12::1"), "PTR", True),
    (rev("fc12::1"), "PTR", False), (rev("2001:db8::1"), "PTR", True),
    (rev("2001:db9::1"), "PTR", False), (rev("::ffff:192.168.1.1"), "PTR", True),
    (rev("::ffff:8.8.8.8"), "PTR", False), ("d.f.ip6.arpa.", "PTR", True),
]


def both(t):
    upstream = ScriptedServer(t)
    upstream.rcode = dns.rcode.NOERROR  # every forwarded question: NOERROR, no records
    server = f"{upstream.addr}#{upstream.port}"
    theirs = Dnsmasq(t, [f"--{o}" for o in OPTIONS] + [f"--server={server}"])
    ours = harness.start_forwarder(t, conf=["no-resolv", f"server={server}", "cache-size=0"]
                                   + OPTIONS)
    return upstream, theirs, ours


def test_kept_and_forwarded_questions_match_dnsmasq(t):
    upstream, theirs, ours = both(t)
    for name, rdtype, kept in QUESTIONS:
        want = dns.rcode.NXDOMAIN if kept else dns.rcode.NOERROR
        got_theirs = query(theirs, name, rdtype).rcode()
        before = upstream.count(name)
        got_ours = query(ours, name, rdtype).rcode()
        expect_eq(dns.rcode.to_text(got_theirs), dns.rcode.to_text(want),
                  f"dnsmasq's answer to {name} {rdtype}")
        expect_eq(dns.rcode.to_text(got_ours), dns.rcode.to_text(got_theirs),
                  f"our answer to {name} {rdtype}, beside dnsmasq's")
        reached = upstream.count(name) - before
        expect(reached == 0 if kept else reached >= 1,
               f"{name} {rdtype}: reached the upstream {reached} times from us")


def test_without_the_options_everything_is_forwarded(t):
    upstream = ScriptedServer(t)
    upstream.rcode = dns.rcode.NOERROR
    ours = harness.start_forwarder(t, conf=["no-resolv", "cache-size=0",
                                            f"server={upstream.addr}#{upstream.port}"])
    for name, rdtype in (("printer.", "A"), (rev("192.168.0.1"), "PTR")):
        expect_eq(dns.rcode.to_text(query(ours, name, rdtype).rcode()), "NOERROR",
                  f"{name} {rdtype} without domain-needed and bogus-priv")
        expect_eq(upstream.count(name), 1, f"{name} asked upstream")


def test_stop_line_counts_the_kept_questions(t):
    _, _, ours = both(t)
    for name, rdtype in (("printer.", "A"), (rev("10.0.0.1"), "PTR")):
        query(ours, name, rdtype)
    expect_eq(ours.stop(), 0, "exit status on SIGTERM")
    expect("2 NXDOMAIN for private names" in ours.wait_log(r"stopped after"),
           "the stop line's count of kept questions")


if __name__ == "__main__":
    harness.main(globals())
