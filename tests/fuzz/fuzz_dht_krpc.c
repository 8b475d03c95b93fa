/* Fuzzes the KRPC reader: any datagram either parses or is refused. One that parses is written
 * back, and what is written must parse again to the same message and write to the same bytes.
 * A query refused with an error code must give an error reply that parses. */
#include "krpc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writing never makes a message much longer than it was read: a missing error message
 * becomes "0:", the rest is copied or shortened. */
#define FUZZ_SLACK 64

static int fuzz_span_equal(struct krpc_span a, struct krpc_span b)
{
    if ((a.data == NULL) != (b.data == NULL) || a.len != b.len) {
        return 0;
    }
    return a.len == 0 || memcmp(a.data, b.data, a.len) == 0;
}

static int fuzz_fixed_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    if ((a == NULL) != (b == NULL)) {
        return 0;
    }
    return a == NULL || memcmp(a, b, len) == 0;
}

static int fuzz_msg_equal(const struct krpc_msg *a, const struct krpc_msg *b)
{
    int same = a->type == b->type && a->method == b->method && a->ro == b->ro &&
               a->has_port == b->has_port && a->port == b->port &&
               a->implied_port == b->implied_port && a->want == b->want &&
               a->has_seq == b->has_seq && a->seq == b->seq && a->has_cas == b->has_cas &&
               a->cas == b->cas && a->nvalues == b->nvalues && a->error_code == b->error_code;

    same = same && fuzz_span_equal(a->t, b->t) && fuzz_span_equal(a->version, b->version) &&
           fuzz_span_equal(a->ip, b->ip) && fuzz_span_equal(a->token, b->token) &&
           fuzz_span_equal(a->nodes, b->nodes) && fuzz_span_equal(a->nodes6, b->nodes6) &&
           fuzz_span_equal(a->salt, b->salt) && fuzz_span_equal(a->value, b->value);
    same = same && fuzz_fixed_equal(a->id, b->id, KRPC_ID_LEN) &&
           fuzz_fixed_equal(a->target, b->target, KRPC_ID_LEN) &&
           fuzz_fixed_equal(a->info_hash, b->info_hash, KRPC_ID_LEN) &&
           fuzz_fixed_equal(a->k, b->k, BEP44_KEY_LEN) &&
           fuzz_fixed_equal(a->sig, b->sig, BEP44_SIG_LEN);
    for (size_t i = 0; same && i < a->nvalues; i++) {
        same = fuzz_span_equal(a->values[i], b->values[i]);
    }
    /* An absent error message is written as an empty one. */
    if (same && a->type == KRPC_ERROR) {
        same = a->error_msg.len == b->error_msg.len &&
               (a->error_msg.len == 0 ||
                memcmp(a->error_msg.data, b->error_msg.data, a->error_msg.len) == 0);
    }
    return same;
}

static void fuzz_error_reply(const struct krpc_msg *query)
{
    uint8_t buf[KRPC_TID_MAX + 256];
    struct krpc_msg reply, back;
    size_t len;

    krpc_msg_init_error(&reply, query, (int)query->error_code, (const char *)query->error_msg.data);
    if (krpc_write(&reply, buf, sizeof(buf), &len) != 0 || krpc_parse(&back, buf, len) != 0 ||
        back.type != KRPC_ERROR || back.error_code != query->error_code) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct krpc_msg *first = malloc(sizeof(*first)), *second = malloc(sizeof(*second));
    uint8_t *buf = malloc(size + FUZZ_SLACK), *again = malloc(size + FUZZ_SLACK);
    size_t len, again_len;
    int rc;

    if (first == NULL || second == NULL || buf == NULL || again == NULL) {
        abort();
    }
    rc = krpc_parse(first, data, size);
    if (rc == -EPROTO) {
        fuzz_error_reply(first);
    }
    if (rc == 0) {
        if (krpc_write(first, buf, size + FUZZ_SLACK, &len) != 0) {
            abort();
        }
        if (krpc_parse(second, buf, len) != 0 || !fuzz_msg_equal(first, second)) {
            abort();
        }
        if (krpc_write(second, again, size + FUZZ_SLACK, &again_len) != 0 || again_len != len ||
            memcmp(again, buf, len) != 0) {
            abort();
        }
    }
    free(first);
    free(second);
    free(buf);
    free(again);
    return 0;
}
