"""BEP 32 and BEP 5 peers on a `pkdns-cli testnet --bind6 ::1`: the nodes meet over IPv6 and
fill a routing table per family; a scripted peer on ::1 gets nodes6 for "want", an 18-byte
"ip", and stores itself as a peer with announce_peer; libtorrent sessions that know our nodes
only by their IPv6 addresses join our IPv6 tables."""

import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dhtnet  # noqa: E402
import harness  # noqa: E402
from harness import expect, expect_eq  # noqa: E402

PEER_ID = b"\x42" * 20
INFO_HASH = bytes(range(100, 120))


def need_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise harness.Skip(f"no IPv6 loopback here: {e}")


def testnet6(case, nodes):
    need_ipv6_loopback()
    net = dhtnet.Testnet(case, nodes, extra=["--bind6", "::1"], settle=False)
    net.addrs6 = [(m.group(1), int(m.group(2))) for m in
                  re.finditer(r"^\[(::1)\]:(\d+)$", net.log(), re.MULTILINE)]
    expect_eq(len(net.addrs6), nodes, "IPv6 addresses printed")
    return net


class Peer6:
    """A scripted KRPC peer on ::1."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind(("::1", 0))
        self.sock.settimeout(5.0)
        self.port = self.sock.getsockname()[1]

    def ask(self, addr, method, args, tid=b"t6"):
        msg = {"t": tid, "y": "q", "q": method, "a": {"id": PEER_ID, **args}}
        self.sock.sendto(dhtnet.bencode(msg), addr)
        while True:
            data, src = self.sock.recvfrom(2048)
            reply = dhtnet.bdecode(data)
            if src[1] == addr[1] and reply.get(b"t") == tid:
                return reply

    def close(self):
        self.sock.close()


def test_nodes_meet_over_ipv6_and_fill_both_tables(case):
    net = testnet6(case, 12)
    dhtnet.wait_for(lambda: all(net.node_stats(i)["table6"] >= 4 for i in (0, 6, 11)),
                    "nodes 0, 6 and 11 know 4 others over IPv6", timeout=20, step=0.5)
    dhtnet.wait_for(lambda: net.node_stats(11)["table"] >= 1,
                    "node 11 learnt IPv4 contacts through want", timeout=20, step=0.5)


def test_find_node_over_ipv6_answers_want_with_both_lists(case):
    net = testnet6(case, 8)
    dhtnet.wait_for(lambda: net.node_stats(0)["table6"] >= 4 and net.node_stats(0)["table"] >= 4,
                    "node 0 knows others in both families", timeout=20, step=0.5)
    peer = Peer6()
    try:
        reply = peer.ask(net.addrs6[0], "find_node", {"target": INFO_HASH, "want": ["n4", "n6"]})
        r = reply[b"r"]
        expect(len(r.get(b"nodes6", b"")) >= 38 and len(r[b"nodes6"]) % 38 == 0,
               f"nodes6 in 38-byte entries: {len(r.get(b'nodes6', b''))} bytes")
        expect(len(r.get(b"nodes", b"")) >= 26 and len(r[b"nodes"]) % 26 == 0,
               f"nodes in 26-byte entries: {len(r.get(b'nodes', b''))} bytes")
        for off in range(0, len(r[b"nodes6"]), 38):
            entry = r[b"nodes6"][off + 20:off + 36]
            expect_eq(socket.inet_ntop(socket.AF_INET6, entry), "::1", "IPv6 contact address")
        expect_eq(len(reply[b"ip"]), 18, "BEP 42 ip of an IPv6 requester")
        expect_eq(int.from_bytes(reply[b"ip"][16:], "big"), peer.port, "port in ip")

        plain = peer.ask(net.addrs6[0], "find_node", {"target": INFO_HASH}, tid=b"t7")
        expect(b"nodes6" in plain[b"r"] and b"nodes" not in plain[b"r"],
               "without want: the family of the query")
    finally:
        peer.close()


def test_announce_peer_over_ipv6_is_returned_by_get_peers(case):
    net = testnet6(case, 4)
    peer = Peer6()
    try:
        first = peer.ask(net.addrs6[1], "get_peers", {"info_hash": INFO_HASH})
        token = first[b"r"][b"token"]
        expect(b"values" not in first[b"r"], "no peers before an announce")
        bad = peer.ask(net.addrs6[1], "announce_peer",
                       {"info_hash": INFO_HASH, "port": 1, "token": b"wrong!!!"}, tid=b"t8")
        expect_eq(bad[b"e"][0], 203, "bad token refused with 203")
        ok = peer.ask(net.addrs6[1], "announce_peer",
                      {"info_hash": INFO_HASH, "port": 1, "implied_port": 1, "token": token},
                      tid=b"t9")
        expect(b"r" in ok, f"announce accepted: {ok}")
        again = peer.ask(net.addrs6[1], "get_peers", {"info_hash": INFO_HASH}, tid=b"ta")
        values = again[b"r"].get(b"values", [])
        expect_eq(len(values), 1, "one peer stored")
        expect_eq(socket.inet_ntop(socket.AF_INET6, values[0][:16]), "::1", "peer address")
        expect_eq(int.from_bytes(values[0][16:], "big"), peer.port, "implied port taken")
    finally:
        peer.close()


class LtNetwork6(dhtnet.LtNetwork):
    """libtorrent sessions listening on 127.0.0.1 and ::1, same port."""

    def _settings(self, port, boot):
        settings = super()._settings(port, boot)
        settings["listen_interfaces"] = f"127.0.0.1:{port},[::1]:{port}"
        return settings


def test_libtorrent_sessions_join_our_ipv6_tables(case):
    dhtnet.libtorrent_available()
    ours = 6
    net = testnet6(case, ours)
    dhtnet.wait_for(lambda: net.node_stats(0)["table6"] >= ours - 1,
                    "node 0 knows the testnet over IPv6", timeout=20, step=0.5)
    LtNetwork6(case, 3, [(f"[{h}]", p) for h, p in net.addrs6[:3]])
    # The testnet alone fills at most ours - 1 places: more means libtorrent came over ::1.
    dhtnet.wait_for(lambda: any(net.node_stats(i)["table6"] >= ours for i in range(3)),
                    "a libtorrent session in one of our IPv6 tables", timeout=30, step=0.5)


if __name__ == "__main__":
    harness.main(globals())
