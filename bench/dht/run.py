#!/usr/bin/python3
"""DHT lookups on a loopback network: how fast our get finds a published BEP 44 item, and
libtorrent's dht_get_mutable_item on the same network as the reference.

The network is `--nodes` of our nodes, run as `--procs` `pkdns-cli testnet` processes (so a
share of them can be killed at once), optionally with `--lt` of them replaced by libtorrent
sessions in this process. After `--settle` seconds, `--items` items are published with
`pkdns-cli dht-put`; then, for each share of dead nodes (0, 10 %, 30 %: whole testnet
processes killed with SIGKILL, their contacts left in everyone's tables), it measures:

- cold: `--lookups` runs of `pkdns-cli dht-get`, each a fresh node bootstrapping from one
  random live node, one random item each;
- warm: one `pkdns-cli dht-get --warm-ms 5000` process looking all those items up in turn;
- libtorrent: a fresh session bootstrapped from live nodes, warmed for 5 s, getting the same
  items with dht_get_mutable_item (time to its alert, which 2.0 gives when the lookup ends).

Figures: success rate, median and p99 time to the first verified value (ours print it as
`first ... ms=`; for libtorrent the time to the alert), median and p99 time to the end of the
lookup, requests per lookup (ours: `queried=`). Everything binds 127.0.0.1; every process is
stopped at exit; the whole run is bounded by --max-seconds.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import dhtnet  # noqa: E402  (keys, signing and the libtorrent helpers)

RATE = "100000"


class Bench:
    def __init__(self, args):
        self.args = args
        self.cli = os.path.join(args.bin, "pkdns-cli")
        self.out_dir = args.out
        self.procs = []  # (Popen, [addrs], alive)
        self.lt = None
        self.items = []  # (seed, key, seq, value)
        self.deadline = time.monotonic() + args.max_seconds
        self.failures = 0

    def left(self):
        return self.deadline - time.monotonic()

    # ---- the network ----

    def start_testnet(self, index, count, bootstrap):
        log = open(os.path.join(self.out_dir, f"testnet{index}.log"), "wb")
        argv = [self.cli, "testnet", "--nodes", str(count), "--bind", "127.0.0.1"]
        if bootstrap:
            argv += ["--bootstrap", bootstrap]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        addrs = []
        while True:
            line = p.stdout.readline().decode()
            if not line:
                raise RuntimeError(f"testnet {index} exited")
            if line.startswith("testnet ready"):
                break
            host, port = line.strip().rsplit(":", 1)
            addrs.append((host, int(port)))
        self.procs.append([p, addrs, True])

    def start_network(self, ours, lt_count):
        per = ours // self.args.procs
        for i in range(self.args.procs):
            count = per if i < self.args.procs - 1 else ours - per * (self.args.procs - 1)
            boot = ",".join(f"{h}:{p}" for h, p in self.procs[0][1][:3]) if i > 0 else ""
            self.start_testnet(i, count, boot)
        if lt_count > 0:
            self.lt = dhtnet.LtNetwork(_Holder(), lt_count, self.procs[0][1][:3])

    def live_addrs(self):
        return [a for p, addrs, alive in self.procs if alive for a in addrs]

    def kill_share(self, share):
        """Kills whole testnet processes (never the first) until `share` of ours are dead."""
        total = sum(len(a) for _, a, _ in self.procs)
        want_dead = int(round(share * total))
        dead = sum(len(a) for _, a, alive in self.procs if not alive)
        for entry in reversed(self.procs[1:]):
            if dead >= want_dead:
                break
            if entry[2]:
                entry[0].send_signal(signal.SIGKILL)
                entry[0].wait()
                entry[2] = False
                dead += len(entry[1])
        return dead

    def stop(self):
        for p, _, alive in self.procs:
            if alive:
                p.send_signal(signal.SIGTERM)
        for p, _, _ in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.lt is not None:
            self.lt.stop()

    # ---- items and lookups ----

    def run(self, argv, timeout=60, stderr=False):
        done = subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL,
                              timeout=timeout)
        return done.returncode, done.stdout.decode(errors="replace")

    def publish(self):
        stored = []
        for i in range(self.args.items):
            seed = bytes([i + 1]) * 32
            seq = 1700000000000000 + i
            value = b"bench item %d" % i
            boot = "%s:%d" % random.choice(self.live_addrs())
            _, out = self.run([self.cli, "dht-put", "--bootstrap", boot, "--rate-limit", RATE,
                               "--bind", "127.0.0.1:0", "--seed", seed.hex(), "--seq", str(seq),
                               "--value-hex", value.hex()])
            m = re.search(r"stored on (\d+) nodes", out)
            stored.append(int(m.group(1)) if m else 0)
            self.items.append((seed, dhtnet.public_key(seed), seq, value))
        return stored

    @staticmethod
    def parse_gets(out):
        """Per lookup: (found, first_ms or None, done_ms, queried)."""
        results, first = [], None
        for line in out.splitlines():
            m = re.match(r"first seq=\S+ \S+ from=\S+ ms=(\d+)", line)
            if m:
                first = int(m.group(1))
                continue
            m = re.search(r"queried=(\d+) responded=\d+ bad_values=\d+ ms=(\d+)", line)
            if m:
                results.append((line.startswith("newest"), first, int(m.group(2)),
                                int(m.group(1))))
                first = None
        return results

    def cold(self):
        results = []
        for _ in range(self.args.lookups):
            if self.left() < 30:
                break
            item = random.choice(self.items)
            boot = "%s:%d" % random.choice(self.live_addrs())
            argv = [self.cli, "dht-get", "--bootstrap", boot, "--rate-limit", RATE, "--bind",
                    "127.0.0.1:0", "--key", item[1].hex(), "--timeout-ms", "60000", "-v"]
            _, out = self.run(argv, timeout=70, stderr=True)
            got = self.parse_gets(out) or [(False, None, 60000, None)]  # no end: a failure
            if not got[0][0]:  # kept for a look: what the failed lookup saw
                self.failures += 1
                with open(os.path.join(self.out_dir, f"failed-{self.failures}.txt"), "w") as f:
                    f.write("$ " + " ".join(argv) + "\n" + out)
            results += got
        return results

    def warm(self):
        keys = [random.choice(self.items)[1] for _ in range(self.args.lookups)]
        boot = ",".join("%s:%d" % a for a in random.sample(self.live_addrs(), 3))
        argv = [self.cli, "dht-get", "--bootstrap", boot, "--rate-limit", RATE, "--bind",
                "127.0.0.1:0", "--warm-ms", "5000", "--timeout-ms", "600000"]
        for k in keys:
            argv += ["--key", k.hex()]
        _, out = self.run(argv, timeout=max(60, self.left() - 20))
        return self.parse_gets(out)

    def libtorrent(self):
        import libtorrent as lt
        boot = ",".join("%s:%d" % a for a in random.sample(self.live_addrs(), 3))
        port = dhtnet.free_udp_ports(1)[0]
        net = dhtnet.LtNetwork.__new__(dhtnet.LtNetwork)
        net.lt = lt
        net.ports = [port]
        net.sessions = [lt.session(net._settings(port, boot))]
        time.sleep(5)
        results = []
        # Gets of distinct items run together (their end waits out 15 s timeouts when nodes
        # are dead), ten at a time.
        while len(results) < self.args.lookups and self.left() > 60:
            batch = random.sample(self.items, min(10, len(self.items),
                                                  self.args.lookups - len(results)))
            results += self.libtorrent_batch(net, batch)
        net.stop()
        return results


    @staticmethod
    def libtorrent_gets_sent(net):
        """libtorrent's own count of get requests it has sent (session stats)."""
        ses = net.sessions[0]
        ses.post_session_stats()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ses.wait_for_alert(100)
            for a in ses.pop_alerts():
                if isinstance(a, net.lt.session_stats_alert):
                    return a.values["dht.dht_get_out"]
        return None

    @staticmethod
    def libtorrent_batch(net, batch):
        ses, started, done = net.sessions[0], {}, {}
        sent_before = Bench.libtorrent_gets_sent(net)
        for item in batch:
            started[item[1]] = time.monotonic()
            ses.dht_get_mutable_item(item[1], b"")
        deadline = time.monotonic() + 40
        while len(done) < len(batch) and time.monotonic() < deadline:
            ses.wait_for_alert(100)
            for a in ses.pop_alerts():
                key = bytes(a.key) if isinstance(a, net.lt.dht_mutable_item_alert) else None
                if key in started and key not in done and a.authoritative:
                    done[key] = (a.seq, int((time.monotonic() - started[key]) * 1000))
        # The gets of a batch run together, so only their mean count of requests is known.
        sent_after = Bench.libtorrent_gets_sent(net)
        per_lookup = None
        if sent_before is not None and sent_after is not None:
            per_lookup = (sent_after - sent_before) / len(batch)
        results = []
        for item in batch:
            seq, ms = done.get(item[1], (None, 40000))
            found = seq == item[2]
            results.append((found, ms if found else None, ms, per_lookup))
        return results


class _Holder:
    """Stands in for a test case: LtNetwork registers itself for cleanup here."""

    def __init__(self):
        self.servers = []


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summarise(results):
    found = [r for r in results if r[0]]
    firsts = [r[1] for r in found if r[1] is not None]
    dones = [r[2] for r in results]
    queried = [r[3] for r in results if r[3] is not None]
    return {
        "lookups": len(results),
        "success": len(found) / len(results) if results else None,
        "first_ms_p50": percentile(firsts, 50),
        "first_ms_p99": percentile(firsts, 99),
        "done_ms_p50": percentile(dones, 50),
        "done_ms_p99": percentile(dones, 99),
        "requests_p50": percentile(queried, 50),
        "requests_mean": round(sum(queried) / len(queried), 1) if queried else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "bin"))
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--procs", type=int, default=10)
    ap.add_argument("--lt", type=int, default=0, help="libtorrent sessions among the nodes")
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--lookups", type=int, default=40)
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--max-seconds", type=float, default=900.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dead", default="0,0.1,0.3",
                    help="shares of our nodes dead, in turn (comma-separated, cumulative)")
    ap.add_argument("--no-libtorrent", action="store_true",
                    help="skip libtorrent's gets (for long runs of ours alone)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    random.seed(args.seed)
    if args.out is None:
        args.out = os.path.join(REPO, "bench", "out", time.strftime("dht-%Y%m%d-%H%M%S"))
    os.makedirs(args.out, exist_ok=True)

    bench = Bench(args)
    report = {"command": " ".join(sys.argv), "nodes": args.nodes, "lt": args.lt, "rows": []}
    try:
        bench.start_network(args.nodes - args.lt, args.lt)
        time.sleep(args.settle)
        report["stored"] = bench.publish()
        for share in [float(x) for x in args.dead.split(",")]:
            dead = bench.kill_share(share)
            row = {"dead_share": share, "dead": dead}
            row["cold"] = summarise(bench.cold())
            row["warm"] = summarise(bench.warm())
            row["libtorrent"] = summarise([] if args.no_libtorrent else bench.libtorrent())
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    finally:
        bench.stop()
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(report, f, indent=1)
    write_summary(report, args.out)


def write_summary(report, out_dir):
    lines = [f"`{report['command']}`", "",
             "| dead | who | lookups | success | first p50 | first p99 | end p50 | end p99 "
             "| requests p50 | requests mean |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        for who in ("cold", "warm", "libtorrent"):
            s = row[who]
            cells = [f"{int(row['dead_share'] * 100)} %", who, s["lookups"],
                     f"{s['success'] * 100:.1f} %" if s["success"] is not None else "-"]
            for k in ("first_ms_p50", "first_ms_p99", "done_ms_p50", "done_ms_p99"):
                cells.append(f"{s[k]} ms" if s[k] is not None else "-")
            cells += [s["requests_p50"] if s["requests_p50"] is not None else "-",
                      s["requests_mean"] if s["requests_mean"] is not None else "-"]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
