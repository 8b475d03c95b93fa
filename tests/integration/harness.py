"""Shared plumbing for the integration tests.

A test file defines functions named test_* that take one argument, the Case, and ends with
`harness.main(globals())`. Each case runs in its own temporary directory; every process it
starts is killed when the case ends, pass or fail, and its log (stdout and stderr) is printed
when the case fails. Everything listens on loopback only.

Peers:
- the daemons under test, from $PKDNS_BIN (the build's bin directory);
- Debian's dnsmasq as a real upstream (Dnsmasq);
- ScriptedServer, a small DNS server in a thread for what dnsmasq cannot be made to do:
  truncate over UDP, send decoy replies first, stay silent, delay, fail, count queries.

A case that needs a real peer program or package (libtorrent, bittorrent-dht, dnsmasq, dnsdist,
dig, ...) checks for it with require_program, require_python_module or require_node_module.
Where one is missing the case is skipped, or fails when PKDNS_REQUIRE_PEERS=1 (as scripts/test
and CI set it, after scripts/deps has installed them all). A file whose cases all passed exits
0, one with a failure 1, and one with a skip but no failure SKIP_STATUS, which ctest shows as
skipped.
"""

import ctypes
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("PKDNS_BIN", os.path.join(REPO, "build", "bin"))
FORWARDER = os.path.join(BIN_DIR, "pkdns-forwarder")
ROUTER = os.path.join(BIN_DIR, "pkdns-router")
DNSMASQ = "/usr/sbin/dnsmasq"

QUERY_TIMEOUT_S = 2.0  # one query, UDP or TCP
READY_TIMEOUT_S = 10.0  # a daemon has this long to answer its first query
CHANGE_TIMEOUT_S = 5.0  # generous wait for something that should happen "within a second"
CASE_DEADLINE_S = 60  # a case that runs longer is failed, so a file stays bounded

# RFC 8914 4.15: Extended DNS Error 14, "Not Ready".
EDE_NOT_READY = 14


class Failure(AssertionError):
    """A case found the daemon behaving other than specified."""


class Skip(Exception):
    """A case cannot run here (say, port 53 on loopback is taken); not a failure."""


class MissingPeer(Skip):
    """A real peer program or package that the case runs against is not installed: a skip,
    unless PKDNS_REQUIRE_PEERS=1 says that every peer must be there."""


SKIP_STATUS = 77  # the exit status of a file whose every case skipped (SKIP_RETURN_CODE in CMake)


def peers_required():
    """True where a missing peer fails the case (CI, scripts/test) rather than skipping it."""
    return os.environ.get("PKDNS_REQUIRE_PEERS", "") == "1"


def require_program(name, package):
    """The path of program `name` (on PATH, or a path), from Debian package `package`."""
    path = shutil.which(name)
    if path is None:
        raise MissingPeer(f"{name} is not installed (Debian: {package}; scripts/deps installs it)")
    return path


def require_python_module(name, package):
    """Imports and returns Python module `name`, from Debian package `package`."""
    try:
        return __import__(name)
    except ImportError as e:
        raise MissingPeer(f"Python module {name} is not installed (Debian: {package}; "
                          f"scripts/deps installs it): {e}")


JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")


def require_node_module(name):
    """The directory of npm package `name` under js/node_modules, and node to run it with."""
    require_program("node", "nodejs")
    path = os.path.join(JS_DIR, "node_modules", name)
    if not os.path.isdir(path):
        raise MissingPeer(f"npm package {name} is not installed in {JS_DIR} "
                          f"(scripts/deps runs npm ci there)")
    return path


# ---------------------------------------------------------------------------------------------
# Assertions that say what was expected and what came instead.


def expect(condition, message):
    if not condition:
        raise Failure(message)


def expect_eq(got, want, what):
    if got != want:
        raise Failure(f"{what}: expected {want!r}, got {got!r}")


# ---------------------------------------------------------------------------------------------
# Addresses and ports.

_loopback_next = 2


def _loopback_prefix():
    """127.A.B: derived from our pid so that test files run in parallel use distinct addresses;
    never 127.0.0 (where the daemons' defaults and other programs live)."""
    pid = os.getpid()
    return f"127.{1 + (pid >> 8) % 254}.{pid & 0xFF}"


def loopback_address():
    """A loopback address no other case of this run has used (127.A.B.2, .3, ...)."""
    global _loopback_next
    if _loopback_next > 254:
        raise Skip("ran out of loopback addresses")
    addr = f"{_loopback_prefix()}.{_loopback_next}"
    _loopback_next += 1
    return addr


def _bindable(addr, port, kind):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        with socket.socket(family, kind) as s:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        return True
    except OSError:
        return False


def port_is_free(addr, port):
    """True when both UDP and TCP can bind addr:port right now."""
    return _bindable(addr, port, socket.SOCK_DGRAM) and _bindable(addr, port, socket.SOCK_STREAM)


def free_port(addr="127.0.0.1", also=()):
    """A port that is free for UDP and TCP on addr and on every address in `also`."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((addr, 0))
            port = s.getsockname()[1]
        if all(port_is_free(a, port) for a in (addr, *also)):
            return port
    raise Failure(f"no port free for both UDP and TCP on {addr}")


def loopback_address_with_port_53():
    """A fresh loopback address whose port 53 is free (resolv files can name only port 53).
    Skips the case when none of a few tries is free."""
    tried = []
    for _ in range(8):
        addr = loopback_address()
        if port_is_free(addr, 53):
            return addr
        tried.append(addr)
    raise Skip(f"port 53 is taken on {', '.join(tried)}; cannot run an upstream for a resolv file")


def ipv6_loopback_usable():
    return _bindable("::1", 0, socket.SOCK_DGRAM)


# ---------------------------------------------------------------------------------------------
# Processes.

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Runs in the child before exec: if the test runner itself is killed (ctest timeout), the
    kernel kills the child too, so nothing is left listening."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class Process:
    """A program started by a case; stdout and stderr go to one log file in the case's
    directory. Killed when the case ends."""

    def __init__(self, case, name, argv, must_survive=False):
        self.case = case
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = case.path(f"{name}.log")
        self.must_survive = must_survive  # the case fails if this dies on its own
        self.stopped_by_test = False
        self._log_file = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            preexec_fn=_die_with_parent,
        )
        case.processes.append(self)

    @property
    def pid(self):
        return self.popen.pid

    def running(self):
        return self.popen.poll() is None

    def log(self):
        self._log_file.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=CHANGE_TIMEOUT_S):
        """The first log line matching the regex `pattern` (case-insensitive), waiting up to
        `timeout` seconds for it to appear."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.IGNORECASE)
        while True:
            for line in self.log().splitlines():
                if regex.search(line):
                    return line
            if time.monotonic() > deadline:
                raise Failure(f"{self.name}: no log line matching /{pattern}/ "
                              f"within {timeout:.0f} s")
            time.sleep(0.05)

    def send_signal(self, sig):
        if self.running():
            self.popen.send_signal(sig)

    def wait_exit(self, timeout):
        """Exit status, or None if still running after `timeout` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL if it is still there after `timeout`; returns the exit status
        (negative: the signal that ended it)."""
        self.stopped_by_test = True
        self.send_signal(signal.SIGTERM)
        status = self.wait_exit(timeout)
        if status is None:
            self.kill()
            status = self.popen.wait()
        return status

    def kill(self):
        self.stopped_by_test = True
        if self.running():
            self.popen.kill()
        self.popen.wait()

    def close(self):
        if self.running():
            self.popen.kill()
            self.popen.wait()
        self._log_file.close()


def run_command(argv, timeout=10.0):
    """Runs a short command to its end; returns (exit status, stdout+stderr text). A command that
    does not end within `timeout` is killed and fails the case."""
    try:
        done = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO,
                              timeout=timeout, preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired as e:
        out = (e.output or b"").decode("utf-8", "replace")
        raise Failure(f"{' '.join(map(str, argv))} did not exit within {timeout:.0f} s; "
                      f"output:\n{out}")
    return done.returncode, done.stdout.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# Queries.


class Endpoint:
    """Where a DNS server listens."""

    def __init__(self, addr, port):
        self.addr = addr
        self.port = port

    def __str__(self):
        return f"{self.addr}#{self.port}"


def make_query(name, rdtype="A", rdclass="IN", edns=True, payload=1232, rd=True):
    flags = dns.flags.RD if rd else 0
    if edns:
        return dns.message.make_query(name, rdtype, rdclass, use_edns=0, payload=payload,
                                      flags=flags)
    return dns.message.make_query(name, rdtype, rdclass, use_edns=False, flags=flags)


def query(server, name, rdtype="A", rdclass="IN", tcp=False, edns=True, payload=1232,
          timeout=QUERY_TIMEOUT_S):
    """One query to `server` (anything with .addr and .port); returns the response or raises
    dns.exception.Timeout."""
    q = make_query(name, rdtype, rdclass, edns=edns, payload=payload)
    if tcp:
        return dns.query.tcp(q, server.addr, timeout=timeout, port=server.port)
    return dns.query.udp(q, server.addr, timeout=timeout, port=server.port)


def query_retrying(server, name, rdtype="A", attempts=3, tcp=False, edns=True, payload=1232):
    """A query as a stub resolver makes it: the same message (same ID) from the same socket,
    sent up to `attempts` times, waiting QUERY_TIMEOUT_S for each."""
    q = make_query(name, rdtype, edns=edns, payload=payload)
    if tcp:
        for attempt in range(attempts):
            try:
                return dns.query.tcp(q, server.addr, timeout=QUERY_TIMEOUT_S, port=server.port)
            except (dns.exception.Timeout, ConnectionError):
                pass
    else:
        family = socket.AF_INET6 if ":" in server.addr else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # dnspython waits with select() and expects this
            for attempt in range(attempts):
                try:
                    return dns.query.udp(q, server.addr, timeout=QUERY_TIMEOUT_S,
                                         port=server.port, sock=sock)
                except dns.exception.Timeout:
                    pass
    raise Failure(f"{name} {rdtype} to {server}: no answer in {attempts} tries "
                  f"of {QUERY_TIMEOUT_S:.0f} s")


def query_until(server, names, predicate, what, rdtype="A", timeout=CHANGE_TIMEOUT_S, **kwargs):
    """Queries `server` until predicate(response) holds; `names` is a name, or a function of the
    attempt number giving a fresh name each time (so that no cached answer hides a change).
    Returns the response; fails with the last one seen after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    attempt = 0
    last = "no answer"
    while True:
        name = names(attempt) if callable(names) else names
        try:
            response = query(server, name, rdtype, **kwargs)
            if predicate(response):
                return response
            last = describe(response)
        except dns.exception.Timeout:
            last = f"timeout on {name}"
        attempt += 1
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not seen within {timeout:.0f} s; last: {last}")
        time.sleep(0.1)


def rcode(response):
    return dns.rcode.to_text(response.rcode())


def answer_texts(response, rdtype="A"):
    """The rdata of every `rdtype` record in the answer section, as text, sorted."""
    rdtype = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype
    return sorted(rd.to_text() for rrset in response.answer if rrset.rdtype == rdtype
                  for rd in rrset)


def ede_codes(response):
    """Extended DNS Error codes (RFC 8914) in the response's OPT record."""
    return [opt.code for opt in response.options if opt.otype == dns.edns.OptionType.EDE]


def is_truncated(response):
    return bool(response.flags & dns.flags.TC)


def describe(response):
    """One line for a failure message."""
    parts = [rcode(response)]
    if is_truncated(response):
        parts.append("TC")
    codes = ede_codes(response)
    if codes:
        parts.append(f"EDE {codes}")
    parts.append("answer: " + "; ".join(rr.to_text().replace("\n", "; ")
                                        for rr in response.answer) if response.answer
                 else "no answer")
    if response.authority:
        parts.append("authority: " + "; ".join(rr.to_text() for rr in response.authority))
    return ", ".join(parts)


def expect_answer(response, rdtype, want, what):
    """The response is NOERROR with exactly the rdata texts in `want` for rdtype."""
    expect(response.rcode() == dns.rcode.NOERROR and answer_texts(response, rdtype) == sorted(want),
           f"{what}: expected NOERROR with {rdtype} {sorted(want)}, got {describe(response)}")


def wait_until_answers(server, process=None, timeout=READY_TIMEOUT_S, name="id.server",
                       rdtype="TXT", rdclass="CH"):
    """Polls `server` with one query (by default id.server CH TXT) until any response comes,
    for up to `timeout` seconds. Fails early, with the log, if `process` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and not process.running():
            raise Failure(f"{process.name} exited with status {process.popen.returncode} "
                          f"before answering on {server}")
        try:
            return query(server, name, rdtype, rdclass, timeout=0.25)
        except (dns.exception.Timeout, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            raise Failure(f"{server} did not answer {name} {rdclass} {rdtype} "
                          f"within {timeout:.0f} s")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# The daemon under test.


class Forwarder(Process, Endpoint):
    """pkdns-forwarder: process and the endpoint it answers on."""

    def __init__(self, case, argv, addr, port):
        if not os.access(FORWARDER, os.X_OK):
            raise Failure(f"{FORWARDER} is not built")
        Process.__init__(self, case, f"forwarder{len(case.processes)}", argv, must_survive=True)
        Endpoint.__init__(self, addr, port)


def start_forwarder(case, conf=(), args=(), conf_file=None, addr="127.0.0.1", port=None,
                    verbose=True, wait=True):
    """Starts pkdns-forwarder. Without conf_file, writes a config of `port=`, `listen-address=`
    and then the lines in `conf`; with it, runs that file as is (and `port`, `addr` say where
    to reach the daemon, the caller passing matching options in `args`). Waits until it answers
    id.server CH TXT unless wait is False."""
    if port is None:
        port = free_port(addr)
    if conf_file is None:
        text = f"port={port}\nlisten-address={addr}\n" + "".join(line + "\n" for line in conf)
        conf_file = case.write("forwarder.conf", text)
    argv = [FORWARDER, "-c", conf_file, *args]
    if verbose:
        argv.append("-v")
    fwd = Forwarder(case, argv, addr, port)
    if wait:
        wait_until_answers(fwd, fwd)
    return fwd


class Router(Process, Endpoint):
    """pkdns-router: process and the endpoint it answers on."""

    def __init__(self, case, argv, addr, port):
        if not os.access(ROUTER, os.X_OK):
            raise Failure(f"{ROUTER} is not built")
        Process.__init__(self, case, f"router{len(case.processes)}", argv, must_survive=True)
        Endpoint.__init__(self, addr, port)


def start_router(case, conf="", conf_file=None, args=(), addr=None, port=None, verbose=False,
                 wait=True, env=None):
    """Starts pkdns-router on a fresh loopback address. Without conf_file, writes an INI file
    of `conf` (native format) with `--local` naming where to listen; with it, runs that file as
    is, still with `--local`. Waits until it answers id.server CH TXT unless wait is False."""
    addr = addr or loopback_address()
    if port is None:
        port = free_port(addr)
    if conf_file is None:
        conf_file = case.write("router.ini", conf)
    argv = [ROUTER, "-c", conf_file, "--local", f"{addr}:{port}", *args]
    if verbose:
        argv.append("-v")
    saved = os.environ.copy()
    try:
        if env:
            os.environ.update(env)
        router = Router(case, argv, addr, port)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if wait:
        wait_until_answers(router, router)
    return router


# ---------------------------------------------------------------------------------------------
# dnsmasq as a real upstream.


class Dnsmasq(Process, Endpoint):
    """Debian's dnsmasq answering only from the records given on its command line, e.g.
    "--host-record=www.example.test,192.0.2.1", "--txt-record=t.test,text",
    "--address=/wild.test/192.0.2.9" (the name and everything under it), "--mx-host=...".
    Local answers carry TTL `ttl`. It refuses names it does not know (it has no upstream)."""

    def __init__(self, case, options=(), addr=None, port=None, ttl=300):
        require_program(DNSMASQ, "dnsmasq-base")
        addr = addr or loopback_address()
        port = port or free_port(addr)
        argv = [DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts",
                "--conf-file=/dev/null", "--bind-interfaces", f"--listen-address={addr}",
                f"--port={port}", "--log-facility=-", "--log-queries", "--pid-file=",
                "--user=root", "--group=root", f"--local-ttl={ttl}", *options]
        Process.__init__(self, case, f"dnsmasq{len(case.processes)}", argv)
        Endpoint.__init__(self, addr, port)
        wait_until_answers(self, self, name="version.bind")


# ---------------------------------------------------------------------------------------------
# A scriptable DNS server.


class ScriptedServer(Endpoint):
    """A DNS server on UDP and TCP in threads, answering from `records` and doing what the
    test sets:

    - rcode: answer every query with this rcode (say dns.rcode.SERVFAIL) and no records;
    - silent: receive (and count) but never answer;
    - delay_s: wait this long before each answer (answers are sent from timers, so queries
      are not serialised);
    - truncate_udp: over UDP answer with TC set and no records; over TCP answer in full;
    - decoys: replies sent over UDP before the right one: "wrong_id" (ID + 1) and/or
      "wrong_question" (right ID, another name), each carrying DECOY_A / DECOY_TXT;
    - negative_soa: whether NXDOMAIN and NODATA carry the zone's SOA (MINIMUM soa_minimum).

    A name absent from `records` is NXDOMAIN; a name present with other types is NODATA.
    "*.suffix" in records answers every name under suffix. Every query received is recorded
    and counted (names compared without case, as a forwarder may randomise it)."""

    DECOY_A = "198.51.100.66"
    DECOY_TXT = '"decoy"'

    def __init__(self, case, addr=None, port=None, zone="test."):
        addr = addr or loopback_address()
        port = port or free_port(addr)
        super().__init__(addr, port)
        self.zone = dns.name.from_text(zone)
        self.records = {}  # (lower-case name text, rdtype int) -> (ttl, [rdata text])
        self.rcode = None
        self.silent = False
        self.delay_s = 0.0
        self.truncate_udp = False
        self.decoys = []
        self.negative_soa = True
        self.soa_minimum = 60
        self.any_a = None  # when set, every A query not in records gets this address
        self.received = []  # (transport, lower-case qname text, rdtype text)
        self._lock = threading.Lock()
        self._stopping = False
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((addr, port))
        self._udp.settimeout(0.2)
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind((addr, port))
        self._tcp.listen(64)
        self._tcp.settimeout(0.2)
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self._threads:
            t.start()
        case.servers.append(self)

    # -- what the test sets up and reads

    def add(self, name, rdtype, *rdatas, ttl=300):
        key = (name.lower().rstrip(".") + ".", dns.rdatatype.from_text(rdtype))
        with self._lock:
            self.records[key] = (ttl, list(rdatas))

    def count(self, name=None, rdtype=None, transport=None):
        """Queries received, optionally only for one name, type or transport ("udp"/"tcp")."""
        if name is not None:
            name = name.lower().rstrip(".") + "."
        with self._lock:
            return sum(1 for (tr, qn, qt) in self.received
                       if (name is None or qn == name) and (rdtype is None or qt == rdtype)
                       and (transport is None or tr == transport))

    def stop(self):
        """Closes both sockets: from now on the port is closed (ICMP port unreachable)."""
        if self._stopping:
            return
        self._stopping = True
        for t in self._threads:
            t.join(timeout=2)
        self._udp.close()
        self._tcp.close()

    # -- answering

    def _lookup(self, qname, qtype):
        """(ttl, rdatas) for the name, or None; and whether the name exists at all."""
        name = qname.to_text().lower()
        candidates = [name]
        labels = name.split(".")
        candidates += ["*." + ".".join(labels[i:]) for i in range(1, len(labels) - 1)]
        with self._lock:
            for candidate in candidates:
                types = {t: v for (n, t), v in self.records.items() if n == candidate}
                if types:
                    return types.get(qtype), True
        return None, False

    def _soa(self):
        return dns.rrset.from_text(self.zone, self.soa_minimum, "IN", "SOA",
                                   f"ns.{self.zone} hostmaster.{self.zone} 1 3600 600 86400 "
                                   f"{self.soa_minimum}")

    def _answer(self, q):
        r = dns.message.make_response(q, recursion_available=True, our_payload=1232)
        if not q.question:
            r.set_rcode(dns.rcode.FORMERR)
            return r
        question = q.question[0]
        if self.rcode is not None:
            r.set_rcode(self.rcode)
            return r
        found, exists = self._lookup(question.name, question.rdtype)
        if found is None and self.any_a is not None and question.rdtype == dns.rdatatype.A:
            found, exists = (300, [self.any_a]), True
        if found is not None:
            ttl, rdatas = found
            r.answer.append(dns.rrset.from_text_list(question.name, ttl, question.rdclass,
                                                     question.rdtype, rdatas))
            return r
        if not exists:
            r.set_rcode(dns.rcode.NXDOMAIN)
        if self.negative_soa:
            r.authority.append(self._soa())
        return r

    def _decoy(self, q, kind):
        r = dns.message.make_response(q, recursion_available=True, our_payload=1232)
        question = q.question[0]
        name = question.name
        if kind == "wrong_id":
            r.id = (q.id + 1) & 0xFFFF
        elif kind == "wrong_question":
            name = dns.name.from_text("decoy", origin=question.name)
            r.question = [dns.rrset.RRset(name, question.rdclass, question.rdtype)]
        if question.rdtype == dns.rdatatype.TXT:
            r.answer.append(dns.rrset.from_text(name, 300, "IN", "TXT", self.DECOY_TXT))
        else:
            r.answer.append(dns.rrset.from_text(name, 300, "IN", "A", self.DECOY_A))
        return r

    def _record(self, transport, q):
        if q.question:
            question = q.question[0]
            entry = (transport, question.name.to_text().lower(),
                     dns.rdatatype.to_text(question.rdtype))
        else:
            entry = (transport, "", "")
        with self._lock:
            self.received.append(entry)

    def _reply_udp(self, q, client):
        try:
            if q.question:
                for kind in self.decoys:
                    self._udp.sendto(self._decoy(q, kind).to_wire(), client)
            r = self._answer(q)
            if self.truncate_udp and r.answer:
                r.answer = []
                r.flags |= dns.flags.TC
            limit = q.payload if q.edns >= 0 else 512
            wire = r.to_wire()
            if len(wire) > limit:
                r.answer = []
                r.authority = []
                r.flags |= dns.flags.TC
                wire = r.to_wire()
            self._udp.sendto(wire, client)
        except OSError:
            pass  # stopped meanwhile

    def _serve_udp(self):
        while not self._stopping:
            try:
                data, client = self._udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            self._record("udp", q)
            if self.silent:
                continue
            if self.delay_s > 0:
                threading.Timer(self.delay_s, self._reply_udp, (q, client)).start()
            else:
                self._reply_udp(q, client)

    def _serve_tcp(self):
        while not self._stopping:
            try:
                conn, _ = self._tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve_connection, args=(conn,), daemon=True).start()

    def _serve_connection(self, conn):
        conn.settimeout(5)
        with conn:
            while not self._stopping:
                try:
                    head = _recv_exact(conn, 2)
                    data = _recv_exact(conn, struct.unpack("!H", head)[0])
                except (OSError, EOFError):
                    return
                try:
                    q = dns.message.from_wire(data)
                except Exception:
                    return
                self._record("tcp", q)
                if self.silent:
                    continue
                if self.delay_s > 0:
                    time.sleep(self.delay_s)
                wire = self._answer(q).to_wire()
                try:
                    conn.sendall(struct.pack("!H", len(wire)) + wire)
                except OSError:
                    return


def _recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


# ---------------------------------------------------------------------------------------------
# Cases and the runner.


class Case:
    """One test case: a temporary directory, and the processes and servers it started."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"pkdns-{name}-")
        self.processes = []
        self.servers = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, name, text):
        """Writes text to a file in the case's directory; returns its path."""
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def check_survivors(self):
        """Fails if a process that had to keep running died on its own."""
        for p in self.processes:
            if p.must_survive and not p.stopped_by_test and not p.running():
                raise Failure(f"{p.name} died during the case, exit status {p.popen.returncode}")

    def show_logs(self):
        for p in self.processes:
            text = p.log()
            lines = text.splitlines()
            status = "running" if p.running() else f"exit status {p.popen.returncode}"
            print(f"    --- {p.name} ({status}): {' '.join(p.argv)}")
            if len(lines) > 150:
                print(f"    ... {len(lines) - 150} earlier lines in {p.log_path}")
                lines = lines[-150:]
            for line in lines:
                print(f"    | {line}")

    def close(self, keep_dir=False):
        for s in self.servers:
            s.stop()
        for p in self.processes:
            p.close()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _on_deadline(signum, frame):
    raise Failure(f"case still running after {CASE_DEADLINE_S} s")


def main(namespace):
    """Runs every test_* function in `namespace` in definition order (or only those named on the
    command line), prints `N passed, N failed` and exits 1 if any failed."""
    sys.stdout.reconfigure(line_buffering=True)
    tests = [(name, fn) for name, fn in namespace.items()
             if name.startswith("test_") and callable(fn)]
    wanted = sys.argv[1:]
    if wanted:
        tests = [(n, f) for n, f in tests if n in wanted]
    signal.signal(signal.SIGALRM, _on_deadline)
    # A SIGTERM (ctest stopping us) unwinds like a failure, so the cleanup below runs.
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    random.seed()

    passed, failed, skipped = 0, [], 0
    for name, fn in tests:
        case = Case(name)
        started = time.monotonic()
        outcome = "ok"
        try:
            signal.alarm(CASE_DEADLINE_S)
            fn(case)
            case.check_survivors()
        except MissingPeer as e:
            if peers_required():
                outcome = "FAILED"
                signal.alarm(0)
                print(f"FAIL {name}")
                print(f"    a real peer is missing and PKDNS_REQUIRE_PEERS=1 requires it: {e}")
            else:
                outcome = f"skipped: {e}"
        except Skip as e:
            outcome = f"skipped: {e}"
        except BaseException as e:
            outcome = "FAILED"
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise  # interrupted or terminated: clean up (below) and stop
            signal.alarm(0)
            print(f"FAIL {name}")
            if isinstance(e, Failure):
                print(f"    {e}")
                tb = traceback.extract_tb(e.__traceback__)
                frames = [f for f in tb if os.path.basename(f.filename) != "harness.py"]
                if frames:
                    print(f"    at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}")
            else:
                print("    " + traceback.format_exc().replace("\n", "\n    "))
            case.show_logs()
        finally:
            signal.alarm(0)
            case.close(keep_dir=(outcome == "FAILED" and bool(os.environ.get("PKDNS_KEEP"))))
        elapsed = time.monotonic() - started
        if outcome == "ok":
            passed += 1
            print(f"ok   {name} ({elapsed:.1f} s)")
        elif outcome == "FAILED":
            failed.append(name)
        else:
            skipped += 1
            print(f"skip {name}: {outcome[len('skipped: '):]}")

    summary = f"{passed} passed, {len(failed)} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    if failed:
        print("failed: " + ", ".join(failed))
    # Skipped only when nothing ran: a file whose other cases passed passed (its summary
    # line still counts the skips).
    sys.exit(1 if failed else SKIP_STATUS if skipped and not passed else 0)
