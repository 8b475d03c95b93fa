#!/usr/bin/env python3
"""pkdns: cached pkarr answers beside the forwarder's cached answers, cold resolution on a
loopback DHT testnet, and resident memory with 10k packets cached; one run measures all three.

The run, in order:

  network   `pkdns-cli testnet --nodes N` (one process, core 0), left --settle seconds.
  publish   --keys pkarr keys, each a packet with one A record at the key's apex (TTL one
            day, so that nothing is refreshed during the run). pkarrnet.Publisher asks every
            node once for its ID and a write token, then puts each packet on the 8 nodes
            closest to its target: where `pkdns-cli publish` would store it, without a process
            and an iterative lookup per key (10k of those would take many minutes here).
  cold      a fresh pkdns (empty cache, empty state directory, bootstrapped from 8 random
            testnet nodes and left --warm-s seconds to fill its table) is asked the first
            --cold-keys keys once each, --cold-concurrency in flight, from this script. Each
            query's time to its answer, its rcode and the address in it are recorded.
  fill      the other keys the same way (--fill-concurrency in flight), then once more those
            that did not get their address, so that all --keys are cached. pkdns's VmRSS
            and VmHWM are read before the cold run, after it and after the fill.
  cached    --rounds rounds; in each, dnsperf runs --duration seconds against pkdns asking
            all --keys names (every answer from its packet cache), and the same against
            pkdns-forwarder asking as many ordinary names it has cached (the yardstick; its
            upstream is a dnsmasq answering every name itself, used only to warm its cache).
            The order turns per round. dnsperf runs on core 0; the daemons and the upstream
            sit on core 1, where only the one under load has work. With --generator dnsload
            the cached runs use bench/tools/dnsload instead, which polls its sockets rather
            than sleeping, so that replies cost the daemon no wakeups: the daemon's own
            ceiling on one core.
  compare   with --compare DIR, the pkdns of another build (the committed code, say) is
            started after the cold run, filled with the same keys and measured in the same
            rounds, for before/after figures.
  profile   with --perf, one more cached run of pkdns under `perf record -g`.

For every cached run the script records dnsperf's figures, the CPU the daemon spent in
dnsperf's sending window per answered query, how busy each core was (softirq and steal apart),
what other processes took, and drops at the daemon's socket. A run where dnsperf's core was
full while the daemon's had room is marked *generator-bound*; one where other processes or
steal took 5% or more of the machine, *disturbed*.

dnsperf, the daemons, the upstream and the testnet run at nice -10 (--nice). Everything binds
127.0.0.0/8; pkdns bootstraps only from the testnet, never from the public DHT. Every load run
is bounded by dnsperf's -l and a subprocess timeout, every resolution batch by a deadline, and
the whole run by --max-seconds. Every process started here is stopped on exit, also on error
or Ctrl-C. Raw outputs go to bench/out/pkdns-<time>/.
"""

import argparse
import json
import os
import platform
import random
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(os.path.dirname(BENCH_DIR))
sys.path.insert(0, os.path.dirname(BENCH_DIR))
sys.path.insert(0, BENCH_DIR)

from benchlib import (CLK_TCK, BenchError, Procs, core_stat, dns_query,  # noqa: E402
                      fmt, free_port, loadavg, med, niced, percentile, proc_cpu_ticks,
                      proc_status_kib, run_dnsperf, run_load, udp_rcvbuf_errors,
                      udp_socket_drops, verdict)
import pkarrnet  # noqa: E402

DAEMON_ADDR = "127.0.0.1"
UPSTREAM_ADDR = "127.0.0.2"
UPSTREAM_ANSWER = "192.0.2.1"  # RFC 5737 documentation address
PACKET_TTL_S = 86400           # the published records' TTL: no refresh during a run
BOOTSTRAP_NODES = 8            # testnet nodes pkdns bootstraps from

# The targets.
TARGET_CACHED_QPS = 150000
TARGET_COLD_MEDIAN_MS = 100
TARGET_RSS_MIB = 32

# RFC 1035 4.1.1 / 3.2.4.
DNS_FLAG_RD = 0x0100
DNS_TYPE_A = 1
DNS_TYPE_TXT = 16
DNS_CLASS_IN = 1
DNS_CLASS_CH = 3
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


# ---------------------------------------------------------------- DNS

def wait_answering(addr, port, p, timeout_s=5.0):
    """Polls until the server answers id.server CH TXT with the query's ID, or fails."""
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise BenchError(f"{shlex.join(p.args)} exited with status {p.returncode}")
            qid, msg = dns_query("id.server", DNS_TYPE_TXT, DNS_CLASS_CH)
            s.sendto(msg, (addr, port))
            try:
                reply, _ = s.recvfrom(4096)
            except socket.timeout:
                continue
            if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == qid:
                return
    raise BenchError(f"{addr}:{port} did not answer id.server within {timeout_s} s")


def a_query(qid, name):
    return (struct.pack(">HHHHHH", qid, DNS_FLAG_RD, 1, 0, 0, 0) + pkarrnet.wire_name(name)
            + struct.pack(">HH", DNS_TYPE_A, DNS_CLASS_IN))


def read_reply(reply):
    """(id, rcode, answer count, last 4 bytes) of a reply; the query carries no OPT, so an
    answer's last record is its A record."""
    qid, flags, _qd, ancount = struct.unpack(">HHHH", reply[:8])
    return qid, flags & 0x0F, ancount, reply[-4:]


class Resolver:
    """Asks pkdns for keys over UDP with a bounded number in flight, timing every query."""

    def __init__(self, port, concurrency, timeout_s):
        self.port = port
        self.concurrency = concurrency
        self.timeout_s = timeout_s

    def run(self, keys, deadline):
        """One A query per key. Returns one record per key: (index, ms or None, outcome),
        outcome "ok" (NOERROR with the key's address), an rcode name, "wrong answer",
        "timeout" (no reply within timeout_s) or "not sent" (the deadline came first)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((DAEMON_ADDR, 0))
        sock.setblocking(False)
        queue, inflight, results = list(reversed(keys)), {}, []
        qid = random.randrange(0x10000)
        try:
            while (queue or inflight) and time.monotonic() < deadline:
                while queue and len(inflight) < self.concurrency:
                    qid = (qid + 1) & 0xFFFF
                    while qid in inflight:
                        qid = (qid + 1) & 0xFFFF
                    k = queue.pop()
                    inflight[qid] = (k, time.perf_counter())
                    sock.sendto(a_query(qid, k.name), (DAEMON_ADDR, self.port))
                if select.select([sock], [], [], 0.005)[0]:
                    self.receive(sock, inflight, results)
                now = time.perf_counter()
                for q in [q for q, (_, t0) in inflight.items() if now - t0 > self.timeout_s]:
                    results.append((inflight.pop(q)[0].index, None, "timeout"))
        finally:
            sock.close()
        results += [(k.index, None, "timeout") for k, _ in inflight.values()]
        results += [(k.index, None, "not sent") for k in queue]
        return results

    @staticmethod
    def receive(sock, inflight, results):
        while True:
            try:
                reply = sock.recv(4096)
            except BlockingIOError:
                return
            now = time.perf_counter()
            if len(reply) < 12:
                continue
            qid, rcode, ancount, tail = read_reply(reply)
            if qid not in inflight:
                continue
            k, t0 = inflight.pop(qid)
            if rcode != 0:
                outcome = RCODES.get(rcode, f"rcode {rcode}")
            elif ancount >= 1 and tail == k.value[-4:]:
                outcome = "ok"
            else:
                outcome = "wrong answer"
            results.append((k.index, (now - t0) * 1000, outcome))


def summarise_batch(label, results, seconds, concurrency):
    ok = [ms for _, ms, o in results if o == "ok"]
    answered = [ms for _, ms, _ in results if ms is not None]
    outcomes = {}
    for _, _, o in results:
        outcomes[o] = outcomes.get(o, 0) + 1
    return {
        "label": label, "queries": len(results), "concurrency": concurrency,
        "seconds": seconds, "outcomes": outcomes,
        "ok": len(ok), "servfail": outcomes.get("SERVFAIL", 0),
        "timeouts": outcomes.get("timeout", 0) + outcomes.get("not sent", 0),
        "ms_p50": percentile(answered, 50), "ms_p90": percentile(answered, 90),
        "ms_p99": percentile(answered, 99), "ms_max": max(answered) if answered else None,
        "ok_ms_p50": percentile(ok, 50), "ok_ms_p99": percentile(ok, 99),
    }


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args, outdir, procs):
        self.args = args
        self.outdir = outdir
        self.procs = procs
        self.started = time.monotonic()
        self.deadline = self.started + args.max_seconds
        self.notes = []
        self.runs = []
        self.batches = []
        self.rss = []
        self.cmds = {}
        self.testnet = None
        self.testnet_addrs = []
        self.keys = []
        self.publish_report = {}
        self.daemons = {}  # "pkdns", "compare", "forwarder": (Popen, port)
        self.upstream = None
        self.profile = None

    def left(self):
        return self.deadline - time.monotonic()

    def check_budget(self, need_s):
        if need_s > self.left():
            raise BenchError(f"time budget of {self.args.max_seconds} s would be exceeded "
                             f"({self.args.max_seconds - self.left():.0f} s spent, next step "
                             f"needs {need_s:.0f} s)")

    def pinned(self, core, argv):
        return niced(self.args, ["taskset", "-c", str(core)] + argv)

    # ---- the network and the keys

    def start_testnet(self):
        a = self.args
        argv = self.pinned(a.gen_core, [os.path.join(a.bin, "pkdns-cli"), "testnet",
                                        "--nodes", str(a.nodes), "--bind", DAEMON_ADDR])
        self.cmds["testnet"] = shlex.join(argv)
        self.testnet = self.procs.start(argv, os.path.join(self.outdir, "testnet.log"),
                                        stdout=subprocess.PIPE)
        out, ready_by = b"", time.monotonic() + 60
        while b"testnet ready" not in out:
            if time.monotonic() > ready_by or self.testnet.poll() is not None:
                raise BenchError("the testnet did not get ready, see testnet.log")
            if select.select([self.testnet.stdout], [], [], 0.5)[0]:
                chunk = os.read(self.testnet.stdout.fileno(), 65536)
                if not chunk:
                    raise BenchError("the testnet closed its output, see testnet.log")
                out += chunk
        for line in out.decode().splitlines():
            if re.fullmatch(r"[\d.]+:\d+", line.strip()):
                host, port = line.strip().rsplit(":", 1)
                self.testnet_addrs.append((host, int(port)))
        print(f"testnet: {len(self.testnet_addrs)} nodes; settling {a.settle} s", flush=True)
        time.sleep(a.settle)

    def publish(self):
        a = self.args
        t0 = time.monotonic()
        self.keys = pkarrnet.make_keys(a.keys, PACKET_TTL_S, b"%d" % a.seed)
        signed_s = time.monotonic() - t0
        pub = pkarrnet.Publisher(self.testnet_addrs)
        try:
            learned = pub.learn_nodes(time.monotonic() + 30)
            t1 = time.monotonic()
            stored = pub.publish(self.keys, min(self.deadline, time.monotonic() + 300))
            put_s = time.monotonic() - t1
        finally:
            pub.close()
        self.publish_report = {
            "keys": len(self.keys), "sign_s": signed_s, "nodes_answered": learned,
            "put_s": put_s, "stored_min": min(stored), "stored_median": med(stored),
            "stored_none": sum(1 for s in stored if s == 0), **pub.stats}
        print(f"published {len(self.keys)} keys in {put_s:.1f} s (signing {signed_s:.1f} s): "
              f"stored on {min(stored)}–{max(stored)} nodes, {pub.stats}", flush=True)
        if min(stored) == 0:
            raise BenchError(f"{self.publish_report['stored_none']} keys stored nowhere")

    # ---- the daemons

    def start_upstream(self):
        a = self.args
        port = free_port([UPSTREAM_ADDR])
        argv = self.pinned(a.daemon_core, [
            a.dnsmasq, "--keep-in-foreground", "--no-resolv", "--no-hosts",
            "--conf-file=/dev/null", "--bind-interfaces", f"--listen-address={UPSTREAM_ADDR}",
            f"--port={port}", f"--address=/#/{UPSTREAM_ANSWER}",
            # Without --local-ttl these answers carry TTL 0 and nothing would be cached.
            "--local-ttl=3600", "--cache-size=100000", "--pid-file=", "--user=root",
            "--log-facility=/dev/null"])
        self.cmds["upstream"] = shlex.join(argv)
        p = self.procs.start(argv, os.path.join(self.outdir, "upstream.log"))
        self.upstream = (p, port)
        deadline = time.monotonic() + 5
        while udp_socket_drops(UPSTREAM_ADDR, port) is None:
            if time.monotonic() > deadline or p.poll() is not None:
                raise BenchError("the upstream dnsmasq did not start, see upstream.log")
            time.sleep(0.05)

    def start_forwarder(self):
        a = self.args
        port = free_port([DAEMON_ADDR])
        argv = self.pinned(a.daemon_core, [
            os.path.join(a.bin, "pkdns-forwarder"), f"--port={port}",
            f"--listen-address={DAEMON_ADDR}", "--no-resolv",
            f"--server={UPSTREAM_ADDR}#{self.upstream[1]}", "--cache-size=20000"])
        self.cmds["forwarder"] = shlex.join(argv)
        p = self.procs.start(argv, os.path.join(self.outdir, "forwarder.log"))
        wait_answering(DAEMON_ADDR, port, p)
        self.daemons["forwarder"] = (p, port)

    def pkdns_config(self, who, port):
        boot = random.sample(self.testnet_addrs, min(BOOTSTRAP_NODES, len(self.testnet_addrs)))
        state_dir = os.path.join(self.outdir, f"{who}-state")
        os.makedirs(state_dir, exist_ok=True)
        path = os.path.join(self.outdir, f"{who}.toml")
        with open(path, "w") as f:
            f.write(f"""# written by bench/pkdns/run.py
[general]
socket = "{DAEMON_ADDR}:{port}"
forward = "{UPSTREAM_ADDR}:{self.upstream[1]}"

[dns]
# One client (this script, then dnsperf) asks for everything: no per-client limits.
query_rate_limit = 0

[dht]
dht_query_rate_limit = 0
# Every testnet node is 127.0.0.1: the node's own per-IP limits (3 queries a second sent to
# one IP) would hold each lookup to seconds. As pkdns-cli testnet does for its nodes.
node_rate_limit = 100000
bootstrap = [{", ".join(f'"{h}:{p}"' for h, p in boot)}]
state_dir = "{state_dir}"
""")
        return path

    def start_pkdns(self, who, bin_dir):
        a = self.args
        port = free_port([DAEMON_ADDR])
        argv = self.pinned(a.daemon_core, [os.path.join(bin_dir, "pkdns"), "-c",
                                           self.pkdns_config(who, port)])
        self.cmds[who] = shlex.join(argv)
        p = self.procs.start(argv, os.path.join(self.outdir, f"{who}.log"))
        wait_answering(DAEMON_ADDR, port, p)
        self.daemons[who] = (p, port)

    def read_rss(self, who, p, label):
        entry = {"daemon": who, "when": label, "rss_kib": proc_status_kib(p.pid, "VmRSS"),
                 "hwm_kib": proc_status_kib(p.pid, "VmHWM")}
        self.rss.append(entry)
        print(f"  {who} RSS {label}: {entry['rss_kib'] / 1024:.1f} MiB "
              f"(peak {entry['hwm_kib'] / 1024:.1f})", flush=True)

    # ---- cold resolution and filling the cache

    def resolve(self, label, keys, concurrency, who="pkdns"):
        a = self.args
        need = 5 + len(keys) * a.client_timeout / concurrency
        self.check_budget(min(need, 120))
        resolver = Resolver(self.daemons[who][1], concurrency, a.client_timeout)
        t0 = time.monotonic()
        results = resolver.run(keys, min(self.deadline - 30, t0 + max(60, need)))
        batch = summarise_batch(label, results, time.monotonic() - t0, concurrency)
        self.batches.append(batch)
        with open(os.path.join(self.outdir, f"{label}.csv"), "w") as f:
            f.write("key_index,key,ms,outcome\n")
            for index, ms, outcome in sorted(results):
                f.write(f"{index},{self.keys[index].name},"
                        f"{'' if ms is None else f'{ms:.3f}'},{outcome}\n")
        print(f"  {label}: {batch['queries']} keys, {concurrency} in flight, "
              f"{batch['seconds']:.1f} s: {batch['outcomes']}; median {fmt(batch['ms_p50'], 1)} "
              f"ms, p99 {fmt(batch['ms_p99'], 1)} ms", flush=True)
        return results

    def cold_and_fill(self):
        a = self.args
        p = self.daemons["pkdns"][0]
        time.sleep(a.warm_s)
        self.read_rss("pkdns", p, "started, DHT joined, cache empty")
        cold = self.keys[:a.cold_keys]
        results = self.resolve("cold", cold, a.cold_concurrency)
        self.read_rss("pkdns", p, f"{len(cold)} keys cached")
        results += self.resolve("fill", self.keys[a.cold_keys:], a.fill_concurrency)
        failed = [self.keys[i] for i, _, outcome in results if outcome != "ok"]
        if failed:
            self.resolve("retry", failed, a.cold_concurrency)
        self.read_rss("pkdns", p, f"{len(self.keys)} keys cached")

    def fill_compare(self):
        """Caches every key in the --compare pkdns (started after the cold run, so that the
        cold figures are pkdns's alone)."""
        a = self.args
        self.start_pkdns("compare", a.compare)
        time.sleep(a.warm_s)
        results = self.resolve("compare-fill", self.keys, a.fill_concurrency, "compare")
        failed = [self.keys[i] for i, _, outcome in results if outcome != "ok"]
        if failed:
            self.resolve("compare-retry", failed, a.cold_concurrency, "compare")
        self.read_rss("compare", self.daemons["compare"][0], f"{len(self.keys)} keys cached")

    # ---- cached answers under load

    def write_query_files(self):
        qdir = os.path.join(self.outdir, "queries")
        os.makedirs(qdir, exist_ok=True)
        pk_file = os.path.join(qdir, "pkarr.txt")
        with open(pk_file, "w") as f:
            f.write("".join(f"{k.name}. A\n" for k in self.keys))
        fw_file = os.path.join(qdir, "names.txt")
        with open(fw_file, "w") as f:
            f.write("".join(f"name{i:05d}.bench.test. A\n" for i in range(len(self.keys))))
        return {"pkdns": pk_file, "compare": pk_file, "forwarder": fw_file}

    def warm_forwarder(self, datafile):
        p, port = self.daemons["forwarder"]
        warm = run_dnsperf(self.args, DAEMON_ADDR, port, datafile,
                           os.path.join(self.outdir, "forwarder-warmup.dnsperf.txt"),
                           maxruns=1, outstanding=50)
        if warm["lost"] or set(warm["rcodes"]) - {"NOERROR"}:
            self.notes.append(f"forwarder warm-up: {warm['lost']} lost, rcodes "
                              f"{warm['rcodes']}; those names were cached during the runs")
        time.sleep(0.2)
        self.read_rss("forwarder", p, f"{len(self.keys)} names cached")

    def our_pids(self):
        return [p.pid for p in self.procs.running if p.poll() is None]

    def snapshot(self, daemon_pid, port, dnsperf_pid):
        a = self.args
        ours = 0
        for pid in self.our_pids() + [dnsperf_pid, os.getpid()]:
            try:
                ours += proc_cpu_ticks(pid)
            except OSError:
                pass
        return {"daemon": proc_cpu_ticks(daemon_pid), "dnsperf": proc_cpu_ticks(dnsperf_pid),
                "ours": ours, "gen": core_stat(a.gen_core),
                "core": core_stat(a.daemon_core),
                "drops": udp_rcvbuf_errors(), "daemon_drops": udp_socket_drops(DAEMON_ADDR, port)}

    def measured(self, who, rnd, datafile, label=None):
        a = self.args
        self.check_budget(a.duration + a.timeout + 15)
        p, port = self.daemons[who]
        label = label or f"r{rnd}-{who}"
        r = run_load(a, DAEMON_ADDR, port, datafile,
                     os.path.join(self.outdir, f"{label}.{a.generator}.txt"), limit_s=a.duration,
                     sample=lambda pid: self.snapshot(p.pid, port, pid))
        before, after, seconds = r.pop("window")

        def d(key, field=None):
            if field:
                return after[key][field] - before[key][field]
            if after[key] is None or before[key] is None:
                return None
            return after[key] - before[key]

        span = seconds * CLK_TCK
        answered = r["qps"] * min(seconds, r["runtime_s"])
        busy = d("gen", "busy") + d("core", "busy")
        softirq = d("gen", "softirq") + d("core", "softirq")
        r.update({
            "round": rnd, "daemon": who, "window_s": seconds,
            "daemon_cpu_s": d("daemon") / CLK_TCK,
            "cpu_us_per_query": 1e6 * d("daemon") / CLK_TCK / answered if answered else None,
            "not_noerror": sum(n for c, n in r["rcodes"].items() if c != "NOERROR"),
            "daemon_core_busy": d("core", "busy") / span,
            "daemon_core_softirq": d("core", "softirq") / span,
            "gen_core_busy": d("gen", "busy") / span,
            "gen_cpu": d("dnsperf") / span,
            "others": max(0, busy - softirq - d("ours")) / (2 * span),
            "steal": (d("gen", "steal") + d("core", "steal")) / (2 * span),
            "rcvbuf_drops": d("drops"), "daemon_drops": d("daemon_drops"),
        })
        r["generator_bound"] = r["gen_core_busy"] >= 0.9 and r["daemon_core_busy"] < 0.9
        r["disturbed"] = r["others"] + r["steal"] >= 0.05
        if label.startswith("r"):
            self.runs.append(r)
        print(f"  r{rnd} {who:9} {r['qps']:8.0f} qps  lost {r['lost']:5}  not NOERROR "
              f"{r['not_noerror']:5}  {r['cpu_us_per_query'] or 0:5.2f} us/q  core{a.daemon_core} "
              f"{100 * r['daemon_core_busy']:3.0f}% (softirq {100 * r['daemon_core_softirq']:2.0f}%)"
              f"  core{a.gen_core} {100 * r['gen_core_busy']:3.0f}% ({a.generator} "
              f"{100 * r['gen_cpu']:3.0f}%)  others {100 * r['others']:3.0f}%  steal "
              f"{100 * r['steal']:2.0f}%" + ("  GENERATOR-BOUND" if r["generator_bound"] else "")
              + ("  DISTURBED" if r["disturbed"] else ""), flush=True)
        return r

    def cached_rounds(self, files):
        a = self.args
        for rnd in range(1, a.rounds + 1):
            print(f"round {rnd}/{a.rounds} (load {loadavg()})", flush=True)
            kinds = [k for k in ("pkdns", "forwarder", "compare") if k in self.daemons]
            shift = (rnd - 1) % len(kinds)
            for who in kinds[shift:] + kinds[:shift]:
                self.measured(who, rnd, files[who])

    def perf_profile(self, datafile):
        """One more cached run of pkdns with `perf record -g` on it for part of the run."""
        a = self.args
        data = os.path.join(self.outdir, "perf.data")
        record_s = max(1, a.duration - 3)
        p, port = self.daemons["pkdns"]
        argv = ["perf", "record", "-F", "2000", "-g", "-p", str(p.pid), "-o", data,
                "--", "sleep", str(record_s)]
        self.cmds["perf"] = shlex.join(argv)
        rec = {}

        def start_perf(dnsperf_pid):
            if not rec:
                time.sleep(1)  # past dnsperf's start
                with open(data + ".log", "w") as log:
                    rec["p"] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
            return self.snapshot(p.pid, port, dnsperf_pid)

        self.check_budget(a.duration + a.timeout + 60)
        r = run_load(a, DAEMON_ADDR, port, datafile,
                     os.path.join(self.outdir, f"profile-pkdns.{a.generator}.txt"),
                     limit_s=a.duration, sample=start_perf)
        rec["p"].wait(timeout=30)
        reports = {}
        for name, extra in (("dso", ["--no-children", "--sort", "dso"]),
                            ("self", ["--no-children", "--sort", "dso,symbol"]),
                            ("children", ["--children", "--sort", "symbol"])):
            path = os.path.join(self.outdir, f"perf-report-{name}.txt")
            with open(path, "w") as f:
                subprocess.run(["perf", "report", "--stdio", "-i", data, "--percent-limit",
                                "0.5", "-g", "none"] + extra, stdout=f,
                               stderr=subprocess.DEVNULL, timeout=120)
            reports[name] = path
        self.profile = {"qps": r["qps"], "reports": reports,
                        "dso": top_symbols(reports["dso"], 6),
                        "self": top_symbols(reports["self"], 12),
                        "children": [t for t in top_symbols(reports["children"], 60)
                                     if "[.]" in t[1]][:12]}

    # ---- the whole run

    def run(self):
        a = self.args
        self.start_testnet()
        self.check_budget(60)
        self.publish()
        self.start_upstream()
        self.start_forwarder()
        self.start_pkdns("pkdns", a.bin)
        self.cold_and_fill()
        if a.compare:
            self.fill_compare()
        files = self.write_query_files()
        self.warm_forwarder(files["forwarder"])
        self.cached_rounds(files)
        for who in ("pkdns", "compare"):
            if who in self.daemons:
                self.read_rss(who, self.daemons[who][0], "after the cached runs")
        if a.perf:
            self.perf_profile(files["pkdns"])


def top_symbols(path, count=15):
    """The first `count` lines of a `perf report --stdio` file that name something:
    (percent, text); raw addresses (code without symbols) are left out."""
    out = []
    with open(path) as f:
        for line in f:
            m = re.match(r"\s+([\d.]+)%\s+(.*)", line)
            if not m:
                continue
            text = " ".join(w for w in m.group(2).split() if w != "-")
            if re.search(r"\] (0x)?[0-9a-f]{8,}$", text):
                continue
            out.append((float(m.group(1)), text))
            if len(out) >= count:
                break
    return out


# ---------------------------------------------------------------- report

def spread(values, digits=0):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{fmt(med(values), digits)} ({fmt(min(values), digits)}–{fmt(max(values), digits)})"


def paired_ratios(runs, key, ours="pkdns", theirs="forwarder"):
    """ours / theirs per round, pairing the runs made side by side."""
    out = []
    for rnd in sorted({r["round"] for r in runs}):
        a = [r[key] for r in runs if (r["round"], r["daemon"]) == (rnd, ours)]
        b = [r[key] for r in runs if (r["round"], r["daemon"]) == (rnd, theirs)]
        if a and b and a[0] is not None and b[0]:
            out.append(a[0] / b[0])
    return out


DAEMON_LABELS = {"pkdns": "pkdns, cached pkarr names",
                 "compare": "--compare pkdns, cached pkarr names",
                 "forwarder": "pkdns-forwarder, cached names (yardstick)"}


def cached_table(bench):
    runs = bench.runs
    lines = ["| daemon | QPS | daemon CPU µs/query | QPS / forwarder's | CPU / forwarder's "
             "| average latency, ms | lost | not NOERROR |", "|---|---|---|---|---|---|---|---|"]
    for who in ("pkdns", "compare", "forwarder"):
        mine = [r for r in runs if r["daemon"] == who]
        if not mine:
            continue
        qps_ratio = cpu_ratio = ""
        if who != "forwarder":
            qps_ratio = spread(paired_ratios(runs, "qps", who), 2) + "×"
            cpu_ratio = spread(paired_ratios(runs, "cpu_us_per_query", who), 2) + "×"
        lines.append(
            f"| {DAEMON_LABELS[who]} | {spread([r['qps'] for r in mine])} | "
            f"{spread([r['cpu_us_per_query'] for r in mine], 2)} | {qps_ratio} | {cpu_ratio} | "
            f"{spread([r['latency_s'] * 1000 for r in mine], 2)} | "
            f"{spread([r['lost'] for r in mine])} | {spread([r['not_noerror'] for r in mine])} |")
    if any(r["daemon"] == "compare" for r in runs):
        lines += ["", f"pkdns / --compare pkdns, paired per round: QPS "
                  f"{spread(paired_ratios(runs, 'qps', 'pkdns', 'compare'), 2)}×, CPU per query "
                  f"{spread(paired_ratios(runs, 'cpu_us_per_query', 'pkdns', 'compare'), 2)}×."]
    return "\n".join(lines)


def runs_table(bench):
    a = bench.args
    lines = [f"| round | daemon | QPS | sent | lost | not NOERROR | dropped at daemon / anywhere "
             f"| daemon CPU s | µs/query | core {a.daemon_core} busy (softirq) | core "
             f"{a.gen_core} busy ({a.generator}) | other processes | steal | |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in bench.runs:
        marks = [m for m, on in (("generator-bound", r["generator_bound"]),
                                 ("disturbed", r["disturbed"])) if on]
        lines.append(
            f"| {r['round']} | {r['daemon']} | {fmt(r['qps'])} | {fmt(r['sent'])} | "
            f"{fmt(r['lost'])} | {fmt(r['not_noerror'])} | {fmt(r['daemon_drops'])} / "
            f"{fmt(r['rcvbuf_drops'])} | {r['daemon_cpu_s']:.2f} | "
            f"{fmt(r['cpu_us_per_query'], 2)} | {100 * r['daemon_core_busy']:.0f}% "
            f"({100 * r['daemon_core_softirq']:.0f}%) | {100 * r['gen_core_busy']:.0f}% "
            f"({100 * r['gen_cpu']:.0f}%) | {100 * r['others']:.0f}% | {100 * r['steal']:.0f}% "
            f"| {', '.join(marks)} |")
    return "\n".join(lines)


def cold_table(bench):
    lines = ["| batch | keys | in flight | answered with the key's address | SERVFAIL "
             "| other answers | timeouts | median | p90 | p99 | max | wall time |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for b in bench.batches:
        other = b["queries"] - b["ok"] - b["servfail"] - b["timeouts"]
        ms = [f"{fmt(b[k], 1)} ms" for k in ("ms_p50", "ms_p90", "ms_p99", "ms_max")]
        lines.append(f"| {b['label']} | {fmt(b['queries'])} | {b['concurrency']} | "
                     f"{fmt(b['ok'])} | {fmt(b['servfail'])} | {fmt(other)} | "
                     f"{fmt(b['timeouts'])} | " + " | ".join(ms) + f" | {b['seconds']:.1f} s |")
    return "\n".join(lines)


def rss_table(bench):
    lines = ["| daemon | when | VmRSS | VmHWM | target | |", "|---|---|---|---|---|---|"]
    for e in bench.rss:
        target, ok = "", ""
        if e["daemon"] == "pkdns" and e["when"] == f"{len(bench.keys)} keys cached":
            target = f"< {TARGET_RSS_MIB} MiB"
            ok = verdict(e["rss_kib"] / 1024, TARGET_RSS_MIB, False)
        lines.append(f"| {e['daemon']} | {e['when']} | {e['rss_kib'] / 1024:.1f} MiB | "
                     f"{e['hwm_kib'] / 1024:.1f} MiB | {target} | {ok} |")
    return "\n".join(lines)


def targets(bench):
    out = []
    cold = [b for b in bench.batches if b["label"] == "cold"]
    if cold:
        c = cold[0]
        ok = (c["ms_p50"] is not None and c["ms_p50"] < TARGET_COLD_MEDIAN_MS
              and c["timeouts"] == 0)
        out.append(f"- cold median < {TARGET_COLD_MEDIAN_MS} ms with no timeouts: "
                   f"{'met' if ok else '**not met**'} (median {fmt(c['ms_p50'], 1)} ms, p99 "
                   f"{fmt(c['ms_p99'], 1)} ms, {c['timeouts']} timeouts, {c['servfail']} "
                   f"SERVFAIL of {c['queries']})")
    qps = med([r["qps"] for r in bench.runs if r["daemon"] == "pkdns"])
    if qps is not None:
        out.append(f"- cached ≥ {TARGET_CACHED_QPS:,} QPS on one core: "
                   f"{verdict(qps, TARGET_CACHED_QPS, True)} (median {fmt(qps)} QPS; pkdns / "
                   f"forwarder {spread(paired_ratios(bench.runs, 'qps'), 2)}×)")
    full = [e for e in bench.rss if e["daemon"] == "pkdns"
            and e["when"] == f"{len(bench.keys)} keys cached"]
    if full:
        out.append(f"- RSS with {len(bench.keys):,} keys cached < {TARGET_RSS_MIB} MiB: "
                   f"{verdict(full[0]['rss_kib'] / 1024, TARGET_RSS_MIB, False)} "
                   f"({full[0]['rss_kib'] / 1024:.1f} MiB)")
    return "\n".join(out)


def pkdns_stop_line(bench):
    try:
        with open(os.path.join(bench.outdir, "pkdns.log")) as f:
            log = f.read()
    except OSError:
        return None
    m = re.search(r"stopped after .*", log)
    for line in log.splitlines():
        if line.startswith(("ERR", "CRIT", "ALERT", "EMERG", "WARNING")):
            bench.notes.append(f"pkdns log: {line}")
    return m.group(0) if m else None


def environment(args):
    def first_line(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception as e:
            return f"unknown ({e})"

    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dnsperf = "unknown"
    r = subprocess.run([args.dnsperf, "-h"], capture_output=True, text=True, timeout=10)
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Version"):
            dnsperf = line.split()[-1]
    return {
        "host": f"{platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs "
                f"({model})",
        "pkdns": first_line([os.path.join(args.bin, "pkdns"), "--version"]),
        "git": first_line(["git", "-C", REPO_DIR, "describe", "--always", "--dirty"]),
        "dnsperf": dnsperf,
    }


def summary_text(bench, env, load_before, load_after, error, stop_line):
    a = bench.args
    command = shlex.join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), REPO_DIR)]
                         + sys.argv[1:])
    elapsed = time.monotonic() - bench.started
    pub = bench.publish_report
    text = [
        f"Run finished {time.strftime('%Y-%m-%d %H:%M:%S %Z')} after {elapsed:.0f} s; load "
        f"average {load_before} before, {load_after} after.",
        "",
        f"- command: `{command}` (from the repository root)",
        f"- host: {env['host']}",
        f"- {env['pkdns']} (git {env['git']}); dnsperf {env['dnsperf']}",
        f"- testnet: `{bench.cmds.get('testnet', '?')}`",
        f"- published: {pub.get('keys', 0):,} keys in {pub.get('put_s', 0):.1f} s, each on "
        f"{pub.get('stored_min', '?')}–8 nodes (median {pub.get('stored_median', '?')}); "
        f"{pub.get('nodes_answered', '?')} nodes gave IDs and tokens",
        f"- pkdns: `{bench.cmds.get('pkdns', '?')}`",
        *([f"- --compare pkdns: `{bench.cmds['compare']}`"] if "compare" in bench.cmds else []),
        f"- forwarder: `{bench.cmds.get('forwarder', '?')}`",
        f"- {a.generator}: `{bench.runs[0]['argv'] if bench.runs else '?'}`",
        f"- pkdns's stop line: {stop_line or '–'}",
        "",
        "Targets:",
        "",
        targets(bench),
        "",
        f"Cached answers, {a.rounds} rounds × {a.duration} s; medians with (min–max), ratios "
        "paired per round:",
        "",
        cached_table(bench) if bench.runs else "(no runs)",
        "",
        "Every cached run (other processes and steal as shares of both cores):",
        "",
        runs_table(bench) if bench.runs else "(no runs)",
        "",
        "Resolution through pkdns (times from the query leaving this script to its answer):",
        "",
        cold_table(bench) if bench.batches else "(no batches)",
        "",
        "Resident memory:",
        "",
        rss_table(bench) if bench.rss else "(not read)",
    ]
    if bench.profile:
        prof = bench.profile
        text += ["", f"Profile of pkdns (`{bench.cmds['perf']}` during one more cached run, "
                 f"{fmt(prof['qps'])} QPS). Samples by object, then by symbol (self), then "
                 "user-space functions with their callees (children):", ""]
        for key in ("dso", "self", "children"):
            text += [f"    {pct:5.2f}%  {sym}" for pct, sym in prof[key]] + [""]
        text.pop()
    for who in ("pkdns", "compare", "forwarder"):
        bound = [str(r["round"]) for r in bench.runs if r["daemon"] == who
                 and r["generator_bound"]]
        if bound:
            bench.notes.append(f"{who}: {a.generator}'s core was full while the daemon's had "
                               f"room in round(s) {', '.join(bound)}; there its QPS is what "
                               f"{a.generator} could send, a lower bound for the daemon")
    if bench.notes or error:
        text += ["", "Notes:", ""] + [f"- {n}" for n in bench.notes]
        if error:
            text.append(f"- **stopped early**: {error}")
    return "\n".join(text) + "\n"


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--bin", default=os.path.join(REPO_DIR, "build-bench", "bin"),
                    help="directory with pkdns, pkdns-cli and pkdns-forwarder")
    ap.add_argument("--dnsmasq", default="/usr/sbin/dnsmasq")
    ap.add_argument("--dnsperf", default="/usr/bin/dnsperf")
    ap.add_argument("--generator", choices=("dnsperf", "dnsload"), default="dnsperf",
                    help="load generator of the cached runs (dnsload: bench/tools/dnsload.c, "
                         "built beside the daemons; it polls instead of sleeping)")
    ap.add_argument("--dnsload", default=None, help="default: dnsload in --bin")
    ap.add_argument("--nodes", type=int, default=500, help="testnet nodes")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds the testnet settles")
    ap.add_argument("--keys", type=int, default=10000, help="keys published and cached")
    ap.add_argument("--cold-keys", type=int, default=1000, help="keys of the cold batch")
    ap.add_argument("--cold-concurrency", type=int, default=20)
    ap.add_argument("--fill-concurrency", type=int, default=50)
    ap.add_argument("--client-timeout", type=float, default=5.0,
                    help="seconds the resolution client waits for an answer")
    ap.add_argument("--warm-s", type=float, default=5.0,
                    help="seconds pkdns's DHT node gets to fill its table before the cold batch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per dnsperf run (≤ 15)")
    ap.add_argument("--outstanding", type=int, default=500, help="dnsperf -q")
    ap.add_argument("--clients", type=int, default=16, help="dnsperf -c (sockets)")
    ap.add_argument("--threads", type=int, default=2, help="dnsperf -T")
    ap.add_argument("--timeout", type=int, default=2, help="dnsperf -t, seconds")
    ap.add_argument("--gen-core", type=int, default=0)
    ap.add_argument("--daemon-core", type=int, default=1)
    ap.add_argument("--nice", type=int, default=-10,
                    help="niceness of dnsperf, the daemons and the testnet (0: leave as is)")
    ap.add_argument("--compare", default=None, metavar="DIR",
                    help="another build's bin directory: its pkdns is filled with the same "
                         "keys and measured in the same cached rounds (e.g. the committed code)")
    ap.add_argument("--perf", action="store_true",
                    help="profile pkdns with perf record -g during one more cached run")
    ap.add_argument("--seed", type=int, default=1, help="seed of the keys and the sampling")
    ap.add_argument("--max-seconds", type=int, default=600, help="budget for the whole run")
    ap.add_argument("--out", default=None,
                    help="directory for results (default bench/out/pkdns-<time>)")
    args = ap.parse_args()
    if not 1 <= args.duration <= 15:
        ap.error("--duration must be 1..15 seconds")
    if args.rounds < 1 or not 60 <= args.max_seconds <= 1800:
        ap.error("--rounds must be ≥ 1 and --max-seconds 60..1800")
    if not 1 <= args.cold_keys <= args.keys <= 100000 or args.nodes < 16:
        ap.error("need 1 ≤ --cold-keys ≤ --keys ≤ 100000 and --nodes ≥ 16")
    if not (1 <= args.cold_concurrency <= 1000 and 1 <= args.fill_concurrency <= 1000):
        ap.error("concurrency must be 1..1000")
    args.dnsload = args.dnsload or os.path.join(args.bin, "dnsload")
    return args


def main():
    args = parse_args()
    random.seed(args.seed)
    for path in [os.path.join(args.bin, n) for n in ("pkdns", "pkdns-cli", "pkdns-forwarder")] \
            + [args.dnsmasq, args.dnsperf] \
            + ([args.dnsload] if args.generator == "dnsload" else []) \
            + ([os.path.join(args.compare, "pkdns")] if args.compare else []):
        if not os.access(path, os.X_OK):
            sys.exit(f"not executable: {path}")
    outdir = os.path.abspath(args.out or os.path.join(
        BENCH_DIR, "..", "out", "pkdns-" + time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(outdir, exist_ok=True)

    procs = Procs()
    bench = Bench(args, outdir, procs)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(args.max_seconds + 60)  # a last resort behind the per-step budget

    env = environment(args)
    load_before = loadavg()
    error = None
    try:
        bench.run()
    except (BenchError, KeyboardInterrupt, OSError, subprocess.SubprocessError) as e:
        error = f"{type(e).__name__}: {e}"
        print(f"benchmark stopped early: {error}", file=sys.stderr)
    finally:
        signal.alarm(0)
        procs.stop_all()
        qdir = os.path.join(outdir, "queries")
        if os.path.isdir(qdir):
            for name in os.listdir(qdir):
                os.unlink(os.path.join(qdir, name))
            os.rmdir(qdir)
    load_after = loadavg()

    md = summary_text(bench, env, load_before, load_after, error, pkdns_stop_line(bench))
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(md)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"args": vars(args), "env": env, "cmds": bench.cmds,
                   "publish": bench.publish_report, "batches": bench.batches,
                   "runs": bench.runs, "rss": bench.rss, "profile": bench.profile,
                   "notes": bench.notes, "error": error, "load_before": load_before,
                   "load_after": load_after}, f, indent=1)
    print()
    print(md)
    print(f"results in {outdir}")
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
