/* Fuzz target for the router's query path without sockets: any bytes as a query, parsed as
 * the router parses it, then run through rules of every kind (the stack's regex, pkarr with
 * and without a top-level domain, suffixes, query types). */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "dns_msg.h"
#include "log.h"
#include "rt_config.h"
#include "rt_rules.h"

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
    return 0;
}
