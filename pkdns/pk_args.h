/* The pkdns command line: the Rust pkdns's flags (-c/--config, -f/--forward, -v/--verbose,
 * -p/--pkdns-dir) and the ones every daemon of the suite takes (--check-config, --version,
 * -h/--help). Long options take "--name value" or "--name=value", short ones "-x value" or
 * "-xvalue". */
#ifndef PK_ARGS_H
#define PK_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct pk_args {
    const char *config_file; /* -c: this file instead of <pkdns-dir>/pkdns.toml */
    const char *forward;     /* -f: overrides [general] forward */
    const char *pkdns_dir;   /* -p: NULL for ~/.pkdns */
    bool verbose;            /* -v */
    bool check_config;
    bool version;
    bool help;
};

/* Reads argv[1..argc) into out (strings point into argv). Returns 0, or -EINVAL with the
 * reason in err[0..err_cap) for an unknown option, a missing value or a stray argument. */
int pk_args_parse(int argc, char **argv, struct pk_args *out, char *err, size_t err_cap);

/* The usage text, for -h and usage errors. */
const char *pk_args_usage(void);

#endif
