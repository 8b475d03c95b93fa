# Evaluates nix/module.nix without nixpkgs, for tests/integration/test_nix.py: the options are
# walked and given the test's definitions (or their defaults), each value is checked against
# its option's type, and the module's `config` is resolved as the module system would
# (mkIf, mkMerge, mkDefault; lists concatenated, lines joined, conflicting values refused).
#
#   import ./eval-module.nix { definitions = { enable = true; }; }
#
# `definitions` are what a user writes under services.pkdns; `system` stands for the rest of
# a NixOS configuration that the module reads (networking.resolvconf.enable, ...).
{
  lib ? import ./stub-lib.nix,
  pkgs ? import ./stub-pkgs.nix { inherit lib; },
  definitions ? { },
  system ? {
    networking.resolvconf.enable = true;
  },
}:

let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    filter
    head
    isAttrs
    isList
    isString
    mapAttrs
    toJSON
    ;

  isOption = x: isAttrs x && (x._type or null) == "option";
  isOfType = type: x: isAttrs x && (x._type or null) == type;

  module = import ../module.nix {
    inherit lib pkgs;
    config = lib.recursiveUpdate system { services.pkdns = values; };
  };

  # ---- options ----

  subOptions = opt: if opt.type.name == "submodule" then opt.type.getSubOptions [ ] else null;

  # "services.pkdns.router.settings.rules", ... for every option, submodules' included.
  optionPaths =
    prefix: tree:
    concatLists (
      map (
        name:
        let
          node = tree.${name};
          path = prefix ++ [ name ];
        in
        if isOption node then
          [ (concatStringsSep "." path) ]
          ++ (if subOptions node != null then optionPaths path (subOptions node) else [ ])
        else if isAttrs node then
          optionPaths path node
        else
          [ ]
      ) (attrNames tree)
    );

  evalOption =
    loc: opt: defined: isDefined:
    if subOptions opt != null then
      evalTree loc (subOptions opt) (if isDefined then defined else opt.default or { })
    else
      let
        value =
          if isDefined then
            defined
          else if opt ? default then
            opt.default
          else
            throw "${loc} has no value and no default";
      in
      if opt.type.check value then
        value
      else
        throw "${loc}: ${toJSON value} is not a ${opt.type.description}";

  evalTree =
    loc: tree: defs:
    let
      unknown = filter (name: !(tree ? ${name})) (attrNames defs);
    in
    if unknown != [ ] then
      throw "${loc}.${head unknown} is not an option"
    else
      mapAttrs (
        name: node:
        if isOption node then
          evalOption "${loc}.${name}" node (defs.${name} or null) (defs ? ${name})
        else
          evalTree "${loc}.${name}" node (defs.${name} or { })
      ) tree;

  values = evalTree "services.pkdns" module.options.services.pkdns definitions;

  # Every option's default, checked against its type (the submodule's own sub-options).
  defaultsCheck = map (
    path:
    let
      step = node: name: if isOption node then (subOptions node).${name} else node.${name};
      opt = lib.foldl' step module.options (lib.splitString "." path);
    in
    if !(isOption opt) || !(opt ? default) || subOptions opt != null then
      true
    else
      opt.type.check opt.default
      || throw "${path}: default ${toJSON opt.default} is not a ${opt.type.description}"
  ) (optionPaths [ ] module.options);

  # ---- config ----

  absent = {
    _absent = true;
  };
  isAbsent = x: isAttrs x && x ? _absent;

  resolve =
    loc: x:
    if isOfType "if" x then
      (if x.condition then resolve loc x.content else absent)
    else if isOfType "merge" x then
      lib.foldl' (merge loc) absent (map (resolve loc) x.contents)
    else if isOfType "override" x then
      resolve loc x.content
    else if isAttrs x && !(x ? outPath) then
      let
        resolved = mapAttrs (name: resolve "${loc}.${name}") x;
      in
      lib.filterAttrs (_: v: !(isAbsent v)) resolved
    else
      x;

  merge =
    loc: a: b:
    if isAbsent a then
      b
    else if isAbsent b then
      a
    else if isList a && isList b then
      a ++ b
    else if isString a && isString b then
      a + b # types.lines
    else if isAttrs a && isAttrs b && !(a ? outPath) && !(b ? outPath) then
      a
      // mapAttrs (name: v: if a ? ${name} then merge "${loc}.${name}" a.${name} v else v) b
    else if a == b then
      a
    else
      throw "${loc} is defined twice: ${toJSON a} and ${toJSON b}";

  config =
    let
      resolved = resolve "config" module.config;
    in
    if isAbsent resolved then { } else resolved;
in
{
  options = optionPaths [ ] module.options;
  defaultsAreWellTyped = builtins.all (x: x) defaultsCheck;
  inherit values config;
  # The rendered configuration files, by their /etc name.
  files = mapAttrs (_: entry: entry.source.text or null) (config.environment.etc or { });
  packageInputs = values.package.inputs or [ ];
}
