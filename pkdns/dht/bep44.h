/* BEP 44 items: the string a mutable item's signature covers, item targets, and ed25519
 * signing and verification (libsodium), with SHA-1 from nettle.
 *
 * Values are passed bencoded, as they travel in the "v" field: a pkarr packet's DNS message m
 * is passed as "<len(m)>:<m>". The program calls sodium_init() before signing or verifying. */
#ifndef PK_BEP44_H
#define PK_BEP44_H

#include <stddef.h>
#include <stdint.h>

#define BEP44_KEY_LEN 32     /* BEP 44: "k", an ed25519 public key */
#define BEP44_SIG_LEN 64     /* BEP 44: "sig", an ed25519 signature */
#define BEP44_TARGET_LEN 20  /* BEP 44: a target is a SHA-1 hash, like a node ID */
#define BEP44_VALUE_MAX 1000 /* BEP 44: the bencoded "v" may be at most 1000 bytes */
#define BEP44_SALT_MAX 64    /* BEP 44: "salt" may be at most 64 bytes */

/* KRPC error codes that BEP 44 adds for put. */
#define BEP44_ERR_VALUE_TOO_BIG 205 /* BEP 44: v field too big */
#define BEP44_ERR_BAD_SIGNATURE 206 /* BEP 44: invalid signature */
#define BEP44_ERR_SALT_TOO_BIG 207  /* BEP 44: salt field too big */
#define BEP44_ERR_CAS_MISMATCH 301  /* BEP 44: cas does not match the stored seq */
#define BEP44_ERR_SEQ_TOO_LOW 302   /* BEP 44: seq lower than the stored one */

/* Longest signed string: "4:salt64:" + salt, "3:seqi" + 20 digits + "e", "1:v" + value. */
#define BEP44_SIGNED_MAX (9 + BEP44_SALT_MAX + 27 + 3 + BEP44_VALUE_MAX)

/* Writes what a mutable item's signature covers, "4:salt<len>:<salt>3:seqi<seq>e1:v<value>"
 * (salt part only for a non-empty salt), into out[cap] and sets *out_len. Returns 0, -EMSGSIZE
 * for a salt or value over its BEP 44 limit, -ENOSPC when cap < what is needed. */
int bep44_signed_string(const uint8_t *salt, size_t salt_len, int64_t seq, const uint8_t *value,
                        size_t value_len, uint8_t *out, size_t cap, size_t *out_len);

/* Computes a mutable item's target, SHA-1(key || salt); salt may be NULL when salt_len is 0. */
void bep44_mutable_target(const uint8_t key[BEP44_KEY_LEN], const uint8_t *salt, size_t salt_len,
                          uint8_t target[BEP44_TARGET_LEN]);

/* Computes an immutable item's target, SHA-1 of its bencoded value. */
void bep44_immutable_target(const uint8_t *value, size_t value_len,
                            uint8_t target[BEP44_TARGET_LEN]);

/* Checks `sig` over the signed string of (salt, seq, value) with public key `key`. Returns 0
 * when it verifies, -EBADMSG when it does not, -EMSGSIZE when salt or value is too long. */
int bep44_verify(const uint8_t key[BEP44_KEY_LEN], const uint8_t sig[BEP44_SIG_LEN],
                 const uint8_t *salt, size_t salt_len, int64_t seq, const uint8_t *value,
                 size_t value_len);

/* Signs the signed string of (salt, seq, value) with a libsodium ed25519 secret key (seed and
 * public key, 64 bytes) into sig. Returns 0, or -EMSGSIZE when salt or value is too long. */
int bep44_sign(const uint8_t secret_key[64], const uint8_t *salt, size_t salt_len, int64_t seq,
               const uint8_t *value, size_t value_len, uint8_t sig[BEP44_SIG_LEN]);

#endif
