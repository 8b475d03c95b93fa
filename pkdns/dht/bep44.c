#include "bep44.h"

#include "bencode.h"

#include <errno.h>
#include <nettle/sha1.h>
#include <sodium.h>

_Static_assert(BEP44_TARGET_LEN == SHA1_DIGEST_SIZE, "a BEP 44 target is a SHA-1 digest");
_Static_assert(BEP44_KEY_LEN == crypto_sign_PUBLICKEYBYTES, "BEP 44 keys are ed25519 keys");
_Static_assert(BEP44_SIG_LEN == crypto_sign_BYTES, "BEP 44 signatures are ed25519 signatures");

int bep44_signed_string(const uint8_t *salt, size_t salt_len, int64_t seq, const uint8_t *value,
                        size_t value_len, uint8_t *out, size_t cap, size_t *out_len)
{
    struct bencode_writer w;

    if (salt_len > BEP44_SALT_MAX || value_len > BEP44_VALUE_MAX) {
        return -EMSGSIZE;
    }
    /* The string reads like the inside of a dictionary whose keys are in sorted order. */
    bencode_writer_init(&w, out, cap);
    if (salt_len > 0) {
        bencode_write_key(&w, "salt");
        bencode_write_str(&w, salt, salt_len);
    }
    bencode_write_key(&w, "seq");
    bencode_write_int(&w, seq);
    bencode_write_key(&w, "v");
    bencode_write_raw(&w, value, value_len);
    return bencode_writer_finish(&w, out_len);
}

void bep44_mutable_target(const uint8_t key[BEP44_KEY_LEN], const uint8_t *salt, size_t salt_len,
                          uint8_t target[BEP44_TARGET_LEN])
{
    struct sha1_ctx ctx;

    sha1_init(&ctx);
    sha1_update(&ctx, BEP44_KEY_LEN, key);
    if (salt_len > 0) {
        sha1_update(&ctx, salt_len, salt);
    }
    sha1_digest(&ctx, BEP44_TARGET_LEN, target);
}

void bep44_immutable_target(const uint8_t *value, size_t value_len,
                            uint8_t target[BEP44_TARGET_LEN])
{
    struct sha1_ctx ctx;

    sha1_init(&ctx);
    sha1_update(&ctx, value_len, value);
    sha1_digest(&ctx, BEP44_TARGET_LEN, target);
}

int bep44_verify(const uint8_t key[BEP44_KEY_LEN], const uint8_t sig[BEP44_SIG_LEN],
                 const uint8_t *salt, size_t salt_len, int64_t seq, const uint8_t *value,
                 size_t value_len)
{
    uint8_t msg[BEP44_SIGNED_MAX];
    size_t msg_len;
    int rc;

    rc = bep44_signed_string(salt, salt_len, seq, value, value_len, msg, sizeof(msg), &msg_len);
    if (rc < 0) {
        return rc;
    }
    if (crypto_sign_verify_detached(sig, msg, msg_len, key) != 0) {
        return -EBADMSG;
    }
    return 0;
}

int bep44_sign(const uint8_t secret_key[64], const uint8_t *salt, size_t salt_len, int64_t seq,
               const uint8_t *value, size_t value_len, uint8_t sig[BEP44_SIG_LEN])
{
    uint8_t msg[BEP44_SIGNED_MAX];
    size_t msg_len;
    int rc;

    rc = bep44_signed_string(salt, salt_len, seq, value, value_len, msg, sizeof(msg), &msg_len);
    if (rc < 0) {
        return rc;
    }
    crypto_sign_detached(sig, NULL, msg, msg_len, secret_key);
    return 0;
}
