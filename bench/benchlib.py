"""Pieces the benchmarks under bench/ share: reading a process's and the machine's counters
from /proc, a minimal DNS query for readiness checks, free ports, and number formatting."""

import random
import socket
import statistics
import struct

# RFC 1035 4.1.1: the RD bit of the header flags.
DNS_FLAG_RD = 0x0100


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
