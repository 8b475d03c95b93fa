"""pkdns-router's configuration from the outside: the stack's dnsdist.conf runs unchanged
(with --local for the listen address), a copy of it with only the addresses changed routes
keys to pkdns and the rest to the forwarder, --check-config names every bad line,
--print-config writes a native file that runs the same way, and --threads sets the loops
whatever the file says."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (ScriptedServer, expect, expect_answer, expect_eq, query,  # noqa: E402
                     run_command)

STACK_CONF = os.path.join(harness.REPO, "tests", "data", "stack", "dnsdist.conf")
KEY = "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo"
PKDNS_A, DEFAULT_A = "192.0.2.53", "192.0.2.1"


def stack_backends(t, pkdns_addr=None, pkdns_port=None, fwd_addr=None, fwd_port=None):
    """A scripted stand-in for pkdns, and our forwarder in front of a scripted upstream."""
    pkdns = ScriptedServer(t, addr=pkdns_addr, port=pkdns_port)
    pkdns.any_a = PKDNS_A
    upstream = ScriptedServer(t)
    upstream.any_a = DEFAULT_A
    fwd_addr = fwd_addr or harness.loopback_address()
    fwd = harness.start_forwarder(t, ["no-resolv", f"server={upstream.addr}#{upstream.port}"],
                                  addr=fwd_addr, port=fwd_port)
    return pkdns, fwd


def expect_stack_routing(router):
    expect_answer(harness.query_retrying(router, f"www.{KEY}"), "A", [PKDNS_A],
                  f"www.{KEY} through the stack config")
    expect_answer(harness.query_retrying(router, "www.example.test"), "A", [DEFAULT_A],
                  "www.example.test through the stack config")


def test_stack_dnsdist_conf_runs_unchanged(t):
    # The file names 127.0.0.1:5300 and :5301 for its backends; only where to listen is
    # overridden (--local), so the backends must sit on those very ports.
    if not harness.port_is_free("127.0.0.1", 5300) or not harness.port_is_free("127.0.0.1", 5301):
        raise harness.Skip("127.0.0.1:5300 or :5301 is taken")
    stack_backends(t, "127.0.0.1", 5300, "127.0.0.1", 5301)
    router = harness.start_router(t, conf_file=STACK_CONF)
    expect_stack_routing(router)


def test_stack_dnsdist_conf_with_addresses_changed_routes_the_same(t):
    pkdns, fwd = stack_backends(t)
    with open(STACK_CONF) as f:
        text = f.read()
    text = (text.replace("127.0.0.1:5301", f"{fwd.addr}:{fwd.port}")
                .replace("127.0.0.1:5300", f"{pkdns.addr}:{pkdns.port}"))
    router = harness.start_router(t, conf_file=t.write("dnsdist.conf", text))
    expect_stack_routing(router)


def test_check_config_accepts_the_stack_file(t):
    status, out = run_command([harness.ROUTER, "--check-config", "-c", STACK_CONF])
    expect_eq(status, 0, f"--check-config exit status; output:\n{out}")
    expect("configuration OK" in out, f"--check-config output: {out}")


def test_check_config_names_every_bad_line(t):
    bad = t.write("bad.conf", "setLocal('127.0.0.1:53')\n"
                              "newServer({address='127.0.0.1:5300', qps=3})\n"
                              "carbonServer('192.0.2.1')\n"
                              "addAction(RegexRule('a(b'), PoolAction('x'))\n")
    status, out = run_command([harness.ROUTER, "--check-config", "-c", bad])
    expect_eq(status, 1, "--check-config exit status for a bad file")
    for line, what in ((2, "qps"), (3, "carbonServer"), (4, "a(b")):
        expect(f"{bad}:{line}:" in out and what in out,
               f"no error naming {bad}:{line} ({what}) in:\n{out}")


def test_check_config_names_bad_ini_lines(t):
    bad = t.write("bad.ini", "[router]\ntimeout_ms = x\n[backend b]\naddress = nowhere\n")
    status, out = run_command([harness.ROUTER, "--check-config", "-c", bad])
    expect_eq(status, 1, "--check-config exit status for a bad INI file")
    expect(f"{bad}:2:" in out and f"{bad}:4:" in out, f"errors in:\n{out}")


def test_printed_native_config_routes_like_the_dnsdist_file(t):
    pkdns, fwd = stack_backends(t)
    with open(STACK_CONF) as f:
        text = f.read()
    text = (text.replace("127.0.0.1:5301", f"{fwd.addr}:{fwd.port}")
                .replace("127.0.0.1:5300", f"{pkdns.addr}:{pkdns.port}"))
    lua = t.write("dnsdist.conf", text)
    status, native = run_command([harness.ROUTER, "--print-config", "-c", lua])
    expect_eq(status, 0, f"--print-config exit status; output:\n{native}")
    router = harness.start_router(t, conf_file=t.write("router.ini", native))
    expect_stack_routing(router)


def test_threads_option_sets_the_loops_whatever_the_file_says(t):
    server = ScriptedServer(t)
    server.any_a = "192.0.2.3"
    conf = (f"[router]\nthreads = 1\n[backend b]\naddress = {server.addr}:{server.port}\n"
            "[rule all]\nmatch = all\naction = pool\n")
    router = harness.start_router(t, conf, args=("--threads", "3"))
    expect("3 loops" in router.wait_log(r"started, listening on"), "loops with --threads 3")
    expect_answer(query(router, "t.test"), "A", ["192.0.2.3"], "t.test with --threads 3")
    single = harness.start_router(t, "[router]\nthreads = 2\n" + conf.split("\n", 2)[2],
                                  args=("--threads=1",))
    expect(single.wait_log(r"started, listening on").endswith(" 1 loop"), "loops with --threads=1")
    status, out = run_command([harness.ROUTER, "--threads", "0", "--check-config"])
    expect_eq(status, 2, f"exit status for --threads 0; output: {out}")


def test_usage_errors_exit_2(t):
    status, out = run_command([harness.ROUTER, "--frobnicate"])
    expect_eq(status, 2, f"exit status for an unknown option; output: {out}")


harness.main(globals())
