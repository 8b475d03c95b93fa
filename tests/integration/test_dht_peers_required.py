"""The interoperability tests cannot pass without their real peers where those are required:
with PKDNS_REQUIRE_PEERS=1 (scripts/test, CI) a case that finds libtorrent, an npm package or a
peer program missing fails; elsewhere it is skipped, and a file whose every case skipped exits
77, which ctest shows as skipped, not passed. scripts/deps installs node and npm from Debian only when the
commands are missing, and the npm peers whenever they are not installed."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import expect, expect_eq  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEPS = os.path.join(harness.REPO, "scripts", "deps")

# A test file of its own, run by the cases below: each case needs a peer that is not there.
NEEDS_ABSENT_PEERS = f"""
import sys
sys.path.insert(0, {HERE!r})
import harness

def test_needs_python_module(case):
    harness.require_python_module("pkdns_absent_module", "python3-absent")

def test_needs_program(case):
    harness.require_program("pkdns-absent-program", "absent-bin")

def test_needs_npm_package(case):
    harness.require_node_module("pkdns-absent-package")

harness.main(globals())
"""

NEEDS_NO_ROOM = f"""
import sys
sys.path.insert(0, {HERE!r})
import harness

def test_cannot_run_here(case):
    raise harness.Skip("port 53 is taken")

def test_runs(case):
    pass

harness.main(globals())
"""


def run_file(case, text, require):
    """Runs a harness test file; returns (exit status, output)."""
    path = case.write("inner_test.py", text)
    env = {k: v for k, v in os.environ.items() if k != "PKDNS_REQUIRE_PEERS"}
    if require:
        env["PKDNS_REQUIRE_PEERS"] = "1"
    done = subprocess.run([sys.executable, path], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return done.returncode, done.stdout.decode("utf-8", "replace")


def test_missing_peers_fail_where_required(case):
    status, out = run_file(case, NEEDS_ABSENT_PEERS, require=True)
    expect_eq(status, 1, f"exit status; output:\n{out}")
    expect("0 passed, 3 failed" in out, f"every case failed; output:\n{out}")
    for name, what in (("test_needs_python_module", "pkdns_absent_module"),
                       ("test_needs_program", "pkdns-absent-program"),
                       ("test_needs_npm_package", "pkdns-absent-package")):
        expect(f"FAIL {name}" in out, f"{name} failed; output:\n{out}")
        expect(what in out, f"the failure names {what}; output:\n{out}")
    expect("PKDNS_REQUIRE_PEERS=1" in out, f"the failure says why; output:\n{out}")


def test_missing_peers_are_skips_elsewhere_and_ctest_sees_them(case):
    status, out = run_file(case, NEEDS_ABSENT_PEERS, require=False)
    expect_eq(status, harness.SKIP_STATUS, f"exit status; output:\n{out}")
    expect("0 passed, 0 failed, 3 skipped" in out, f"every case skipped; output:\n{out}")


def test_a_skip_for_want_of_room_stays_a_skip_where_peers_are_required(case):
    status, out = run_file(case, NEEDS_NO_ROOM, require=True)
    expect_eq(status, 0, f"exit status: a case passed, so the file passed; output:\n{out}")
    expect("1 passed, 0 failed, 1 skipped" in out, f"summary; output:\n{out}")


def deps_dry_run(case, with_node):
    """Runs a copy of scripts/deps (beside a js/ directory with a lock file and no
    node_modules) in dry-run mode, with a PATH holding what it uses, a dpkg-query that finds
    no package installed, and node and npm only when with_node. Returns its output."""
    root = case.path("tree")
    os.makedirs(os.path.join(root, "scripts"))
    os.makedirs(os.path.join(root, "tests", "integration", "js"))
    shutil.copy(DEPS, os.path.join(root, "scripts", "deps"))
    case.write(os.path.join(root, "tests", "integration", "js", "package-lock.json"), "{}\n")
    bin_dir = case.path("bin")
    os.makedirs(bin_dir)
    for tool in ("dirname", "grep", "id"):
        os.symlink(shutil.which(tool), os.path.join(bin_dir, tool))
    stubs = {"dpkg-query": "exit 1"}
    if with_node:
        stubs.update({"node": "exit 0", "npm": "exit 0"})
    for name, body in stubs.items():
        path = os.path.join(bin_dir, name)
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\n{body}\n")
        os.chmod(path, 0o755)
    status, out = harness.run_command(
        ["/usr/bin/env", "-i", f"PATH={bin_dir}", "PKDNS_DEPS_DRY_RUN=1", shutil.which("bash"),
         os.path.join(root, "scripts", "deps")])
    expect_eq(status, 0, f"scripts/deps exit status; output:\n{out}")
    return out


def would_install(out):
    lines = [line for line in out.splitlines() if line.startswith("would install:")]
    expect_eq(len(lines), 1, f"one 'would install' line; output:\n{out}")
    return lines[0].split(":", 1)[1].split()


def test_deps_installs_node_and_npm_when_the_commands_are_missing(case):
    out = deps_dry_run(case, with_node=False)
    packages = would_install(out)
    expect("nodejs" in packages and "npm" in packages, f"nodejs and npm listed: {packages}")
    expect("python3-libtorrent" in packages, f"python3-libtorrent listed: {packages}")
    # npm ci comes after the packages, so it runs with the npm just installed.
    expect("would run: npm ci" in out.splitlines()[-1], f"npm ci last; output:\n{out}")


def test_deps_leaves_node_and_npm_alone_when_the_commands_exist(case):
    out = deps_dry_run(case, with_node=True)
    packages = would_install(out)
    expect("nodejs" not in packages and "npm" not in packages,
           f"nodejs and npm not listed: {packages}")
    expect("would run: npm ci" in out, f"npm ci still runs; output:\n{out}")


if __name__ == "__main__":
    harness.main(globals())
