#include "pkarr_name.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "dns_name.h"
#include "zbase32.h"

bool pkarr_name_label_key(const uint8_t *label, size_t len, uint8_t *key)
{
    uint8_t bytes[PKARR_KEY_LEN];

    if (len != PKARR_KEY_TEXT_LEN ||
        zbase32_decode((const char *)label, len, bytes, sizeof(bytes)) != PKARR_KEY_LEN) {
        return false;
    }
    /* libsodium 1.0.18 also rejects non-canonical encodings, small-order points and points
     * outside the prime-order subgroup. Such keys could never verify a packet here (libsodium's
     * verification refuses them too), so they are not keys for us either. */
    if (crypto_core_ed25519_is_valid_point(bytes) != 1) {
        return false;
    }
    if (key != NULL) {
        memcpy(key, bytes, sizeof(bytes));
    }
    return true;
}

static bool pkarr_name_label_at(const uint8_t *name, size_t len, unsigned idx, uint8_t *key)
{
    const uint8_t *label;
    size_t label_len;

    if (dns_name_label_from_end(name, len, idx, &label, &label_len) != 0) {
        return false;
    }
    return pkarr_name_label_key(label, label_len, key);
}

int pkarr_name_find(const uint8_t *name, size_t len, const uint8_t *tld, size_t tld_len,
                    uint8_t *key)
{
    unsigned tld_labels;

    if (pkarr_name_label_at(name, len, 0, key)) {
        return 0;
    }
    if (tld == NULL) {
        return -ENOENT;
    }
    tld_labels = dns_name_label_count(tld, tld_len);
    if (tld_labels == 0 || !dns_name_is_under(name, len, tld, tld_len)) {
        return -ENOENT;
    }
    if (pkarr_name_label_at(name, len, tld_labels, key)) {
        return (int)tld_labels;
    }
    return -ENOENT;
}
