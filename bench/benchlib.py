"""Pieces the benchmarks under bench/ share: reading a process's and the machine's counters
from /proc, a minimal DNS query for readiness checks, free ports, and number formatting."""

import os
import random
import re
import shlex
import socket
import statistics
import struct
import subprocess
import time

# RFC 1035 4.1.1: the RD bit of the header flags.
DNS_FLAG_RD = 0x0100
DNS_TYPE_A = 1
DNS_CLASS_IN = 1


class BenchError(Exception):
    pass


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def dns_query(name, qtype, qclass):
    qid = random.randrange(0x10000)
    msg = struct.pack(">HHHHHH", qid, DNS_FLAG_RD, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    return qid, msg + b"\0" + struct.pack(">HH", qtype, qclass)


def skip_name(msg, pos):
    """The offset after the (possibly compressed) name at pos."""
    while pos < len(msg):
        n = msg[pos]
        if n == 0:
            return pos + 1
        if n & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + n
    raise ValueError("name runs past the message")


def first_a_record(msg):
    """(rcode, the address in the first A record of a reply's answer section or None)."""
    qdcount, ancount = struct.unpack(">HH", msg[4:8])
    pos = 12
    for _ in range(qdcount):
        pos = skip_name(msg, pos) + 4
    for _ in range(ancount):
        pos = skip_name(msg, pos)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        if rtype == DNS_TYPE_A and rdlen == 4:
            return msg[3] & 0x0F, socket.inet_ntoa(msg[pos:pos + 4])
        pos += rdlen
    return msg[3] & 0x0F, None


def ask(addr, port, name, timeout_s=0.5):
    """One A query over UDP: (rcode, first address), or None when nothing came back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout_s)
        qid, msg = dns_query(name, DNS_TYPE_A, DNS_CLASS_IN)
        s.sendto(msg, (addr, port))
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                reply, _ = s.recvfrom(4096)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == qid:
                return first_a_record(reply)
    return None


def free_port(addrs):
    """A port free for UDP and TCP on every address in addrs."""
    for _ in range(200):
        port = random.randrange(20000, 60000)
        try:
            for addr in addrs:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((addr, port))
            return port
        except OSError:
            continue
    raise BenchError("no free port found")


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


def verdict(value, target, higher_is_better):
    if value is None:
        return "–"
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "**not met**"


# What run_dnsperf reads from dnsperf's report.
DNSPERF_FIELDS = {
    "sent": r"Queries sent:\s+(\d+)",
    "completed": r"Queries completed:\s+(\d+)",
    "lost": r"Queries lost:\s+(\d+)",
    "runtime_s": r"Run time \(s\):\s+([\d.]+)",
    "qps": r"Queries per second:\s+([\d.]+)",
    "latency_s": r"Average Latency \(s\):\s+([\d.]+)",
}


def niced(args, argv):
    """argv at args.nice: other jobs on a shared machine then take less from it."""
    return ["nice", "-n", str(args.nice)] + argv if args.nice else argv


def run_sampled(name, argv, log_path, limit_s, bound_s, sample=None):
    """Runs a load generator to its end, its output to log_path (a file, not a pipe: a flood
    of "[Timeout]" lines must not block it). With sample, calls sample(pid) as it starts and
    again after limit_s, when it stops sending. Returns the exit status and, with sample,
    (first snapshot, second snapshot, seconds between them)."""
    with open(log_path, "w") as log:
        log.write("$ " + shlex.join(argv) + "\n")
        log.flush()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
    window = None
    try:
        if sample:
            t0, first = time.monotonic(), sample(p.pid)
            time.sleep(max(0.0, t0 + limit_s - time.monotonic()))
            window = (first, sample(p.pid), time.monotonic() - t0)
        return p.wait(timeout=bound_s), window
    except subprocess.TimeoutExpired:
        raise BenchError(f"{name} ran over {bound_s} s: {shlex.join(argv)}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def run_dnsperf(args, addr, port, datafile, log_path, limit_s=None, maxruns=None,
                outstanding=None, sample=None):
    """Runs dnsperf to its end and returns its figures. With sample, see run_sampled: the
    snapshots come back as "window" (after -l dnsperf only waits for late answers)."""
    argv = niced(args, ["taskset", "-c", str(args.gen_core), args.dnsperf,
                        "-s", addr, "-p", str(port), "-d", datafile,
                        "-m", getattr(args, "transport", "udp"),
                        "-c", str(args.clients), "-T", str(args.threads),
                        "-q", str(outstanding or args.outstanding), "-t", str(args.timeout)])
    if limit_s is not None:
        argv += ["-l", str(limit_s)]
    if maxruns is not None:
        argv += ["-n", str(maxruns)]
    status, window = run_sampled("dnsperf", argv, log_path, limit_s,
                                 (limit_s or 30) + args.timeout + 10, sample)
    with open(log_path) as f:
        text = f.read()
    if status != 0:
        raise BenchError(f"dnsperf failed ({status}), see {log_path}")

    out = {"argv": shlex.join(argv), "window": window}
    for key, rx in DNSPERF_FIELDS.items():
        m = re.search(rx, text)
        if not m:
            raise BenchError(f"no '{key}' in dnsperf output, see {log_path}")
        out[key] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    codes = re.search(r"Response codes:\s+(.*)", text)
    out["rcodes"] = dict((c, int(n)) for c, n in
                         re.findall(r"([A-Z]+) (\d+) \(", codes.group(1))) if codes else {}
    return out


RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
               5: "REFUSED"}


def run_dnsload(args, addr, port, datafile, log_path, limit_s, outstanding=None, sample=None):
    """Runs bench/tools/dnsload (args.dnsload) as run_dnsperf runs dnsperf and returns the
    same figures. dnsload polls instead of sleeping, so its core is always busy."""
    argv = niced(args, ["taskset", "-c", str(args.gen_core), args.dnsload,
                        "-s", addr, "-p", str(port), "-d", datafile, "-l", str(limit_s),
                        "-c", str(args.clients), "-q", str(outstanding or args.outstanding),
                        "-t", str(args.timeout)])
    status, window = run_sampled("dnsload", argv, log_path, limit_s,
                                 limit_s + args.timeout + 10, sample)
    with open(log_path) as f:
        fields = dict(line.split(None, 1) for line in f if re.match(r"^[a-z_0-9]+ \S", line))
    if status != 0 or "qps" not in fields:
        raise BenchError(f"dnsload failed ({status}), see {log_path}")
    rcodes = {}
    for key, value in fields.items():
        if key.startswith("rcode_"):
            code = int(key[len("rcode_"):])
            rcodes[RCODE_NAMES.get(code, f"RCODE{code}")] = int(value)
    return {"argv": shlex.join(argv), "window": window, "sent": int(fields["sent"]),
            "completed": int(fields["answered"]), "lost": int(fields["lost"]),
            "runtime_s": float(fields["duration_s"]), "qps": float(fields["qps"]),
            "latency_s": float(fields["latency_avg_ms"]) / 1000, "rcodes": rcodes,
            "unmatched": int(fields["unmatched"])}


def run_load(args, addr, port, datafile, log_path, limit_s, outstanding=None, sample=None):
    """The load generator args.generator names: "dnsperf" or "dnsload"."""
    run = run_dnsload if getattr(args, "generator", "dnsperf") == "dnsload" else run_dnsperf
    return run(args, addr, port, datafile, log_path, limit_s=limit_s, outstanding=outstanding,
               sample=sample)

# ---------------------------------------------------------------- process and core accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Procs:
    """Every process a benchmark starts, so that all of them can be stopped at the end."""

    def __init__(self):
        self.running = []

    def start(self, argv, log_path, stdout=None, new_session=False):
        """Starts argv with stderr (and stdout, unless given) to log_path; new_session puts it
        in a session of its own (so a Ctrl-C at the terminal reaches only this script)."""
        with open(log_path, "wb") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=log if stdout is None else stdout, stderr=log,
                                 start_new_session=new_session)
        self.running.append(p)
        return p

    def stop(self, p, grace_s=3.0):
        """SIGTERM, then SIGKILL after grace_s; returns the exit status."""
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=grace_s)
        if p in self.running:
            self.running.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(reversed(self.running)):
            try:
                self.stop(p, grace_s=2.0)
            except Exception as e:  # keep going: the others must still be stopped
                print(f"warning: could not stop pid {p.pid}: {e}")


def cpu_list(text):
    """The CPUs of a taskset-style list ("1", "2,3", "0-3") as ints."""
    cpus = []
    for part in str(text).split(","):
        lo, _, hi = part.partition("-")
        cpus += list(range(int(lo), int(hi or lo) + 1))
    return cpus


def core_stat(cores):
    """Ticks of the CPUs `cores` names (one number, or a taskset-style list), summed, from
    /proc/stat: busy (everything but idle, iowait and steal), softirq (packet delivery on
    loopback lands here) and steal."""
    wanted = {f"cpu{c}" for c in cpu_list(cores)}
    out = {"busy": 0, "softirq": 0, "steal": 0}
    with open("/proc/stat") as f:
        for line in f:
            if line.split(" ", 1)[0] in wanted:
                wanted.discard(line.split(" ", 1)[0])
                v = [int(x) for x in line.split()[1:]]
                user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
                out["busy"] += user + nice + system + irq + softirq
                out["softirq"] += softirq
                out["steal"] += steal
    if wanted:
        raise BenchError(f"{', '.join(sorted(wanted))} not in /proc/stat")
    return out


def udp_socket_drops(addr, port):
    """Datagrams dropped at the UDP socket bound to addr:port (proc(5), /proc/net/udp), or
    None when no such socket is listed."""
    want = "%08X:%04X" % (struct.unpack("<I", socket.inet_aton(addr))[0], port)
    for _ in range(5):  # a read racing sockets that come and go can skip a line
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[1] == want:
                    return int(cols[-1])
    return None


def udp_rcvbuf_errors():
    """Datagrams the kernel dropped because a socket's receive buffer was full (all sockets)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def percentile(values, p):
    """The value at rank p% (nearest rank) of values, or None for none."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def proc_cpu_ticks(pid):
    """utime + stime of a process and all its threads, in clock ticks (proc(5): fields 14 and
    15 of /proc/PID/stat, counted after the command name, which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])

