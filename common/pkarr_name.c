#include "pkarr_name.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "dns_name.h"
#include "zbase32.h"

/* The curve check costs as much as a signature check (a scalar multiplication, about 100 us
 * here), and the same few keys come again and again: each thread remembers its last verdicts
 * in a direct-mapped table. A key that maps to a busy slot evicts it; the worst case is the
 * cost without the table. */
#define PKARR_MEMO_SLOTS 1024 /* ours: 33 KiB per thread */

enum pkarr_memo_state {
    PKARR_MEMO_EMPTY = 0,
    PKARR_MEMO_KEY,
    PKARR_MEMO_NOT_KEY,
};

struct pkarr_memo_slot {
    uint8_t key[PKARR_KEY_LEN];
    uint8_t state; /* enum pkarr_memo_state */
};

static _Thread_local struct pkarr_memo_slot pkarr_memo[PKARR_MEMO_SLOTS];

static struct pkarr_memo_slot *pkarr_memo_slot(const uint8_t bytes[PKARR_KEY_LEN])
{
    /* Real keys are uniformly random; a crafted collision only costs a recomputation. */
    uint32_t h = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[31] << 16;

    return &pkarr_memo[h % PKARR_MEMO_SLOTS];
}

static bool pkarr_name_point_is_key(const uint8_t bytes[PKARR_KEY_LEN])
{
    struct pkarr_memo_slot *slot = pkarr_memo_slot(bytes);
    bool is_key;

    if (slot->state != PKARR_MEMO_EMPTY && memcmp(slot->key, bytes, PKARR_KEY_LEN) == 0) {
        return slot->state == PKARR_MEMO_KEY;
    }
    /* libsodium 1.0.18 also rejects non-canonical encodings, small-order points and points
     * outside the prime-order subgroup. Such keys could never verify a packet here (libsodium's
     * verification refuses them too), so they are not keys for us either. */
    is_key = crypto_core_ed25519_is_valid_point(bytes) == 1;
    memcpy(slot->key, bytes, PKARR_KEY_LEN);
    slot->state = is_key ? PKARR_MEMO_KEY : PKARR_MEMO_NOT_KEY;
    return is_key;
}

/* The label's key when it is one; known (may be NULL) can vouch for a key and spare the curve
 * check. */
static bool pkarr_name_label_check(const uint8_t *label, size_t len, uint8_t *key,
                                   const struct pkarr_known *known)
{
    uint8_t bytes[PKARR_KEY_LEN];

    if (len != PKARR_KEY_TEXT_LEN ||
        zbase32_decode((const char *)label, len, bytes, sizeof(bytes)) != PKARR_KEY_LEN) {
        return false;
    }
    if (!(known != NULL && known->vouch(known->user, bytes)) && !pkarr_name_point_is_key(bytes)) {
        return false;
    }
    if (key != NULL) {
        memcpy(key, bytes, sizeof(bytes));
    }
    return true;
}

bool pkarr_name_label_key(const uint8_t *label, size_t len, uint8_t *key)
{
    return pkarr_name_label_check(label, len, key, NULL);
}

static bool pkarr_name_label_at(const uint8_t *name, size_t len, unsigned idx, uint8_t *key,
                                const struct pkarr_known *known)
{
    const uint8_t *label;
    size_t label_len;

    if (dns_name_label_from_end(name, len, idx, &label, &label_len) != 0) {
        return false;
    }
    return pkarr_name_label_check(label, label_len, key, known);
}

int pkarr_name_find_known(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                          uint8_t *key, const struct pkarr_known *known)
{
    unsigned tld_labels;

    if (pkarr_name_label_at(name, len, 0, key, known)) {
        return 0;
    }
    if (tld == NULL) {
        return -ENOENT;
    }
    tld_labels = dns_name_label_count(tld, tld_len);
    if (tld_labels == 0 || !dns_name_is_under(name, len, tld, tld_len)) {
        return -ENOENT;
    }
    if (pkarr_name_label_at(name, len, tld_labels, key, known)) {
        return (int)tld_labels;
    }
    return -ENOENT;
}

int pkarr_name_find(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                    uint8_t *key)
{
    return pkarr_name_find_known(name, len, tld, tld_len, key, NULL);
}
