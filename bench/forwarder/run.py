#!/usr/bin/env python3
"""Forwarder vs dnsmasq: throughput, CPU per query and memory, measured side by side.

Both daemons forward to one upstream (a dnsmasq that answers every name from its own
--address=/#/ rule), in one run, interleaved round by round. dnsperf drives them from core 0;
the daemon under test and the upstream share core 1, so a daemon that spends less CPU per
query leaves more of that core for answering. Two workloads per daemon and round:

  hits    10k distinct names, fetched once through the daemon (warm-up), then asked again
          and again for a fixed time; every answer should come from the daemon's cache.
  misses  a fresh, unique name on every query (a new prefix per run), so every query is
          forwarded to the upstream.

A third, "local", run sends the hits workload straight to the upstream: what an answer costs
dnsmasq when nothing is forwarded or cached, a floor to read the others against. Each run
also records how busy each core was, so that a run where dnsperf, not the daemon, set the
pace is marked as such.

dnsperf, the daemons and the upstream run at nice -10 (--nice), so that other jobs on a
shared machine take less from them; both daemons are treated alike.

Only the Python standard library, dnsperf, dnsmasq and taskset are used. All traffic stays
on 127.0.0.0/8; every load run is bounded by dnsperf's -l and a subprocess timeout, and the
whole benchmark by --max-seconds. Every process started here is stopped on exit, also on
error or Ctrl-C. Raw outputs go to bench/out/forwarder-<time>/.
"""

import argparse
import json
import os
import platform
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (BenchError, Procs, core_stat, dns_query, fmt, free_port,  # noqa: E402
                      loadavg, med, niced, proc_cpu_ticks, proc_status_kib, run_dnsperf,
                      udp_rcvbuf_errors, udp_socket_drops, verdict)

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(os.path.dirname(BENCH_DIR))
CLK_TCK = os.sysconf("SC_CLK_TCK")

DAEMON_ADDR = "127.0.0.1"
UPSTREAM_ADDR = "127.0.0.2"
UPSTREAM_ANSWER = "192.0.2.1"  # RFC 5737 documentation address
HIT_NAMES = 10000

# The targets, as ratios pkdns-forwarder / dnsmasq (and an absolute RSS bound).
TARGET_HIT_QPS = 1.2
TARGET_HIT_CPU = 0.8
TARGET_MISS_QPS = 1.5
TARGET_RSS_MIB = 16.0

# RFC 1035 4.1.1 / 3.2.4: header fields, QTYPE TXT, QCLASS CH.
DNS_FLAG_RD = 0x0100
DNS_TYPE_A = 1
DNS_TYPE_TXT = 16
DNS_CLASS_IN = 1
DNS_CLASS_CH = 3


# ---------------------------------------------------------------- DNS

def wait_answering(addr, port, name, qtype, qclass, p, timeout_s=5.0):
    """Polls until the server answers the question with the query's ID, or fails."""
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise BenchError(f"{addr}:{port} exited with status {p.returncode} at start")
            qid, msg = dns_query(name, qtype, qclass)
            s.sendto(msg, (addr, port))
            try:
                reply, _ = s.recvfrom(4096)
            except socket.timeout:
                continue
            if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == qid:
                return
    raise BenchError(f"{addr}:{port} did not answer {name} within {timeout_s} s")


# ---------------------------------------------------------------- query files

def write_names(path, count, fmt):
    with open(path, "w") as f:
        chunk = 50000
        for start in range(0, count, chunk):
            f.write("".join(fmt.format(i) + " A\n"
                            for i in range(start, min(count, start + chunk))))


# ---------------------------------------------------------------- dnsperf

# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args, outdir, procs):
        self.args = args
        self.outdir = outdir
        self.procs = procs
        self.started = time.monotonic()
        self.runs = []
        self.rss = []  # one entry per daemon start
        self.notes = []
        self.upstream = None
        self.upstream_port = None
        self.upstream_argv = "?"
        self.daemon_cmds = {}
        self.lines = {}

    def check_budget(self, need_s):
        spent = time.monotonic() - self.started
        if spent + need_s > self.args.max_seconds:
            raise BenchError(f"time budget of {self.args.max_seconds} s would be exceeded "
                             f"({spent:.0f} s spent, next step needs {need_s:.0f} s)")

    def pinned(self, argv):
        return niced(self.args, ["taskset", "-c", str(self.args.daemon_core)] + argv)

    def start_upstream(self):
        self.upstream_port = free_port([UPSTREAM_ADDR])
        argv = self.pinned([
            self.args.dnsmasq, "--keep-in-foreground", "--no-resolv", "--no-hosts",
            "--conf-file=/dev/null", "--bind-interfaces",
            f"--listen-address={UPSTREAM_ADDR}", f"--port={self.upstream_port}",
            f"--address=/#/{UPSTREAM_ANSWER}",
            # Answers from --address carry TTL 0 unless told otherwise; with 0 nothing
            # downstream would be cached and the hits workload would forward everything.
            "--local-ttl=3600", "--cache-size=100000",
            "--pid-file=", "--user=root", "--log-facility=/dev/null"])
        self.upstream_argv = shlex.join(argv)
        self.upstream = self.procs.start(argv, os.path.join(self.outdir, "upstream.log"))
        wait_answering(UPSTREAM_ADDR, self.upstream_port, "ready.bench.test", DNS_TYPE_A,
                       DNS_CLASS_IN, self.upstream)

    def daemon_argv(self, kind, port):
        server = f"--server={UPSTREAM_ADDR}#{self.upstream_port}"
        if kind == "forwarder":
            return [self.args.forwarder, f"--port={port}", f"--listen-address={DAEMON_ADDR}",
                    "--no-resolv", server, "--cache-size=20000"]
        return [self.args.dnsmasq, "--keep-in-foreground", "--no-resolv", "--no-hosts",
                "--conf-file=/dev/null", "--bind-interfaces", f"--listen-address={DAEMON_ADDR}",
                f"--port={port}", server, "--cache-size=20000", "--pid-file=", "--user=root",
                "--log-facility=/dev/null"]

    def start_daemon(self, kind, rnd):
        port = free_port([DAEMON_ADDR])
        argv = self.pinned(self.daemon_argv(kind, port))
        p = self.procs.start(argv, os.path.join(self.outdir, f"r{rnd}-{kind}.log"))
        # pkdns-forwarder answers id.server itself (RFC 4892); dnsmasq answers version.bind.
        ident = "id.server" if kind == "forwarder" else "version.bind"
        wait_answering(DAEMON_ADDR, port, ident, DNS_TYPE_TXT, DNS_CLASS_CH, p)
        return p, port, shlex.join(argv)

    def snapshot(self, daemon_pid, dnsperf_pid):
        a = self.args
        return {"daemon": proc_cpu_ticks(daemon_pid),
                "upstream": proc_cpu_ticks(self.upstream.pid),
                "dnsperf": proc_cpu_ticks(dnsperf_pid),
                "gen": core_stat(a.gen_core), "core": core_stat(a.daemon_core),
                "drops": udp_rcvbuf_errors(),
                "daemon_drops": udp_socket_drops(self.daemon_addr, self.daemon_port),
                "upstream_drops": udp_socket_drops(UPSTREAM_ADDR, self.upstream_port)}

    def measured(self, kind, rnd, workload, p, port, addr, datafile):
        """One timed dnsperf run, with the CPU that the daemon, the upstream, dnsperf and
        both cores spent while dnsperf was sending (its -l window; after it, dnsperf only
        waits for late answers)."""
        a = self.args
        self.check_budget(a.duration + a.timeout + 5)
        self.daemon_addr, self.daemon_port = addr, port
        r = run_dnsperf(a, addr, port, datafile,
                        os.path.join(self.outdir, f"r{rnd}-{kind}-{workload}.dnsperf.txt"),
                        limit_s=a.duration,
                        sample=lambda dnsperf_pid: self.snapshot(p.pid, dnsperf_pid))
        before, after, seconds = r.pop("window")

        def ticks(key, field=None):
            if field:
                return after[key][field] - before[key][field]
            if after[key] is None or before[key] is None:
                return None
            return after[key] - before[key]

        span = seconds * CLK_TCK
        daemon_s = ticks("daemon") / CLK_TCK
        upstream_s = 0.0 if kind == "local" else ticks("upstream") / CLK_TCK
        ours = ticks("daemon") + ticks("dnsperf") + (0 if kind == "local" else ticks("upstream"))
        busy = ticks("gen", "busy") + ticks("core", "busy")
        softirq = ticks("gen", "softirq") + ticks("core", "softirq")
        answered = r["qps"] * min(seconds, r["runtime_s"])
        r.update({
            "round": rnd, "daemon": kind, "workload": workload, "window_s": seconds,
            "daemon_cpu_s": daemon_s, "upstream_cpu_s": upstream_s,
            "cpu_us_per_query": 1e6 * daemon_s / answered if answered else None,
            "upstream_us_per_query": 1e6 * upstream_s / answered if answered else None,
            "daemon_core_busy": ticks("core", "busy") / span,
            "daemon_core_softirq": ticks("core", "softirq") / span,
            "gen_core_busy": ticks("gen", "busy") / span,
            "gen_cpu": ticks("dnsperf") / span,
            "others": max(0, busy - softirq - ours) / span,
            "steal": (ticks("gen", "steal") + ticks("core", "steal")) / span,
            "rcvbuf_drops": ticks("drops"),
            "daemon_drops": ticks("daemon_drops"),
            "upstream_drops": 0 if kind == "local" else ticks("upstream_drops"),
            "datafile_lines": self.lines[datafile],
        })
        # The servers' core has room left while dnsperf's is full: dnsperf sets the pace.
        r["generator_bound"] = r["gen_core_busy"] >= 0.9 and r["daemon_core_busy"] < 0.9
        if workload == "misses" and r["sent"] > self.lines[datafile]:
            self.notes.append(f"round {rnd} {kind}: dnsperf sent {r['sent']} queries from a "
                              f"file of {self.lines[datafile]} names, so names repeated; "
                              f"raise --miss-names")
        self.runs.append(r)
        print(f"  r{rnd} {kind:9} {workload:6} {r['qps']:8.0f} qps  lost {r['lost']:4} "
              f"(drops: daemon {fmt(r['daemon_drops'])}, upstream "
              f"{fmt(r['upstream_drops'])}, all {fmt(r['rcvbuf_drops'])})  "
              f"{r['cpu_us_per_query'] or 0:5.1f} us/q"
              f"  core{a.daemon_core} {100 * r['daemon_core_busy']:3.0f}% "
              f"(softirq {100 * r['daemon_core_softirq']:2.0f}%)"
              f"  core{a.gen_core} {100 * r['gen_core_busy']:3.0f}% "
              f"(dnsperf {100 * r['gen_cpu']:3.0f}%)  others {100 * r['others']:3.0f}%"
              f"  steal {100 * r['steal']:2.0f}%"
              + ("  GENERATOR-BOUND" if r["generator_bound"] else ""), flush=True)
        return r

    def one_daemon(self, kind, rnd, hits_file):
        a = self.args
        self.check_budget(2 * (a.duration + a.timeout + 5) + 10)
        miss_file = os.path.join(self.workdir, f"misses-r{rnd}-{kind}.txt")
        self.make_file(miss_file, a.miss_names, f"r{rnd}{kind[0]}{{:07d}}.miss.bench.test.")
        p, port, argv = self.start_daemon(kind, rnd)
        self.daemon_cmds[kind] = argv

        # Warm-up: every hit name once, gently, so that none is lost on the way in.
        warm = run_dnsperf(a, DAEMON_ADDR, port, hits_file,
                           os.path.join(self.outdir, f"r{rnd}-{kind}-warmup.dnsperf.txt"),
                           maxruns=1, outstanding=50)
        if warm["lost"]:
            self.notes.append(f"round {rnd} {kind}: warm-up lost {warm['lost']} queries; "
                              f"those names were cached during the hits run instead")
        time.sleep(0.2)
        rss = {"round": rnd, "daemon": kind,
               "rss_warm_kib": proc_status_kib(p.pid, "VmRSS"),
               "hwm_warm_kib": proc_status_kib(p.pid, "VmHWM")}

        self.measured(kind, rnd, "hits", p, port, DAEMON_ADDR, hits_file)
        self.measured(kind, rnd, "misses", p, port, DAEMON_ADDR, miss_file)
        rss["rss_end_kib"] = proc_status_kib(p.pid, "VmRSS")
        rss["hwm_end_kib"] = proc_status_kib(p.pid, "VmHWM")
        self.rss.append(rss)

        status = self.procs.stop(p)
        os.unlink(miss_file)
        if status not in (0, -signal.SIGTERM):
            self.notes.append(f"round {rnd} {kind}: exited with status {status} on SIGTERM")
        if kind == "forwarder":
            self.forwarder_counters(rnd)

    def forwarder_counters(self, rnd):
        """The forwarder's stop line counts answers from cache; it shows hits were hits."""
        with open(os.path.join(self.outdir, f"r{rnd}-forwarder.log")) as f:
            log = f.read()
        m = re.search(r"stopped after (\d+) queries: (\d+) from cache, (\d+) forwarded", log)
        if m:
            total, cached, forwarded = (int(x) for x in m.groups())
            self.notes.append(f"round {rnd} forwarder stop line: {total} queries, "
                              f"{cached} from cache, {forwarded} forwarded")
        else:
            self.notes.append(f"round {rnd} forwarder: no stop line in its log")
        for line in log.splitlines():
            if line.startswith(("ERR", "CRIT", "ALERT", "EMERG", "WARNING")):
                self.notes.append(f"round {rnd} forwarder log: {line}")

    def make_file(self, path, count, fmt):
        write_names(path, count, fmt)
        self.lines[path] = count

    def run(self):
        a = self.args
        self.workdir = os.path.join(self.outdir, "queries")
        os.makedirs(self.workdir, exist_ok=True)
        runs_per_round = 4 if a.no_local else 5
        need_s = a.rounds * (runs_per_round * (a.duration + a.timeout + 1) + 8)
        if need_s > a.max_seconds:
            raise BenchError(f"{a.rounds} rounds need about {need_s} s, over --max-seconds "
                             f"{a.max_seconds}; use fewer rounds or a shorter --duration")
        hits_file = os.path.join(self.workdir, "hits.txt")
        try:
            self.make_file(hits_file, HIT_NAMES, "name{:05d}.bench.test.")
            self.start_upstream()
            for rnd in range(1, a.rounds + 1):
                print(f"round {rnd}/{a.rounds} (load {loadavg()})", flush=True)
                for kind in ("forwarder", "dnsmasq"):
                    self.one_daemon(kind, rnd, hits_file)
                if not a.no_local:
                    self.measured("local", rnd, "local", self.upstream, self.upstream_port,
                                  UPSTREAM_ADDR, hits_file)
        finally:
            # The query files are large (60 MB per misses run) and easy to make again.
            for name in os.listdir(self.workdir):
                os.unlink(os.path.join(self.workdir, name))
            os.rmdir(self.workdir)


# ---------------------------------------------------------------- report

def spread(values, digits=0):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{fmt(med(values), digits)} ({fmt(min(values), digits)}–{fmt(max(values), digits)})"


def paired_ratios(runs, workload, key):
    """forwarder/dnsmasq per round, pairing the runs made side by side."""
    out = []
    for rnd in sorted({r["round"] for r in runs}):
        f = [r[key] for r in runs if (r["round"], r["daemon"], r["workload"]) ==
             (rnd, "forwarder", workload)]
        d = [r[key] for r in runs if (r["round"], r["daemon"], r["workload"]) ==
             (rnd, "dnsmasq", workload)]
        if f and d and f[0] is not None and d[0]:
            out.append(f[0] / d[0])
    return out


def report(bench):
    runs, rss = bench.runs, bench.rss

    def pick(daemon, workload, key):
        return [r[key] for r in runs if r["daemon"] == daemon and r["workload"] == workload]

    lines = []
    lines.append("| measure | pkdns-forwarder | dnsmasq | forwarder / dnsmasq | target | |")
    lines.append("|---|---|---|---|---|---|")
    rows = [
        ("hits: QPS", "hits", "qps", 0, TARGET_HIT_QPS, True, "≥ 1.2×"),
        ("hits: daemon CPU µs/query", "hits", "cpu_us_per_query", 2, TARGET_HIT_CPU, False,
         "≤ 0.8×"),
        ("hits: lost queries", "hits", "lost", 0, None, None, ""),
        ("misses: QPS", "misses", "qps", 0, TARGET_MISS_QPS, True, "≥ 1.5×"),
        ("misses: daemon CPU µs/query", "misses", "cpu_us_per_query", 2, None, None, ""),
        ("misses: upstream CPU µs/query", "misses", "upstream_us_per_query", 2, None, None, ""),
        ("misses: lost queries", "misses", "lost", 0, None, None, ""),
    ]
    for label, wl, key, digits, target, higher, target_txt in rows:
        f, d = pick("forwarder", wl, key), pick("dnsmasq", wl, key)
        ratios = paired_ratios(runs, wl, key) if key != "lost" else []
        ratio_txt = spread(ratios, 2) + "×" if ratios else ""
        ok = verdict(med(ratios), target, higher) if target else ""
        lines.append(f"| {label} | {spread(f, digits)} | {spread(d, digits)} | {ratio_txt} "
                     f"| {target_txt} | {ok} |")
    for key, label in (("rss_warm_kib", "RSS after 10k-name warm-up, MiB"),
                       ("rss_end_kib", "RSS after the misses run (cache full), MiB"),
                       ("hwm_end_kib", "peak RSS (VmHWM), MiB")):
        f = [x[key] / 1024 for x in rss if x["daemon"] == "forwarder"]
        d = [x[key] / 1024 for x in rss if x["daemon"] == "dnsmasq"]
        target_txt, ok = "", ""
        if key == "rss_warm_kib":
            target_txt = f"< {TARGET_RSS_MIB:.0f} MiB"
            ok = verdict(max(f) if f else None, TARGET_RSS_MIB, False)
        ratio = (med(f) / med(d)) if f and d else None
        lines.append(f"| {label} | {spread(f, 1)} | {spread(d, 1)} | {fmt(ratio, 2)}× "
                     f"| {target_txt} | {ok} |")
    local = pick("local", "local", "qps")
    if local:
        lines.append(f"| local answer (upstream dnsmasq, no forwarding): QPS | | "
                     f"{spread(local)} | | | |")
        lines.append(f"| local answer: CPU µs/query | | "
                     f"{spread(pick('local', 'local', 'cpu_us_per_query'), 2)} | | | |")
    summary = "\n".join(lines)

    for daemon in ("forwarder", "dnsmasq"):
        for wl in ("hits", "misses"):
            bound = [r["round"] for r in runs if r["daemon"] == daemon and r["workload"] == wl
                     and r["generator_bound"]]
            if bound:
                bench.notes.append(
                    f"{daemon} {wl}: dnsperf's core was full while the daemon's had room in "
                    f"round(s) {', '.join(map(str, bound))}; there the QPS (and a ratio built "
                    f"on it) is what dnsperf could send, a lower bound for the daemon")

    per_run = ["| round | daemon | workload | QPS | sent | lost | dropped at daemon / upstream "
               "/ anywhere | daemon CPU s | µs/query | upstream CPU s | core 1 busy (softirq) "
               "| core 0 busy (dnsperf) | other processes | steal, both cores | |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        per_run.append(
            f"| {r['round']} | {r['daemon']} | {r['workload']} | {fmt(r['qps'])} | "
            f"{fmt(r['sent'])} | {fmt(r['lost'])} | {fmt(r['daemon_drops'])} / "
            f"{fmt(r['upstream_drops'])} / {fmt(r['rcvbuf_drops'])} | {r['daemon_cpu_s']:.2f} | "
            f"{fmt(r['cpu_us_per_query'], 2)} | {r['upstream_cpu_s']:.2f} | "
            f"{100 * r['daemon_core_busy']:.0f}% ({100 * r['daemon_core_softirq']:.0f}%) | "
            f"{100 * r['gen_core_busy']:.0f}% ({100 * r['gen_cpu']:.0f}%) | "
            f"{100 * r['others']:.0f}% | {100 * r['steal']:.0f}% | "
            + ("generator-bound |" if r["generator_bound"] else "|"))
    return summary, "\n".join(per_run)


def dnsperf_version(dnsperf):
    r = subprocess.run([dnsperf, "-h"], capture_output=True, text=True, timeout=10)
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Version"):
            return line.split()[-1]
    return "unknown"


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
    git = first_line(["git", "-C", REPO_DIR, "describe", "--always", "--dirty"])
    return {
        "host": f"{platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs "
                f"({model})",
        "forwarder": f"{first_line([args.forwarder, '--version'])} (git {git})",
        "dnsmasq": first_line([args.dnsmasq, "--version"]),
        "dnsperf": dnsperf_version(args.dnsperf),
    }


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--forwarder", default=os.path.join(REPO_DIR, "build-bench", "bin",
                                                         "pkdns-forwarder"))
    ap.add_argument("--dnsmasq", default="/usr/sbin/dnsmasq")
    ap.add_argument("--dnsperf", default="/usr/bin/dnsperf")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per dnsperf run (≤ 15)")
    ap.add_argument("--outstanding", type=int, default=500, help="dnsperf -q")
    ap.add_argument("--clients", type=int, default=16, help="dnsperf -c (sockets)")
    ap.add_argument("--threads", type=int, default=2, help="dnsperf -T")
    ap.add_argument("--timeout", type=int, default=2, help="dnsperf -t, seconds")
    ap.add_argument("--miss-names", type=int, default=2000000,
                    help="unique names in each misses run's query file")
    ap.add_argument("--gen-core", type=int, default=0)
    ap.add_argument("--daemon-core", type=int, default=1)
    ap.add_argument("--nice", type=int, default=-10,
                    help="niceness of dnsperf, the daemons and the upstream (0: leave as is)")
    ap.add_argument("--no-local", action="store_true", help="skip the local-answer runs")
    ap.add_argument("--max-seconds", type=int, default=300, help="budget for the whole run")
    ap.add_argument("--out", default=None, help="directory for results "
                    "(default bench/out/forwarder-<time>)")
    args = ap.parse_args()
    if not 1 <= args.duration <= 15:
        ap.error("--duration must be 1..15 seconds")
    if args.rounds < 1 or args.max_seconds > 600:
        ap.error("--rounds must be ≥ 1 and --max-seconds ≤ 600")
    return args


def main():
    args = parse_args()
    for path in (args.forwarder, args.dnsmasq, args.dnsperf):
        if not os.access(path, os.X_OK):
            sys.exit(f"not executable: {path}")
    outdir = args.out or os.path.join(BENCH_DIR, "..", "out",
                                      "forwarder-" + time.strftime("%Y%m%d-%H%M%S"))
    outdir = os.path.abspath(outdir)
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
    except (BenchError, KeyboardInterrupt) as e:
        error = str(e) or type(e).__name__
        print(f"benchmark stopped early: {error}", file=sys.stderr)
    finally:
        signal.alarm(0)
        procs.stop_all()
    load_after = loadavg()

    command = shlex.join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), REPO_DIR)]
                         + sys.argv[1:])
    summary, per_run = report(bench) if bench.runs else ("(no runs)", "")
    elapsed = time.monotonic() - bench.started
    text = [
        f"Run finished {time.strftime('%Y-%m-%d %H:%M:%S %Z')} after {elapsed:.0f} s, "
        f"{args.rounds} rounds × {args.duration} s per dnsperf run; load average "
        f"{load_before} before, {load_after} after.",
        "",
        f"- command: `{command}` (from the repository root)",
        f"- host: {env['host']}",
        f"- pkdns-forwarder: {env['forwarder']}",
        f"- dnsmasq: {env['dnsmasq']}; dnsperf: {env['dnsperf']}",
        f"- dnsperf: `{bench.runs[0]['argv'] if bench.runs else '?'}`",
        f"- forwarder: `{bench.daemon_cmds.get('forwarder', '?')}`",
        f"- dnsmasq: `{bench.daemon_cmds.get('dnsmasq', '?')}`",
        f"- upstream: `{bench.upstream_argv}`",
        "",
        "Medians over the rounds, (min–max) beside them; ratios are paired per round.",
        "",
        summary,
        "",
        "Every run:",
        "",
        per_run,
    ]
    if bench.notes or error:
        text += ["", "Notes:", ""] + [f"- {n}" for n in bench.notes]
        if error:
            text.append(f"- **stopped early**: {error}")
    md = "\n".join(text) + "\n"
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(md)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"args": vars(args), "env": env, "runs": bench.runs, "rss": bench.rss,
                   "notes": bench.notes, "error": error, "load_before": load_before,
                   "load_after": load_after}, f, indent=1)
    print()
    print(md)
    print(f"results in {outdir}")
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
