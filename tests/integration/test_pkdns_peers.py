"""pkdns resolving packets that other DHT implementations published, on loopback networks:
records signed by the npm pkarr package and stored by bittorrent-dht nodes; records signed and
stored by libtorrent (python3-libtorrent); and a newer packet taking over once the cached one's
TTL has run out."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rrset  # noqa: E402

import dhtnet  # noqa: E402
import harness  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402

PKDNS = os.path.join(harness.BIN_DIR, "pkdns")
JS_SEED = bytes(range(7, 39))
UPDATE_SEED = bytes(range(9, 41))
LT_SEED = bytes(range(11, 43))
JS_NODES = 8
ZBASE32 = "ybndrfg8ejkmcpqxot1uwisza345h769"


def zbase32(data):
    bits = int.from_bytes(data, "big")
    chars = (len(data) * 8 + 4) // 5
    bits <<= chars * 5 - len(data) * 8
    return "".join(ZBASE32[(bits >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


class Pkdns(harness.Process, harness.Endpoint):
    def __init__(self, case, argv, port):
        if not os.access(PKDNS, os.X_OK):
            raise Failure(f"{PKDNS} is not built")
        harness.Process.__init__(self, case, f"pkdns{len(case.processes)}", argv,
                                 must_survive=True)
        harness.Endpoint.__init__(self, "127.0.0.1", port)


def start_pkdns(case, bootstrap, forward_port, min_ttl=60):
    """pkdns on 127.0.0.1 bootstrapped from `bootstrap` ((host, port) pairs, all of them, so
    that a lookup reaches the nodes closest to any key at once)."""
    port = harness.free_port("127.0.0.1")
    boot = "[\n" + "".join(f'    "{h}:{p}",\n' for h, p in bootstrap) + "    ]"
    conf = case.write("pkdns.toml", f"""
[general]
socket = "127.0.0.1:{port}"
forward = "127.0.0.1:{forward_port}"

[dns]
min_ttl = {min_ttl}
answer_timeout_ms = 4000
query_rate_limit = 0

[dht]
bootstrap = {boot}
dht_query_rate_limit = 0
state_dir = "{case.dir}"
""")
    p = Pkdns(case, [PKDNS, "-c", conf, "-v"], port)
    harness.wait_until_answers(p, p)
    return p


def resolved(p, name, rdtype="A", timeout=60.0):
    """Polls until pkdns gives an answer other than SERVFAIL (a lookup still finding its
    way) for name; returns it."""
    def answer():
        r = harness.query(p, name, rdtype, timeout=5)
        return r if harness.rcode(r) != "SERVFAIL" else None

    return dhtnet.wait_for(answer, f"pkdns answers {name} {rdtype}", timeout=timeout, step=0.5)


def pkarr_message(*records):
    """A pkarr DNS message as the Rust pkarr writes it (name-compressed): a response with
    ID 0, records ((owner, ttl, type, rdata)) as its answers."""
    msg = dns.message.Message(id=0)
    msg.flags = dns.flags.QR | dns.flags.AA
    for owner, ttl, rdtype, rdata in records:
        msg.answer.append(dns.rrset.from_text(owner + ".", ttl, "IN", rdtype, rdata))
    return msg.to_wire()


def pkarr_network(case):
    harness.require_node_module("pkarr")
    return dhtnet.JsNetwork(case, JS_NODES, [], script="pkarr_peer.mjs")


def publish(net, seed, timestamp, records):
    """Signs records with the npm pkarr package and stores them through bittorrent-dht node 0;
    returns the key as z-base32."""
    reply = net.request({"cmd": "publish", "node": 0, "seed": seed.hex(),
                         "timestamp": timestamp, "records": records})
    expect(reply["stored"] >= 4, f"bittorrent-dht stored the packet on {reply['stored']} nodes")
    expect_eq(reply["seq"], timestamp, "the BEP 44 seq is the packet's timestamp")
    return reply["key"]


def dig(p, name, rdtype):
    """dig's answer section lines (+short)."""
    harness.require_program("dig", "dnsutils")
    status, out = harness.run_command(["dig", f"@{p.addr}", "-p", str(p.port), "+short",
                                       "+tries=1", "+time=5", name, rdtype])
    expect_eq(status, 0, f"dig's exit status ({out})")
    return out.split()


def test_pkarr_npm_packet_on_bittorrent_dht_resolves(case):
    net = pkarr_network(case)
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    upstream.add("mail.example.test", "A", "198.51.100.25")
    key = zbase32(dhtnet.public_key(JS_SEED))
    got = publish(net, JS_SEED, int(time.time() * 1_000_000), [
        {"name": "@", "type": "A", "ttl": 300, "data": "192.0.2.10"},
        {"name": "@", "type": "AAAA", "ttl": 300, "data": "2001:db8::10"},
        {"name": "@", "type": "TXT", "ttl": 300, "data": "published by the pkarr package"},
        {"name": "www", "type": "CNAME", "ttl": 300, "data": key},
        {"name": "mail", "type": "CNAME", "ttl": 300, "data": "mail.example.test"},
    ])
    expect_eq(got, key, "the pkarr package's z-base32 key")
    p = start_pkdns(case, net.addrs, upstream.port)

    r = resolved(p, key, "A")
    expect_eq(harness.rcode(r), "NOERROR", "the apex A")
    expect_eq(harness.answer_texts(r, "A"), ["192.0.2.10"], "the apex A")
    expect(r.flags & dns.flags.AA, "a pkarr answer is authoritative")
    r = harness.query(p, key, "AAAA")
    expect_eq(harness.answer_texts(r, "AAAA"), ["2001:db8::10"], "the apex AAAA")
    r = harness.query(p, key, "TXT")
    expect_eq(harness.answer_texts(r, "TXT"), ['"published by the pkarr package"'], "the TXT")
    r = harness.query(p, "www." + key, "A")
    expect_eq(harness.answer_texts(r, "CNAME"), [key + "."], "www's CNAME to the apex")
    expect_eq(harness.answer_texts(r, "A"), ["192.0.2.10"], "the apex A behind www")
    r = harness.query(p, "mail." + key + ".key", "A")
    expect_eq(harness.answer_texts(r, "CNAME"), ["mail.example.test."], "mail's CNAME (TLD form)")
    expect_eq(harness.answer_texts(r, "A"), ["198.51.100.25"], "the ICANN name's A")
    expect_eq(dig(p, key.upper(), "A"), ["192.0.2.10"], "dig +short for the key in capitals")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


def test_newer_packet_is_seen_once_the_ttl_runs_out(case):
    net = pkarr_network(case)
    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    first = int(time.time() * 1_000_000)
    key = publish(net, UPDATE_SEED, first, [
        {"name": "@", "type": "A", "ttl": 2, "data": "192.0.2.30"}])
    p = start_pkdns(case, net.addrs, upstream.port, min_ttl=1)
    r = resolved(p, key, "A")
    expect_eq(harness.answer_texts(r, "A"), ["192.0.2.30"], "the first packet's A")
    # The record's own 2 s (above min_ttl 1), or 1 s when the answer came from the cache a
    # second after a lookup stored the packet.
    ttls = [rr.ttl for rr in r.answer]
    expect(ttls in ([2], [1]), f"the record's own TTL, counted down at most: {ttls}")

    publish(net, UPDATE_SEED, first + 5_000_000, [
        {"name": "@", "type": "A", "ttl": 2, "data": "192.0.2.31"}])
    seen = []

    def updated():
        r = harness.query(p, key, "A", timeout=5)
        seen.append((harness.rcode(r), tuple(harness.answer_texts(r, "A"))))
        return harness.answer_texts(r, "A") == ["192.0.2.31"]

    # Fresh for 2 s, then answered stale while one background lookup fetches the newer one.
    dhtnet.wait_for(updated, "pkdns answers from the newer packet", timeout=40, step=0.5)
    allowed = {("NOERROR", ("192.0.2.30",)), ("NOERROR", ("192.0.2.31",))}
    expect(set(seen) <= allowed, f"only the old or the new answer meanwhile: {set(seen)}")
    r = harness.query(p, key, "A")
    expect_eq(harness.answer_texts(r, "A"), ["192.0.2.31"], "the newer packet stays")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


def test_libtorrent_signed_packet_resolves(case):
    dhtnet.libtorrent_available()
    ours = dhtnet.Testnet(case, 8)
    theirs = dhtnet.LtNetwork(case, 3, ours.addrs[:3])
    dhtnet.wait_for(lambda: all(theirs.routing_table(i) & set(ours.addrs) for i in range(3)),
                    "libtorrent sessions bootstrapped")
    key = dhtnet.public_key(LT_SEED)
    name = zbase32(key)
    everyone = ours.addrs + theirs.addrs()
    # libtorrent signs its put with the highest seq it finds + 1, so a packet dated one
    # microsecond earlier goes first; libtorrent's own packet then carries the timestamp now.
    now = int(time.time() * 1_000_000)
    status, stored, out = dhtnet.dht_put(",".join(f"{h}:{p}" for h, p in everyone), LT_SEED,
                                         now - 1, pkarr_message((name, 2, "A", "192.0.2.40")))
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    message = pkarr_message((name, 2, "A", "192.0.2.41"),
                            ("_sip._udp." + name, 300, "SRV", "1 5 5060 sip." + name + "."))
    put = theirs.put_mutable(0, LT_SEED, message)
    expect(put is not None and put[1] >= 1, f"libtorrent's put alert: {put}")
    expect_eq(put[0], now, "libtorrent's seq: the timestamp now")

    upstream = harness.ScriptedServer(case, addr="127.0.0.1")
    p = start_pkdns(case, everyone, upstream.port, min_ttl=1)
    seen = set()

    def from_libtorrent():
        r = harness.query(p, name, "A", timeout=5)
        seen.add((harness.rcode(r), tuple(harness.answer_texts(r, "A"))))
        return r if harness.answer_texts(r, "A") == ["192.0.2.41"] else None

    # A node that kept the earlier packet may answer a lookup first; the lookup goes on, and the
    # cache takes the newer packet when it comes and never goes back.
    dhtnet.wait_for(from_libtorrent, f"pkdns answers from libtorrent's packet (seq {now})",
                    timeout=40, step=0.5)
    expect(seen <= {("SERVFAIL", ()), ("NOERROR", ("192.0.2.40",)),
                    ("NOERROR", ("192.0.2.41",))}, f"answers meanwhile: {seen}")
    r = harness.query(p, "_sip._udp." + name, "SRV")
    expect_eq(harness.answer_texts(r, "SRV"), ["1 5 5060 sip." + name + "."],
              "the SRV record libtorrent signed")
    expect_eq(dig(p, name, "A"), ["192.0.2.41"], "dig +short for libtorrent's A")
    expect_eq(dig(p, "_sip._udp." + name.upper(), "SRV"), ["1", "5", "5060", f"sip.{name}."],
              "dig +short for libtorrent's SRV, the key in capitals")
    expect_eq(p.stop(10), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    harness.main(globals())
