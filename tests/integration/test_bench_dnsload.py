"""bench/tools/dnsload, the benchmarks' polling load generator, counts what it should: every
query sent is answered or lost, answers are told apart by rcode, and a reply to another
question is not taken for an answer. Each run is bounded by dnsload's own -l and -t."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Dnsmasq, ScriptedServer, expect, expect_eq  # noqa: E402


def dnsload(t, server, lines, *options):
    """Runs dnsload against `server` with the query file `lines` and returns its figures."""
    datafile = t.write("queries.txt", "".join(f"{line}\n" for line in lines))
    argv = [os.path.join(harness.BIN_DIR, "dnsload"), "-s", server.addr, "-p", str(server.port),
            "-d", datafile, *options]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    expect_eq(out.returncode, 0, f"dnsload's exit status ({out.stderr.strip()})")
    figures = {}
    for line in out.stdout.splitlines():
        key, value = line.split()
        figures[key] = float(value) if "." in value else int(value)
    return figures


def test_every_query_is_answered_with_its_rcode(t):
    server = Dnsmasq(t, ["--host-record=known.test,192.0.2.7"])
    # dnsmasq answers the name it knows and refuses the other (it has no upstream)
    f = dnsload(t, server, ["known.test A", "unknown.test A"], "-l", "0.5", "-q", "20",
                "-c", "2")
    expect(f["sent"] > 0, f"nothing sent: {f}")
    expect_eq(f["answered"], f["sent"], f"answered of {f['sent']} sent")
    expect_eq((f["lost"], f["unmatched"], f["send_errors"]), (0, 0, 0),
              "lost, unmatched and send errors")
    expect(f.get("rcode_0", 0) > 0 and f.get("rcode_5", 0) > 0,
           f"both NOERROR and REFUSED expected: {f}")
    expect_eq(f.get("rcode_0", 0) + f.get("rcode_5", 0), f["answered"], "answers by rcode")


def test_a_silent_server_loses_every_query(t):
    server = ScriptedServer(t)
    server.silent = True
    f = dnsload(t, server, ["x.test A"], "-l", "0.3", "-t", "0.3", "-q", "7", "-c", "1")
    # with nothing answered no slot is freed: exactly the outstanding limit goes out
    expect_eq((f["sent"], f["answered"], f["lost"]), (7, 0, 7), "sent, answered, lost")


def test_a_reply_to_another_question_is_not_an_answer(t):
    server = ScriptedServer(t)
    server.add("x.test", "A", "192.0.2.1")
    server.decoys = ["wrong_question"]
    f = dnsload(t, server, ["x.test A"], "-l", "0.5", "-q", "4", "-c", "1")
    expect(f["answered"] > 0, f"nothing answered: {f}")
    expect_eq(f["unmatched"], f["answered"], "decoys counted as unmatched, one per answer")
    expect_eq(f["lost"], 0, "lost")


if __name__ == "__main__":
    harness.main(globals())
