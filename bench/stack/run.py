#!/usr/bin/env python3
"""The whole stack against the one it replaces: QPS, CPU per query and memory of all daemons.

  ours      pkdns-router  + pkdns + pkdns-forwarder
  original  dnsdist 1.7   + pkdns + dnsmasq

Both stacks read the stack's own files (tests/data/stack/) unchanged, on their real addresses
127.0.0.1:53, :5300 and :5301: the benchmark runs in network and mount namespaces of its own
(it re-executes itself under `unshare --net --mount`, so it must run as root), where nothing
else holds those ports, and where a private overlay over /etc holds the forwarder's resolv
file, /etc/dnsmasq-resolv.conf, naming the "ISP" server of the namespace. No port is changed.

The Rust pkdns is not available here; in both stacks our pkdns stands in for it on :5300, the
same binary with the same file, started fresh for every run, so it costs both stacks alike.
Its file is the stack's pkdns.toml followed by a few lines: our [dht] extensions (bootstrap
from a loopback testnet, state_dir, read_only, node_rate_limit: the testnet's nodes share one
IP) and `[dns] query_rate_limit = 0`. The last is
needed because behind a local front end every client is 127.0.0.1, and the default limit of
100 queries a second per client IP would refuse most of the load's pkarr queries (the Rust
pkdns has the same default). `-f 127.0.0.1:5301` sends what pkdns forwards to the stack's
forwarder: dnsdist 1.7 ignores `healthCheckMode="up"` and checks pkdns with
`a.root-servers.net A`, which pkdns must be able to answer for dnsdist to keep it up.

dnsmasq also gets `--keep-in-foreground --log-facility=- --pid-file=` on its command line
(run in the foreground, log to the benchmark's file, no pid file in the host's /run); nothing
that changes how it answers.

The load: dnsperf sends a file of 90% ordinary names and 10% pkarr keys (every 10th line),
over and over. The ordinary names are few enough (135 by default) to fit in dnsmasq's default
cache of 150 entries (the stack's dnsmasq.conf sets no cache-size), and the ISP server gives
them a TTL of 3600 s; the keys (15 by default) are published to the testnet before the first
run. Before every measured run the stack is started fresh, each key is asked until pkdns has
its packet, every line of the file is sent once, and one name and one key are checked for
the right address; so in the measured window every answer comes from the forwarder's (or
dnsmasq's) cache or from pkdns's packet cache. The ISP server's and the testnet's CPU in the
window is recorded to show that.

dnsperf runs on core 0; the three daemons share core 1, so a stack that spends less CPU per
query answers more. Rounds are interleaved, the order turning every round; ratios are paired
per round (ours / original) and their median is reported. CPU per query is the sum of the
three daemons' user and system time in dnsperf's -l window over the queries answered in it;
memory is the sum of their VmRSS after the run. For each run the script also records how busy
core 1 was, the softirq time of both cores (loopback delivery, counted to no process), what
other processes took of the two cores and what the hypervisor took (steal), so that a run
disturbed by other jobs on a shared machine can be told apart.

Every wait and run is bounded, the whole benchmark by --max-seconds. Raw output goes to
bench/out/stack-<time>/ (results.json, summary.md, every log).

--smoke runs it in miniature, to show that it still works rather than to measure: one round of
a second per stack, 20 names, 2 keys and a testnet of 10 nodes, within 120 s (about 10 s on an
idle machine); its summary leaves the targets unjudged. tests/integration/test_bench_stack.py
runs it against each build.
"""

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH_DIR)
import benchlib  # noqa: E402
from benchlib import (CLK_TCK, BenchError, ask, core_stat, fmt,  # noqa: E402
                      loadavg, med, niced, proc_cpu_ticks, proc_status_kib, run_dnsperf,
                      verdict)

REPO_DIR = os.path.dirname(BENCH_DIR)
STACK_DIR = os.path.join(REPO_DIR, "tests", "data", "stack")
INSIDE_ENV = "PKDNS_STACK_BENCH_NETNS"

FRONT = ("127.0.0.1", 53)
PKDNS = ("127.0.0.1", 5300)
FORWARDER = ("127.0.0.1", 5301)
RESOLV_FILE = "/etc/dnsmasq-resolv.conf"
ISP_ADDR = "198.51.100.53"  # RFC 5737; put on lo inside the namespace
ISP_ANSWER = "192.0.2.1"    # every ordinary name
KEY_ANSWER = "192.0.2.99"   # every published key

# What --smoke sets: every step runs once, briefly (see the docstring).
SMOKE = {"rounds": 1, "duration": 1, "names": 20, "keys": 2, "nodes": 10, "outstanding": 20,
         "clients": 2, "threads": 1, "timeout": 1, "max_seconds": 120}

# The targets, as ratios ours / original.
TARGET_QPS = 1.2
TARGET_CPU = 1.0   # less CPU per query
TARGET_RSS = 0.5

ZBASE32_KEY = re.compile(r"^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$")


# ---------------------------------------------------------------- namespaces

def reexec_in_namespace():
    """This script again, inside fresh network and mount namespaces; never returns."""
    if os.geteuid() != 0:
        sys.exit("bench/stack/run.py makes a network namespace and must run as root")
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        sys.exit("unshare (util-linux) and ip (iproute2) are needed; scripts/deps installs them")
    argv = [unshare, "--net", "--mount", "--propagation", "private", "--",
            sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
    os.execve(unshare, argv, dict(os.environ, **{INSIDE_ENV: "1"}))


def check_call(argv):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=20)
    if r.returncode != 0:
        raise BenchError(f"{shlex.join(argv)}: {r.stdout}{r.stderr}".strip())


class Namespace:
    """lo up with the ISP's address, and /etc overlaid on a tmpfs (the resolv file)."""

    def __init__(self):
        self.scratch = tempfile.mkdtemp(prefix="pkdns-stack-bench-etc-")
        self.mounted = []
        check_call(["ip", "link", "set", "lo", "up"])
        check_call(["ip", "addr", "add", f"{ISP_ADDR}/32", "dev", "lo"])
        check_call(["mount", "-t", "tmpfs", "tmpfs", self.scratch])
        self.mounted.append(self.scratch)
        upper, work = os.path.join(self.scratch, "u"), os.path.join(self.scratch, "w")
        os.mkdir(upper)
        os.mkdir(work)
        check_call(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir=/etc,upperdir={upper},workdir={work}", "/etc"])
        self.mounted.append("/etc")
        with open(RESOLV_FILE, "w") as f:  # as resolvconf writes it
            f.write(f"# Generated by resolvconf\nnameserver {ISP_ADDR}\n")

    def close(self):
        for path in reversed(self.mounted):
            subprocess.run(["umount", "-l", path], capture_output=True, timeout=20)
        os.rmdir(self.scratch)


# ---------------------------------------------------------------- processes

class StackProcs(benchlib.Procs):
    """Every process started here, each logging to OUTDIR/NAME.log after a line with its
    command, in a session of its own; stopped at the end whatever happens."""

    def __init__(self, outdir):
        super().__init__()
        self.outdir = outdir

    def start(self, name, argv):
        with open(os.path.join(self.outdir, f"{name}.log"), "ab") as log:
            log.write(("$ " + shlex.join(argv) + "\n").encode())
            log.flush()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        p.name = name
        self.running.append(p)
        return p


# ---------------------------------------------------------------- DNS


def wait_answer(endpoint, name, want, procs_to_watch, timeout_s=15.0):
    """Asks until name gets NOERROR with address `want`; fails after timeout_s or when a
    watched process exits."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        for p in procs_to_watch:
            if p.poll() is not None:
                raise BenchError(f"{p.name} exited with status {p.returncode}")
        last = ask(*endpoint, name)
        if last == (0, want):
            return
        time.sleep(0.05)
    raise BenchError(f"{endpoint[0]}:{endpoint[1]} gave {last} for {name} (want {want}) "
                     f"within {timeout_s:.0f} s")


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args, outdir, procs):
        self.args = args
        self.outdir = outdir
        self.procs = procs
        self.started = time.monotonic()
        self.runs = []
        self.notes = []
        self.cmds = {}
        self.keys = []
        self.bootstrap = []
        self.isp = None
        self.testnet = None

    def check_budget(self, need_s):
        spent = time.monotonic() - self.started
        if spent + need_s > self.args.max_seconds:
            raise BenchError(f"time budget of {self.args.max_seconds} s would be exceeded "
                             f"({spent:.0f} s spent, next step needs {need_s:.0f} s)")

    def pinned(self, argv):
        return niced(self.args, ["taskset", "-c", str(self.args.daemon_core)] + argv)

    def start(self, name, argv):
        self.cmds.setdefault(name, shlex.join(argv))
        return self.procs.start(name, argv)

    # -- what both stacks share: the ISP server, the testnet and the published keys

    def start_isp(self):
        argv = self.pinned([self.args.dnsmasq, "--keep-in-foreground", "--no-resolv",
                            "--no-hosts", "--conf-file=/dev/null", "--bind-interfaces",
                            f"--listen-address={ISP_ADDR}", "--port=53",
                            f"--address=/#/{ISP_ANSWER}", "--local-ttl=3600", "--pid-file=",
                            "--user=root", "--log-facility=-"])
        self.isp = self.start("isp", argv)
        wait_answer((ISP_ADDR, 53), "ready.bench.test", ISP_ANSWER, [self.isp])

    def start_testnet(self):
        argv = self.pinned([self.args.cli, "testnet", "--nodes", str(self.args.nodes),
                            "--bind", "127.0.0.1"])
        self.testnet = self.start("testnet", argv)
        log = os.path.join(self.outdir, "testnet.log")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(log) as f:
                text = f.read()
            if re.search(r"testnet ready: \d+ nodes", text):
                self.bootstrap = re.findall(r"^(127\.0\.0\.1:\d+)$", text, re.MULTILINE)
                time.sleep(3)  # routing tables fill
                return
            if self.testnet.poll() is not None:
                break
            time.sleep(0.1)
        raise BenchError(f"the testnet did not come up, see {log}")

    def publish_keys(self):
        """Publishes the keys with pkdns-cli, all at once; each holds @ A KEY_ANSWER."""
        a = self.args
        zone = os.path.join(self.outdir, "key.zone")
        with open(zone, "w") as f:
            f.write(f"@ A {KEY_ANSWER}\n")
        jobs = []
        for i in range(a.keys):
            seed = os.path.join(self.outdir, f"key{i}.seed")
            subprocess.run([a.cli, "generate", seed], check=True, capture_output=True,
                           timeout=10)
            key = subprocess.run([a.cli, "publickey", seed], check=True, capture_output=True,
                                 text=True, timeout=10).stdout.strip()
            if not ZBASE32_KEY.match(key):
                raise BenchError(f"pkdns-cli publickey gave {key!r}")
            argv = [a.cli, "publish", seed, zone, "--bootstrap", ",".join(self.bootstrap),
                    "--bind", "127.0.0.1:0", "--rate-limit", "100000", "--timeout-ms", "20000"]
            jobs.append((key, subprocess.Popen(argv, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True)))
        try:
            for key, p in jobs:
                out, _ = p.communicate(timeout=40)
                m = re.search(r"stored on (\d+) nodes", out)
                if p.returncode != 0 or not m or int(m.group(1)) < 1:
                    raise BenchError(f"publishing {key} failed:\n{out}")
                self.keys.append(key)
        finally:
            for _, p in jobs:  # on an error, none may outlive the benchmark
                if p.poll() is None:
                    p.kill()
                    p.wait()

    def write_files(self):
        """The pkdns stand-in's file and dnsperf's query file."""
        a = self.args
        with open(os.path.join(STACK_DIR, "pkdns.toml")) as f:
            stack = f.read()
        if not stack.rstrip().endswith("[dht]"):
            raise BenchError("the stack's pkdns.toml no longer ends in its [dht] section")
        nodes = "".join(f'    "{b}",\n' for b in self.bootstrap)
        self.pkdns_conf = os.path.join(self.outdir, "pkdns.toml")
        with open(self.pkdns_conf, "w") as f:
            f.write(stack + "# appended for the benchmark (see bench/stack/run.py)\n"
                    f"bootstrap = [\n{nodes}    ]\n"
                    f'state_dir = "{self.outdir}"\nread_only = true\n'
                    # every testnet node shares 127.0.0.1: the node's per-IP limits (3
                    # queries a second sent) would stretch each lookup over seconds
                    "node_rate_limit = 100000\n"
                    "[dns]\nquery_rate_limit = 0\n")
        self.datafile = os.path.join(self.outdir, "queries.txt")
        lines, ordinary, k = [], 0, 0
        while ordinary < a.names:
            if len(lines) % 10 == 9:
                lines.append(f"{self.keys[k % len(self.keys)]} A\n")
                k += 1
            else:
                lines.append(f"name{ordinary:04d}.bench.test A\n")
                ordinary += 1
        with open(self.datafile, "w") as f:
            f.writelines(lines)

    # -- one stack

    def start_stack(self, kind):
        """The three daemons of one stack, pinned to the daemon core, in the stack's order:
        pkdns and the forwarder first, then the front end that checks them."""
        a = self.args
        dnsdist_conf = os.path.join(STACK_DIR, "dnsdist.conf")
        dnsmasq_conf = os.path.join(STACK_DIR, "dnsmasq.conf")
        pkdns = self.start(f"{kind}-pkdns", self.pinned(
            [a.pkdns, "-c", self.pkdns_conf, "-f", f"{FORWARDER[0]}:{FORWARDER[1]}"]))
        if kind == "ours":
            fwd = self.start("ours-forwarder", self.pinned([a.forwarder, "-c", dnsmasq_conf]))
        else:
            fwd = self.start("original-dnsmasq", self.pinned(
                [a.dnsmasq, "-C", dnsmasq_conf, "--keep-in-foreground", "--log-facility=-",
                 "--pid-file="]))
        stack = [pkdns, fwd]
        wait_answer(FORWARDER, "ready.bench.test", ISP_ANSWER, stack)
        wait_answer(PKDNS, "ready.bench.test", ISP_ANSWER, stack)
        if kind == "ours":
            front = self.start("ours-router", self.pinned([a.router, "-c", dnsdist_conf]))
        else:
            front = self.start("original-dnsdist", self.pinned(
                [a.dnsdist, "--supervised", "--disable-syslog", "-C", dnsdist_conf]))
        stack.append(front)
        wait_answer(FRONT, "ready.bench.test", ISP_ANSWER, stack)
        return stack

    def warm(self, kind, stack):
        """Every key until pkdns has it, then every line once; then the two checks."""
        for key in self.keys:
            wait_answer(FRONT, key, KEY_ANSWER, stack, timeout_s=20)
        warm = run_dnsperf(self.args, *FRONT, self.datafile,
                           os.path.join(self.outdir, f"warm-{kind}.dnsperf.txt"),
                           maxruns=1, outstanding=20)
        if warm["lost"]:
            self.notes.append(f"a warm-up of {kind} lost {warm['lost']} queries")
        wait_answer(FRONT, "name0000.bench.test", ISP_ANSWER, stack, timeout_s=5)
        wait_answer(FRONT, self.keys[0], KEY_ANSWER, stack, timeout_s=5)

    def snapshot(self, stack, dnsperf_pid):
        return {"stack": sum(proc_cpu_ticks(p.pid) for p in stack),
                "each": [proc_cpu_ticks(p.pid) for p in stack],
                "outside": proc_cpu_ticks(self.isp.pid) + proc_cpu_ticks(self.testnet.pid),
                "dnsperf": proc_cpu_ticks(dnsperf_pid),
                "gen": core_stat(self.args.gen_core), "core": core_stat(self.args.daemon_core)}

    def one_run(self, kind, rnd):
        a = self.args
        self.check_budget(a.duration + a.timeout + 60)
        stack = self.start_stack(kind)
        try:
            self.warm(kind, stack)
            r = run_dnsperf(a, *FRONT, self.datafile,
                            os.path.join(self.outdir, f"r{rnd}-{kind}.dnsperf.txt"),
                            limit_s=a.duration,
                            sample=lambda pid: self.snapshot(stack, pid))
            rss = [proc_status_kib(p.pid, "VmRSS") for p in stack]
            hwm = [proc_status_kib(p.pid, "VmHWM") for p in stack]
        finally:
            statuses = [self.procs.stop(p) for p in reversed(stack)]
        first, last, seconds = r.pop("window")
        answered = r["qps"] * min(seconds, r["runtime_s"])
        cpu_s = (last["stack"] - first["stack"]) / CLK_TCK
        span = seconds * CLK_TCK
        busy = (last["gen"]["busy"] - first["gen"]["busy"]
                + last["core"]["busy"] - first["core"]["busy"])
        mine = (last["stack"] - first["stack"] + last["dnsperf"] - first["dnsperf"]
                + last["outside"] - first["outside"])
        steal = (last["gen"]["steal"] - first["gen"]["steal"]
                 + last["core"]["steal"] - first["core"]["steal"])
        softirq = (last["gen"]["softirq"] - first["gen"]["softirq"]
                   + last["core"]["softirq"] - first["core"]["softirq"])
        r.update({
            "round": rnd, "stack": kind, "window_s": seconds,
            "cpu_s": cpu_s,
            "cpu_us_per_query": 1e6 * cpu_s / answered if answered else None,
            "cpu_each_s": [(b - f) / CLK_TCK for f, b in zip(first["each"], last["each"])],
            "outside_cpu_s": (last["outside"] - first["outside"]) / CLK_TCK,
            "rss_kib": sum(rss), "rss_each_kib": rss, "hwm_kib": sum(hwm),
            "daemon_core_busy": (last["core"]["busy"] - first["core"]["busy"]) / span,
            "softirq": softirq / span,
            "others": max(0, busy - softirq - mine) / span, "steal": steal / span,
            "not_noerror": r["completed"] - r["rcodes"].get("NOERROR", 0),
            "exit_statuses": statuses[::-1],
        })
        self.runs.append(r)
        each = " + ".join(f"{c:.2f}" for c in r["cpu_each_s"])
        print(f"  r{rnd} {kind:8} {r['qps']:8.0f} qps  lost {r['lost']:5}  "
              f"not NOERROR {r['not_noerror']:5}  {r['cpu_us_per_query'] or 0:6.2f} us/q "
              f"(pkdns + fwd + front: {each} s)  RSS {r['rss_kib'] / 1024:6.1f} MiB  "
              f"others {100 * r['others']:3.0f}%  steal {100 * r['steal']:2.0f}%", flush=True)

    def run(self):
        a = self.args
        self.start_isp()
        self.start_testnet()
        self.publish_keys()
        self.write_files()
        kinds = ["ours", "original"]
        for rnd in range(1, a.rounds + 1):
            print(f"round {rnd}/{a.rounds} (load {loadavg()})", flush=True)
            shift = (rnd - 1) % 2
            for kind in kinds[shift:] + kinds[:shift]:
                self.one_run(kind, rnd)


# ---------------------------------------------------------------- report

def paired(runs, key):
    out = []
    for rnd in sorted({r["round"] for r in runs}):
        ours = [r[key] for r in runs if (r["round"], r["stack"]) == (rnd, "ours")]
        theirs = [r[key] for r in runs if (r["round"], r["stack"]) == (rnd, "original")]
        if ours and theirs and ours[0] is not None and theirs[0]:
            out.append(ours[0] / theirs[0])
    return out


def spread(values, digits=0):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return fmt(values[0], digits)
    return f"{fmt(med(values), digits)} ({fmt(min(values), digits)}–{fmt(max(values), digits)})"


def report(saved):
    runs = saved["runs"]
    judged = not saved["args"].get("smoke")
    for r in runs:  # pkdns is the same program in both stacks: the other two on their own
        answered = r["qps"] * min(r["window_s"], r["runtime_s"])
        r["cpu_us_per_query_no_pkdns"] = (1e6 * sum(r["cpu_each_s"][1:]) / answered
                                          if answered else None)

    def pick(kind, key, scale=1.0):
        return [r[key] * scale for r in runs if r["stack"] == kind and r[key] is not None]

    rows = [("QPS", "qps", 0, 1.0, TARGET_QPS, True, f"≥ {TARGET_QPS}×"),
            ("CPU µs/query, all three daemons", "cpu_us_per_query", 2, 1.0, TARGET_CPU, False,
             f"< {TARGET_CPU}×"),
            ("CPU µs/query, front end and forwarder only (pkdns left out)",
             "cpu_us_per_query_no_pkdns", 2, 1.0, None, None, ""),
            ("RSS after the run, all three daemons, MiB", "rss_kib", 1, 1 / 1024, TARGET_RSS,
             False, f"≤ {TARGET_RSS}×"),
            ("peak RSS (VmHWM) summed, MiB", "hwm_kib", 1, 1 / 1024, None, None, ""),
            ("lost queries", "lost", 0, 1.0, None, None, ""),
            ("answers other than NOERROR", "not_noerror", 0, 1.0, None, None, ""),
            ("average latency, ms", "latency_s", 3, 1000.0, None, None, "")]
    lines = ["| measure | ours | original | ours / original | target | |",
             "|---|---|---|---|---|---|"]
    for label, key, digits, scale, target, higher, target_txt in rows:
        ratios = paired(runs, key) if target or key.endswith("no_pkdns") else []
        ok = verdict(med(ratios), target, higher) if target and judged else ""
        lines.append(f"| {label} | {spread(pick('ours', key, scale), digits)} | "
                     f"{spread(pick('original', key, scale), digits)} | "
                     f"{spread(ratios, 2) + '×' if ratios else ''} | {target_txt} | {ok} |")
    per_run = ["| round | stack | QPS | lost | not NOERROR | CPU s: pkdns, forwarder/dnsmasq, "
               "router/dnsdist | µs/query | RSS MiB: pkdns, forwarder/dnsmasq, router/dnsdist "
               "| ISP + testnet CPU s | core 1 busy | softirq | other processes | steal |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        per_run.append(
            f"| {r['round']} | {r['stack']} | {fmt(r['qps'])} | {fmt(r['lost'])} | "
            f"{fmt(r['not_noerror'])} | {', '.join(f'{c:.2f}' for c in r['cpu_each_s'])} | "
            f"{fmt(r['cpu_us_per_query'], 2)} | "
            f"{', '.join(f'{k / 1024:.1f}' for k in r['rss_each_kib'])} | "
            f"{r['outside_cpu_s']:.2f} | {100 * r['daemon_core_busy']:.0f}% | "
            f"{100 * r['softirq']:.0f}% | {100 * r['others']:.0f}% | {100 * r['steal']:.0f}% |")
    return "\n".join(lines), "\n".join(per_run)


def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except Exception as e:
        return f"unknown ({e})"


def write_summary(outdir, saved):
    summary, per_run = report(saved) if saved["runs"] else ("(no runs)", "")

    def rel(text):  # paths under the repository, relative to it
        return text.replace(REPO_DIR + os.sep, "")

    env, args = saved["env"], saved["args"]
    text = [
        f"Run finished {saved['finished']} after {saved['elapsed_s']:.0f} s: {args['rounds']} "
        f"rounds × {args['duration']} s per stack; load average {saved['load_before']} before, "
        f"{saved['load_after']} after.",
        "",
    ] + (["**A smoke run (--smoke): it shows that the benchmark works; its figures are not "
          "measurements.**", ""] if args.get("smoke") else []) + [
        f"- command: `{saved['command']}` (from the repository root, as root)",
        f"- host: {env['host']}",
        f"- ours: {env['router']}, {env['forwarder']}; original: {env['dnsdist']}, "
        f"{env['dnsmasq']}; pkdns in both: {env['pkdns']}",
        f"- load: {args['names']} ordinary names and {args['keys']} pkarr keys, 10% of the "
        f"lines keys, all answered from the caches",
        f"- dnsperf: `{rel(saved['runs'][0]['argv']) if saved['runs'] else '?'}`",
    ] + [f"- {name}: `{rel(cmd)}`" for name, cmd in saved["commands"].items()] + [
        "", "Medians over the rounds, (min–max) beside them; ratios paired per round.", "",
        summary, "", "Every run (softirq, other processes and steal: both cores together, as "
        "a share of one core's time in the window):", "", per_run]
    if saved["notes"] or saved["error"]:
        text += ["", "Notes:", ""] + [f"- {n}" for n in saved["notes"]]
        if saved["error"]:
            text.append(f"- **stopped early**: {saved['error']}")
    md = "\n".join(text) + "\n"
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(md)
    return md


# ---------------------------------------------------------------- main

def parse_args():
    build = os.path.join(REPO_DIR, "build-stack-rel", "bin")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=build, help="our programs (default build-stack-rel/bin)")
    ap.add_argument("--dnsdist", default="/usr/bin/dnsdist")
    ap.add_argument("--dnsmasq", default="/usr/sbin/dnsmasq")
    ap.add_argument("--dnsperf", default="/usr/bin/dnsperf")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per dnsperf run (≤ 15)")
    ap.add_argument("--names", type=int, default=135,
                    help="ordinary names (≤ 140 fit dnsmasq's default cache of 150)")
    ap.add_argument("--keys", type=int, default=15, help="pkarr keys published")
    ap.add_argument("--nodes", type=int, default=20, help="testnet nodes")
    ap.add_argument("--outstanding", type=int, default=500, help="dnsperf -q")
    ap.add_argument("--clients", type=int, default=16, help="dnsperf -c")
    ap.add_argument("--threads", type=int, default=2, help="dnsperf -T")
    ap.add_argument("--timeout", type=int, default=3, help="dnsperf -t, seconds")
    ap.add_argument("--gen-core", type=int, default=0)
    ap.add_argument("--daemon-core", type=int, default=1)
    ap.add_argument("--nice", type=int, default=-10,
                    help="niceness of dnsperf and every daemon (0: leave as is)")
    ap.add_argument("--max-seconds", type=int, default=400, help="budget for the whole run")
    ap.add_argument("--out", default=None, help="default bench/out/stack-<time>")
    ap.add_argument("--rerender", default=None, metavar="DIR",
                    help="only write DIR/summary.md again from DIR/results.json")
    ap.add_argument("--smoke", action="store_true",
                    help="check that the benchmark works, measure nothing: "
                    + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in SMOKE.items()))
    args = ap.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    if not 1 <= args.duration <= 15 or not 1 <= args.rounds <= 10:
        ap.error("--duration must be 1..15 and --rounds 1..10")
    if not 10 <= args.names <= 10000 or not 1 <= args.keys <= 200 or args.max_seconds > 900:
        ap.error("--names 10..10000, --keys 1..200, --max-seconds ≤ 900")
    for name in ("router", "pkdns", "forwarder", "cli"):
        prog = {"router": "pkdns-router", "cli": "pkdns-cli"}.get(name, "pkdns-" + name)
        setattr(args, name, os.path.join(args.bin, "pkdns" if name == "pkdns" else prog))
    return args


def main():
    args = parse_args()
    if args.rerender:
        with open(os.path.join(args.rerender, "results.json")) as f:
            print(write_summary(args.rerender, json.load(f)))
        return 0
    if os.environ.get(INSIDE_ENV) != "1":
        reexec_in_namespace()
    for path in (args.router, args.pkdns, args.forwarder, args.cli, args.dnsdist, args.dnsmasq,
                 args.dnsperf):
        if not os.access(path, os.X_OK):
            sys.exit(f"not executable: {path}")
    outdir = os.path.abspath(args.out or os.path.join(
        BENCH_DIR, "out", "stack-" + time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(outdir, exist_ok=True)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(args.max_seconds + 60)  # behind the per-step budget

    procs = StackProcs(outdir)
    bench = Bench(args, outdir, procs)
    env = {
        "host": f"{platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs",
        "router": first_line([args.router, "--version"]),
        "forwarder": first_line([args.forwarder, "--version"]),
        "pkdns": first_line([args.pkdns, "--version"]),
        "dnsdist": first_line([args.dnsdist, "--version"]),
        "dnsmasq": first_line([args.dnsmasq, "--version"]).split("  ")[0],
    }
    load_before, error, ns = loadavg(), None, None
    try:
        ns = Namespace()
        bench.run()
    except (BenchError, KeyboardInterrupt, subprocess.SubprocessError) as e:
        error = str(e) or type(e).__name__
        print(f"benchmark stopped early: {error}", file=sys.stderr)
    finally:
        signal.alarm(0)
        procs.stop_all()
        if ns is not None:
            ns.close()
    argv = ["python3", os.path.relpath(os.path.abspath(sys.argv[0]), REPO_DIR)] + sys.argv[1:]
    saved = {"args": {k: v for k, v in vars(args).items()}, "env": env, "runs": bench.runs,
             "notes": bench.notes, "error": error, "commands": bench.cmds,
             "command": shlex.join(argv), "load_before": load_before,
             "load_after": loadavg(), "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
             "elapsed_s": time.monotonic() - bench.started}
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(saved, f, indent=1)
    print()
    print(write_summary(outdir, saved))
    print(f"results in {outdir}")
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
