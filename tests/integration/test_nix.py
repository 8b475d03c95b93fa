"""The Nix files: package, NixOS module, VM test and flake.

No nixpkgs can be fetched here, so nothing is built or booted. Instead every .nix file is
parsed, and the module is evaluated by nix-instantiate against the stand-ins in nix/tests/
(stub-lib.nix, stub-pkgs.nix, eval-module.nix): its options, their types and defaults, the
configuration files it renders (which the built daemons must accept), and the systemd services
it defines, which must match the units in systemd/. With PKDNS_NIXPKGS_LIB set to a checkout
of nixpkgs' lib/ directory, the module also goes through the real module system."""

import ast
import configparser
import json
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import BIN_DIR, REPO, Skip, expect, expect_eq, run_command  # noqa: E402

NIX_TESTS = os.path.join(REPO, "nix", "tests")
DAEMONS = {"pkdns-router": "router", "pkdns": "pkdns", "pkdns-forwarder": "forwarder"}
PROGRAMS = [*DAEMONS, "pkdns-cli"]
PACKAGE_BUILD_DEADLINE_S = 480
SKIP_DIRS = {".git", "node_modules", "__pycache__"}

OPTIONS = [
    "services.pkdns.enable",
    "services.pkdns.package",
    "services.pkdns.openFirewall",
    "services.pkdns.resolveLocalQueries",
    "services.pkdns.router.enable",
    "services.pkdns.router.configFile",
    "services.pkdns.router.settings",
    "services.pkdns.router.settings.router",
    "services.pkdns.router.settings.pools",
    "services.pkdns.router.settings.backends",
    "services.pkdns.router.settings.rules",
    "services.pkdns.pkdns.enable",
    "services.pkdns.pkdns.configFile",
    "services.pkdns.pkdns.settings",
    "services.pkdns.forwarder.enable",
    "services.pkdns.forwarder.configFile",
    "services.pkdns.forwarder.settings",
    "services.pkdns.forwarder.resolvFile",
    "services.pkdns.forwarder.resolvconf",
]


# ---------------------------------------------------------------------------------------------
# Running Nix.


def nix_instantiate():
    return harness.require_program("nix-instantiate", "nix-bin")


def nix_eval(expr, timeout=60, **args):
    """Evaluates the Nix expression `expr` (a function of the keyword arguments, when there
    are any, each passed as a JSON string) and returns its value decoded from JSON. The dummy
    store keeps the evaluation off /nix: nothing is written or built."""
    argv = [nix_instantiate(), "--store", "dummy://", "--eval", "--strict", "--json"]
    for name, value in args.items():
        argv += ["--argstr", name, json.dumps(value)]
    status, output = run_command(argv + ["-E", expr], timeout=timeout)
    expect(status == 0, f"nix-instantiate failed:\n{output}")
    return json.loads(output.strip().splitlines()[-1])


def nix_eval_fails(expr, **args):
    """The error text of an evaluation that must fail."""
    argv = [nix_instantiate(), "--store", "dummy://", "--eval", "--strict", "--json"]
    for name, value in args.items():
        argv += ["--argstr", name, json.dumps(value)]
    status, output = run_command(argv + ["-E", expr], timeout=60)
    expect(status != 0, f"evaluation succeeded where it had to fail: {output}")
    return output


def evaluate_module(definitions=None, system=None):
    """Evaluates nix/module.nix with services.pkdns = definitions (and the rest of the system
    configuration as `system`); returns {options, values, config, files, ...}."""
    definitions = {"enable": True} if definitions is None else definitions
    system = {"networking": {"resolvconf": {"enable": True}}} if system is None else system
    expr = f"""{{ definitions, system }}:
      import {NIX_TESTS}/eval-module.nix {{
        definitions = builtins.fromJSON definitions;
        system = builtins.fromJSON system;
      }}"""
    return nix_eval(expr, definitions=definitions, system=system)


def services_of(result):
    return result["config"].get("systemd", {}).get("services", {})


# ---------------------------------------------------------------------------------------------
# The units in systemd/, read for comparison.


def read_template(daemon):
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#",), dict_type=_MultiDict)
    parser.optionxform = str
    with open(os.path.join(REPO, "systemd", f"{daemon}.service.in")) as f:
        parser.read_string(f.read())
    return {section: {key: value.split("\n") for key, value in parser.items(section)}
            for section in parser.sections()}


class _MultiDict(dict):
    """Keeps every value of a repeated key (configparser joins them with newlines)."""

    def __setitem__(self, key, value):
        if isinstance(value, list) and key in self:
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def as_unit_values(value):
    """A NixOS serviceConfig value as the lines systemd would get."""
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def words(values):
    return " ".join(values).split()


# ---------------------------------------------------------------------------------------------
# Parsing.


def test_every_nix_file_parses(t):
    nix = nix_instantiate()
    files = []
    for root, dirs, names in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
        files += [os.path.join(root, n) for n in names if n.endswith(".nix")]
    expected = ["flake.nix", "nix/package.nix", "nix/module.nix", "nix/tests/stack.nix"]
    for name in expected:
        expect(os.path.join(REPO, name) in files, f"{name} is missing")
    for path in sorted(files):
        if path.startswith(os.path.join(REPO, "tests", "data")):
            continue  # fragments of the replaced setup, not ours to evaluate
        status, output = run_command([nix, "--store", "dummy://", "--parse", path])
        expect(status == 0, f"{os.path.relpath(path, REPO)} does not parse:\n{output}")


# ---------------------------------------------------------------------------------------------
# Options.


def test_module_declares_the_documented_options(t):
    result = evaluate_module({})
    expect_eq(sorted(result["options"]), sorted(OPTIONS), "option paths")


def test_option_defaults_have_their_types(t):
    expect(evaluate_module({})["defaultsAreWellTyped"], "a default does not fit its type")


def test_disabled_module_defines_nothing(t):
    result = evaluate_module({})
    expect_eq(result["config"], {}, "configuration with services.pkdns.enable unset")


def test_a_value_of_the_wrong_type_is_refused(t):
    expr = f"""{{ definitions }}: (import {NIX_TESTS}/eval-module.nix {{
        definitions = builtins.fromJSON definitions; }}).values"""
    error = nix_eval_fails(expr, definitions={"enable": True, "openFirewall": "yes"})
    expect("services.pkdns.openFirewall" in error, f"error does not name the option: {error}")
    error = nix_eval_fails(expr, definitions={"enable": True, "router": {"bogus": 1}})
    expect("services.pkdns.router.bogus is not an option" in error, f"error: {error}")
    error = nix_eval_fails(expr, definitions={"forwarder": {"settings": {"port": {"a": 1}}}})
    expect("services.pkdns.forwarder.settings" in error, f"error: {error}")


def test_package_asks_for_the_build_inputs(t):
    inputs = set(evaluate_module()["packageInputs"])
    for name in ("stdenv", "cmake", "pkg-config", "libuv", "libsodium", "c-ares", "libinih",
                 "nettle", "gmp"):
        expect(name in inputs, f"nix/package.nix does not take {name}: {sorted(inputs)}")


def evaluate_package():
    """nix/package.nix's derivation attributes, evaluated with the stand-in lib: `src` is the
    list of the files and folders its source filter selects (absolute paths in this tree; the
    stand-in lib.fileset fails the evaluation when one is missing)."""
    return nix_eval(f"""
      let
        lib = import {NIX_TESTS}/stub-lib.nix;
        drv = import {REPO}/nix/package.nix {{
          inherit lib;
          stdenv.mkDerivation = args: args;
          cmake = "cmake"; pkg-config = "pkg-config"; libuv = "libuv";
          libsodium = "libsodium"; c-ares = "c-ares"; libinih = "libinih";
          nettle = "nettle"; gmp = "gmp"; util-linux = "/util-linux";
        }};
      in {{ inherit (drv) version src cmakeFlags doCheck checkPhase; }}""")


def test_package_takes_its_version_and_source_from_the_tree(t):
    package = evaluate_package()
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        project = next(line for line in f if line.startswith("project(pkdns-suite "))
    expect_eq(package["version"], project.split()[2], "version (CMakeLists.txt's project())")
    for needed in ("CMakeLists.txt", "cmake", "common", "forwarder", "pkdns", "router",
                   "systemd", "docs", "tests/data"):
        expect(os.path.join(REPO, needed) in package["src"], f"the source lacks {needed}")
    expect(package["doCheck"] and "ctest" in package["checkPhase"]
           and "-L unit" in package["checkPhase"], f"checkPhase: {package['checkPhase']}")
    expect("-DPKDNS_KILL_PROGRAM=/util-linux/bin/kill" in package["cmakeFlags"],
           f"cmakeFlags: {package['cmakeFlags']}")


def copy_package_source(dest):
    """Copies into `dest` exactly what nix/package.nix's source filter selects, as
    lib.fileset.toSource would: each file or folder at its place under the tree's root."""
    for path in evaluate_package()["src"]:
        rel = os.path.relpath(path, REPO)
        expect(not rel.startswith(".."), f"the package's source reaches outside the tree: {path}")
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(path):
            shutil.copytree(path, target, symlinks=True)
        else:
            shutil.copy2(path, target)


def test_package_source_configures_builds_checks_and_installs(t):
    """The phases of the Nix build, without Nix: cmake on nothing but the package's source
    (so a file the build needs and the filter leaves out fails here), a build of everything,
    the package's checkPhase command (the unit tests), and an install under a prefix."""
    cmake = harness.require_program("cmake", "cmake")
    # A whole build from nothing takes longer than a case's usual bound on a loaded machine.
    signal.alarm(PACKAGE_BUILD_DEADLINE_S)
    src, build, prefix = t.path("src"), t.path("build"), t.path("prefix")
    copy_package_source(src)
    package = evaluate_package()
    status, output = run_command([cmake, "-S", src, "-B", build,
                                  f"-DCMAKE_INSTALL_PREFIX={prefix}", *package["cmakeFlags"]],
                                 timeout=120)
    expect(status == 0, f"cmake cannot configure the package's source:\n{output}")
    status, output = run_command([cmake, "--build", build, "-j2"],
                                 timeout=PACKAGE_BUILD_DEADLINE_S)
    expect(status == 0, f"the package's source does not build:\n{output}")

    check = [line.strip() for line in package["checkPhase"].splitlines()
             if line.strip().startswith("ctest ")]
    expect(len(check) == 1, f"one ctest command in checkPhase: {package['checkPhase']}")
    status, output = run_command(["env", "NIX_BUILD_CORES=2", "sh", "-c",
                                  f'cd "$1" && {check[0]}', "sh", build],
                                 timeout=PACKAGE_BUILD_DEADLINE_S)
    expect(status == 0, f"the package's checkPhase fails:\n{output}")
    expect("100% tests passed" in output, f"the checkPhase ran no tests:\n{output}")

    status, output = run_command([cmake, "--install", build], timeout=60)
    expect(status == 0, f"cmake --install fails on the package's build:\n{output}")
    for program in PROGRAMS:
        expect(os.access(os.path.join(prefix, "bin", program), os.X_OK), f"bin/{program}")
        expect(os.path.isfile(os.path.join(prefix, "share", "man", "man1", f"{program}.1")),
               f"share/man/man1/{program}.1")
    for daemon in DAEMONS:
        expect(os.path.isfile(os.path.join(prefix, "lib", "systemd", "system",
                                           f"{daemon}.service")), f"{daemon}.service")
    expect(os.path.isfile(os.path.join(prefix, "share", "doc", "pkdns-suite", "examples",
                                       "dnsdist.conf")), "the stack's dnsdist.conf as an example")


# ---------------------------------------------------------------------------------------------
# The configuration files it renders.


def check_with_daemon(t, program, name, text):
    """Has the built daemon check a rendered file, when the daemon is built."""
    binary = os.path.join(BIN_DIR, program)
    if not os.access(binary, os.X_OK):
        print(f"    note: {program} is not built; {name} was not checked by it")
        return
    path = t.write(name, text)
    status, output = run_command([binary, "--check-config", "-c", path])
    expect(status == 0, f"{program} refuses the {name} the module renders:\n{text}\n{output}")


def test_defaults_render_the_stack_configuration(t):
    files = evaluate_module()["files"]
    router = files["pkdns/router.conf"]
    for line in ("listen = 127.0.0.1:53", "address = 127.0.0.1:5300", "address = 127.0.0.1:5301",
                 "match = pkarr key", "action = pool pkdns", "match = all"):
        expect(line in router.splitlines(), f"router.conf lacks '{line}':\n{router}")
    expect(router.index("[rule pkarr]") < router.index("[rule rest]"),
           f"the pkarr rule must come first:\n{router}")
    expect_eq(sorted(files["pkdns/forwarder.conf"].splitlines()),
              ["listen-address=127.0.0.1", "port=5301", "resolv-file=/etc/dnsmasq-resolv.conf"],
              "forwarder.conf")
    toml = files["pkdns/pkdns.toml"]
    for line in ('socket = "127.0.0.1:5300"', 'forward = "127.0.0.1:5301"',
                 'state_dir = "/var/lib/pkdns"'):
        expect(line in toml.splitlines(), f"pkdns.toml lacks '{line}':\n{toml}")
    check_with_daemon(t, "pkdns-router", "router.conf", router)
    check_with_daemon(t, "pkdns-forwarder", "forwarder.conf", files["pkdns/forwarder.conf"])


def test_settings_merge_over_the_defaults(t):
    result = evaluate_module({
        "enable": True,
        "router": {"settings": {
            "router": {"listen": ["127.0.0.1:53", "[::1]:53"], "retry": False},
            "backends": {"forwarder": {"check_interval_ms": 5000}},
            "pools": {"pkdns": {"policy": "firstAvailable"}},
        }},
        "pkdns": {"settings": {"general": {"socket": "0.0.0.0:5300"}, "dns": {"min_ttl": 300},
                               "dht": {"state_dir": t.dir}}},
        "forwarder": {"settings": {"cache-size": 1000, "strict-order": True,
                                   "no-negcache": False, "listen-address": None,
                                   "server": ["/corp.example/192.0.2.53", "192.0.2.1"]}},
    })
    router = result["files"]["pkdns/router.conf"].splitlines()
    for line in ("listen = 127.0.0.1:53", "listen = [::1]:53", "retry = no",
                 "check_interval_ms = 5000", "address = 127.0.0.1:5301", "[pool pkdns]",
                 "policy = firstAvailable",
                 # 0.0.0.0 is where pkdns listens; the router reaches it on loopback
                 "address = 127.0.0.1:5300"):
        expect(line in router, f"router.conf lacks '{line}': {router}")
    forwarder = result["files"]["pkdns/forwarder.conf"].splitlines()
    expect_eq(sorted(forwarder),
              ["cache-size=1000", "port=5301", "resolv-file=/etc/dnsmasq-resolv.conf",
               "server=/corp.example/192.0.2.53", "server=192.0.2.1", "strict-order"],
              "forwarder.conf (false and null left out, a list repeated)")
    toml = result["files"]["pkdns/pkdns.toml"].splitlines()
    for line in ('socket = "0.0.0.0:5300"', "min_ttl = 300", f'state_dir = "{t.dir}"',
                 'forward = "127.0.0.1:5301"'):
        expect(line in toml, f"pkdns.toml lacks '{line}': {toml}")
    check_with_daemon(t, "pkdns", "pkdns.toml", result["files"]["pkdns/pkdns.toml"])
    check_with_daemon(t, "pkdns-router", "router.conf", result["files"]["pkdns/router.conf"])
    check_with_daemon(t, "pkdns-forwarder", "forwarder.conf",
                      result["files"]["pkdns/forwarder.conf"])


def test_rules_keep_the_order_given(t):
    rules = [{"name": "zeta", "match": ["suffix ads.example", "qtype A AAAA"],
              "action": "rcode NXDOMAIN"},
             {"name": "alpha", "match": "all", "action": "pool default"}]
    router = evaluate_module({"enable": True, "router": {"settings": {"rules": rules}}})[
        "files"]["pkdns/router.conf"]
    expect(router.index("[rule zeta]") < router.index("[rule alpha]"), router)
    expect("match = suffix ads.example\nmatch = qtype A AAAA\n" in router,
           f"each match must have its own line:\n{router}")
    expect("[rule pkarr]" not in router, "rules, when set, replace the defaults")
    check_with_daemon(t, "pkdns-router", "router.conf", router)


def test_a_config_file_replaces_the_rendered_one(t):
    result = evaluate_module({"enable": True,
                              "router": {"configFile": "/etc/dnsdist/dnsdist.conf"}})
    expect_eq(result["config"]["environment"]["etc"]["pkdns/router.conf"]["source"],
              "/etc/dnsdist/dnsdist.conf", "/etc/pkdns/router.conf's source")


# ---------------------------------------------------------------------------------------------
# The services, against the units in systemd/.


def test_services_mirror_the_systemd_units(t):
    services = services_of(evaluate_module())
    for daemon in DAEMONS:
        expect(daemon in services, f"no systemd.services.{daemon}")
        unit = read_template(daemon)
        service = services[daemon]
        config = service["serviceConfig"]
        for key, want in unit["Service"].items():
            if key.startswith("Exec"):
                continue  # paths differ; checked below
            expect(key in config, f"{daemon}: serviceConfig lacks {key} (systemd/ has {want})")
            got = as_unit_values(config[key])
            expect_eq(words(got), words(want), f"{daemon}: {key}")
        extra = set(config) - set(unit["Service"])
        expect(not extra, f"{daemon}: serviceConfig has what the unit lacks: {sorted(extra)}")

        config_path = f"/etc/pkdns/{os.path.basename(unit['Service']['ExecStart'][0].split()[-1])}"
        expect(config["ExecStart"].endswith(f"/bin/{daemon} -c {config_path}"),
               f"{daemon}: ExecStart {config['ExecStart']}")
        expect(config["ExecStartPre"].endswith(f"/bin/{daemon} --check-config -c {config_path}"),
               f"{daemon}: ExecStartPre {config['ExecStartPre']}")
        expect(config["ExecReload"].endswith("/bin/kill -HUP $MAINPID"),
               f"{daemon}: ExecReload {config['ExecReload']}")

        for key, attr in (("After", "after"), ("Before", "before"), ("Wants", "wants"),
                          ("PartOf", "partOf")):
            expect_eq(sorted(words(as_unit_values(service.get(attr, [])))),
                      sorted(words(unit["Unit"].get(key, []))), f"{daemon}: {key}")
        expect_eq(service.get("wantedBy"), unit["Install"]["WantedBy"], f"{daemon}: WantedBy")


def test_stack_target_wants_the_enabled_daemons(t):
    target = evaluate_module()["config"]["systemd"]["targets"]["pkdns-stack"]
    expect_eq(sorted(target["wants"]),
              ["pkdns-forwarder.service", "pkdns-router.service", "pkdns.service"], "wants")
    result = evaluate_module({"enable": True, "pkdns": {"enable": False}})
    expect_eq(sorted(result["config"]["systemd"]["targets"]["pkdns-stack"]["wants"]),
              ["pkdns-forwarder.service", "pkdns-router.service"], "wants without pkdns")
    expect("pkdns" not in services_of(result), "a disabled pkdns still has a service")
    router = result["files"]["pkdns/router.conf"]
    expect("[backend pkdns]" not in router and "[rule pkarr]" not in router,
           f"the router still routes to a disabled pkdns:\n{router}")


def test_only_the_router_gets_the_port_53_capability(t):
    services = services_of(evaluate_module())
    expect_eq(services["pkdns-router"]["serviceConfig"]["AmbientCapabilities"],
              ["CAP_NET_BIND_SERVICE"], "router: AmbientCapabilities")
    for daemon in ("pkdns", "pkdns-forwarder"):
        config = services[daemon]["serviceConfig"]
        expect("AmbientCapabilities" not in config, f"{daemon}: has AmbientCapabilities")
        expect_eq(config["CapabilityBoundingSet"], "", f"{daemon}: CapabilityBoundingSet")


def router_capabilities(listen):
    result = evaluate_module({"enable": True, "router": {"settings": {"router": {
        "listen": listen}}}})
    config = services_of(result)["pkdns-router"]["serviceConfig"]
    return config.get("AmbientCapabilities"), config.get("CapabilityBoundingSet"), result


def test_a_router_on_unprivileged_ports_gets_no_capability(t):
    for listen in (["127.0.0.1:5353"], "127.0.0.1:5353, [::1]:5354",
                   ["127.0.0.1#5353", "[::1]:1024"]):
        ambient, bounding, result = router_capabilities(listen)
        expect_eq((ambient, bounding), (None, ""), f"router listening on {listen!r}")
        check_with_daemon(t, "pkdns-router", "router.conf", result["files"]["pkdns/router.conf"])


def test_a_router_with_any_port_below_1024_gets_the_capability(t):
    # An address without a port is port 53; null leaves the line out: the default, 127.0.0.1:53.
    for listen in (["127.0.0.1:5353", "[::1]:53"], "127.0.0.1:5353,127.0.0.2", ["::1"],
                   "127.0.0.1:853", None):
        ambient, bounding, _ = router_capabilities(listen)
        expect_eq((ambient, bounding), (["CAP_NET_BIND_SERVICE"], ["CAP_NET_BIND_SERVICE"]),
                  f"router listening on {listen!r}")


def test_a_forwarder_moved_to_port_53_gets_the_capability(t):
    result = evaluate_module({"enable": True, "router": {"enable": False},
                              "forwarder": {"settings": {"port": 53}}})
    config = services_of(result)["pkdns-forwarder"]["serviceConfig"]
    expect_eq(config.get("AmbientCapabilities"), ["CAP_NET_BIND_SERVICE"],
              "forwarder on 53: AmbientCapabilities")
    expect_eq(config.get("CapabilityBoundingSet"), ["CAP_NET_BIND_SERVICE"],
              "forwarder on 53: CapabilityBoundingSet")


def test_pkdns_with_dns_over_http_on_443_gets_the_capability(t):
    low = evaluate_module({"enable": True, "pkdns": {"settings": {"general": {
        "dns_over_http_socket": "127.0.0.1:443"}}}})
    config = services_of(low)["pkdns"]["serviceConfig"]
    expect_eq(config.get("AmbientCapabilities"), ["CAP_NET_BIND_SERVICE"],
              "pkdns with DNS over HTTP on 443: AmbientCapabilities")
    high = evaluate_module({"enable": True, "pkdns": {"settings": {"general": {
        "dns_over_http_socket": "127.0.0.1:3000"}}}})
    expect("AmbientCapabilities" not in services_of(high)["pkdns"]["serviceConfig"],
           "pkdns with DNS over HTTP on 3000 has AmbientCapabilities")


def test_open_firewall_opens_port_53(t):
    closed = evaluate_module()["config"].get("networking", {}).get("firewall")
    expect_eq(closed, None, "firewall settings without openFirewall")
    firewall = evaluate_module({"enable": True, "openFirewall": True})["config"]["networking"][
        "firewall"]
    expect_eq(firewall, {"allowedUDPPorts": [53], "allowedTCPPorts": [53]}, "firewall")


# ---------------------------------------------------------------------------------------------
# resolvconf.


def test_resolvconf_writes_the_forwarders_resolv_file(t):
    config = evaluate_module()["config"]
    resolvconf = config["networking"]["resolvconf"]
    expect("dnsmasq_resolv=/etc/dnsmasq-resolv.conf" in resolvconf["extraConfig"].splitlines(),
           f"extraConfig: {resolvconf['extraConfig']!r}")
    expect_eq(resolvconf["subscriberFiles"], ["/etc/dnsmasq-resolv.conf"], "subscriberFiles")
    expect_eq(resolvconf["useLocalResolver"], True, "useLocalResolver")
    expect_eq(config["systemd"]["tmpfiles"]["rules"],
              ["f /etc/dnsmasq-resolv.conf 0644 root root -"], "tmpfiles rules")


def test_another_resolv_file_moves_every_part_of_the_wiring(t):
    result = evaluate_module({"enable": True,
                              "forwarder": {"resolvFile": "/run/pkdns/resolv.conf"}})
    config = result["config"]
    expect("dnsmasq_resolv=/run/pkdns/resolv.conf" in config["networking"]["resolvconf"][
        "extraConfig"], "extraConfig")
    expect_eq(config["systemd"]["tmpfiles"]["rules"],
              ["f /run/pkdns/resolv.conf 0644 root root -"], "tmpfiles rules")
    expect_eq(services_of(result)["pkdns-forwarder"]["serviceConfig"]["ReadOnlyPaths"],
              ["/run/pkdns"], "ReadOnlyPaths (the file's directory)")
    expect("resolv-file=/run/pkdns/resolv.conf" in result["files"]["pkdns/forwarder.conf"],
           result["files"]["pkdns/forwarder.conf"])


def test_without_resolvconf_wiring_nothing_is_written(t):
    config = evaluate_module({"enable": True, "forwarder": {"resolvconf": False}})["config"]
    resolvconf = config["networking"]["resolvconf"]
    expect("extraConfig" not in resolvconf and "subscriberFiles" not in resolvconf,
           f"resolvconf settings: {resolvconf}")
    expect("tmpfiles" not in config["systemd"], "a tmpfiles rule without the wiring")


def test_wiring_resolvconf_that_is_off_fails_an_assertion(t):
    config = evaluate_module(system={"networking": {"resolvconf": {"enable": False}}})["config"]
    failed = [a["message"] for a in config["assertions"] if not a["assertion"]]
    expect(len(failed) == 1 and "networking.resolvconf.enable" in failed[0],
           f"failed assertions: {failed}")


# ---------------------------------------------------------------------------------------------
# The flake and the VM test.


def test_flake_exposes_the_package_the_module_and_the_checks(t):
    flake = nix_eval(f"import {NIX_TESTS}/eval-flake.nix")
    expect_eq(flake["inputs"], ["nixpkgs"], "inputs")
    for system in ("x86_64-linux", "aarch64-linux"):
        expect("default" in flake["packages"][system], f"packages.{system}.default")
        expect_eq(sorted(flake["checks"][system]), ["package", "stack"], f"checks.{system}")
    expect_eq(flake["nixosModules"], ["default"], "nixosModules")
    expect(flake["moduleIsAFunction"], "nixosModules.default is not a module function")
    stack = flake["stackTest"]
    expect_eq(sorted(stack["nodeNames"]), ["machine", "upstream"], "VM test nodes")
    try:
        ast.parse(stack["testScript"])
    except SyntaxError as e:
        raise harness.Failure(f"the VM test's script is not Python: {e}\n{stack['testScript']}")
    for needle in ("dig @127.0.0.1", "/etc/dnsmasq-resolv.conf", "nameserver 192.168.1.2"):
        expect(needle in stack["testScript"], f"the VM test never uses '{needle}'")


def test_vm_test_raises_the_dht_rate_limits_for_its_loopback_testnet(t):
    """Every node of the VM test's testnet is on 127.0.0.1, so pkdns and pkdns-cli publish
    must raise their per-IP limits, as test_systemd_boot.py and bench/stack/run.py do."""
    stack = nix_eval(f"import {NIX_TESTS}/eval-flake.nix")["stackTest"]
    dht = stack["pkdnsSettings"].get("dht", {})
    expect(dht.get("node_rate_limit", 0) >= 100,
           f"the VM test leaves pkdns's [dht] node_rate_limit at its default: {dht}")
    toml = evaluate_module({"enable": True, "pkdns": {"settings": stack["pkdnsSettings"]}})[
        "files"]["pkdns/pkdns.toml"]
    expect(f"node_rate_limit = {dht['node_rate_limit']}" in toml.splitlines(),
           f"the machine's pkdns.toml lacks node_rate_limit:\n{toml}")
    check_with_daemon(t, "pkdns", "pkdns.toml", toml)

    # Adjacent literals are one string once parsed, however the command is wrapped.
    publishes = [node.value for node in ast.walk(ast.parse(stack["testScript"]))
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)
                 and "pkdns-cli publish" in node.value]
    expect(publishes, "the VM test publishes nothing with pkdns-cli")
    for command in publishes:
        argv = command.split()
        expect("--rate-limit" in argv
               and int(argv[argv.index("--rate-limit") + 1]) >= 100,
               f"pkdns-cli publish without a raised --rate-limit: {command!r}")


def test_module_under_the_real_module_system(t):
    lib_dir = os.environ.get("PKDNS_NIXPKGS_LIB")
    if not lib_dir:
        raise Skip("PKDNS_NIXPKGS_LIB is not set (a checkout of nixpkgs' lib/); "
                   "the stand-in lib was used instead")
    expr = f"""{{ definitions }}: import {NIX_TESTS}/eval-real-lib.nix {{
        nixpkgsLib = {os.path.abspath(lib_dir)};
        definitions = builtins.fromJSON definitions; }}"""
    result = nix_eval(expr, definitions={"enable": True,
                                         "forwarder": {"settings": {"cache-size": 1000}}})
    expect_eq(result["failedAssertions"], [], "failed assertions")
    expect_eq(sorted(result["services"]), sorted(DAEMONS), "services")
    stub = evaluate_module({"enable": True, "forwarder": {"settings": {"cache-size": 1000}}})
    expect_eq(result["files"], stub["files"], "files rendered under the real lib and the stub")
    for daemon in DAEMONS:
        expect_eq(result["services"][daemon]["serviceConfig"],
                  services_of(stub)[daemon]["serviceConfig"], f"{daemon}: serviceConfig")


if __name__ == "__main__":
    harness.main(globals())
