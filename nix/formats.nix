# Renders the NixOS module's `settings` into the configuration files of pkdns-router and
# pkdns-forwarder (pkdns takes TOML, which pkgs.formats.toml writes). Plain functions of
# lib, so that tests/integration/test_nix.py can check the text they produce.
{ lib }:

let
  inherit (lib)
    attrNames
    concatMap
    concatStrings
    concatStringsSep
    filter
    isBool
    isList
    ;

  # One `key = value` line per value: lists give a line per element (docs/router.md: a
  # second `listen`, `acl` or `match` line adds to the first), except a backend's `pool`,
  # whose names must share one line.
  routerValue = value: if isBool value then (if value then "yes" else "no") else toString value;

  routerLines =
    attrs:
    concatMap (
      key:
      let
        value = attrs.${key};
      in
      if value == null then
        [ ]
      else if isList value && key == "pool" then
        [ "${key} = ${concatStringsSep ", " (map routerValue value)}" ]
      else if isList value then
        map (v: "${key} = ${routerValue v}") value
      else
        [ "${key} = ${routerValue value}" ]
    ) (attrNames attrs);

  section =
    header: attrs:
    "[${header}]\n" + concatStrings (map (line: line + "\n") (routerLines attrs)) + "\n";

  # "[pool NAME]"; the pool without a name is the default pool, "[pool]".
  named = kind: name: if name == "" then kind else "${kind} ${name}";

  knownRouterKeys = [
    "router"
    "pools"
    "backends"
    "rules"
  ];
in
{
  # The router's INI file (docs/router.md) from
  #   { router = { KEY = VALUE; }; pools.NAME = { ... }; backends.NAME = { ... };
  #     rules = [ { name = NAME; match = ...; action = ...; } ... ]; }
  # Rules are a list because their order decides; each needs a `name`.
  routerIni =
    settings:
    let
      unknown = filter (key: !(builtins.elem key knownRouterKeys)) (attrNames settings);
      get = key: settings.${key} or { };
      rules = settings.rules or [ ];
      ruleSection =
        rule:
        if !(rule ? name) then
          throw "pkdns-router settings: every rule needs a name"
        else
          section (named "rule" rule.name) (builtins.removeAttrs rule [ "name" ]);
    in
    if unknown != [ ] then
      throw (
        "pkdns-router settings: unknown keys ${concatStringsSep ", " unknown}; "
        + "expected ${concatStringsSep ", " knownRouterKeys}"
      )
    else
      concatStrings (
        [ (section "router" (get "router")) ]
        ++ map (name: section (named "pool" name) (get "pools").${name}) (attrNames (get "pools"))
        ++ map (name: section (named "backend" name) (get "backends").${name}) (
          attrNames (get "backends")
        )
        ++ map ruleSection rules
      );

  # dnsmasq's syntax, which pkdns-forwarder reads (docs/forwarder.md): `name=value` lines;
  # a list repeats the option, true gives the bare name, false and null leave it out.
  dnsmasqConf =
    settings:
    concatStrings (
      concatMap (
        key:
        let
          value = settings.${key};
        in
        if value == null || value == false then
          [ ]
        else if value == true then
          [ "${key}\n" ]
        else if isList value then
          map (v: "${key}=${toString v}\n") value
        else
          [ "${key}=${toString value}\n" ]
      ) (attrNames settings)
    );
}
