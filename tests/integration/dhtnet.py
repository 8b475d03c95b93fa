"""Plumbing for the DHT integration tests, beside harness.py.

- our nodes: `pkdns-cli testnet` (Testnet) and the low-level `dht-put`/`dht-get` (dht_put,
  dht_get);
- libtorrent 2.0 through Debian's python3-libtorrent: sessions in this process (LtNetwork);
- bittorrent-dht 11 from npm: node processes driven over stdin/stdout (JsNetwork, with
  js/dht_peer.mjs);
- BEP 44 signing with the `cryptography` package, and a tiny bencode, for scripted peers.

Everything binds 127.0.0.1 and is bootstrapped only from loopback peers.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import warnings

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import harness
from harness import Failure, expect

CLI = os.path.join(harness.BIN_DIR, "pkdns-cli")
JS_DIR = harness.JS_DIR
NODE = shutil.which("node") or "/usr/bin/node"
LOOPBACK_RATE = "100000"  # per-IP limit for our CLI nodes: every peer here is 127.0.0.1


# ---------------------------------------------------------------------------------------------
# Keys and BEP 44 items.


def public_key(seed):
    """The ed25519 public key (32 bytes) of a 32-byte seed."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def libtorrent_secret(seed):
    """libtorrent's 64-byte ed25519 secret key of a seed: SHA-512 of the seed, its first half
    clamped as RFC 8032 5.1.5 says (the form of the ed25519 library libtorrent carries)."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 63
    h[31] |= 64
    return bytes(h)


def bencode(value):
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray)):
        return b"%d:%s" % (len(value), bytes(value))
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(value))


def bdecode(data):
    """Decodes one bencoded element; raises ValueError on anything malformed."""
    value, end = _bdecode_at(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes")
    return value


def _bdecode_at(data, i):
    if i >= len(data):
        raise ValueError("truncated")
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c == b"l" or c == b"d":
        items, i = [], i + 1
        while data[i:i + 1] != b"e":
            item, i = _bdecode_at(data, i)
            items.append(item)
        if c == b"l":
            return items, i + 1
        return dict(zip(items[0::2], items[1::2])), i + 1
    colon = data.index(b":", i)
    length = int(data[i:colon])
    if colon + 1 + length > len(data):
        raise ValueError("string past the end")
    return data[colon + 1:colon + 1 + length], colon + 1 + length


def signed_string(seq, value, salt=b""):
    """What a BEP 44 mutable item's signature covers; value is the raw byte string."""
    prefix = bencode(b"salt") + bencode(salt) if salt else b""
    return prefix + b"3:seqi%de1:v" % seq + bencode(value)


def sign(seed, seq, value, salt=b""):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(signed_string(seq, value, salt))


# ---------------------------------------------------------------------------------------------
# Our nodes.


def cli_available():
    if not os.access(CLI, os.X_OK):
        raise Failure(f"{CLI} is not built")


class Testnet(harness.Process):
    """`pkdns-cli testnet --nodes N` on 127.0.0.1; .addrs holds the nodes' (host, port)."""

    def __init__(self, case, nodes, bootstrap=(), extra=(), settle=True):
        cli_available()
        argv = [CLI, "testnet", "--nodes", nodes, "--bind", "127.0.0.1", *extra]
        if bootstrap:
            argv += ["--bootstrap", ",".join(f"{h}:{p}" for h, p in bootstrap)]
        super().__init__(case, f"testnet{len(case.processes)}", argv, must_survive=True)
        self.wait_log(r"testnet ready: \d+ nodes", timeout=20)
        self.addrs = [(m.group(1), int(m.group(2))) for m in
                      re.finditer(r"^(127\.\d+\.\d+\.\d+):(\d+)$", self.log(), re.MULTILINE)]
        expect(len(self.addrs) == nodes, f"testnet printed {len(self.addrs)} of {nodes} addresses")
        if settle:
            self.wait_settled()

    def wait_settled(self, timeout=20.0):
        """Waits until node 0 knows nearly everyone (min(8, N - 1) - 1 others) and the last
        node a few, so that a lookup started now finds the neighbourhood of its target."""
        first = max(1, min(8, len(self.addrs) - 1) - 1)
        last = min(3, len(self.addrs) - 1)
        wait_for(lambda: self.node_stats(0)["table"] >= first and
                 self.node_stats(len(self.addrs) - 1)["table"] >= last,
                 f"testnet node 0 knows {first} others, the last {last}", timeout=timeout,
                 step=0.2)

    def wait_quiet(self, index, timeout=30.0):
        """Waits until node `index` has read everything sent to it (its count of received
        datagrams stops moving); returns its counters."""
        previous = {}

        def quiet():
            nonlocal previous
            stats = self.node_stats(index)
            done = stats.get("received") == previous.get("received")
            previous = stats
            return stats if done else None

        return wait_for(quiet, f"node {index} quiet", timeout=timeout, step=0.5)

    def bootstrap_arg(self, count=3):
        return ",".join(f"{h}:{p}" for h, p in self.addrs[:count])

    def node_stats(self, index, timeout=5.0):
        """Asks for the counters (SIGUSR1) and returns node `index`'s as a dict."""
        mark = len(self.log())
        self.send_signal(10)  # SIGUSR1
        deadline = time.monotonic() + timeout
        # Only a whole line: the testnet's output may be read while a line is half written.
        pattern = re.compile(rf"node {index} \S+: ([^\n]*)\n")
        while time.monotonic() < deadline:
            m = pattern.search(self.log(), mark)
            if m:
                return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
            time.sleep(0.05)
        raise Failure(f"no counters for node {index} within {timeout:.0f} s")


def run_cli(args, timeout=40.0):
    cli_available()
    return harness.run_command([CLI, *args], timeout=timeout)


def dht_put(bootstrap, seed, seq, value, salt=None, timeout_ms=20000, want=4, attempts=3,
            extra=()):
    """Our dht-put (with `extra` arguments); returns (exit status, number of nodes that stored
    it, output). Like a publisher, it puts again (up to `attempts` times) while fewer than
    `want` nodes stored the item, a second apart: on a loaded machine the requests of one put
    can time out, and on a young testnet the nodes hand out only the contacts that have
    answered them, which a second of pings adds to. A refusal (an error code in the output)
    is not retried."""
    args = ["dht-put", "--bootstrap", bootstrap, "--seed", seed.hex(), "--seq", str(seq),
            "--value-hex", value.hex(), "--rate-limit", LOOPBACK_RATE, "--bind", "127.0.0.1:0",
            "--timeout-ms", str(timeout_ms), *extra]
    if salt:
        args += ["--salt", salt]
    for attempt in range(attempts):
        if attempt > 0:
            time.sleep(1.0)
        status, out = run_cli(args, timeout=timeout_ms / 1000 + 10)
        m = re.search(r"stored on (\d+) nodes", out)
        stored = int(m.group(1)) if m else 0
        if stored >= want or re.search(r"\b30[12]\b", out):
            break
    return status, stored, out


class GetResult:
    """What our dht-get printed: first and newest (seq, value) or None, and the output."""

    def __init__(self, status, out):
        self.status = status
        self.out = out
        self.first = self._find(r"^first seq=(-?\d+) value=([0-9a-f]*) .*ms=(\d+)$")
        self.newest = self._find(r"^newest seq=(-?\d+) value=([0-9a-f]*) ")
        m = re.search(r"^first .* ms=(\d+)$", out, re.MULTILINE)
        self.first_ms = int(m.group(1)) if m else None

    def _find(self, pattern):
        m = re.search(pattern, self.out, re.MULTILINE)
        return (int(m.group(1)), bytes.fromhex(m.group(2))) if m else None


def dht_get(bootstrap, key, salt=None, timeout_ms=20000):
    args = ["dht-get", "--bootstrap", bootstrap, "--key", key.hex(), "--rate-limit",
            LOOPBACK_RATE, "--bind", "127.0.0.1:0", "--timeout-ms", str(timeout_ms)]
    if salt:
        args += ["--salt", salt]
    status, out = run_cli(args, timeout=timeout_ms / 1000 + 10)
    return GetResult(status, out)


def free_udp_ports(count):
    """`count` distinct UDP ports free on 127.0.0.1 right now."""
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def wait_for(predicate, what, timeout=20.0, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not within {timeout:.0f} s")
        time.sleep(step)


# ---------------------------------------------------------------------------------------------
# libtorrent.


def libtorrent_available():
    """libtorrent's Python module (Debian's python3-libtorrent)."""
    return harness.require_python_module("libtorrent", "python3-libtorrent")


class LtNetwork:
    """N libtorrent sessions in this process, each with its DHT on 127.0.0.1:PORT."""

    def __init__(self, case, count, bootstrap):
        lt = self.lt = libtorrent_available()  # imported here so other tests run without it
        self.sessions = []
        self.ports = free_udp_ports(count)
        boot = ",".join(f"{h}:{p}" for h, p in bootstrap)
        for port in self.ports:
            self.sessions.append(lt.session(self._settings(port, boot)))
        case.servers.append(self)

    def _settings(self, port, boot):
        lt = self.lt
        return {
            "listen_interfaces": f"127.0.0.1:{port}",
            "enable_dht": True,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "dht_bootstrap_nodes": boot,
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_prefer_verified_node_ids": False,
            "dht_block_ratelimit": 100000,
            "dht_upload_rate_limit": 10000000,  # 0 crashes 2.0.8
            "alert_mask": lt.alert.category_t.dht_notification
            | lt.alert.category_t.dht_operation_notification
            | lt.alert.category_t.error_notification,
        }

    def addrs(self):
        return [("127.0.0.1", p) for p in self.ports]

    def lookup_random(self, index):
        """Starts a lookup of a random target from session `index` (a get of an immutable item
        nobody stored), the traffic through which a DHT node meets more of the network."""
        self.sessions[index].dht_get_immutable_item(self.lt.sha1_hash(os.urandom(20)))

    def routing_table(self, index):
        """The (host, port) of every node in session `index`'s routing table, as its DHT
        state lists them."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # no successor in 2.0's Python
            state = self.sessions[index].dht_state()
        found = set()
        for compact in (state or {}).get(b"nodes", []):
            if len(compact) == 6:
                found.add((socket.inet_ntoa(compact[:4]), int.from_bytes(compact[4:], "big")))
        return found

    def _wait_alert(self, index, kind, timeout, accept=lambda a: True):
        ses = self.sessions[index]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ses.wait_for_alert(100)
            for a in ses.pop_alerts():
                if isinstance(a, kind) and accept(a):
                    return a
        return None

    def get_mutable(self, index, key, salt=b"", timeout=20.0):
        """dht_get_mutable_item from session `index`; returns (seq, value) of the
        authoritative answer, or None."""
        self.sessions[index].dht_get_mutable_item(key, salt)
        alert = self._wait_alert(index, self.lt.dht_mutable_item_alert, timeout,
                                 lambda a: bytes(a.key) == key and a.authoritative)
        if alert is None:
            return None
        item = alert.item  # 2.0.8's bindings give a dict with the whole item
        return alert.seq, item["value"] if isinstance(item, dict) else item

    def put_mutable(self, index, seed, value, salt=b"", timeout=20.0):
        """dht_put_mutable_item from session `index` (seq: highest seen + 1); returns the
        put alert's (seq, num_success), or None."""
        key = public_key(seed)
        self.sessions[index].dht_put_mutable_item(libtorrent_secret(seed), key, value, salt)
        alert = self._wait_alert(index, self.lt.dht_put_alert, timeout,
                                 lambda a: bytes(a.public_key) == key)
        if alert is None:
            return None
        return alert.seq, alert.num_success

    def stop(self):
        for ses in self.sessions:
            ses.pause()
        self.sessions = []


# ---------------------------------------------------------------------------------------------
# bittorrent-dht (npm), driven through js/dht_peer.mjs.


def js_available():
    harness.require_node_module("bittorrent-dht")


class JsNetwork:
    """A node process running `count` bittorrent-dht nodes on 127.0.0.1; requests are JSON
    lines on its stdin, one JSON line answers each. `script` (in js/) is the peer program:
    dht_peer.mjs, or pkarr_peer.mjs for pkarr packets signed by the npm pkarr package."""

    def __init__(self, case, count, bootstrap, script="dht_peer.mjs"):
        js_available()
        self.log_path = case.path(f"js{len(case.servers)}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([NODE, os.path.join(JS_DIR, script)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, cwd=JS_DIR,
                                     preexec_fn=harness._die_with_parent)
        self.lock = threading.Lock()
        case.servers.append(self)
        reply = self.request({"cmd": "start", "count": count,
                              "bootstrap": [f"{h}:{p}" for h, p in bootstrap]}, timeout=20)
        self.addrs = [("127.0.0.1", p) for p in reply["ports"]]

    def request(self, msg, timeout=30.0):
        with self.lock:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
            result = {}

            def read():
                result["line"] = self.proc.stdout.readline()

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            reader.join(timeout)
            line = result.get("line")
        if not line:
            raise Failure(f"bittorrent-dht peer gave no answer to {msg['cmd']} "
                          f"within {timeout:.0f} s (log {self.log_path})")
        reply = json.loads(line)
        if "error" in reply:
            raise Failure(f"bittorrent-dht {msg['cmd']}: {reply['error']}")
        return reply

    def put(self, index, seed, seq, value, salt=b""):
        """Signs here and stores through node `index`; returns how many nodes stored it."""
        msg = {"cmd": "put", "node": index, "k": public_key(seed).hex(), "seq": seq,
               "v": value.hex(), "sig": sign(seed, seq, value, salt).hex(), "salt": salt.hex()}
        return self.request(msg)["stored"]

    def get(self, index, key, salt=b""):
        """Returns (seq, value) of node `index`'s get, or None."""
        reply = self.request({"cmd": "get", "node": index, "k": key.hex(), "salt": salt.hex()})
        if reply.get("seq") is None:
            return None
        return reply["seq"], bytes.fromhex(reply["v"])

    def table(self, index):
        """(host, port) of every node in node `index`'s routing table."""
        nodes = self.request({"cmd": "table", "node": index})["nodes"]
        return {(n["host"], n["port"]) for n in nodes}

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
