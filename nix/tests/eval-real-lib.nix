# Evaluates nix/module.nix with the real module system, given a checkout of nixpkgs' lib/
# (not available in CI; tests/integration/test_nix.py runs this when PKDNS_NIXPKGS_LIB names
# one). The NixOS options the module sets are declared here in the shape NixOS gives them, so
# that the real mkIf/mkMerge/mkDefault, option merging and type checks run over the module.
{
  nixpkgsLib,
  definitions ? {
    enable = true;
  },
}:

let
  lib = import nixpkgsLib;
  inherit (lib) mkOption types;
  pkgs = import ./stub-pkgs.nix { inherit lib; };

  freeformUnit = types.submodule { freeformType = types.attrsOf types.anything; };

  nixosOptions = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      environment.etc = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.source = mkOption { type = types.path; };
          }
        );
        default = { };
      };
      systemd.services = mkOption {
        type = types.attrsOf freeformUnit;
        default = { };
      };
      systemd.targets = mkOption {
        type = types.attrsOf freeformUnit;
        default = { };
      };
      systemd.tmpfiles.rules = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      networking.resolvconf = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        useLocalResolver = mkOption {
          type = types.bool;
          default = false;
        };
        extraConfig = mkOption {
          type = types.lines;
          default = "";
        };
        subscriberFiles = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
      };
      networking.firewall = {
        allowedUDPPorts = mkOption {
          type = types.listOf types.port;
          default = [ ];
        };
        allowedTCPPorts = mkOption {
          type = types.listOf types.port;
          default = [ ];
        };
      };
      services.dnsmasq.enable = mkOption {
        type = types.bool;
        default = false;
      };
    };
  };

  evaluated = lib.evalModules {
    modules = [
      ../module.nix
      nixosOptions
      { _module.args.pkgs = pkgs; }
      { services.pkdns = definitions; }
    ];
  };
  inherit (evaluated) config;
in
{
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  inherit (config) warnings networking;
  services = config.systemd.services;
  targets = config.systemd.targets;
  tmpfiles = config.systemd.tmpfiles.rules;
  files = builtins.mapAttrs (
    _: entry: entry.source.text or (toString entry.source)
  ) config.environment.etc;
}
