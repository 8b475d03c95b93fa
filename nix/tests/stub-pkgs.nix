# A stand-in for the few parts of nixpkgs that nix/module.nix takes from `pkgs`. Files are not
# written: writeText gives an attribute set that interpolates as a store path and keeps its
# text, so tests can read what the module rendered. formats.toml renders the subset of TOML
# that pkdns.toml needs (tables of strings, numbers, booleans and lists of them); nixpkgs
# converts with remarshal instead.
{ lib }:

let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    isAttrs
    isBool
    isInt
    isList
    isString
    toJSON
    ;

  fakeStorePath = name: "/nix/store/00000000000000000000000000000000-${name}";

  writeText = name: text: {
    inherit name text;
    outPath = fakeStorePath name;
  };

  tomlValue =
    value:
    if isString value then
      toJSON value # a JSON string is a TOML basic string
    else if isBool value then
      (if value then "true" else "false")
    else if isInt value then
      toString value
    else if isList value then
      "[${concatStringsSep ", " (map tomlValue value)}]"
    else
      throw "stub toml: cannot write ${toJSON value}";

  tomlTable =
    prefix: attrs:
    let
      names = attrNames attrs;
      scalars = filter (n: !(isAttrs attrs.${n})) names;
      tables = filter (n: isAttrs attrs.${n}) names;
      header = if prefix == "" then "" else "[${prefix}]\n";
      dotted = n: if prefix == "" then n else "${prefix}.${n}";
    in
    header
    + concatStringsSep "" (map (n: "${n} = ${tomlValue attrs.${n}}\n") scalars)
    + concatStringsSep "" (map (n: tomlTable (dotted n) attrs.${n}) tables);

  isTomlValue =
    v:
    isString v
    || isBool v
    || isInt v
    || builtins.isFloat v
    || (isList v && builtins.all isTomlValue v)
    || (isAttrs v && builtins.all (n: isTomlValue v.${n}) (attrNames v));
in
{
  inherit writeText;

  formats.toml = _: {
    type = lib.types.attrsOf (
      lib.types.anything
      // {
        description = "TOML value";
        check = isTomlValue;
      }
    );
    generate = name: value: writeText name (tomlTable "" value);
  };

  coreutils = {
    type = "derivation";
    name = "coreutils";
    outPath = fakeStorePath "coreutils";
  };

  # Imports the package function but does not build it; `inputs` are the arguments it asks
  # for, which callPackage would fill from nixpkgs.
  callPackage = fn: _args: {
    type = "derivation";
    name = "pkdns-suite";
    outPath = fakeStorePath "pkdns-suite";
    inputs = attrNames (builtins.functionArgs (if builtins.isFunction fn then fn else import fn));
  };
}
