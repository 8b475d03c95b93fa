# The pkdns suite as a Nix package: pkdns-router, pkdns, pkdns-forwarder and pkdns-cli, their
# man pages, the systemd units and the stack's example configurations. Built the way the
# README builds it, with CMake; the unit tests run in the check phase.
#
#   pkgs.callPackage ./nix/package.nix { }
{
  lib,
  stdenv,
  cmake,
  pkg-config,
  libuv,
  libsodium,
  c-ares,
  libinih,
  nettle,
  gmp,
  util-linux,
}:

let
  # The version is written once, in the top-level CMakeLists.txt: project(... VERSION x.y.z ...).
  cmakeLines = lib.splitString "\n" (builtins.readFile ../CMakeLists.txt);
  versionMatches = map (builtins.match "project\\(pkdns-suite VERSION ([0-9.]+) .*") cmakeLines;
  version = builtins.head (builtins.head (builtins.filter (m: m != null) versionMatches));
in
stdenv.mkDerivation {
  pname = "pkdns-suite";
  inherit version;

  # Only what the build reads: no build directories, benchmarks or VCS data. The top-level
  # CMakeLists.txt skips what is absent (bench/tools); tests/integration/test_nix.py configures,
  # builds, checks and installs a copy of exactly these files.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../CMakeLists.txt
      ../cmake
      ../common
      ../forwarder
      ../pkdns
      ../router
      # The unit tests and fuzz-corpus replayers; not the integration tests (Python peers).
      ../tests/CMakeLists.txt
      ../tests/unit
      ../tests/fuzz
      ../tests/data
      ../tests/integration/CMakeLists.txt
      ../systemd
      ../docs
      ../README.md
    ];
  };

  nativeBuildInputs = [
    cmake
    pkg-config
  ];
  buildInputs = [
    libuv
    libsodium
    c-ares
    libinih
    nettle
    gmp
  ];

  cmakeFlags = [
    "-DPKDNS_SYSTEMD_UNIT_DIR=lib/systemd/system"
    # The shipped units send SIGHUP with this kill; /bin/kill does not exist on NixOS.
    "-DPKDNS_KILL_PROGRAM=${util-linux}/bin/kill"
  ];

  # The unit tests need nothing but the build. The integration tests start daemons next to
  # dnsmasq and Python peers on loopback; they belong to the NixOS test (nix/tests/stack.nix).
  doCheck = true;
  checkPhase = ''
    runHook preCheck
    ctest --output-on-failure -L unit -j $NIX_BUILD_CORES
    runHook postCheck
  '';

  meta = {
    description = "DNS daemons that resolve pkarr names: router, pkdns and a caching forwarder";
    longDescription = ''
      Three small daemons that replace a dnsdist + pkdns + dnsmasq setup: pkdns-router on
      port 53 sends names that end in a pkarr public key to pkdns, which looks them up on the
      Mainline DHT, and everything else to pkdns-forwarder, a caching forwarder that follows
      the nameservers resolvconf writes. Each reads the configuration of the program it
      replaces.
    '';
    platforms = lib.platforms.linux;
    mainProgram = "pkdns-router";
  };
}
