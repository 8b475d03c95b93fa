"""Interoperability with bittorrent-dht 11 (npm, run by node): a loopback network mixing its
nodes and ours, items stored by one side and read by the other."""

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
    dhtnet.js_available()
    ours = dhtnet.Testnet(case, OURS)
    theirs = dhtnet.JsNetwork(case, THEIRS, ours.addrs[:3])
    return ours, theirs


def everyone(ours, theirs):
    return ",".join(f"{h}:{p}" for h, p in ours.addrs[:3] + theirs.addrs[:2])


def test_our_nodes_join_bittorrent_dht_routing_tables(case):
    ours, theirs = mixed_network(case)
    # Ours query theirs while bootstrapping and refreshing; bittorrent-dht adds who queries.
    dhtnet.wait_for(lambda: len(theirs.table(THEIRS - 1) & set(ours.addrs)) >= 3,
                    "3 of our nodes in a bittorrent-dht routing table", timeout=20, step=0.5)


def test_bittorrent_dht_reads_item_our_node_put(case):
    ours, theirs = mixed_network(case)
    status, stored, out = dhtnet.dht_put(everyone(ours, theirs), SEED, 1700000000000000,
                                         b"put by pkdns")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    expect_eq(theirs.get(THEIRS - 1, dhtnet.public_key(SEED)), (1700000000000000, b"put by pkdns"),
              "bittorrent-dht's get")


def test_our_node_reads_item_bittorrent_dht_put(case):
    ours, theirs = mixed_network(case)
    stored = theirs.put(0, OTHER_SEED, 1700000000000001, b"put by bittorrent-dht")
    expect(stored >= 1, f"bittorrent-dht's put stored on {stored} nodes")
    got = dhtnet.dht_get(ours.bootstrap_arg(), dhtnet.public_key(OTHER_SEED))
    expect_eq(got.status, 0, f"dht-get exit status ({got.out})")
    expect_eq(got.newest, (1700000000000001, b"put by bittorrent-dht"), "newest value")


def test_our_nodes_alone_serve_bittorrent_dht_gets(case):
    dhtnet.js_available()
    ours = dhtnet.Testnet(case, OURS)
    # Stored before any bittorrent-dht node exists: only our nodes can hold it.
    status, stored, out = dhtnet.dht_put(ours.bootstrap_arg(), SEED, 77, b"only on ours")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    theirs = dhtnet.JsNetwork(case, 1, ours.addrs[:3])
    expect_eq(theirs.get(0, dhtnet.public_key(SEED)), (77, b"only on ours"), "bittorrent-dht's get")


def test_salted_item_crosses_both_ways(case):
    ours, theirs = mixed_network(case)
    status, stored, out = dhtnet.dht_put(everyone(ours, theirs), SEED, 3, b"salted by pkdns",
                                         salt="s1")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    expect_eq(theirs.get(1, dhtnet.public_key(SEED), salt=b"s1"), (3, b"salted by pkdns"),
              "bittorrent-dht's salted get")
    expect(theirs.put(2, OTHER_SEED, 9, b"salted by js", salt=b"s2") >= 1, "salted put")
    got = dhtnet.dht_get(ours.bootstrap_arg(), dhtnet.public_key(OTHER_SEED), salt="s2")
    expect_eq(got.newest, (9, b"salted by js"), "our salted get")


def test_equal_seq_put_is_refused_by_bittorrent_dht_and_value_kept(case):
    ours, theirs = mixed_network(case)
    dhtnet.dht_put(everyone(ours, theirs), SEED, 10, b"ten")
    # bittorrent-dht answers 302 to an equal seq; our nodes refresh the identical value.
    status, stored, out = dhtnet.dht_put(everyone(ours, theirs), SEED, 10, b"ten")
    expect(status == 0, f"equal put still stored somewhere:\n{out}")
    got = dhtnet.dht_get(ours.bootstrap_arg(), dhtnet.public_key(SEED))
    expect_eq(got.newest, (10, b"ten"), "value kept")


if __name__ == "__main__":
    harness.main(globals())
