#include "rt_names.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "conf.h"

struct rt_names_entry {
    const char *name;
    uint16_t value;
};

/* IANA "Resource Record (RR) TYPEs" registry: the types a router rule is likely to name. */
static const struct rt_names_entry rt_names_qtypes[] = {
    {"A", 1},       {"NS", 2},     {"CNAME", 5},  {"SOA", 6},    {"PTR", 12},     {"HINFO", 13},
    {"MX", 15},     {"TXT", 16},   {"AAAA", 28},  {"LOC", 29},   {"SRV", 33},     {"NAPTR", 35},
    {"DNAME", 39},  {"OPT", 41},   {"DS", 43},    {"SSHFP", 44}, {"RRSIG", 46},   {"NSEC", 47},
    {"DNSKEY", 48}, {"NSEC3", 50}, {"TLSA", 52},  {"CDS", 59},   {"CDNSKEY", 60}, {"SVCB", 64},
    {"HTTPS", 65},  {"SPF", 99},   {"IXFR", 251}, {"AXFR", 252}, {"ANY", 255},    {"CAA", 257},
};

/* IANA "DNS RCODEs" registry, the 4-bit header values (RFC 1035 4.1.1, RFC 2136). */
static const struct rt_names_entry rt_names_rcodes[] = {
    {"NOERROR", 0}, {"FORMERR", 1}, {"SERVFAIL", 2}, {"NXDOMAIN", 3},
    {"NOTIMP", 4},  {"REFUSED", 5}, {"YXDOMAIN", 6}, {"YXRRSET", 7},
    {"NXRRSET", 8}, {"NOTAUTH", 9}, {"NOTZONE", 10},
};

#define RT_NAMES_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int rt_names_lookup(const struct rt_names_entry *table, size_t n, const char *text,
                           uint16_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(table[i].name, text) == 0) {
            *out = table[i].value;
            return 0;
        }
    }
    return -EINVAL;
}

int rt_names_parse_qtype(const char *text, uint16_t *out)
{
    uint64_t v;

    if (rt_names_lookup(rt_names_qtypes, RT_NAMES_COUNT(rt_names_qtypes), text, out) == 0) {
        return 0;
    }
    /* RFC 3597 5: TYPE<n> names any type. */
    if (strncasecmp(text, "TYPE", 4) == 0) {
        text += 4;
    }
    if (conf_parse_uint(text, 1, 65535, &v) != 0) {
        return -EINVAL;
    }
    *out = (uint16_t)v;
    return 0;
}

int rt_names_parse_rcode(const char *text, uint16_t *out)
{
    uint64_t v;

    if (rt_names_lookup(rt_names_rcodes, RT_NAMES_COUNT(rt_names_rcodes), text, out) == 0) {
        return 0;
    }
    if (conf_parse_uint(text, 0, 15, &v) != 0) {
        return -EINVAL;
    }
    *out = (uint16_t)v;
    return 0;
}

static const char *rt_names_find(const struct rt_names_entry *table, size_t n, uint16_t value)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].value == value) {
            return table[i].name;
        }
    }
    return NULL;
}

const char *rt_names_qtype(uint16_t qtype, char *buf, size_t cap)
{
    const char *name = rt_names_find(rt_names_qtypes, RT_NAMES_COUNT(rt_names_qtypes), qtype);

    if (name != NULL) {
        snprintf(buf, cap, "%s", name);
    } else {
        snprintf(buf, cap, "TYPE%u", (unsigned)qtype);
    }
    return buf;
}

const char *rt_names_rcode(uint16_t rcode, char *buf, size_t cap)
{
    const char *name = rt_names_find(rt_names_rcodes, RT_NAMES_COUNT(rt_names_rcodes), rcode);

    if (name != NULL) {
        snprintf(buf, cap, "%s", name);
    } else {
        snprintf(buf, cap, "%u", (unsigned)rcode);
    }
    return buf;
}
