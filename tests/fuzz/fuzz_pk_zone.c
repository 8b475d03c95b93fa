/* Fuzz target for the zone files of pkdns-cli publish: the text, its records, and the packet
 * message they make. */
#include <sodium.h>
#include <stdint.h>

#include "pk_zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pk_rr_set set;
    static uint8_t msg[8192];
    /* vectors.md: the key of seed 00x32. */
    static const uint8_t key[PK_PACKET_KEY_LEN] = {
        0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8,
        0xd0, 0x2a, 0x6f, 0x0d, 0x73, 0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2,
        0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59, 0xda, 0x29,
    };
    struct pk_zone_error err;

    if (sodium_init() < 0) {
        return 0;
    }
    if (pk_zone_read((const char *)data, size, key, &set, &err) == 0) {
        pk_packet_build_message(&set, key, msg, sizeof(msg));
    }
    return 0;
}
