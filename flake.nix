{
  description = "pkdns suite: DNS daemons that resolve pkarr names (router, pkdns, forwarder)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      # The daemons are Linux programs (recvmmsg, inotify, systemd).
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: {
        pkdns-suite = pkgs.callPackage ./nix/package.nix { };
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.pkdns-suite;
      });

      # services.pkdns; its package defaults to this flake's.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.pkdns.package = lib.mkDefault (
            self.packages.${pkgs.stdenv.hostPlatform.system}.default
          );
        };

      checks = forAllSystems (pkgs: {
        # Builds and runs the unit tests (doCheck).
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        # Boots a VM with the stack and resolves through it.
        stack = pkgs.testers.runNixOSTest (
          import ./nix/tests/stack.nix { module = self.nixosModules.default; }
        );
      });
    };
}
