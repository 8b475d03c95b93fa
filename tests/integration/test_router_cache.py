"""pkdns-router's packet cache (dnsdist's newPacketCache and setCache): a second query for a
name is answered without asking the backend, with the client's ID and spelling and TTLs
counted down; negative answers and failures are kept as dnsdist keeps them; a fresh answer is
served while every backend is down; the dnsdist form of the configuration gives the same; the
counters and a reload treat the cache as documented."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

import harness  # noqa: E402
from harness import (ScriptedServer, expect, expect_answer, expect_eq, query,  # noqa: E402
                     run_command)

CACHED_POOL = "[pool]\ncache_size = 100\n"
CHECKS = "check_interval_ms = 200\ncheck_timeout_ms = 200\n"


def backend(server, extra="health_check = up\n"):
    return f"[backend b]\naddress = {server.addr}:{server.port}\n" + extra


def cached_router(t, server, extra="health_check = up\n", pool=CACHED_POOL):
    return harness.start_router(t, pool + backend(server, extra))


def first_ttl(response):
    return response.answer[0].ttl


def test_second_query_is_answered_from_the_cache(t):
    server = ScriptedServer(t)
    server.add("www.cache.test", "A", "192.0.2.10", ttl=300)
    router = cached_router(t, server)
    expect_answer(query(router, "www.cache.test"), "A", ["192.0.2.10"], "first query")
    second = query(router, "WWW.Cache.TEST")
    expect_answer(second, "A", ["192.0.2.10"], "second query, another spelling")
    expect_eq(second.question[0].name.to_text(), "WWW.Cache.TEST.",
              "question as the client spelt it")
    expect_eq(server.count("www.cache.test"), 1, "queries that reached the backend")


def test_cached_answers_count_their_ttls_down(t):
    server = ScriptedServer(t)
    server.add("ttl.cache.test", "A", "192.0.2.11", ttl=300)
    router = cached_router(t, server)
    expect_eq(first_ttl(query(router, "ttl.cache.test")), 300, "TTL from the backend")
    # A second later the cached copy reads less; the wait is bounded, not timed.
    harness.query_until(router, "ttl.cache.test", lambda r: 0 < first_ttl(r) < 300,
                        "a cached answer with a lower TTL")
    expect_eq(server.count("ttl.cache.test"), 1, "queries that reached the backend")


def test_queries_differing_in_do_bit_or_rd_are_kept_apart(t):
    server = ScriptedServer(t)
    server.add("bits.cache.test", "A", "192.0.2.12")
    router = cached_router(t, server)
    plain = harness.make_query("bits.cache.test")
    with_do = harness.make_query("bits.cache.test")
    with_do.want_dnssec(True)
    no_rd = harness.make_query("bits.cache.test", rd=False)
    for q in (plain, with_do, no_rd, plain, with_do, no_rd):
        r = dns.query.udp(q, router.addr, port=router.port, timeout=harness.QUERY_TIMEOUT_S)
        expect_answer(r, "A", ["192.0.2.12"], "bits.cache.test")
    expect_eq(server.count("bits.cache.test"), 3, "one backend query per kind")


def test_nxdomain_is_cached_and_servfail_for_the_temporary_failure_ttl(t):
    server = ScriptedServer(t)  # names it does not know are NXDOMAIN with the zone's SOA
    router = cached_router(t, server)
    for _ in range(2):
        expect_eq(harness.rcode(query(router, "nothing.cache.test")), "NXDOMAIN", "NXDOMAIN")
    expect_eq(server.count("nothing.cache.test"), 1, "NXDOMAIN queries that reached the backend")
    server.rcode = dns.rcode.SERVFAIL
    for _ in range(2):
        expect_eq(harness.rcode(query(router, "broken.cache.test")), "SERVFAIL", "SERVFAIL")
    expect_eq(server.count("broken.cache.test"), 1, "SERVFAIL queries that reached the backend")


def test_truncated_answers_are_not_cached(t):
    server = ScriptedServer(t)
    server.add("tc.cache.test", "A", "192.0.2.13")
    server.truncate_udp = True
    router = cached_router(t, server)
    for _ in range(2):
        expect(harness.is_truncated(query(router, "tc.cache.test")), "a TC answer")
    expect_eq(server.count("tc.cache.test", transport="udp"), 2, "UDP queries at the backend")


def test_tcp_client_is_answered_from_what_a_udp_client_cached(t):
    server = ScriptedServer(t)
    server.add("both.cache.test", "A", "192.0.2.14")
    router = cached_router(t, server)
    expect_answer(query(router, "both.cache.test"), "A", ["192.0.2.14"], "over UDP")
    expect_answer(query(router, "both.cache.test", tcp=True), "A", ["192.0.2.14"], "over TCP")
    expect_eq(server.count("both.cache.test"), 1, "queries that reached the backend")


def test_cached_answer_is_served_while_the_backend_is_down(t):
    server = ScriptedServer(t)
    server.add("kept.cache.test", "A", "192.0.2.15", ttl=300)
    router = cached_router(t, server, extra=CHECKS)
    # id.server is answered before the first health verdict; a cached name needs the backend.
    router.wait_log(r"first health checks done")
    expect_answer(query(router, "kept.cache.test"), "A", ["192.0.2.15"], "backend up")
    server.stop()
    router.wait_log(r"backend b .* is down")
    expect_answer(query(router, "kept.cache.test"), "A", ["192.0.2.15"], "backend down, cached")
    expect_eq(harness.rcode(query(router, "other.cache.test")), "SERVFAIL",
              "backend down, not cached")


def test_dnsdist_form_gives_the_pool_its_cache(t):
    server = ScriptedServer(t)
    server.add("lua.cache.test", "A", "192.0.2.16")
    conf = t.write("dnsdist.conf",
                   f'newServer{{address="{server.addr}:{server.port}", healthCheckMode="up"}}\n'
                   "pc = newPacketCache(1000, {maxTTL=86400, minTTL=0, temporaryFailureTTL=60,\n"
                   "                           maxNegativeTTL=3600})\n"
                   'getPool(""):setCache(pc)\n')
    router = harness.start_router(t, conf_file=conf)
    for _ in range(3):
        expect_answer(query(router, "lua.cache.test"), "A", ["192.0.2.16"], "lua.cache.test")
    expect_eq(server.count("lua.cache.test"), 1, "queries that reached the backend")
    status, out = run_command([harness.ROUTER, "--print-config", "-c", conf])
    expect_eq(status, 0, f"--print-config exit status; output:\n{out}")
    expect("[pool ]\ncache_size = 1000\ncache_max_ttl = 86400\ncache_min_ttl = 0\n"
           "cache_temp_failure_ttl = 60\ncache_max_negative_ttl = 3600\n" in out,
           f"--print-config shows the cache:\n{out}")


def test_bad_cache_call_is_an_error_naming_the_line(t):
    conf = t.write("dnsdist.conf", 'newServer("192.0.2.1")\n'
                                   "pc = newPacketCache(100, {maxTTL=60, shuffle=true})\n")
    status, out = run_command([harness.ROUTER, "--check-config", "-c", conf])
    expect_eq(status, 1, "--check-config exit status")
    expect(f"{conf}:2:" in out and "shuffle" in out, f"the error names line 2:\n{out}")


def test_counters_name_hits_and_misses_as_dnsdist(t):
    server = ScriptedServer(t)
    server.add("count.cache.test", "A", "192.0.2.17")
    router = cached_router(t, server)
    for _ in range(3):
        query(router, "count.cache.test")
    router.send_signal(signal.SIGUSR1)
    router.wait_log(r"cache-hits=2 cache-misses=1")
    router.wait_log(r"pool '' .*cache-size=100 cache-entries=1 cache-hits=2 cache-misses=1")


def test_reload_keeps_an_unchanged_cache_and_rebuilds_a_changed_one(t):
    server = ScriptedServer(t)
    server.add("reload.cache.test", "A", "192.0.2.18")
    router = cached_router(t, server)
    query(router, "reload.cache.test")
    router.send_signal(signal.SIGHUP)
    router.wait_log(r"configuration reloaded")
    query(router, "reload.cache.test")
    expect_eq(server.count("reload.cache.test"), 1, "backend queries after an unchanged reload")

    t.write("router.ini", "[pool]\ncache_size = 200\n" + backend(server))
    router.send_signal(signal.SIGHUP)
    router.wait_log(r"new packet cache of 200 entries")
    query(router, "reload.cache.test")
    expect_eq(server.count("reload.cache.test"), 2, "backend queries after the cache changed")


def test_reload_that_changes_the_pools_backend_empties_its_cache(t):
    old, new = ScriptedServer(t), ScriptedServer(t)
    old.add("moved.cache.test", "A", "192.0.2.21")
    new.add("moved.cache.test", "A", "192.0.2.22")
    router = cached_router(t, old)
    expect_answer(query(router, "moved.cache.test"), "A", ["192.0.2.21"], "from the old backend")
    t.write("router.ini", CACHED_POOL + backend(new))
    router.send_signal(signal.SIGHUP)
    router.wait_log(r"new packet cache of 100 entries")
    expect_answer(query(router, "moved.cache.test"), "A", ["192.0.2.22"], "from the new backend")


def test_each_loop_asks_the_backend_at_most_once(t):
    # With threads = 2 each loop has its own cache; the kernel spreads the clients' sockets
    # over the loops, so a name reaches the backend once per loop at most.
    server = ScriptedServer(t)
    server.add("loops.cache.test", "A", "192.0.2.20")
    router = harness.start_router(t, "[router]\nthreads = 2\n" + CACHED_POOL + backend(server))
    for i in range(12):
        expect_answer(query(router, "loops.cache.test"), "A", ["192.0.2.20"], f"query {i}")
    expect(1 <= server.count("loops.cache.test") <= 2,
           f"{server.count('loops.cache.test')} queries reached the backend, not 1 or 2")


def test_without_cache_size_nothing_is_cached(t):
    server = ScriptedServer(t)
    server.add("off.cache.test", "A", "192.0.2.19")
    router = harness.start_router(t, backend(server))
    for _ in range(2):
        query(router, "off.cache.test")
    expect_eq(server.count("off.cache.test"), 2, "queries that reached the backend")


harness.main(globals())
