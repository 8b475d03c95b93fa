"""Interoperability with libtorrent 2.0 (Debian's python3-libtorrent): a loopback network
mixing libtorrent sessions and our nodes, items stored by one side and read by the other."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dhtnet  # noqa: E402
import harness  # noqa: E402
from harness import expect, expect_eq  # noqa: E402

SEED = bytes(range(32))
OTHER_SEED = bytes(range(100, 132))
OURS = 10
THEIRS = 4


def mixed_network(case):
    dhtnet.libtorrent_available()
    ours = dhtnet.Testnet(case, OURS)
    theirs = dhtnet.LtNetwork(case, THEIRS, ours.addrs[:3])
    # Every libtorrent session must know at least one of ours before lookups start.
    dhtnet.wait_for(lambda: all(theirs.routing_table(i) & set(ours.addrs)
                                for i in range(THEIRS)), "libtorrent sessions bootstrapped")
    return ours, theirs


def everyone(ours, theirs):
    return ",".join(f"{h}:{p}" for h, p in ours.addrs[:3] + theirs.addrs()[:2])


def test_our_nodes_join_libtorrent_routing_tables(case):
    ours, theirs = mixed_network(case)
    want = min(OURS, 6)

    def joined():
        # A session that only bootstrapped has met few nodes; lookups of random targets, as
        # a running node makes, take it to the rest, and those that answer join its table.
        theirs.lookup_random(0)
        return len(theirs.routing_table(0) & set(ours.addrs)) >= want

    dhtnet.wait_for(joined, f"{want} of our nodes in libtorrent's routing table", timeout=30,
                    step=1.0)


def test_libtorrent_reads_item_our_node_put(case):
    ours, theirs = mixed_network(case)
    status, stored, out = dhtnet.dht_put(everyone(ours, theirs), SEED, 1700000000000000,
                                         b"put by pkdns")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    got = theirs.get_mutable(THEIRS - 1, dhtnet.public_key(SEED))
    expect_eq(got and (got[0], got[1]), (1700000000000000, b"put by pkdns"),
              "libtorrent's dht_get_mutable_item")


def test_our_node_reads_item_libtorrent_put(case):
    ours, theirs = mixed_network(case)
    # libtorrent puts with seq = the highest it finds + 1: 1 for a new key.
    put = theirs.put_mutable(0, OTHER_SEED, b"put by libtorrent")
    expect(put is not None and put[1] >= 1, f"libtorrent's put alert: {put}")
    got = dhtnet.dht_get(ours.bootstrap_arg(), dhtnet.public_key(OTHER_SEED))
    expect_eq(got.status, 0, f"dht-get exit status ({got.out})")
    expect_eq(got.first, (put[0], b"put by libtorrent"), "first value")
    expect_eq(got.newest, (put[0], b"put by libtorrent"), "newest value")


def test_our_nodes_alone_serve_libtorrent_gets(case):
    dhtnet.libtorrent_available()
    ours = dhtnet.Testnet(case, OURS)
    # Stored before any libtorrent node exists: only our nodes can hold it.
    status, stored, out = dhtnet.dht_put(ours.bootstrap_arg(), SEED, 77, b"only on ours")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    theirs = dhtnet.LtNetwork(case, 1, ours.addrs[:2])
    dhtnet.wait_for(lambda: theirs.routing_table(0) & set(ours.addrs), "libtorrent bootstrapped")
    got = theirs.get_mutable(0, dhtnet.public_key(SEED))
    expect_eq(got and (got[0], got[1]), (77, b"only on ours"), "libtorrent's get")


def test_libtorrent_put_over_our_value_takes_next_seq(case):
    ours, theirs = mixed_network(case)
    dhtnet.dht_put(everyone(ours, theirs), OTHER_SEED, 41, b"first by pkdns")
    put = theirs.put_mutable(1, OTHER_SEED, b"then by libtorrent")
    expect(put is not None and put[0] == 42, f"libtorrent's put took seq 42: {put}")
    got = dhtnet.dht_get(ours.bootstrap_arg(), dhtnet.public_key(OTHER_SEED))
    expect_eq(got.newest, (42, b"then by libtorrent"), "newest value")


if __name__ == "__main__":
    harness.main(globals())
