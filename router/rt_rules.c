#include "rt_rules.h"

#include <errno.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dns_name.h"
#include "pkarr_name.h"
#include "rt_regex.h"

struct rt_rules_match {
    enum rt_match_kind kind;
    bool has_regex;
    regex_t regex;
    size_t n_names;                 /* suffixes, or the pkarr tld (0 or 1) */
    uint8_t (*names)[DNS_NAME_MAX]; /* wire form, allocated */
    uint8_t *name_lens;
    uint16_t qtypes[RT_MAX_QTYPES];
    uint8_t n_qtypes;
};

struct rt_rules_rule {
    struct rt_rules_match match[RT_MAX_MATCHES];
    size_t n_match;
};

struct rt_rules {
    size_t n;
    uint64_t id;    /* tells rule sets apart in the verdict memo; never reused */
    bool any_regex; /* the text form of the name is needed */
    struct rt_rules_rule rules[];
};

/* A regular expression costs several times the rest of routing, and the same names come
 * again and again (the caches behind the router ask what their clients ask), so where a rule
 * set has one, each thread remembers its last verdicts in a direct-mapped table keyed by the
 * rule set, the name as it came on the wire and the type. A name that maps to a busy slot
 * evicts it; the worst case is the cost without the table. */
#define RT_RULES_MEMO_SLOTS 1024
#define RT_RULES_MEMO_NAME 64 /* ours: longer names are matched every time */

struct rt_rules_memo_slot {
    uint64_t rules_id; /* 0: empty */
    uint16_t qtype;
    int16_t verdict;
    uint8_t name_len;
    uint8_t name[RT_RULES_MEMO_NAME];
};

static _Thread_local struct rt_rules_memo_slot rt_rules_memo[RT_RULES_MEMO_SLOTS];
static atomic_uint_fast64_t rt_rules_next_id = 1;

/* Parses the space/comma separated names of a suffix list or a pkarr tld. */
static int rt_rules_names(struct rt_rules_match *m, const char *text)
{
    char buf[RT_ARENA_BYTES];
    char *item, *save = NULL;
    size_t len, most = 1;

    for (const char *p = text; *p != '\0'; p++) {
        most += *p == ' ' || *p == ',' || *p == '\t';
    }
    m->names = calloc(most, sizeof(m->names[0]));
    m->name_lens = calloc(most, 1);
    if (m->names == NULL || m->name_lens == NULL) {
        return -ENOMEM;
    }
    snprintf(buf, sizeof(buf), "%s", text);
    for (item = strtok_r(buf, " ,\t", &save); item != NULL; item = strtok_r(NULL, " ,\t", &save)) {
        if (m->n_names == most || dns_name_from_text(item, m->names[m->n_names], &len) != 0) {
            return -EINVAL;
        }
        m->name_lens[m->n_names++] = (uint8_t)len;
    }
    return 0;
}

static int rt_rules_compile(const struct rt_config *cfg, const struct rt_match_config *mc,
                            struct rt_rules_match *m)
{
    const char *text = rt_config_text(cfg, mc->text);

    m->kind = mc->kind;
    memcpy(m->qtypes, mc->qtypes, sizeof(m->qtypes));
    m->n_qtypes = mc->n_qtypes;
    switch (mc->kind) {
    case RT_MATCH_REGEX:
        /* As dnsdist's RegexRule: POSIX extended, case-insensitive, unanchored. The
         * configuration's check refused the patterns too costly to compile. */
        if (rt_regex_nodes(text) > RT_REGEX_NODES_MAX) {
            return -E2BIG;
        }
        if (regcomp(&m->regex, text, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
            return -EINVAL;
        }
        m->has_regex = true;
        return 0;
    case RT_MATCH_SUFFIX:
    case RT_MATCH_PKARR:
        return rt_rules_names(m, text);
    default:
        return 0;
    }
}

int rt_rules_new(const struct rt_config *cfg, struct rt_rules **out)
{
    struct rt_rules *r = calloc(1, sizeof(*r) + cfg->n_rules * sizeof(r->rules[0]));
    int rc = 0;

    if (r == NULL) {
        return -ENOMEM;
    }
    r->id = atomic_fetch_add(&rt_rules_next_id, 1);
    for (size_t i = 0; i < cfg->n_rules && rc == 0; i++) {
        const struct rt_rule_config *rc_rule = &cfg->rules[i];
        r->n = i + 1;
        for (size_t m = 0; m < rc_rule->n_match && rc == 0; m++) {
            r->rules[i].n_match = m + 1;
            rc = rt_rules_compile(cfg, &rc_rule->match[m], &r->rules[i].match[m]);
            r->any_regex = r->any_regex || rc_rule->match[m].kind == RT_MATCH_REGEX;
        }
    }
    if (rc != 0) {
        rt_rules_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void rt_rules_free(struct rt_rules *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        for (size_t m = 0; m < r->rules[i].n_match; m++) {
            struct rt_rules_match *match = &r->rules[i].match[m];
            if (match->has_regex) {
                regfree(&match->regex);
            }
            free(match->names);
            free(match->name_lens);
        }
    }
    free(r);
}

static bool rt_rules_one(const struct rt_rules_match *m, const struct dns_query *q,
                         const char *text)
{
    switch (m->kind) {
    case RT_MATCH_ALL:
        return true;
    case RT_MATCH_REGEX:
        return regexec(&m->regex, text, 0, NULL, 0) == 0;
    case RT_MATCH_SUFFIX:
        for (size_t i = 0; i < m->n_names; i++) {
            if (dns_name_is_under(q->q.name, q->q.name_len, m->names[i], m->name_lens[i])) {
                return true;
            }
        }
        return false;
    case RT_MATCH_QTYPE:
        for (size_t i = 0; i < m->n_qtypes; i++) {
            if (m->qtypes[i] == q->q.qtype) {
                return true;
            }
        }
        return false;
    case RT_MATCH_PKARR:
        /* Where a name goes needs no subgroup check: a decodable point will do. */
        return pkarr_name_find_plausible(q->q.name, q->q.name_len,
                                         m->n_names > 0 ? m->names[0] : NULL,
                                         m->n_names > 0 ? m->name_lens[0] : 0, NULL) >= 0;
    }
    return false;
}

/* Tries the rules in order; text is the name's text form when a regex needs it. */
static int rt_rules_first(const struct rt_rules *r, const struct dns_query *q, const char *text)
{
    for (size_t i = 0; i < r->n; i++) {
        size_t m = 0;
        while (m < r->rules[i].n_match && rt_rules_one(&r->rules[i].match[m], q, text)) {
            m++;
        }
        if (m == r->rules[i].n_match) {
            return (int)i;
        }
    }
    return -1;
}

/* The memo slot of q's name and type (FNV-1a; a crafted collision only evicts). */
static struct rt_rules_memo_slot *rt_rules_memo_slot(const struct dns_query *q)
{
    uint32_t h = 2166136261u ^ q->q.qtype;

    for (size_t i = 0; i < q->q.name_len; i++) {
        h = (h ^ q->q.name[i]) * 16777619u;
    }
    return &rt_rules_memo[h % RT_RULES_MEMO_SLOTS];
}

/* Matches by the rules, the regex reading the name as dnsdist does. */
static int rt_rules_match_text(const struct rt_rules *r, const struct dns_query *q)
{
    char text[DNS_NAME_TEXT_MAX];

    /* dnsdist matches the name as text without its trailing dot ("" for the root, and for a
     * name that has no text form, whose partial output is cut off here). */
    int len = dns_name_to_text(q->q.name, q->q.name_len, text, sizeof(text));
    text[len > 0 ? len - 1 : 0] = '\0';
    return rt_rules_first(r, q, text);
}

int rt_rules_match(const struct rt_rules *r, const struct dns_query *q)
{
    struct rt_rules_memo_slot *slot;
    int verdict;

    /* Only the regex reads the text form, so only then is it written, and remembered. */
    if (!r->any_regex) {
        return rt_rules_first(r, q, "");
    }
    if (q->q.name_len > RT_RULES_MEMO_NAME) {
        return rt_rules_match_text(r, q);
    }
    slot = rt_rules_memo_slot(q);
    if (slot->rules_id == r->id && slot->qtype == q->q.qtype && slot->name_len == q->q.name_len &&
        memcmp(slot->name, q->q.name, q->q.name_len) == 0) {
        return slot->verdict;
    }
    verdict = rt_rules_match_text(r, q);
    slot->rules_id = r->id;
    slot->qtype = q->q.qtype;
    slot->verdict = (int16_t)verdict;
    slot->name_len = (uint8_t)q->q.name_len;
    memcpy(slot->name, q->q.name, q->q.name_len);
    return verdict;
}
