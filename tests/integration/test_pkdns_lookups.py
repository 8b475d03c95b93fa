"""The pkdns daemon's lookups on a loopback testnet of our own DHT nodes: CNAME and NS chains
across keys, to ICANN names (asked once within their TTL) and to a delegated server with glue;
keys that do not exist and labels that are not keys; 200 queries at once for 50 cold keys
within the default answer_timeout_ms; the DHT cut off; SIGHUP with settings that need a
restart; the DHT state in systemd's $STATE_DIRECTORY."""

import concurrent.futures
import os
import re
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402

import dhtnet  # noqa: E402
import harness  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402

PKDNS = os.path.join(harness.BIN_DIR, "pkdns")
TARGET_SEED = bytes(range(21, 53))
ALIAS_SEED = bytes(range(31, 63))
CHAIN_SEED = bytes(range(41, 73))
ABSENT_SEED = bytes(range(141, 173))
ZBASE32 = "ybndrfg8ejkmcpqxot1uwisza345h769"
# 32 bytes of 0x02: 52 characters with zero padding bits, but no point of the ed25519 curve.
OFF_CURVE_KEY = "yebyryonyebyryonyebyryonyebyryonyebyryonyebyryonyeby"
EDE_NO_REACHABLE_AUTHORITY = 22
TESTNET_NODES = 12


def zbase32(data):
    bits = int.from_bytes(data, "big")
    chars = (len(data) * 8 + 4) // 5
    bits <<= chars * 5 - len(data) * 8
    return "".join(ZBASE32[(bits >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def key_of(seed):
    return zbase32(dhtnet.public_key(seed))


def pkarr_message(*records):
    """A pkarr DNS message: a response with ID 0 and records ((owner, type, rdata), TTL 300,
    or (owner, ttl, type, rdata)) as its answers."""
    msg = dns.message.Message(id=0)
    msg.flags = dns.flags.QR | dns.flags.AA
    for record in records:
        owner, ttl, rdtype, rdata = record if len(record) == 4 else (record[0], 300, *record[1:])
        msg.answer.append(dns.rrset.from_text(owner + ".", ttl, "IN", rdtype, rdata))
    return msg.to_wire()


class Pkdns(harness.Process, harness.Endpoint):
    def __init__(self, case, argv, port):
        if not os.access(PKDNS, os.X_OK):
            raise Failure(f"{PKDNS} is not built")
        harness.Process.__init__(self, case, f"pkdns{len(case.processes)}", argv,
                                 must_survive=True)
        harness.Endpoint.__init__(self, "127.0.0.1", port)

    def stop_stats(self):
        """Stops pkdns (exit status 0 expected) and returns the counters of its stop line."""
        expect_eq(self.stop(10), 0, "exit status after SIGTERM")
        m = re.search(r"DHT lookups: (\d+) started, (\d+) joined", self.log())
        expect(m, "the stop line counts the DHT lookups")
        return {"started": int(m.group(1)), "joined": int(m.group(2))}


def write_conf(case, port, forward_port, bootstrap, dns_extra="", dht_extra="",
               general_extra="rate_limit_loopback = true", state_dir=True):
    boot = "[\n" + "".join(f'    "{h}:{p}",\n' for h, p in bootstrap) + "    ]"
    state = f'state_dir = "{case.dir}"' if state_dir else ""
    return case.write("pkdns.toml", f"""
[general]
socket = "127.0.0.1:{port}"
forward = "127.0.0.1:{forward_port}"
{general_extra}

[dns]
query_rate_limit = 0
{dns_extra}

[dht]
bootstrap = {boot}
{state}
{dht_extra}
""")


def start_pkdns(case, forward_port, bootstrap, dns_extra="answer_timeout_ms = 5000",
                dht_extra="dht_query_rate_limit = 0", args=(), env=None, state_dir=True):
    """pkdns on 127.0.0.1 bootstrapped from every node given. Its DHT node's per-IP limits are
    raised, as every node of a loopback testnet shares the IP 127.0.0.1."""
    port = harness.free_port("127.0.0.1")
    conf = write_conf(case, port, forward_port, bootstrap, dns_extra,
                      dht_extra + f"\nnode_rate_limit = {dhtnet.LOOPBACK_RATE}",
                      state_dir=state_dir)
    saved = os.environ.copy()
    try:
        os.environ.update(env or {})
        p = Pkdns(case, [PKDNS, "-c", conf, "-v", *args], port)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    harness.wait_until_answers(p, p)
    return p


def publish(net, seed, message, seq=None):
    status, stored, out = dhtnet.dht_put(net.bootstrap_arg(len(net.addrs)), seed,
                                         seq or int(time.time() * 1_000_000), message)
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")


def resolved(p, name, rdtype="A", timeout=30.0):
    """Polls until pkdns gives an answer other than SERVFAIL (a lookup still finding its way
    in a testnet whose tables are filling); returns it."""
    def answer():
        r = harness.query(p, name, rdtype, timeout=5)
        return r if harness.rcode(r) != "SERVFAIL" else None

    return dhtnet.wait_for(answer, f"pkdns answers {name} {rdtype}", timeout=timeout, step=0.5)


def query_no_rd(server, name, rdtype="A"):
    q = harness.make_query(name, rdtype, rd=False)
    return dns.query.udp(q, server.addr, timeout=harness.QUERY_TIMEOUT_S, port=server.port)


def test_cname_and_ns_chains_across_keys_and_to_icann(case):
    net = dhtnet.Testnet(case, TESTNET_NODES)
    target, alias, chain = key_of(TARGET_SEED), key_of(ALIAS_SEED), key_of(CHAIN_SEED)
    delegated = harness.ScriptedServer(case, addr=harness.loopback_address_with_port_53(),
                                       port=53, zone=f"sub.{target}.")
    delegated.add(f"host.sub.{target}", "A", "198.51.100.53")
    delegated.add(f"tcp.sub.{target}", "A", "198.51.100.54")
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    upstream.add("www.example.test", "A", "198.51.100.1")
    publish(net, TARGET_SEED, pkarr_message(
        (target, "A", "192.0.2.1"),
        (f"sub.{target}", "NS", f"ns.sub.{target}."),
        (f"ns.sub.{target}", "A", delegated.addr),
        (f"far.{target}", "NS", "ns.example.test."),
        (f"other.{target}", "NS", f"ns.{alias}.")))
    publish(net, ALIAS_SEED, pkarr_message(
        (alias, "CNAME", f"{target}."),
        (f"ext.{alias}", "CNAME", "www.example.test."),
        (f"host.{alias}", "CNAME", f"host.sub.{target}.")))
    publish(net, CHAIN_SEED, pkarr_message((chain, "CNAME", f"ext.{alias}.")))
    p = start_pkdns(case, upstream.port, net.addrs)

    r = resolved(p, alias)
    harness.expect_answer(r, "A", ["192.0.2.1"], "a CNAME to another key")
    expect_eq(harness.answer_texts(r, "CNAME"), [f"{target}."], "the CNAME in the answer")
    expect(r.flags & dns.flags.AA, "AA on an answer from packets")

    r = resolved(p, chain)
    harness.expect_answer(r, "A", ["198.51.100.1"], "key -> key -> ICANN name")
    expect_eq(harness.answer_texts(r, "CNAME"), [f"ext.{alias}.", "www.example.test."],
              "both CNAMEs of the chain")

    r = resolved(p, f"host.sub.{target}")
    harness.expect_answer(r, "A", ["198.51.100.53"], "a delegation with glue")
    expect_eq(delegated.count(f"host.sub.{target}", "A"), 1, "questions to the glue address")
    r = resolved(p, f"host.sub.{target}.key")
    harness.expect_answer(r, "A", ["198.51.100.53"], "a delegation, asked with the TLD")
    expect_eq(harness.answer_texts(r, "CNAME"), [f"host.sub.{target}."],
              "the TLD form leads to the name the delegated server knows")
    expect_eq(delegated.count(f"host.sub.{target}.key"), 0, "no TLD sent to the server")
    r = resolved(p, f"host.{alias}")
    harness.expect_answer(r, "A", ["198.51.100.53"], "a CNAME into the delegated zone")
    expect_eq(harness.answer_texts(r, "CNAME"), [f"host.sub.{target}."], "its CNAME")

    delegated.truncate_udp = True
    r = resolved(p, f"tcp.sub.{target}")
    harness.expect_answer(r, "A", ["198.51.100.54"], "a delegated answer truncated over UDP")
    expect_eq(delegated.count(f"tcp.sub.{target}", "A", "tcp"), 1, "asked again over TCP")
    delegated.truncate_udp = False

    r = query_no_rd(p, f"host.sub.{target}")
    expect_eq(harness.rcode(r), "NOERROR", "a referral without RD")
    expect(not r.answer and not r.flags & dns.flags.AA, f"no answer, no AA: {harness.describe(r)}")
    expect_eq([rr.to_text() for rr in r.authority],
              [f"sub.{target}. 300 IN NS ns.sub.{target}."], "the delegation's NS")
    expect_eq([rr.to_text() for rr in r.additional if rr.rdtype == dns.rdatatype.A],
              [f"ns.sub.{target}. 300 IN A {delegated.addr}"], "its glue")

    r = resolved(p, f"x.far.{target}")
    expect(not r.answer and not r.flags & dns.flags.AA,
           f"an NS to an ICANN name without glue is a referral: {harness.describe(r)}")
    expect_eq([rr.to_text() for rr in r.authority],
              [f"far.{target}. 300 IN NS ns.example.test."], "the referral's NS")
    r = resolved(p, f"x.other.{target}")
    expect_eq([rr.to_text() for rr in r.authority],
              [f"other.{target}. 300 IN NS ns.{alias}."], "an NS into another key: a referral")
    expect_eq(delegated.count(f"x.other.{target}"), 0, "nothing asked of the delegated server")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


def test_icann_name_behind_a_cname_is_asked_once_within_its_ttl(case):
    net = dhtnet.Testnet(case, TESTNET_NODES)
    alias = key_of(ALIAS_SEED)
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    upstream.add("www.example.test", "A", "198.51.100.1", ttl=300)
    publish(net, ALIAS_SEED, pkarr_message((f"ext.{alias}", 600, "CNAME", "www.example.test.")))
    p = start_pkdns(case, upstream.port, net.addrs)

    r = resolved(p, f"ext.{alias}")
    harness.expect_answer(r, "A", ["198.51.100.1"], "the CNAME's target, from the forward server")
    expect_eq(upstream.count("www.example.test", "A"), 1, "questions to the forward server")
    time.sleep(2.2)  # both caches count the TTLs down by whole seconds
    r = harness.query(p, f"ext.{alias}")
    harness.expect_answer(r, "A", ["198.51.100.1"], "the CNAME's target again")
    expect_eq(upstream.count("www.example.test", "A"), 1, "the second answer from the ICANN cache")
    ttls = {dns.rdatatype.to_text(rr.rdtype): rr.ttl for rr in r.answer}
    expect(0 < ttls["CNAME"] <= 598, f"the packet's CNAME TTL counted down from 600: {ttls}")
    expect(0 < ttls["A"] <= 298, f"the forward server's A TTL counted down from 300: {ttls}")
    r = harness.query(p, "www.example.test")
    harness.expect_answer(r, "A", ["198.51.100.1"], "the ICANN name asked directly")
    expect_eq(upstream.count("www.example.test", "A"), 1, "answered from the same cache")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


def test_absent_keys_and_labels_that_are_not_keys_are_nxdomain(case):
    net = dhtnet.Testnet(case, TESTNET_NODES)
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    p = start_pkdns(case, upstream.port, net.addrs)
    absent = key_of(ABSENT_SEED)
    failed = []

    def settled():
        r = harness.query(p, absent, timeout=5)
        if harness.rcode(r) == "SERVFAIL":  # a lookup that heard too few nodes to tell
            failed.append(r)
            return None
        return r

    r = dhtnet.wait_for(settled, f"pkdns answers {absent}", timeout=30, step=0.5)
    expect_eq(harness.rcode(r), "NXDOMAIN", "a key the DHT has no packet for")
    expect(not r.answer, "no records")
    r = harness.query(p, "www." + absent)
    expect_eq(harness.rcode(r), "NXDOMAIN", "a name under it, from the negative cache")

    # The last of 52 characters carries 4 padding bits, which must be zero: 'y' is 0, 'b' 1.
    expect(absent[-1] in "yo", f"a key ends in a character with zero padding: {absent}")
    broken = absent[:-1] + "b"
    for name in (broken, "www." + broken, broken.upper(), broken + ".key",
                 "www." + broken + ".KEY"):
        r = harness.query(p, name)
        expect_eq(harness.rcode(r), "NXDOMAIN", f"a non-canonical 52-character label ({name})")
        expect(r.flags & dns.flags.AA, "answered by pkdns itself")
    expect_eq(zbase32(bytes([2] * 32)), OFF_CURVE_KEY, "the off-curve key's spelling")
    for name in (OFF_CURVE_KEY, "www." + OFF_CURVE_KEY, OFF_CURVE_KEY + ".key"):
        r = harness.query(p, name)
        expect_eq(harness.rcode(r), "NXDOMAIN", f"a canonical label off the curve ({name})")
        expect(r.flags & dns.flags.AA, "answered by pkdns itself")
    expect_eq(upstream.count(), 0, "no such name forwarded")
    stats = p.stop_stats()
    expect_eq(stats["started"], 1 + len(failed),
              "DHT lookups: the absent key's (and one more per SERVFAIL), none for the rest")


def test_200_queries_for_50_cold_keys_take_one_lookup_each(case):
    net = dhtnet.Testnet(case, 20)  # more nodes than the other cases: 50 keys to spread
    seeds = [bytes([200, i]) + bytes(range(30)) for i in range(50)]
    seq = int(time.time() * 1_000_000)

    def put(i):
        key = key_of(seeds[i])
        return dhtnet.dht_put(net.bootstrap_arg(len(net.addrs)), seeds[i], seq,
                              pkarr_message((key, "A", f"10.0.{i}.1")))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for status, stored, out in pool.map(put, range(50)):
            expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    # A burst of 50 DHT lookups allowed, then one a second: the 150 queries that join a lookup
    # already running (or find its packet cached) must not be charged for one. pkdns runs a
    # few lookups at once and queues the rest, so that no answer is lost to a full socket; on
    # a loopback testnet all of it fits in the default answer_timeout_ms of 1500 ms.
    p = start_pkdns(case, upstream.port, net.addrs, dns_extra="",
                    dht_extra="dht_query_rate_limit = 1\ndht_query_rate_limit_burst = 50")

    socks, wanted = {}, {}
    for n in range(200):
        i = n % 50
        q = harness.make_query(key_of(seeds[i]), "A")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        socks[s] = q
        wanted[s] = f"10.0.{i}.1"
    try:
        for s, q in socks.items():
            s.sendto(q.to_wire(), (p.addr, p.port))
        answers = {}
        deadline = time.monotonic() + 30
        while len(answers) < len(socks) and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in socks if s not in answers], [], [], 0.5)
            for s in ready:
                answers[s] = dns.message.from_wire(s.recv(65535))
    finally:
        for s in socks:
            s.close()
    expect_eq(len(answers), 200, "answers to 200 queries within 30 s")
    servfail = [r for r in answers.values() if harness.rcode(r) == "SERVFAIL"]
    expect(not servfail, f"{len(servfail)} SERVFAIL: lookups outlasted answer_timeout_ms")
    wrong = [(wanted[s], harness.describe(r)) for s, r in answers.items()
             if r.id != socks[s].id or harness.rcode(r) != "NOERROR"
             or harness.answer_texts(r, "A") != [wanted[s]]]
    expect(not wrong, f"{len(wrong)} wrong answers, e.g. {wrong[:3]}")
    stats = p.stop_stats()
    expect_eq(stats["started"], 50, "DHT lookups started: one per key")


def test_dht_cut_off_serves_cached_answers_and_servfail_for_cold_keys(case):
    net = dhtnet.Testnet(case, TESTNET_NODES)
    warm, cold = key_of(TARGET_SEED), key_of(ALIAS_SEED)
    publish(net, TARGET_SEED, pkarr_message((warm, 1, "A", "192.0.2.70"),
                                            (warm, 300, "TXT", '"kept for 300 s"')))
    publish(net, ALIAS_SEED, pkarr_message((cold, "A", "192.0.2.71")))
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    budget_s = 1.0
    p = start_pkdns(case, upstream.port, net.addrs,
                    dns_extra=f"answer_timeout_ms = {int(budget_s * 1000)}\nmin_ttl = 1")
    harness.expect_answer(resolved(p, warm), "A", ["192.0.2.70"], "the warm key, DHT up")

    expect_eq(net.stop(10), 0, "the testnet stops")
    time.sleep(1.5)  # past the warm packet's 1 s TTL: from now on it is stale
    for attempt in range(2):
        r = harness.query(p, warm, timeout=5)
        harness.expect_answer(r, "A", ["192.0.2.70"], f"the cached key, DHT gone ({attempt})")
        expect_eq([rr.ttl for rr in r.answer], [1], "a stale answer keeps the record's 1 s TTL")
        r = harness.query(p, warm, "TXT", timeout=5)
        expect_eq([rr.ttl for rr in r.answer], [30], "a stale answer's 300 s record reads 30 s")
        # pkdns gives up after answer_timeout_ms, well before the client's own 5 s. The 2 s
        # margin is for a shared, busy machine; what matters is that the client never waits
        # for its own timeout.
        started = time.monotonic()
        r = harness.query(p, cold, timeout=5)
        took = time.monotonic() - started
        expect_eq(harness.rcode(r), "SERVFAIL", f"a cold key, DHT gone ({attempt})")
        expect_eq(harness.ede_codes(r), [EDE_NO_REACHABLE_AUTHORITY], "EDE 22 with it")
        expect(took < budget_s + 2.0,
               f"SERVFAIL within answer_timeout_ms ({budget_s:.1f} s) and a margin: "
               f"took {took:.2f} s")
    r = harness.query(p, "www." + cold, timeout=5)
    expect_eq(harness.rcode(r), "SERVFAIL", "not remembered as NXDOMAIN")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


def test_sighup_applies_cache_sizes_and_names_settings_that_need_a_restart(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    upstream.add("www.example.test", "A", "198.51.100.1")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a DHT node that never answers
    silent.bind(("127.0.0.1", 0))
    boot = [("127.0.0.1", silent.getsockname()[1])]
    p = start_pkdns(case, upstream.port, boot)
    harness.expect_answer(harness.query(p, "www.example.test"), "A", ["198.51.100.1"], "forwarded")
    new_port = harness.free_port("127.0.0.1")
    write_conf(case, new_port, upstream.port, boot,
               dns_extra="icann_cache_mb = 3\nmin_ttl = 10",
               dht_extra=f"dht_cache_mb = 2\nport = 1\nread_only = false\n"
               f"node_rate_limit = {dhtnet.LOOPBACK_RATE}")
    p.send_signal(1)  # SIGHUP
    p.wait_log(r"configuration reloaded")
    p.wait_log(r"changed, but applied only after a restart: socket, port, read_only$")
    p.wait_log(r"packet cache now 2 MiB")
    p.wait_log(r"ICANN cache now 3 MiB, started empty")
    harness.expect_answer(harness.query(p, "www.example.test"), "A", ["198.51.100.1"],
                          "still on the old socket, asked again")
    expect_eq(upstream.count("www.example.test", "A"), 2, "the new ICANN cache started empty")
    expect(harness.port_is_free("127.0.0.1", new_port), "the new socket is not bound")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")
    silent.close()


def test_dht_state_goes_to_the_state_directory_systemd_gives(case):
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    net = dhtnet.Testnet(case, 4)
    state = case.path("state")
    home = case.path("home")
    os.mkdir(state)
    os.mkdir(home)
    p = start_pkdns(case, upstream.port, net.addrs, args=("-p", home),
                    env={"STATE_DIRECTORY": state}, state_dir=False)
    p.wait_log(r"bootstrapped with \d+ nodes", timeout=10)
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")
    expect(os.path.exists(os.path.join(state, "dht.state")),
           f"dht.state in $STATE_DIRECTORY: {os.listdir(state)}")
    expect(not os.path.exists(os.path.join(home, "dht.state")), "none in the pkdns dir")


def test_dht_over_ipv6_only(case):
    """With [dht] ipv6, pkdns's node also speaks BEP 32: bootstrapped from the testnet's IPv6
    addresses alone, it finds a packet the testnet holds."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise Failure(f"this test needs IPv6 on loopback (::1): {e}")
    net = dhtnet.Testnet(case, TESTNET_NODES, extra=["--bind6", "::1"])
    six = [("[::1]", int(m.group(1))) for m in re.finditer(r"^\[::1\]:(\d+)$", net.log(),
                                                             re.MULTILINE)]
    expect_eq(len(six), TESTNET_NODES, "the testnet's IPv6 addresses")
    publish(net, TARGET_SEED, pkarr_message((key_of(TARGET_SEED), "A", "192.0.2.66")))
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    p = start_pkdns(case, upstream.port, six, dht_extra='dht_query_rate_limit = 0\nipv6 = "::1"')
    r = resolved(p, key_of(TARGET_SEED))
    expect_eq(harness.answer_texts(r), ["192.0.2.66"], "the packet, found over IPv6")


if __name__ == "__main__":
    harness.main(globals())
