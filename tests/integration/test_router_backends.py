"""pkdns-router with backends that die, come back, stay silent or misbehave: health checks mark
them down and up, queries fail over or get SERVFAIL, a timed-out query is retried once on
another backend, replies with a wrong ID or question are ignored, a truncated reply reaches
the client, which then gets the whole answer over TCP; a lazy backend is checked once too
many of its queries time out, marked down by failed checks and checked only until it is
back."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

import harness  # noqa: E402
from harness import (Dnsmasq, ScriptedServer, expect, expect_answer, expect_eq,  # noqa: E402
                     query, query_retrying)

CHECKS = "check_interval_ms = 200\ncheck_timeout_ms = 200\n"


def backend(name, server, pool="default", extra=""):
    return (f"[backend {name}]\naddress = {server.addr}:{server.port}\npool = {pool}\n"
            + CHECKS + extra)


ROUTE_ALL = "[rule all]\nmatch = all\naction = pool default\n"


def dnsmasq_backend(t, answer, addr=None, port=None):
    return Dnsmasq(t, [f"--address=/fail.test/{answer}"], addr=addr, port=port)


def test_dead_only_backend_gives_servfail_then_recovers(t):
    up = dnsmasq_backend(t, "192.0.2.7")
    router = harness.start_router(t, backend("only", up) + ROUTE_ALL)
    expect_answer(query(router, "a.fail.test"), "A", ["192.0.2.7"], "a.fail.test, backend up")
    addr, port = up.addr, up.port
    up.kill()
    router.wait_log(r"backend only .* is down")
    expect_eq(harness.rcode(query(router, "b.fail.test")), "SERVFAIL",
              "b.fail.test with the only backend down")
    dnsmasq_backend(t, "192.0.2.7", addr=addr, port=port)
    router.wait_log(r"backend only .* is up", timeout=10)
    harness.query_until(router, lambda i: f"c{i}.fail.test",
                        lambda r: harness.answer_texts(r) == ["192.0.2.7"],
                        "answers once the backend is back")


def test_backend_that_refused_a_query_is_read_again_once_it_listens(t):
    # A query to a closed port brings back an ICMP port unreachable, an error on the router's
    # socket to that backend. Once the backend listens, its answers must be read again.
    addr = harness.loopback_address()
    port = harness.free_port(addr)
    conf = ("[router]\ntimeout_ms = 300\n"
            f"[backend late]\naddress = {addr}:{port}\npool = default\nhealth_check = up\n"
            + ROUTE_ALL)
    router = harness.start_router(t, conf)
    expect_eq(harness.rcode(query(router, "early.fail.test", timeout=3)), "SERVFAIL",
              "early.fail.test while nothing listens at the backend's port")
    dnsmasq_backend(t, "192.0.2.9", addr=addr, port=port)
    harness.query_until(router, lambda i: f"late{i}.fail.test",
                        lambda r: harness.answer_texts(r) == ["192.0.2.9"],
                        "answers once the backend listens")


def test_dead_backend_fails_over_to_the_other(t):
    first, second = dnsmasq_backend(t, "192.0.2.1"), dnsmasq_backend(t, "192.0.2.2")
    conf = ("[router]\npolicy = firstAvailable\n" + backend("first", first, extra="order = 1\n")
            + backend("second", second, extra="order = 2\n") + ROUTE_ALL)
    router = harness.start_router(t, conf)
    expect_answer(query(router, "a.fail.test"), "A", ["192.0.2.1"], "firstAvailable, both up")
    first.kill()
    router.wait_log(r"backend first .* is down")
    for i in range(5):
        expect_answer(query(router, f"n{i}.fail.test"), "A", ["192.0.2.2"],
                      f"n{i}.fail.test with the first backend down")


def test_timed_out_query_is_retried_on_another_backend(t):
    silent, healthy = ScriptedServer(t), ScriptedServer(t)
    silent.any_a, healthy.any_a = "192.0.2.66", "192.0.2.2"
    # Health checks would mark the silent one down; pin it up so queries do reach it.
    conf = ("[router]\npolicy = roundrobin\ntimeout_ms = 500\n"
            + backend("silent", silent, extra="health_check = up\n")
            + backend("healthy", healthy, extra="health_check = up\n") + ROUTE_ALL)
    router = harness.start_router(t, conf)
    silent.silent = True
    for i in range(4):
        expect_answer(query(router, f"r{i}.retry.test", timeout=3), "A", ["192.0.2.2"],
                      f"r{i}.retry.test with one of two backends silent")
    expect(silent.count() >= 1, "round robin never tried the silent backend")


def test_timeout_with_no_other_backend_gives_servfail_or_silence(t):
    silent = ScriptedServer(t)
    silent.silent = True
    base = backend("silent", silent, extra="health_check = up\n") + ROUTE_ALL
    router = harness.start_router(t, "[router]\ntimeout_ms = 300\n" + base)
    expect_eq(harness.rcode(query(router, "x.test", timeout=3)), "SERVFAIL",
              "the only backend silent, on_timeout = servfail (default)")
    quiet = harness.start_router(t, "[router]\ntimeout_ms = 300\non_timeout = drop\n" + base)
    try:
        query(quiet, "y.test", timeout=1.5)
        raise harness.Failure("y.test answered with on_timeout = drop")
    except dns.exception.Timeout:
        pass


def test_no_live_backend_can_be_dropped_as_dnsdist_does(t):
    down = ScriptedServer(t)
    conf = ("[router]\non_no_server = drop\n" + backend("down", down, extra="health_check = down\n")
            + ROUTE_ALL)
    router = harness.start_router(t, conf)
    try:
        query(router, "x.test", timeout=1.0)
        raise harness.Failure("x.test answered with no live backend and on_no_server = drop")
    except dns.exception.Timeout:
        pass


def test_replies_with_wrong_id_or_question_are_ignored(t):
    server = ScriptedServer(t)
    server.add("decoy.test", "A", "192.0.2.10")
    server.decoys = ["wrong_id", "wrong_question"]
    router = harness.start_router(t, backend("b", server) + ROUTE_ALL)
    r = query_retrying(router, "decoy.test")
    expect_answer(r, "A", ["192.0.2.10"], "decoy.test A after two decoy replies")
    expect(ScriptedServer.DECOY_A not in harness.answer_texts(r), "a decoy reached the client")


BIG_TXT = [f'"{chr(ord("a") + i) * 200}"' for i in range(4)]


def test_truncated_reply_passes_through_then_tcp_gets_it_all(t):
    server = ScriptedServer(t)
    server.add("big.test", "TXT", *BIG_TXT)
    server.truncate_udp = True
    router = harness.start_router(t, backend("b", server) + ROUTE_ALL)
    r = query(router, "big.test", "TXT", payload=4096)
    expect(harness.is_truncated(r),
           f"big.test TXT over UDP: expected TC, got {harness.describe(r)}")
    r = query(router, "big.test", "TXT", tcp=True)
    expect(not harness.is_truncated(r) and harness.answer_texts(r, "TXT") == sorted(BIG_TXT),
           f"big.test TXT over TCP: got {harness.describe(r)}")
    expect(server.count("big.test", transport="tcp") >= 1, "the backend was never asked over TCP")


def test_tcp_only_backend_serves_udp_clients(t):
    server = ScriptedServer(t)
    server.add("t.test", "A", "192.0.2.9")
    router = harness.start_router(t, backend("b", server, extra="tcp_only = yes\n") + ROUTE_ALL)
    expect_answer(query(router, "t.test"), "A", ["192.0.2.9"], "t.test A via a TCP-only backend")
    expect_eq(server.count("t.test", transport="udp"), 0, "UDP queries to a TCP-only backend")


def test_client_id_is_restored_and_edns_passed_through(t):
    server = ScriptedServer(t)
    server.add("e.test", "A", "192.0.2.5")
    router = harness.start_router(t, backend("b", server) + ROUTE_ALL)
    q = harness.make_query("e.test", payload=1400)
    q.id = 4242
    r = dns.query.udp(q, router.addr, port=router.port, timeout=2)
    expect_eq(r.id, 4242, "reply ID")
    expect_eq(r.edns, 0, "EDNS version in the reply")


class FlagFlipper(ScriptedServer):
    """A backend whose answers carry RD and CD the other way round from its queries'."""

    BITS = dns.flags.RD | dns.flags.CD

    def _answer(self, q):
        r = super()._answer(q)
        r.flags = (r.flags & ~self.BITS) | (self.BITS & ~q.flags)
        return r


def test_client_rd_and_cd_are_restored_as_dnsdist_does(t):
    bits = FlagFlipper.BITS
    server = FlagFlipper(t)
    server.add("f.test", "A", "192.0.2.11")
    router = harness.start_router(t, backend("b", server) + ROUTE_ALL)
    for flags in (dns.flags.RD, dns.flags.CD, bits, 0):
        q = dns.message.make_query("f.test", "A", use_edns=0, flags=flags)
        direct = dns.query.udp(q, server.addr, port=server.port, timeout=2)
        expect_eq(direct.flags & bits, bits & ~flags, "RD and CD from the backend itself")
        for tcp in (False, True):
            send = dns.query.tcp if tcp else dns.query.udp
            r = send(q, router.addr, port=router.port, timeout=2)
            what = f"f.test with flags {dns.flags.to_text(flags) or 'none'} (tcp={tcp})"
            expect_answer(r, "A", ["192.0.2.11"], what)
            expect_eq(dns.flags.to_text(r.flags & bits), dns.flags.to_text(flags),
                      f"RD and CD of the reply to {what}")


def test_health_check_failures_and_rise_are_counted(t):
    server = ScriptedServer(t)
    server.any_a = "192.0.2.3"
    conf = backend("b", server, extra="max_check_failures = 3\nrise = 2\n") + ROUTE_ALL
    router = harness.start_router(t, conf)
    server.rcode = dns.rcode.SERVFAIL
    router.wait_log(r"backend b .* is down: health check answered SERVFAIL")
    checks_when_down = server.count("id.server")
    expect(checks_when_down >= 4, f"marked down after {checks_when_down} checks (1 + 3 failures)")
    server.rcode = None
    deadline = time.monotonic() + harness.CHANGE_TIMEOUT_S
    while router.log().count("is up") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # more successful checks must not log again
    lines = [ln for ln in router.log().splitlines() if "backend b" in ln]
    expect_eq(len(lines), 3, f"state change lines (up, down, up): {lines}")

def identity_checks(server):
    """Health checks (id.server) a dnsmasq has logged so far. dnsmasq writes its log between
    turns of its loop, so a line may come a little after the answer."""
    return sum(1 for line in server.log().splitlines() if "query[TXT] id.server" in line)


def wait_identity_checks(server, n):
    deadline = time.monotonic() + harness.CHANGE_TIMEOUT_S
    while identity_checks(server) < n:
        if time.monotonic() > deadline:
            raise harness.Failure(f"{server.name} logged {identity_checks(server)} checks, "
                                  f"expected {n}")
        time.sleep(0.05)


LAZY = ("health_check = lazy\nmax_check_failures = 2\nrise = 2\n"
        "lazy_sample_size = 10\nlazy_threshold = 25\nlazy_failed_interval_ms = 200\n")


def test_lazy_backend_is_checked_after_timeouts_marked_down_and_up_by_checks(t):
    up = dnsmasq_backend(t, "192.0.2.8")
    conf = "[router]\ntimeout_ms = 300\n" + backend("lazy", up, extra=LAZY) + ROUTE_ALL
    router = harness.start_router(t, conf)
    for i in range(5):
        expect_answer(query(router, f"a{i}.fail.test"), "A", ["192.0.2.8"],
                      f"a{i}.fail.test, lazy backend answering")
    expect_eq(identity_checks(up), 0, "health checks while the lazy backend answered")
    addr, port = up.addr, up.port
    up.kill()
    expect_eq(harness.rcode(query(router, "b0.fail.test", timeout=3)), "SERVFAIL",
              "b0.fail.test, first timeout")
    expect("checking it" not in router.log(), "checked after 1 failure in 6 queries (under 25%)")
    expect_eq(harness.rcode(query(router, "b1.fail.test", timeout=3)), "SERVFAIL",
              "b1.fail.test, second timeout")
    router.wait_log(r"backend lazy .*: 2 of its last 7 queries failed; checking it")
    router.wait_log(r"backend lazy .* is down: ")
    back = dnsmasq_backend(t, "192.0.2.8", addr=addr, port=port)
    router.wait_log(r"backend lazy .* is up", timeout=10)
    wait_identity_checks(back, 2)  # rise = 2
    harness.query_until(router, lambda i: f"c{i}.fail.test",
                        lambda r: harness.answer_texts(r) == ["192.0.2.8"],
                        "answers once the lazy backend is back")
    checks_when_up = identity_checks(back)
    time.sleep(0.6)  # three check intervals: no more checks once it is up
    expect_eq(identity_checks(back), checks_when_up, "health checks after it was marked up")


harness.main(globals())
