/* pkdns's configuration: the Rust pkdns's pkdns.toml (sections [general], [dns], [dht], with
 * its defaults) and our extensions, read through inih as a TOML subset: "key = value" lines,
 * quoted strings, true/false, decimal integers, arrays of strings on one line (or over
 * indented continuation lines), '#' comments. Unknown keys are warned about (FILE:LINE) and
 * ignored, as the Rust pkdns ignores them. docs/pkdns.md lists every key. */
#ifndef PK_CONFIG_H
#define PK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "conf.h"
#include "dns.h"
#include "pk_args.h"

#define PK_CONFIG_PATH_MAX 1024
#define PK_CONFIG_ACL_MAX 64
#define PK_CONFIG_BOOTSTRAP_MAX 1024     /* text of the comma-separated list */
#define PK_CONFIG_DEFAULT_DIR "~/.pkdns" /* Rust pkdns: --pkdns-dir */
#define PK_CONFIG_FILE_NAME "pkdns.toml" /* Rust pkdns: the file in that directory */

struct pk_config {
    char pkdns_dir[PK_CONFIG_PATH_MAX];   /* "~/" expanded */
    char config_file[PK_CONFIG_PATH_MAX]; /* the file read; "" when none was */

    /* [general] */
    struct addr socket;               /* 0.0.0.0:53 */
    struct addr forward;              /* 8.8.8.8:53 */
    bool doh_enabled;                 /* dns_over_http_socket given */
    struct addr dns_over_http_socket; /* off */
    bool verbose;
    struct addr_prefix acl[PK_CONFIG_ACL_MAX]; /* ours: clients answered; local networks */
    size_t n_acl;
    bool rate_limit_loopback; /* ours: false, so the rate limits spare 127.0.0.0/8 and ::1 (behind
                                 the router every client is 127.0.0.1) */

    /* [dns] */
    uint32_t min_ttl;                /* 60 s */
    uint32_t max_ttl;                /* 86400 s */
    uint32_t query_rate_limit;       /* 100 per second and client IP; 0 off */
    uint32_t query_rate_limit_burst; /* 200 */
    bool disable_any_queries;        /* false */
    uint32_t icann_cache_mb;         /* 100 */
    uint32_t max_recursion_depth;    /* 15 */
    uint32_t answer_timeout_ms;      /* ours: 1500, a client's budget for a pkarr answer */
    uint32_t max_waiting_queries;    /* ours: 1024 queries waiting at once; more are REFUSED */

    /* [dht] */
    uint32_t dht_cache_mb;                    /* 100 */
    uint32_t dht_query_rate_limit;            /* 5 lookups per second and client IP; 0 off */
    uint32_t dht_query_rate_limit_burst;      /* 25 */
    char top_level_domain[DNS_LABEL_MAX + 1]; /* "key"; "" none */
    uint8_t tld[DNS_NAME_MAX];                /* its wire form, lowercase */
    size_t tld_len;                           /* 0 when there is none */
    bool bootstrap_set;                       /* ours: false for the DHT's default routers */
    char bootstrap[PK_CONFIG_BOOTSTRAP_MAX];  /* "host:port,host:port"; "" none */
    uint32_t dht_port;                        /* ours: UDP port of the DHT node; 0 any */
    char state_dir[PK_CONFIG_PATH_MAX];       /* ours: DHT state; $STATE_DIRECTORY, pkdns_dir */
    bool read_only;                           /* ours: BEP 43 read-only node; true */
    uint32_t node_rate_limit;    /* ours: DHT queries a second sent to, and answered from, one IP;
                                    0: the DHT node's defaults */
    uint32_t max_queued_lookups; /* ours: 256 lookups wait for one of the 16 running places */
    bool dht_ipv6_set;           /* ours: the node also speaks IPv6 (BEP 32) */
    struct addr dht_ipv6;        /* the address of its IPv6 socket, on port dht_port */
};

/* Sets every field to its default (pkdns_dir "~/.pkdns" unexpanded, state_dir ""). */
void pk_config_defaults(struct pk_config *cfg);

/* Reads one file into cfg, reporting through ctx (FILE:LINE errors and warnings). Returns 0,
 * -EINVAL when it had errors, -errno when it cannot be read. */
int pk_config_read_file(struct pk_config *cfg, const char *path, struct conf_ctx *ctx);

/* Builds the whole configuration: defaults, then --config or <pkdns-dir>/pkdns.toml (a
 * missing default file means defaults), then -f and -v; expands "~/" in directories; a
 * state_dir the file does not give is $STATE_DIRECTORY's first entry or pkdns_dir. Logs
 * every problem. Returns 0, -EINVAL for errors, -errno when a file cannot be read. */
int pk_config_load(struct pk_config *cfg, const struct pk_args *args);

/* Lists in out[0..cap) (comma-separated, NUL-terminated, cut short when it does not fit) the
 * keys whose change from `old` to `cfg` takes effect only after a restart: socket,
 * dns_over_http_socket, and the DHT node's bootstrap, port, state_dir, read_only,
 * node_rate_limit and ipv6. Returns how many changed. */
size_t pk_config_restart_keys(const struct pk_config *old, const struct pk_config *cfg, char *out,
                              size_t cap);

#endif
