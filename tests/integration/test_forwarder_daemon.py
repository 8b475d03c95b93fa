"""pkdns-forwarder as a daemon: systemd readiness, reloads on SIGHUP, stale answers when every
upstream fails (RFC 8767), TTL limits, and per-domain servers."""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode  # noqa: E402

import harness  # noqa: E402
from harness import ScriptedServer, expect, expect_answer, expect_eq, query  # noqa: E402


def notify_socket(t):
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""
    path = t.path("notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5.0)
    return path, sock


def receive_state(sock, want):
    """Reads notifications until one contains `want`; returns every message seen."""
    seen = []
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(msg)
        if want in msg.split("\n"):
            return seen
    raise harness.Failure(f"no {want} among notifications {seen}")


def test_readiness_reload_and_stop_are_notified(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1")
    path, sock = notify_socket(t)
    os.environ["NOTIFY_SOCKET"] = path
    try:
        fwd = harness.start_forwarder(t, ["no-resolv", f"server={upstream.addr}#{upstream.port}"])
    finally:
        del os.environ["NOTIFY_SOCKET"]
    receive_state(sock, "READY=1")
    fwd.send_signal(signal.SIGHUP)
    seen = receive_state(sock, "READY=1")
    expect(any("RELOADING=1" in m for m in seen), f"no RELOADING=1 before READY=1: {seen}")
    expect(any("MONOTONIC_USEC=" in m for m in seen), f"RELOADING=1 lacks MONOTONIC_USEC: {seen}")
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A after reload")
    expect_eq(fwd.stop(), 0, "exit status on SIGTERM")
    receive_state(sock, "STOPPING=1")


def test_sighup_applies_a_changed_server_line(t):
    first, second = ScriptedServer(t), ScriptedServer(t)
    first.add("www.test", "A", "192.0.2.1")
    second.add("other.test", "A", "192.0.2.2")
    conf = t.path("fwd.conf")
    port = harness.free_port()

    def write_conf(server):
        with open(conf, "w") as f:
            f.write(f"port={port}\nlisten-address=127.0.0.1\nno-resolv\n"
                    f"server={server.addr}#{server.port}\n")

    write_conf(first)
    fwd = harness.start_forwarder(t, conf_file=conf, port=port)
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A from the first")
    write_conf(second)
    fwd.send_signal(signal.SIGHUP)
    fwd.wait_log("configuration reloaded")
    expect_answer(query(fwd, "other.test"), "A", ["192.0.2.2"], "other.test A from the second")
    expect_eq(first.count("other.test"), 0, "queries for other.test at the old server")
    # The cache survives the reload: www.test still answers though the new server lacks it.
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A from the cache")


def test_sighup_with_a_broken_config_keeps_the_old_one(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1")
    conf = t.path("fwd.conf")
    port = harness.free_port()
    with open(conf, "w") as f:
        f.write(f"port={port}\nno-resolv\nserver={upstream.addr}#{upstream.port}\n")
    fwd = harness.start_forwarder(t, conf_file=conf, port=port)
    with open(conf, "a") as f:
        f.write("no-such-option\n")
    fwd.send_signal(signal.SIGHUP)
    line = fwd.wait_log("keeping the old one")
    expect("no-such-option" in fwd.log(), f"the bad line is not named: {line}")
    expect("fwd.conf:4" in fwd.log(), "the error does not name fwd.conf:4")
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A after the bad reload")


def test_clear_on_reload_empties_the_cache(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1")
    fwd = harness.start_forwarder(t, ["no-resolv", f"server={upstream.addr}#{upstream.port}",
                                      "clear-on-reload"])
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A")
    fwd.send_signal(signal.SIGHUP)
    fwd.wait_log("configuration reloaded")
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A after reload")
    expect_eq(upstream.count("www.test", "A"), 2, "upstream queries: the cache was emptied")


def test_stale_answer_served_when_every_upstream_fails(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1", ttl=1)
    fwd = harness.start_forwarder(t, ["no-resolv", f"server={upstream.addr}#{upstream.port}",
                                      "query-timeout-ms=800"])
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A while fresh")
    upstream.silent = True
    time.sleep(1.5)
    r = query(fwd, "www.test", timeout=4.0)
    expect_answer(r, "A", ["192.0.2.1"], "www.test A after expiry, upstream silent")
    expect_eq(r.answer[0].ttl, 30, "TTL of a stale answer (RFC 8767)")
    expect_eq(upstream.count("www.test", "A"), 2, "the expired name was asked upstream first")


def test_no_stale_answer_beyond_the_bound(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1", ttl=1)
    fwd = harness.start_forwarder(t, ["no-resolv", f"server={upstream.addr}#{upstream.port}",
                                      "query-timeout-ms=800", "use-stale-cache=1"])
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A while fresh")
    upstream.silent = True
    time.sleep(2.5)
    r = query(fwd, "www.test", timeout=4.0)
    expect_eq(dns.rcode.to_text(r.rcode()), "SERVFAIL", "rcode past the stale bound")


def test_max_and_min_cache_ttl_bound_what_clients_see(t):
    upstream = ScriptedServer(t)
    upstream.add("long.test", "A", "192.0.2.1", ttl=86400)
    upstream.add("short.test", "A", "192.0.2.2", ttl=5)
    fwd = harness.start_forwarder(t, ["no-resolv", f"server={upstream.addr}#{upstream.port}",
                                      "max-cache-ttl=600", "min-cache-ttl=60"])
    long_ttl = query(fwd, "long.test").answer[0].ttl
    short_ttl = query(fwd, "short.test").answer[0].ttl
    expect(long_ttl <= 600, f"long.test TTL {long_ttl} above max-cache-ttl 600")
    expect(short_ttl >= 59, f"short.test TTL {short_ttl} below min-cache-ttl 60")
    time.sleep(6)
    expect_answer(query(fwd, "short.test"), "A", ["192.0.2.2"], "short.test A after 6 s")
    expect_eq(upstream.count("short.test", "A"), 1, "short.test stayed cached past its TTL")


def test_domain_servers_take_their_names(t):
    general, special = ScriptedServer(t), ScriptedServer(t, zone="corp.test.")
    general.add("www.test", "A", "192.0.2.1")
    special.add("intranet.corp.test", "A", "10.1.2.3")
    fwd = harness.start_forwarder(t, [
        "no-resolv", f"server={general.addr}#{general.port}",
        f"server=/corp.test/{special.addr}#{special.port}", "server=/blocked.test/"])
    expect_answer(query(fwd, "intranet.corp.test"), "A", ["10.1.2.3"], "intranet.corp.test A")
    expect_answer(query(fwd, "www.test"), "A", ["192.0.2.1"], "www.test A")
    expect_eq(general.count("intranet.corp.test"), 0, "corp.test names at the general server")
    expect_eq(special.count("www.test"), 0, "other names at the corp.test server")
    r = query(fwd, "ads.blocked.test")
    expect_eq(dns.rcode.to_text(r.rcode()), "NXDOMAIN", "a name under server=/blocked.test/")
    expect_eq(general.count("ads.blocked.test"), 0, "blocked names asked upstream")


def test_interface_lo_listens_on_the_loopback_address(t):
    server = ScriptedServer(t)
    server.any_a = "192.0.2.44"
    port = harness.free_port("127.0.0.1")
    conf = t.write("forwarder.conf", f"port={port}\ninterface=lo\nno-resolv\n"
                                     f"server={server.addr}#{server.port}\n")
    fwd = harness.start_forwarder(t, conf_file=conf, addr="127.0.0.1", port=port)
    expect_answer(query(fwd, "iface.test"), "A", ["192.0.2.44"], "through interface=lo")
    line = fwd.wait_log(r"started, listening on")
    expect(f"127.0.0.1:{port}" in line, f"127.0.0.1:{port} not among the addresses: {line}")


def test_an_interface_that_does_not_exist_stops_the_start(t):
    conf = t.write("forwarder.conf", "port=0\ninterface=nosuch0pk\nno-resolv\n")
    out = subprocess.run([harness.FORWARDER, "-c", conf], capture_output=True, text=True,
                         timeout=30)
    expect(out.returncode != 0, "the forwarder started without its interface")
    expect("interface nosuch0pk: no such interface" in out.stderr,
           f"the error does not name the interface:\n{out.stderr}")


if __name__ == "__main__":
    harness.main(globals())
