"""The whole stack, end to end, in a network namespace of its own.

The test re-executes itself under `unshare --net --mount` (it must run as root; a namespace
that cannot be made is a failure, never a skip). Inside, the namespace holds only `lo`, so the
daemons take the stack's real addresses and ports, and a private overlay over /etc gives the
forwarder the stack's real resolv file, /etc/dnsmasq-resolv.conf, without touching the host's:

    dig ─► pkdns-router 127.0.0.1:53 ─┬─ pkarr names ─► pkdns :5300 ─► testnet, 20 nodes
          (dnsdist.conf, unchanged)   │                 (pkdns.toml + [dht] lines appended)
                                      └─ the rest ───► pkdns-forwarder 127.0.0.1:5301
                                                       (dnsmasq.conf, unchanged)
                                                        └─► /etc/dnsmasq-resolv.conf:
                                                            ISP A 198.51.100.53:53, then
                                                            ISP B 203.0.113.53:53

The stack's pkdns.toml bootstraps from the public DHT and forwards to 8.8.8.8, neither of
which exists here. pkdns therefore reads a copy: the stack's file byte for byte, followed by
three keys of our documented [dht] extensions (`bootstrap` = the testnet, `state_dir`,
`read_only`); and `-f 127.0.0.1:5301` on its command line sends the names it follows out of
pkarr packets to the forwarder, as the NixOS module does.

One case walks through a day in the life of the stack: names resolve through the router with
dig; resolvconf moves the host to another network; pkdns is killed with SIGKILL and started
again.

Why a second router shows pkdns marked down and up: the stack's dnsdist.conf declares pkdns
with `healthCheckMode="up"` (its comment says why: dnsdist's default health query, for
a.root-servers.net, is one pkdns cannot resolve, and systemd watches a local backend better).
The router reads that as dnsdist 1.8 and later do: no health checks, the backend always up.
So the router from the example config, by design, never marks pkdns down: while pkdns is dead
every pkarr name gets SERVFAIL once the router's backend timeout (2 s) has passed, warm or
cold (the file sets up no packet cache, and the pkdns pool has no other backend), while
ordinary names go on through the forwarder; the test checks exactly that. Marking down and
up, and cached names outliving pkdns, therefore need a file other than the stack's: a second
router reads the same file as dnsdist 1.7 does (which does not know `healthCheckMode`, so
health checks run), with a packet cache on the pkdns pool added. That one marks pkdns down
and up again, and meanwhile answers the pkarr names it has answered before from its cache.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dhtnet  # noqa: E402
import harness  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402

# Set in the re-executed copy that runs inside the new namespaces.
INSIDE_ENV = "PKDNS_STACK_E2E_NETNS"

STACK_DIR = os.path.join(harness.REPO, "tests", "data", "stack")
PKDNS = os.path.join(harness.BIN_DIR, "pkdns")
CLI = os.path.join(harness.BIN_DIR, "pkdns-cli")

# The stack's addresses (dnsdist.conf, pkdns.toml, dnsmasq.conf).
ROUTER_ADDR, ROUTER_PORT = "127.0.0.1", 53
PKDNS_ADDR, PKDNS_PORT = "127.0.0.1", 5300
FORWARDER_ADDR, FORWARDER_PORT = "127.0.0.1", 5301
RESOLV_FILE = "/etc/dnsmasq-resolv.conf"

# The second router, reading dnsdist.conf without healthCheckMode (as dnsdist 1.7 does).
OLD_ROUTER_PORT = 5353

# Two "ISP" networks' DNS servers: RFC 5737 documentation addresses, put on lo.
ISP_A, ISP_B = "198.51.100.53", "203.0.113.53"
ISP_A_ANSWER, ISP_B_ANSWER = "192.0.2.10", "192.0.2.20"

# What the published key holds; the cold key (never asked before pkdns is killed) holds
# COLD_ANSWER.
KEY_A = "192.0.2.7"
KEY_TXT = '"published through pkdns-cli"'
COLD_ANSWER = "192.0.2.8"

TESTNET_NODES = 20
LOOKUP_TIMEOUT_S = 20.0  # a DHT lookup through the stack, on a loaded machine
BACKEND_DOWN_WAIT_S = 6  # dig's wait where the router must first time out on pkdns (2 s)
CASE_DEADLINE_S = 85


# ---------------------------------------------------------------------------------------------
# The namespace.


def reexec_in_namespace():
    """Runs this file again inside fresh network and mount namespaces; never returns. Not
    being able to do so fails the test (exit status 1), loudly."""
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    problem = None
    if os.geteuid() != 0:
        problem = "this test makes a network namespace and must run as root"
    elif not os.access(unshare, os.X_OK):
        problem = "unshare (util-linux) is not installed; scripts/deps installs it"
    elif not shutil.which("ip"):
        problem = "ip (iproute2) is not installed; scripts/deps installs it"
    if problem is None:
        # --propagation private: mounts made inside stay inside.
        argv = [unshare, "--net", "--mount", "--propagation", "private", "--",
                sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
        sys.stdout.flush()
        try:
            os.execve(unshare, argv, dict(os.environ, **{INSIDE_ENV: "1"}))
        except OSError as e:
            problem = f"cannot run {unshare}: {e}"
    print(f"FAIL test_stack_e2e: no network namespace: {problem}")
    print("0 passed, 1 failed")
    sys.exit(1)


def run_or_fail(argv, what):
    status, out = harness.run_command(argv)
    if status != 0:
        raise Failure(f"{what}: {' '.join(argv)} exited {status}:\n{out}")
    return out


class Namespace:
    """What the case needs of its namespaces: lo up with the ISP addresses, and an overlay
    over /etc (on a tmpfs) so that /etc/dnsmasq-resolv.conf can be written here only."""

    def __init__(self, case):
        self.scratch = tempfile.mkdtemp(prefix="pkdns-stack-etc-")
        self.mounted = []
        links = run_or_fail(["ip", "-o", "link", "show"], "list links")
        expect(" lo:" in links and "state UP" not in links,
               f"a fresh network namespace holds lo, down, and nothing up:\n{links}")
        run_or_fail(["ip", "link", "set", "lo", "up"], "bring lo up")
        for addr in (ISP_A, ISP_B):
            run_or_fail(["ip", "addr", "add", f"{addr}/32", "dev", "lo"], f"add {addr} to lo")
        for port in (ROUTER_PORT, PKDNS_PORT, FORWARDER_PORT):
            expect(harness.port_is_free("127.0.0.1", port), f"127.0.0.1:{port} is free here")
        run_or_fail(["mount", "-t", "tmpfs", "tmpfs", self.scratch], "tmpfs for /etc's overlay")
        self.mounted.append(self.scratch)
        upper, work = os.path.join(self.scratch, "upper"), os.path.join(self.scratch, "work")
        os.mkdir(upper)
        os.mkdir(work)
        run_or_fail(["mount", "-t", "overlay", "overlay", "-o",
                     f"lowerdir=/etc,upperdir={upper},workdir={work}", "/etc"],
                    "overlay over /etc")
        self.mounted.append("/etc")
        case.namespace = self

    def close(self):
        for path in reversed(self.mounted):
            subprocess.run(["umount", "-l", path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10)
        os.rmdir(self.scratch)


def write_resolv_file(servers):
    """Rewrites the forwarder's resolv file as resolvconf (openresolv) does: in place,
    truncated then written, a comment line and one nameserver line per server."""
    with open(RESOLV_FILE, "w") as f:
        f.write("# Generated by resolvconf\n")
        f.writelines(f"nameserver {s}\n" for s in servers)


# ---------------------------------------------------------------------------------------------
# dig.


class DigAnswer:
    def __init__(self, status, records, text):
        self.status = status  # "NOERROR", "SERVFAIL", ..., or "no answer"
        self.records = records  # [(owner, type, rdata)] of the answer section
        self.text = text

    def rdata(self, rdtype):
        return sorted(r for _, t, r in self.records if t == rdtype)

    def __str__(self):
        recs = "; ".join(f"{o} {t} {r}" for o, t, r in self.records) or "no records"
        return f"{self.status}, {recs}"


def dig(name, rdtype="A", port=ROUTER_PORT, rdclass="IN", timeout_s=3):
    """One query with dig to 127.0.0.1:port: its status and answer records."""
    argv = ["dig", f"@{ROUTER_ADDR}", "-p", str(port), "-c", rdclass, "-t", rdtype, name,
            "+noall", "+comments", "+answer", f"+time={timeout_s}", "+tries=1"]
    status, out = harness.run_command(argv, timeout=timeout_s + 5)
    m = re.search(r"->>HEADER<<- opcode: \w+, status: (\w+)", out)
    if status != 0 or not m:
        return DigAnswer("no answer", [], out)
    records = []
    for line in out.splitlines():
        if line.startswith(";") or not line.strip():
            continue
        fields = line.split(None, 4)
        if len(fields) == 5:
            records.append((fields[0].rstrip(".").lower(), fields[3], fields[4]))
    return DigAnswer(m.group(1), records, out)


def expect_dig(name, rdtype, want, what, port=ROUTER_PORT, status="NOERROR", timeout_s=3):
    """dig's answer has `status` and exactly the rdata in `want` for rdtype."""
    got = dig(name, rdtype, port=port, timeout_s=timeout_s)
    expect(got.status == status and got.rdata(rdtype) == sorted(want),
           f"{what}: dig {name} {rdtype} -p {port}: expected {status} with {sorted(want)}, "
           f"got {got}")
    return got


def dig_until(name, rdtype, predicate, what, port=ROUTER_PORT, timeout_s=LOOKUP_TIMEOUT_S):
    """dig until predicate(answer) holds, for up to timeout_s; the answer, or a failure with
    the last one seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = dig(name, rdtype, port=port)
        if predicate(got):
            return got
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not seen within {timeout_s:.0f} s; last: dig {name} "
                          f"{rdtype} -p {port}: {got}")
        time.sleep(0.2)


def not_servfail(got):
    return got.status not in ("SERVFAIL", "no answer")


# ---------------------------------------------------------------------------------------------
# The stack's processes.


def start_isp(case, addr, answer, label):
    """A network's DNS server: dnsmasq on addr:53 with a few local records of its own."""
    return harness.Dnsmasq(case, [
        f"--host-record=www.isp.test,{answer}",
        f"--address=/net.test/{answer}",  # every name under net.test
        f"--txt-record=isp.test,{label}",
        f"--host-record=only-{label.lower()}.isp.test,{answer}",
    ], addr=addr, port=53, ttl=300)


def pkdns_config(case, testnet):
    """The stack's pkdns.toml as it is, then our [dht] extensions for the testnet."""
    with open(os.path.join(STACK_DIR, "pkdns.toml")) as f:
        stack = f.read()
    expect(stack.rstrip().endswith("[dht]"), "the stack's pkdns.toml ends in its [dht] section")
    nodes = "".join(f'    "{h}:{p}",\n' for h, p in testnet.addrs)
    path = case.write("pkdns.toml", stack + (
        "# appended by the test: the loopback testnet instead of the public DHT\n"
        f"bootstrap = [\n{nodes}    ]\n"
        f'state_dir = "{case.dir}"\n'
        "read_only = true\n"))
    with open(path) as f:
        expect(f.read().startswith(stack), "pkdns reads the stack's file unchanged at its head")
    return path


class Daemon(harness.Process, harness.Endpoint):
    def __init__(self, case, name, argv, addr, port):
        expect(os.access(argv[0], os.X_OK), f"{argv[0]} is built")
        harness.Process.__init__(self, case, name, argv, must_survive=True)
        harness.Endpoint.__init__(self, addr, port)
        harness.wait_until_answers(self, self)


def start_pkdns(case, conf, name):
    return Daemon(case, name, [PKDNS, "-c", conf, "-f", f"{FORWARDER_ADDR}:{FORWARDER_PORT}"],
                  PKDNS_ADDR, PKDNS_PORT)


def publish(case, testnet, name, zone):
    """A fresh seed, its records published to the testnet with pkdns-cli; returns the key."""
    seed = case.path(f"{name}.seed")
    run_or_fail([CLI, "generate", seed], "pkdns-cli generate")
    key = run_or_fail([CLI, "publickey", seed], "pkdns-cli publickey").strip()
    expect(re.fullmatch(r"[ybndrfg8ejkmcpqxot1uwisza345h769]{52}", key), f"a z-base32 key: {key}")
    zone_file = case.write(f"{name}.zone", zone)
    everyone = testnet.bootstrap_arg(len(testnet.addrs))
    out = ""
    for _ in range(3):  # as a publisher would, when a loaded machine drops a put's requests
        status, out = harness.run_command(
            [CLI, "publish", seed, zone_file, "--bootstrap", everyone, "--bind", "127.0.0.1:0",
             "--rate-limit", dhtnet.LOOPBACK_RATE, "--timeout-ms", "15000"], timeout=30)
        m = re.search(r"stored on (\d+) nodes", out)
        if status == 0 and m and int(m.group(1)) >= 4:
            return key
    raise Failure(f"pkdns-cli publish for {key}:\n{out}")


def wait_log_since(process, mark, pattern, timeout_s=harness.CHANGE_TIMEOUT_S):
    """Waits for a line matching `pattern` in what `process` logged after offset `mark`."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if regex.search(process.log(), mark):
            return
        time.sleep(0.05)
    raise Failure(f"{process.name}: no /{pattern}/ within {timeout_s:.0f} s")


def router_stats(router, backend):
    """The router's counters for one backend (SIGUSR1), as a dict."""
    mark = len(router.log())
    router.send_signal(signal.SIGUSR1)
    pattern = re.compile(rf"server \S+ address={re.escape(backend)} (.*)$", re.MULTILINE)
    deadline = time.monotonic() + harness.CHANGE_TIMEOUT_S
    while time.monotonic() < deadline:
        m = pattern.search(router.log(), mark)
        if m:
            return dict(re.findall(r"([\w-]+)=([\w.]+)", m.group(1)))
        time.sleep(0.05)
    raise Failure(f"{router.name}: no counters for {backend} after SIGUSR1")


# ---------------------------------------------------------------------------------------------
# The case.


def test_stack_resolves_follows_the_network_and_survives_pkdns_restart(case):
    ns = Namespace(case)
    try:
        walk_through(case)
    finally:
        # Nothing may run from the overlay when it goes; the harness closes the logs later.
        for p in case.processes:
            p.kill()
        ns.close()


def walk_through(case):
    # resolvconf's tmpfiles rule creates the file; resolvconf then writes network A's server.
    write_resolv_file([])
    isp_a = start_isp(case, ISP_A, ISP_A_ANSWER, "A")
    isp_b = start_isp(case, ISP_B, ISP_B_ANSWER, "B")
    write_resolv_file([ISP_A])

    testnet = dhtnet.Testnet(case, TESTNET_NODES)
    key = publish(case, testnet, "warm", f"""\
@    A      {KEY_A}
@    TXT    {KEY_TXT}
www  CNAME  @
isp  CNAME  www.isp.test.
""")
    cold = publish(case, testnet, "cold", f"@ A {COLD_ANSWER}\n")
    run_or_fail([CLI, "generate", case.path("absent.seed")], "pkdns-cli generate")
    absent = run_or_fail([CLI, "publickey", case.path("absent.seed")], "pkdns-cli publickey")
    absent = absent.strip()

    pkdns_conf = pkdns_config(case, testnet)
    pkdns = start_pkdns(case, pkdns_conf, "pkdns")
    forwarder = Daemon(case, "forwarder",
                       [harness.FORWARDER, "-c", os.path.join(STACK_DIR, "dnsmasq.conf")],
                       FORWARDER_ADDR, FORWARDER_PORT)
    forwarder.wait_log(rf"1 server from {RESOLV_FILE}: {ISP_A}:53")
    stack_conf = os.path.join(STACK_DIR, "dnsdist.conf")
    router = Daemon(case, "router", [harness.ROUTER, "-c", stack_conf],
                    ROUTER_ADDR, ROUTER_PORT)
    # The stack's file never lets a router mark pkdns down (healthCheckMode="up"; see the top
    # of this file), so down and up are shown by a second router on a modified copy.
    with open(stack_conf) as f:
        as_dnsdist_17 = re.sub(r',\s*healthCheckMode="up"', "", f.read())
    expect("healthCheckMode" not in as_dnsdist_17, "healthCheckMode left out for the 1.7 reading")
    # ... and with a packet cache on the pkdns pool, the dnsdist way, so that names it has
    # answered outlive pkdns.
    as_dnsdist_17 += 'pc = newPacketCache(1000)\ngetPool("pkdns"):setCache(pc)\n'
    old_router = Daemon(case, "router-1.7",
                        [harness.ROUTER, "-c", case.write("dnsdist-1.7.conf", as_dnsdist_17),
                         "--local", f"{ROUTER_ADDR}:{OLD_ROUTER_PORT}"],
                        ROUTER_ADDR, OLD_ROUTER_PORT)

    # --- everything through the router on port 53, with dig
    got = dig("id.server", "TXT", rdclass="CH")
    expect(got.status == "NOERROR" and any("pkdns-router" in r for r in got.rdata("TXT")),
           f"the router answers id.server CH TXT itself: {got}")
    dig_until(key, "A", not_servfail, "pkdns finds the published key on the testnet")
    expect_dig(key, "A", [KEY_A], "the key's A record, through router and pkdns")
    expect_dig(key, "TXT", [KEY_TXT], "the key's TXT record")
    got = expect_dig("www." + key, "A", [KEY_A], "www.<key>: a CNAME to the apex, followed")
    expect_eq(got.rdata("CNAME"), [key + "."], "the CNAME in the answer")
    got = expect_dig("isp." + key, "A", [ISP_A_ANSWER],
                     "isp.<key>: a CNAME to an ICANN name, through pkdns, forwarder and ISP A")
    expect_eq(got.rdata("CNAME"), ["www.isp.test."], "the CNAME to the ICANN name")
    dig_until(absent, "A", not_servfail, "pkdns settles the never-published key")
    expect_dig(absent, "A", [], "a key nobody published", status="NXDOMAIN")
    expect_dig("www.isp.test", "A", [ISP_A_ANSWER], "an ordinary name, through the forwarder")
    expect_dig("isp.test", "TXT", ['"A"'], "ISP A's TXT record")
    expect_dig("before.net.test", "A", [ISP_A_ANSWER], "a name under ISP A's wildcard")
    expect_dig(key, "A", [KEY_A], "the key through the 1.7 reading", port=OLD_ROUTER_PORT)

    # --- the network changes: resolvconf writes network B's server into the file
    write_resolv_file([ISP_B])
    forwarder.wait_log(rf"1 server from {RESOLV_FILE}: {ISP_B}:53")
    dig_until("after.net.test", "A",
              lambda g: g.status == "NOERROR" and g.rdata("A") == [ISP_B_ANSWER],
              "a fresh name answered by ISP B", timeout_s=harness.CHANGE_TIMEOUT_S)
    expect_dig("after.net.test", "A", [ISP_B_ANSWER], "again, from the forwarder's cache")
    expect_dig("only-b.isp.test", "A", [ISP_B_ANSWER], "a name only ISP B knows")
    expect_dig("isp.test", "TXT", ['"A"'],
               "ISP A's answer, cached before the change, kept (the cache survives a change)")
    b_log = isp_b.log()
    expect("after.net.test" in b_log and "only-b.isp.test" in b_log,
           "ISP B's log shows the forwarder's queries")
    expect("after.net.test" not in isp_a.log(), "ISP A is asked nothing after the change")

    # --- pkdns dies (SIGKILL): nobody answers pkarr names; ordinary names go on
    pkdns.kill()
    expect_eq(pkdns.popen.returncode, -signal.SIGKILL, "pkdns's end")
    # The router gives up on pkdns after its backend timeout (2 s), so dig waits longer.
    expect_dig(key, "A", [], "the warm key, pkdns dead: SERVFAIL (nothing else caches it)",
               status="SERVFAIL", timeout_s=BACKEND_DOWN_WAIT_S)
    expect_dig(cold, "A", [], "a cold key, pkdns dead", status="SERVFAIL",
               timeout_s=BACKEND_DOWN_WAIT_S)
    expect_dig("www.isp.test", "A", [ISP_A_ANSWER], "an ordinary name, pkdns dead")
    expect_dig("during.net.test", "A", [ISP_B_ANSWER], "a fresh ordinary name, pkdns dead")
    stats = router_stats(router, f"{PKDNS_ADDR}:{PKDNS_PORT}")
    expect(stats.get("state") == "up" and int(stats.get("send-errors", 0)) +
           int(stats.get("drops", 0)) >= 2,
           f"healthCheckMode=\"up\": pkdns stays up in the router, its queries fail: {stats}")
    expect(not re.search(r"backend .*5300.* is down", router.log()),
           "the stack's router never marks pkdns down (healthCheckMode=\"up\")")
    mark = len(old_router.log())
    wait_log_since(old_router, 0, rf"backend \S+ \({PKDNS_ADDR}:{PKDNS_PORT}\) is down")
    expect_dig(key, "A", [KEY_A], "the 1.7 reading, pkdns down: the warm key from its cache",
               port=OLD_ROUTER_PORT)
    expect_dig(cold, "A", [], "the 1.7 reading, pkdns down: a cold key, no live backend",
               port=OLD_ROUTER_PORT, status="SERVFAIL", timeout_s=BACKEND_DOWN_WAIT_S)

    # --- pkdns back, with the same files; its packet cache starts empty
    pkdns = start_pkdns(case, pkdns_conf, "pkdns-again")
    wait_log_since(old_router, mark, rf"backend \S+ \({PKDNS_ADDR}:{PKDNS_PORT}\) is up")
    dig_until(key, "A", not_servfail, "the warm key after the restart")
    expect_dig(key, "A", [KEY_A], "the warm key after the restart")
    dig_until(cold, "A", not_servfail, "the cold key after the restart")
    expect_dig(cold, "A", [COLD_ANSWER], "the cold key after the restart")
    expect_dig(key, "A", [KEY_A], "the 1.7 reading, pkdns back", port=OLD_ROUTER_PORT)
    expect_dig("isp." + key, "A", [ISP_A_ANSWER],
               "isp.<key>: www.isp.test still from the forwarder's cache (filled by ISP A)")
    expect_eq(router_stats(router, f"{PKDNS_ADDR}:{PKDNS_PORT}").get("state"), "up",
              "pkdns's state in the stack's router")

    # --- a clean stop of every daemon
    for daemon in (router, old_router, forwarder, pkdns):
        expect_eq(daemon.stop(10), 0, f"{daemon.name}'s exit status after SIGTERM")
    for p in case.processes:  # a sanitizer build reports here without failing a query
        expect(not re.search(r"runtime error:|Sanitizer", p.log()),
               f"{p.name} logged a sanitizer report")


if __name__ == "__main__":
    if os.environ.get(INSIDE_ENV) != "1":
        reexec_in_namespace()
    harness.CASE_DEADLINE_S = CASE_DEADLINE_S
    harness.main(globals())
