#include "dns_name.h"

#include <errno.h>
#include <string.h>

/* RFC 1035 4.1.4: the two top bits of a length octet select the label type. */
#define DNS_LABEL_TYPE_MASK 0xc0u
#define DNS_LABEL_POINTER 0xc0u

static uint8_t dns_name_lower_octet(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

int dns_name_read(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out, size_t *out_len)
{
    size_t at = *pos;
    size_t limit = *pos; /* a pointer must land strictly before this */
    size_t end = 0;      /* where the name ends at *pos; 0 until the first pointer */
    size_t written = 0;
    unsigned jumps = 0;

    for (;;) {
        if (at >= len) {
            return -EBADMSG;
        }
        uint8_t octet = msg[at];

        if ((octet & DNS_LABEL_TYPE_MASK) == DNS_LABEL_POINTER) {
            if (at + 1 >= len) {
                return -EBADMSG;
            }
            size_t target = (size_t)(octet & ~DNS_LABEL_TYPE_MASK) << 8 | msg[at + 1];
            /* Backward-only pointers: each jump lands before the previous one, so a loop is
             * impossible; the jump cap only bounds the work. */
            if (target >= limit || ++jumps > DNS_NAME_MAX_JUMPS) {
                return -EBADMSG;
            }
            if (end == 0) {
                end = at + 2;
            }
            limit = target;
            at = target;
            continue;
        }
        if ((octet & DNS_LABEL_TYPE_MASK) != 0) {
            return -EBADMSG; /* 0x40 and 0x80: extended and binary labels, RFC 6891 5 */
        }
        if (written + 1u + octet > DNS_NAME_MAX || at + 1u + octet > len) {
            return -EBADMSG;
        }
        if (out != NULL) {
            memcpy(out + written, msg + at, 1u + (size_t)octet);
        }
        written += 1u + octet;
        at += 1u + octet;
        if (octet == 0) {
            break;
        }
    }

    *pos = end != 0 ? end : at;
    if (out_len != NULL) {
        *out_len = written;
    }
    return 0;
}

static int dns_name_text_octet(const char **text, uint8_t *out)
{
    const char *s = *text;

    if (*s != '\\') {
        *out = (uint8_t)*s;
        *text = s + 1;
        return 0;
    }
    s++;
    if (s[0] >= '0' && s[0] <= '9') {
        if (!(s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9')) {
            return -EINVAL;
        }
        int v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
        if (v > 255) {
            return -EINVAL;
        }
        *out = (uint8_t)v;
        *text = s + 3;
        return 0;
    }
    if (*s == '\0') {
        return -EINVAL;
    }
    *out = (uint8_t)*s;
    *text = s + 1;
    return 0;
}

int dns_name_from_text(const char *text, uint8_t *out, size_t *out_len)
{
    size_t written = 0;

    if (strcmp(text, ".") == 0) {
        out[0] = 0;
        *out_len = 1;
        return 0;
    }
    while (*text != '\0') {
        size_t label_at = written++;
        size_t label_len = 0;

        while (*text != '\0' && *text != '.') {
            uint8_t octet;
            if (dns_name_text_octet(&text, &octet) != 0) {
                return -EINVAL;
            }
            if (++label_len > DNS_LABEL_MAX || written + 1 >= DNS_NAME_MAX) {
                return -EINVAL;
            }
            out[written++] = octet;
        }
        if (label_len == 0) {
            return -EINVAL; /* "a..b", ".a" or "" */
        }
        out[label_at] = (uint8_t)label_len;
        if (*text == '.') {
            text++;
        }
    }
    if (written == 0) {
        return -EINVAL;
    }
    out[written++] = 0;
    *out_len = written;
    return 0;
}

static bool dns_name_plain_octet(uint8_t c)
{
    return c > 0x20 && c < 0x7f && c != '.' && c != '\\' && c != '"' && c != ';' && c != '(' &&
           c != ')';
}

int dns_name_to_text(const uint8_t *name, size_t len, char *out, size_t cap)
{
    size_t at = 0, n = 0;

    if (cap == 0) {
        return -ENOSPC;
    }
    while (at < len && name[at] != 0) {
        size_t label_len = name[at++];
        if (label_len > DNS_LABEL_MAX || at + label_len > len) {
            return -EINVAL;
        }
        for (size_t i = 0; i < label_len; i++, at++) {
            uint8_t c = name[at];
            if (n + 5 > cap) {
                return -ENOSPC;
            }
            if (dns_name_plain_octet(c)) {
                out[n++] = (char)c;
            } else if (c > 0x20 && c < 0x7f) {
                out[n++] = '\\';
                out[n++] = (char)c;
            } else {
                out[n++] = '\\';
                out[n++] = (char)('0' + c / 100);
                out[n++] = (char)('0' + c / 10 % 10);
                out[n++] = (char)('0' + c % 10);
            }
        }
        if (n + 2 > cap) {
            return -ENOSPC;
        }
        out[n++] = '.';
    }
    if (at >= len) {
        return -EINVAL; /* no root label */
    }
    if (n == 0) {
        out[n++] = '.';
    }
    out[n] = '\0';
    return (int)n;
}

bool dns_name_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len != b_len) {
        return false;
    }
    /* Length octets are below 64 and so never change under lowercasing, and equal names have
     * their length octets at the same places: comparing every octet folded is enough. */
    for (size_t i = 0; i < a_len; i++) {
        if (dns_name_lower_octet(a[i]) != dns_name_lower_octet(b[i])) {
            return false;
        }
    }
    return true;
}

void dns_name_lower(uint8_t *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        name[i] = dns_name_lower_octet(name[i]);
    }
}

unsigned dns_name_label_count(const uint8_t *name, size_t len)
{
    unsigned count = 0;

    for (size_t at = 0; at < len && name[at] != 0; at += 1u + name[at]) {
        count++;
    }
    return count;
}

int dns_name_label_from_end(const uint8_t *name, size_t len, unsigned idx, const uint8_t **label,
                            size_t *label_len)
{
    unsigned count = dns_name_label_count(name, len);
    size_t at = 0;

    if (idx >= count) {
        return -ENOENT;
    }
    for (unsigned i = 0; i < count - 1 - idx; i++) {
        at += 1u + name[at];
    }
    *label = name + at + 1;
    *label_len = name[at];
    return 0;
}

bool dns_name_is_under(const uint8_t *name, size_t len, const uint8_t *zone, size_t zone_len)
{
    size_t at = 0;

    if (zone_len > len) {
        return false;
    }
    /* Walk label boundaries so "xexample.com" is not taken to be under "example.com". */
    while (len - at > zone_len) {
        at += 1u + name[at];
    }
    return len - at == zone_len && dns_name_equal(name + at, zone_len, zone, zone_len);
}
