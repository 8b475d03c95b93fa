"""Our nodes facing bad peers over real sockets: a flood of garbage datagrams, and a peer
that answers gets with values whose signature or target is forged."""

import hashlib
import os
import random
import re
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dhtnet  # noqa: E402
import harness  # noqa: E402
from harness import expect, expect_eq  # noqa: E402

SEED = bytes(range(32))
OTHER_SEED = bytes(range(64, 96))
FLOOD = 20000


class ForgingPeer:
    """A KRPC responder on 127.0.0.1 that answers every query, and every get with `value`
    (a dict of k, seq, v, sig) whatever the target: a liar the requester must catch. Its node
    ID is `near` with the last bit flipped (the closest there is to `near`, so that a lookup
    of that target asks it), or random."""

    def __init__(self, case, value, near=None):
        self.value = value
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()
        self.id = near[:-1] + bytes([near[-1] ^ 1]) if near else os.urandom(20)
        self.gets = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        case.servers.append(self)

    def _serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(2048)
                msg = dhtnet.bdecode(data)
            except (socket.timeout, ValueError, IndexError):
                continue
            if not isinstance(msg, dict) or msg.get(b"y") != b"q":
                continue
            r = {b"id": self.id}
            if msg.get(b"q") == b"get":
                self.gets += 1
                r.update({b"token": b"forged", **self.value})
            reply = {b"t": msg.get(b"t", b""), b"y": b"r", b"r": r}
            self.sock.sendto(dhtnet.bencode(reply), peer)

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def target_of(key):
    """BEP 44: the target of a mutable item without salt is SHA-1 of its public key."""
    return hashlib.sha1(key).digest()


def bad_values(out):
    """The count of values dht-get dropped for a bad signature or target, from its last line."""
    m = re.search(r"\bbad_values=(\d+)", out)
    expect(m is not None, f"dht-get printed bad_values:\n{out}")
    return int(m.group(1))


def test_value_with_forged_signature_is_ignored(case):
    net = dhtnet.Testnet(case, 8)
    status, stored, out = dhtnet.dht_put(net.bootstrap_arg(), SEED, 5, b"genuine")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    key = dhtnet.public_key(SEED)
    liar = ForgingPeer(case, {b"k": key, b"seq": 999, b"v": b"forged", b"sig": os.urandom(64)})
    got = dhtnet.dht_get(f"{liar.addr[0]}:{liar.addr[1]},{net.bootstrap_arg(1)}", key)
    expect(liar.gets >= 1, "the liar was asked")
    expect_eq(got.newest, (5, b"genuine"), f"newest value ({got.out})")
    expect(bad_values(got.out) >= 1, f"the forged value was counted:\n{got.out}")


def test_value_signed_for_another_key_is_ignored(case):
    net = dhtnet.Testnet(case, 8)
    status, stored, out = dhtnet.dht_put(net.bootstrap_arg(), SEED, 5, b"genuine")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes:\n{out}")
    key, other = dhtnet.public_key(SEED), dhtnet.public_key(OTHER_SEED)
    # A valid signature, but by another key: SHA-1(k) is not the target asked for.
    liar = ForgingPeer(case, {b"k": other, b"seq": 999, b"v": b"forged",
                              b"sig": dhtnet.sign(OTHER_SEED, 999, b"forged")},
                       near=target_of(key))
    got = dhtnet.dht_get(f"{liar.addr[0]}:{liar.addr[1]},{net.bootstrap_arg(1)}", key)
    expect(liar.gets >= 1, "the liar was asked")
    expect_eq(got.newest, (5, b"genuine"), f"newest value ({got.out})")
    expect(bad_values(got.out) >= 1, f"the value signed by another key was counted:\n{got.out}")


def test_only_forged_values_mean_not_found(case):
    key = dhtnet.public_key(SEED)
    liar = ForgingPeer(case, {b"k": key, b"seq": 1, b"v": b"forged", b"sig": os.urandom(64)})
    got = dhtnet.dht_get(f"{liar.addr[0]}:{liar.addr[1]}", key, timeout_ms=10000)
    expect_eq(got.status, 1, f"exit status ({got.out})")
    expect(got.first is None and "not found" in got.out, f"nothing accepted:\n{got.out}")


def garbage(rng):
    """Datagrams that are not KRPC: random bytes, cut bencode, wrong types, huge lengths."""
    kinds = [
        lambda: rng.randbytes(rng.randrange(1, 1400)),
        lambda: b"d1:ad2:id20:" + rng.randbytes(rng.randrange(0, 30)),
        lambda: b"d1:t2:aa1:y1:q1:q4:ping1:a" + b"l" * rng.randrange(1, 64),
        lambda: b"d1:rd2:id20:" + rng.randbytes(20) + b"5:nodes999999:e1:t2:xx1:y1:re",
        lambda: b"i" + str(rng.randrange(10 ** 30)).encode() + b"e",
    ]
    return rng.choice(kinds)()


def test_node_keeps_answering_after_flood_of_garbage(case):
    net = dhtnet.Testnet(case, 8)
    status, stored, _ = dhtnet.dht_put(net.bootstrap_arg(), SEED, 5, b"still here")
    expect(status == 0 and stored >= 4, f"dht-put stored on {stored} nodes")
    before = net.node_stats(0)
    rng = random.Random(1)
    target = net.addrs[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(FLOOD):
            s.sendto(garbage(rng), target)
    after = net.wait_quiet(0)
    got = dhtnet.dht_get(f"{target[0]}:{target[1]}", dhtnet.public_key(SEED))
    expect_eq(got.newest, (5, b"still here"), f"value after the flood ({got.out})")
    dropped = after["malformed"] - before["malformed"]
    # The kernel may drop some of the flood itself; most must reach the node and be counted.
    expect(dropped >= FLOOD // 4, f"node 0 counted {dropped} malformed datagrams: {after}")
    expect(net.running(), "the testnet survived the flood")


if __name__ == "__main__":
    harness.main(globals())
