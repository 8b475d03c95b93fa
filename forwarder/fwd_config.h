/* The forwarder's configuration: the forwarding subset of dnsmasq.conf, from a file and from
 * the command line (every file option is also a --long-option). */
#ifndef PK_FWD_CONFIG_H
#define PK_FWD_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "conf.h"
#include "dns.h"

#define FWD_MAX_LISTEN 16
#define FWD_MAX_INTERFACES 16
#define FWD_MAX_RESOLV_FILES 8
#define FWD_MAX_SERVERS 32
#define FWD_MAX_DOMAIN_SERVERS 64
#define FWD_MAX_REBIND_OK 64
#define FWD_DEFAULT_RESOLV_FILE "/etc/resolv.conf"

/* server=/domain/... : where names under `domain` go. */
enum fwd_domain_action {
    FWD_DOMAIN_SERVER,   /* to `addr` */
    FWD_DOMAIN_LOCAL,    /* server=/domain/ : answered locally only (NXDOMAIN here) */
    FWD_DOMAIN_DEFAULTS, /* server=/domain/# : the ordinary servers */
};

struct fwd_domain_server {
    uint8_t domain[DNS_NAME_MAX];
    size_t domain_len;
    enum fwd_domain_action action;
    struct addr addr;
};

/* A domain name in wire form, lowercased. */
struct fwd_domain {
    uint8_t name[DNS_NAME_MAX];
    size_t len;
};

struct fwd_config {
    const char *config_file;
    uint16_t port;
    struct addr listen[FWD_MAX_LISTEN];
    size_t n_listen;                                  /* 0 and no interfaces: 127.0.0.1 */
    char interfaces[FWD_MAX_INTERFACES][IF_NAMESIZE]; /* interface=NAME: its addresses */
    size_t n_interfaces;
    const char *resolv_files[FWD_MAX_RESOLV_FILES];
    size_t n_resolv_files; /* 0: /etc/resolv.conf unless no_resolv */
    bool no_resolv;
    struct addr servers[FWD_MAX_SERVERS]; /* server=IP[#PORT] */
    size_t n_servers;
    struct fwd_domain_server domain_servers[FWD_MAX_DOMAIN_SERVERS];
    size_t n_domain_servers;
    uint32_t cache_size; /* entries as dnsmasq counts them; 0 disables the cache */
    bool no_negcache;
    uint32_t neg_ttl;       /* seconds, for negative answers without an SOA */
    uint32_t min_cache_ttl; /* seconds */
    uint32_t max_cache_ttl; /* seconds; 0 = no limit */
    uint32_t max_stale_s;   /* how long past expiry an answer may serve when upstreams fail */
    bool strict_order;
    bool all_servers;
    bool no_poll;
    bool clear_on_reload;
    bool bind_interfaces;
    bool domain_needed;       /* plain names (one label) get NXDOMAIN for A, AAAA and ANY */
    bool bogus_priv;          /* reverse names of private addresses get NXDOMAIN for PTR and ANY */
    bool stop_dns_rebind;     /* upstream answers with private addresses lose them */
    bool rebind_localhost_ok; /* ... except for loopback addresses */
    struct fwd_domain rebind_ok[FWD_MAX_REBIND_OK]; /* rebind-domain-ok: names not checked */
    size_t n_rebind_ok;
    uint16_t edns_packet_max;
    uint32_t query_timeout_ms; /* whole budget of one upstream resolution */
    int verbose;
    bool check_only;
    /* Strings above point into this arena, which the config owns. */
    char strings[8192];
    size_t strings_used;
};

/* Sets every field to its default. */
void fwd_config_defaults(struct fwd_config *cfg);

/* Applies one option as it appears in a file (`key`, `value` NULL for a bare word); reports
 * errors and warnings through ctx. Returns 0 or -EINVAL. */
int fwd_config_apply(struct fwd_config *cfg, struct conf_ctx *ctx, const char *key,
                     const char *value);

/* Copies src to dst, pointing dst's strings into dst's own arena. */
void fwd_config_copy(struct fwd_config *dst, const struct fwd_config *src);

/* Reads only a file into cfg (for tests and reloads). Returns 0, -EINVAL or -errno. */
int fwd_config_read_file(struct fwd_config *cfg, const char *path);

#endif
