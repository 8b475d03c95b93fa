# A stand-in for nixpkgs' `lib`, just large enough to evaluate nix/module.nix and
# nix/formats.nix without nixpkgs (which CI cannot fetch). The functions used there behave as
# nixpkgs documents them; option helpers build values of the same shape as the real ones
# (`_type = "option"`, `"if"`, `"merge"`, `"override"`), which nix/tests/eval-module.nix
# resolves. Types are stricter than nixpkgs': `check` looks at every element, because here
# there is no merge step to do it.
let
  inherit (builtins)
    all
    any
    attrNames
    concatLists
    concatStringsSep
    elem
    filter
    foldl'
    genList
    head
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isString
    length
    listToAttrs
    mapAttrs
    stringLength
    substring
    tail
    ;

  mkType =
    {
      name,
      description,
      check,
      subOptions ? { },
    }:
    {
      _type = "option-type";
      inherit name description check;
      getSubOptions = _prefix: subOptions;
    };

  isDerivation = x: isAttrs x && (x.type or null) == "derivation";
  isStringLike = x: isString x || (isAttrs x && x ? outPath);

  types = rec {
    bool = mkType {
      name = "bool";
      description = "boolean";
      check = isBool;
    };
    int = mkType {
      name = "int";
      description = "signed integer";
      check = isInt;
    };
    port = mkType {
      name = "port";
      description = "16 bit unsigned integer";
      check = x: isInt x && x >= 0 && x <= 65535;
    };
    str = mkType {
      name = "str";
      description = "string";
      check = isString;
    };
    lines = str // {
      name = "lines";
    };
    path = mkType {
      name = "path";
      description = "path";
      check = x: builtins.isPath x || (isStringLike x && substring 0 1 (toString x) == "/");
    };
    package = mkType {
      name = "package";
      description = "package";
      check = x: isDerivation x || isStringLike x;
    };
    anything = mkType {
      name = "anything";
      description = "anything";
      check = _: true;
    };
    nullOr =
      t:
      mkType {
        name = "nullOr";
        description = "null or ${t.description}";
        check = x: x == null || t.check x;
      };
    listOf =
      t:
      mkType {
        name = "listOf";
        description = "list of ${t.description}";
        check = x: isList x && all t.check x;
      };
    attrsOf =
      t:
      mkType {
        name = "attrsOf";
        description = "attribute set of ${t.description}";
        check = x: isAttrs x && !(isDerivation x) && all (n: t.check x.${n}) (attrNames x);
      };
    lazyAttrsOf = attrsOf;
    either =
      a: b:
      mkType {
        name = "either";
        description = "${a.description} or ${b.description}";
        check = x: a.check x || b.check x;
      };
    oneOf =
      ts:
      mkType {
        name = "oneOf";
        description = concatStringsSep " or " (map (t: t.description) ts);
        check = x: any (t: t.check x) ts;
      };
    enum =
      values:
      mkType {
        name = "enum";
        description = "one of ${builtins.toJSON values}";
        check = x: elem x values;
      };
    # Only the `{ options = ...; }` form that the module uses.
    submodule =
      module:
      mkType {
        name = "submodule";
        description = "submodule";
        check = isAttrs;
        subOptions = (if isFunction module then module { } else module).options;
      };
  };

  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };

  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;

  recursiveUpdate =
    lhs: rhs:
    lhs
    // mapAttrs (
      name: value:
      if isAttrs value && isAttrs (lhs.${name} or null) && !(isDerivation value) then
        recursiveUpdate lhs.${name} value
      else
        value
    ) rhs;
in
{
  inherit types recursiveUpdate hasPrefix;
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    isBool
    isList
    isAttrs
    isString
    isInt
    elem
    mapAttrs
    ;

  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: {
    _type = "option";
    type = types.bool;
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
  };
  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  inherit mkOverride;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };

  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  optionalAttrs = cond: attrs: if cond then attrs else { };
  optionalString = cond: s: if cond then s else "";

  concatMap = f: xs: concatLists (map f xs);
  concatStrings = concatStringsSep "";
  concatMapStringsSep = sep: f: xs: concatStringsSep sep (map f xs);
  mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (attrNames attrs);
  filterAttrs =
    pred: attrs:
    listToAttrs (
      map (n: {
        name = n;
        value = attrs.${n};
      }) (filter (n: pred n attrs.${n}) (attrNames attrs))
    );
  last = xs: builtins.elemAt xs (length xs - 1);
  removePrefix =
    prefix: s:
    if hasPrefix prefix s then
      substring (stringLength prefix) (stringLength s - stringLength prefix) s
    else
      s;
  hasSuffix =
    suffix: s:
    let
      n = stringLength s;
      k = stringLength suffix;
    in
    n >= k && substring (n - k) k s == suffix;
  # As lib.splitString: the separator is taken literally.
  splitString =
    sep: s:
    let
      n = stringLength sep;
      go =
        start: i: acc:
        if i > stringLength s - n then
          acc ++ [ (substring start (stringLength s - start) s) ]
        else if substring i n s == sep then
          go (i + n) (i + n) (acc ++ [ (substring start (i - start) s) ])
        else
          go start (i + 1) acc;
    in
    go 0 0 [ ];
  toInt =
    s:
    let
      parsed = builtins.fromJSON s;
    in
    if builtins.match "-?[0-9]+" s != null && isInt parsed then
      parsed
    else
      throw "toInt: '${s}' is not a decimal integer";
  genAttrs =
    names: f:
    listToAttrs (
      map (n: {
        name = n;
        value = f n;
      }) names
    );
  # lib.fileset as nix/package.nix uses it: the source is the list of the files and folders
  # named, each of which must exist (nothing is copied to a store).
  fileset = {
    unions = paths: paths;
    toSource =
      { root, fileset }:
      map (
        path:
        if builtins.pathExists path then
          toString path
        else
          throw "fileset: ${toString path} does not exist"
      ) fileset;
  };
  inherit isDerivation;
  # Unused by the module; here so that a stray use fails with a clear message.
  evalModules = _: throw "stub-lib: evalModules is not provided; use nix/tests/eval-module.nix";
  inherit head tail genList foldl';
}
