"""The pkdns daemon's bounds: answer_timeout_ms for the whole of a pkarr answer (the DHT and
the servers a packet leads to), the lookup that goes on after it, the DHT rate limit, the
caps on queries waiting and on lookups queued, and the client's UDP size. DHT peers here are
scripted: one that never answers, one that answers gets late, one that answers at once."""

import hashlib
import os
import re
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402

import dhtnet  # noqa: E402
import harness  # noqa: E402
import test_pkdns_lookups as lookups  # noqa: E402
from harness import expect, expect_eq  # noqa: E402

EDE_OTHER = 0
EDE_NO_REACHABLE_AUTHORITY = 22


class DhtPeer:
    """A KRPC responder on 127.0.0.1: answers every query at once with its ID alone, except
    gets for the key of `seed`, answered after `get_delay_s` with the signed `message`; with
    `silent` it answers nothing. Counts the gets it received."""

    def __init__(self, case, seed=None, message=None, get_delay_s=0.0, silent=False):
        self.seed, self.message, self.get_delay_s, self.silent = seed, message, get_delay_s, silent
        self.seq = int(time.time() * 1_000_000)
        self.target = None
        if seed is not None:
            self.target = hashlib.sha1(dhtnet.public_key(seed)).digest()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()
        self.id = os.urandom(20)
        self.gets = 0
        self.values_sent = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        case.servers.append(self)

    def _value(self):
        return {b"k": dhtnet.public_key(self.seed), b"seq": self.seq, b"v": self.message,
                b"sig": dhtnet.sign(self.seed, self.seq, self.message)}

    def _send(self, reply, peer, value=False):
        if not self.running:
            return
        try:
            self.sock.sendto(dhtnet.bencode(reply), peer)
        except OSError:
            return
        if value:
            self.values_sent += 1

    def _serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(2048)
                msg = dhtnet.bdecode(data)
            except (socket.timeout, ValueError, IndexError):
                continue
            except OSError:
                return
            if not isinstance(msg, dict) or msg.get(b"y") != b"q" or self.silent:
                continue
            r = {b"id": self.id}
            args = msg.get(b"a", {})
            reply = {b"t": msg.get(b"t", b""), b"y": b"r", b"r": r}
            if msg.get(b"q") == b"get":
                self.gets += 1
                r[b"token"] = b"tok"
                if self.target is not None and args.get(b"target") == self.target:
                    r.update(self._value())
                    threading.Timer(self.get_delay_s, self._send, (reply, peer, True)).start()
                    continue
            self._send(reply, peer)

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def start_pkdns(case, peer, dns_extra="", dht_extra="dht_query_rate_limit = 0"):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    p = lookups.start_pkdns(case, upstream.port, [peer.addr], dns_extra=dns_extra,
                            dht_extra=dht_extra)
    return p, upstream


def burst(p, names, timeout=30.0):
    """Sends a query for each name at once, each from its own socket; returns the answers in
    the order of `names` (None for a query still unanswered after `timeout`)."""
    socks = []
    try:
        for name in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            socks.append(s)
        for s, name in zip(socks, names):
            s.sendto(harness.make_query(name).to_wire(), (p.addr, p.port))
        answers = {}
        deadline = time.monotonic() + timeout
        while len(answers) < len(socks) and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in socks if s not in answers], [], [], 0.5)
            for s in ready:
                answers[s] = dns.message.from_wire(s.recv(65535))
        return [answers.get(s) for s in socks]
    finally:
        for s in socks:
            s.close()


def ede_texts(response):
    return [opt.text or "" for opt in response.options if opt.otype == dns.edns.OptionType.EDE]


def cold_keys(count, first=60):
    return [lookups.key_of(bytes([first + i]) * 32) for i in range(count)]


def stop_counters(p):
    """Stops pkdns and returns the numbers of its stop lines by name."""
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")
    log = p.log()
    counters = {}
    patterns = {"timeouts": r"(\d+) timed out", "refused": r"(\d+) REFUSED",
                "servfail": r"(\d+) SERVFAIL", "full": r"REFUSED \((\d+) for lack of room",
                "started": r"DHT lookups: (\d+) started", "joined": r"(\d+) joined by other",
                "dropped": r"(\d+) dropped unwaited"}
    for name, pattern in patterns.items():
        m = re.search(pattern, log)
        counters[name] = int(m.group(1)) if m else None
    return counters


def test_dht_rate_limit_answers_refused(case):
    peer = DhtPeer(case, silent=True)
    p, _ = start_pkdns(case, peer, dns_extra="answer_timeout_ms = 1000",
                       dht_extra="dht_query_rate_limit = 1\ndht_query_rate_limit_burst = 1")
    # rate_limit_loopback = true (lookups.write_conf): the limit applies to 127.0.0.1.
    answers = burst(p, cold_keys(5))
    expect(all(answers), "every query answered")
    rcodes = [harness.rcode(r) for r in answers]
    refused = [r for r in answers if harness.rcode(r) == "REFUSED"]
    # One lookup a second, one in the burst: the first key's lookup, maybe a second.
    expect(len(refused) >= 3, f"lookups beyond dht_query_rate_limit are REFUSED: {rcodes}")
    for r in refused:
        expect_eq(harness.ede_codes(r), [EDE_OTHER], "EDE 0 with it")
        expect_eq(ede_texts(r), ["DHT lookups rate limited"], "the EDE's text")
    expect_eq(rcodes.count("SERVFAIL"), 5 - len(refused), "the rest waited for their lookup")


SEED = bytes(range(81, 113))


def test_cname_to_a_silent_icann_server_servfails_at_the_budget(case):
    key = lookups.key_of(SEED)
    peer = DhtPeer(case, SEED, lookups.pkarr_message(
        (key, "A", "192.0.2.80"), (f"ext.{key}", "CNAME", "www.slow.test.")))
    p, upstream = start_pkdns(case, peer, dns_extra="answer_timeout_ms = 500")
    upstream.silent = True
    harness.expect_answer(lookups.resolved(p, key), "A", ["192.0.2.80"], "the key, now cached")

    # The forward server's own timeout is 2.5 s; the client's budget ends first.
    r = harness.query(p, f"ext.{key}", timeout=5)
    expect_eq(harness.rcode(r), "SERVFAIL", "a CNAME to a name the forward server never answers")
    expect_eq(harness.ede_codes(r), [EDE_NO_REACHABLE_AUTHORITY], "EDE 22 with it")
    expect_eq(ede_texts(r), ["no server answer within answer_timeout_ms"], "its text: the budget")
    expect_eq(upstream.count("www.slow.test", "A"), 1, "the forward server was asked")
    expect_eq(stop_counters(p)["timeouts"], 1, "queries answered at the budget")


def test_delegation_to_a_silent_server_servfails_at_the_budget(case):
    key = lookups.key_of(SEED)
    delegated = harness.ScriptedServer(case, addr=harness.loopback_address_with_port_53(),
                                       port=53, zone=f"sub.{key}.")
    delegated.silent = True
    peer = DhtPeer(case, SEED, lookups.pkarr_message(
        (key, "A", "192.0.2.81"), (f"sub.{key}", "NS", f"ns.sub.{key}."),
        (f"ns.sub.{key}", "A", delegated.addr)))
    p, _ = start_pkdns(case, peer, dns_extra="answer_timeout_ms = 500")
    harness.expect_answer(lookups.resolved(p, key), "A", ["192.0.2.81"], "the key, now cached")

    r = harness.query(p, f"host.sub.{key}", timeout=5)
    expect_eq(harness.rcode(r), "SERVFAIL", "a delegation to a server that never answers")
    expect_eq(ede_texts(r), ["no server answer within answer_timeout_ms"], "its text: the budget")
    expect_eq(delegated.count(f"host.sub.{key}", "A"), 1, "the glue address was asked")
    expect_eq(stop_counters(p)["timeouts"], 1, "queries answered at the budget")


def test_lookup_goes_on_after_the_budget_and_fills_the_cache(case):
    key = lookups.key_of(SEED)
    peer = DhtPeer(case, SEED, lookups.pkarr_message((key, "A", "192.0.2.82")), get_delay_s=1.5)
    p, _ = start_pkdns(case, peer, dns_extra="answer_timeout_ms = 300")
    p.wait_log(r"bootstrapped with 1 nodes")

    r = harness.query(p, key, timeout=5)
    expect_eq(harness.rcode(r), "SERVFAIL", "a DHT answer later than answer_timeout_ms")
    expect_eq(ede_texts(r), ["no DHT answer within answer_timeout_ms"], "its text: the budget")
    dhtnet.wait_for(lambda: peer.values_sent == 1, "the peer sends the value", timeout=10)
    p.wait_log(r"packet with timestamp \d+ found, cached")
    r = harness.query(p, key, timeout=5)
    harness.expect_answer(r, "A", ["192.0.2.82"], "asked again: from the cache")
    expect_eq(peer.gets, 1, "gets the peer received")
    counters = stop_counters(p)
    expect_eq((counters["started"], counters["joined"], counters["timeouts"]), (1, 0, 1),
              "one lookup, joined by none, one query answered at the budget")


def test_queries_beyond_max_waiting_queries_are_refused(case):
    peer = DhtPeer(case, silent=True)
    p, _ = start_pkdns(case, peer, dns_extra="answer_timeout_ms = 2000\nmax_waiting_queries = 3")
    for burst_number in range(2):
        answers = burst(p, cold_keys(6, first=60 + 6 * burst_number))
        expect(all(answers), f"every query of burst {burst_number} answered")
        rcodes = sorted(harness.rcode(r) for r in answers)
        expect_eq(rcodes, ["REFUSED"] * 3 + ["SERVFAIL"] * 3,
                  f"burst {burst_number}: three wait for their lookup, three find no room")
        for r in answers:
            if harness.rcode(r) == "REFUSED":
                expect_eq(ede_texts(r), ["max_waiting_queries reached"], "the EDE's text")
    warnings = re.findall(r"max_waiting_queries reached \(3 queries waiting\)", p.log())
    expect_eq(len(warnings), 2, "one warning per burst")
    expect_eq(stop_counters(p)["full"], 6, "queries refused for lack of room")


def test_keys_beyond_max_queued_lookups_are_refused(case):
    peer = DhtPeer(case, silent=True)
    p, _ = start_pkdns(case, peer, dns_extra="answer_timeout_ms = 2000",
                       dht_extra="dht_query_rate_limit = 0\nmax_queued_lookups = 2")
    # 16 lookups run at once (a get to a silent node lasts about 4 s), 2 wait their turn.
    answers = burst(p, cold_keys(20))
    expect(all(answers), "every query answered")
    rcodes = [harness.rcode(r) for r in answers]
    expect_eq(sorted(rcodes), ["REFUSED"] * 2 + ["SERVFAIL"] * 18,
              "keys beyond the running and queued lookups find no room")
    for r in answers:
        if harness.rcode(r) == "REFUSED":
            expect_eq(ede_texts(r), ["max_queued_lookups reached"], "the EDE's text")
    expect_eq(len(re.findall(r"max_queued_lookups reached \(2 lookups queued", p.log())), 1,
              "one warning for the burst")
    counters = stop_counters(p)
    expect_eq((counters["started"], counters["full"], counters["dropped"]), (16, 2, 2),
              "lookups started, keys refused, queued lookups dropped when their queries gave up")


def test_large_answer_is_truncated_over_udp_and_whole_over_tcp(case):
    key = lookups.key_of(SEED)
    texts = [f'"{c * 200}"' for c in "abc"]
    peer = DhtPeer(case, SEED, lookups.pkarr_message(*[(key, "TXT", t) for t in texts]))
    p, _ = start_pkdns(case, peer)
    r = lookups.resolved(p, key, "TXT")
    expect_eq(harness.answer_texts(r, "TXT"), texts, "about 700 bytes within EDNS's 1232")

    for what, edns in (("no EDNS: 512 bytes", False), ("EDNS 512", True)):
        q = harness.make_query(key, "TXT", edns=edns, payload=512)
        r = dns.query.udp(q, p.addr, timeout=harness.QUERY_TIMEOUT_S, port=p.port)
        expect(harness.is_truncated(r), f"TC over UDP with {what}: {harness.describe(r)}")
        expect(not r.answer, "no partial answer")
    r = harness.query(p, key, "TXT", tcp=True, edns=False)
    expect(not harness.is_truncated(r), "no TC over TCP")
    expect_eq(harness.answer_texts(r, "TXT"), texts, "the whole answer over TCP")


if __name__ == "__main__":
    harness.main(globals())
