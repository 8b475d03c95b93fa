/* pkarr signed packets: `public key (32) | signature (64) | timestamp (8, big-endian
 * microseconds since the Unix epoch) | DNS message`, and the relay form without the key. The
 * signature is ed25519 over BEP 44's signed string "3:seqi<timestamp>e1:v<len>:<message>".
 * Decoding reads the message's answer records, compressed (as the Rust pkarr writes them) or
 * not (as the JavaScript pkarr does), with owner names relative to the key; encoding signs
 * records into a packet. No I/O; the program has called sodium_init(). */
#ifndef PK_PACKET_H
#define PK_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pk_rr.h"

#define PK_PACKET_KEY_LEN 32    /* pkarr: an ed25519 public key */
#define PK_PACKET_SIG_LEN 64    /* pkarr: an ed25519 signature */
#define PK_PACKET_SECRET_LEN 64 /* libsodium's ed25519 secret key: seed and public key */
#define PK_PACKET_HEAD_LEN 104  /* pkarr: key, signature and the 8-byte timestamp */
#define PK_PACKET_MSG_MAX 1000  /* pkarr SignedPacket: a DNS message of at most 1000 bytes */
#define PK_PACKET_MAX (PK_PACKET_HEAD_LEN + PK_PACKET_MSG_MAX) /* pkarr: MAX_BYTES, 1104 */

/* BEP 44 limits the bencoded "v" to 1000 bytes, and libtorrent measures it with its "996:"
 * prefix: a message we publish stays at 996 bytes or less. */
#define PK_PACKET_PUBLISH_MAX 996

struct pk_packet {
    uint8_t key[PK_PACKET_KEY_LEN];
    uint8_t sig[PK_PACKET_SIG_LEN];
    uint64_t timestamp_us;
    size_t msg_len;
    size_t foreign; /* answer records owned by names outside the key: left out */
    /* The answer records; owners relative to the key ("\3www\0", "\0" for the apex),
     * names inside RDATA as written. */
    struct pk_rr_set records;
};

/* Checks the framing (104 + up to 1000 bytes) and the signature of a packet. Returns 0,
 * -EMSGSIZE for a wrong length, -EBADMSG for a signature that does not verify. */
int pk_packet_verify(const uint8_t *packet, size_t len);

/* Decodes a packet into out, verifying it first when `verify` is set. Returns 0, -EMSGSIZE,
 * -EBADMSG for a bad signature or DNS message, -ENOSPC for more records than a set holds. */
int pk_packet_decode(const uint8_t *packet, size_t len, bool verify, struct pk_packet *out);

/* Builds the full packet from a relay payload (signature, timestamp, message) and the key
 * it was fetched for. Returns the packet length, -EMSGSIZE, or -ENOSPC when cap is short. */
int pk_packet_from_relay(const uint8_t key[PK_PACKET_KEY_LEN], const uint8_t *payload, size_t len,
                         uint8_t *out, size_t cap);

/* Builds the full packet from a BEP 44 mutable item: key, signature, seq (the timestamp) and
 * the bencoded value "<len>:<message>". Returns the packet length, -EBADMSG for a value that
 * is not one bencoded string or a negative seq, -EMSGSIZE, -ENOSPC. */
int pk_packet_from_item(const uint8_t key[PK_PACKET_KEY_LEN], const uint8_t sig[PK_PACKET_SIG_LEN],
                        int64_t seq, const uint8_t *value, size_t value_len, uint8_t *out,
                        size_t cap);

/* Writes the DNS message pkarr publishes for `records` (owners relative to `key`): a response
 * header with ID 0, no question, the records as answers, names compressed. Returns the
 * length, -EINVAL for an owner too long once the key is added, or -ENOSPC (the message may be
 * longer than a packet allows: check it). */
int pk_packet_build_message(const struct pk_rr_set *records, const uint8_t key[PK_PACKET_KEY_LEN],
                            uint8_t *out, size_t cap);

/* Signs msg[0..msg_len) with `timestamp_us` into a full packet in out; msg may already sit at
 * out + PK_PACKET_HEAD_LEN. Returns the packet length, -EMSGSIZE for a message over
 * PK_PACKET_MSG_MAX, -ENOSPC when cap is short. */
int pk_packet_sign(const uint8_t secret_key[PK_PACKET_SECRET_LEN], uint64_t timestamp_us,
                   const uint8_t *msg, size_t msg_len, uint8_t *out, size_t cap);

/* The timestamp of a packet of at least PK_PACKET_HEAD_LEN bytes. */
uint64_t pk_packet_timestamp(const uint8_t *packet);

/* True when packet a is more recent than packet b (both at least PK_PACKET_HEAD_LEN bytes):
 * the newer timestamp wins, and on equal timestamps the larger DNS message (pkarr's rule). */
bool pk_packet_newer(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

#endif
