#include "fwd_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_name.h"
#include "log.h"

#define FWD_DEFAULT_PORT 53
#define FWD_DEFAULT_CACHE_SIZE 150 /* dnsmasq's default */
#define FWD_DEFAULT_MAX_STALE_S 86400
#define FWD_DEFAULT_QUERY_TIMEOUT_MS 4000

void fwd_config_defaults(struct fwd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = FWD_DEFAULT_PORT;
    cfg->cache_size = FWD_DEFAULT_CACHE_SIZE;
    cfg->max_stale_s = FWD_DEFAULT_MAX_STALE_S;
    cfg->edns_packet_max = DNS_EDNS_DEFAULT;
    cfg->query_timeout_ms = FWD_DEFAULT_QUERY_TIMEOUT_MS;
}

static const char *fwd_config_keep(struct fwd_config *cfg, struct conf_ctx *ctx, const char *s)
{
    size_t len = strlen(s) + 1;

    if (sizeof(cfg->strings) - cfg->strings_used < len) {
        conf_error(ctx, "too much text in the configuration");
        return NULL;
    }
    char *kept = memcpy(cfg->strings + cfg->strings_used, s, len);
    cfg->strings_used += len;
    return kept;
}

static int fwd_config_need_value(struct conf_ctx *ctx, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        conf_error(ctx, "%s needs a value", key);
        return -EINVAL;
    }
    return 0;
}

static int fwd_config_u32(struct conf_ctx *ctx, const char *key, const char *value, uint64_t max,
                          uint32_t *out)
{
    uint64_t v;

    if (fwd_config_need_value(ctx, key, value) != 0) {
        return -EINVAL;
    }
    if (conf_parse_uint(value, 0, max, &v) != 0) {
        conf_error(ctx, "%s: '%s' is not a number from 0 to %llu", key, value,
                   (unsigned long long)max);
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

/* server=IP[#PORT], server=/domain/[/domain2/]IP[#PORT], server=/domain/, server=/domain/# */
static int fwd_config_server(struct fwd_config *cfg, struct conf_ctx *ctx, const char *value)
{
    char buf[CONF_LINE_MAX];
    char *target, *domain, *save = NULL;
    struct fwd_domain_server ds;

    if (fwd_config_need_value(ctx, "server", value) != 0) {
        return -EINVAL;
    }
    if (value[0] != '/') {
        if (cfg->n_servers == FWD_MAX_SERVERS) {
            conf_error(ctx, "more than %d servers", FWD_MAX_SERVERS);
            return -EINVAL;
        }
        if (addr_parse(value, FWD_DEFAULT_PORT, &cfg->servers[cfg->n_servers]) != 0) {
            conf_error(ctx, "server: '%s' is not an address (IP or IP#PORT)", value);
            return -EINVAL;
        }
        cfg->n_servers++;
        return 0;
    }

    snprintf(buf, sizeof(buf), "%s", value + 1);
    target = strrchr(buf, '/');
    if (target == NULL) {
        conf_error(ctx, "server: '%s' lacks the closing '/' after the domain", value);
        return -EINVAL;
    }
    *target++ = '\0';
    /* dnsmasq reads an empty domain (server=//IP) as "names without a dot". We have no such
     * rule, and skipping it would silently send those names to the ordinary servers. */
    if (buf[0] == '\0' || buf[strlen(buf) - 1] == '/' || strstr(buf, "//") != NULL) {
        conf_error(ctx, "server: '%s' has an empty domain (unqualified names are not supported)",
                   value);
        return -EINVAL;
    }
    memset(&ds, 0, sizeof(ds));
    if (target[0] == '\0') {
        ds.action = FWD_DOMAIN_LOCAL;
    } else if (strcmp(target, "#") == 0) {
        ds.action = FWD_DOMAIN_DEFAULTS;
    } else if (addr_parse(target, FWD_DEFAULT_PORT, &ds.addr) == 0) {
        ds.action = FWD_DOMAIN_SERVER;
    } else {
        conf_error(ctx, "server: '%s' is not an address (IP or IP#PORT)", target);
        return -EINVAL;
    }
    for (domain = strtok_r(buf, "/", &save); domain != NULL; domain = strtok_r(NULL, "/", &save)) {
        if (cfg->n_domain_servers == FWD_MAX_DOMAIN_SERVERS) {
            conf_error(ctx, "more than %d domain servers", FWD_MAX_DOMAIN_SERVERS);
            return -EINVAL;
        }
        if (dns_name_from_text(domain, ds.domain, &ds.domain_len) != 0) {
            conf_error(ctx, "server: '%s' is not a domain name", domain);
            return -EINVAL;
        }
        dns_name_lower(ds.domain, ds.domain_len);
        cfg->domain_servers[cfg->n_domain_servers++] = ds;
    }
    return 0;
}

static int fwd_config_listen(struct fwd_config *cfg, struct conf_ctx *ctx, const char *value)
{
    char buf[CONF_LINE_MAX];
    char *item, *save = NULL;
    size_t added = 0;

    if (fwd_config_need_value(ctx, "listen-address", value) != 0) {
        return -EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", value);
    for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        if (cfg->n_listen == FWD_MAX_LISTEN) {
            conf_error(ctx, "more than %d listen addresses", FWD_MAX_LISTEN);
            return -EINVAL;
        }
        /* dnsmasq takes bare IPs here; the port comes from `port`. */
        if (addr_parse(item, 0, &cfg->listen[cfg->n_listen]) != 0 ||
            addr_port(&cfg->listen[cfg->n_listen]) != 0) {
            conf_error(ctx, "listen-address: '%s' is not an IP address", item);
            return -EINVAL;
        }
        cfg->n_listen++;
        added++;
    }
    if (added == 0) {
        conf_error(ctx, "listen-address: no address in '%s'", value);
        return -EINVAL;
    }
    return 0;
}

/* interface=NAME[,NAME...]: listen on the addresses those interfaces have when the forwarder
 * starts (fwd_listen.c). */
static int fwd_config_interface(struct fwd_config *cfg, struct conf_ctx *ctx, const char *value)
{
    char buf[CONF_LINE_MAX];
    char *item, *save = NULL;
    size_t added = 0;

    if (fwd_config_need_value(ctx, "interface", value) != 0) {
        return -EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", value);
    for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        if (strlen(item) >= IF_NAMESIZE) {
            conf_error(ctx, "interface: '%s' is longer than an interface name can be", item);
            return -EINVAL;
        }
        if (cfg->n_interfaces == FWD_MAX_INTERFACES) {
            conf_error(ctx, "more than %d interfaces", FWD_MAX_INTERFACES);
            return -EINVAL;
        }
        snprintf(cfg->interfaces[cfg->n_interfaces++], IF_NAMESIZE, "%s", item);
        added++;
    }
    if (added == 0) {
        conf_error(ctx, "interface: no name in '%s'", value);
        return -EINVAL;
    }
    return 0;
}

/* rebind-domain-ok=DOMAIN or =/DOMAIN/[DOMAIN/...]: names under these are not checked. */
static int fwd_config_rebind_ok(struct fwd_config *cfg, struct conf_ctx *ctx, const char *value)
{
    char buf[CONF_LINE_MAX];
    char *item, *save = NULL;
    size_t added = 0;

    if (fwd_config_need_value(ctx, "rebind-domain-ok", value) != 0) {
        return -EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", value);
    for (item = strtok_r(buf, "/", &save); item != NULL; item = strtok_r(NULL, "/", &save)) {
        struct fwd_domain *d = &cfg->rebind_ok[cfg->n_rebind_ok];
        if (cfg->n_rebind_ok == FWD_MAX_REBIND_OK) {
            conf_error(ctx, "more than %d rebind-domain-ok domains", FWD_MAX_REBIND_OK);
            return -EINVAL;
        }
        if (dns_name_from_text(item, d->name, &d->len) != 0) {
            conf_error(ctx, "rebind-domain-ok: '%s' is not a domain name", item);
            return -EINVAL;
        }
        dns_name_lower(d->name, d->len);
        cfg->n_rebind_ok++;
        added++;
    }
    if (added == 0) {
        conf_error(ctx, "rebind-domain-ok: no domain in '%s'", value);
        return -EINVAL;
    }
    return 0;
}

static int fwd_config_resolv_file(struct fwd_config *cfg, struct conf_ctx *ctx, const char *value)
{
    if (fwd_config_need_value(ctx, "resolv-file", value) != 0) {
        return -EINVAL;
    }
    if (cfg->n_resolv_files == FWD_MAX_RESOLV_FILES) {
        conf_error(ctx, "more than %d resolv files", FWD_MAX_RESOLV_FILES);
        return -EINVAL;
    }
    const char *kept = fwd_config_keep(cfg, ctx, value);
    if (kept == NULL) {
        return -EINVAL;
    }
    cfg->resolv_files[cfg->n_resolv_files++] = kept;
    return 0;
}

/* Bare-word options that switch something on. */
struct fwd_flag {
    const char *name;
    size_t offset;
};

static const struct fwd_flag fwd_flags[] = {
    {"no-resolv", offsetof(struct fwd_config, no_resolv)},
    {"no-negcache", offsetof(struct fwd_config, no_negcache)},
    {"strict-order", offsetof(struct fwd_config, strict_order)},
    {"all-servers", offsetof(struct fwd_config, all_servers)},
    {"no-poll", offsetof(struct fwd_config, no_poll)},
    {"clear-on-reload", offsetof(struct fwd_config, clear_on_reload)},
    {"bind-interfaces", offsetof(struct fwd_config, bind_interfaces)},
    {"bind-dynamic", offsetof(struct fwd_config, bind_interfaces)},
    {"domain-needed", offsetof(struct fwd_config, domain_needed)},
    {"bogus-priv", offsetof(struct fwd_config, bogus_priv)},
    {"stop-dns-rebind", offsetof(struct fwd_config, stop_dns_rebind)},
    {"rebind-localhost-ok", offsetof(struct fwd_config, rebind_localhost_ok)},
};

/* dnsmasq options outside forwarding (DHCP, TFTP, local data, process control): accepted so
 * that a stock dnsmasq.conf loads, with one warning each. Matched as a prefix when ending in
 * '-'. */
static const char *const fwd_ignored[] = {
    "dhcp-",
    "tftp-",
    "enable-tftp",
    "pxe-",
    "enable-ra",
    "ra-param",
    "slaac",
    "bootp-",
    "leasefile-ro",
    "script-",
    "user",
    "group",
    "pid-file",
    "keep-in-foreground",
    "no-daemon",
    "log-facility",
    "log-async",
    "log-dhcp",
    "addn-hosts",
    "no-hosts",
    "expand-hosts",
    "domain",
    "address",
    "except-interface",
    "no-dhcp-interface",
    "auth-",
    "host-record",
    "cname",
    "mx-host",
    "srv-host",
    "txt-record",
    "ptr-record",
    "conf-dir",
    "dnssec",
    "trust-anchor",
    "filterwin2k",
    "read-ethers",
    "dhcp",
    "selfmx",
    "localmx",
    "interface-name",
    "synth-domain",
    "ipset",
    "nftset",
    "connmark-",
    "add-mac",
    "add-subnet",
    "add-cpe-id",
    "umbrella",
    "quiet-",
    "localise-queries",
    "log-queries",
};

static bool fwd_config_is_ignored(const char *key)
{
    for (size_t i = 0; i < sizeof(fwd_ignored) / sizeof(fwd_ignored[0]); i++) {
        size_t n = strlen(fwd_ignored[i]);
        if (fwd_ignored[i][n - 1] == '-' ? strncmp(key, fwd_ignored[i], n) == 0
                                         : strcmp(key, fwd_ignored[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int fwd_config_flag(struct fwd_config *cfg, struct conf_ctx *ctx, const char *key,
                           const char *value)
{
    for (size_t i = 0; i < sizeof(fwd_flags) / sizeof(fwd_flags[0]); i++) {
        if (strcmp(key, fwd_flags[i].name) == 0) {
            if (value != NULL) {
                conf_error(ctx, "%s takes no value", key);
                return -EINVAL;
            }
            *(bool *)((char *)cfg + fwd_flags[i].offset) = true;
            return 0;
        }
    }
    return -ENOENT;
}

static int fwd_config_number(struct fwd_config *cfg, struct conf_ctx *ctx, const char *key,
                             const char *value)
{
    uint32_t v;

    if (strcmp(key, "port") == 0) {
        if (fwd_config_u32(ctx, key, value, 65535, &v) != 0) {
            return -EINVAL;
        }
        cfg->port = (uint16_t)v;
        return 0;
    }
    if (strcmp(key, "edns-packet-max") == 0) {
        if (fwd_config_u32(ctx, key, value, 65535, &v) != 0) {
            return -EINVAL;
        }
        if (v < DNS_UDP_MIN) {
            conf_error(ctx, "edns-packet-max: %u is below %d", v, DNS_UDP_MIN);
            return -EINVAL;
        }
        cfg->edns_packet_max = (uint16_t)v;
        return 0;
    }
    if (strcmp(key, "cache-size") == 0) {
        return fwd_config_u32(ctx, key, value, 10000000, &cfg->cache_size);
    }
    if (strcmp(key, "neg-ttl") == 0) {
        return fwd_config_u32(ctx, key, value, UINT32_MAX, &cfg->neg_ttl);
    }
    if (strcmp(key, "min-cache-ttl") == 0) {
        /* dnsmasq caps this at one hour; so do we. */
        return fwd_config_u32(ctx, key, value, 3600, &cfg->min_cache_ttl);
    }
    if (strcmp(key, "max-cache-ttl") == 0) {
        return fwd_config_u32(ctx, key, value, UINT32_MAX, &cfg->max_cache_ttl);
    }
    if (strcmp(key, "use-stale-cache") == 0) {
        return value == NULL ? 0 : fwd_config_u32(ctx, key, value, UINT32_MAX, &cfg->max_stale_s);
    }
    if (strcmp(key, "query-timeout-ms") == 0) {
        return fwd_config_u32(ctx, key, value, 60000, &cfg->query_timeout_ms);
    }
    return -ENOENT;
}

int fwd_config_apply(struct fwd_config *cfg, struct conf_ctx *ctx, const char *key,
                     const char *value)
{
    int rc = fwd_config_flag(cfg, ctx, key, value);

    if (rc != -ENOENT) {
        return rc;
    }
    rc = fwd_config_number(cfg, ctx, key, value);
    if (rc != -ENOENT) {
        return rc;
    }
    /* local=/domain/ is dnsmasq's other spelling of server=/domain/. */
    if (strcmp(key, "server") == 0 || strcmp(key, "local") == 0) {
        return fwd_config_server(cfg, ctx, value);
    }
    if (strcmp(key, "listen-address") == 0) {
        return fwd_config_listen(cfg, ctx, value);
    }
    if (strcmp(key, "resolv-file") == 0) {
        return fwd_config_resolv_file(cfg, ctx, value);
    }
    if (strcmp(key, "interface") == 0) {
        return fwd_config_interface(cfg, ctx, value);
    }
    if (strcmp(key, "rebind-domain-ok") == 0) {
        return fwd_config_rebind_ok(cfg, ctx, value);
    }
    if (fwd_config_is_ignored(key)) {
        conf_warn(ctx, "%s is not a forwarding option; ignored", key);
        return 0;
    }
    conf_error(ctx, "unknown option '%s'", key);
    return -EINVAL;
}

static int fwd_config_file_line(struct conf_ctx *ctx, const char *key, const char *value,
                                void *user)
{
    return fwd_config_apply(user, ctx, key, value);
}

int fwd_config_read_file(struct fwd_config *cfg, const char *path)
{
    struct conf_ctx ctx = {.file = path};

    cfg->config_file = fwd_config_keep(cfg, &ctx, path);
    return conf_read_kv_file(path, fwd_config_file_line, cfg, &ctx);
}

static const char *fwd_config_rebase(const struct fwd_config *dst, const struct fwd_config *src,
                                     const char *s)
{
    if (s >= src->strings && s < src->strings + sizeof(src->strings)) {
        return dst->strings + (s - src->strings);
    }
    return s; /* a string literal such as a default */
}

void fwd_config_copy(struct fwd_config *dst, const struct fwd_config *src)
{
    if (dst == src) {
        return;
    }
    memcpy(dst, src, sizeof(*dst));
    dst->config_file = fwd_config_rebase(dst, src, src->config_file);
    for (size_t i = 0; i < src->n_resolv_files; i++) {
        dst->resolv_files[i] = fwd_config_rebase(dst, src, src->resolv_files[i]);
    }
}
