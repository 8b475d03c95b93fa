#include "dns_msg.h"
#include "dns_name.h"
#include "log.h"
#include "rt_config.h"
#include "rt_rules.h"
#include "unit.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>

#define KEY "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo" /* vectors.md, seed 00x32 */
#define NOT_A_KEY "c1bkg8tfsyy8wcedtmw4fwhdmm7bbzhgg3z58tf43m5ow8w9mbus"
/* The stack's dnsdist.conf regex, as Lua hands it over. */
#define STACK_REGEX "^(([^.]+\\.)+)?[ybndrfg8ejkmcpqxot1uwisza345h769]{52}\\.?$"

static struct rt_config *cfg;
static struct rt_rules *rules;

/* Starts a configuration with no rules. */
static void begin(void)
{
    rt_rules_free(rules);
    rules = NULL;
    rt_config_defaults(cfg);
}

/* Appends a rule of one match; text for regex/suffix/pkarr, qtype for qtype. */
static void add_rule(enum rt_match_kind kind, const char *text, uint16_t qtype)
{
    struct conf_ctx ctx = {0};
    struct rt_rule_config *r = &cfg->rules[cfg->n_rules++];

    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "r%zu", cfg->n_rules);
    r->n_match = 1;
    r->match[0].kind = kind;
    r->match[0].text = rt_config_keep(cfg, &ctx, text != NULL ? text : "");
    r->match[0].qtypes[0] = qtype;
    r->match[0].n_qtypes = 1;
}

/* Adds a second condition to the last rule. */
static void and_match(enum rt_match_kind kind, const char *text, uint16_t qtype)
{
    struct conf_ctx ctx = {0};
    struct rt_rule_config *r = &cfg->rules[cfg->n_rules - 1];
    struct rt_match_config *m = &r->match[r->n_match++];

    m->kind = kind;
    m->text = rt_config_keep(cfg, &ctx, text != NULL ? text : "");
    m->qtypes[0] = qtype;
    m->n_qtypes = 1;
}

/* The rule a query for `name` `qtype` matches, after compiling the rules. */
static int match(const char *name, uint16_t qtype)
{
    struct dns_query q = {0};

    if (rules == NULL) {
        CHECK_INT(rt_rules_new(cfg, &rules), 0);
    }
    CHECK_INT(dns_name_from_text(name, q.q.name, &q.q.name_len), 0);
    q.q.qtype = qtype;
    q.q.qclass = DNS_CLASS_IN;
    return rules != NULL ? rt_rules_match(rules, &q) : -2;
}

static void test_all_matches_every_name(void)
{
    begin();
    add_rule(RT_MATCH_ALL, NULL, 0);
    CHECK_INT(match("example.com", DNS_TYPE_A), 0);
    CHECK_INT(match(".", DNS_TYPE_NS), 0);
}

static void test_no_rule_matches_gives_minus_one(void)
{
    begin();
    add_rule(RT_MATCH_SUFFIX, "example.com", 0);
    CHECK_INT(match("example.org", DNS_TYPE_A), -1);
}

static void test_regex_is_unanchored_and_case_insensitive(void)
{
    begin();
    add_rule(RT_MATCH_REGEX, "ample\\.co", 0);
    CHECK_INT(match("www.EXAMPLE.com", DNS_TYPE_A), 0);
    CHECK_INT(match("example.org", DNS_TYPE_A), -1);
}

static void test_regex_sees_the_name_without_trailing_dot(void)
{
    begin();
    add_rule(RT_MATCH_REGEX, "\\.com$", 0);
    add_rule(RT_MATCH_REGEX, "\\.$", 0);
    CHECK_INT(match("example.com.", DNS_TYPE_A), 0);
    CHECK_INT(match("example.org.", DNS_TYPE_A), -1);
}

static void test_stack_regex_takes_keys_and_their_subdomains(void)
{
    begin();
    add_rule(RT_MATCH_REGEX, STACK_REGEX, 0);
    CHECK_INT(match(KEY, DNS_TYPE_A), 0);
    CHECK_INT(match("www." KEY, DNS_TYPE_A), 0);
    CHECK_INT(match("A.B.8PINXXGQS41N4AIDIDENW5APQP1URFMZDZTR8JT4ABRKDN435EWO", DNS_TYPE_A), 0);
    CHECK_INT(match("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ew", DNS_TYPE_A), -1);
    CHECK_INT(match(KEY "y", DNS_TYPE_A), -1);
    CHECK_INT(match(KEY ".com", DNS_TYPE_A), -1);
    /* Only alphabet and length: the regex cannot tell a curve point. */
    CHECK_INT(match(NOT_A_KEY, DNS_TYPE_A), 0);
}

static void test_suffix_matches_the_name_and_below_only(void)
{
    begin();
    add_rule(RT_MATCH_SUFFIX, "example.com, other.test", 0);
    CHECK_INT(match("example.com", DNS_TYPE_A), 0);
    CHECK_INT(match("a.b.EXAMPLE.COM", DNS_TYPE_A), 0);
    CHECK_INT(match("x.other.test", DNS_TYPE_A), 0);
    CHECK_INT(match("notexample.com", DNS_TYPE_A), -1);
    CHECK_INT(match("com", DNS_TYPE_A), -1);
}

static void test_qtype_matches_listed_types(void)
{
    begin();
    add_rule(RT_MATCH_QTYPE, NULL, DNS_TYPE_AAAA);
    CHECK_INT(match("example.com", DNS_TYPE_AAAA), 0);
    CHECK_INT(match("example.com", DNS_TYPE_A), -1);
}

static void test_pkarr_matches_valid_keys_only(void)
{
    begin();
    add_rule(RT_MATCH_PKARR, "", 0);
    CHECK_INT(match(KEY, DNS_TYPE_A), 0);
    CHECK_INT(match("_dnslink.www." KEY, DNS_TYPE_TXT), 0);
    CHECK_INT(match("www.8PINXXGQS41N4AIDIDENW5APQP1URFMZDZTR8JT4ABRKDN435EWO", DNS_TYPE_A), 0);
    CHECK_INT(match("csjbhp9jpbomwh3m5eyrj1py41m8sjpkzzqmzpj5madsi7sc4mto", DNS_TYPE_A), 0);
    CHECK_INT(match("cb7xxx6wtqr5d6yqudkt47drqswxk57dzy3h7qj3udym5puy9cso", DNS_TYPE_A), 0);
    CHECK_INT(match("8qhdp5s8jjmxmqam3bpg9kzeg7x8teztuwrfgxw5ikn9z5bt15uy", DNS_TYPE_A), 0);
    CHECK_INT(match("yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5no", DNS_TYPE_A), 0);
    CHECK_INT(match(NOT_A_KEY, DNS_TYPE_A), -1);
    CHECK_INT(match("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ew", DNS_TYPE_A), -1);
    CHECK_INT(match(KEY "y", DNS_TYPE_A), -1);
    CHECK_INT(match(KEY ".com", DNS_TYPE_A), -1);
    CHECK_INT(match(KEY ".key", DNS_TYPE_A), -1);
}

static void test_pkarr_with_tld_takes_the_label_before_it(void)
{
    begin();
    add_rule(RT_MATCH_PKARR, "key", 0);
    CHECK_INT(match("www." KEY ".key", DNS_TYPE_A), 0);
    CHECK_INT(match(KEY ".KEY", DNS_TYPE_A), 0);
    CHECK_INT(match(KEY, DNS_TYPE_A), 0);
    CHECK_INT(match(KEY ".com", DNS_TYPE_A), -1);
}

static void test_first_matching_rule_wins(void)
{
    begin();
    add_rule(RT_MATCH_SUFFIX, "a.test", 0);
    add_rule(RT_MATCH_SUFFIX, "b.a.test", 0);
    add_rule(RT_MATCH_ALL, NULL, 0);
    CHECK_INT(match("x.b.a.test", DNS_TYPE_A), 0);
    CHECK_INT(match("x.test", DNS_TYPE_A), 2);
}

static void test_every_match_of_a_rule_must_hold(void)
{
    begin();
    add_rule(RT_MATCH_SUFFIX, "v6.test", 0);
    and_match(RT_MATCH_QTYPE, NULL, DNS_TYPE_AAAA);
    add_rule(RT_MATCH_ALL, NULL, 0);
    CHECK_INT(match("h.v6.test", DNS_TYPE_AAAA), 0);
    CHECK_INT(match("h.v6.test", DNS_TYPE_A), 1);
    CHECK_INT(match("h.v4.test", DNS_TYPE_AAAA), 1);
}

static void test_bad_regex_does_not_compile(void)
{
    struct rt_rules *bad = NULL;

    begin();
    add_rule(RT_MATCH_REGEX, "a(b", 0);
    CHECK_INT(rt_rules_new(cfg, &bad), -EINVAL);
}

static void test_remembered_verdicts_follow_a_new_rule_set(void)
{
    begin();
    add_rule(RT_MATCH_REGEX, "^a\\.", 0);
    CHECK_INT(match("a.test", DNS_TYPE_A), 0);
    CHECK_INT(match("a.test", DNS_TYPE_A), 0);
    /* The same name under other rules (compiled, perhaps, where the old ones were). */
    begin();
    add_rule(RT_MATCH_REGEX, "^b\\.", 0);
    add_rule(RT_MATCH_ALL, NULL, 0);
    CHECK_INT(match("a.test", DNS_TYPE_A), 1);
    CHECK_INT(match("b.test", DNS_TYPE_A), 0);
}

static void test_remembered_verdicts_tell_the_types_apart(void)
{
    begin();
    add_rule(RT_MATCH_REGEX, "^h\\.", 0);
    and_match(RT_MATCH_QTYPE, NULL, DNS_TYPE_AAAA);
    add_rule(RT_MATCH_ALL, NULL, 0);
    CHECK_INT(match("h.test", DNS_TYPE_AAAA), 0);
    CHECK_INT(match("h.test", DNS_TYPE_A), 1);
    CHECK_INT(match("h.test", DNS_TYPE_AAAA), 0);
}

static void test_names_too_long_to_remember_are_matched_each_time(void)
{
    /* 61 + 31 + 5 bytes of labels and a root: longer than the memo keeps. */
    static const char long_match[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
                                     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.long";
    static const char long_other[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
                                     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.lung";

    begin();
    add_rule(RT_MATCH_REGEX, "\\.long$", 0);
    CHECK_INT(match(long_match, DNS_TYPE_A), 0);
    CHECK_INT(match(long_other, DNS_TYPE_A), -1);
    CHECK_INT(match(long_match, DNS_TYPE_A), 0);
    CHECK_INT(match(long_other, DNS_TYPE_A), -1);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_all_matches_every_name),
        UNIT(test_no_rule_matches_gives_minus_one),
        UNIT(test_regex_is_unanchored_and_case_insensitive),
        UNIT(test_regex_sees_the_name_without_trailing_dot),
        UNIT(test_stack_regex_takes_keys_and_their_subdomains),
        UNIT(test_suffix_matches_the_name_and_below_only),
        UNIT(test_qtype_matches_listed_types),
        UNIT(test_pkarr_matches_valid_keys_only),
        UNIT(test_pkarr_with_tld_takes_the_label_before_it),
        UNIT(test_first_matching_rule_wins),
        UNIT(test_every_match_of_a_rule_must_hold),
        UNIT(test_bad_regex_does_not_compile),
        UNIT(test_remembered_verdicts_follow_a_new_rule_set),
        UNIT(test_remembered_verdicts_tell_the_types_apart),
        UNIT(test_names_too_long_to_remember_are_matched_each_time),
    };
    int rc;

    if (sodium_init() < 0) {
        return 1;
    }
    cfg = malloc(sizeof(*cfg));
    rc = unit_run("router_rules", tests, sizeof(tests) / sizeof(tests[0]));
    rt_rules_free(rules);
    free(cfg);
    return rc;
}
