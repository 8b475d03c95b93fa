"""pkarr keys and packets for the pkdns benchmark, and a bulk publisher for a loopback testnet.

Publishing ten thousand packets one `pkdns-cli publish` (or `dht-put`) process at a time takes
a process start, a bootstrap and an iterative lookup per key. The publisher here does what
those lookups end in, for a whole batch at once: it asks every node of the testnet once (a BEP
44 `get`, which answers with the node's ID and a write token), and then, knowing every ID,
sends each packet's `put` straight to the DHT_K nodes whose IDs are closest to the item's
target. Those are the nodes an iterative lookup converges on, so a resolver finds the packets
exactly where `pkdns-cli publish` would have left them on a settled network.

Ed25519 signing uses the `cryptography` package; everything else is the standard library.
"""

import hashlib
import os
import random
import select
import socket
import struct
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ZBASE32 = "ybndrfg8ejkmcpqxot1uwisza345h769"  # pkarr's alphabet
DHT_K = 8                 # BEP 5: a bucket's size; BEP 44 stores an item on the K closest nodes
KRPC_ERR_PROTOCOL = 203   # BEP 5: also "bad token"
DNS_FLAGS_QR_AA = 0x8400  # RFC 1035 4.1.1: a response, authoritative
DNS_TYPE_A = 1
DNS_CLASS_IN = 1


# ---------------------------------------------------------------- keys and packets

def zbase32(data):
    bits = int.from_bytes(data, "big")
    nchars = (len(data) * 8 + 4) // 5
    bits <<= nchars * 5 - len(data) * 8
    return "".join(ZBASE32[(bits >> (5 * (nchars - 1 - i))) & 31] for i in range(nchars))


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def pkarr_message(key_text, index, ttl_s):
    """The DNS message of key number `index`: one A record at the key's apex, 10.x.y.z."""
    addr = struct.pack(">I", 0x0A000000 | (index & 0xFFFFFF))
    answer = (wire_name(key_text) + struct.pack(">HHIH", DNS_TYPE_A, DNS_CLASS_IN, ttl_s, 4)
              + addr)
    return struct.pack(">HHHHHH", 0, DNS_FLAGS_QR_AA, 0, 1, 0, 0) + answer


class Key:
    """A seed, its public key and its signed item (seq, value, sig)."""

    def __init__(self, index, seq, ttl_s, run_salt):
        self.index = index
        self.seed = hashlib.sha256(b"pkdns bench %s %d" % (run_salt, index)).digest()
        signer = Ed25519PrivateKey.from_private_bytes(self.seed)
        self.public = signer.public_key().public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)
        self.name = zbase32(self.public)
        self.target = hashlib.sha1(self.public).digest()  # BEP 44: SHA-1(k) without salt
        self.seq = seq
        self.value = pkarr_message(self.name, index, ttl_s)
        # BEP 44: the signature covers the bencoded "seq" and "v" pairs, without the dict.
        signed = b"3:seqi%de1:v%d:%s" % (seq, len(self.value), self.value)
        self.sig = signer.sign(signed)


def make_keys(count, ttl_s, run_salt):
    seq = int(time.time() * 1_000_000)  # pkarr: the timestamp in microseconds
    return [Key(i, seq, ttl_s, run_salt) for i in range(count)]


# ---------------------------------------------------------------- bencode

def bencode(value):
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"
    raise TypeError(type(value))


def bdecode(data, i=0):
    """Decodes the element at data[i]; returns (value, next index). Dict keys become bytes.
    Raises ValueError (or IndexError) on malformed input."""
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        if colon + 1 + n > len(data):
            raise ValueError("string past the end")
        return data[colon + 1:colon + 1 + n], colon + 1 + n
    if c in (b"l", b"d"):
        items, i = [], i + 1
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            items.append(v)
        if c == b"l":
            return items, i + 1
        return dict(zip(items[::2], items[1::2])), i + 1
    raise ValueError("not bencode")


# ---------------------------------------------------------------- the publisher

class Publisher:
    """One UDP socket on 127.0.0.1 speaking KRPC to the testnet's nodes, as a read-only node
    (BEP 43), so that no node puts it in its table."""

    def __init__(self, addrs, window=256, timeout_s=1.0, tries=3):
        self.addrs = addrs
        self.window = window
        self.timeout_s = timeout_s
        self.tries = tries
        self.own_id = os.urandom(20)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.next_tid = random.randrange(1 << 30)
        self.nodes = {}  # addr -> (id, token)
        self.stats = {"sent": 0, "answered": 0, "lost": 0, "errors": 0}

    def close(self):
        self.sock.close()

    def query(self, method, args, tid):
        args = dict(args, id=self.own_id)
        return bencode({"a": args, "q": method, "ro": 1,
                        "t": struct.pack(">I", tid), "y": "q"})

    def exchange(self, jobs, deadline):
        """Sends every job (addr, method, args, tag) with up to `window` in flight and up to
        `tries` sends each; returns {tag: reply dict or None}. Bounded by `deadline`."""
        results, pending, queue = {}, {}, [(j, 1) for j in jobs]
        queue.reverse()
        while (queue or pending) and time.monotonic() < deadline:
            now = time.monotonic()
            while queue and len(pending) < self.window:
                (addr, method, args, tag), attempt = queue.pop()
                tid = self.next_tid = (self.next_tid + 1) & 0xFFFFFFFF
                try:
                    self.sock.sendto(self.query(method, args, tid), addr)
                except BlockingIOError:
                    queue.append(((addr, method, args, tag), attempt))
                    break
                self.stats["sent"] += 1
                pending[tid] = (addr, method, args, tag, attempt, now + self.timeout_s)
            readable, _, _ = select.select([self.sock], [], [], 0.02)
            if readable:
                self.receive(pending, results)
            now = time.monotonic()
            for tid in [t for t, p in pending.items() if p[5] <= now]:
                addr, method, args, tag, attempt, _ = pending.pop(tid)
                if attempt < self.tries:
                    queue.append(((addr, method, args, tag), attempt + 1))
                else:
                    self.stats["lost"] += 1
                    results[tag] = None
        for addr, method, args, tag, _, _ in pending.values():
            results[tag] = None
        return results

    def receive(self, pending, results):
        while True:
            try:
                data, _ = self.sock.recvfrom(2048)
            except BlockingIOError:
                return
            try:
                msg, _ = bdecode(data)
                tid = struct.unpack(">I", msg[b"t"])[0]
            except (ValueError, IndexError, KeyError, struct.error, TypeError):
                continue
            if tid not in pending:
                continue
            tag = pending.pop(tid)[3]
            self.stats["answered"] += 1
            if msg.get(b"y") == b"e":
                self.stats["errors"] += 1
            results[tag] = msg

    def learn_nodes(self, deadline):
        """Asks every node for its ID and a write token. Returns how many answered."""
        target = os.urandom(20)
        jobs = [(a, "get", {"target": target}, a) for a in self.addrs]
        for addr, msg in self.exchange(jobs, deadline).items():
            r = msg.get(b"r") if msg else None
            if r and len(r.get(b"id", b"")) == 20 and b"token" in r:
                self.nodes[addr] = (r[b"id"], r[b"token"])
        return len(self.nodes)

    def closest(self, target, count):
        t = int.from_bytes(target, "big")
        return sorted(self.nodes, key=lambda a: int.from_bytes(self.nodes[a][0], "big") ^ t)[
            :count]

    def publish(self, keys, deadline):
        """Puts every key's item on its DHT_K closest nodes. Returns the number of nodes that
        stored each key, in the order of keys. A node that answers "bad token" (its secret
        turned) gets a fresh token and the put once more."""
        stored = [0] * len(keys)
        jobs = []
        for i, k in enumerate(keys):
            for addr in self.closest(k.target, DHT_K):
                jobs.append((addr, "put", self.put_args(k, addr), (i, addr)))
        for _ in range(2):
            again = []
            for (i, addr), msg in self.exchange(jobs, deadline).items():
                if msg and msg.get(b"y") == b"r":
                    stored[i] += 1
                elif msg and msg.get(b"y") == b"e" and self.token_refused(msg):
                    again.append((i, addr))
            if not again:
                break
            self.learn_nodes(deadline)
            jobs = [(a, "put", self.put_args(keys[i], a), (i, a)) for i, a in again]
        return stored

    def put_args(self, k, addr):
        return {"k": k.public, "seq": k.seq, "sig": k.sig, "token": self.nodes[addr][1],
                "v": k.value}

    @staticmethod
    def token_refused(msg):
        e = msg.get(b"e")
        return isinstance(e, list) and e and e[0] == KRPC_ERR_PROTOCOL
