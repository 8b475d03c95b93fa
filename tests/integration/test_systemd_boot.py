"""The installed units under a real systemd, booted as PID 1 in a container.

test_systemd_units.py reads the units and has `systemd-analyze verify` load them; this file
runs them. It installs the build into a scratch tree (`cmake --install` with DESTDIR), then
boots the machine's own systemd with systemd-nspawn over an empty root: the machine's /usr
read-only, a tmpfs for the rest (`--volatile=yes`), and only loopback (`--private-network`).
Into that container go, by bind mounts:

    the install prefix (/usr/local)   the programs, and the units in lib/systemd/system (where
                                      systemd looks; from another unit directory they are
                                      linked into /etc/systemd/system, as `systemctl link` does)
    /etc                              written here: the three configuration files made from the
                                      installed examples as docs/deploy.md says, the resolv file,
                                      `systemctl enable pkdns-stack.target`, and the test's units
    /opt/pkdns-e2e                    this directory, read-only: the check below runs from it
    /srv/pkdns-e2e                    where the check writes its findings

The container boots multi-user.target, which wants pkdns-stack.target (enabled) and three
units of the test's own:

    pkdns-e2e-isp.service       dnsmasq on 127.0.0.2:53, the network's DNS server, named in
                                /etc/dnsmasq-resolv.conf as resolvconf would
    pkdns-e2e-testnet.service   `pkdns-cli testnet`: 20 DHT nodes on 127.0.0.1:46000-46019,
                                ordered before pkdns.service; pkdns.toml bootstraps from it
    pkdns-e2e-check.service     oneshot, after the stack: runs this file with --inside, then
                                powers the container off (SuccessAction=, FailureAction=)

The check, inside, records as JSON what systemd says of each unit (`systemctl show`,
`is-active`), each daemon's credentials and sandbox as the kernel sees them (/proc/PID/status),
answers through the router for an ordinary name (from the ISP) and for a pkarr name that it
publishes on the testnet with pkdns-cli, `systemctl reload` of each daemon, pkdns's state
directory after `systemctl stop pkdns` and the warm start that follows (pkdns.toml names no
state_dir: pkdns takes the unit's StateDirectory= from $STATE_DIRECTORY), the stop of the
whole target, and the daemons' lines in the journal with their priorities. The cases here boot
once and assert on that record. The journal goes to the container's console, which is the
first case's log, printed when it fails. The container gets BOOT_TIMEOUT_S; then it is
killed, and the test fails.

No unit needs a drop-in to run in the container: every hardening directive of the three units
works under systemd-nspawn here as on a machine, and the test checks that their effects
(dynamic user, capabilities, no_new_privs, seccomp) are in force. Only a sanitizer build gets
one, which turns LeakSanitizer off (see make_etc).

Needs root and systemd-nspawn (Debian: systemd-container, in scripts/deps); without either
the test fails and says so.
"""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402

TEST_DIR = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.path.dirname(harness.BIN_DIR)
DAEMONS = ["pkdns-router", "pkdns", "pkdns-forwarder"]

BOOT_TIMEOUT_S = 90  # boot, check and power-off; past it the container is killed
CHECK_BUDGET_S = 60  # the check's own waits end by then, so its record is written in time
CASE_DEADLINE_S = 150  # the install and the boot together

# Where things are inside the container.
SRC_MOUNT = "/opt/pkdns-e2e"
OUT_MOUNT = "/srv/pkdns-e2e"
RESULTS = "results.json"
TESTNET_OUT = "/run/pkdns-e2e-testnet.out"

# The container's own network (loopback only).
ISP_ADDR = "127.0.0.2"
ISP_NAME, ISP_ANSWER = "www.example.test", "192.0.2.80"
ISP_TXT_NAME, ISP_TXT = "example.test", '"isp-server"'
TESTNET_PORT, TESTNET_NODES = 46000, 20
KEY_A, KEY_TXT = "192.0.2.7", '"published in the container"'

# systemd's range for DynamicUser= (systemd.exec(5)).
DYNAMIC_UID_MIN, DYNAMIC_UID_MAX = 61184, 65519
CAP_NET_BIND_SERVICE = 10  # linux/capability.h


# =============================================================================================
# Inside the container: the check unit runs this file with --inside OUT_DIR.

_check_deadline = None  # time.monotonic() at which the check's waits stop


def budget(seconds):
    """`seconds`, or less when the check's deadline comes sooner (at least a moment)."""
    if _check_deadline is None:
        return seconds
    return max(0.5, min(seconds, _check_deadline - time.monotonic()))


def run(argv, timeout=20):
    """(exit status, stdout+stderr) of a command run to its end."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"{' '.join(argv)}: no exit within {timeout} s"
    return done.returncode, done.stdout.decode("utf-8", "replace")


def show(unit, properties):
    """`systemctl show -p ...` of one unit, as a dict."""
    _, out = run(["systemctl", "show", "-p", ",".join(properties), unit])
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


UNIT_PROPERTIES = ["Type", "ActiveState", "SubState", "Result", "MainPID", "NRestarts",
                   "ExecMainStatus", "ExecMainCode", "InactiveExitTimestampMonotonic",
                   "ActiveEnterTimestampMonotonic", "StateDirectory", "DynamicUser"]


def journal_lines(unit):
    """Everything the unit's processes logged so far this boot, as text lines."""
    _, out = run(["journalctl", "-b", "-u", unit, "-o", "cat", "--no-pager"])
    return out.splitlines()


def lines_since(unit, mark, pattern, timeout_s=5.0):
    """The unit's journal lines after the first `mark`, waiting up to timeout_s for one that
    matches `pattern`."""
    deadline = time.monotonic() + budget(timeout_s)
    while True:
        new = journal_lines(unit)[mark:]
        if any(re.search(pattern, line) for line in new) or time.monotonic() > deadline:
            return new
        time.sleep(0.2)


def router():
    return harness.Endpoint("127.0.0.1", 53)


def resolve(name, rdtype, timeout_s):
    """Asks the router until the answer is not SERVFAIL (a DHT lookup may need a few tries);
    returns (rcode, rdata texts)."""
    deadline = time.monotonic() + budget(timeout_s)
    last = ("no answer", [])
    while time.monotonic() < deadline:
        try:
            response = harness.query(router(), name, rdtype)
            last = (harness.rcode(response), harness.answer_texts(response, rdtype))
            if last[0] != "SERVFAIL":
                return last
        except Exception as e:  # timeouts, refused connections while something restarts
            last = (f"no answer: {e!r}", [])
        time.sleep(0.3)
    return last


def check_units():
    units = {}
    for unit in DAEMONS + ["pkdns-stack.target", "pkdns-e2e-isp.service",
                           "pkdns-e2e-testnet.service"]:
        units[unit] = show(unit, UNIT_PROPERTIES)
        units[unit]["is-active"] = run(["systemctl", "is-active", unit])[1].strip()
        units[unit]["last lines"] = journal_lines(unit)[-6:]
    return units


def check_log_levels():
    """Each daemon's lines in the journal, as (PRIORITY, MESSAGE)."""
    levels = {}
    for daemon in DAEMONS:
        _, out = run(["journalctl", "-b", "-u", daemon, "-o", "json", "--no-pager",
                      "--output-fields=PRIORITY,MESSAGE,_PID"])
        entries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        levels[daemon] = [(e.get("PRIORITY"), e.get("MESSAGE")) for e in entries
                          if e.get("_PID") and isinstance(e.get("MESSAGE"), str)]
    return levels


def check_sandbox():
    """What the kernel says of each daemon's main process."""
    keys = ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
            "Seccomp")
    found = {}
    for daemon in DAEMONS:
        pid = show(daemon, ["MainPID"]).get("MainPID", "0")
        if pid == "0":
            found[daemon] = {"error": "no main process"}
            continue
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":\t", 1) for line in f.read().splitlines()
                          if ":\t" in line)
        entry = {k: status.get(k, "").split()[0] if k in ("Uid", "Gid") else
                 status.get(k, "").strip() for k in keys}
        try:
            entry["user"] = pwd.getpwuid(int(entry["Uid"])).pw_name
        except (KeyError, ValueError):
            entry["user"] = None
        found[daemon] = entry
    return found


def check_names():
    answers = {}
    for name, port in (("router", 53), ("pkdns", 5300), ("forwarder", 5301)):
        try:
            response = harness.query(harness.Endpoint("127.0.0.1", port), "id.server", "TXT",
                                     "CH")
            answers[f"id.server {name}"] = harness.answer_texts(response, "TXT")
        except Exception as e:
            answers[f"id.server {name}"] = f"no answer: {e!r}"
    answers["isp A"] = resolve(ISP_NAME, "A", 10)
    answers["isp TXT"] = resolve(ISP_TXT_NAME, "TXT", 10)
    # The libc resolver: /etc/resolv.conf names the router, as on a host that uses the stack.
    # (Not `getent ahosts`: its AI_ADDRCONFIG sees no address but loopback's and asks nothing.)
    answers["getent"] = run(["getent", "hosts", ISP_NAME])
    return answers


def publish(work):
    """A fresh key with A and TXT records, published on the testnet; (key, pkdns-cli output)."""
    seed, zone = os.path.join(work, "e2e.seed"), os.path.join(work, "e2e.zone")
    run(["pkdns-cli", "generate", seed])
    key = run(["pkdns-cli", "publickey", seed])[1].strip()
    with open(zone, "w") as f:
        f.write(f"@ A {KEY_A}\n@ TXT {KEY_TXT}\n")
    everyone = ",".join(f"127.0.0.1:{TESTNET_PORT + i}" for i in range(TESTNET_NODES))
    out = ""
    for _ in range(3):  # a put's requests may be dropped on a loaded machine
        wait_s = budget(10)
        _, out = run(["pkdns-cli", "publish", seed, zone, "--bootstrap", everyone,
                      "--bind", "127.0.0.1:0", "--rate-limit", "100000",
                      "--timeout-ms", str(int(wait_s * 1000))], timeout=wait_s + 5)
        m = re.search(r"stored on (\d+) nodes", out)
        if m and int(m.group(1)) >= 4:
            break
    return key, out


def check_pkarr(state):
    os.makedirs("/run/pkdns-e2e-check", exist_ok=True)
    key, out = publish("/run/pkdns-e2e-check")
    state["key"] = key
    started = time.monotonic()
    a = resolve(key, "A", 20)
    return {"key": key, "publish": out, "A": a, "TXT": resolve(key, "TXT", 5),
            "seconds": round(time.monotonic() - started, 1)}


def check_reloads():
    reloads = {}
    for daemon in DAEMONS:
        before = show(daemon, ["MainPID"])["MainPID"]
        mark = len(journal_lines(daemon))
        status, out = run(["systemctl", "reload", daemon])
        after = show(daemon, ["MainPID", "ActiveState", "SubState"])
        reloads[daemon] = {"status": status, "output": out, "pid_before": before,
                           "pid_after": after["MainPID"], "state": after["ActiveState"],
                           "substate": after["SubState"],
                           "log": lines_since(daemon, mark, r"reloaded")}
    reloads["router answers after"] = resolve(ISP_NAME, "A", 5)
    return reloads


def check_state_directory(state):
    """pkdns stopped: its state directory; started again: warm, and the key resolves."""
    found = {}
    with open("/etc/pkdns/pkdns.toml") as f:
        found["config"] = f.read()
    mark = len(journal_lines("pkdns"))
    found["stop"] = run(["systemctl", "stop", "pkdns"])
    found["after stop"] = show("pkdns", UNIT_PROPERTIES)
    found["link"] = os.readlink("/var/lib/pkdns") if os.path.islink("/var/lib/pkdns") else None
    private = "/var/lib/private/pkdns"
    st = os.stat(private)
    found["dir"] = {"uid": st.st_uid, "mode": oct(st.st_mode & 0o7777)}
    found["files"] = {}
    for name in sorted(os.listdir(private)):
        st = os.stat(os.path.join(private, name))
        with open(os.path.join(private, name), "rb") as f:
            head = f.read(32)
        found["files"][name] = {"uid": st.st_uid, "mode": oct(st.st_mode & 0o7777),
                                "size": st.st_size,
                                "first line": head.split(b"\n")[0].decode("ascii", "replace")}
    found["stop log"] = journal_lines("pkdns")[mark:]

    mark = len(journal_lines("pkdns"))
    found["start"] = run(["systemctl", "start", "pkdns"])
    found["after start"] = show("pkdns", UNIT_PROPERTIES)
    found["start log"] = lines_since("pkdns", mark, r"saved nodes")
    if state.get("key"):
        found["key again"] = resolve(state["key"], "A", 20)
    return found


def check_stack_stop():
    stop = {"stop": run(["systemctl", "stop", "pkdns-stack.target"], timeout=40)}
    # systemctl returns once the target's own job is done; the daemons' stop jobs (PartOf=)
    # may still be running, so their final state is awaited, within a bound.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(
            show(d, ["ActiveState"]).get("ActiveState") in ("active", "deactivating")
            for d in DAEMONS):
        time.sleep(0.1)
    for unit in DAEMONS + ["pkdns-stack.target"]:
        stop[unit] = show(unit, UNIT_PROPERTIES)
    stop["logs"] = {d: journal_lines(d)[-3:] for d in DAEMONS}
    return stop


def inside(out_dir):
    """The check unit's work: every step's findings (or the error that stopped it) go to
    OUT_DIR/results.json, rewritten after each step so a hang still leaves the rest."""
    global _check_deadline
    _check_deadline = time.monotonic() + CHECK_BUDGET_S
    results, state = {}, {}
    path = os.path.join(out_dir, RESULTS)
    with open("/proc/1/comm") as f:  # the container's init: systemd, booted by nspawn
        results["pid 1"] = f.read().strip()
    steps = [("units", check_units), ("sandbox", check_sandbox), ("names", check_names),
             ("pkarr", lambda: check_pkarr(state)), ("reload", check_reloads),
             ("state", lambda: check_state_directory(state)), ("stack stop", check_stack_stop),
             ("log levels", check_log_levels)]
    for name, step in steps:
        started = time.monotonic()
        try:
            results[name] = step()
        except Exception:
            results[name] = {"error": traceback.format_exc()}
        results.setdefault("seconds", {})[name] = round(time.monotonic() - started, 1)
        with open(path + ".new", "w") as f:
            json.dump(results, f, indent=1)
        os.rename(path + ".new", path)
    _, out = run(["journalctl", "-b", "-o", "short-monotonic", "--no-pager"], timeout=30)
    with open(os.path.join(out_dir, "journal.txt"), "w") as f:
        f.write(out)
    results["complete"] = True
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


# =============================================================================================
# Outside: the install tree, the container's /etc, systemd-nspawn.


def needs():
    """systemd-nspawn's path; fails (never skips) where the test cannot run."""
    nspawn = shutil.which("systemd-nspawn")
    if os.geteuid() != 0:
        raise Failure("this test boots a container with systemd-nspawn and must run as root")
    if nspawn is None:
        raise Failure("systemd-nspawn is not installed (Debian: apt-get install "
                      "systemd-container; scripts/deps installs it)")
    if not os.path.isfile(os.path.join(BUILD_DIR, "cmake_install.cmake")):
        raise Failure(f"{BUILD_DIR} is not a configured CMake build")
    for program in DAEMONS + ["pkdns-cli"]:
        expect(os.access(os.path.join(harness.BIN_DIR, program), os.X_OK),
               f"{program} is built in {harness.BIN_DIR}")
    expect(os.access(harness.DNSMASQ, os.X_OK), f"{harness.DNSMASQ} (dnsmasq-base) is installed")
    return nspawn


def cache_value(name):
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
        m = re.search(rf"^{name}:\w+=(.*)$", f.read(), re.M)
    expect(m, f"{name} in the build's CMakeCache.txt")
    return m.group(1)


def install(case):
    """`cmake --install` into DESTDIR; returns (destdir, prefix, unit directory)."""
    destdir = case.path("install")
    status, out = harness.run_command(["env", f"DESTDIR={destdir}", "cmake", "--install",
                                       BUILD_DIR], timeout=120)
    expect(status == 0, f"cmake --install failed:\n{out}")
    prefix = cache_value("CMAKE_INSTALL_PREFIX").rstrip("/")
    # The prefix is bound over the container's (the machine's) /usr: /usr itself cannot be.
    expect(prefix not in ("", "/usr") and not prefix.startswith("/usr/lib"),
           f"install prefix {prefix!r}: configure with another (the default /usr/local)")
    unit_dir = os.path.join(prefix, cache_value("PKDNS_SYSTEMD_UNIT_DIR"))
    return destdir, prefix, unit_dir


ISP_UNIT = f"""\
[Unit]
Description=The network's DNS server (dnsmasq on {ISP_ADDR}:53)

[Service]
ExecStart={harness.DNSMASQ} --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
--bind-interfaces --listen-address={ISP_ADDR} --port=53 --pid-file= --user=root --group=root \
--log-facility=- --log-queries --local-ttl=300 --host-record={ISP_NAME},{ISP_ANSWER} \
--txt-record={ISP_TXT_NAME},{ISP_TXT.strip('"')}

[Install]
WantedBy=multi-user.target
"""

TESTNET_UNIT = """\
[Unit]
Description=A DHT testnet on loopback: pkdns's network
Before=pkdns.service

[Service]
ExecStart={bindir}/pkdns-cli testnet --nodes {nodes} --bind 127.0.0.1 --port {port}
# append, not truncate: ExecStartPost= opens it too, and must not empty it.
StandardOutput=append:{out}
# Started = its nodes listen (it prints "testnet ready"), so pkdns bootstraps at once.
ExecStartPost=/bin/sh -c 'for i in $$(seq 200); do grep -q "^testnet ready" {out} && exit 0; \
sleep 0.1; done; exit 1'

[Install]
WantedBy=multi-user.target
"""

CHECK_UNIT = f"""\
[Unit]
Description=Checks the pkdns stack, then powers the container off
After=pkdns-stack.target pkdns-e2e-isp.service pkdns-e2e-testnet.service
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
Environment=PYTHONDONTWRITEBYTECODE=1
ExecStart=/usr/bin/python3 {SRC_MOUNT}/{os.path.basename(__file__)} --inside {OUT_MOUNT}
TimeoutStartSec={CHECK_BUDGET_S + 15}

[Install]
WantedBy=multi-user.target
"""


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def pkdns_toml(examples):
    """The stack's pkdns.toml as installed, then our [dht] keys (docs/pkdns.md) that the
    container's network needs: the testnet instead of the public DHT (which it cannot reach)
    and a per-IP rate that suits a testnet whose nodes share 127.0.0.1. No state_dir, as
    docs/deploy.md says: pkdns takes the unit's StateDirectory= from $STATE_DIRECTORY."""
    with open(os.path.join(examples, "pkdns.toml")) as f:
        stack = f.read()
    expect(stack.rstrip().endswith("[dht]"), "the stack's pkdns.toml ends in its [dht] section")
    expect("state_dir" not in stack, "the stack's pkdns.toml names no state_dir")
    nodes = "".join(f'    "127.0.0.1:{TESTNET_PORT + i}",\n' for i in range(8))
    return stack + ("# added for the container: its loopback testnet\n"
                    f"bootstrap = [\n{nodes}    ]\n"
                    "read_only = true\n"
                    "node_rate_limit = 1000\n")


def sanitized_build():
    """Whether the programs under test were built with -DSANITIZE (the build's CMake cache)."""
    cache = os.path.join(os.path.dirname(harness.BIN_DIR), "CMakeCache.txt")
    try:
        with open(cache) as f:
            m = re.search(r"^SANITIZE:\w+=(.*)$", f.read(), re.MULTILINE)
    except OSError:
        return False
    return m is not None and m.group(1).strip() != ""


def make_etc(case, destdir, prefix, unit_dir):
    """The container's /etc, as an administrator would leave it after docs/deploy.md."""
    etc = case.path("etc")
    write(f"{etc}/machine-id", uuid.uuid4().hex + "\n")  # present: no first-boot presets
    write(f"{etc}/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    write(f"{etc}/group", "root:x:0:\nnogroup:x:65534:\nsystemd-journal:x:101:\n")
    write(f"{etc}/nsswitch.conf", "passwd: files systemd\ngroup: files systemd\n"
                                  "hosts: files dns\n")
    write(f"{etc}/hosts", "127.0.0.1 localhost\n")
    write(f"{etc}/resolv.conf", "nameserver 127.0.0.1\n")  # the host resolves through the stack
    write(f"{etc}/dnsmasq-resolv.conf", f"# Generated by resolvconf\nnameserver {ISP_ADDR}\n")

    examples = f"{destdir}{prefix}/share/doc/pkdns-suite/examples"
    # As docs/deploy.md installs them: the examples, unchanged; pkdns.toml with [dht] lines.
    os.makedirs(f"{etc}/pkdns")
    shutil.copyfile(f"{examples}/dnsdist.conf", f"{etc}/pkdns/router.conf")
    shutil.copyfile(f"{examples}/dnsmasq.conf", f"{etc}/pkdns/forwarder.conf")
    # One line more: interface= lists the interfaces' addresses over netlink, which the unit's
    # RestrictAddressFamilies must allow; on lo the forwarder still listens on 127.0.0.1.
    with open(f"{etc}/pkdns/forwarder.conf", "a") as f:
        f.write("interface=lo\n")
    write(f"{etc}/pkdns/pkdns.toml", pkdns_toml(examples))

    system = f"{etc}/systemd/system"
    write(f"{system}/pkdns-e2e-isp.service", ISP_UNIT)
    write(f"{system}/pkdns-e2e-testnet.service", TESTNET_UNIT.format(
        bindir=f"{prefix}/bin", nodes=TESTNET_NODES, port=TESTNET_PORT, out=TESTNET_OUT))
    write(f"{system}/pkdns-e2e-check.service", CHECK_UNIT)
    # Units outside systemd's search path are linked into /etc, as `systemctl link` does.
    if unit_dir != "/usr/local/lib/systemd/system":
        for name in os.listdir(destdir + unit_dir):
            os.symlink(f"{unit_dir}/{name}", f"{system}/{name}")
    if sanitized_build():
        # LeakSanitizer stops the process's threads with ptrace at exit, which the units'
        # SystemCallFilter forbids, so it would fail every start; the other tests check for
        # leaks, and AddressSanitizer and UndefinedBehaviorSanitizer stay on here.
        for unit in ("pkdns-router.service", "pkdns.service", "pkdns-forwarder.service"):
            write(f"{system}/{unit}.d/sanitizer.conf",
                  "[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n")
    # `systemctl enable`: each [Install] says WantedBy=multi-user.target.
    wants = f"{system}/multi-user.target.wants"
    os.makedirs(wants)
    os.symlink(f"{unit_dir}/pkdns-stack.target", f"{wants}/pkdns-stack.target")
    for unit in ("pkdns-e2e-isp.service", "pkdns-e2e-testnet.service",
                 "pkdns-e2e-check.service"):
        os.symlink(f"/etc/systemd/system/{unit}", f"{wants}/{unit}")
    return etc


def container_inits(nspawn_pid):
    """PIDs of the container's init: nspawn's children that are PID 1 of their namespace."""
    inits = []
    for tid in os.listdir(f"/proc/{nspawn_pid}/task"):
        try:
            with open(f"/proc/{nspawn_pid}/task/{tid}/children") as f:
                children = f.read().split()
        except OSError:
            continue
        for child in children:
            try:
                with open(f"/proc/{child}/status") as f:
                    nspid = re.search(r"^NSpid:\s+(.*)$", f.read(), re.M).group(1).split()
            except (OSError, AttributeError):
                continue
            if len(nspid) > 1 and nspid[-1] == "1":
                inits.append(int(child))
    return inits


def end_container(boot):
    """Stops a container that overran. nspawn halts it on a SIGTERM and kills it on a second;
    failing that its init is killed, which ends every process in its PID namespace. (Killing
    nspawn alone would leave the container running.)"""
    boot.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    boot.send_signal(signal.SIGTERM)
    if boot.wait_exit(5) is None:
        for pid in container_inits(boot.pid):
            os.kill(pid, signal.SIGKILL)
        boot.kill()


def boot_container(case, nspawn, destdir, prefix, etc, out):
    """Boots the container and waits for it to power itself off; returns nspawn's status."""
    init_args = [
        "systemd.unit=multi-user.target",
        "systemd.firstboot=0",
        "systemd.log_color=0",
        "systemd.show_status=0",
        # The journal, live on the console (nspawn's stdout, the case's log).
        "systemd.journald.forward_to_console=1",
        # A unit that never says READY=1 fails within the container's time, not after it.
        "systemd.default_timeout_start_sec=30s",
    ]
    argv = [nspawn, "--quiet", "--directory=/", "--volatile=yes", "--register=no",
            "--keep-unit", "--private-network", f"--machine=pkdns-e2e-{os.getpid()}",
            "--console=read-only", "--resolv-conf=off", "--timezone=off",
            f"--bind={etc}:/etc", f"--bind-ro={destdir}{prefix}:{prefix}",
            f"--bind-ro={TEST_DIR}:{SRC_MOUNT}", f"--bind={out}:{OUT_MOUNT}",
            "--setenv=SYSTEMD_COLORS=0", "--boot", "--", *init_args]
    boot = harness.Process(case, "container", argv)
    try:
        status = boot.wait_exit(BOOT_TIMEOUT_S)
        if status is None:
            raise Failure(f"the container did not power off within {BOOT_TIMEOUT_S} s "
                          "(killed); its console is below")
        return status
    finally:
        if boot.running():
            end_container(boot)


def boot_and_check(case):
    nspawn = needs()
    # The container's /etc and the install tree must be readable by the dynamic users.
    os.umask(0o022)
    destdir, prefix, unit_dir = install(case)
    for unit in [f"{d}.service" for d in DAEMONS] + ["pkdns-stack.target"]:
        expect(os.path.isfile(f"{destdir}{unit_dir}/{unit}"), f"{unit} installed in {unit_dir}")
    etc = make_etc(case, destdir, prefix, unit_dir)
    out = case.path("out")
    os.mkdir(out)
    status = boot_container(case, nspawn, destdir, prefix, etc, out)
    path = os.path.join(out, RESULTS)
    expect(os.path.isfile(path), f"the check wrote no {RESULTS} (nspawn exited {status}); "
           "the console is below")
    with open(path) as f:
        results = json.load(f)
    expect(results.get("complete"), f"the check did not finish: {json.dumps(results)[:3000]}")
    expect_eq(status, 0, "systemd-nspawn's exit status (the container powered off)")
    return results


# =============================================================================================
# The cases: one boot, then assertions on its record.

_results = None


def booted(case):
    """The record of the one boot, made by the first case that asks."""
    global _results
    if _results is None:
        _results = {}
        _results = boot_and_check(case)
    expect(_results, "the container's boot failed (see the first case)")
    return _results


def step(results, name):
    found = results.get(name, {})
    expect("error" not in found, f"the check's step {name!r} failed inside:\n"
           f"{found.get('error')}")
    return found


def test_the_stack_target_starts_three_ready_services(case):
    results = booted(case)
    expect_eq(results.get("pid 1"), "systemd", "the container's PID 1, which ran the check")
    units = step(results, "units")
    for helper in ("pkdns-e2e-isp.service", "pkdns-e2e-testnet.service"):
        expect_eq(units[helper]["is-active"], "active",
                  f"the test's {helper} (its last lines: {units[helper]['last lines']})")
    for daemon in DAEMONS:
        unit = units[daemon]
        expect_eq(unit["Type"], "notify", f"{daemon}: Type")
        # A Type=notify service is active (running) only once it has sent READY=1.
        expect_eq((unit["ActiveState"], unit["SubState"], unit["Result"], unit["is-active"]),
                  ("active", "running", "success", "active"),
                  f"{daemon}: state (its last lines: {unit['last lines']})")
        expect(int(unit["MainPID"]) > 0, f"{daemon}: no main process")
        expect_eq(unit["NRestarts"], "0", f"{daemon}: restarts")
    expect_eq(units["pkdns-stack.target"]["is-active"], "active", "pkdns-stack.target")


def test_router_starts_after_its_backends_are_ready(case):
    units = step(booted(case), "units")
    router_start = int(units["pkdns-router"]["InactiveExitTimestampMonotonic"])
    for backend in ("pkdns", "pkdns-forwarder"):
        ready = int(units[backend]["ActiveEnterTimestampMonotonic"])
        expect(0 < ready <= router_start,
               f"pkdns-router started at {router_start} us, before {backend} was ready "
               f"at {ready} us")
    target_up = int(units["pkdns-stack.target"]["ActiveEnterTimestampMonotonic"])
    for daemon in DAEMONS:
        ready = int(units[daemon]["ActiveEnterTimestampMonotonic"])
        expect(ready <= target_up, f"pkdns-stack.target was reached before {daemon} was ready")


def test_daemons_run_as_dynamic_users_with_only_their_capabilities(case):
    sandbox = step(booted(case), "sandbox")
    uids = set()
    for daemon in DAEMONS:
        proc = sandbox[daemon]
        expect("error" not in proc, f"{daemon}: {proc.get('error')}")
        uid = int(proc["Uid"])
        expect(DYNAMIC_UID_MIN <= uid <= DYNAMIC_UID_MAX,
               f"{daemon}: uid {uid} is not a dynamic user's")
        if proc["user"] is not None:  # named by nss-systemd (libnss-systemd), when present
            expect_eq(proc["user"], daemon, f"{daemon}: its dynamic user's name")
        uids.add(uid)
        want = 1 << CAP_NET_BIND_SERVICE if daemon == "pkdns-router" else 0
        for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            expect_eq(int(proc[key], 16), want, f"{daemon}: {key} (hex {proc[key]})")
        expect_eq(proc["NoNewPrivs"], "1", f"{daemon}: NoNewPrivs")
        expect_eq(proc["Seccomp"], "2", f"{daemon}: Seccomp (2: a filter is in force)")
    expect_eq(len(uids), 3, "each daemon has a user of its own")


def test_router_answers_ordinary_names_through_the_forwarder(case):
    names = step(booted(case), "names")
    for daemon in ("router", "pkdns", "forwarder"):
        texts = names[f"id.server {daemon}"]
        expect(isinstance(texts, list) and texts, f"{daemon}: id.server CH TXT: {texts}")
    expect_eq(names["isp A"], ["NOERROR", [ISP_ANSWER]], f"{ISP_NAME} A through the router")
    expect_eq(names["isp TXT"], ["NOERROR", [ISP_TXT]], f"{ISP_TXT_NAME} TXT")
    status, out = names["getent"]
    expect(status == 0 and ISP_ANSWER in out,
           f"getent through /etc/resolv.conf (the router): exit {status}, {out!r}")


def test_router_answers_a_published_pkarr_name_through_pkdns(case):
    pkarr = step(booted(case), "pkarr")
    expect(re.search(r"stored on \d+ nodes", pkarr["publish"]),
           f"pkdns-cli publish: {pkarr['publish']}")
    expect_eq(pkarr["A"], ["NOERROR", [KEY_A]], f"{pkarr['key']} A through router and pkdns")
    expect_eq(pkarr["TXT"], ["NOERROR", [KEY_TXT]], f"{pkarr['key']} TXT")


def test_systemctl_reload_rereads_each_configuration_in_place(case):
    reloads = step(booted(case), "reload")
    for daemon in DAEMONS:
        r = reloads[daemon]
        expect_eq(r["status"], 0, f"systemctl reload {daemon} (output: {r['output']!r})")
        expect_eq((r["state"], r["substate"]), ("active", "running"), f"{daemon} after reload")
        expect_eq(r["pid_after"], r["pid_before"], f"{daemon}: main PID across the reload")
        expect(any("reloaded" in line for line in r["log"]),
               f"{daemon} logged no reload: {r['log']}")
    expect_eq(reloads["router answers after"], ["NOERROR", [ISP_ANSWER]],
              "an ordinary name after the reloads")


def test_pkdns_keeps_its_dht_state_in_its_state_directory(case):
    state = step(booted(case), "state")
    # The directory comes from systemd ($STATE_DIRECTORY), not from the file.
    expect(not re.search(r"^\s*state_dir\s*=", state["config"], re.M),
           f"/etc/pkdns/pkdns.toml names a state_dir:\n{state['config']}")
    expect_eq(state["stop"][0], 0, f"systemctl stop pkdns: {state['stop'][1]}")
    stopped = state["after stop"]
    expect_eq((stopped["ActiveState"], stopped["Result"], stopped["ExecMainStatus"]),
              ("inactive", "success", "0"), "pkdns after systemctl stop")
    expect_eq(state["link"], "private/pkdns",
              "/var/lib/pkdns: DynamicUser= makes it a link into /var/lib/private")
    expect_eq(state["dir"]["mode"], "0o700", "the state directory's mode")
    files = state["files"]
    expect("dht.state" in files, f"no dht.state in /var/lib/private/pkdns: {files}")
    dht_state = files["dht.state"]
    expect(dht_state["first line"].startswith("pkdht-state-"),
           f"dht.state does not start with the format's magic line: {dht_state}")
    expect_eq(dht_state["uid"], state["dir"]["uid"], "dht.state's owner (pkdns's dynamic user)")
    expect(not [n for n in files if n != "dht.state"], f"stray files left behind: {files}")

    expect_eq(state["start"][0], 0, f"systemctl start pkdns: {state['start'][1]}; pkdns logged "
              f"{state['start log']}")
    expect_eq(state["after start"]["ActiveState"], "active", "pkdns started again")
    expect(any(re.search(r"state file /var/lib/pkdns/dht.state: [1-9]\d* saved nodes", line)
               for line in state["start log"]),
           f"pkdns did not start warm from its state file: {state['start log']}")
    expect_eq(state.get("key again"), ["NOERROR", [KEY_A]], "the key after pkdns's restart")


def test_daemons_log_to_the_journal_at_their_levels(case):
    # DESIGN.md: with stderr on the journal each line starts with <N>, which journald takes
    # as the line's priority and strips.
    levels = step(booted(case), "log levels")
    syslog = {"ERROR": "3", "WARNING": "4", "NOTICE": "5", "INFO": "6", "DEBUG": "7"}
    for daemon in DAEMONS:
        seen = set()
        for priority, message in levels[daemon]:
            expect(not re.match(r"<\d>", message), f"{daemon}: prefix left in {message!r}")
            m = re.match(r"(ERROR|WARNING|NOTICE|INFO|DEBUG) \[", message)
            if m:
                expect_eq(priority, syslog[m.group(1)], f"{daemon}: priority of {message!r}")
                seen.add(m.group(1))
        expect("INFO" in seen, f"{daemon}: no INFO line in the journal: {levels[daemon][:5]}")


def test_stopping_the_target_stops_every_daemon_cleanly(case):
    stop = step(booted(case), "stack stop")
    expect_eq(stop["stop"][0], 0, f"systemctl stop pkdns-stack.target: {stop['stop'][1]}")
    for daemon in DAEMONS:
        unit = stop[daemon]
        expect_eq((unit["ActiveState"], unit["Result"], unit["ExecMainCode"],
                   unit["ExecMainStatus"]), ("inactive", "success", "1", "0"),
                  f"{daemon} after the target stopped (code 1: exited; last lines: "
                  f"{stop['logs'][daemon]})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        inside(sys.argv[2])
        sys.exit(0)
    harness.CASE_DEADLINE_S = CASE_DEADLINE_S
    harness.main(globals())
