#include "krpc.h"

#include "bencode.h"

#include <errno.h>
#include <string.h>

/* The keys of "a" and "r" that we read and write, in sorted order: the writer walks this enum
 * from first to last, which keeps the dictionaries it writes sorted as BEP 3 requires. */
enum krpc_field {
    KRPC_F_CAS,
    KRPC_F_ID,
    KRPC_F_IMPLIED_PORT,
    KRPC_F_INFO_HASH,
    KRPC_F_K,
    KRPC_F_NODES,
    KRPC_F_NODES6,
    KRPC_F_PORT,
    KRPC_F_SALT,
    KRPC_F_SEQ,
    KRPC_F_SIG,
    KRPC_F_TARGET,
    KRPC_F_TOKEN,
    KRPC_F_V,
    KRPC_F_VALUES,
    KRPC_F_WANT,
    KRPC_F_COUNT,
};

#define KRPC_BIT(f) (1u << (f))

static const char *const krpc_field_keys[KRPC_F_COUNT] = {
    [KRPC_F_CAS] = "cas",
    [KRPC_F_ID] = "id",
    [KRPC_F_IMPLIED_PORT] = "implied_port",
    [KRPC_F_INFO_HASH] = "info_hash",
    [KRPC_F_K] = "k",
    [KRPC_F_NODES] = "nodes",
    [KRPC_F_NODES6] = "nodes6",
    [KRPC_F_PORT] = "port",
    [KRPC_F_SALT] = "salt",
    [KRPC_F_SEQ] = "seq",
    [KRPC_F_SIG] = "sig",
    [KRPC_F_TARGET] = "target",
    [KRPC_F_TOKEN] = "token",
    [KRPC_F_V] = "v",
    [KRPC_F_VALUES] = "values",
    [KRPC_F_WANT] = "want",
};

/* The reasons sent back with error 203, one per argument. */
static const char *const krpc_field_errors[KRPC_F_COUNT] = {
    [KRPC_F_CAS] = "invalid 'cas'",
    [KRPC_F_ID] = "missing or invalid 'id'",
    [KRPC_F_IMPLIED_PORT] = "invalid 'implied_port'",
    [KRPC_F_INFO_HASH] = "missing or invalid 'info_hash'",
    [KRPC_F_K] = "invalid 'k'",
    [KRPC_F_NODES] = "invalid 'nodes'",
    [KRPC_F_NODES6] = "invalid 'nodes6'",
    [KRPC_F_PORT] = "missing or invalid 'port'",
    [KRPC_F_SALT] = "invalid 'salt'",
    [KRPC_F_SEQ] = "missing or invalid 'seq'",
    [KRPC_F_SIG] = "missing or invalid 'sig'",
    [KRPC_F_TARGET] = "missing or invalid 'target'",
    [KRPC_F_TOKEN] = "missing or invalid 'token'",
    [KRPC_F_V] = "missing 'v'",
    [KRPC_F_VALUES] = "invalid 'values'",
    [KRPC_F_WANT] = "invalid 'want'",
};

/* What a message carries: the fields it must have and those it may have. */
struct krpc_shape {
    const char *name;
    unsigned required;
    unsigned optional;
};

static const struct krpc_shape krpc_queries[KRPC_UNKNOWN] = {
    [KRPC_PING] = {"ping", KRPC_BIT(KRPC_F_ID), 0},
    [KRPC_FIND_NODE] = {"find_node", KRPC_BIT(KRPC_F_ID) | KRPC_BIT(KRPC_F_TARGET),
                        KRPC_BIT(KRPC_F_WANT)},
    [KRPC_GET_PEERS] = {"get_peers", KRPC_BIT(KRPC_F_ID) | KRPC_BIT(KRPC_F_INFO_HASH),
                        KRPC_BIT(KRPC_F_WANT)},
    [KRPC_ANNOUNCE_PEER] = {"announce_peer",
                            KRPC_BIT(KRPC_F_ID) | KRPC_BIT(KRPC_F_INFO_HASH) |
                                KRPC_BIT(KRPC_F_PORT) | KRPC_BIT(KRPC_F_TOKEN),
                            KRPC_BIT(KRPC_F_IMPLIED_PORT)},
    [KRPC_GET] = {"get", KRPC_BIT(KRPC_F_ID) | KRPC_BIT(KRPC_F_TARGET),
                  KRPC_BIT(KRPC_F_SEQ) | KRPC_BIT(KRPC_F_WANT)},
    [KRPC_PUT] = {"put", KRPC_BIT(KRPC_F_ID) | KRPC_BIT(KRPC_F_TOKEN) | KRPC_BIT(KRPC_F_V),
                  KRPC_BIT(KRPC_F_CAS) | KRPC_BIT(KRPC_F_K) | KRPC_BIT(KRPC_F_SALT) |
                      KRPC_BIT(KRPC_F_SEQ) | KRPC_BIT(KRPC_F_SIG)},
};

/* A response does not name its method, so every result field is optional but the ID. */
static const struct krpc_shape krpc_response = {
    .required = KRPC_BIT(KRPC_F_ID),
    .optional = KRPC_BIT(KRPC_F_K) | KRPC_BIT(KRPC_F_NODES) | KRPC_BIT(KRPC_F_NODES6) |
                KRPC_BIT(KRPC_F_SEQ) | KRPC_BIT(KRPC_F_SIG) | KRPC_BIT(KRPC_F_TOKEN) |
                KRPC_BIT(KRPC_F_V) | KRPC_BIT(KRPC_F_VALUES),
};

/* The put arguments that only a mutable item (one with "k") carries. */
static const unsigned krpc_put_mutable_fields = KRPC_BIT(KRPC_F_CAS) | KRPC_BIT(KRPC_F_K) |
                                                KRPC_BIT(KRPC_F_SALT) | KRPC_BIT(KRPC_F_SEQ) |
                                                KRPC_BIT(KRPC_F_SIG);

static int krpc_read_fixed(const struct bencode *doc, int tok, size_t want_len, const uint8_t **out)
{
    const uint8_t *str;
    size_t len;

    if (bencode_str(doc, tok, &str, &len) < 0 || len != want_len) {
        return -EINVAL;
    }
    *out = str;
    return 0;
}

/* Reads a string whose length must be a multiple of `unit` (1 for any length). */
static int krpc_read_span(const struct bencode *doc, int tok, size_t unit, struct krpc_span *out)
{
    const uint8_t *str;
    size_t len;

    if (bencode_str(doc, tok, &str, &len) < 0 || len % unit != 0) {
        return -EINVAL;
    }
    out->data = str;
    out->len = len;
    return 0;
}

static int krpc_read_int(const struct bencode *doc, int tok, int64_t *out, bool *present)
{
    if (bencode_int(doc, tok, out) < 0) {
        return -EINVAL;
    }
    *present = true;
    return 0;
}

static int krpc_read_port(struct krpc_msg *m, const struct bencode *doc, int tok)
{
    int64_t port;

    if (bencode_int(doc, tok, &port) < 0 || port < 0 || port > UINT16_MAX) {
        return -EINVAL;
    }
    m->port = (uint16_t)port;
    m->has_port = true;
    return 0;
}

/* BEP 32: a list of strings; only "n4" and "n6" mean something. */
static int krpc_read_want(struct krpc_msg *m, const struct bencode *doc, int tok)
{
    size_t n = bencode_count(doc, tok);

    if (bencode_type(doc, tok) != BENCODE_LIST) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *str;
        size_t len;
        if (bencode_str(doc, bencode_list_get(doc, tok, i), &str, &len) < 0) {
            return -EINVAL;
        }
        if (len == 2 && memcmp(str, "n4", 2) == 0) {
            m->want |= KRPC_WANT_N4;
        } else if (len == 2 && memcmp(str, "n6", 2) == 0) {
            m->want |= KRPC_WANT_N6;
        }
    }
    return 0;
}

/* BEP 5 / BEP 32: a list of compact peers; those past KRPC_VALUES_MAX are ignored. */
static int krpc_read_values(struct krpc_msg *m, const struct bencode *doc, int tok)
{
    size_t n = bencode_count(doc, tok);

    if (bencode_type(doc, tok) != BENCODE_LIST) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n && i < KRPC_VALUES_MAX; i++) {
        struct krpc_span *peer = &m->values[i];
        if (krpc_read_span(doc, bencode_list_get(doc, tok, i), 1, peer) < 0) {
            return -EINVAL;
        }
        if (peer->len != KRPC_PEER_LEN && peer->len != KRPC_PEER6_LEN) {
            return -EINVAL;
        }
        m->nvalues++;
    }
    return 0;
}

static int krpc_read_field(struct krpc_msg *m, enum krpc_field f, const struct bencode *doc,
                           int tok)
{
    int64_t flag;

    switch (f) {
    case KRPC_F_CAS:
        return krpc_read_int(doc, tok, &m->cas, &m->has_cas);
    case KRPC_F_ID:
        return krpc_read_fixed(doc, tok, KRPC_ID_LEN, &m->id);
    case KRPC_F_IMPLIED_PORT:
        if (bencode_int(doc, tok, &flag) < 0) {
            return -EINVAL;
        }
        m->implied_port = flag != 0;
        return 0;
    case KRPC_F_INFO_HASH:
        return krpc_read_fixed(doc, tok, KRPC_ID_LEN, &m->info_hash);
    case KRPC_F_K:
        return krpc_read_fixed(doc, tok, BEP44_KEY_LEN, &m->k);
    case KRPC_F_NODES:
        return krpc_read_span(doc, tok, KRPC_NODE_LEN, &m->nodes);
    case KRPC_F_NODES6:
        return krpc_read_span(doc, tok, KRPC_NODE6_LEN, &m->nodes6);
    case KRPC_F_PORT:
        return krpc_read_port(m, doc, tok);
    case KRPC_F_SALT:
        return krpc_read_span(doc, tok, 1, &m->salt);
    case KRPC_F_SEQ:
        return krpc_read_int(doc, tok, &m->seq, &m->has_seq);
    case KRPC_F_SIG:
        return krpc_read_fixed(doc, tok, BEP44_SIG_LEN, &m->sig);
    case KRPC_F_TARGET:
        return krpc_read_fixed(doc, tok, KRPC_ID_LEN, &m->target);
    case KRPC_F_TOKEN:
        return krpc_read_span(doc, tok, 1, &m->token);
    case KRPC_F_V:
        return bencode_span(doc, tok, &m->value.data, &m->value.len) < 0 ? -EINVAL : 0;
    case KRPC_F_VALUES:
        return krpc_read_values(m, doc, tok);
    case KRPC_F_WANT:
        return krpc_read_want(m, doc, tok);
    case KRPC_F_COUNT:
        break;
    }
    return -EINVAL;
}

/* Reads the fields of `shape` from dictionary `dict`. On failure *bad is the field at fault. */
static int krpc_read_fields(struct krpc_msg *m, const struct bencode *doc, int dict,
                            const struct krpc_shape *shape, enum krpc_field *bad)
{
    for (unsigned f = 0; f < KRPC_F_COUNT; f++) {
        int tok;
        if (((shape->required | shape->optional) & KRPC_BIT(f)) == 0) {
            continue;
        }
        tok = bencode_dict_get(doc, dict, krpc_field_keys[f]);
        if (tok == -ENOENT && (shape->required & KRPC_BIT(f)) == 0) {
            continue;
        }
        if (krpc_read_field(m, (enum krpc_field)f, doc, tok) < 0) {
            *bad = (enum krpc_field)f;
            return -EINVAL;
        }
    }
    /* An empty salt is no salt: BEP 44 leaves it out of the signed string too. */
    if (m->salt.len == 0) {
        m->salt.data = NULL;
    }
    return 0;
}

/* Marks m as a query to answer with error `code` and returns -EPROTO. */
static int krpc_reject(struct krpc_msg *m, int code, const char *reason)
{
    m->error_code = code;
    m->error_msg.data = (const uint8_t *)reason;
    m->error_msg.len = strlen(reason);
    return -EPROTO;
}

static enum krpc_method krpc_method_lookup(const uint8_t *name, size_t len)
{
    for (unsigned i = 0; i < KRPC_UNKNOWN; i++) {
        const char *known = krpc_queries[i].name;
        if (strlen(known) == len && memcmp(known, name, len) == 0) {
            return (enum krpc_method)i;
        }
    }
    return KRPC_UNKNOWN;
}

/* BEP 44: a put with "k" is mutable and must carry "sig" and "seq"; without "k" it is
 * immutable, and whatever mutable fields came with it are dropped. */
static int krpc_check_put(struct krpc_msg *m)
{
    if (m->k == NULL) {
        m->sig = NULL;
        m->has_seq = m->has_cas = false;
        m->seq = m->cas = 0;
        m->salt.data = NULL;
        m->salt.len = 0;
        return 0;
    }
    if (m->sig == NULL) {
        return krpc_reject(m, KRPC_ERR_PROTOCOL, krpc_field_errors[KRPC_F_SIG]);
    }
    if (!m->has_seq) {
        return krpc_reject(m, KRPC_ERR_PROTOCOL, krpc_field_errors[KRPC_F_SEQ]);
    }
    return 0;
}

static int krpc_read_query(struct krpc_msg *m, const struct bencode *doc)
{
    const struct krpc_shape *shape;
    enum krpc_field bad;
    const uint8_t *name;
    size_t name_len;
    int args;

    if (bencode_str(doc, bencode_dict_get(doc, 0, "q"), &name, &name_len) < 0) {
        return krpc_reject(m, KRPC_ERR_PROTOCOL, "missing or invalid 'q'");
    }
    m->method = krpc_method_lookup(name, name_len);
    if (m->method == KRPC_UNKNOWN) {
        return krpc_reject(m, KRPC_ERR_METHOD, "unknown method");
    }
    args = bencode_dict_get(doc, 0, "a");
    if (bencode_type(doc, args) != BENCODE_DICT) {
        return krpc_reject(m, KRPC_ERR_PROTOCOL, "missing or invalid 'a'");
    }

    shape = &krpc_queries[m->method];
    if (krpc_read_fields(m, doc, args, shape, &bad) < 0) {
        return krpc_reject(m, KRPC_ERR_PROTOCOL, krpc_field_errors[bad]);
    }
    return m->method == KRPC_PUT ? krpc_check_put(m) : 0;
}

static int krpc_read_response(struct krpc_msg *m, const struct bencode *doc)
{
    enum krpc_field bad;
    int results = bencode_dict_get(doc, 0, "r");

    if (bencode_type(doc, results) != BENCODE_DICT) {
        return -EBADMSG;
    }
    if (krpc_read_fields(m, doc, results, &krpc_response, &bad) < 0) {
        return -EBADMSG;
    }
    return 0;
}

/* BEP 5: "e" is a list of an integer code and a message string. */
static int krpc_read_error(struct krpc_msg *m, const struct bencode *doc)
{
    int list = bencode_dict_get(doc, 0, "e");
    int msg;

    if (bencode_int(doc, bencode_list_get(doc, list, 0), &m->error_code) < 0) {
        return -EBADMSG;
    }
    msg = bencode_list_get(doc, list, 1);
    if (bencode_str(doc, msg, &m->error_msg.data, &m->error_msg.len) < 0) {
        m->error_msg.data = (const uint8_t *)"";
        m->error_msg.len = 0;
    }
    return 0;
}

/* The keys every message may carry: "t", "y", and the optional "v", "ip" and "ro". */
static int krpc_read_envelope(struct krpc_msg *m, const struct bencode *doc)
{
    const uint8_t *y, *ip;
    size_t y_len, ip_len;
    int64_t ro;

    if (bencode_str(doc, bencode_dict_get(doc, 0, "t"), &m->t.data, &m->t.len) < 0 ||
        m->t.len > KRPC_TID_MAX) {
        return -EBADMSG;
    }
    if (bencode_str(doc, bencode_dict_get(doc, 0, "y"), &y, &y_len) < 0 || y_len != 1) {
        return -EBADMSG;
    }
    if (y[0] == 'q') {
        m->type = KRPC_QUERY;
    } else if (y[0] == 'r') {
        m->type = KRPC_RESPONSE;
    } else if (y[0] == 'e') {
        m->type = KRPC_ERROR;
    } else {
        return -EBADMSG;
    }

    /* Informational keys: a malformed one is ignored rather than fatal. */
    if (bencode_str(doc, bencode_dict_get(doc, 0, "v"), &m->version.data, &m->version.len) < 0) {
        m->version.data = NULL;
        m->version.len = 0;
    }
    if (bencode_str(doc, bencode_dict_get(doc, 0, "ip"), &ip, &ip_len) == 0 &&
        (ip_len == KRPC_PEER_LEN || ip_len == KRPC_PEER6_LEN)) {
        m->ip.data = ip;
        m->ip.len = ip_len;
    }
    if (bencode_int(doc, bencode_dict_get(doc, 0, "ro"), &ro) == 0) {
        m->ro = ro != 0;
    }
    return 0;
}

int krpc_parse(struct krpc_msg *m, const uint8_t *data, size_t len)
{
    struct bencode_tok toks[KRPC_TOKENS_MAX];
    struct bencode doc;

    memset(m, 0, sizeof(*m));
    m->method = KRPC_UNKNOWN;
    if (bencode_parse(&doc, data, len, toks, KRPC_TOKENS_MAX) < 0 ||
        bencode_type(&doc, 0) != BENCODE_DICT) {
        return -EBADMSG;
    }
    if (krpc_read_envelope(m, &doc) < 0) {
        return -EBADMSG;
    }
    switch (m->type) {
    case KRPC_QUERY:
        return krpc_read_query(m, &doc);
    case KRPC_RESPONSE:
        return krpc_read_response(m, &doc);
    case KRPC_ERROR:
        return krpc_read_error(m, &doc);
    }
    return -EBADMSG;
}

static bool krpc_field_present(const struct krpc_msg *m, enum krpc_field f)
{
    switch (f) {
    case KRPC_F_CAS:
        return m->has_cas;
    case KRPC_F_ID:
        return m->id != NULL;
    case KRPC_F_IMPLIED_PORT:
        return m->implied_port;
    case KRPC_F_INFO_HASH:
        return m->info_hash != NULL;
    case KRPC_F_K:
        return m->k != NULL;
    case KRPC_F_NODES:
        return m->nodes.data != NULL;
    case KRPC_F_NODES6:
        return m->nodes6.data != NULL;
    case KRPC_F_PORT:
        return m->has_port;
    case KRPC_F_SALT:
        return m->salt.data != NULL && m->salt.len > 0;
    case KRPC_F_SEQ:
        return m->has_seq;
    case KRPC_F_SIG:
        return m->sig != NULL;
    case KRPC_F_TARGET:
        return m->target != NULL;
    case KRPC_F_TOKEN:
        return m->token.data != NULL;
    case KRPC_F_V:
        return m->value.data != NULL;
    case KRPC_F_VALUES:
        return m->nvalues > 0;
    case KRPC_F_WANT:
        return m->want != 0;
    case KRPC_F_COUNT:
        break;
    }
    return false;
}

/* Refuses what krpc_parse would refuse, so that everything written parses back. */
static bool krpc_field_valid(const struct krpc_msg *m, enum krpc_field f)
{
    switch (f) {
    case KRPC_F_NODES:
        return m->nodes.len % KRPC_NODE_LEN == 0;
    case KRPC_F_NODES6:
        return m->nodes6.len % KRPC_NODE6_LEN == 0;
    case KRPC_F_VALUES:
        if (m->nvalues > KRPC_VALUES_MAX) {
            return false;
        }
        for (size_t i = 0; i < m->nvalues; i++) {
            if (m->values[i].len != KRPC_PEER_LEN && m->values[i].len != KRPC_PEER6_LEN) {
                return false;
            }
        }
        return true;
    case KRPC_F_V:
        return m->value.len > 0;
    default:
        return true;
    }
}

static void krpc_write_field(struct bencode_writer *w, const struct krpc_msg *m, enum krpc_field f)
{
    bencode_write_key(w, krpc_field_keys[f]);
    switch (f) {
    case KRPC_F_CAS:
        bencode_write_int(w, m->cas);
        break;
    case KRPC_F_ID:
        bencode_write_str(w, m->id, KRPC_ID_LEN);
        break;
    case KRPC_F_IMPLIED_PORT:
        bencode_write_int(w, 1);
        break;
    case KRPC_F_INFO_HASH:
        bencode_write_str(w, m->info_hash, KRPC_ID_LEN);
        break;
    case KRPC_F_K:
        bencode_write_str(w, m->k, BEP44_KEY_LEN);
        break;
    case KRPC_F_NODES:
        bencode_write_str(w, m->nodes.data, m->nodes.len);
        break;
    case KRPC_F_NODES6:
        bencode_write_str(w, m->nodes6.data, m->nodes6.len);
        break;
    case KRPC_F_PORT:
        bencode_write_int(w, m->port);
        break;
    case KRPC_F_SALT:
        bencode_write_str(w, m->salt.data, m->salt.len);
        break;
    case KRPC_F_SEQ:
        bencode_write_int(w, m->seq);
        break;
    case KRPC_F_SIG:
        bencode_write_str(w, m->sig, BEP44_SIG_LEN);
        break;
    case KRPC_F_TARGET:
        bencode_write_str(w, m->target, KRPC_ID_LEN);
        break;
    case KRPC_F_TOKEN:
        bencode_write_str(w, m->token.data, m->token.len);
        break;
    case KRPC_F_V:
        bencode_write_raw(w, m->value.data, m->value.len);
        break;
    case KRPC_F_VALUES:
        bencode_write_list_begin(w);
        for (size_t i = 0; i < m->nvalues; i++) {
            bencode_write_str(w, m->values[i].data, m->values[i].len);
        }
        bencode_write_end(w);
        break;
    case KRPC_F_WANT:
        bencode_write_list_begin(w);
        if (m->want & KRPC_WANT_N4) {
            bencode_write_key(w, "n4");
        }
        if (m->want & KRPC_WANT_N6) {
            bencode_write_key(w, "n6");
        }
        bencode_write_end(w);
        break;
    case KRPC_F_COUNT:
        break;
    }
}

/* The fields this message may and must carry; a put's depend on whether it has "k". */
static void krpc_fields_for(const struct krpc_msg *m, const struct krpc_shape *shape,
                            unsigned *allowed, unsigned *required)
{
    *allowed = shape->required | shape->optional;
    *required = shape->required;
    if (m->type == KRPC_QUERY && m->method == KRPC_PUT) {
        if (m->k == NULL) {
            *allowed &= ~krpc_put_mutable_fields;
        } else {
            *required |= KRPC_BIT(KRPC_F_SEQ) | KRPC_BIT(KRPC_F_SIG);
        }
    }
}

/* Writes the "a" or "r" dictionary. Returns 0, or -EINVAL for a missing or invalid field. */
static int krpc_write_fields(struct bencode_writer *w, const struct krpc_msg *m,
                             const struct krpc_shape *shape)
{
    unsigned fields, required;

    krpc_fields_for(m, shape, &fields, &required);
    bencode_write_dict_begin(w);
    for (unsigned f = 0; f < KRPC_F_COUNT; f++) {
        if ((fields & KRPC_BIT(f)) == 0) {
            continue;
        }
        if (!krpc_field_present(m, (enum krpc_field)f)) {
            if (required & KRPC_BIT(f)) {
                return -EINVAL;
            }
            continue;
        }
        if (!krpc_field_valid(m, (enum krpc_field)f)) {
            return -EINVAL;
        }
        krpc_write_field(w, m, (enum krpc_field)f);
    }
    bencode_write_end(w);
    return 0;
}

static void krpc_write_error_list(struct bencode_writer *w, const struct krpc_msg *m)
{
    bencode_write_list_begin(w);
    bencode_write_int(w, m->error_code);
    bencode_write_str(w, m->error_msg.data, m->error_msg.data != NULL ? m->error_msg.len : 0);
    bencode_write_end(w);
}

/* Checks what the top-level dictionary needs before anything is written. */
static int krpc_envelope_valid(const struct krpc_msg *m)
{
    if (m->t.data == NULL || m->t.len > KRPC_TID_MAX) {
        return -EINVAL;
    }
    if ((unsigned)m->type > KRPC_ERROR) {
        return -EINVAL;
    }
    if (m->type == KRPC_QUERY && (unsigned)m->method >= KRPC_UNKNOWN) {
        return -EINVAL;
    }
    if (m->ip.data != NULL && m->ip.len != KRPC_PEER_LEN && m->ip.len != KRPC_PEER6_LEN) {
        return -EINVAL;
    }
    return 0;
}

int krpc_write(const struct krpc_msg *m, uint8_t *buf, size_t cap, size_t *len)
{
    static const char *const y_values[] = {
        [KRPC_QUERY] = "q", [KRPC_RESPONSE] = "r", [KRPC_ERROR] = "e"};
    struct bencode_writer w;
    int rc;

    *len = 0;
    if ((rc = krpc_envelope_valid(m)) < 0) {
        return rc;
    }

    /* Top-level keys in sorted order: a, e, ip, q, r, ro, t, v, y. */
    bencode_writer_init(&w, buf, cap);
    bencode_write_dict_begin(&w);
    if (m->type == KRPC_QUERY) {
        bencode_write_key(&w, "a");
        if ((rc = krpc_write_fields(&w, m, &krpc_queries[m->method])) < 0) {
            return rc;
        }
    }
    if (m->type == KRPC_ERROR) {
        bencode_write_key(&w, "e");
        krpc_write_error_list(&w, m);
    }
    if (m->ip.data != NULL) {
        bencode_write_key(&w, "ip");
        bencode_write_str(&w, m->ip.data, m->ip.len);
    }
    if (m->type == KRPC_QUERY) {
        bencode_write_key(&w, "q");
        bencode_write_key(&w, krpc_queries[m->method].name);
    }
    if (m->type == KRPC_RESPONSE) {
        bencode_write_key(&w, "r");
        if ((rc = krpc_write_fields(&w, m, &krpc_response)) < 0) {
            return rc;
        }
    }
    if (m->ro) {
        bencode_write_key(&w, "ro");
        bencode_write_int(&w, 1);
    }
    bencode_write_key(&w, "t");
    bencode_write_str(&w, m->t.data, m->t.len);
    if (m->version.data != NULL) {
        bencode_write_key(&w, "v");
        bencode_write_str(&w, m->version.data, m->version.len);
    }
    bencode_write_key(&w, "y");
    bencode_write_key(&w, y_values[m->type]);
    bencode_write_end(&w);
    return bencode_writer_finish(&w, len);
}

void krpc_msg_init_query(struct krpc_msg *m, enum krpc_method method, const uint8_t *t,
                         size_t t_len, const uint8_t id[KRPC_ID_LEN])
{
    memset(m, 0, sizeof(*m));
    m->type = KRPC_QUERY;
    m->method = method;
    m->t.data = t;
    m->t.len = t_len;
    m->id = id;
}

void krpc_msg_init_response(struct krpc_msg *m, const struct krpc_msg *query,
                            const uint8_t id[KRPC_ID_LEN])
{
    memset(m, 0, sizeof(*m));
    m->type = KRPC_RESPONSE;
    m->method = query->method;
    m->t = query->t;
    m->id = id;
}

void krpc_msg_init_error(struct krpc_msg *m, const struct krpc_msg *query, int code,
                         const char *msg)
{
    if (msg == NULL) {
        msg = krpc_strerror(code);
    }
    memset(m, 0, sizeof(*m));
    m->type = KRPC_ERROR;
    m->method = query->method;
    m->t = query->t;
    m->error_code = code;
    m->error_msg.data = (const uint8_t *)msg;
    m->error_msg.len = strlen(msg);
}

const char *krpc_method_name(enum krpc_method method)
{
    if ((unsigned)method >= KRPC_UNKNOWN) {
        return "unknown";
    }
    return krpc_queries[method].name;
}

const char *krpc_strerror(int64_t code)
{
    if (code < 0 && code != INT64_MIN) {
        code = -code;
    }
    switch (code) {
    case KRPC_ERR_GENERIC:
        return "generic error";
    case KRPC_ERR_SERVER:
        return "server error";
    case KRPC_ERR_PROTOCOL:
        return "protocol error";
    case KRPC_ERR_METHOD:
        return "method unknown";
    case BEP44_ERR_VALUE_TOO_BIG:
        return "value too big";
    case BEP44_ERR_BAD_SIGNATURE:
        return "invalid signature";
    case BEP44_ERR_SALT_TOO_BIG:
        return "salt too big";
    case BEP44_ERR_CAS_MISMATCH:
        return "cas does not match the stored sequence number";
    case BEP44_ERR_SEQ_TOO_LOW:
        return "sequence number lower than the stored one";
    default:
        return "unknown error";
    }
}
