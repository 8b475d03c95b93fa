"""pkdns-forwarder as a drop-in for dnsmasq: the stack's dnsmasq.conf loads, answers equal what
the upstream serves over UDP and TCP, id.server needs no upstream, configuration errors are
reported with their place, SIGTERM stops it cleanly."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode  # noqa: E402

import harness  # noqa: E402
from harness import Dnsmasq, expect, expect_answer, expect_eq, query  # noqa: E402

STACK_CONF = "tests/data/stack/dnsmasq.conf"  # relative to the repository root, as ctest runs

# What the upstream serves (dnsmasq options) and the questions asked of both.
UPSTREAM_RECORDS = [
    "--host-record=www.example.test,192.0.2.10,2001:db8::10",
    '--txt-record=txt.example.test,"v=spf1 -all","second string"',
    "--mx-host=example.test,mail.example.test,10",
]
QUESTIONS = [("www.example.test", "A"), ("www.example.test", "AAAA"),
             ("txt.example.test", "TXT"), ("example.test", "MX")]


def stack_forwarder(t):
    """The stack's dnsmasq.conf unchanged, with only the port and the resolv file overridden on
    the command line; the resolv file names a dnsmasq upstream on port 53. The forwarder listens
    where the config says (its default addresses, 127.0.0.1 among them)."""
    upstream = Dnsmasq(t, UPSTREAM_RECORDS, addr=harness.loopback_address_with_port_53(), port=53)
    resolv = t.write("resolv.conf", f"# test\nnameserver {upstream.addr}\n")
    also = ("::1",) if harness.ipv6_loopback_usable() else ()
    port = harness.free_port("127.0.0.1", also=also)
    fwd = harness.start_forwarder(t, conf_file=STACK_CONF,
                                  args=[f"--port={port}", f"--resolv-file={resolv}"],
                                  addr="127.0.0.1", port=port)
    return fwd, upstream


def expect_same_answer(fwd, upstream, name, rdtype, tcp=False):
    direct = query(upstream, name, rdtype)
    expect_eq(direct.rcode(), dns.rcode.NOERROR, f"upstream's rcode for {name} {rdtype}")
    got = harness.query_retrying(fwd, name, rdtype, tcp=tcp)
    via = "TCP" if tcp else "UDP"
    expect(got.rcode() == dns.rcode.NOERROR and got.answer == direct.answer,
           f"{name} {rdtype} over {via}: expected {harness.describe(direct)}, "
           f"got {harness.describe(got)}")
    for rrset in got.answer:
        expect(0 < rrset.ttl <= direct.answer[0].ttl,
               f"{name} {rdtype}: TTL {rrset.ttl} not within 1..{direct.answer[0].ttl}")


def test_stack_config_loads_with_dhcp_option_only_warned(t):
    fwd, _ = stack_forwarder(t)
    line = fwd.wait_log(r"dhcp-leasefile")
    expect("WARN" in line.upper(), f"dhcp-leasefile reported at a level other than warning: {line}")
    expect("dnsmasq.conf:1" in line, f"dhcp-leasefile warning lacks FILE:LINE "
                                     f"(dnsmasq.conf:1): {line}")


def test_a_answer_equals_upstream(t):
    fwd, upstream = stack_forwarder(t)
    expect_same_answer(fwd, upstream, "www.example.test", "A")


def test_aaaa_answer_equals_upstream(t):
    fwd, upstream = stack_forwarder(t)
    expect_same_answer(fwd, upstream, "www.example.test", "AAAA")


def test_txt_answer_equals_upstream(t):
    fwd, upstream = stack_forwarder(t)
    expect_same_answer(fwd, upstream, "txt.example.test", "TXT")


def test_mx_answer_equals_upstream(t):
    fwd, upstream = stack_forwarder(t)
    expect_same_answer(fwd, upstream, "example.test", "MX")


def test_answers_over_tcp(t):
    fwd, upstream = stack_forwarder(t)
    for name, rdtype in QUESTIONS:
        expect_same_answer(fwd, upstream, name, rdtype, tcp=True)


def test_id_server_answered_without_any_upstream(t):
    fwd = harness.start_forwarder(t, ["no-resolv"])
    for tcp in (False, True):
        r = query(fwd, "id.server", "TXT", "CH", tcp=tcp)
        expect_answer(r, "TXT", ['"pkdns-forwarder"'],
                      f"id.server CH TXT over {'TCP' if tcp else 'UDP'}")


def test_no_upstream_refuses_with_ede_not_ready(t):
    fwd = harness.start_forwarder(t, ["no-resolv"])
    r = query(fwd, "www.example.test", "A")
    expect(r.rcode() == dns.rcode.REFUSED and harness.EDE_NOT_READY in harness.ede_codes(r),
           f"www.example.test A with no upstream: expected REFUSED with EDE 14, "
           f"got {harness.describe(r)}")


def test_sigterm_exits_with_status_0(t):
    fwd = harness.start_forwarder(t, ["no-resolv"])
    status = fwd.stop()
    expect_eq(status, 0, "exit status after SIGTERM")


def test_check_config_accepts_stack_config(t):
    status, out = harness.run_command([harness.FORWARDER, "--check-config", "-c", STACK_CONF])
    expect(status == 0, f"--check-config -c {STACK_CONF}: expected exit 0, got {status}; "
                        f"output:\n{out}")


def test_check_config_rejects_unknown_option_with_file_and_line(t):
    conf = t.write("bad.conf", "port=5301\nno-resolv\nfrobnicate=yes\ncache-size=100\n")
    status, out = harness.run_command([harness.FORWARDER, "--check-config", "-c", conf])
    expect(status == 1, f"--check-config -c {conf} (unknown option on line 3): expected exit 1, "
                        f"got {status}; output:\n{out}")
    expect(f"{conf}:3" in out, f"--check-config output does not name {conf}:3:\n{out}")


def test_check_config_binds_nothing(t):
    port = harness.free_port("127.0.0.1")
    conf = t.write("good.conf", f"port={port}\nlisten-address=127.0.0.1\nno-resolv\n")
    status, out = harness.run_command([harness.FORWARDER, "--check-config", "-c", conf])
    expect(status == 0, f"--check-config -c {conf}: expected exit 0, got {status}; "
                        f"output:\n{out}")
    expect(harness.port_is_free("127.0.0.1", port), f"port {port} still bound after the check")


def test_unknown_command_line_option_exits_nonzero(t):
    port = harness.free_port("127.0.0.1")
    conf = t.write("good.conf", f"port={port}\nlisten-address=127.0.0.1\nno-resolv\n")
    status, out = harness.run_command([harness.FORWARDER, "-c", conf, "--frobnicate=yes"],
                                      timeout=5)
    expect(status != 0, f"-c {conf} --frobnicate=yes: expected a non-zero exit, got 0; "
                        f"output:\n{out}")
    expect("frobnicate" in out, f"the error does not name the option:\n{out}")


def test_sighup_keeps_serving(t):
    fwd, upstream = stack_forwarder(t)
    expect_same_answer(fwd, upstream, "www.example.test", "A")
    fwd.send_signal(signal.SIGHUP)
    harness.wait_until_answers(fwd, fwd)
    expect_same_answer(fwd, upstream, "txt.example.test", "TXT")
    expect(fwd.running(), "forwarder stopped after SIGHUP")


if __name__ == "__main__":
    harness.main(globals())
