# Evaluates flake.nix's outputs against a stand-in nixpkgs, for tests/integration/test_nix.py:
# which packages, modules and checks it exposes, and the VM test's script as Python text (so
# the test can compile it), with the machines' addresses filled in as the test driver would,
# and the pkdns settings of the stack machine.
let
  lib = import ./stub-lib.nix;
  stubPkgs = import ./stub-pkgs.nix { inherit lib; };
  system = "x86_64-linux";

  pkgs = stubPkgs // {
    stdenv.hostPlatform.system = system;
    # What runNixOSTest would boot, reduced to what can be looked at without a VM.
    testers.runNixOSTest =
      test:
      let
        evaluated = if builtins.isFunction test then test { } else test;
        nodes = {
          upstream.networking.primaryIPAddress = "192.168.1.2";
          machine.networking.primaryIPAddress = "192.168.1.1";
        };
        machine = evaluated.nodes.machine {
          config = { };
          inherit lib nodes;
          pkgs = stubPkgs;
        };
      in
      {
        inherit (evaluated) name;
        nodeNames = builtins.attrNames evaluated.nodes;
        # What the stack machine gives services.pkdns.pkdns.settings, for the module to render.
        pkdnsSettings = machine.services.pkdns.pkdns.settings;
        testScript =
          if builtins.isFunction evaluated.testScript then
            evaluated.testScript { inherit nodes; }
          else
            evaluated.testScript;
      };
  };

  nixpkgs = {
    lib = lib // {
      genAttrs =
        names: f:
        builtins.listToAttrs (
          map (n: {
            name = n;
            value = f n;
          }) names
        );
    };
    legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: pkgs);
  };

  flake = import ../../flake.nix;
  self = flake.outputs { inherit self nixpkgs; };
in
{
  inherit (flake) description;
  inputs = builtins.attrNames flake.inputs;
  packages = builtins.mapAttrs (_: builtins.attrNames) self.packages;
  nixosModules = builtins.attrNames self.nixosModules;
  moduleIsAFunction = builtins.isFunction self.nixosModules.default;
  checks = builtins.mapAttrs (_: builtins.attrNames) self.checks;
  stackTest = {
    inherit (self.checks.${system}.stack)
      name
      nodeNames
      testScript
      pkdnsSettings
      ;
  };
}
