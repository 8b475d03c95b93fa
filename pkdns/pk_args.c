#include "pk_args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum pk_args_id {
    PK_ARGS_CONFIG,
    PK_ARGS_FORWARD,
    PK_ARGS_DIR,
    PK_ARGS_VERBOSE,
    PK_ARGS_CHECK,
    PK_ARGS_VERSION,
    PK_ARGS_HELP
};

struct pk_args_option {
    char letter; /* 0: long form only */
    const char *name;
    bool takes_value;
    enum pk_args_id id;
};

static const struct pk_args_option pk_args_options[] = {
    {'c', "config", true, PK_ARGS_CONFIG},     {'f', "forward", true, PK_ARGS_FORWARD},
    {'p', "pkdns-dir", true, PK_ARGS_DIR},     {'v', "verbose", false, PK_ARGS_VERBOSE},
    {0, "check-config", false, PK_ARGS_CHECK}, {'V', "version", false, PK_ARGS_VERSION},
    {'h', "help", false, PK_ARGS_HELP},
};

const char *pk_args_usage(void)
{
    return "Usage: pkdns [OPTIONS]\n"
           "A DNS server for public-key domains (pkarr) on the Mainline DHT.\n\n"
           "  -c, --config FILE      read FILE instead of PKDNS_DIR/pkdns.toml\n"
           "  -f, --forward ADDR     forward ICANN names to ADDR (IP:PORT)\n"
           "  -p, --pkdns-dir DIR    directory of pkdns.toml and the DHT state (~/.pkdns)\n"
           "  -v, --verbose          log every query (debug level)\n"
           "      --check-config     check the configuration and exit\n"
           "      --version          show the version\n"
           "  -h, --help             show this help\n";
}

/* Finds the option argv[*i] names; `value` gets an attached value ("--x=v", "-xv"). */
static const struct pk_args_option *pk_args_find(const char *arg, const char **value)
{
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);

    *value = NULL;
    for (size_t i = 0; i < sizeof(pk_args_options) / sizeof(pk_args_options[0]); i++) {
        const struct pk_args_option *o = &pk_args_options[i];
        if (arg[1] == '-' && strlen(o->name) == len && strncmp(name, o->name, len) == 0) {
            *value = eq != NULL ? eq + 1 : NULL;
            return o;
        }
        if (arg[1] != '-' && o->letter != 0 && arg[1] == o->letter) {
            *value = arg[2] != '\0' ? arg + 2 : NULL;
            return o;
        }
    }
    return NULL;
}

static void pk_args_set(struct pk_args *out, enum pk_args_id id, const char *value)
{
    switch (id) {
    case PK_ARGS_CONFIG:
        out->config_file = value;
        break;
    case PK_ARGS_FORWARD:
        out->forward = value;
        break;
    case PK_ARGS_DIR:
        out->pkdns_dir = value;
        break;
    case PK_ARGS_VERBOSE:
        out->verbose = true;
        break;
    case PK_ARGS_CHECK:
        out->check_config = true;
        break;
    case PK_ARGS_VERSION:
        out->version = true;
        break;
    case PK_ARGS_HELP:
        out->help = true;
        break;
    }
}

int pk_args_parse(int argc, char **argv, struct pk_args *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof(*out));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct pk_args_option *o = NULL;
        const char *value = NULL;

        if (arg[0] == '-' && arg[1] != '\0' && strcmp(arg, "--") != 0) {
            o = pk_args_find(arg, &value);
        }
        if (o == NULL) {
            snprintf(err, err_cap, "unknown argument '%s'", arg);
            return -EINVAL;
        }
        if (!o->takes_value && value != NULL) {
            snprintf(err, err_cap, "--%s takes no value", o->name);
            return -EINVAL;
        }
        if (o->takes_value && value == NULL) {
            if (i + 1 == argc) {
                snprintf(err, err_cap, "--%s needs a value", o->name);
                return -EINVAL;
            }
            value = argv[++i];
        }
        pk_args_set(out, o->id, value);
    }
    return 0;
}
