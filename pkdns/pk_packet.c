#include "pk_packet.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "dns_msg.h"
#include "dns_name.h"
#include "pkarr_name.h"
#include "zbase32.h"

_Static_assert(PK_PACKET_KEY_LEN == crypto_sign_PUBLICKEYBYTES, "pkarr keys are ed25519 keys");
_Static_assert(PK_PACKET_SIG_LEN == crypto_sign_BYTES, "pkarr signs with ed25519");
_Static_assert(PK_PACKET_SECRET_LEN == crypto_sign_SECRETKEYBYTES, "libsodium secret keys");
_Static_assert(PK_PACKET_KEY_LEN == PKARR_KEY_LEN, "one key length");

#define PK_PACKET_SIG_AT 32 /* pkarr: the signature follows the key */
#define PK_PACKET_TS_AT 96  /* pkarr: then the timestamp */

/* "3:seqi" + 20 digits + "e1:v" + 4 digits + ":" and the message. */
#define PK_PACKET_SIGNED_MAX (6 + 20 + 4 + 4 + 1 + PK_PACKET_MSG_MAX)

/* BEP 44: what the signature covers, for a mutable item without salt whose seq is the
 * timestamp and whose value is the bencoded message. pkarr prints the timestamp unsigned. */
static size_t pk_packet_signed_string(uint64_t timestamp_us, const uint8_t *msg, size_t msg_len,
                                      uint8_t out[PK_PACKET_SIGNED_MAX])
{
    int n = snprintf((char *)out, PK_PACKET_SIGNED_MAX, "3:seqi%" PRIu64 "e1:v%zu:", timestamp_us,
                     msg_len);

    memcpy(out + n, msg, msg_len);
    return (size_t)n + msg_len;
}

uint64_t pk_packet_timestamp(const uint8_t *packet)
{
    uint64_t ts = 0;

    for (size_t i = 0; i < 8; i++) {
        ts = ts << 8 | packet[PK_PACKET_TS_AT + i];
    }
    return ts;
}

int pk_packet_verify(const uint8_t *packet, size_t len)
{
    uint8_t signed_string[PK_PACKET_SIGNED_MAX];
    size_t signed_len;

    if (len < PK_PACKET_HEAD_LEN || len > PK_PACKET_MAX) {
        return -EMSGSIZE;
    }
    signed_len = pk_packet_signed_string(pk_packet_timestamp(packet), packet + PK_PACKET_HEAD_LEN,
                                         len - PK_PACKET_HEAD_LEN, signed_string);
    if (crypto_sign_verify_detached(packet + PK_PACKET_SIG_AT, signed_string, signed_len, packet) !=
        0) {
        return -EBADMSG;
    }
    return 0;
}

/* Cuts the key label off an owner name: "www.<key>" gives "www", "<key>" gives the root.
 * Returns false when the name's last label is not the key. */
static bool pk_packet_relative(const uint8_t *owner, size_t len, const char *key_text, uint8_t *rel,
                               size_t *rel_len)
{
    size_t at = 0;
    size_t last = 0;

    while (at < len && owner[at] != 0) {
        last = at;
        at += 1u + owner[at];
    }
    if (at == 0 || owner[last] != PKARR_KEY_TEXT_LEN ||
        !dns_name_equal(owner + last, (size_t)PKARR_KEY_TEXT_LEN + 2, (const uint8_t *)key_text,
                        (size_t)PKARR_KEY_TEXT_LEN + 2)) {
        return false;
    }
    memcpy(rel, owner, last);
    rel[last] = 0;
    *rel_len = last + 1;
    return true;
}

/* Reads one answer record into the set, or counts it as foreign. */
static int pk_packet_read_answer(const uint8_t *msg, size_t len, size_t *pos, const char *key_text,
                                 struct pk_packet *out)
{
    uint8_t rdata[PK_RR_RDATA_MAX];
    uint8_t rel[DNS_NAME_MAX];
    struct dns_rr rr;
    struct pk_rr rec;
    int n;

    if (dns_msg_rr(msg, len, pos, &rr) != 0) {
        return -EBADMSG;
    }
    n = pk_rr_expand(msg, len, rr.type, rr.rdata_pos, rr.rdlength, rdata, sizeof(rdata));
    if (n < 0) {
        return -EBADMSG;
    }
    if (!pk_packet_relative(rr.name, rr.name_len, key_text, rel, &rec.name_len)) {
        out->foreign++;
        return 0;
    }
    rec.name = rel;
    rec.type = rr.type;
    rec.rclass = rr.rclass;
    rec.ttl = rr.ttl;
    rec.rdata = rdata;
    rec.rdlength = (uint16_t)n;
    return pk_rr_set_add(&out->records, &rec);
}

static int pk_packet_read_message(const uint8_t *msg, size_t len, struct pk_packet *out)
{
    /* The key as an owner's last label: a length octet, 52 characters, the root. */
    char key_text[PKARR_KEY_TEXT_LEN + 3];
    struct dns_header h;
    struct dns_question q;
    size_t pos = DNS_HEADER_LEN;
    int rc;

    key_text[0] = (char)PKARR_KEY_TEXT_LEN;
    zbase32_encode(out->key, PK_PACKET_KEY_LEN, key_text + 1, sizeof(key_text) - 1);
    key_text[PKARR_KEY_TEXT_LEN + 1] = '\0';

    if (dns_msg_header(msg, len, &h) != 0) {
        return -EBADMSG;
    }
    for (unsigned i = 0; i < h.qdcount; i++) {
        if (dns_msg_question(msg, len, &pos, &q) != 0) {
            return -EBADMSG;
        }
    }
    for (unsigned i = 0; i < h.ancount; i++) {
        rc = pk_packet_read_answer(msg, len, &pos, key_text, out);
        if (rc < 0) {
            return rc;
        }
    }
    /* pkarr reads the answers alone; the other sections must still be well formed. */
    for (unsigned i = 0; i < (unsigned)h.nscount + h.arcount; i++) {
        if (dns_msg_skip_rr(msg, len, &pos) != 0) {
            return -EBADMSG;
        }
    }
    return 0;
}

int pk_packet_decode(const uint8_t *packet, size_t len, bool verify, struct pk_packet *out)
{
    int rc;

    if (len < PK_PACKET_HEAD_LEN || len > PK_PACKET_MAX) {
        return -EMSGSIZE;
    }
    if (verify) {
        rc = pk_packet_verify(packet, len);
        if (rc < 0) {
            return rc;
        }
    }
    memcpy(out->key, packet, PK_PACKET_KEY_LEN);
    memcpy(out->sig, packet + PK_PACKET_SIG_AT, PK_PACKET_SIG_LEN);
    out->timestamp_us = pk_packet_timestamp(packet);
    out->msg_len = len - PK_PACKET_HEAD_LEN;
    out->foreign = 0;
    pk_rr_set_init(&out->records);
    return pk_packet_read_message(packet + PK_PACKET_HEAD_LEN, out->msg_len, out);
}

int pk_packet_from_relay(const uint8_t key[PK_PACKET_KEY_LEN], const uint8_t *payload, size_t len,
                         uint8_t *out, size_t cap)
{
    if (len < PK_PACKET_HEAD_LEN - PK_PACKET_KEY_LEN || len > PK_PACKET_MAX - PK_PACKET_KEY_LEN) {
        return -EMSGSIZE;
    }
    if (cap < PK_PACKET_KEY_LEN + len) {
        return -ENOSPC;
    }
    memmove(out + PK_PACKET_KEY_LEN, payload, len);
    memcpy(out, key, PK_PACKET_KEY_LEN);
    return (int)(PK_PACKET_KEY_LEN + len);
}

/* Reads the bencoded string "<len>:<bytes>" that fills value[0..value_len) exactly (BEP 3:
 * decimal length without leading zeros). Returns the offset of the bytes or -EBADMSG. */
static int pk_packet_bencoded_string(const uint8_t *value, size_t value_len)
{
    size_t digits = 0;
    size_t n = 0;

    while (digits < value_len && digits < 5 && value[digits] >= '0' && value[digits] <= '9') {
        n = n * 10 + (size_t)(value[digits] - '0');
        digits++;
    }
    if (digits == 0 || digits == 5 || (digits > 1 && value[0] == '0') || digits >= value_len ||
        value[digits] != ':' || value_len - digits - 1 != n) {
        return -EBADMSG;
    }
    return (int)digits + 1;
}

int pk_packet_from_item(const uint8_t key[PK_PACKET_KEY_LEN], const uint8_t sig[PK_PACKET_SIG_LEN],
                        int64_t seq, const uint8_t *value, size_t value_len, uint8_t *out,
                        size_t cap)
{
    int at = pk_packet_bencoded_string(value, value_len);
    size_t msg_len;
    uint64_t ts;

    if (at < 0 || seq < 0) {
        return -EBADMSG;
    }
    msg_len = value_len - (size_t)at;
    if (msg_len > PK_PACKET_MSG_MAX) {
        return -EMSGSIZE;
    }
    if (cap < PK_PACKET_HEAD_LEN + msg_len) {
        return -ENOSPC;
    }
    memcpy(out, key, PK_PACKET_KEY_LEN);
    memcpy(out + PK_PACKET_SIG_AT, sig, PK_PACKET_SIG_LEN);
    ts = (uint64_t)seq;
    for (size_t i = 0; i < 8; i++) {
        out[PK_PACKET_TS_AT + i] = (uint8_t)(ts >> (56 - 8 * i));
    }
    memcpy(out + PK_PACKET_HEAD_LEN, value + at, msg_len);
    return (int)(PK_PACKET_HEAD_LEN + msg_len);
}

/* Writes "<rel>.<key>" as a wire name into out (DNS_NAME_MAX octets). */
static int pk_packet_owner(const struct pk_rr *rr, const char *key_text, uint8_t *out,
                           size_t *out_len)
{
    size_t rel = rr->name_len - 1; /* the relative name without its root */

    if (rr->name_len == 0 || rel + PKARR_KEY_TEXT_LEN + 2 > DNS_NAME_MAX) {
        return -EINVAL;
    }
    memcpy(out, rr->name, rel);
    out[rel] = PKARR_KEY_TEXT_LEN;
    memcpy(out + rel + 1, key_text, PKARR_KEY_TEXT_LEN);
    out[rel + 1 + PKARR_KEY_TEXT_LEN] = 0;
    *out_len = rel + PKARR_KEY_TEXT_LEN + 2;
    return 0;
}

int pk_packet_build_message(const struct pk_rr_set *records, const uint8_t key[PK_PACKET_KEY_LEN],
                            uint8_t *out, size_t cap)
{
    /* Both pkarr implementations write a bare response header: ID 0, QR, answers only. */
    struct dns_header h = {.flags = DNS_FLAG_QR, .ancount = (uint16_t)records->count};
    char key_text[PKARR_KEY_TEXT_LEN + 1];
    uint8_t owner[DNS_NAME_MAX];
    size_t owner_len;
    struct dns_writer w;

    zbase32_encode(key, PK_PACKET_KEY_LEN, key_text, sizeof(key_text));
    dns_writer_init(&w, out, cap);
    dns_writer_header(&w, &h);
    for (size_t i = 0; i < records->count; i++) {
        const struct pk_rr *rr = &records->rr[i];
        if (pk_packet_owner(rr, key_text, owner, &owner_len) != 0) {
            return -EINVAL;
        }
        pk_rr_write(&w, rr, owner, owner_len, rr->ttl);
    }
    return dns_writer_finish(&w);
}

int pk_packet_sign(const uint8_t secret_key[PK_PACKET_SECRET_LEN], uint64_t timestamp_us,
                   const uint8_t *msg, size_t msg_len, uint8_t *out, size_t cap)
{
    uint8_t signed_string[PK_PACKET_SIGNED_MAX];
    size_t signed_len;

    if (msg_len > PK_PACKET_MSG_MAX) {
        return -EMSGSIZE;
    }
    if (cap < PK_PACKET_HEAD_LEN + msg_len) {
        return -ENOSPC;
    }
    signed_len = pk_packet_signed_string(timestamp_us, msg, msg_len, signed_string);
    /* libsodium's secret key is the seed followed by the public key. */
    memcpy(out, secret_key + 32, PK_PACKET_KEY_LEN);
    crypto_sign_detached(out + PK_PACKET_SIG_AT, NULL, signed_string, signed_len, secret_key);
    for (size_t i = 0; i < 8; i++) {
        out[PK_PACKET_TS_AT + i] = (uint8_t)(timestamp_us >> (56 - 8 * i));
    }
    memmove(out + PK_PACKET_HEAD_LEN, msg, msg_len);
    return (int)(PK_PACKET_HEAD_LEN + msg_len);
}

bool pk_packet_newer(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    uint64_t ta = pk_packet_timestamp(a);
    uint64_t tb = pk_packet_timestamp(b);
    size_t ma = a_len - PK_PACKET_HEAD_LEN;
    size_t mb = b_len - PK_PACKET_HEAD_LEN;
    int cmp;

    if (ta != tb) {
        return ta > tb;
    }
    /* pkarr compares the messages as byte strings: the first differing byte decides, and a
     * message that is a prefix of the other is the smaller. */
    cmp = memcmp(a + PK_PACKET_HEAD_LEN, b + PK_PACKET_HEAD_LEN, ma < mb ? ma : mb);
    return cmp != 0 ? cmp > 0 : ma > mb;
}
