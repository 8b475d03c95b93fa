"""The systemd units in systemd/ and what `cmake --install` puts where.

The units are templates: CMake fills in @bindir@, @confdir@ and @kill@ (cmake/install.cmake).
These cases fill them in the same way, pointing at the build's programs, and have
`systemd-analyze verify` load them as systemd would; then they read each unit for the
settings the deployment relies on (readiness, reload, the hardening, which unit may bind
port 53). The last cases install the build into a scratch directory and look at the tree."""

import configparser
import glob
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import REPO, BIN_DIR, Skip, expect, expect_eq, run_command  # noqa: E402

SYSTEMD_DIR = os.path.join(REPO, "systemd")
BUILD_DIR = os.path.dirname(BIN_DIR)
DAEMONS = ["pkdns-router", "pkdns", "pkdns-forwarder"]
PROGRAMS = DAEMONS + ["pkdns-cli"]
CONFIG_FILES = {
    "pkdns-router": "/etc/pkdns/router.conf",
    "pkdns": "/etc/pkdns/pkdns.toml",
    "pkdns-forwarder": "/etc/pkdns/forwarder.conf",
}
RESOLV_FILE = "/etc/dnsmasq-resolv.conf"  # the stack's (tests/data/stack/dnsmasq.conf)

# The address families each daemon may use: IP and the journal's socket; the forwarder also
# netlink, to list the addresses of the interfaces that interface= names.
ADDRESS_FAMILIES = {"pkdns-router": "AF_INET AF_INET6 AF_UNIX",
                    "pkdns": "AF_INET AF_INET6 AF_UNIX",
                    "pkdns-forwarder": "AF_INET AF_INET6 AF_UNIX AF_NETLINK"}

# Every daemon's unit carries these, exactly so.
HARDENING = {
    "DynamicUser": "yes",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "SystemCallArchitectures": "native",
}


# ---------------------------------------------------------------------------------------------
# Reading and filling in units.


def template_path(daemon):
    return os.path.join(SYSTEMD_DIR, f"{daemon}.service.in")


def fill_in(text, bindir, confdir="/etc/pkdns", kill="/bin/kill"):
    """What configure_file(... @ONLY) does with the units' three placeholders."""
    return text.replace("@bindir@", bindir).replace("@confdir@", confdir).replace("@kill@", kill)


def read_unit(text):
    """A unit's settings as {section: {key: [values in order]}}; a key may repeat."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#", ";"), empty_lines_in_values=False,
                                       dict_type=_MultiDict)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(text)
    return {section: {key: value.split("\n") for key, value in parser.items(section)}
            for section in parser.sections()}


class _MultiDict(dict):
    """Lets configparser keep every value of a repeated key (joined with newlines)."""

    def __setitem__(self, key, value):
        if isinstance(value, list) and key in self:
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def service_settings(daemon):
    with open(template_path(daemon)) as f:
        return read_unit(f.read())["Service"]


def one(settings, key, daemon):
    values = settings.get(key, [])
    expect(len(values) == 1, f"{daemon}: expected one {key}=, found {values}")
    return values[0]


def kill_program():
    """The kill the units run for ExecReload, as CMake's default has it (/bin/kill)."""
    if os.access("/bin/kill", os.X_OK):
        return "/bin/kill"
    found = shutil.which("kill")
    if found is None:
        raise Skip("no kill program on this machine")
    return found


def stand_in_bindir(t):
    """A bin directory holding the build's programs; a daemon that is not built yet (pkdns,
    while it is being written) gets a stand-in script, so the unit can still be loaded.
    Returns (path, names of the stand-ins)."""
    bindir = t.path("bin")
    os.mkdir(bindir)
    stand_ins = []
    for program in PROGRAMS:
        built = os.path.join(BIN_DIR, program)
        if os.access(built, os.X_OK):
            os.symlink(built, os.path.join(bindir, program))
            continue
        path = os.path.join(bindir, program)
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o755)
        stand_ins.append(program)
    return bindir, stand_ins


def systemd_analyze():
    return harness.require_program("systemd-analyze", "systemd")


def complaints_about(output, names):
    """The lines of systemd-analyze's output that concern our units (it may also grumble
    about units of the machine it runs on, which are none of our business)."""
    return [line for line in output.splitlines() if any(n in line for n in names)]


# ---------------------------------------------------------------------------------------------
# Loading the units as systemd does.


def test_units_pass_systemd_analyze_verify(t):
    analyze = systemd_analyze()
    bindir, stand_ins = stand_in_bindir(t)
    units = []
    for daemon in DAEMONS:
        with open(template_path(daemon)) as f:
            text = fill_in(f.read(), bindir, kill=kill_program())
        units.append(t.write(f"{daemon}.service", text))
    target = t.path("pkdns-stack.target")
    shutil.copy(os.path.join(SYSTEMD_DIR, "pkdns-stack.target"), target)
    units.append(target)

    status, output = run_command([analyze, "verify", "--man=no", *units], timeout=60)
    names = [os.path.basename(u) for u in units]
    complaints = complaints_about(output, names)
    expect(status == 0 and not complaints,
           f"systemd-analyze verify exited {status}:\n" + (output or "(no output)"))
    if stand_ins:
        print(f"    note: stand-in scripts for programs not built yet: {', '.join(stand_ins)}")


def test_verify_catches_a_misspelt_key(t):
    # Guards the case above: systemd-analyze exits 0 on an unknown key and only prints a
    # warning, so the complaint filter has to be what fails it.
    analyze = systemd_analyze()
    bindir, _ = stand_in_bindir(t)
    with open(template_path("pkdns-forwarder")) as f:
        text = fill_in(f.read(), bindir, kill=kill_program())
    unit = t.write("pkdns-forwarder.service",
                   text.replace("ProtectHome=yes", "ProtectHomme=yes"))
    status, output = run_command([analyze, "verify", "--man=no", unit], timeout=60)
    expect(complaints_about(output, ["pkdns-forwarder.service"]),
           f"no complaint about ProtectHomme= (exit {status}): {output!r}")


def test_configured_units_name_installed_programs_and_config_files(t):
    configured = os.path.join(BUILD_DIR, "systemd")
    if not os.path.isdir(configured):
        raise Skip(f"{configured} does not exist (configure the build with CMake first)")
    cache = open(os.path.join(BUILD_DIR, "CMakeCache.txt")).read()
    prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)
    for daemon in DAEMONS:
        path = os.path.join(configured, f"{daemon}.service")
        with open(path) as f:
            text = f.read()
        left = re.findall(r"@[a-z_]+@", text)
        expect(not left, f"{path}: placeholders left: {left}")
        service = read_unit(text)["Service"]
        config = CONFIG_FILES[daemon]
        program = f"{prefix}/bin/{daemon}"
        expect_eq(one(service, "ExecStart", daemon), f"{program} -c {config}",
                  f"{daemon}: ExecStart")
        expect_eq(one(service, "ExecStartPre", daemon),
                  f"{program} --check-config -c {config}", f"{daemon}: ExecStartPre")


# ---------------------------------------------------------------------------------------------
# What each unit says.


def test_every_daemon_is_a_notify_service_that_reloads_on_sighup(t):
    for daemon in DAEMONS:
        service = service_settings(daemon)
        expect_eq(one(service, "Type", daemon), "notify", f"{daemon}: Type")
        expect_eq(one(service, "Restart", daemon), "on-failure", f"{daemon}: Restart")
        expect_eq(one(service, "ExecReload", daemon), "@kill@ -HUP $MAINPID",
                  f"{daemon}: ExecReload")
        expect("--check-config" in one(service, "ExecStartPre", daemon),
               f"{daemon}: ExecStartPre does not check the configuration")


def test_every_daemon_has_the_hardening_settings(t):
    for daemon in DAEMONS:
        service = service_settings(daemon)
        for key, want in HARDENING.items():
            expect_eq(one(service, key, daemon), want, f"{daemon}: {key}")
        expect_eq(one(service, "RestrictAddressFamilies", daemon), ADDRESS_FAMILIES[daemon],
                  f"{daemon}: RestrictAddressFamilies")
        filters = service.get("SystemCallFilter", [])
        expect("@system-service" in filters, f"{daemon}: SystemCallFilter= {filters}")
        expect(re.fullmatch(r"0[0-7]{3}", one(service, "UMask", daemon)),
               f"{daemon}: UMask= is not an octal mask")
        expect("User" not in service, f"{daemon}: a fixed User= defeats DynamicUser=")


def test_only_the_router_may_bind_port_53(t):
    router = service_settings("pkdns-router")
    expect_eq(router.get("AmbientCapabilities"), ["CAP_NET_BIND_SERVICE"],
              "router: AmbientCapabilities")
    expect_eq(router.get("CapabilityBoundingSet"), ["CAP_NET_BIND_SERVICE"],
              "router: CapabilityBoundingSet")
    for daemon in ("pkdns", "pkdns-forwarder"):
        service = service_settings(daemon)
        expect("AmbientCapabilities" not in service, f"{daemon}: has AmbientCapabilities=")
        expect_eq(service.get("CapabilityBoundingSet"), [""],
                  f"{daemon}: CapabilityBoundingSet (empty: no capability at all)")


def test_router_is_a_name_resolver_for_the_host(t):
    with open(template_path("pkdns-router")) as f:
        unit = read_unit(f.read())["Unit"]
    expect("nss-lookup.target" in " ".join(unit.get("Before", [])).split(),
           f"router: Before= {unit.get('Before')}")
    expect("nss-lookup.target" in " ".join(unit.get("Wants", [])).split(),
           f"router: Wants= {unit.get('Wants')}")
    expect("network.target" in " ".join(unit.get("After", [])).split(),
           f"router: After= {unit.get('After')}")


def test_pkdns_keeps_its_dht_state_in_a_state_directory(t):
    service = service_settings("pkdns")
    expect_eq(one(service, "StateDirectory", "pkdns"), "pkdns", "pkdns: StateDirectory")


def test_forwarder_sees_the_directory_of_its_resolv_file(t):
    service = service_settings("pkdns-forwarder")
    visible = " ".join(service.get("ReadOnlyPaths", []) +
                       service.get("BindReadOnlyPaths", [])).split()
    directory = os.path.dirname(RESOLV_FILE)
    expect(directory in [p.lstrip("-") for p in visible],
           f"forwarder: {directory} is not among the read-only paths {visible}")
    expect(RESOLV_FILE not in [p.lstrip("-") for p in visible],
           "forwarder: the resolv file itself is mounted; a file renamed into place "
           "would go unseen")
    hidden = " ".join(service.get("InaccessiblePaths", [])).split()
    expect(directory not in hidden, f"forwarder: {directory} is inaccessible")


def test_stack_target_wants_the_three_daemons(t):
    with open(os.path.join(SYSTEMD_DIR, "pkdns-stack.target")) as f:
        unit = read_unit(f.read())["Unit"]
    wanted = " ".join(unit.get("Wants", [])).split()
    expect_eq(sorted(wanted), sorted(f"{d}.service" for d in DAEMONS), "target: Wants=")
    for daemon in DAEMONS:
        with open(template_path(daemon)) as f:
            part_of = read_unit(f.read())["Unit"].get("PartOf", [])
        expect_eq(part_of, ["pkdns-stack.target"], f"{daemon}: PartOf=")


# ---------------------------------------------------------------------------------------------
# The install tree.


def install_into(t):
    """Installs the build under a scratch DESTDIR; returns the prefix's path inside it."""
    if not os.path.isfile(os.path.join(BUILD_DIR, "cmake_install.cmake")):
        raise Skip(f"{BUILD_DIR} is not a configured CMake build")
    destdir = t.path("root")
    status, output = run_command(["env", f"DESTDIR={destdir}", "cmake", "--install",
                                  BUILD_DIR], timeout=120)
    expect(status == 0, f"cmake --install failed:\n{output}")
    cache = open(os.path.join(BUILD_DIR, "CMakeCache.txt")).read()
    prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)
    return destdir + prefix


def test_install_puts_each_built_program_with_its_man_page_and_unit(t):
    root = install_into(t)
    units = glob.glob(os.path.join(root, "lib/systemd/system/*"))
    expect(os.path.join(root, "lib/systemd/system/pkdns-stack.target") in units,
           f"no pkdns-stack.target among {units}")
    for program in PROGRAMS:
        built = os.access(os.path.join(BIN_DIR, program), os.X_OK)
        installed = os.access(os.path.join(root, "bin", program), os.X_OK)
        expect_eq(installed, built, f"{program} installed")
        page = os.path.join(root, "share/man/man1", f"{program}.1")
        expect_eq(os.path.isfile(page), built, f"man page of {program} installed")
        if program in DAEMONS:
            unit = os.path.join(root, "lib/systemd/system", f"{program}.service")
            expect_eq(os.path.isfile(unit), built, f"unit of {program} installed")


def test_install_puts_the_stack_configurations_among_the_examples(t):
    root = install_into(t)
    for name in ("dnsdist.conf", "dnsmasq.conf", "pkdns.toml"):
        installed = os.path.join(root, "share/doc/pkdns-suite/examples", name)
        expect(os.path.isfile(installed), f"{installed} missing")
        with open(installed) as a, open(os.path.join(REPO, "tests/data/stack", name)) as b:
            expect(a.read() == b.read(), f"{name} differs from tests/data/stack/{name}")
    expect(not os.path.exists(t.path("root", "etc")), "the install wrote to /etc")


def test_man_pages_render_without_warnings(t):
    groff = harness.require_program("groff", "groff-base")
    for program in PROGRAMS:
        page = os.path.join(REPO, "docs/man", f"{program}.1")
        expect(os.path.isfile(page), f"{page} missing")
        status, output = run_command([groff, "-man", "-Tutf8", "-ww", "-z", page])
        expect(status == 0 and not output.strip(), f"{page}: groff says:\n{output}")
        text = open(page).read()
        for section in ("NAME", "SYNOPSIS", "OPTIONS", "EXAMPLES"):
            expect(f".SH {section}" in text, f"{page}: no {section} section")


if __name__ == "__main__":
    harness.main(globals())
