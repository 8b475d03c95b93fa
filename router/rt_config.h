/* The router's configuration: one flat structure that both readers (the native INI file and
 * the dnsdist Lua subset) fill, that is validated once, printed back as INI and copied with
 * memcpy (it holds no pointers: texts live in its own arena, named by offsets). */
#ifndef PK_RT_CONFIG_H
#define PK_RT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "conf.h"
#include "dns.h"

#define RT_MAX_LISTEN 16
#define RT_MAX_ACL 64
#define RT_MAX_POOLS 32
#define RT_MAX_BACKENDS 64
#define RT_MAX_BACKEND_POOLS 8
#define RT_MAX_RULES 128
#define RT_MAX_MATCHES 4 /* conditions per rule, all of which must hold */
#define RT_NAME_MAX 64
#define RT_ARENA_BYTES 65536
#define RT_MAX_SOCKETS 16    /* UDP sockets per backend */
#define RT_MAX_THREADS 64    /* loops (threads = N) */
#define RT_DEFAULT_THREADS 2 /* without a packet cache; see rt_config_finish */

/* Defaults, dnsdist's where it has one (dnsdist 1.8 documentation, newServer). */
#define RT_DEFAULT_PORT 53
#define RT_DEFAULT_TIMEOUT_MS 2000 /* dnsdist setUDPTimeout: 2 s */
#define RT_DEFAULT_CHECK_INTERVAL_MS 1000
#define RT_DEFAULT_CHECK_TIMEOUT_MS 1000
#define RT_DEFAULT_MAX_OUTSTANDING 2048
#define RT_DEFAULT_CHECK_NAME "id.server" /* RFC 4892; every daemon of ours answers it */

/* Lazy health checking, dnsdist's lazyHealthCheck* defaults (dnsdist 1.8, newServer). */
#define RT_LAZY_DEFAULT_SAMPLE_SIZE 100
#define RT_LAZY_DEFAULT_MIN_SAMPLES 1
#define RT_LAZY_DEFAULT_THRESHOLD 20 /* percent */
#define RT_LAZY_DEFAULT_FAILED_INTERVAL_MS 30000
#define RT_LAZY_DEFAULT_MAX_BACKOFF_MS 3600000
#define RT_LAZY_MAX_SAMPLES 10000         /* a bound on what a file may ask for */
#define RT_LAZY_MAX_INTERVAL_MS 86400000u /* one day */

/* A pool's packet cache, dnsdist's newPacketCache defaults (dnsdist 1.7). TTLs in seconds. */
#define RT_CACHE_DEFAULT_MAX_TTL 86400
#define RT_CACHE_DEFAULT_MIN_TTL 0
#define RT_CACHE_DEFAULT_TEMP_FAILURE_TTL 60
#define RT_CACHE_DEFAULT_MAX_NEGATIVE_TTL 3600
#define RT_CACHE_MAX_ENTRIES 100000000u /* a bound on what a file may ask for */
#define RT_CACHE_TTL_MAX 2147483647u    /* RFC 2181 8: a TTL above 2^31 - 1 is taken as 0 */

enum rt_format {
    RT_FORMAT_INI = 0,
    RT_FORMAT_DNSDIST = 1,
};

enum rt_health_mode {
    RT_HEALTH_AUTO = 0, /* periodic checks decide */
    RT_HEALTH_UP,       /* always up, never checked */
    RT_HEALTH_DOWN,     /* always down, never checked */
    RT_HEALTH_LAZY,     /* up until too many queries fail, then checked (rt_health_lazy.h) */
};

enum rt_policy {
    RT_POLICY_LEAST_OUTSTANDING = 0, /* dnsdist's default */
    RT_POLICY_FIRST_AVAILABLE,
    RT_POLICY_ROUNDROBIN,
    RT_POLICY_WRANDOM,
};

enum rt_match_kind {
    RT_MATCH_ALL = 0,
    RT_MATCH_REGEX,  /* text: a POSIX extended expression */
    RT_MATCH_SUFFIX, /* text: names separated by spaces or commas */
    RT_MATCH_QTYPE,  /* qtypes[] */
    RT_MATCH_PKARR,  /* text: the top-level domain, or "" */
};

#define RT_MAX_QTYPES 8

struct rt_match_config {
    enum rt_match_kind kind;
    int line;      /* of its own line in the file, for messages; 0: the rule's */
    uint32_t text; /* arena offset of the matcher's text */
    uint16_t qtypes[RT_MAX_QTYPES];
    uint8_t n_qtypes;
};

enum rt_action_kind {
    RT_ACTION_POOL = 0,
    RT_ACTION_DROP,
    RT_ACTION_RCODE,
};

struct rt_rule_config {
    char name[RT_NAME_MAX];
    int line; /* where it was defined, for messages */
    struct rt_match_config match[RT_MAX_MATCHES];
    uint8_t n_match;
    enum rt_action_kind action;
    uint16_t pool; /* RT_ACTION_POOL: index into pools[] */
    uint16_t rcode;
};

/* A pool's packet cache (dnsdist's newPacketCache and setCache); size 0: none. */
struct rt_cache_config {
    uint32_t size;             /* entries */
    uint32_t max_ttl;          /* no answer is kept longer */
    uint32_t min_ttl;          /* answers that would be kept for less are not cached */
    uint32_t temp_failure_ttl; /* how long SERVFAIL and REFUSED are kept; 0: never cached */
    uint32_t max_negative_ttl; /* NXDOMAIN and NODATA are kept at most this long */
};

struct rt_pool_config {
    char name[RT_NAME_MAX]; /* "" is the default pool: queries no rule routes go there */
    enum rt_policy policy;
    bool policy_set; /* else the router-wide policy applies */
    struct rt_cache_config cache;
};

/* How a lazy backend is judged: by the share of failures among its last queries, and by
 * checks only once that share is too high (see rt_health_lazy.h). */
struct rt_lazy_config {
    uint32_t sample_size;        /* query outcomes kept */
    uint32_t min_samples;        /* outcomes needed before their share of failures counts */
    uint32_t threshold;          /* percent of failures that starts the checks */
    uint32_t failed_interval_ms; /* between checks once it is down */
    uint32_t max_backoff_ms;     /* the most that interval grows to with backoff */
    bool servfail_fails;         /* a SERVFAIL answer fails like a timeout (else timeouts only) */
    bool backoff;                /* the interval doubles after each failed check while down */
};

struct rt_backend_config {
    char name[RT_NAME_MAX];
    int line;
    struct addr addr;
    uint16_t pools[RT_MAX_BACKEND_POOLS]; /* indices into pools[] */
    uint8_t n_pools;
    enum rt_health_mode health;
    uint8_t check_name[DNS_NAME_MAX];
    size_t check_name_len;
    uint16_t check_type;
    uint16_t check_class;
    uint32_t check_interval_ms;
    uint32_t check_timeout_ms;
    uint32_t max_check_failures; /* consecutive failures that mark it down */
    uint32_t rise;               /* consecutive successes that mark it up again */
    struct rt_lazy_config lazy;
    int32_t order;   /* firstAvailable: lowest first */
    uint32_t weight; /* wrandom */
    bool tcp_only;
    uint32_t sockets;
};

enum rt_limit_action {
    RT_LIMIT_DROP = 0,
    RT_LIMIT_REFUSED,
};

struct rt_config {
    enum rt_format format;
    uint32_t config_file; /* arena offset; 0 means none */
    struct addr listen[RT_MAX_LISTEN];
    size_t n_listen;
    struct addr_prefix acl[RT_MAX_ACL];
    size_t n_acl;
    enum rt_policy policy;
    uint32_t timeout_ms;
    bool retry;              /* a timed-out UDP query is tried once on another backend */
    bool servfail_timeout;   /* after the last timeout: SERVFAIL (true) or silence */
    bool servfail_no_server; /* when the pool has no live backend: SERVFAIL or silence */
    uint32_t max_outstanding;
    uint32_t rate_qps; /* per source address; 0: no limit */
    uint32_t rate_burst;
    enum rt_limit_action rate_action;
    uint32_t rate_table_size; /* source addresses tracked at once */
    uint32_t tcp_clients;
    uint32_t tcp_idle_timeout_ms;
    uint32_t tcp_max_pending;
    uint32_t threads;
    struct rt_pool_config pools[RT_MAX_POOLS];
    size_t n_pools;
    struct rt_backend_config backends[RT_MAX_BACKENDS];
    size_t n_backends;
    struct rt_rule_config rules[RT_MAX_RULES];
    size_t n_rules;
    char arena[RT_ARENA_BYTES]; /* offset 0 holds "" */
    size_t arena_used;
};

/* Sets every field to its default: dnsdist's ACL, SERVFAIL where dnsdist would drop, no
 * listen address yet (rt_config_finish adds 127.0.0.1:53). */
void rt_config_defaults(struct rt_config *cfg);

/* Sets a backend to its defaults (health auto, id.server CH TXT every second, ...). */
void rt_config_backend_defaults(struct rt_backend_config *b);

/* Copies `s` into the arena. Returns its offset, or 0 (the empty text) after reporting an
 * error through ctx when the arena is full. */
uint32_t rt_config_keep(struct rt_config *cfg, struct conf_ctx *ctx, const char *s);

/* The text at an arena offset. */
const char *rt_config_text(const struct rt_config *cfg, uint32_t offset);

/* Sets a packet cache's settings to dnsdist's defaults, with `size` entries (0: no cache). */
void rt_config_cache_defaults(struct rt_cache_config *c, uint32_t size);

/* Returns the index of the pool named `name`, adding it (without a cache) when new; -ENOSPC
 * (reported) when there are too many. */
int rt_config_pool(struct rt_config *cfg, struct conf_ctx *ctx, const char *name);

/* Checks what only the whole configuration can tell (duplicate backends, rules that name
 * empty pools, regular expressions that do not compile) and fills in the default listen
 * address. Reports through ctx; returns 0 or -EINVAL. */
int rt_config_finish(struct rt_config *cfg, struct conf_ctx *ctx);

/* Reads `path`, telling the format from its content (a dnsdist file calls functions such as
 * newServer(...) or setLocal(...); an INI file has [sections]). Reports every error with
 * FILE:LINE through ctx. Returns 0, -EINVAL, or -errno when unreadable. */
int rt_config_read_file(struct rt_config *cfg, const char *path, struct conf_ctx *ctx);

/* The name of a policy as both formats write it ("leastOutstanding"). */
const char *rt_config_policy_name(enum rt_policy p);

/* The name of a health check mode ("auto", "up", "down", "lazy"). */
const char *rt_config_health_name(enum rt_health_mode m);

/* Parses a policy name, native or dnsdist spelling. Returns 0 or -EINVAL. */
int rt_config_parse_policy(const char *text, enum rt_policy *out);

/* Parses auto, up, down or lazy in any case. Returns 0 or -EINVAL. */
int rt_config_parse_health(const char *text, enum rt_health_mode *out);

/* Sets lazy checking to dnsdist's defaults. */
void rt_config_lazy_defaults(struct rt_lazy_config *lazy);

/* Writes the configuration in the native INI format. */
void rt_config_print(const struct rt_config *cfg, FILE *out);

#endif
