#include "fwd_private.h"

#include <string.h>
#include <strings.h>

#include "dns.h"
#include "dns_name.h"

#define FWD_V4_LABELS 4  /* octets of an in-addr.arpa name */
#define FWD_V6_LABELS 32 /* nibbles of an ip6.arpa name */

bool fwd_private_plain_name(const uint8_t *name, size_t len, uint16_t qtype)
{
    if (qtype != DNS_TYPE_A && qtype != DNS_TYPE_AAAA && qtype != DNS_TYPE_ANY) {
        return false;
    }
    return dns_name_label_count(name, len) == 1;
}

/* Whether the idx-th label from the end is `text`, without case. */
static bool fwd_label_is(const uint8_t *name, size_t len, unsigned idx, const char *text)
{
    const uint8_t *label;
    size_t label_len;

    return dns_name_label_from_end(name, len, idx, &label, &label_len) == 0 &&
           label_len == strlen(text) && strncasecmp((const char *)label, text, label_len) == 0;
}

/* Reads the labels before "in-addr.arpa" (k of them, the first octet last) into addr[4],
 * zero-filled. Returns false when one is not a decimal number up to 255. */
static bool fwd_reverse_v4(const uint8_t *name, size_t len, unsigned k, uint8_t addr[4])
{
    memset(addr, 0, 4);
    for (unsigned i = 0; i < k; i++) {
        const uint8_t *label;
        size_t label_len;
        unsigned value = 0;

        if (dns_name_label_from_end(name, len, 2 + i, &label, &label_len) != 0 || label_len == 0 ||
            label_len > 3) {
            return false;
        }
        for (size_t j = 0; j < label_len; j++) {
            if (label[j] < '0' || label[j] > '9') {
                return false;
            }
            value = value * 10 + (unsigned)(label[j] - '0');
        }
        if (value > 255) {
            return false;
        }
        addr[i] = (uint8_t)value;
    }
    return true;
}

/* The same for ip6.arpa: one hex digit per label, the first nibble last. */
static bool fwd_reverse_v6(const uint8_t *name, size_t len, unsigned k, uint8_t addr[16])
{
    memset(addr, 0, 16);
    for (unsigned i = 0; i < k; i++) {
        const uint8_t *label;
        size_t label_len;
        unsigned nibble;

        if (dns_name_label_from_end(name, len, 2 + i, &label, &label_len) != 0 || label_len != 1) {
            return false;
        }
        if (label[0] >= '0' && label[0] <= '9') {
            nibble = (unsigned)(label[0] - '0');
        } else if ((label[0] | 0x20) >= 'a' && (label[0] | 0x20) <= 'f') {
            nibble = (unsigned)((label[0] | 0x20) - 'a' + 10);
        } else {
            return false;
        }
        addr[i / 2] |= (uint8_t)(i % 2 == 0 ? nibble << 4 : nibble);
    }
    return true;
}

bool fwd_private_v4(const uint8_t a[4], bool localhost_ok)
{
    return ((a[0] == 0 || a[0] == 127) && !localhost_ok) || a[0] == 10 ||
           (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
           (a[0] == 192 && a[1] == 168) || (a[0] == 192 && a[1] == 0 && a[2] == 2) ||
           (a[0] == 198 && a[1] == 51 && a[2] == 100) ||
           (a[0] == 203 && a[1] == 0 && a[2] == 113) ||
           (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}

bool fwd_private_v6(const uint8_t a[16], bool localhost_ok)
{
    static const uint8_t zeros[15] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (memcmp(a, zeros, 15) == 0 && a[15] <= 1 && !localhost_ok) {
        return true;
    }
    if (memcmp(a, mapped, 12) == 0) {
        return fwd_private_v4(a + 12, localhost_ok);
    }
    return (a[0] == 0xfe && (a[1] & 0x80) == 0x80) || a[0] == 0xfd ||
           (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8);
}

bool fwd_private_reverse(const uint8_t *name, size_t len, uint16_t qtype)
{
    unsigned labels = dns_name_label_count(name, len);
    uint8_t addr[16];

    if ((qtype != DNS_TYPE_PTR && qtype != DNS_TYPE_ANY) || labels < 3 ||
        !fwd_label_is(name, len, 0, "arpa")) {
        return false;
    }
    if (fwd_label_is(name, len, 1, "in-addr")) {
        return labels - 2 <= FWD_V4_LABELS && fwd_reverse_v4(name, len, labels - 2, addr) &&
               fwd_private_v4(addr, false);
    }
    if (fwd_label_is(name, len, 1, "ip6")) {
        return labels - 2 <= FWD_V6_LABELS && fwd_reverse_v6(name, len, labels - 2, addr) &&
               fwd_private_v6(addr, false);
    }
    return false;
}
