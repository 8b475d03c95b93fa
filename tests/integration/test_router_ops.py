"""pkdns-router as an operator sees it: READY=1 after the first health checks, SIGHUP reloads
under load without losing a query (and keeps the old rules when the new file is bad, or when
one loop cannot take the new one; a change of `threads` is a warning), SIGUSR1 logs the
counters, SIGTERM stops cleanly, the ACL and the rate limit, and a flood of malformed
datagrams after which it still answers."""

import os
import random
import re
import resource
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.exception  # noqa: E402
import dns.message  # noqa: E402

import harness  # noqa: E402
from harness import ScriptedServer, expect, expect_answer, expect_eq, query  # noqa: E402


def stat_value(line, name):
    """The number after `name=` in a counters line."""
    m = re.search(rf"\b{re.escape(name)}=(\d+)", line)
    if m is None:
        raise harness.Failure(f"no {name}= in: {line}")
    return int(m.group(1))


def one_backend(t, answer="192.0.2.1", extra=""):
    server = ScriptedServer(t)
    server.any_a = answer
    conf = (f"[backend b]\naddress = {server.addr}:{server.port}\n{extra}"
            "[rule all]\nmatch = all\naction = pool\n")
    return server, conf


def expect_every_loop_answers(router, prefix, answer, what, count=20):
    """Queries until `answer` comes, then `count` more from fresh sockets (which the kernel
    spreads over the loops), each of which must get it."""
    harness.query_until(router, lambda i: f"{prefix}{i}.test",
                        lambda r: harness.answer_texts(r) == [answer], what)
    for i in range(count):
        expect_answer(query(router, f"{prefix}-again{i}.test"), "A", [answer],
                      f"{prefix}-again{i}.test: {what}")


def test_ready_is_sent_after_the_first_health_checks(t):
    silent = ScriptedServer(t)
    silent.silent = True
    conf = (f"[backend slow]\naddress = {silent.addr}:{silent.port}\ncheck_timeout_ms = 700\n"
            "[rule all]\nmatch = all\naction = pool\n")
    path = t.path("notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(path)
        notify.settimeout(5)
        started = time.monotonic()
        router = harness.start_router(t, conf, wait=False, env={"NOTIFY_SOCKET": path})
        message = notify.recv(4096).decode()
        waited = time.monotonic() - started
    expect("READY=1" in message, f"first notification: {message!r}")
    expect(waited >= 0.6, f"READY=1 after {waited:.2f} s, before the 0.7 s health check ended")
    expect("backend slow" in router.log(), "READY=1 came before the backend's first verdict")


def test_queries_before_the_first_health_checks_wait_for_them(t):
    """dnsdist checks its servers before it serves; so does the router: a query that comes
    while the first check is still out waits in the socket and is forwarded, not SERVFAILed
    for want of a live backend."""
    server = ScriptedServer(t)
    server.any_a = "192.0.2.5"
    server.delay_s = 0.6  # the first check, like every answer, takes this long
    conf = (f"[backend b]\naddress = {server.addr}:{server.port}\ncheck_timeout_ms = 1500\n"
            "[rule all]\nmatch = all\naction = pool\n")
    router = harness.start_router(t, conf, wait=False)
    router.wait_log(r"started, listening on")
    for tcp in (False, True):
        expect_answer(query(router, f"early-{'tcp' if tcp else 'udp'}.test", tcp=tcp, timeout=5),
                      "A", ["192.0.2.5"], f"a query sent before the first verdict (tcp={tcp})")
    router.wait_log(r"backend b .* is up")


def test_sigterm_stops_cleanly(t):
    _, conf = one_backend(t)
    router = harness.start_router(t, conf)
    expect_eq(router.stop(), 0, "exit status after SIGTERM")
    expect("stopped" in router.log(), "no stop line in the log")


def test_sigusr1_logs_counters(t):
    _, conf = one_backend(t)
    router = harness.start_router(t, conf)
    for i in range(3):
        query(router, f"q{i}.test")
    router.send_signal(signal.SIGUSR1)
    line = router.wait_log(r"\[stats\] queries=")
    expect("responses=3" in line or "responses=4" in line, f"stats line: {line}")
    router.wait_log(r"server b address=.* state=up queries=\d+ responses=3")
    router.wait_log(r"rule all matches=3")


def test_reload_under_load_loses_no_query(t):
    # Both backends take 80 ms to answer, so that queries are in flight at every reload and
    # at the moment each new configuration comes into force (after its backend's first
    # check, which takes as long).
    first, conf = one_backend(t, "192.0.2.1")
    second = ScriptedServer(t)
    second.any_a = "192.0.2.2"
    first.delay_s = second.delay_s = 0.08
    router = harness.start_router(t, conf)
    conf_path = t.path("router.ini")
    failures, answers, spans = [], set(), []
    stop = threading.Event()

    def load():
        i = 0
        while not stop.is_set():
            sent = time.monotonic()
            try:
                r = query(router, f"load{i}.test", timeout=2)
                spans.append((sent, time.monotonic()))
                answers.update(harness.answer_texts(r))
                if r.rcode() != 0:
                    failures.append(harness.describe(r))
            except dns.exception.Timeout:
                failures.append(f"timeout on load{i}.test")
            i += 1

    threads = [threading.Thread(target=load) for _ in range(6)]
    for th in threads:
        th.start()
    time.sleep(0.4)
    reloads = []
    for n in range(6):
        server = second if n % 2 == 0 else first
        with open(conf_path, "w") as f:
            f.write(f"[backend b{n}]\naddress = {server.addr}:{server.port}\n"
                    "[rule all]\nmatch = all\naction = pool\n")
        reloads.append(time.monotonic())
        router.send_signal(signal.SIGHUP)
        time.sleep(0.4)
    stop.set()
    for th in threads:
        th.join()
    expect(not failures, f"{len(failures)} queries failed during reloads: {failures[:5]}")
    expect(answers == {"192.0.2.1", "192.0.2.2"}, f"answers seen: {answers}")
    expect_eq(router.log().count("configuration reloaded"), 6, "reload lines")
    for at in reloads:
        in_flight = sum(1 for sent, got in spans if sent < at < got)
        expect(in_flight >= 2, f"{in_flight} queries in flight at a reload")


def test_reload_that_one_loop_cannot_take_leaves_every_loop_as_it_was(t):
    """Two loops, and file descriptors for only one of them to open a backend of 16 sockets:
    the loop that could must not run the new configuration alone."""
    _, conf = one_backend(t, "192.0.2.1", extra="health_check = up\n")
    router = harness.start_router(t, "[router]\nthreads = 2\n" + conf)
    wide = ScriptedServer(t)
    wide.any_a = "192.0.2.2"
    with open(t.path("router.ini"), "w") as f:
        f.write(f"[router]\nthreads = 2\n[backend wide]\naddress = {wide.addr}:{wide.port}\n"
                "health_check = up\nsockets = 16\n[rule all]\nmatch = all\naction = pool\n")
    soft, hard = resource.prlimit(router.pid, resource.RLIMIT_NOFILE)
    in_use = len(os.listdir(f"/proc/{router.pid}/fd"))
    resource.prlimit(router.pid, resource.RLIMIT_NOFILE, (in_use + 24, hard))
    router.send_signal(signal.SIGHUP)
    line = router.wait_log(r"new configuration not applied: loop \d could not take it")
    expect("keeping the old one" in line, f"reload line: {line}")
    expect("configuration reloaded" not in router.log(), "a reload line after a failed reload")
    for i in range(20):  # from fresh sockets, so the kernel spreads them over both loops
        expect_answer(query(router, f"old{i}.test"), "A", ["192.0.2.1"],
                      f"old{i}.test after a reload one loop could not take")
    resource.prlimit(router.pid, resource.RLIMIT_NOFILE, (soft, hard))
    router.send_signal(signal.SIGHUP)
    router.wait_log(r"configuration reloaded")
    expect_every_loop_answers(router, "new", "192.0.2.2",
                              "answers from the new backend once the limit is back")


def test_threads_change_on_reload_is_a_warning(t):
    for before, after in ((1, 2), (2, 1)):
        _, conf = one_backend(t, "192.0.2.1")
        router = harness.start_router(t, f"[router]\nthreads = {before}\n" + conf)
        with open(t.path("router.ini"), "w") as f:
            f.write(f"[router]\nthreads = {after}\n" + conf)
        router.send_signal(signal.SIGHUP)
        router.wait_log(r"configuration reloaded")
        line = router.wait_log(r"WARNING.*threads")
        expect(f"would run {after} loop" in line and "needs a restart" in line,
               f"warning for threads = {before} -> {after}: {line}")
        expect_answer(query(router, "after.test"), "A", ["192.0.2.1"],
                      f"after a reload with threads = {before} -> {after}")
        expect_eq(router.stop(), 0, "exit status after SIGTERM")


def test_bad_reload_keeps_the_old_configuration(t):
    _, conf = one_backend(t, "192.0.2.1")
    router = harness.start_router(t, conf)
    with open(t.path("router.ini"), "w") as f:
        f.write("[backend broken]\naddress = nowhere\n")
    router.send_signal(signal.SIGHUP)
    router.wait_log(r"keeping the old one")
    expect("router.ini:2:" in router.log(), "the bad line was not named")
    expect_answer(query(router, "after.test"), "A", ["192.0.2.1"], "after a bad reload")


def test_acl_drops_sources_outside_it(t):
    _, conf = one_backend(t)
    router = harness.start_router(t, "[router]\nacl = 10.0.0.0/8\n" + conf, wait=False)
    time.sleep(0.5)
    try:
        query(router, "x.test", timeout=1.0)
        raise harness.Failure("a query from outside the ACL was answered")
    except dns.exception.Timeout:
        pass
    router.send_signal(signal.SIGUSR1)
    router.wait_log(r"acl-drops=1")


def test_rate_limit_refuses_beyond_the_burst(t):
    _, conf = one_backend(t)
    limits = "[router]\nrate_limit_qps = 1\nrate_limit_burst = 5\nrate_limit_action = refused\n"
    router = harness.start_router(t, limits + conf, wait=False)
    time.sleep(0.5)
    codes = [harness.rcode(query(router, f"r{i}.test")) for i in range(10)]
    expect(codes.count("NOERROR") <= 6 and codes.count("REFUSED") >= 4,
           f"rcodes of 10 quick queries with a burst of 5: {codes}")


def test_rate_limit_drops_beyond_the_burst(t):
    _, conf = one_backend(t)
    limits = "[router]\nrate_limit_qps = 1\nrate_limit_burst = 5\nrate_limit_action = drop\n"
    router = harness.start_router(t, limits + conf, wait=False)
    router.wait_log(r"ready")
    # Ten queries at once from an address of their own, so that its bucket holds the whole
    # burst and nothing else has taken from it; a second's refill is far off.
    answered = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((harness.loopback_address(), 0))
        for i in range(10):
            q = harness.make_query(f"d{i}.test")
            q.id = 100 + i
            s.sendto(q.to_wire(), (router.addr, router.port))
        s.settimeout(0.2)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                r = dns.message.from_wire(s.recv(4096))
            except socket.timeout:
                continue
            answered[r.id] = harness.rcode(r)
    expect_eq(sorted(answered.values()), ["NOERROR"] * 5, "answers to 10 queries, burst 5")
    router.send_signal(signal.SIGUSR1)
    router.wait_log(r"rate-limited=5 ")


def test_still_answers_after_a_flood_of_malformed_datagrams(t):
    _, conf = one_backend(t, "192.0.2.4")
    router = harness.start_router(t, conf)
    rng = random.Random(5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(3000):
            kind = i % 4
            if kind == 0:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 12)))
            elif kind == 1:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(12, 300)))
            elif kind == 2:  # a header claiming one question, then junk labels
                data = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + bytes(
                    [63] + [rng.getrandbits(8) for _ in range(rng.randrange(0, 80))])
            else:  # a response: must never be answered
                data = b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01"
            s.sendto(data, (router.addr, router.port))
    expect_answer(harness.query_retrying(router, "after.flood.test"), "A", ["192.0.2.4"],
                  "after 3000 malformed datagrams")


def test_tcp_clients_are_served(t):
    _, conf = one_backend(t, "192.0.2.8")
    router = harness.start_router(t, conf)
    for i in range(3):
        expect_answer(query(router, f"t{i}.test", tcp=True), "A", ["192.0.2.8"],
                      f"t{i}.test over TCP")


def test_tcp_queries_to_a_backend_share_one_connection(t):
    server, conf = one_backend(t, "192.0.2.9")
    router = harness.start_router(t, "[router]\nthreads = 1\n" + conf)  # a connection per loop
    for i in range(5):  # each from its own client connection
        expect_answer(query(router, f"c{i}.test", tcp=True), "A", ["192.0.2.9"],
                      f"c{i}.test over TCP")
    expect_eq(server.count(transport="tcp"), 5, "queries the backend got over TCP")
    router.send_signal(signal.SIGUSR1)
    line = router.wait_log(r"server b .*tcp-connects=\d+")
    expect("tcp-connects=1 " in line, f"one connection to the backend for 5 queries: {line}")


def test_two_loops_share_the_work_and_stop_cleanly(t):
    server, conf = one_backend(t, "192.0.2.6")
    router = harness.start_router(t, "[router]\nthreads = 2\n" + conf)
    for i in range(20):  # from fresh sockets, so the kernel spreads them over both loops
        expect_answer(query(router, f"l{i}.test"), "A", ["192.0.2.6"], f"l{i}.test, 2 loops")
    expect_answer(query(router, "tcp.test", tcp=True), "A", ["192.0.2.6"], "TCP with 2 loops")
    router.send_signal(signal.SIGUSR1)
    line = router.wait_log(r"\[stats\] pool '' queries=\d+")
    expect_eq(stat_value(line, "queries"), 21, "routed queries of both loops, summed")
    line = router.wait_log(r"\[stats\] queries=\d+")
    expect_eq(stat_value(line, "tcp-queries"), 1, "the TCP query, counted once")
    expect_eq(len(re.findall(r"\[stats\d\]", router.log())), 0, "no per-loop counter lines")
    expect_eq(router.log().count("backend b "), 1, "health lines (only loop 1 logs them)")
    other = ScriptedServer(t)
    other.any_a = "192.0.2.7"
    with open(t.path("router.ini"), "w") as f:
        f.write(f"[router]\nthreads = 2\n[backend c]\naddress = {other.addr}:{other.port}\n"
                "[rule all]\nmatch = all\naction = pool\n")
    router.send_signal(signal.SIGHUP)
    expect_every_loop_answers(router, "after", "192.0.2.7",
                              "answers from the new backend on every loop", count=10)
    expect_eq(router.stop(), 0, "exit status after SIGTERM with 2 loops")


def test_dnsdist_listeners_with_reuseport_run_as_loops(t):
    server = ScriptedServer(t)
    server.any_a = "192.0.2.8"
    conf = t.write("dnsdist.conf",
                   'setLocal("127.0.0.1:53", {reusePort=true})\n'
                   'addLocal("127.0.0.1:53", {reusePort=true})\n'
                   f'newServer({{address="{server.addr}:{server.port}", pool="p"}})\n'
                   'addAction(AllRule(), PoolAction("p"))\n')
    router = harness.start_router(t, conf_file=conf)  # --local moves it off port 53
    expect("2 loops" in router.wait_log(r"started, listening on"), "two copies, two loops")
    for i in range(10):
        expect_answer(query(router, f"r{i}.test"), "A", ["192.0.2.8"], f"r{i}.test")
    router.send_signal(signal.SIGUSR1)
    line = router.wait_log(r"\[stats\] pool 'p' queries=\d+")
    expect_eq(stat_value(line, "queries"), 10, "routed queries of both loops, summed")
    expect_eq(router.stop(), 0, "exit status after SIGTERM")
    expect_eq(router.log().count("[stats] pool 'p' queries=10 "), 2,
              "the SIGUSR1 dump and the counters at stop, both summed")


harness.main(globals())
