#include "dns_writer.h"

#include <errno.h>
#include <string.h>

#include "dns_name.h"

/* RFC 1035 4.1.4: a pointer holds a 14-bit offset. */
#define DNS_WRITER_POINTER_LIMIT 0x3fffu

void dns_writer_init(struct dns_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
    w->n_targets = 0;
}

static bool dns_writer_room(struct dns_writer *w, size_t n)
{
    if (w->err != 0) {
        return false;
    }
    if (w->cap - w->len < n) {
        w->err = -ENOSPC;
        return false;
    }
    return true;
}

void dns_writer_bytes(struct dns_writer *w, const void *data, size_t len)
{
    if (len != 0 && dns_writer_room(w, len)) {
        memcpy(w->buf + w->len, data, len);
        w->len += len;
    }
}

void dns_writer_u8(struct dns_writer *w, uint8_t v)
{
    dns_writer_bytes(w, &v, 1);
}

void dns_writer_u16(struct dns_writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    dns_writer_bytes(w, b, sizeof(b));
}

void dns_writer_u32(struct dns_writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    dns_writer_bytes(w, b, sizeof(b));
}

void dns_writer_header(struct dns_writer *w, const struct dns_header *h)
{
    dns_writer_u16(w, h->id);
    dns_writer_u16(w, h->flags);
    dns_writer_u16(w, h->qdcount);
    dns_writer_u16(w, h->ancount);
    dns_writer_u16(w, h->nscount);
    dns_writer_u16(w, h->arcount);
}

/* Finds an earlier name in the buffer equal to the suffix `name[0..len)`. */
static int dns_writer_find_target(const struct dns_writer *w, const uint8_t *name, size_t len)
{
    uint8_t seen[DNS_NAME_MAX];
    size_t seen_len;

    for (size_t i = 0; i < w->n_targets; i++) {
        size_t pos = w->targets[i];
        if (dns_name_read(w->buf, w->len, &pos, seen, &seen_len) == 0 &&
            dns_name_equal(seen, seen_len, name, len)) {
            return w->targets[i];
        }
    }
    return -1;
}

void dns_writer_name(struct dns_writer *w, const uint8_t *name, size_t len, bool compress)
{
    size_t at = 0;

    if (len == 0 || len > DNS_NAME_MAX) {
        w->err = w->err != 0 ? w->err : -EINVAL;
        return;
    }
    while (at < len && name[at] != 0) {
        if (compress) {
            int target = dns_writer_find_target(w, name + at, len - at);
            if (target >= 0) {
                dns_writer_u16(w, (uint16_t)(0xc000u | (unsigned)target));
                return;
            }
            if (w->len <= DNS_WRITER_POINTER_LIMIT && w->n_targets < DNS_WRITER_COMPRESS_MAX &&
                w->err == 0) {
                w->targets[w->n_targets++] = (uint16_t)w->len;
            }
        }
        size_t label = 1u + name[at];
        if (at + label > len) {
            w->err = w->err != 0 ? w->err : -EINVAL;
            return;
        }
        dns_writer_bytes(w, name + at, label);
        at += label;
    }
    dns_writer_u8(w, 0);
}

void dns_writer_question(struct dns_writer *w, const uint8_t *name, size_t len, uint16_t qtype,
                         uint16_t qclass)
{
    dns_writer_name(w, name, len, true);
    dns_writer_u16(w, qtype);
    dns_writer_u16(w, qclass);
}

size_t dns_writer_rr_begin(struct dns_writer *w, const uint8_t *name, size_t len, uint16_t type,
                           uint16_t rclass, uint32_t ttl)
{
    dns_writer_name(w, name, len, true);
    dns_writer_u16(w, type);
    dns_writer_u16(w, rclass);
    dns_writer_u32(w, ttl);
    dns_writer_u16(w, 0);
    return w->len;
}

void dns_writer_rr_end(struct dns_writer *w, size_t mark)
{
    if (w->err != 0 || mark < 2 || mark > w->len) {
        return;
    }
    size_t rdlength = w->len - mark;
    if (rdlength > UINT16_MAX) {
        w->err = -EINVAL;
        return;
    }
    w->buf[mark - 2] = (uint8_t)(rdlength >> 8);
    w->buf[mark - 1] = (uint8_t)rdlength;
}

void dns_writer_opt(struct dns_writer *w, uint16_t udp_payload, bool do_bit, uint16_t ede_code,
                    const char *ede_text)
{
    static const uint8_t root = 0;
    /* RFC 6891 6.1.2/6.1.3: CLASS carries the payload size, TTL the extended rcode, version
     * and flags. */
    size_t mark =
        dns_writer_rr_begin(w, &root, 1, DNS_TYPE_OPT, udp_payload, do_bit ? DNS_EDNS_DO : 0);

    if (ede_code != DNS_EDE_NONE) {
        size_t text_len = ede_text != NULL ? strlen(ede_text) : 0;
        if (text_len > 200) {
            text_len = 200;
        }
        dns_writer_u16(w, DNS_EDNS_OPTION_EDE);
        dns_writer_u16(w, (uint16_t)(2 + text_len));
        dns_writer_u16(w, ede_code);
        dns_writer_bytes(w, ede_text, text_len);
    }
    dns_writer_rr_end(w, mark);
}

void dns_writer_counts(struct dns_writer *w, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
    uint16_t counts[4] = {qd, an, ns, ar};

    if (w->err != 0 || w->len < DNS_HEADER_LEN) {
        return;
    }
    for (size_t i = 0; i < 4; i++) {
        w->buf[4 + 2 * i] = (uint8_t)(counts[i] >> 8);
        w->buf[5 + 2 * i] = (uint8_t)counts[i];
    }
}

int dns_writer_finish(const struct dns_writer *w)
{
    return w->err != 0 ? w->err : (int)w->len;
}
