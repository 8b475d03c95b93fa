# NixOS module for the pkdns suite: services.pkdns.
#
# Runs the stack the way tests/data/stack/ sets it up: pkdns-router on 127.0.0.1:53 sends
# pkarr names to pkdns on 127.0.0.1:5300 and the rest to pkdns-forwarder on 127.0.0.1:5301,
# which follows the nameservers that resolvconf writes to /etc/dnsmasq-resolv.conf. Each
# daemon's `settings` are merged over those defaults and rendered to its own format; the
# systemd services mirror the units in systemd/.
#
#   services.pkdns.enable = true;
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    hasPrefix
    last
    literalExpression
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    optional
    optionalAttrs
    recursiveUpdate
    removePrefix
    splitString
    toInt
    types
    ;

  cfg = config.services.pkdns;
  formats = import ./formats.nix { inherit lib; };
  tomlFormat = pkgs.formats.toml { };

  # The configuration files the units read, as on Debian (docs/deploy.md).
  configDir = "/etc/pkdns";
  routerConfigPath = "${configDir}/router.conf";
  pkdnsConfigPath = "${configDir}/pkdns.toml";
  forwarderConfigPath = "${configDir}/forwarder.conf";

  exe = name: "${cfg.package}/bin/${name}";

  # "0.0.0.0:5300" is reached on loopback; other addresses as they are.
  reachable =
    socket:
    if hasPrefix "0.0.0.0:" socket then
      "127.0.0.1:" + removePrefix "0.0.0.0:" socket
    else if hasPrefix "[::]:" socket then
      "[::1]:" + removePrefix "[::]:" socket
    else
      socket;
  portOf = socket: toInt (last (splitString ":" socket));
  firstOf = value: if builtins.isList value then builtins.head value else value;

  # ---- the effective settings: defaults, then what the user set ----

  # A null in the user's settings removes the option, defaults included.
  forwarderNulls = builtins.filter (key: cfg.forwarder.settings.${key} == null) (
    builtins.attrNames cfg.forwarder.settings
  );
  forwarderSettings = builtins.removeAttrs (
    {
      port = 5301;
      listen-address = "127.0.0.1";
      resolv-file = cfg.forwarder.resolvFile;
    }
    // cfg.forwarder.settings
  ) forwarderNulls;
  forwarderPort = forwarderSettings.port or 53;
  forwarderListen = firstOf (forwarderSettings.listen-address or "127.0.0.1");
  forwarderAddress = "${forwarderListen}:${toString forwarderPort}";

  pkdnsSettings = recursiveUpdate {
    general = {
      socket = "127.0.0.1:5300";
      # Other names, and ICANN names that pkarr records point to, go through the forwarder
      # when it runs, so that they use the network's own servers.
      forward = if cfg.forwarder.enable then forwarderAddress else "8.8.8.8:53";
    };
    dht.state_dir = "/var/lib/pkdns";
  } cfg.pkdns.settings;
  pkdnsSocket = pkdnsSettings.general.socket or "0.0.0.0:53";
  # The lowest port pkdns binds: its DNS socket, or its DNS over HTTP socket when set lower.
  pkdnsLowestPort =
    let
      dns = portOf pkdnsSocket;
      doh = pkdnsSettings.general.dns_over_http_socket or null;
    in
    if doh != null && portOf doh < dns then portOf doh else dns;
  pkdnsTld = pkdnsSettings.dht.top_level_domain or "key";

  routerDefaults = {
    router.listen = [ "127.0.0.1:53" ];
    backends =
      optionalAttrs cfg.pkdns.enable {
        pkdns = {
          address = reachable pkdnsSocket;
          pool = "pkdns";
        };
      }
      // optionalAttrs cfg.forwarder.enable {
        forwarder = {
          address = forwarderAddress;
          pool = "default";
        };
      };
    rules =
      optional cfg.pkdns.enable {
        name = "pkarr";
        match = if pkdnsTld == "" then "pkarr" else "pkarr ${pkdnsTld}";
        action = "pool pkdns";
      }
      ++ [
        {
          name = "rest";
          match = "all";
          action = "pool default";
        }
      ];
  };
  routerSettings = {
    router = routerDefaults.router // cfg.router.settings.router;
    pools = cfg.router.settings.pools;
    backends = recursiveUpdate routerDefaults.backends cfg.router.settings.backends;
    rules =
      if cfg.router.settings.rules == null then routerDefaults.rules else cfg.router.settings.rules;
  };

  # The port of one listen address as the router reads it (docs/router.md): "[v6]:PORT",
  # "host#PORT", "v4:PORT"; a bare address, IPv6 ones with their colons included, means 53.
  listenPort =
    address:
    let
      bracketed = builtins.match "\\[[^]]*]:([0-9]+)" address;
      hashed = builtins.match "[^#]*#([0-9]+)" address;
      oneColon = builtins.match "[^:]*:([0-9]+)" address;
      found = builtins.filter (m: m != null) [
        bracketed
        hashed
        oneColon
      ];
    in
    if found == [ ] then 53 else toInt (builtins.head (builtins.head found));
  # A `listen` value is a line or a list of lines, each a comma-separated list; null (the line
  # left out) is the router's default, 127.0.0.1:53.
  listenAddresses =
    value:
    let
      lines =
        if value == null then
          [ "127.0.0.1:53" ]
        else
          map toString (if builtins.isList value then value else [ value ]);
      items = builtins.concatMap (splitString ",") lines;
      inner = item: builtins.match "[[:space:]]*([^[:space:]](.*[^[:space:]])?)?[[:space:]]*" item;
      trim = item: builtins.head (inner item);
    in
    builtins.filter (address: address != null) (map trim items);
  routerLowestPort = builtins.foldl' (
    lowest: address:
    let
      port = listenPort address;
    in
    if port < lowest then port else lowest
  ) 65535 (listenAddresses (routerSettings.router.listen or null));

  routerConfig =
    if cfg.router.configFile != null then
      cfg.router.configFile
    else
      pkgs.writeText "pkdns-router.conf" (formats.routerIni routerSettings);
  pkdnsConfig =
    if cfg.pkdns.configFile != null then
      cfg.pkdns.configFile
    else
      tomlFormat.generate "pkdns.toml" pkdnsSettings;
  forwarderConfig =
    if cfg.forwarder.configFile != null then
      cfg.forwarder.configFile
    else
      pkgs.writeText "pkdns-forwarder.conf" (formats.dnsmasqConf forwarderSettings);

  # ---- the services ----

  # What every unit in systemd/ has; tests/integration/test_nix.py compares the two.
  commonService = {
    Type = "notify";
    ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
    Restart = "on-failure";
    RestartSec = "1s";

    DynamicUser = true;
    NoNewPrivileges = true;
    UMask = "0077";
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    RestrictNamespaces = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    SystemCallFilter = [
      "@system-service"
      "~@privileged @resources"
    ];
    SystemCallErrorNumber = "EPERM";
    SystemCallArchitectures = "native";
  };

  # Only a daemon on a port below 1024 gets the one capability it needs; the others none.
  bindCapability =
    port:
    if port < 1024 then
      {
        AmbientCapabilities = [ "CAP_NET_BIND_SERVICE" ];
        CapabilityBoundingSet = [ "CAP_NET_BIND_SERVICE" ];
      }
    else
      { CapabilityBoundingSet = ""; };

  daemonCommands = name: path: {
    ExecStartPre = "${exe name} --check-config -c ${path}";
    ExecStart = "${exe name} -c ${path}";
  };

  wiresResolvconf = cfg.forwarder.enable && cfg.forwarder.resolvconf;

  enabledUnits =
    optional cfg.router.enable "pkdns-router.service"
    ++ optional cfg.pkdns.enable "pkdns.service"
    ++ optional cfg.forwarder.enable "pkdns-forwarder.service";

  # ---- option types ----

  iniAtom = types.oneOf [
    types.bool
    types.int
    types.str
  ];
  iniValue = types.nullOr (types.either iniAtom (types.listOf iniAtom));
  iniSection = types.attrsOf iniValue;

  daemonEnable =
    what:
    mkOption {
      type = types.bool;
      default = true;
      description = "Whether to run ${what} as part of the stack.";
    };
  configFileOption =
    what:
    mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/etc/dnsdist/dnsdist.conf";
      description = ''
        A configuration file for ${what} to read instead of the one rendered from `settings`;
        the file of the program it replaces works unchanged.
      '';
    };
in
{
  options.services.pkdns = {
    enable = mkEnableOption "the pkdns DNS stack: pkdns-router, pkdns and pkdns-forwarder";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The pkdns suite package.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open port 53 (UDP and TCP) for pkdns-router, for when it listens on an address that
        other hosts reach (`router.settings.router.listen`).
      '';
    };

    resolveLocalQueries = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Make pkdns-router this host's resolver: resolvconf puts 127.0.0.1 into
        /etc/resolv.conf (`networking.resolvconf.useLocalResolver`), as services.dnsmasq does.
      '';
    };

    router = {
      enable = daemonEnable "pkdns-router (port 53)";
      configFile = configFileOption "pkdns-router";
      settings = mkOption {
        default = { };
        description = ''
          pkdns-router's INI configuration (docs/router.md). The defaults listen on
          127.0.0.1:53, send pkarr names (and names under pkdns's top-level domain) to pkdns
          and the rest to the forwarder. `router` and `backends` are merged over them;
          `rules`, when set, replace them. Lists give one line per element, except a
          backend's `pool`; booleans are yes/no. The unit gets CAP_NET_BIND_SERVICE only when
          a `router.listen` address has a port below 1024 (no port means 53); set
          `router.listen` here even with `configFile`.
        '';
        example = literalExpression ''
          {
            router.listen = [ "127.0.0.1:53" "[::1]:53" ];
            backends.forwarder.check_interval_ms = 5000;
            rules = [
              { name = "pkarr"; match = "pkarr key"; action = "pool pkdns"; }
              { name = "blocked"; match = "suffix ads.example"; action = "rcode NXDOMAIN"; }
              { name = "rest"; match = "all"; action = "pool default"; }
            ];
          }
        '';
        type = types.submodule {
          options = {
            router = mkOption {
              type = iniSection;
              default = { };
              description = "The [router] section.";
            };
            pools = mkOption {
              type = types.attrsOf iniSection;
              default = { };
              description = "[pool NAME] sections; the name \"\" is the default pool.";
            };
            backends = mkOption {
              type = types.attrsOf iniSection;
              default = { };
              description = "[backend NAME] sections.";
            };
            rules = mkOption {
              type = types.nullOr (types.listOf iniSection);
              default = null;
              description = ''
                [rule NAME] sections in order, each with a `name`; null keeps the defaults.
              '';
            };
          };
        };
      };
    };

    pkdns = {
      enable = daemonEnable "pkdns (port 5300)";
      configFile = configFileOption "pkdns";
      settings = mkOption {
        type = tomlFormat.type;
        default = { };
        description = ''
          pkdns.toml, merged over the defaults: `general.socket` 127.0.0.1:5300,
          `general.forward` the forwarder (8.8.8.8:53 without it), `dht.state_dir`
          /var/lib/pkdns (the unit's state directory).
        '';
        example = literalExpression ''
          {
            dns.min_ttl = 300;
            dht.top_level_domain = "key";
          }
        '';
      };
    };

    forwarder = {
      enable = daemonEnable "pkdns-forwarder (port 5301)";
      configFile = configFileOption "pkdns-forwarder";
      resolvFile = mkOption {
        type = types.str;
        default = "/etc/dnsmasq-resolv.conf";
        description = ''
          The file the forwarder reads its upstream nameservers from, and resolvconf writes.
        '';
      };
      resolvconf = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Have resolvconf write the network's nameservers to `resolvFile` (as its dnsmasq
          subscriber) and create the file at boot, before resolvconf first runs.
        '';
      };
      settings = mkOption {
        type = types.attrsOf iniValue;
        default = { };
        description = ''
          dnsmasq-style options (docs/forwarder.md), merged over `port=5301`,
          `listen-address=127.0.0.1` and `resolv-file=` `resolvFile`. A list repeats the
          option, true writes the bare name, false and null leave it out. Set `port` here
          even with `configFile`: a port below 1024 gives the unit CAP_NET_BIND_SERVICE.
        '';
        example = literalExpression ''
          {
            cache-size = 10000;
            server = [ "/corp.example/192.0.2.53" ];
            strict-order = true;
          }
        '';
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = wiresResolvconf -> config.networking.resolvconf.enable;
          message = ''
            services.pkdns.forwarder.resolvconf needs networking.resolvconf.enable: nothing
            else writes ${cfg.forwarder.resolvFile}. Turn it off and set
            services.pkdns.forwarder.settings.resolv-file (or server) instead.
          '';
        }
      ];
      warnings = optional (cfg.router.enable && (config.services.dnsmasq.enable or false)) ''
        services.dnsmasq is enabled too; on port 53 it and pkdns-router cannot both listen.
      '';

      environment.systemPackages = [ cfg.package ];

      systemd.targets.pkdns-stack = {
        description = "pkdns DNS stack: router, pkdns and forwarder";
        documentation = [ "man:pkdns-router(1)" ];
        wantedBy = [ "multi-user.target" ];
        wants = enabledUnits;
      };
    }

    (mkIf cfg.router.enable {
      environment.etc."pkdns/router.conf".source = routerConfig;

      systemd.services.pkdns-router = {
        description = "pkdns-router: DNS front end for pkarr names";
        documentation = [ "man:pkdns-router(1)" ];
        wantedBy = [ "multi-user.target" ];
        partOf = [ "pkdns-stack.target" ];
        wants = [ "nss-lookup.target" ];
        before = [ "nss-lookup.target" ];
        after = [
          "network.target"
          "pkdns.service"
          "pkdns-forwarder.service"
        ];
        # SIGHUP applies a new file, except its listen addresses, which need a restart.
        reloadTriggers = [ routerConfig ];
        restartTriggers = [ (builtins.toJSON (routerSettings.router.listen or null)) ];
        serviceConfig =
          commonService
          // daemonCommands "pkdns-router" routerConfigPath
          // bindCapability routerLowestPort;
      };

      networking.resolvconf.useLocalResolver = mkIf cfg.resolveLocalQueries (mkDefault true);

      networking.firewall = mkIf cfg.openFirewall {
        allowedUDPPorts = [ 53 ];
        allowedTCPPorts = [ 53 ];
      };
    })

    (mkIf cfg.pkdns.enable {
      environment.etc."pkdns/pkdns.toml".source = pkdnsConfig;

      systemd.services.pkdns = {
        description = "pkdns: resolver for pkarr names on the Mainline DHT";
        documentation = [ "man:pkdns(1)" ];
        wantedBy = [ "multi-user.target" ];
        partOf = [ "pkdns-stack.target" ];
        after = [ "network.target" ];
        restartTriggers = [ pkdnsConfig ];
        serviceConfig =
          commonService
          // daemonCommands "pkdns" pkdnsConfigPath
          // bindCapability pkdnsLowestPort
          // {
            StateDirectory = "pkdns";
            StateDirectoryMode = "0700";
            WorkingDirectory = "%S/pkdns";
          };
      };
    })

    (mkIf cfg.forwarder.enable {
      environment.etc."pkdns/forwarder.conf".source = forwarderConfig;

      systemd.services.pkdns-forwarder = {
        description = "pkdns-forwarder: caching DNS forwarder";
        documentation = [ "man:pkdns-forwarder(1)" ];
        wantedBy = [ "multi-user.target" ];
        partOf = [ "pkdns-stack.target" ];
        after = [ "network.target" ];
        # SIGHUP re-reads the file and keeps the cache; new listen addresses need a restart.
        reloadTriggers = [ forwarderConfig ];
        restartTriggers = [
          (builtins.toJSON [
            forwarderPort
            (forwarderSettings.listen-address or null)
            (forwarderSettings.interface or null)
          ])
        ];
        serviceConfig =
          commonService
          // daemonCommands "pkdns-forwarder" forwarderConfigPath
          // bindCapability forwarderPort
          // {
            # The directory, not the file: resolvconf may rename a new file into place.
            ReadOnlyPaths = [ (dirOf cfg.forwarder.resolvFile) ];
            # interface= lists the interfaces' addresses over netlink (getifaddrs).
            RestrictAddressFamilies = commonService.RestrictAddressFamilies ++ [ "AF_NETLINK" ];
          };
      };
    })

    # What nixos-resolvconf.nix did for dnsmasq: resolvconf writes the network's nameservers
    # into the forwarder's resolv file, which must exist before resolvconf first runs.
    (mkIf wiresResolvconf {
      networking.resolvconf.extraConfig = ''
        dnsmasq_resolv=${cfg.forwarder.resolvFile}
      '';
      networking.resolvconf.subscriberFiles = [ cfg.forwarder.resolvFile ];
      systemd.tmpfiles.rules = [ "f ${cfg.forwarder.resolvFile} 0644 root root -" ];
    })
  ]);
}
