#include "pk_rr.h"

#include <errno.h>
#include <string.h>

#include "dns.h"
#include "dns_msg.h"
#include "dns_name.h"

#define PK_RR_TYPE_DNAME 39 /* RFC 6672 */

/* Where the names sit in the RDATA of a type that carries them: `before` octets, then `names`
 * names, then exactly `after` octets. */
struct pk_rr_shape {
    uint16_t type;
    uint8_t before;
    uint8_t names;
    uint8_t after;
    bool compressible; /* RFC 3597 4: only the RFC 1035 types may be compressed */
};

static const struct pk_rr_shape pk_rr_shapes[] = {
    {DNS_TYPE_NS, 0, 1, 0, true},       /* RFC 1035 3.3.11: NSDNAME */
    {DNS_TYPE_CNAME, 0, 1, 0, true},    /* RFC 1035 3.3.1: CNAME */
    {DNS_TYPE_SOA, 0, 2, 20, true},     /* RFC 1035 3.3.13: MNAME RNAME, five 32-bit fields */
    {DNS_TYPE_PTR, 0, 1, 0, true},      /* RFC 1035 3.3.12: PTRDNAME */
    {DNS_TYPE_MX, 2, 1, 0, true},       /* RFC 1035 3.3.9: PREFERENCE EXCHANGE */
    {DNS_TYPE_SRV, 6, 1, 0, false},     /* RFC 2782: priority weight port target */
    {PK_RR_TYPE_DNAME, 0, 1, 0, false}, /* RFC 6672 2.1: target, never compressed */
};

static const struct pk_rr_shape *pk_rr_shape_of(uint16_t type)
{
    for (size_t i = 0; i < sizeof(pk_rr_shapes) / sizeof(pk_rr_shapes[0]); i++) {
        if (pk_rr_shapes[i].type == type) {
            return &pk_rr_shapes[i];
        }
    }
    return NULL;
}

int pk_rr_write_rdata(struct dns_writer *w, const uint8_t *msg, size_t len, uint16_t type,
                      size_t rdata_pos, uint16_t rdlength, bool compress)
{
    const struct pk_rr_shape *shape = pk_rr_shape_of(type);
    uint8_t name[DNS_NAME_MAX];
    size_t name_len;
    size_t at = rdata_pos;
    size_t end = rdata_pos + rdlength;

    if (rdata_pos > len || len - rdata_pos < rdlength) {
        return -EBADMSG;
    }
    if (shape == NULL) {
        dns_writer_bytes(w, msg + rdata_pos, rdlength);
        return 0;
    }
    if (end - at < shape->before) {
        return -EBADMSG;
    }
    dns_writer_bytes(w, msg + at, shape->before);
    at += shape->before;
    for (unsigned i = 0; i < shape->names; i++) {
        /* Reading against `end` keeps the name inside the RDATA; its pointers may still reach
         * back into the rest of the message. */
        if (dns_name_read(msg, end, &at, name, &name_len) != 0) {
            return -EBADMSG;
        }
        dns_writer_name(w, name, name_len, compress && shape->compressible);
    }
    if (end - at != shape->after) {
        return -EBADMSG;
    }
    dns_writer_bytes(w, msg + at, shape->after);
    return 0;
}

int pk_rr_expand(const uint8_t *msg, size_t len, uint16_t type, size_t rdata_pos, uint16_t rdlength,
                 uint8_t *out, size_t cap)
{
    struct dns_writer w;
    int rc;

    dns_writer_init(&w, out, cap);
    rc = pk_rr_write_rdata(&w, msg, len, type, rdata_pos, rdlength, false);
    if (rc < 0) {
        return rc;
    }
    rc = dns_writer_finish(&w);
    if (rc < 0 || rc > UINT16_MAX) {
        return -EMSGSIZE;
    }
    return rc;
}

int pk_rr_copy(struct dns_writer *w, const uint8_t *msg, size_t len, size_t *pos)
{
    struct dns_rr rr;
    size_t mark;

    if (dns_msg_rr(msg, len, pos, &rr) != 0) {
        return -EBADMSG;
    }
    mark = dns_writer_rr_begin(w, rr.name, rr.name_len, rr.type, rr.rclass, rr.ttl);
    if (pk_rr_write_rdata(w, msg, len, rr.type, rr.rdata_pos, rr.rdlength, true) != 0) {
        return -EBADMSG;
    }
    dns_writer_rr_end(w, mark);
    return 0;
}

void pk_rr_write(struct dns_writer *w, const struct pk_rr *rr, const uint8_t *owner,
                 size_t owner_len, uint32_t ttl)
{
    size_t mark = dns_writer_rr_begin(w, owner, owner_len, rr->type, rr->rclass, ttl);

    /* A stored RDATA holds its names in full, so it is its own message here. A malformed one
     * never got into a set, but a failure must still not leave a half record behind. */
    if (pk_rr_write_rdata(w, rr->rdata, rr->rdlength, rr->type, 0, rr->rdlength, true) != 0) {
        w->err = w->err != 0 ? w->err : -EINVAL;
        return;
    }
    dns_writer_rr_end(w, mark);
}

void pk_rr_set_init(struct pk_rr_set *s)
{
    s->count = 0;
    s->used = 0;
}

int pk_rr_set_add(struct pk_rr_set *s, const struct pk_rr *rr)
{
    struct pk_rr *slot;

    if (s->count == PK_RR_SET_MAX || sizeof(s->arena) - s->used < rr->name_len ||
        sizeof(s->arena) - s->used - rr->name_len < rr->rdlength) {
        return -ENOSPC;
    }
    slot = &s->rr[s->count];
    *slot = *rr;
    slot->name = memcpy(s->arena + s->used, rr->name, rr->name_len);
    s->used += rr->name_len;
    slot->rdata = s->arena + s->used;
    if (rr->rdlength > 0) {
        memcpy(s->arena + s->used, rr->rdata, rr->rdlength);
    }
    s->used += rr->rdlength;
    s->count++;
    return 0;
}
