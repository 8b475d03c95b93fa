"""bench/stack/run.py, the whole-stack benchmark, still works with this build: a --smoke run
(one round, a second of load per stack, 20 names and 2 keys on a testnet of 10 nodes) must
start both stacks, have each answer the checked name and key through its front end, and
measure each. Its figures are not measurements; bench/RESULTS.md comes from full runs.

The benchmark makes network and mount namespaces of its own (it re-executes itself under
`unshare`), so it must run as root; like the other stack tests, this test fails rather than
skips without root. dnsdist, dnsmasq and dnsperf are the original stack and the load: real
peers, required where PKDNS_REQUIRE_PEERS=1."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402

RUN = os.path.join(harness.REPO, "bench", "stack", "run.py")
PROGRAMS = ("pkdns-router", "pkdns", "pkdns-forwarder", "pkdns-cli")
# run.py bounds itself (--smoke: a 120 s budget, and an alarm 60 s later, after which it stops
# everything it started); this bound only catches a run.py that hangs even so.
RUN_TIMEOUT_S = 200
CASE_DEADLINE_S = RUN_TIMEOUT_S + 20


def smoke_run(case):
    """run.py --smoke against this build; returns its results.json."""
    if os.geteuid() != 0:
        raise Failure("the benchmark makes a network namespace and must run as root")
    for program in PROGRAMS:
        expect(os.access(os.path.join(harness.BIN_DIR, program), os.X_OK),
               f"{program} is built in {harness.BIN_DIR}")
    dnsdist = harness.require_program("dnsdist", "dnsdist")
    dnsperf = harness.require_program("dnsperf", "dnsperf")
    harness.require_program("unshare", "util-linux")
    harness.require_program("ip", "iproute2")
    expect(os.access(harness.DNSMASQ, os.X_OK), f"{harness.DNSMASQ} (dnsmasq-base) is installed")

    out = case.path("bench")
    status, output = harness.run_command(
        [sys.executable, RUN, "--smoke", "--bin", harness.BIN_DIR, "--out", out,
         "--dnsdist", dnsdist, "--dnsperf", dnsperf, "--dnsmasq", harness.DNSMASQ],
        timeout=RUN_TIMEOUT_S)
    path = os.path.join(out, "results.json")
    expect(os.path.isfile(path), f"run.py wrote no results.json (exit {status}):\n{output}")
    with open(path) as f:
        results = json.load(f)
    expect(results["error"] is None and status == 0,
           f"run.py stopped early (exit {status}): {results['error']}\n{output}")
    return results


def test_smoke_run_measures_both_stacks(case):
    results = smoke_run(case)
    runs = {r["stack"]: r for r in results["runs"]}
    expect_eq(sorted(runs), ["original", "ours"], "the stacks measured")
    for stack, r in runs.items():
        expect(r["qps"] > 0 and r["completed"] > 0, f"{stack}: nothing answered: {r}")
        # Every answer comes from a cache and is NOERROR; an error means a broken stack.
        expect_eq(r["not_noerror"], 0, f"{stack}: answers other than NOERROR ({r['rcodes']})")
        expect(r["cpu_us_per_query"] and r["cpu_us_per_query"] > 0,
               f"{stack}: no CPU time counted for its daemons: {r['cpu_each_s']}")
        expect(len(r["rss_each_kib"]) == 3 and all(k > 0 for k in r["rss_each_kib"]),
               f"{stack}: memory of its three daemons: {r['rss_each_kib']}")
    with open(os.path.join(case.path("bench"), "summary.md")) as f:
        summary = f.read()
    expect("| QPS |" in summary and "smoke run" in summary, f"summary.md:\n{summary}")


if __name__ == "__main__":
    harness.CASE_DEADLINE_S = CASE_DEADLINE_S
    harness.main(globals())
