"""pkdns-router sends each name to the right pool: pkarr keys (and names under them, in any
case) to one backend, everything else to another; near misses (51 and 53 characters, a label
that is not a curve point, <key>.com) stay with the default; rules for suffixes, query types,
rcodes and drops; the identity query answered by the router itself. Backends are scripted
servers, and for the routing cases also two dnsmasq instances."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.exception  # noqa: E402
import dns.rcode  # noqa: E402

import harness  # noqa: E402
from harness import ScriptedServer, expect, expect_answer, expect_eq, query  # noqa: E402

PKDNS_A = "192.0.2.53"  # what the pkarr backend answers for every name
DEFAULT_A = "192.0.2.1"  # what the default backend answers

KEY = "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo"  # vectors.md, seed 00x32
KEY_CB7 = "cb7xxx6wtqr5d6yqudkt47drqswxk57dzy3h7qj3udym5puy9cso"
NOT_A_KEY = "c1bkg8tfsyy8wcedtmw4fwhdmm7bbzhgg3z58tf43m5ow8w9mbus"  # vectors.md


def two_backends(t):
    pkdns, default = ScriptedServer(t), ScriptedServer(t)
    pkdns.any_a = PKDNS_A
    default.any_a = DEFAULT_A
    return pkdns, default


def backends_conf(pkdns, default):
    return (f"[backend pkdns]\naddress = {pkdns.addr}:{pkdns.port}\npool = pkdns\n"
            f"[backend default]\naddress = {default.addr}:{default.port}\npool = default\n")


def pkarr_router(t, tld=""):
    pkdns, default = two_backends(t)
    conf = backends_conf(pkdns, default) + (
        f"[rule pkarr]\nmatch = pkarr {tld}\naction = pool pkdns\n"
        "[rule rest]\nmatch = all\naction = pool default\n")
    return harness.start_router(t, conf), pkdns, default


def routed_queries(server):
    """Queries a backend received, its health checks (id.server) left out."""
    return sum(1 for (_, name, _) in list(server.received) if name != "id.server.")


def expect_routed(router, name, want, what):
    r = harness.query_retrying(router, name)
    expect_answer(r, "A", [want], f"{name} A ({what})")


def test_key_goes_to_pkarr_pool(t):
    router, _, _ = pkarr_router(t)
    expect_routed(router, KEY, PKDNS_A, "a bare key")


def test_subdomain_of_key_goes_to_pkarr_pool(t):
    router, _, _ = pkarr_router(t)
    expect_routed(router, f"www.{KEY}", PKDNS_A, "a name under a key")
    expect_routed(router, f"_dnslink.a.b.{KEY_CB7}", PKDNS_A, "a deep name under another key")


def test_upper_case_key_goes_to_pkarr_pool(t):
    router, pkdns, _ = pkarr_router(t)
    expect_routed(router, f"WWW.{KEY.upper()}", PKDNS_A, "an upper-case key")
    expect(pkdns.count(f"www.{KEY}") == 1, "the pkarr backend did not see the upper-case query")


def test_ordinary_name_goes_to_default_pool(t):
    router, _, _ = pkarr_router(t)
    expect_routed(router, "www.example.test", DEFAULT_A, "an ordinary name")


def test_51_and_53_character_labels_go_to_default_pool(t):
    router, _, _ = pkarr_router(t)
    expect_routed(router, KEY[:51], DEFAULT_A, "51 characters")
    expect_routed(router, KEY + "y", DEFAULT_A, "53 characters")


def test_label_that_is_not_a_key_goes_to_default_pool(t):
    router, _, _ = pkarr_router(t)
    expect_routed(router, f"www.{NOT_A_KEY}", DEFAULT_A, "valid alphabet, not a curve point")


def test_key_under_com_goes_to_default_pool(t):
    router, _, _ = pkarr_router(t)
    expect_routed(router, f"{KEY}.com", DEFAULT_A, "<key>.com without that TLD")


def test_key_under_configured_tld_goes_to_pkarr_pool(t):
    router, _, _ = pkarr_router(t, tld="key")
    expect_routed(router, f"www.{KEY}.key", PKDNS_A, "<key>.key with tld key")
    expect_routed(router, f"www.{KEY}", PKDNS_A, "a bare key with tld key")
    expect_routed(router, f"{KEY}.com", DEFAULT_A, "<key>.com with tld key")


PKDNS_TTL, DEFAULT_TTL = 53, 301  # dnsmasq's --local-ttl, a second mark of who answered

ISSUE_CASES = [  # name, whether it goes to the pkarr pool
    (KEY, True),
    (f"www.{KEY}", True),
    (f"_dnslink.a.b.{KEY_CB7}", True),
    (KEY.upper(), True),
    (f"WWW.{KEY.upper()}", True),
    (f"wWw.{KEY_CB7.upper()[:26]}{KEY_CB7[26:]}", True),
    (KEY[:51], False),
    (f"www.{KEY[:51]}", False),
    (KEY + "y", False),
    (f"www.{KEY}y", False),
    (f"{KEY}.com", False),
    (f"www.{KEY}.com", False),
    (NOT_A_KEY, False),
    ("www.example.test", False),
]


def test_issue_cases_reach_the_right_one_of_two_dnsmasq_backends(t):
    pkdns = harness.Dnsmasq(t, [f"--address=/#/{PKDNS_A}"], ttl=PKDNS_TTL)
    default = harness.Dnsmasq(t, [f"--address=/#/{DEFAULT_A}"], ttl=DEFAULT_TTL)
    conf = backends_conf(pkdns, default) + (
        "[rule pkarr]\nmatch = pkarr\naction = pool pkdns\n"
        "[rule rest]\nmatch = all\naction = pool default\n")
    router = harness.start_router(t, conf)
    for name, to_pkdns in ISSUE_CASES:
        want_a, want_ttl = (PKDNS_A, PKDNS_TTL) if to_pkdns else (DEFAULT_A, DEFAULT_TTL)
        r = harness.query_retrying(router, name)
        expect_answer(r, "A", [want_a], f"{name} A ({'pkdns' if to_pkdns else 'default'})")
        expect_eq(r.answer[0].ttl, want_ttl, f"TTL of the answer to {name}")
    for server, to_pkdns in ((pkdns, True), (default, False)):
        want = sorted(name.lower() for name, p in ISSUE_CASES if p == to_pkdns)
        expect_eq(logged_a_queries(server, len(want)), want, f"A queries {server.name} received")


def logged_a_queries(server, n):
    """The names of the A queries a dnsmasq logged, lower case and sorted, once it has logged
    `n` (it writes its log between turns of its loop, a little after answering)."""
    deadline = time.monotonic() + harness.CHANGE_TIMEOUT_S
    while True:
        names = sorted(line.split("] ", 1)[1].split(" from ")[0].lower()
                       for line in server.log().splitlines() if "query[A]" in line)
        if len(names) >= n or time.monotonic() > deadline:
            return names
        time.sleep(0.05)


def test_dnsdist_regex_routes_like_the_stack(t):
    pkdns, default = two_backends(t)
    conf = backends_conf(pkdns, default) + (
        "[rule regex]\n"
        r"match = regex ^(([^.]+\.)+)?[ybndrfg8ejkmcpqxot1uwisza345h769]{52}\.?$" "\n"
        "action = pool pkdns\n"
        "[rule rest]\nmatch = all\naction = pool default\n")
    router = harness.start_router(t, conf)
    expect_routed(router, f"www.{KEY}", PKDNS_A, "regex, name under a key")
    expect_routed(router, KEY.upper(), PKDNS_A, "regex, upper case (REG_ICASE)")
    expect_routed(router, KEY[:51], DEFAULT_A, "regex, 51 characters")
    expect_routed(router, f"{KEY}.com", DEFAULT_A, "regex, <key>.com")
    # The regex checks only the alphabet and length, so unlike `pkarr` it takes this one.
    expect_routed(router, NOT_A_KEY, PKDNS_A, "regex, valid alphabet but not a key")


def test_first_matching_rule_wins(t):
    pkdns, default = two_backends(t)
    conf = backends_conf(pkdns, default) + (
        "[rule blocked]\nmatch = suffix blocked.test\naction = rcode REFUSED\n"
        "[rule aaaa]\nmatch = qtype AAAA\nmatch = suffix v6.test\naction = pool pkdns\n"
        "[rule dropped]\nmatch = suffix drop.test\naction = drop\n"
        "[rule all]\nmatch = all\naction = pool default\n"
        "[rule never]\nmatch = suffix blocked.test\naction = pool pkdns\n")
    router = harness.start_router(t, conf)
    r = query(router, "x.blocked.test")
    expect_eq(harness.rcode(r), "REFUSED", "x.blocked.test (rcode rule before the others)")
    expect_routed(router, "v6.test", DEFAULT_A, "A under v6.test (the AAAA rule needs both)")
    try:
        query(router, "a.drop.test", timeout=1.0)
        raise harness.Failure("a.drop.test was answered; the drop rule should silence it")
    except dns.exception.Timeout:
        pass
    expect_eq(routed_queries(pkdns), 0, "queries that reached the pkdns backend")


def test_identity_query_is_answered_by_the_router(t):
    router, pkdns, default = pkarr_router(t)
    r = query(router, "id.server", "TXT", "CH")
    expect(r.rcode() == dns.rcode.NOERROR and harness.answer_texts(r, "TXT") == ['"pkdns-router"'],
           f"id.server CH TXT: got {harness.describe(r)}")


def test_no_rule_and_no_default_pool_gives_servfail(t):
    pkdns, default = two_backends(t)
    conf = backends_conf(pkdns, default) + "[rule pkarr]\nmatch = pkarr\naction = pool pkdns\n"
    router = harness.start_router(t, conf)
    expect_eq(harness.rcode(query(router, "www.example.test")), "SERVFAIL",
              "a name no rule routes, with no default pool")


harness.main(globals())
