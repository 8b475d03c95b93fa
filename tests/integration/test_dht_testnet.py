"""pkdns-cli testnet, dht-put and dht-get among our own nodes on loopback."""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dhtnet  # noqa: E402
import harness  # noqa: E402
from harness import expect, expect_eq  # noqa: E402

SEED = bytes(range(32))


def test_testnet_prints_one_address_per_node_then_ready(case):
    net = dhtnet.Testnet(case, 12)
    expect_eq(len(set(net.addrs)), 12, "distinct node addresses")
    expect(all(h == "127.0.0.1" for h, _ in net.addrs), f"bound to loopback: {net.addrs}")


def test_testnet_binds_consecutive_ports_from_base(case):
    base = dhtnet.free_udp_ports(1)[0]
    if not all(harness.port_is_free("127.0.0.1", base + i) for i in range(4)):
        raise harness.Skip(f"ports {base}..{base + 3} are not all free")
    net = dhtnet.Testnet(case, 4, extra=["--port", base])
    expect_eq([p for _, p in net.addrs], [base + i for i in range(4)], "ports")


def test_testnet_nodes_fill_their_routing_tables(case):
    net = dhtnet.Testnet(case, 16)
    dhtnet.wait_for(lambda: all(net.node_stats(i)["table"] >= 8 for i in (0, 7, 15)),
                    "nodes 0, 7 and 15 know 8 others", timeout=20, step=0.5)


def test_put_by_our_node_is_read_back_by_our_node(case):
    net = dhtnet.Testnet(case, 16)
    status, stored, out = dhtnet.dht_put(net.bootstrap_arg(), SEED, 42, b"hello testnet")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    got = dhtnet.dht_get(f"{net.addrs[-1][0]}:{net.addrs[-1][1]}", dhtnet.public_key(SEED))
    expect_eq(got.status, 0, f"dht-get exit status ({got.out})")
    expect_eq(got.first, (42, b"hello testnet"), "first value")
    expect_eq(got.newest, (42, b"hello testnet"), "newest value")


def test_put_with_nodes_12_stores_on_more_than_8_nodes(case):
    net = dhtnet.Testnet(case, 20)
    # Nodes hand out only contacts that have answered them: wait until they know enough.
    dhtnet.wait_for(lambda: all(net.node_stats(i)["good"] >= 12 for i in (0, 10, 19)),
                    "nodes 0, 10 and 19 know 12 good nodes", timeout=30, step=0.5)
    status, stored, out = dhtnet.dht_put(net.bootstrap_arg(), SEED, 7, b"twelve", want=12,
                                         extra=["--nodes", "12"])
    # 12 when the put met 12 nodes, which a testnet this young does not always give; more than
    # the default 8 shows the setting took effect (the unit tests check exactly 12).
    expect(status == 0 and 8 < stored <= 12, f"dht-put --nodes 12 stored on {stored} nodes:\n{out}")
    got = dhtnet.dht_get(f"{net.addrs[-1][0]}:{net.addrs[-1][1]}", dhtnet.public_key(SEED))
    expect_eq(got.newest, (7, b"twelve"), f"newest value ({got.out})")


def test_newer_seq_replaces_older_and_lower_seq_is_refused_with_302(case):
    net = dhtnet.Testnet(case, 12)
    dhtnet.dht_put(net.bootstrap_arg(), SEED, 5, b"old")
    status, stored, _ = dhtnet.dht_put(net.bootstrap_arg(), SEED, 6, b"new")
    expect(status == 0 and stored >= 4, f"newer put stored on {stored} nodes")
    status, stored, out = dhtnet.dht_put(net.bootstrap_arg(), SEED, 4, b"older")
    expect(status != 0 and stored == 0 and "302" in out, f"lower seq refused with 302:\n{out}")
    got = dhtnet.dht_get(net.bootstrap_arg(), dhtnet.public_key(SEED))
    expect_eq(got.newest, (6, b"new"), "newest value")


def test_salted_items_are_separate_from_unsalted(case):
    net = dhtnet.Testnet(case, 12)
    dhtnet.dht_put(net.bootstrap_arg(), SEED, 1, b"plain")
    dhtnet.dht_put(net.bootstrap_arg(), SEED, 1, b"salted", salt="pepper")
    key = dhtnet.public_key(SEED)
    expect_eq(dhtnet.dht_get(net.bootstrap_arg(), key, salt="pepper").newest, (1, b"salted"),
              "salted value")
    expect_eq(dhtnet.dht_get(net.bootstrap_arg(), key).newest, (1, b"plain"), "unsalted value")


def test_get_of_unknown_key_reports_not_found(case):
    net = dhtnet.Testnet(case, 8)
    got = dhtnet.dht_get(net.bootstrap_arg(), dhtnet.public_key(bytes(32)))
    expect_eq(got.status, 1, "exit status")
    expect("not found" in got.out, f"says not found:\n{got.out}")


def test_testnet_stops_cleanly_on_sigterm_and_sigint(case):
    for sig in (signal.SIGTERM, signal.SIGINT):
        net = dhtnet.Testnet(case, 6)
        net.stopped_by_test = True
        net.send_signal(sig)
        expect_eq(net.wait_exit(10), 0, f"exit status after {sig.name}")
        net.wait_log(r"\[testnet\] stopped")


def test_restart_with_state_dir_starts_warm(case):
    state = case.path("state")
    os.mkdir(state)
    net = dhtnet.Testnet(case, 6, extra=["--state-dir", state])
    dhtnet.wait_for(lambda: net.node_stats(5)["good"] >= 3, "node 5 knows 3 good nodes")
    expect_eq(net.stop(), 0, "exit status")
    expect(os.path.getsize(os.path.join(state, "node-5.state")) > 34, "state file written")
    again = dhtnet.Testnet(case, 6, extra=["--state-dir", state])
    line = again.wait_log(r"node-5\.state: \d+ saved nodes")
    expect(int(re.search(r"(\d+) saved nodes", line).group(1)) >= 3, line)


def test_cli_usage_errors_exit_2(case):
    put = ["dht-put", "--seed", "00" * 32, "--seq", "1", "--value-hex", "00"]
    for args in (["testnet"], ["testnet", "--nodes", "0"], ["dht-get"], ["dht-put", "--seed", "00"],
                 ["dht-get", "--key", "zz"], ["no-such-command"], put + ["--nodes", "0"],
                 put + ["--nodes", "33"], ["dht-get", "--key", "00" * 32, "--nodes", "12"]):
        status, out = dhtnet.run_cli(args)
        expect_eq(status, 2, f"exit status of pkdns-cli {' '.join(args)} ({out.strip()})")


def test_cli_help_names_every_command(case):
    status, out = dhtnet.run_cli(["--help"])
    expect_eq(status, 0, "exit status")
    for command in ("testnet", "dht-put", "dht-get"):
        expect(command in out, f"--help names {command}")
    for command in ("testnet", "dht-put", "dht-get"):
        status, out = dhtnet.run_cli([command, "--help"])
        expect(status == 0 and "Usage: pkdns-cli" in out, f"{command} --help")


if __name__ == "__main__":
    harness.main(globals())
