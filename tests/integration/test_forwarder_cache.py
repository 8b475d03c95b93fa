"""pkdns-forwarder's cache: repeated questions stay local, TTLs count down, negative answers are
cached per their SOA (RFC 2308) unless no-negcache, SERVFAIL is not cached, and identical
questions in flight become one upstream query. The upstream is a ScriptedServer, which counts
what reaches it."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

import harness  # noqa: E402
from harness import ScriptedServer, expect, expect_answer, expect_eq, query  # noqa: E402


def forwarder_with_upstream(t, *extra_conf):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1", ttl=300)
    upstream.add("nodata.test", "A", "192.0.2.3", ttl=300)
    fwd = harness.start_forwarder(t, ["no-resolv", f"server={upstream.addr}#{upstream.port}",
                                      *extra_conf])
    return fwd, upstream


def test_second_query_answered_from_cache(t):
    fwd, upstream = forwarder_with_upstream(t)
    for attempt in (1, 2):
        expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], f"www.test A, query {attempt}")
    expect_eq(upstream.count("www.test", "A"), 1, "upstream queries for www.test A after two")


def test_cache_matches_names_without_case(t):
    fwd, upstream = forwarder_with_upstream(t)
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A")
    expect_answer(query(fwd, "WwW.TeSt"), "A", ["192.0.2.1"], "WwW.TeSt A")
    expect_eq(upstream.count("www.test", "A"), 1, "upstream queries for www.test A in two cases")


def test_cached_ttl_counts_down(t):
    fwd, upstream = forwarder_with_upstream(t)
    first = query(fwd, "www.test")
    expect_answer(first, "A", ["192.0.2.1"], "www.test A, first")
    time.sleep(2.2)
    second = query(fwd, "www.test")
    expect_answer(second, "A", ["192.0.2.1"], "www.test A, 2.2 s later")
    ttl1, ttl2 = first.answer[0].ttl, second.answer[0].ttl
    expect(ttl1 - ttl2 in (2, 3), f"TTL went from {ttl1} to {ttl2} in 2.2 s; "
                                  f"expected a drop of 2 or 3")
    expect_eq(upstream.count("www.test", "A"), 1, "upstream queries for www.test A")


def test_nxdomain_with_soa_is_cached(t):
    fwd, upstream = forwarder_with_upstream(t)
    for attempt in (1, 2):
        r = query(fwd, "missing.test")
        expect(r.rcode() == dns.rcode.NXDOMAIN,
               f"missing.test A, query {attempt}: expected NXDOMAIN, got {harness.describe(r)}")
    expect_eq(upstream.count("missing.test"), 1, "upstream queries for missing.test after two")


def test_cached_nxdomain_keeps_soa(t):
    fwd, upstream = forwarder_with_upstream(t)
    query(fwd, "missing.test")
    r = query(fwd, "missing.test")
    soas = [rr for rr in r.authority if rr.rdtype == dns.rdatatype.SOA]
    expect(r.rcode() == dns.rcode.NXDOMAIN and soas,
           f"cached missing.test A: expected NXDOMAIN with the SOA in authority (RFC 2308 5), "
           f"got {harness.describe(r)}")
    expect(0 < soas[0].ttl <= 60, f"cached SOA TTL {soas[0].ttl} is not within 1..60 (MINIMUM)")


def test_nodata_is_cached(t):
    fwd, upstream = forwarder_with_upstream(t)
    for attempt in (1, 2):
        r = query(fwd, "nodata.test", "AAAA")
        expect(r.rcode() == dns.rcode.NOERROR and not r.answer,
               f"nodata.test AAAA, query {attempt}: expected NOERROR without answer, "
               f"got {harness.describe(r)}")
    expect_eq(upstream.count("nodata.test", "AAAA"), 1,
              "upstream queries for nodata.test AAAA after two")


def test_no_negcache_forwards_every_nxdomain(t):
    fwd, upstream = forwarder_with_upstream(t, "no-negcache")
    for attempt in (1, 2):
        r = query(fwd, "missing.test")
        expect(r.rcode() == dns.rcode.NXDOMAIN,
               f"missing.test A, query {attempt}: expected NXDOMAIN, got {harness.describe(r)}")
    expect_eq(upstream.count("missing.test"), 2,
              "upstream queries for missing.test after two, with no-negcache")


def test_no_negcache_still_caches_positive_answers(t):
    fwd, upstream = forwarder_with_upstream(t, "no-negcache")
    for attempt in (1, 2):
        expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], f"www.test A, query {attempt}")
    expect_eq(upstream.count("www.test", "A"), 1, "upstream queries for www.test A after two")


def test_servfail_is_not_cached(t):
    fwd, upstream = forwarder_with_upstream(t)
    upstream.rcode = dns.rcode.SERVFAIL
    r = query(fwd, "www.test")
    expect(r.rcode() == dns.rcode.SERVFAIL,
           f"www.test A while the upstream fails: expected SERVFAIL, got {harness.describe(r)}")
    failed_queries = upstream.count("www.test")

    upstream.rcode = None
    r = query(fwd, "www.test")
    expect_answer(r, "A", ["192.0.2.1"], "www.test A once the upstream has recovered")
    expect(upstream.count("www.test") > failed_queries,
           "the query after SERVFAIL did not reach the upstream")


def test_identical_concurrent_queries_merged(t):
    fwd, upstream = forwarder_with_upstream(t)
    upstream.delay_s = 0.3
    clients = []
    try:
        # 20 clients, each its own socket and ID, all sent before any answer can come.
        for _ in range(20):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            clients.append((s, harness.make_query("www.test", "A")))
        for s, q in clients:
            s.sendto(q.to_wire(), (fwd.addr, fwd.port))

        answered = 0
        problems = []
        deadline = time.monotonic() + 5
        for s, q in clients:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                r = dns.message.from_wire(s.recv(65535))
            except socket.timeout:
                problems.append(f"ID {q.id}: no answer")
                continue
            if q.is_response(r) and harness.answer_texts(r) == ["192.0.2.1"]:
                answered += 1
            else:
                problems.append(f"ID {q.id}: {harness.describe(r)}")
    finally:
        for s, _ in clients:
            s.close()

    expect(answered == 20, f"{answered} of 20 concurrent queries answered right; "
                           f"{'; '.join(problems[:5])}")
    expect_eq(upstream.count("www.test", "A"), 1,
              "upstream queries for 20 identical concurrent client queries")


if __name__ == "__main__":
    harness.main(globals())
