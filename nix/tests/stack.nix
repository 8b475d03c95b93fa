# NixOS VM test of the whole stack, in the style of nixpkgs' nixos/tests: two machines on a
# private network, no internet.
#
#   upstream   dnsmasq with one local record, standing in for the network's DNS server
#   machine    services.pkdns with its defaults; a DHT testnet of pkdns-cli nodes on loopback
#              stands in for the Mainline DHT
#
# It checks that resolvconf hands the forwarder the upstream from networking.nameservers,
# that ordinary names resolve through router → forwarder → upstream (dig and the system
# resolver), that a key published to the testnet resolves through router → pkdns, and that
# reloads and the hardening hold.
#
#   pkgs.testers.runNixOSTest (import ./nix/tests/stack.nix { module = ./nix/module.nix; })
{ module }:

{ ... }:

let
  testnetPort = 6881;
  testnetNodes = 16;
  bootstrap = "127.0.0.1:${toString testnetPort}";
  # DHT queries a second to one IP, for pkdns (node_rate_limit) and pkdns-cli publish
  # (--rate-limit): the testnet's nodes all share one address.
  nodeRateLimit = 1000;
in
{
  name = "pkdns-stack";

  nodes = {
    upstream =
      { ... }:
      {
        services.dnsmasq = {
          enable = true;
          resolveLocalQueries = false;
          settings = {
            no-resolv = true;
            address = [ "/example.test/192.0.2.10" ];
          };
        };
        networking.firewall.allowedUDPPorts = [ 53 ];
        networking.firewall.allowedTCPPorts = [ 53 ];
      };

    machine =
      {
        config,
        lib,
        nodes,
        pkgs,
        ...
      }:
      {
        imports = [ module ];

        # resolvconf writes this server to /etc/dnsmasq-resolv.conf for the forwarder.
        networking.nameservers = [ nodes.upstream.networking.primaryIPAddress ];

        services.pkdns = {
          enable = true;
          # Extension keys of this suite's pkdns: join the testnet, not the public DHT, and
          # raise the per-IP limit of DHT queries, since every testnet node shares 127.0.0.1
          # (the node's own limits, 3 queries a second sent to one IP, would stretch each
          # lookup over seconds).
          pkdns.settings.dht = {
            bootstrap = [ bootstrap ];
            node_rate_limit = nodeRateLimit;
          };
        };

        # A private Mainline DHT on loopback for pkdns to look keys up in.
        systemd.services.dht-testnet = {
          wantedBy = [ "multi-user.target" ];
          before = [ "pkdns.service" ];
          serviceConfig = {
            ExecStart = lib.concatStringsSep " " [
              "${config.services.pkdns.package}/bin/pkdns-cli testnet"
              "--nodes ${toString testnetNodes}"
              "--bind 127.0.0.1 --port ${toString testnetPort}"
            ];
            DynamicUser = true;
          };
        };

        environment.systemPackages = [ pkgs.dnsutils ];
      };
  };

  testScript =
    { nodes, ... }:
    let
      upstreamAddress = nodes.upstream.networking.primaryIPAddress;
    in
    ''
      start_all()
      upstream.wait_for_unit("dnsmasq.service")
      machine.wait_for_unit("dht-testnet.service")
      machine.wait_until_succeeds("journalctl -u dht-testnet.service | grep -q 'testnet ready'")
      machine.wait_for_unit("pkdns-stack.target")
      for unit in ("pkdns-router", "pkdns", "pkdns-forwarder"):
          machine.wait_for_unit(f"{unit}.service")

      with subtest("every daemon answers id.server CH TXT itself"):
          for port in (53, 5300, 5301):
              machine.succeed(f"dig @127.0.0.1 -p {port} id.server CH TXT +short | grep -q .")

      with subtest("resolvconf hands the forwarder the network's nameserver"):
          machine.wait_until_succeeds(
              "grep -qx 'nameserver ${upstreamAddress}' /etc/dnsmasq-resolv.conf"
          )
          machine.succeed("grep -q '^nameserver 127.0.0.1' /etc/resolv.conf")

      with subtest("ordinary names go router -> forwarder -> upstream"):
          machine.wait_until_succeeds(
              "dig @127.0.0.1 www.example.test +short | grep -qx 192.0.2.10"
          )
          machine.succeed("getent hosts www.example.test | grep -q 192.0.2.10")

      with subtest("a published key resolves through the router and pkdns"):
          machine.succeed("umask 077; pkdns-cli generate > /root/seed")
          key = machine.succeed("pkdns-cli publickey /root/seed").strip()
          machine.succeed("printf '@ IN A 192.0.2.20\\nwww IN A 192.0.2.21\\n' > /root/zone")
          machine.wait_until_succeeds(
              "pkdns-cli publish /root/seed /root/zone --bootstrap ${bootstrap}"
              " --rate-limit ${toString nodeRateLimit}"
          )
          machine.wait_until_succeeds(f"dig @127.0.0.1 {key} +short | grep -qx 192.0.2.20")
          machine.succeed(f"dig @127.0.0.1 www.{key} +short | grep -qx 192.0.2.21")

      with subtest("reloads keep answering"):
          machine.succeed("systemctl reload pkdns-router.service pkdns-forwarder.service")
          machine.wait_for_unit("pkdns-router.service")
          machine.succeed("dig @127.0.0.1 www.example.test +short | grep -qx 192.0.2.10")

      with subtest("the services are hardened as the units in systemd/ are"):
          for unit in ("pkdns-router", "pkdns", "pkdns-forwarder"):
              machine.succeed(f"systemctl show -p DynamicUser --value {unit} | grep -qx yes")
              machine.succeed(f"systemctl show -p ProtectSystem --value {unit} | grep -qx strict")
          caps = "systemctl show -p AmbientCapabilities --value"
          machine.succeed(f"{caps} pkdns-router | grep -q cap_net_bind_service")
          machine.fail(f"{caps} pkdns-forwarder | grep -q cap_net_bind_service")
          machine.succeed("test -d /var/lib/private/pkdns")

      with subtest("the stack target stops every daemon"):
          machine.succeed("systemctl stop pkdns-stack.target")
          for unit in ("pkdns-router", "pkdns", "pkdns-forwarder"):
              machine.fail(f"systemctl is-active --quiet {unit}")
    '';

  meta.maintainers = [ ];
}
