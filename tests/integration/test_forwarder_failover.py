"""pkdns-forwarder with upstreams that fail or misbehave: one of two dies or goes silent,
strict-order and all-servers, a truncated UDP answer completed over TCP, decoy replies with a
wrong ID or question, and a flood of malformed datagrams."""

import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode  # noqa: E402

import harness  # noqa: E402
from harness import (Dnsmasq, ScriptedServer, expect, expect_answer, expect_eq,  # noqa: E402
                     query, query_retrying)


def servers_conf(*upstreams):
    return ["no-resolv"] + [f"server={u.addr}#{u.port}" for u in upstreams]


# ---------------------------------------------------------------------------------------------
# One upstream of two lost.


def two_dnsmasq_upstreams(t):
    options = ["--address=/fail.test/192.0.2.7"]
    first, second = Dnsmasq(t, options), Dnsmasq(t, options)
    fwd = harness.start_forwarder(t, servers_conf(first, second))
    expect_answer(query_retrying(fwd, "warm.fail.test"), "A", ["192.0.2.7"],
                  "warm.fail.test A with both upstreams up")
    return fwd, first, second


def expect_fresh_names_answered(fwd, label):
    for i in range(5):
        name = f"after{i}.fail.test"
        expect_answer(query_retrying(fwd, name), "A", ["192.0.2.7"], f"{name} A {label}")


def test_answers_continue_when_first_upstream_killed(t):
    fwd, first, _ = two_dnsmasq_upstreams(t)
    first.kill()
    expect_fresh_names_answered(fwd, "with the first upstream killed")


def test_answers_continue_when_second_upstream_killed(t):
    fwd, _, second = two_dnsmasq_upstreams(t)
    second.kill()
    expect_fresh_names_answered(fwd, "with the second upstream killed")


def test_answers_continue_when_an_upstream_goes_silent(t):
    silent, healthy = ScriptedServer(t), ScriptedServer(t)
    for server in (silent, healthy):
        server.add("*.fail.test", "A", "192.0.2.7")
    fwd = harness.start_forwarder(t, servers_conf(silent, healthy))
    silent.silent = True
    expect_fresh_names_answered(fwd, "with the first upstream silent")


# ---------------------------------------------------------------------------------------------
# Server selection.


def two_scripted_upstreams(t, option):
    first, second = ScriptedServer(t), ScriptedServer(t)
    first.add("*.order.test", "A", "192.0.2.1")
    second.add("*.order.test", "A", "192.0.2.2")
    fwd = harness.start_forwarder(t, servers_conf(first, second) + [option])
    return fwd, first, second


def order_test_queries(server):
    return sum(1 for (_, name, _) in list(server.received) if name.endswith(".order.test."))


def test_strict_order_asks_first_server(t):
    fwd, first, second = two_scripted_upstreams(t, "strict-order")
    for i in range(5):
        expect_answer(query(fwd, f"n{i}.order.test"), "A", ["192.0.2.1"],
                      f"n{i}.order.test A under strict-order")
    expect_eq(order_test_queries(second), 0, "queries that reached the second server")


def test_strict_order_falls_back_to_second_server(t):
    fwd, first, second = two_scripted_upstreams(t, "strict-order")
    expect_answer(query(fwd, "before.order.test"), "A", ["192.0.2.1"],
                  "before.order.test A under strict-order")
    first.stop()
    expect_answer(query_retrying(fwd, "after.order.test"), "A", ["192.0.2.2"],
                  "after.order.test A under strict-order with the first server gone")


def test_all_servers_asks_every_server(t):
    fwd, first, second = two_scripted_upstreams(t, "all-servers")
    r = query(fwd, "all.order.test")
    expect(r.rcode() == dns.rcode.NOERROR and harness.answer_texts(r) in (["192.0.2.1"],
                                                                          ["192.0.2.2"]),
           f"all.order.test A under all-servers: got {harness.describe(r)}")
    counts = wait_counts(first, second, "all.order.test")
    expect(counts == (1, 1),
           f"queries for all.order.test received by (first, second): expected (1, 1), "
           f"got {counts}")


def wait_counts(first, second, name, timeout=harness.CHANGE_TIMEOUT_S):
    """Query counts of both servers for name, once both have one (the second may be asked a
    moment after the first has answered) or after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        counts = (first.count(name), second.count(name))
        if min(counts) >= 1 or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Truncation.

# Four TXT records of 200 characters: about 900 bytes, more than 512, less than 1232.
BIG_TXT = [f'"{chr(ord("a") + i) * 200}"' for i in range(4)]


def truncating_upstream(t):
    upstream = ScriptedServer(t)
    upstream.add("big.test", "TXT", *BIG_TXT)
    upstream.truncate_udp = True
    fwd = harness.start_forwarder(t, servers_conf(upstream))
    return fwd, upstream


def test_truncated_udp_answer_retried_over_tcp(t):
    fwd, upstream = truncating_upstream(t)
    r = query(fwd, "big.test", "TXT", payload=4096)
    expect(not harness.is_truncated(r) and harness.answer_texts(r, "TXT") == sorted(BIG_TXT),
           f"big.test TXT over UDP with EDNS payload 4096: expected all 4 records without TC, "
           f"got {harness.describe(r)}")
    expect(upstream.count("big.test", transport="tcp") >= 1,
           "the forwarder never asked the upstream over TCP")


def test_client_without_edns_gets_tc_then_full_answer_over_tcp(t):
    fwd, upstream = truncating_upstream(t)
    r = query(fwd, "big.test", "TXT", edns=False)
    expect(harness.is_truncated(r),
           f"big.test TXT over UDP without EDNS (answer > 512 bytes): expected TC, "
           f"got {harness.describe(r)}")
    r = query(fwd, "big.test", "TXT", tcp=True)
    expect(r.rcode() == dns.rcode.NOERROR and not harness.is_truncated(r)
           and harness.answer_texts(r, "TXT") == sorted(BIG_TXT),
           f"big.test TXT over TCP: expected all 4 records, got {harness.describe(r)}")


# ---------------------------------------------------------------------------------------------
# Decoy replies.


def test_reply_with_wrong_id_ignored(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1")
    upstream.decoys = ["wrong_id"]
    fwd = harness.start_forwarder(t, servers_conf(upstream))
    expect_answer(query_retrying(fwd, "www.test"), "A", ["192.0.2.1"],
                  f"www.test A after a decoy with a wrong ID ({ScriptedServer.DECOY_A})")


def test_reply_with_wrong_question_ignored(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1")
    upstream.decoys = ["wrong_question"]
    fwd = harness.start_forwarder(t, servers_conf(upstream))
    expect_answer(query_retrying(fwd, "www.test"), "A", ["192.0.2.1"],
                  f"www.test A after a decoy for another name ({ScriptedServer.DECOY_A})")


def test_reply_with_wrong_id_then_wrong_question_ignored(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1")
    upstream.decoys = ["wrong_id", "wrong_question"]
    fwd = harness.start_forwarder(t, servers_conf(upstream))
    expect_answer(query_retrying(fwd, "www.test"), "A", ["192.0.2.1"],
                  "www.test A after two decoys")
    r = query(fwd, "www.test")
    expect_answer(r, "A", ["192.0.2.1"], "www.test A from the cache (no decoy cached)")


# ---------------------------------------------------------------------------------------------
# Malformed input.


def header(qdcount=1, ancount=0, nscount=0, arcount=0, flags=0x0100, msg_id=None):
    msg_id = random.getrandbits(16) if msg_id is None else msg_id
    return struct.pack("!6H", msg_id, flags, qdcount, ancount, nscount, arcount)


QTAIL = struct.pack("!2H", 1, 1)  # A, IN


def malformed_datagrams(rng, count):
    """A mix of what a hostile or broken client sends; the header's 12 bytes put the first
    name at offset 12 (0x0c)."""
    makers = [
        lambda: rng.randbytes(rng.randrange(0, 600)),  # noise
        lambda: rng.randbytes(rng.randrange(0, 12)),  # shorter than a header
        lambda: header() + b"\xc0\x0c" + QTAIL,  # a name pointing at itself
        lambda: header() + b"\xc0\x0e\xc0\x0c" + QTAIL,  # two pointers pointing at each other
        lambda: header() + b"\x01a\xc0\x0c" + QTAIL,  # a label, then back to the start
        lambda: header() + b"\xc0\xff" + QTAIL,  # a pointer past the end
        lambda: header() + b"\x3fabc",  # a label longer than the datagram
        lambda: header() + b"\x03www\x04test",  # no terminating root label, no type
        lambda: header() + b"\x03www\x04test\x00",  # no type and class
        lambda: header() + b"\x80abc\x00" + QTAIL,  # reserved label type 10
        lambda: header(qdcount=65535) + b"\x03www\x04test\x00" + QTAIL,
        lambda: header(qdcount=0),  # no question at all
        lambda: header(qdcount=2) + b"\x03www\x04test\x00" + QTAIL,
        lambda: header(arcount=1) + b"\x03www\x04test\x00" + QTAIL + b"\x00\x00\x29\xff",
        lambda: header(arcount=1) + b"\x03www\x04test\x00" + QTAIL
        + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\xff\xff\x00\x0f",  # OPT rdlen past the end
        lambda: header(flags=0x8180) + b"\x03www\x04test\x00" + QTAIL,  # a response, not a query
        lambda: header(flags=0x7900) + b"\x03www\x04test\x00" + QTAIL,  # unknown opcode 15
        lambda: header() + (b"\x3f" + b"x" * 63) * 5 + b"\x00" + QTAIL,  # name over 255 bytes
    ]
    for _ in range(count):
        yield rng.choice(makers)()


def test_malformed_flood_survived(t):
    upstream = ScriptedServer(t)
    upstream.add("www.test", "A", "192.0.2.1")
    upstream.add("*.test", "A", "192.0.2.5")
    fwd = harness.start_forwarder(t, servers_conf(upstream), verbose=False)

    seed = random.getrandbits(32)
    rng = random.Random(seed)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for datagram in malformed_datagrams(rng, 5000):
            try:
                s.sendto(datagram, (fwd.addr, fwd.port))
                sent += 1
            except BlockingIOError:
                pass
            try:
                while True:
                    s.recv(65535)  # FORMERR and the like; only drained
            except BlockingIOError:
                pass
    print(f"    sent {sent} malformed datagrams (seed {seed})")

    expect(fwd.running(), f"forwarder exited after the flood (seed {seed}), "
                          f"status {fwd.popen.returncode}")
    r = harness.query_until(fwd, "www.test", lambda r: harness.answer_texts(r) == ["192.0.2.1"],
                            f"www.test A answered right after the flood (seed {seed})")
    expect(fwd.running(), "forwarder exited after the flood")
    r = query(fwd, "www.test", tcp=True)
    expect_answer(r, "A", ["192.0.2.1"], "www.test A over TCP after the flood")


if __name__ == "__main__":
    harness.main(globals())
