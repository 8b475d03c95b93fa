/* Is a DNS name a pkarr name? pkarr publishes under an ed25519 public key written as one
 * 52-character z-base32 label: `<key>`, `www.<key>`, or below a configured top-level domain,
 * `www.<key>.key`. No I/O. */
#ifndef PK_PKARR_NAME_H
#define PK_PKARR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKARR_KEY_LEN 32      /* an ed25519 public key (RFC 8032 5.1.5) */
#define PKARR_KEY_TEXT_LEN 52 /* its z-base32 spelling: 256 bits and 4 zero padding bits */

/* True when label[0..len) is a pkarr key: 52 z-base32 characters (either case) with zero
 * padding bits, decoding to a valid ed25519 point that is not of small order (libsodium's
 * crypto_core_ed25519_is_valid_point; the program has called sodium_init()). key (may be
 * NULL) receives the 32 bytes. */
bool pkarr_name_label_key(const uint8_t *label, size_t len, uint8_t *key);

/* True when key is a plausible ed25519 public key, the check a router needs: a decodable
 * curve point (y below p = 2^255 - 19, and x^2 = (y^2 - 1)/(d y^2 + 1) solvable mod p, a
 * Legendre symbol) that is not of small order. No subgroup check: a point with a small-order
 * component passes, which libsodium's crypto_core_ed25519_is_valid_point refuses. */
bool pkarr_name_key_plausible(const uint8_t key[PKARR_KEY_LEN]);

/* Finds the key of the wire name[0..len): its last label, or, when tld (a wire name; NULL or
 * the root for none) is given and the name lies below it, the label just above the tld.
 * Returns the key label's index from the end (0, or the tld's label count), or -ENOENT. */
int pkarr_name_find(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                    uint8_t *key);

/* Keys a caller already knows to be keys (say, it holds a verified packet of theirs): vouch
 * returns true for such a key, which then skips the curve check. */
struct pkarr_known {
    bool (*vouch)(void *user, const uint8_t key[PKARR_KEY_LEN]);
    void *user;
};

/* pkarr_name_find, asking `known` (may be NULL) first. */
int pkarr_name_find_known(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                          uint8_t *key, const struct pkarr_known *known);

/* pkarr_name_find with pkarr_name_key_plausible in place of libsodium's full check: a few
 * microseconds for a key not seen lately instead of a scalar multiplication. */
int pkarr_name_find_plausible(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                              uint8_t *key);

#endif
