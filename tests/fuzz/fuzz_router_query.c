/* Fuzz target for the router's query path without sockets: any bytes as a query, parsed as
 * the router parses it, then run through rules of every kind (the stack's regex, pkarr with
 * and without a top-level domain, suffixes, query types) and through a packet cache: its
 * cacheability check and key, the same bytes stored as the query's answer, and a lookup. */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "dns_msg.h"
#include "log.h"
#include "rt_cache.h"
#include "rt_config.h"
#include "rt_rules.h"

/* Entries of the cache the inputs go through: few, so that eviction runs too. */
#define FUZZ_CACHE_ENTRIES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_add_rule(struct rt_config *cfg, enum rt_match_kind kind, const char *text)
{
    struct conf_ctx ctx = {0};
    struct rt_rule_config *r = &cfg->rules[cfg->n_rules++];

    r->n_match = 1;
    r->match[0].kind = kind;
    r->match[0].text = rt_config_keep(cfg, &ctx, text);
    r->match[0].qtypes[0] = 28;
    r->match[0].n_qtypes = 1;
}

static struct rt_rules *fuzz_rules(void)
{
    static struct rt_config cfg;
    struct rt_rules *rules = NULL;

    if (sodium_init() < 0) {
        return NULL;
    }
    rt_config_defaults(&cfg);
    fuzz_add_rule(&cfg, RT_MATCH_QTYPE, "");
    fuzz_add_rule(&cfg, RT_MATCH_SUFFIX, "example.com test");
    fuzz_add_rule(&cfg, RT_MATCH_PKARR, "key");
    fuzz_add_rule(&cfg, RT_MATCH_PKARR, "");
    fuzz_add_rule(&cfg, RT_MATCH_REGEX,
                  "^(([^.]+\\.)+)?[ybndrfg8ejkmcpqxot1uwisza345h769]{52}\\.?$");
    fuzz_add_rule(&cfg, RT_MATCH_ALL, "");
    rt_rules_new(&cfg, &rules);
    return rules;
}

/* The query through a packet cache, its own bytes standing in for the backend's answer. */
static void fuzz_cache(const struct dns_query *q, const uint8_t *data, size_t size)
{
    static struct rt_cache *cache;
    static uint64_t now_ms;
    static uint8_t out[65536];
    uint8_t key[RT_CACHE_KEY_MAX];

    if (cache == NULL) {
        struct rt_cache_config cfg;
        rt_config_cache_defaults(&cfg, FUZZ_CACHE_ENTRIES);
        if (rt_cache_new(&cfg, &cache) != 0) {
            return;
        }
    }
    now_ms += 700;
    if (!rt_cache_query_cacheable(q, data, size) || rt_cache_key(q, key) > sizeof(key)) {
        return;
    }
    rt_cache_put(cache, q, data, size, now_ms);
    rt_cache_get(cache, q, now_ms, out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rt_rules *rules;
    struct dns_query q;

    if (rules == NULL) {
        log_threshold = 0;
        rules = fuzz_rules();
    }
    if (rules == NULL || dns_msg_parse_query(data, size, &q) != 0) {
        return 0;
    }
    rt_rules_match(rules, &q);
    fuzz_cache(&q, data, size);
    return 0;
}
