/* RDATA of the record types a zone may hold, from their presentation form (RFC 1035 3.3 and
 * 5.1, RFC 3596 for AAAA, RFC 2782 for SRV, RFC 9460 for SVCB and HTTPS). */
#include <arpa/inet.h>
#include <errno.h>
#include <strings.h>

#include "dns_writer.h"
#include "pk_zone_int.h"

#define PK_ZONE_STRING_MAX 255 /* RFC 1035 3.3: a <character-string> holds 255 octets */

static const struct {
    const char *mnemonic;
    uint16_t type;
} pk_zone_rdata_types[] = {
    {"A", DNS_TYPE_A},         {"NS", DNS_TYPE_NS},   {"CNAME", DNS_TYPE_CNAME},
    {"PTR", DNS_TYPE_PTR},     {"MX", DNS_TYPE_MX},   {"TXT", DNS_TYPE_TXT},
    {"AAAA", DNS_TYPE_AAAA},   {"SRV", DNS_TYPE_SRV}, {"SVCB", DNS_TYPE_SVCB},
    {"HTTPS", DNS_TYPE_HTTPS},
};

uint16_t pk_zone_rdata_type(const char *mnemonic)
{
    for (size_t i = 0; i < sizeof(pk_zone_rdata_types) / sizeof(pk_zone_rdata_types[0]); i++) {
        if (strcasecmp(mnemonic, pk_zone_rdata_types[i].mnemonic) == 0) {
            return pk_zone_rdata_types[i].type;
        }
    }
    return 0;
}

static int pk_zone_rdata_u16(struct pk_zone *z, const struct pk_zone_token *t, const char *what,
                             struct dns_writer *w)
{
    uint32_t v;

    if (pk_zone_number(t, UINT16_MAX, &v) != 0) {
        return pk_zone_fail(z, "%s: '%s' is not a number from 0 to 65535", what, t->text);
    }
    dns_writer_u16(w, (uint16_t)v);
    return 0;
}

static int pk_zone_rdata_name(struct pk_zone *z, const struct pk_zone_token *t,
                              struct dns_writer *w)
{
    uint8_t name[DNS_NAME_MAX];
    size_t len;

    if (pk_zone_name(z, t, name, &len) != 0) {
        return -EINVAL;
    }
    dns_writer_name(w, name, len, false);
    return 0;
}

static int pk_zone_rdata_address(struct pk_zone *z, uint16_t type, const struct pk_zone_token *t,
                                 struct dns_writer *w)
{
    uint8_t bytes[16];
    int family = type == DNS_TYPE_A ? AF_INET : AF_INET6;

    if (inet_pton(family, t->text, bytes) != 1) {
        return pk_zone_fail(z, "'%s' is not an %s address", t->text,
                            type == DNS_TYPE_A ? "IPv4" : "IPv6");
    }
    dns_writer_bytes(w, bytes, type == DNS_TYPE_A ? 4 : 16);
    return 0;
}

/* One or more <character-string>s, quoted or bare. */
static int pk_zone_rdata_txt(struct pk_zone *z, const struct pk_zone_token *t, size_t n,
                             struct dns_writer *w)
{
    uint8_t s[PK_ZONE_STRING_MAX];

    for (size_t i = 0; i < n; i++) {
        int len = pk_zone_lex_unescape(z, &t[i], s, sizeof(s));
        if (len < 0) {
            return -EINVAL;
        }
        dns_writer_u8(w, (uint8_t)len);
        dns_writer_bytes(w, s, (size_t)len);
    }
    return 0;
}

/* How many words each type takes after its mnemonic; SVCB and HTTPS take params beyond. */
static int pk_zone_rdata_arity(struct pk_zone *z, uint16_t type, size_t n)
{
    size_t want = 1;

    switch (type) {
    case DNS_TYPE_MX:
        want = 2;
        break;
    case DNS_TYPE_SRV:
        want = 4;
        break;
    case DNS_TYPE_TXT:
        return n >= 1 ? 0 : pk_zone_fail(z, "TXT needs at least one string");
    case DNS_TYPE_SVCB:
    case DNS_TYPE_HTTPS:
        return n >= 2 ? 0 : pk_zone_fail(z, "SVCB and HTTPS need a priority and a target");
    default:
        break;
    }
    if (n != want) {
        return pk_zone_fail(z, "this type takes %zu value%s, not %zu", want, want == 1 ? "" : "s",
                            n);
    }
    return 0;
}

static int pk_zone_rdata_fields(struct pk_zone *z, uint16_t type, const struct pk_zone_token *t,
                                size_t n, struct dns_writer *w)
{
    uint8_t params[PK_RR_RDATA_MAX];
    int len;

    switch (type) {
    case DNS_TYPE_A:
    case DNS_TYPE_AAAA:
        return pk_zone_rdata_address(z, type, &t[0], w);
    case DNS_TYPE_NS:
    case DNS_TYPE_CNAME:
    case DNS_TYPE_PTR:
        return pk_zone_rdata_name(z, &t[0], w);
    case DNS_TYPE_MX:
        if (pk_zone_rdata_u16(z, &t[0], "MX preference", w) != 0) {
            return -EINVAL;
        }
        return pk_zone_rdata_name(z, &t[1], w);
    case DNS_TYPE_SRV:
        if (pk_zone_rdata_u16(z, &t[0], "SRV priority", w) != 0 ||
            pk_zone_rdata_u16(z, &t[1], "SRV weight", w) != 0 ||
            pk_zone_rdata_u16(z, &t[2], "SRV port", w) != 0) {
            return -EINVAL;
        }
        return pk_zone_rdata_name(z, &t[3], w);
    case DNS_TYPE_TXT:
        return pk_zone_rdata_txt(z, t, n, w);
    default: /* SVCB, HTTPS: SvcPriority TargetName SvcParams (RFC 9460 2.1) */
        if (pk_zone_rdata_u16(z, &t[0], "priority", w) != 0 ||
            pk_zone_rdata_name(z, &t[1], w) != 0) {
            return -EINVAL;
        }
        len = pk_zone_svcb_params(z, t + 2, n - 2, params, sizeof(params));
        if (len < 0) {
            return -EINVAL;
        }
        dns_writer_bytes(w, params, (size_t)len);
        return 0;
    }
}

int pk_zone_rdata_parse(struct pk_zone *z, uint16_t type, const struct pk_zone_token *t, size_t n,
                        uint8_t *out, size_t cap)
{
    struct dns_writer w;
    int len;

    if (pk_zone_rdata_arity(z, type, n) != 0) {
        return -EINVAL;
    }
    dns_writer_init(&w, out, cap);
    if (pk_zone_rdata_fields(z, type, t, n, &w) != 0) {
        return -EINVAL;
    }
    len = dns_writer_finish(&w);
    if (len < 0) {
        return pk_zone_fail(z, "record data longer than %zu bytes", cap);
    }
    return len;
}
