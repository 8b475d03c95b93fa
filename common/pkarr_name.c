#include "pkarr_name.h"

#include <errno.h>
#include <gmp.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "dns_name.h"
#include "zbase32.h"

/* The full curve check costs as much as a signature check (a scalar multiplication, about
 * 40 to 90 us here), the plausibility check about 2, and the same few keys come again
 * and again: each thread remembers its last verdicts of either kind in a direct-mapped table.
 * A key that maps to a busy slot evicts it; the worst case is the cost without the table. */
#define PKARR_MEMO_SLOTS 1024 /* ours: 33 KiB per thread */

/* What a slot knows about its key: each check's verdict, once it has been made. */
enum pkarr_memo_bits {
    PKARR_MEMO_FULL_KNOWN = 1,
    PKARR_MEMO_FULL_OK = 2,
    PKARR_MEMO_PLAUSIBLE_KNOWN = 4,
    PKARR_MEMO_PLAUSIBLE_OK = 8,
};

/* How hard a label is looked at before it counts as a key. */
enum pkarr_check {
    PKARR_CHECK_FULL,      /* libsodium's crypto_core_ed25519_is_valid_point */
    PKARR_CHECK_PLAUSIBLE, /* pkarr_name_key_plausible */
};

struct pkarr_memo_slot {
    uint8_t key[PKARR_KEY_LEN];
    uint8_t state; /* enum pkarr_memo_bits; 0: empty */
};

static _Thread_local struct pkarr_memo_slot pkarr_memo[PKARR_MEMO_SLOTS];

/* The y coordinates of the eight points of small order (RFC 7748 and RFC 8032 5.1 give the
 * curve), little-endian: 0 (the two points of order 4), 1 (the identity), p - 1 (the point of
 * order 2), and the two roots of d y^4 + 2 y^2 = 1 with a square y^2 (the four points of
 * order 8). y = 1 and y = p - 1 are also the only points with x = 0, whose encodings with the
 * sign bit set are not canonical. */
static const uint8_t pkarr_small_order_y[][PKARR_KEY_LEN] = {
    {0x00},
    {0x01},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
};

/* The field prime p = 2^255 - 19 and the curve constant d = -121665/121666 mod p
 * (RFC 8032 5.1), made once for all threads. */
static mpz_t pkarr_field_p, pkarr_curve_d;
static pthread_once_t pkarr_curve_once = PTHREAD_ONCE_INIT;

static void pkarr_curve_init(void)
{
    mpz_init_set_str(pkarr_field_p,
                     "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed", 16);
    mpz_init_set_str(pkarr_curve_d,
                     "52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3", 16);
}

static bool pkarr_name_small_order(const uint8_t y[PKARR_KEY_LEN])
{
    for (size_t i = 0; i < sizeof(pkarr_small_order_y) / sizeof(pkarr_small_order_y[0]); i++) {
        if (memcmp(y, pkarr_small_order_y[i], PKARR_KEY_LEN) == 0) {
            return true;
        }
    }
    return false;
}

/* Decompression (RFC 8032 5.1.3) finds x from x^2 = u / v, u = y^2 - 1, v = d y^2 + 1 (v is
 * never 0, d being a non-square), so a point exists when u v is a square mod p: one Legendre
 * symbol, instead of the square root and the scalar multiplication of the full check. */
static bool pkarr_name_decompresses(const uint8_t y_bytes[PKARR_KEY_LEN])
{
    mpz_t y, u, v;
    bool ok;

    pthread_once(&pkarr_curve_once, pkarr_curve_init);
    mpz_inits(y, u, v, NULL);
    mpz_import(y, PKARR_KEY_LEN, -1, 1, 0, 0, y_bytes);
    ok = mpz_cmp(y, pkarr_field_p) < 0; /* a canonical y */
    if (ok) {
        mpz_mul(u, y, y);
        mpz_mul(v, u, pkarr_curve_d);
        mpz_add_ui(v, v, 1);
        mpz_sub_ui(u, u, 1);
        mpz_mul(u, u, v);
        mpz_mod(u, u, pkarr_field_p);
        /* 0 only for u = 0, y = 1 or p - 1: small order, refused before. */
        ok = mpz_legendre(u, pkarr_field_p) == 1;
    }
    mpz_clears(y, u, v, NULL);
    return ok;
}

bool pkarr_name_key_plausible(const uint8_t key[PKARR_KEY_LEN])
{
    uint8_t y[PKARR_KEY_LEN];

    memcpy(y, key, sizeof(y));
    y[PKARR_KEY_LEN - 1] &= 0x7f; /* the top bit is the sign of x (RFC 8032 5.1.2) */
    return !pkarr_name_small_order(y) && pkarr_name_decompresses(y);
}

static struct pkarr_memo_slot *pkarr_memo_slot(const uint8_t bytes[PKARR_KEY_LEN])
{
    /* Real keys are uniformly random; a crafted collision only costs a recomputation. */
    uint32_t h = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[31] << 16;

    return &pkarr_memo[h % PKARR_MEMO_SLOTS];
}

/* The verdict of `check` on the key, from the table when it is there. A full pass implies a
 * plausible one, and a failed plausible check a failed full one, so each verdict fills in
 * the other where it can. */
static bool pkarr_name_point_is_key(const uint8_t bytes[PKARR_KEY_LEN], enum pkarr_check check)
{
    struct pkarr_memo_slot *slot = pkarr_memo_slot(bytes);
    bool full = check == PKARR_CHECK_FULL;
    uint8_t known_bit = full ? PKARR_MEMO_FULL_KNOWN : PKARR_MEMO_PLAUSIBLE_KNOWN;
    uint8_t ok_bit = full ? PKARR_MEMO_FULL_OK : PKARR_MEMO_PLAUSIBLE_OK;
    bool is_key;

    if (slot->state == 0 || memcmp(slot->key, bytes, PKARR_KEY_LEN) != 0) {
        memcpy(slot->key, bytes, PKARR_KEY_LEN);
        slot->state = 0;
    } else if (slot->state & known_bit) {
        return (slot->state & ok_bit) != 0;
    }
    /* libsodium 1.0.18 also rejects non-canonical encodings, small-order points and points
     * outside the prime-order subgroup. Such keys could never verify a packet here (libsodium's
     * verification refuses them too), so they are not keys for pkdns either. */
    is_key =
        full ? crypto_core_ed25519_is_valid_point(bytes) == 1 : pkarr_name_key_plausible(bytes);
    slot->state |= known_bit | (is_key ? ok_bit : 0);
    if (full && is_key) {
        slot->state |= PKARR_MEMO_PLAUSIBLE_KNOWN | PKARR_MEMO_PLAUSIBLE_OK;
    } else if (!full && !is_key) {
        slot->state |= PKARR_MEMO_FULL_KNOWN;
    }
    return is_key;
}

/* The label's key when it is one by `check`; known (may be NULL) can vouch for a key and spare
 * the curve check. */
static bool pkarr_name_label_check(const uint8_t *label, size_t len, uint8_t *key,
                                   const struct pkarr_known *known, enum pkarr_check check)
{
    uint8_t bytes[PKARR_KEY_LEN];

    if (len != PKARR_KEY_TEXT_LEN ||
        zbase32_decode((const char *)label, len, bytes, sizeof(bytes)) != PKARR_KEY_LEN) {
        return false;
    }
    if (!(known != NULL && known->vouch(known->user, bytes)) &&
        !pkarr_name_point_is_key(bytes, check)) {
        return false;
    }
    if (key != NULL) {
        memcpy(key, bytes, sizeof(bytes));
    }
    return true;
}

bool pkarr_name_label_key(const uint8_t *label, size_t len, uint8_t *key)
{
    return pkarr_name_label_check(label, len, key, NULL, PKARR_CHECK_FULL);
}

static bool pkarr_name_label_at(const uint8_t *name, size_t len, unsigned idx, uint8_t *key,
                                const struct pkarr_known *known, enum pkarr_check check)
{
    const uint8_t *label;
    size_t label_len;

    if (dns_name_label_from_end(name, len, idx, &label, &label_len) != 0) {
        return false;
    }
    return pkarr_name_label_check(label, label_len, key, known, check);
}

/* The key label of a name (see pkarr_name_find), by `check`. */
static int pkarr_name_find_by(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                              uint8_t *key, const struct pkarr_known *known, enum pkarr_check check)
{
    unsigned tld_labels;

    if (pkarr_name_label_at(name, len, 0, key, known, check)) {
        return 0;
    }
    if (tld == NULL) {
        return -ENOENT;
    }
    tld_labels = dns_name_label_count(tld, tld_len);
    if (tld_labels == 0 || !dns_name_is_under(name, len, tld, tld_len)) {
        return -ENOENT;
    }
    if (pkarr_name_label_at(name, len, tld_labels, key, known, check)) {
        return (int)tld_labels;
    }
    return -ENOENT;
}

int pkarr_name_find_known(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                          uint8_t *key, const struct pkarr_known *known)
{
    return pkarr_name_find_by(name, len, tld, tld_len, key, known, PKARR_CHECK_FULL);
}

int pkarr_name_find(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                    uint8_t *key)
{
    return pkarr_name_find_by(name, len, tld, tld_len, key, NULL, PKARR_CHECK_FULL);
}

int pkarr_name_find_plausible(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                              uint8_t *key)
{
    return pkarr_name_find_by(name, len, tld, tld_len, key, NULL, PKARR_CHECK_PLAUSIBLE);
}
