#include "pk_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns_name.h"
#include "log.h"
#include "pk_config_list.h"

/* The Rust pkdns's defaults (server/src/config). */
#define PK_CONFIG_SOCKET "0.0.0.0:53"
#define PK_CONFIG_FORWARD "8.8.8.8:53"
#define PK_CONFIG_DNS_PORT 53

/* Ours: dnsdist's default ACL, the local networks. */
static const char *const pk_config_default_acl[] = {
    "127.0.0.0/8",   "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "192.168.0.0/16",
    "172.16.0.0/12", "::1/128",    "fc00::/7",      "fe80::/10",
};

enum pk_config_type {
    PK_CONFIG_ADDR,
    PK_CONFIG_OPT_ADDR, /* an address that also switches a feature on */
    PK_CONFIG_BOOL,
    PK_CONFIG_UINT,
    PK_CONFIG_TLD,
    PK_CONFIG_ACL,
    PK_CONFIG_HOSTS,
    PK_CONFIG_PATH,
    PK_CONFIG_IPV6, /* an IPv6 address without a port */
};

/* Every key, once, with its bounds; defaults are in pk_config_defaults. */
struct pk_config_option {
    const char *section;
    const char *key;
    enum pk_config_type type;
    size_t offset;
    uint64_t min;
    uint64_t max;
};

#define PK_CONFIG_AT(field) offsetof(struct pk_config, field)

static const struct pk_config_option pk_config_options[] = {
    {"general", "socket", PK_CONFIG_ADDR, PK_CONFIG_AT(socket), 0, 0},
    {"general", "forward", PK_CONFIG_ADDR, PK_CONFIG_AT(forward), 0, 0},
    {"general", "dns_over_http_socket", PK_CONFIG_OPT_ADDR, PK_CONFIG_AT(dns_over_http_socket), 0,
     0},
    {"general", "verbose", PK_CONFIG_BOOL, PK_CONFIG_AT(verbose), 0, 0},
    {"general", "acl", PK_CONFIG_ACL, 0, 0, 0},
    {"general", "rate_limit_loopback", PK_CONFIG_BOOL, PK_CONFIG_AT(rate_limit_loopback), 0, 0},
    {"dns", "min_ttl", PK_CONFIG_UINT, PK_CONFIG_AT(min_ttl), 0, UINT32_MAX},
    {"dns", "max_ttl", PK_CONFIG_UINT, PK_CONFIG_AT(max_ttl), 0, UINT32_MAX},
    {"dns", "query_rate_limit", PK_CONFIG_UINT, PK_CONFIG_AT(query_rate_limit), 0, UINT32_MAX},
    {"dns", "query_rate_limit_burst", PK_CONFIG_UINT, PK_CONFIG_AT(query_rate_limit_burst), 0,
     UINT32_MAX},
    {"dns", "disable_any_queries", PK_CONFIG_BOOL, PK_CONFIG_AT(disable_any_queries), 0, 0},
    {"dns", "icann_cache_mb", PK_CONFIG_UINT, PK_CONFIG_AT(icann_cache_mb), 0, 1u << 20},
    {"dns", "max_recursion_depth", PK_CONFIG_UINT, PK_CONFIG_AT(max_recursion_depth), 0, 255},
    {"dns", "answer_timeout_ms", PK_CONFIG_UINT, PK_CONFIG_AT(answer_timeout_ms), 100, 60000},
    {"dns", "max_waiting_queries", PK_CONFIG_UINT, PK_CONFIG_AT(max_waiting_queries), 1, 1000000},
    {"dht", "dht_cache_mb", PK_CONFIG_UINT, PK_CONFIG_AT(dht_cache_mb), 1, 1u << 20},
    {"dht", "dht_query_rate_limit", PK_CONFIG_UINT, PK_CONFIG_AT(dht_query_rate_limit), 0,
     UINT32_MAX},
    {"dht", "dht_query_rate_limit_burst", PK_CONFIG_UINT, PK_CONFIG_AT(dht_query_rate_limit_burst),
     0, UINT32_MAX},
    {"dht", "top_level_domain", PK_CONFIG_TLD, 0, 0, 0},
    {"dht", "bootstrap", PK_CONFIG_HOSTS, 0, 0, 0},
    {"dht", "port", PK_CONFIG_UINT, PK_CONFIG_AT(dht_port), 0, 65535},
    {"dht", "state_dir", PK_CONFIG_PATH, PK_CONFIG_AT(state_dir), 0, 0},
    {"dht", "read_only", PK_CONFIG_BOOL, PK_CONFIG_AT(read_only), 0, 0},
    {"dht", "node_rate_limit", PK_CONFIG_UINT, PK_CONFIG_AT(node_rate_limit), 0, 1000000},
    {"dht", "ipv6", PK_CONFIG_IPV6, PK_CONFIG_AT(dht_ipv6), 0, 0},
    {"dht", "max_queued_lookups", PK_CONFIG_UINT, PK_CONFIG_AT(max_queued_lookups), 0, 4096},
};

void pk_config_defaults(struct pk_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->pkdns_dir, sizeof(cfg->pkdns_dir), "%s", PK_CONFIG_DEFAULT_DIR);
    addr_parse(PK_CONFIG_SOCKET, PK_CONFIG_DNS_PORT, &cfg->socket);
    addr_parse(PK_CONFIG_FORWARD, PK_CONFIG_DNS_PORT, &cfg->forward);
    for (size_t i = 0; i < sizeof(pk_config_default_acl) / sizeof(pk_config_default_acl[0]); i++) {
        addr_prefix_parse(pk_config_default_acl[i], &cfg->acl[cfg->n_acl++]);
    }
    cfg->min_ttl = 60;
    cfg->max_ttl = 86400;
    cfg->query_rate_limit = 100;
    cfg->query_rate_limit_burst = 200;
    cfg->icann_cache_mb = 100;
    cfg->max_recursion_depth = 15;
    cfg->answer_timeout_ms = 1500;
    cfg->max_waiting_queries = 1024;
    cfg->dht_cache_mb = 100;
    cfg->dht_query_rate_limit = 5;
    cfg->dht_query_rate_limit_burst = 25;
    snprintf(cfg->top_level_domain, sizeof(cfg->top_level_domain), "key");
    dns_name_from_text("key", cfg->tld, &cfg->tld_len);
    cfg->read_only = true;
    cfg->max_queued_lookups = 256;
}

/* The Rust pkdns takes one label ("key"); "" switches the TLD off. */
static int pk_config_tld(struct pk_config *cfg, struct conf_ctx *ctx, const char *text)
{
    if (text[0] == '\0') {
        cfg->top_level_domain[0] = '\0';
        cfg->tld_len = 0;
        return 0;
    }
    if (strchr(text, '.') != NULL || strlen(text) > DNS_LABEL_MAX ||
        dns_name_from_text(text, cfg->tld, &cfg->tld_len) != 0) {
        conf_error(ctx, "top_level_domain: '%s' is not one DNS label", text);
        cfg->tld_len = 0;
        return -EINVAL;
    }
    dns_name_lower(cfg->tld, cfg->tld_len);
    snprintf(cfg->top_level_domain, sizeof(cfg->top_level_domain), "%s", text);
    return 0;
}

static int pk_config_acl_item(struct conf_ctx *ctx, const char *item, void *user)
{
    struct pk_config *cfg = user;

    if (cfg->n_acl == PK_CONFIG_ACL_MAX) {
        conf_error(ctx, "acl: more than %d prefixes", PK_CONFIG_ACL_MAX);
        return -EINVAL;
    }
    if (addr_prefix_parse(item, &cfg->acl[cfg->n_acl]) != 0) {
        conf_error(ctx, "acl: '%s' is not an address prefix", item);
        return -EINVAL;
    }
    cfg->n_acl++;
    return 0;
}

/* "host:port" with a port from 1 to 65535; names are resolved when the DHT starts. */
static int pk_config_host_item(struct conf_ctx *ctx, const char *item, void *user)
{
    struct pk_config *cfg = user;
    const char *colon = strrchr(item, ':');
    size_t used = strlen(cfg->bootstrap);
    uint64_t port;

    if (colon == NULL || colon == item || conf_parse_uint(colon + 1, 1, 65535, &port) != 0 ||
        strchr(item, ',') != NULL) {
        conf_error(ctx, "bootstrap: '%s' is not host:port", item);
        return -EINVAL;
    }
    if (used + strlen(item) + 2 > sizeof(cfg->bootstrap)) {
        conf_error(ctx, "bootstrap: the list is longer than %d bytes", PK_CONFIG_BOOTSTRAP_MAX - 1);
        return -EINVAL;
    }
    snprintf(cfg->bootstrap + used, sizeof(cfg->bootstrap) - used, "%s%s", used > 0 ? "," : "",
             item);
    return 0;
}

/* Applies a one-word value (already unquoted) of option o. */
static int pk_config_scalar(struct pk_config *cfg, struct conf_ctx *ctx,
                            const struct pk_config_option *o, const char *text)
{
    void *field = (char *)cfg + o->offset;
    uint64_t number;

    switch (o->type) {
    case PK_CONFIG_OPT_ADDR:
    case PK_CONFIG_ADDR:
        if (addr_parse(text, PK_CONFIG_DNS_PORT, field) != 0) {
            conf_error(ctx, "%s: '%s' is not an address (IP:PORT)", o->key, text);
            return -EINVAL;
        }
        cfg->doh_enabled = cfg->doh_enabled || o->type == PK_CONFIG_OPT_ADDR;
        return 0;
    case PK_CONFIG_BOOL:
        if (conf_parse_bool(text, field) != 0) {
            conf_error(ctx, "%s: '%s' is not true or false", o->key, text);
            return -EINVAL;
        }
        return 0;
    case PK_CONFIG_UINT:
        if (conf_parse_uint(text, o->min, o->max, &number) != 0) {
            conf_error(ctx, "%s: '%s' is not a number from %llu to %llu", o->key, text,
                       (unsigned long long)o->min, (unsigned long long)o->max);
            return -EINVAL;
        }
        *(uint32_t *)field = (uint32_t)number;
        return 0;
    case PK_CONFIG_TLD:
        return pk_config_tld(cfg, ctx, text);
    case PK_CONFIG_PATH:
        if (snprintf(field, PK_CONFIG_PATH_MAX, "%s", text) >= PK_CONFIG_PATH_MAX) {
            conf_error(ctx, "%s: path longer than %d bytes", o->key, PK_CONFIG_PATH_MAX - 1);
            return -EINVAL;
        }
        return 0;
    case PK_CONFIG_IPV6:
        if (addr_parse(text, 0, field) != 0 || ((struct addr *)field)->sa.ss_family != AF_INET6 ||
            strchr(text, ']') != NULL || strchr(text, '#') != NULL) {
            conf_error(ctx, "%s: '%s' is not an IPv6 address (the port is [dht] port)", o->key,
                       text);
            return -EINVAL;
        }
        cfg->dht_ipv6_set = true;
        return 0;
    case PK_CONFIG_ACL:
    case PK_CONFIG_HOSTS:
        break;
    }
    return -EINVAL;
}

static const struct pk_config_option *pk_config_option(const char *section, const char *key)
{
    for (size_t i = 0; i < sizeof(pk_config_options) / sizeof(pk_config_options[0]); i++) {
        if (strcmp(pk_config_options[i].section, section) == 0 &&
            strcmp(pk_config_options[i].key, key) == 0) {
            return &pk_config_options[i];
        }
    }
    return NULL;
}

/* Applies the complete value `raw` (arrays joined) of section.key. */
static int pk_config_apply(struct pk_config *cfg, struct conf_ctx *ctx, const char *section,
                           const char *key, const char *raw)
{
    const struct pk_config_option *o = pk_config_option(section, key);
    char text[PK_CONFIG_PATH_MAX];

    if (o == NULL) {
        conf_warn(ctx, "unknown key '%s' in [%s]; ignored", key, section);
        return 0;
    }
    if (o->type == PK_CONFIG_ACL) {
        cfg->n_acl = 0;
        if (pk_config_list_each(ctx, key, raw, pk_config_acl_item, cfg) != 0) {
            return -EINVAL;
        }
        if (cfg->n_acl == 0) {
            conf_warn(ctx, "acl is empty: every client will be refused");
        }
        return 0;
    }
    if (o->type == PK_CONFIG_HOSTS) {
        cfg->bootstrap[0] = '\0';
        cfg->bootstrap_set = true;
        return pk_config_list_each(ctx, key, raw, pk_config_host_item, cfg);
    }
    if (conf_value(raw, text, sizeof(text)) != 0) {
        conf_error(ctx, "%s: bad value %s", key, raw);
        return -EINVAL;
    }
    return pk_config_scalar(cfg, ctx, o, text);
}

static int pk_config_value(struct conf_ctx *ctx, const char *section, const char *key,
                           const char *raw, void *user)
{
    struct pk_config_list *list = user;
    const char *whole;
    int rc = pk_config_list_feed(list, ctx, section, key, raw, &whole);

    if (rc != 1) {
        return rc;
    }
    return pk_config_apply(list->user, ctx, list->section, list->key, whole);
}

int pk_config_read_file(struct pk_config *cfg, const char *path, struct conf_ctx *ctx)
{
    struct pk_config_list list;
    int rc;

    pk_config_list_init(&list, cfg);
    rc = conf_read_ini_file(path, pk_config_value, &list, ctx);
    if (rc == -EINVAL || rc == 0) {
        const char *saved = ctx->file;
        ctx->file = path;
        if (pk_config_list_unclosed(&list, ctx)) {
            rc = -EINVAL;
        }
        ctx->file = saved;
    }
    if ((rc == 0 || rc == -EINVAL) && (size_t)snprintf(cfg->config_file, sizeof(cfg->config_file),
                                                       "%s", path) >= sizeof(cfg->config_file)) {
        cfg->config_file[0] = '\0'; /* too long to show again; only messages use it */
    }
    return rc;
}

/* Expands a leading "~/" with $HOME into out. Returns 0 or -EINVAL. */
static int pk_config_expand(const char *path, char *out, size_t cap)
{
    const char *home = getenv("HOME");
    int n;

    if (strncmp(path, "~/", 2) != 0 && strcmp(path, "~") != 0) {
        n = snprintf(out, cap, "%s", path);
    } else if (home == NULL || home[0] == '\0') {
        return -EINVAL;
    } else {
        n = snprintf(out, cap, "%s%s", home, path + 1);
    }
    return n < 0 || (size_t)n >= cap ? -EINVAL : 0;
}

/* Where the DHT state goes when the file names no state_dir: the first directory of
 * $STATE_DIRECTORY when systemd set one (StateDirectory=; several are separated by colons),
 * else the pkdns directory. A relative entry is not systemd's and is ignored. */
static const char *pk_config_state_default(const struct pk_config *cfg)
{
    static char first[PK_CONFIG_PATH_MAX];
    const char *env = getenv("STATE_DIRECTORY");
    size_t len;

    if (env == NULL || env[0] != '/') {
        return cfg->pkdns_dir;
    }
    len = strcspn(env, ":");
    if (len >= sizeof(first)) {
        return cfg->pkdns_dir;
    }
    memcpy(first, env, len);
    first[len] = '\0';
    return first;
}

/* Chooses and reads the file: --config must exist; the default file may be missing. */
static int pk_config_load_file(struct pk_config *cfg, const struct pk_args *args,
                               struct conf_ctx *ctx)
{
    char path[PK_CONFIG_PATH_MAX + sizeof(PK_CONFIG_FILE_NAME) + 1];

    if (args->config_file != NULL) {
        return pk_config_read_file(cfg, args->config_file, ctx);
    }
    snprintf(path, sizeof(path), "%s/%s", cfg->pkdns_dir, PK_CONFIG_FILE_NAME);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        log_info("config", "%s does not exist; using the defaults", path);
        return 0;
    }
    return pk_config_read_file(cfg, path, ctx);
}

int pk_config_load(struct pk_config *cfg, const struct pk_args *args)
{
    const char *dir = args->pkdns_dir != NULL ? args->pkdns_dir : PK_CONFIG_DEFAULT_DIR;
    struct conf_ctx ctx = {0};
    char raw[PK_CONFIG_PATH_MAX];
    int rc, n;

    pk_config_defaults(cfg);
    /* The pkdns directory is needed only for the default file and as the last place for the
     * DHT state: a service with -c and a state directory runs without $HOME (systemd gives a
     * DynamicUser= service none). */
    if (pk_config_expand(dir, cfg->pkdns_dir, sizeof(cfg->pkdns_dir)) != 0) {
        cfg->pkdns_dir[0] = '\0';
        if (args->config_file == NULL) {
            conf_error(&ctx, "pkdns-dir: cannot expand '%s' (is HOME set?); give -c FILE or -p DIR",
                       dir);
            return -EINVAL;
        }
    }
    rc = pk_config_load_file(cfg, args, &ctx);
    if (rc < 0 && rc != -EINVAL) {
        return rc;
    }

    if (args->forward != NULL &&
        addr_parse(args->forward, PK_CONFIG_DNS_PORT, &cfg->forward) != 0) {
        conf_error(&ctx, "--forward: '%s' is not an address (IP:PORT)", args->forward);
    }
    if (args->verbose) {
        cfg->verbose = true;
    }
    n = snprintf(raw, sizeof(raw), "%s",
                 cfg->state_dir[0] != '\0' ? cfg->state_dir : pk_config_state_default(cfg));
    if (n < 0 || (size_t)n >= sizeof(raw)) {
        conf_error(&ctx, "state_dir: longer than %zu bytes", sizeof(raw) - 1);
    } else if (raw[0] == '\0') {
        conf_error(&ctx, "no directory for the DHT state: set [dht] state_dir, -p DIR, "
                         "$STATE_DIRECTORY or $HOME (for ~/.pkdns)");
    } else if (pk_config_expand(raw, cfg->state_dir, sizeof(cfg->state_dir)) != 0) {
        conf_error(&ctx, "state_dir: cannot expand '%s' (is HOME set?)", raw);
    }
    if (cfg->min_ttl > cfg->max_ttl) {
        conf_warn(&ctx, "min_ttl %u is above max_ttl %u: TTLs will be %u", cfg->min_ttl,
                  cfg->max_ttl, cfg->max_ttl);
    }
    return ctx.errors > 0 ? -EINVAL : 0;
}

/* Appends `key` to the comma-separated list in out[0..cap), cut short when it does not fit. */
static void pk_config_list_key(char *out, size_t cap, size_t *used, const char *key)
{
    int n;

    if (*used >= cap) {
        return;
    }
    n = snprintf(out + *used, cap - *used, "%s%s", *used > 0 ? ", " : "", key);
    if (n > 0) {
        *used += (size_t)n < cap - *used ? (size_t)n : cap - *used - 1;
    }
}

size_t pk_config_restart_keys(const struct pk_config *old, const struct pk_config *cfg, char *out,
                              size_t cap)
{
    const struct {
        const char *key;
        bool changed;
    } keys[] = {
        {"socket", !addr_equal(&old->socket, &cfg->socket)},
        {"dns_over_http_socket", old->doh_enabled != cfg->doh_enabled ||
                                     (cfg->doh_enabled && !addr_equal(&old->dns_over_http_socket,
                                                                      &cfg->dns_over_http_socket))},
        {"bootstrap",
         old->bootstrap_set != cfg->bootstrap_set || strcmp(old->bootstrap, cfg->bootstrap) != 0},
        {"port", old->dht_port != cfg->dht_port},
        {"state_dir", strcmp(old->state_dir, cfg->state_dir) != 0},
        {"read_only", old->read_only != cfg->read_only},
        {"node_rate_limit", old->node_rate_limit != cfg->node_rate_limit},
        {"ipv6", old->dht_ipv6_set != cfg->dht_ipv6_set ||
                     (cfg->dht_ipv6_set && !addr_equal(&old->dht_ipv6, &cfg->dht_ipv6))},
    };
    size_t used = 0, count = 0;

    if (cap > 0) {
        out[0] = '\0';
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (keys[i].changed) {
            pk_config_list_key(out, cap, &used, keys[i].key);
            count++;
        }
    }
    return count;
}
