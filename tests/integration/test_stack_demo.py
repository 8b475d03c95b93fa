"""scripts/demo, the README's first command, run as a newcomer runs it.

The demo binds the stack's fixed ports (5300, 5301, 5353, 127.0.0.2:5399), so each run goes
into a network namespace of its own (`unshare --net`, lo brought up; it must run as root, and
a namespace that cannot be made is a failure, never a skip): nothing it binds can meet another
test's sockets, and no internet is reachable from inside, as on a machine without one. It runs
the programs of this build (`--bin`), so nothing is installed or rebuilt.

Every process the demo starts inherits a marker in its environment; after the demo has exited,
no process may still carry it."""

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402

DEMO = os.path.join(harness.REPO, "scripts", "demo")
PROGRAMS = ("pkdns-router", "pkdns", "pkdns-forwarder", "pkdns-cli")
TESTNET_NODES = 20
MARKER = "PKDNS_DEMO_TEST_RUN"

# What the demo publishes and what its ISP server holds (scripts/demo).
KEY_A = "192.0.2.7"
KEY_TXT = '"published on the demo\'s testnet"'
WWW_A = "192.0.2.80"
ISP_TXT = '"served by the local ISP server"'

SETUP_TIMEOUT_S = 90  # testnet, publish, three daemons and the digs, on a loaded machine
STOP_TIMEOUT_S = 15  # the demo's cleanup gives each process 5 s before SIGKILL
CASE_DEADLINE_S = 150


# ---------------------------------------------------------------------------------------------
# Running the demo.


def namespace_problem():
    """Why no network namespace can be made here, or None."""
    if os.geteuid() != 0:
        return "this test makes a network namespace and must run as root"
    for tool, package in (("unshare", "util-linux"), ("ip", "iproute2"), ("dig", "dnsutils")):
        if shutil.which(tool) is None:
            return f"{tool} ({package}) is not installed; scripts/deps installs it"
    if not os.access(harness.DNSMASQ, os.X_OK):
        return f"{harness.DNSMASQ} is not installed; scripts/deps installs it"
    for program in PROGRAMS:
        if not os.access(os.path.join(harness.BIN_DIR, program), os.X_OK):
            return f"{program} is not built in {harness.BIN_DIR}"
    return None


class Demo(harness.Process):
    """scripts/demo with `args`, in a network namespace of its own, as the leader of a new
    process group (as a terminal runs it, so that a Ctrl-C can go to the whole group). Its
    output goes to the case's demo.log."""

    def __init__(self, case, *args):
        problem = namespace_problem()
        if problem is not None:
            raise Failure(f"cannot run the demo: {problem}")
        self.case = case
        self.name = "demo"
        self.marker = secrets.token_hex(8)
        self.argv = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                     DEMO, "--bin", harness.BIN_DIR, "--nodes", str(TESTNET_NODES), *args]
        self.log_path = case.path("demo.log")
        self.must_survive = False
        self.stopped_by_test = False
        self._log_file = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log_file,
            stderr=subprocess.STDOUT, cwd=harness.REPO, start_new_session=True,
            env=dict(os.environ, **{MARKER: self.marker}))
        case.processes.append(self)

    def wait_output(self, pattern, timeout_s):
        """Waits until the demo has printed a line matching `pattern`."""
        deadline = time.monotonic() + timeout_s
        while not re.search(pattern, self.log(), re.MULTILINE):
            if not self.running():
                raise Failure(f"the demo exited ({self.popen.returncode}) before printing "
                              f"/{pattern}/")
            if time.monotonic() > deadline:
                raise Failure(f"the demo printed no /{pattern}/ within {timeout_s} s")
            time.sleep(0.1)

    def finish(self, timeout_s):
        """The demo's exit status, once it has ended on its own within timeout_s."""
        status = self.wait_exit(timeout_s)
        expect(status is not None, f"the demo is still running {timeout_s} s on")
        return status

    def leftovers(self):
        """The pids of the processes that still carry this run's marker."""
        needle = f"{MARKER}={self.marker}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue  # gone meanwhile
        return found

    def close(self):
        # Whatever happened, nothing of this run outlives the case.
        if self.running():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        super().close()


def expect_nothing_left(demo):
    pids = demo.leftovers()
    described = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            described.append(f"{pid} {b' '.join(argv).decode(errors='replace').strip()}")
        except OSError:
            described.append(str(pid))
    expect(not pids, f"the demo left processes behind: {described}")


# ---------------------------------------------------------------------------------------------
# Reading its output.


def published_key(output):
    m = re.search(r"^== pkdns-cli publish: a pkarr record for (\S+) on ", output, re.MULTILINE)
    expect(m is not None, f"the demo names no published key:\n{output}")
    key = m.group(1)
    expect(re.fullmatch(r"[ybndrfg8ejkmcpqxot1uwisza345h769]{52}", key), f"a z-base32 key: {key}")
    return key


def dig_answers(output):
    """{(name, type): [(type, rdata), ...]} for the first `$ dig ... NAME TYPE` the demo shows,
    from the answer lines printed under it."""
    answers = {}
    current = None
    for line in output.splitlines():
        m = re.match(r"\$ dig @127\.0\.0\.1 -p \d+ (\S+) (\S+)$", line)
        if m:
            current = (m.group(1).lower(), m.group(2))
            if current in answers:
                current = None  # the second time (from the caches): keep the first
            else:
                answers[current] = []
            continue
        if not line.startswith("    "):
            current = None
            continue
        if current is not None:
            fields = line.split(None, 4)
            if len(fields) == 5 and fields[2] == "IN":
                answers[current].append((fields[3], fields[4]))
    return answers


def expect_resolved(output, key, txt=KEY_TXT):
    """The pkarr name and the ordinary names resolve through the router, as published."""
    answers = dig_answers(output)
    for question, want in (
            ((key, "A"), [("A", KEY_A)]),
            ((key, "TXT"), [("TXT", txt)]),
            ((f"www.{key}", "A"), [("A", KEY_A), ("CNAME", f"{key}.")]),
            (("www.example.test", "A"), [("A", WWW_A)]),
            (("example.test", "TXT"), [("TXT", ISP_TXT)])):
        expect(question in answers, f"the demo never asks for {question}:\n{output}")
        expect_eq(sorted(answers[question]), want, f"dig {question[0]} {question[1]}")


# ---------------------------------------------------------------------------------------------
# The cases.


def test_demo_on_the_testnet_resolves_both_names_and_stops_after_for(case):
    demo = Demo(case, "--testnet", "--for", "1")
    status = demo.finish(SETUP_TIMEOUT_S + STOP_TIMEOUT_S)
    output = demo.log()
    expect_eq(status, 0, f"the demo's exit status; output:\n{output}\n")
    expect(f"== a DHT testnet of {TESTNET_NODES} nodes on 127.0.0.1" in output,
           f"the demo runs its testnet:\n{output}")
    expect("is the public DHT reachable" not in output, "--testnet asks nothing of the internet")
    expect_resolved(output, published_key(output))
    expect(output.rstrip().endswith("== stopping"), f"the demo's last line:\n{output}")
    expect_nothing_left(demo)


def test_demo_without_the_public_dht_says_so_and_uses_the_testnet(case):
    # The namespace has no route beyond lo: the bootstrap nodes' names cannot resolve.
    demo = Demo(case, "--for", "0")
    status = demo.finish(SETUP_TIMEOUT_S + STOP_TIMEOUT_S)
    output = demo.log()
    expect_eq(status, 0, f"the demo's exit status; output:\n{output}\n")
    expect(re.search(r"^    no: .*; using a local testnet instead", output, re.MULTILINE),
           f"the demo says why it uses the testnet:\n{output}")
    expect(f"== a DHT testnet of {TESTNET_NODES} nodes" in output, f"no testnet:\n{output}")
    expect_resolved(output, published_key(output))
    expect_nothing_left(demo)


def test_ctrl_c_stops_the_demo_and_everything_it_started(case):
    demo = Demo(case, "--testnet")
    demo.wait_output(r"^== running until Ctrl-C", SETUP_TIMEOUT_S)
    os.killpg(demo.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    status = demo.finish(STOP_TIMEOUT_S)
    expect_eq(status, 128 + signal.SIGINT, "the demo's exit status after Ctrl-C")
    expect_nothing_left(demo)


def test_sigterm_to_the_demo_alone_stops_everything_it_started(case):
    # Only the script gets the signal (as from kill PID): its own cleanup must stop the rest,
    # at once, not when the sleep it was waiting in would have ended.
    demo = Demo(case, "--testnet")
    demo.wait_output(r"^== running until Ctrl-C", SETUP_TIMEOUT_S)
    demo.send_signal(signal.SIGTERM)
    status = demo.finish(STOP_TIMEOUT_S)
    expect_eq(status, 128 + signal.SIGTERM, "the demo's exit status after SIGTERM")
    expect_nothing_left(demo)


def test_for_without_seconds_is_a_usage_error(case):
    for args, message in ((["--for"], "--for needs a value"),
                          (["--for", "--testnet"], "--for needs a value"),
                          (["--for", "soon"], "--for takes whole seconds, not 'soon'")):
        status, output = harness.run_command([DEMO, *args])
        expect_eq(status, 2, f"scripts/demo {' '.join(args)}: exit status; output:\n{output}")
        expect(f"scripts/demo: {message}" in output and "usage: scripts/demo" in output,
               f"scripts/demo {' '.join(args)}: {output}")
        expect("unbound variable" not in output, f"scripts/demo {' '.join(args)}: {output}")


DEPS = os.path.join(harness.REPO, "scripts", "deps")
# What the demo cannot do without: a build, its ISP server (/usr/sbin/dnsmasq), dig, and the
# /usr/bin/python3 of its probes.
DEMO_PACKAGES = {"build-essential", "cmake", "pkg-config", "libuv1-dev", "libsodium-dev",
                 "libc-ares-dev", "libinih-dev", "nettle-dev", "dnsmasq-base", "dnsutils",
                 "python3"}
TEST_ONLY_PACKAGES = {"dnsdist", "dnsperf", "nix-bin", "systemd-container",
                      "python3-libtorrent", "nodejs", "npm", "clang", "knot-dnsutils"}


def deps_calls(script):
    """The argument lists of each line of `script` (under scripts/ or .ci/) that runs
    scripts/deps."""
    with open(os.path.join(harness.REPO, script)) as f:
        return [line.split()[1:] for line in f
                if line.split() and line.split()[0] == "scripts/deps"]


def test_demo_installs_only_what_it_builds_and_runs_with(case):
    """A failure among the tests' peers (say, no npm registry) must not stop the demo."""
    expect_eq(deps_calls("scripts/demo"), [["--runtime"]], "scripts/demo's scripts/deps")
    for script in ("scripts/test", ".ci/run"):
        expect_eq(deps_calls(script), [[]], f"{script}'s scripts/deps (everything)")

    status, listed = harness.run_command([DEPS, "--runtime", "--list"])
    expect_eq(status, 0, f"scripts/deps --runtime --list: {listed}")
    runtime = set(listed.split())
    status, listed = harness.run_command([DEPS, "--list"])
    expect_eq(status, 0, f"scripts/deps --list: {listed}")
    everything = set(listed.split())
    expect(DEMO_PACKAGES <= runtime, f"scripts/deps --runtime lacks what the demo needs: "
           f"{sorted(DEMO_PACKAGES - runtime)}")
    expect(runtime < everything, f"--runtime lists what the full list lacks: "
           f"{sorted(runtime - everything)}")
    expect(not runtime & TEST_ONLY_PACKAGES, f"--runtime installs test peers: "
           f"{sorted(runtime & TEST_ONLY_PACKAGES)}")

    status, output = harness.run_command([DEPS, "--runtime", "--dry-run"], timeout=30)
    expect_eq(status, 0, f"scripts/deps --runtime --dry-run: {output}")
    expect("npm" not in output, f"scripts/deps --runtime would run npm: {output}")


if __name__ == "__main__":
    harness.CASE_DEADLINE_S = CASE_DEADLINE_S
    harness.main(globals())
