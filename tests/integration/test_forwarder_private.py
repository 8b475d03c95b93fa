"""domain-needed, bogus-priv and stop-dns-rebind, side by side with dnsmasq: for each
question both daemons, given the same options and the same upstream, either answer NXDOMAIN
themselves or forward it (ours never lets a kept question reach the upstream), and both take
the same addresses out of upstream answers."""

import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

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


# What the upstream answers (dnsmasq options), and the names then asked through both.
REBIND_UPSTREAM = [
    "--address=/priv.test/192.168.1.5", "--address=/lo.test/127.0.0.5",
    "--address=/pub.test/8.8.4.4", "--address=/ok.test/10.0.0.1",
    "--address=/cgn.test/100.64.0.1", "--address=/zero.test/0.0.0.0",
    "--host-record=mixed.test,8.8.8.8", "--host-record=mixed.test,10.1.1.1",
    "--address=/v6.test/fd00::1", "--address=/ll6.test/fe80::1", "--address=/fc.test/fc00::1",
    "--address=/lo6.test/::1", "--host-record=inner.test,192.168.7.7",
    "--cname=cn.test,inner.test",
]
REBIND_QUESTIONS = [("a.priv.test", "A"), ("a.lo.test", "A"), ("a.pub.test", "A"),
                    ("a.ok.test", "A"), ("x.a.ok.test", "A"), ("a.cgn.test", "A"),
                    ("a.zero.test", "A"), ("mixed.test", "A"), ("a.v6.test", "AAAA"),
                    ("a.ll6.test", "AAAA"), ("a.fc.test", "AAAA"), ("a.lo6.test", "AAAA"),
                    ("cn.test", "A")]


def records_of(reply):
    """rcode and the sorted (type, data) of the answer section."""
    return (dns.rcode.to_text(reply.rcode()),
            sorted((dns.rdatatype.to_text(rrset.rdtype), rd.to_text())
                   for rrset in reply.answer for rd in rrset))


def check_rebind_like_dnsmasq(t, options):
    upstream = Dnsmasq(t, REBIND_UPSTREAM)
    server = f"{upstream.addr}#{upstream.port}"
    theirs = Dnsmasq(t, [f"--{o}" for o in options] + [f"--server={server}"])
    ours = harness.start_forwarder(t, conf=["no-resolv", f"server={server}"] + options)
    changed = []
    for name, rdtype in REBIND_QUESTIONS:
        want = records_of(query(theirs, name, rdtype))
        got = records_of(query(ours, name, rdtype))
        expect_eq(got, want, f"{name} {rdtype} through us, beside dnsmasq")
        if got != records_of(query(upstream, name, rdtype)):
            changed.append(name)
            expect_eq(got[1], [], f"{name}: what is left of a rebinding answer")
        # From the cache, the second time: the same.
        expect_eq(records_of(query(ours, name, rdtype)), got, f"{name} {rdtype} again")
    return ours, changed


def test_rebinding_answers_lose_their_addresses_as_with_dnsmasq(t):
    ours, changed = check_rebind_like_dnsmasq(t, ["stop-dns-rebind",
                                                  "rebind-domain-ok=/ok.test/"])
    expect_eq(changed, ["a.priv.test", "a.lo.test", "a.zero.test", "mixed.test", "a.v6.test",
                        "a.ll6.test", "a.lo6.test", "cn.test"], "answers that lost addresses")
    ours.wait_log(r"WARNING .*possible DNS rebinding: .* a\.priv\.test\. ")


def test_rebind_localhost_ok_lets_loopback_through_as_with_dnsmasq(t):
    _, changed = check_rebind_like_dnsmasq(t, ["stop-dns-rebind", "rebind-localhost-ok"])
    expect_eq(changed, ["a.priv.test", "a.ok.test", "x.a.ok.test", "mixed.test", "a.v6.test",
                        "a.ll6.test", "cn.test"], "answers that lost addresses")


if __name__ == "__main__":
    harness.main(globals())
