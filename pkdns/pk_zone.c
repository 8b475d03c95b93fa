#include "pk_zone.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_name.h"
#include "pk_zone_int.h"
#include "zbase32.h"

#define PK_ZONE_TTL_MAX 2147483647u /* RFC 2181 8: a TTL is at most 2^31 - 1 */

int pk_zone_fail(struct pk_zone *z, const char *fmt, ...)
{
    va_list ap;

    z->err->line = z->entry_line;
    va_start(ap, fmt);
    vsnprintf(z->err->message, sizeof(z->err->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int pk_zone_number(const struct pk_zone_token *t, uint32_t max, uint32_t *out)
{
    uint64_t n = 0;

    if (t->len == 0 || t->len > 10) {
        return -EINVAL;
    }
    for (size_t i = 0; i < t->len; i++) {
        if (t->text[i] < '0' || t->text[i] > '9') {
            return -EINVAL;
        }
        n = n * 10 + (uint64_t)(t->text[i] - '0');
    }
    if (n > max) {
        return -EINVAL;
    }
    *out = (uint32_t)n;
    return 0;
}

/* True when the name ends with a dot that no backslash escapes. */
static bool pk_zone_absolute(const struct pk_zone_token *t)
{
    size_t slashes = 0;

    if (t->len == 0 || t->text[t->len - 1] != '.') {
        return false;
    }
    while (slashes + 1 < t->len && t->text[t->len - 2 - slashes] == '\\') {
        slashes++;
    }
    return slashes % 2 == 0;
}

int pk_zone_name(struct pk_zone *z, const struct pk_zone_token *t, uint8_t *out, size_t *out_len)
{
    uint8_t wire[DNS_NAME_MAX];
    size_t wire_len;

    if (strcmp(t->text, "@") == 0) {
        memcpy(out, z->origin, z->origin_len);
        *out_len = z->origin_len;
        return 0;
    }
    if (dns_name_from_text(t->text, wire, &wire_len) != 0) {
        return pk_zone_fail(z, "'%s' is not a domain name", t->text);
    }
    if (pk_zone_absolute(t)) {
        memcpy(out, wire, wire_len);
        *out_len = wire_len;
        return 0;
    }
    if (wire_len - 1 + z->origin_len > DNS_NAME_MAX) {
        return pk_zone_fail(z, "'%s' is longer than 255 bytes with the origin", t->text);
    }
    memcpy(out, wire, wire_len - 1);
    memcpy(out + wire_len - 1, z->origin, z->origin_len);
    *out_len = wire_len - 1 + z->origin_len;
    return 0;
}

/* Seconds, or a sum of numbers with BIND's units: 1w2d3h4m5s. */
static bool pk_zone_ttl(const struct pk_zone_token *t, uint32_t *out)
{
    static const char units[] = "smhdw";
    static const uint64_t seconds[] = {1, 60, 3600, 86400, 604800};
    uint64_t total = 0, n = 0;
    bool digits = false, unit = false;

    for (size_t i = 0; i < t->len; i++) {
        char c = t->text[i];
        const char *u = strchr(units, c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        if (c >= '0' && c <= '9') {
            n = n * 10 + (uint64_t)(c - '0');
            digits = true;
        } else if (u != NULL && c != '\0' && digits) {
            total += n * seconds[u - units];
            n = 0;
            digits = false;
            unit = true;
        } else {
            return false;
        }
        if (n > PK_ZONE_TTL_MAX || total > PK_ZONE_TTL_MAX) {
            return false;
        }
    }
    if (digits == unit) { /* nothing at all, or a bare number after units */
        return false;
    }
    total += n;
    if (total > PK_ZONE_TTL_MAX) {
        return false;
    }
    *out = (uint32_t)total;
    return true;
}

static int pk_zone_directive(struct pk_zone *z)
{
    const struct pk_zone_token *t = z->tokens;

    if (strcasecmp(t[0].text, "$INCLUDE") == 0) {
        return pk_zone_fail(z, "$INCLUDE is not supported");
    }
    if (strcasecmp(t[0].text, "$ORIGIN") != 0 && strcasecmp(t[0].text, "$TTL") != 0) {
        return pk_zone_fail(z, "unknown directive %s", t[0].text);
    }
    if (z->n_tokens != 2) {
        return pk_zone_fail(z, "%s takes one value", t[0].text);
    }
    if (strcasecmp(t[0].text, "$TTL") == 0) {
        if (!pk_zone_ttl(&t[1], &z->default_ttl)) {
            return pk_zone_fail(z, "$TTL: '%s' is not a TTL", t[1].text);
        }
        return 0;
    }
    /* A relative $ORIGIN is read against the old one: build it apart first. */
    uint8_t origin[DNS_NAME_MAX];
    size_t origin_len;
    if (pk_zone_name(z, &t[1], origin, &origin_len) != 0) {
        return -EINVAL;
    }
    memcpy(z->origin, origin, origin_len);
    z->origin_len = origin_len;
    return 0;
}

/* Cuts an absolute owner down to its part before the key label. */
static int pk_zone_relative(struct pk_zone *z, const uint8_t *owner, size_t len, uint8_t *rel,
                            size_t *rel_len)
{
    char text[DNS_NAME_TEXT_MAX];
    size_t at = 0, last = 0;

    while (at < len && owner[at] != 0) {
        last = at;
        at += 1u + owner[at];
    }
    if (at == 0 || owner[last] != PKARR_KEY_TEXT_LEN ||
        strncasecmp((const char *)owner + last + 1, z->key_text, PKARR_KEY_TEXT_LEN) != 0) {
        dns_name_to_text(owner, len, text, sizeof(text));
        return pk_zone_fail(z, "%s is not under the key %s", text, z->key_text);
    }
    memcpy(rel, owner, last);
    rel[last] = 0;
    *rel_len = last + 1;
    return 0;
}

/* The owner, TTL and class that precede the type; sets *type_at to the type's token. */
static int pk_zone_record_head(struct pk_zone *z, uint32_t *ttl, size_t *type_at)
{
    size_t i = 0;
    bool ttl_seen = false, class_seen = false;

    if (z->indented && z->owner_len == 0) {
        return pk_zone_fail(z, "an indented line needs an owner on a line above");
    }
    if (!z->indented && pk_zone_name(z, &z->tokens[i++], z->owner, &z->owner_len) != 0) {
        return -EINVAL;
    }
    *ttl = z->default_ttl;
    for (; i < z->n_tokens; i++) {
        const struct pk_zone_token *t = &z->tokens[i];
        if (!ttl_seen && pk_zone_ttl(t, ttl)) {
            ttl_seen = true;
        } else if (!class_seen && strcasecmp(t->text, "IN") == 0) {
            class_seen = true;
        } else if (!class_seen &&
                   (strcasecmp(t->text, "CH") == 0 || strcasecmp(t->text, "HS") == 0 ||
                    strcasecmp(t->text, "CS") == 0)) {
            return pk_zone_fail(z, "class %s: pkarr records are class IN", t->text);
        } else {
            break;
        }
    }
    if (i == z->n_tokens) {
        return pk_zone_fail(z, "no record type");
    }
    *type_at = i;
    return 0;
}

static int pk_zone_record(struct pk_zone *z, struct pk_rr_set *out)
{
    uint8_t rdata[PK_RR_RDATA_MAX];
    uint8_t rel[DNS_NAME_MAX];
    struct pk_rr rr = {.rclass = DNS_CLASS_IN, .name = rel, .rdata = rdata};
    size_t type_at = 0;
    int n;

    if (pk_zone_record_head(z, &rr.ttl, &type_at) != 0) {
        return -EINVAL;
    }
    rr.type = pk_zone_rdata_type(z->tokens[type_at].text);
    if (rr.type == 0) {
        return pk_zone_fail(z, "unsupported record type '%s'", z->tokens[type_at].text);
    }
    n = pk_zone_rdata_parse(z, rr.type, z->tokens + type_at + 1, z->n_tokens - type_at - 1, rdata,
                            sizeof(rdata));
    if (n < 0 || pk_zone_relative(z, z->owner, z->owner_len, rel, &rr.name_len) != 0) {
        return -EINVAL;
    }
    rr.rdlength = (uint16_t)n;
    if (pk_rr_set_add(out, &rr) != 0) {
        return pk_zone_fail(z, "more records than a packet holds (%d)", PK_RR_SET_MAX);
    }
    return 0;
}

/* The whole zone must fit the packet we publish. */
static int pk_zone_check_size(struct pk_zone *z, const struct pk_rr_set *out,
                              const uint8_t key[PK_PACKET_KEY_LEN])
{
    uint8_t msg[4096];
    int n = pk_packet_build_message(out, key, msg, sizeof(msg));

    z->entry_line = 0;
    if (n == -ENOSPC || (n > PK_PACKET_PUBLISH_MAX)) {
        return pk_zone_fail(z,
                            "the records make a DNS message of %s%d bytes; a pkarr packet holds "
                            "%d (BEP 44 allows 1000 bytes with the bencoded length)",
                            n < 0 ? "over " : "", n < 0 ? (int)sizeof(msg) : n,
                            PK_PACKET_PUBLISH_MAX);
    }
    if (n < 0) {
        return pk_zone_fail(z, "the records do not make a DNS message (an owner too long?)");
    }
    return 0;
}

static int pk_zone_run(struct pk_zone *z, struct pk_rr_set *out,
                       const uint8_t key[PK_PACKET_KEY_LEN])
{
    int rc;

    while ((rc = pk_zone_lex_entry(z)) == 1) {
        bool directive = !z->indented && !z->tokens[0].quoted && z->tokens[0].text[0] == '$';
        rc = directive ? pk_zone_directive(z) : pk_zone_record(z, out);
        if (rc != 0) {
            return -EINVAL;
        }
    }
    if (rc < 0) {
        return -EINVAL;
    }
    return pk_zone_check_size(z, out, key);
}

int pk_zone_read(const char *text, size_t len, const uint8_t key[PK_PACKET_KEY_LEN],
                 struct pk_rr_set *out, struct pk_zone_error *err)
{
    struct pk_zone *z = calloc(1, sizeof(*z));
    int rc;

    err->line = 0;
    err->message[0] = '\0';
    pk_rr_set_init(out);
    if (z == NULL) {
        snprintf(err->message, sizeof(err->message), "out of memory");
        return -ENOMEM;
    }
    z->text = text;
    z->len = len;
    z->err = err;
    z->default_ttl = PK_ZONE_DEFAULT_TTL;
    zbase32_encode(key, PK_PACKET_KEY_LEN, z->key_text, sizeof(z->key_text));
    /* The implicit "$ORIGIN <key>." */
    z->origin[0] = PKARR_KEY_TEXT_LEN;
    memcpy(z->origin + 1, z->key_text, PKARR_KEY_TEXT_LEN);
    z->origin[PKARR_KEY_TEXT_LEN + 1] = 0;
    z->origin_len = PKARR_KEY_TEXT_LEN + 2;

    rc = pk_zone_run(z, out, key);
    free(z);
    return rc;
}
