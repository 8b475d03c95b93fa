#include "dht_bep42.h"

#include "dht_contact.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define DHT_BEP42_CRC32C_POLY 0x82f63b78u /* Castagnoli, reflected (RFC 3720 B.4) */

uint32_t dht_bep42_crc32c(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (DHT_BEP42_CRC32C_POLY & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static bool dht_bep42_exempt4(const uint8_t ip[4])
{
    return ip[0] == 10 || ip[0] == 127 || (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
           (ip[0] == 192 && ip[1] == 168) || (ip[0] == 169 && ip[1] == 254);
}

static bool dht_bep42_exempt6(const uint8_t ip[16])
{
    static const uint8_t loopback[16] = {[15] = 1};

    return memcmp(ip, loopback, sizeof(loopback)) == 0 || (ip[0] & 0xfe) == 0xfc ||
           (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80);
}

bool dht_bep42_exempt(const struct addr *a)
{
    const uint8_t *ip;
    size_t len;

    if (!dht_contact_ip_bytes(a, &ip, &len)) {
        return true;
    }
    return len == 4 ? dht_bep42_exempt4(ip) : dht_bep42_exempt6(ip);
}

/* The CRC32C of the masked address with r in its top 3 bits (BEP 42). */
static int dht_bep42_crc(const uint8_t *ip, size_t ip_len, uint8_t r, uint32_t *crc)
{
    static const uint8_t mask4[4] = {0x03, 0x0f, 0x3f, 0xff};
    static const uint8_t mask6[8] = {0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff};
    const uint8_t *mask = ip_len == 4 ? mask4 : mask6;
    size_t n = ip_len == 4 ? sizeof(mask4) : sizeof(mask6);
    uint8_t masked[8];

    if (ip_len != 4 && ip_len != 16) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        masked[i] = ip[i] & mask[i];
    }
    masked[0] |= (uint8_t)((r & 7u) << 5);
    *crc = dht_bep42_crc32c(masked, n);
    return 0;
}

int dht_bep42_make_id(const uint8_t *ip, size_t ip_len, uint8_t r, const uint8_t noise[KRPC_ID_LEN],
                      uint8_t id[KRPC_ID_LEN])
{
    uint32_t crc;

    if (dht_bep42_crc(ip, ip_len, r, &crc) < 0) {
        return -EINVAL;
    }
    memcpy(id, noise, KRPC_ID_LEN);
    id[0] = (uint8_t)(crc >> 24);
    id[1] = (uint8_t)(crc >> 16);
    id[2] = (uint8_t)(((crc >> 8) & 0xf8u) | (noise[2] & 0x07u));
    id[KRPC_ID_LEN - 1] = (uint8_t)((noise[KRPC_ID_LEN - 1] & 0xf8u) | (r & 7u));
    return 0;
}

bool dht_bep42_check(const uint8_t id[KRPC_ID_LEN], const struct addr *a)
{
    const uint8_t *ip;
    size_t len;
    uint32_t crc;

    if (dht_bep42_exempt(a) || !dht_contact_ip_bytes(a, &ip, &len) ||
        dht_bep42_crc(ip, len, id[KRPC_ID_LEN - 1] & 7u, &crc) < 0) {
        return true;
    }
    return id[0] == (uint8_t)(crc >> 24) && id[1] == (uint8_t)(crc >> 16) &&
           (id[2] & 0xf8u) == ((crc >> 8) & 0xf8u);
}
