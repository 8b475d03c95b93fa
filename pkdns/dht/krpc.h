/* KRPC, the DHT's message layer (BEP 5, with BEP 32, 42, 43 and 44 fields): one bencoded
 * dictionary per UDP datagram, a query, a response or an error.
 *
 * krpc_parse turns a datagram into a struct krpc_msg whose byte fields point into the datagram;
 * krpc_write turns a struct krpc_msg back into a datagram. Unknown keys are ignored; a query
 * that lacks what its method requires is answered with error 203, an unknown method with 204. */
#ifndef PK_KRPC_H
#define PK_KRPC_H

#include "bep44.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KRPC_ID_LEN 20    /* BEP 5: node IDs and info hashes are 160 bits */
#define KRPC_NODE_LEN 26  /* BEP 5: compact node info, ID + IPv4 address + port */
#define KRPC_NODE6_LEN 38 /* BEP 32: ID + IPv6 address + port */
#define KRPC_PEER_LEN 6   /* BEP 5: compact peer info, IPv4 address + port */
#define KRPC_PEER6_LEN 18 /* BEP 32: IPv6 address + port */

#define KRPC_ERR_GENERIC 201  /* BEP 5 */
#define KRPC_ERR_SERVER 202   /* BEP 5 */
#define KRPC_ERR_PROTOCOL 203 /* BEP 5: malformed packet, invalid arguments or bad token */
#define KRPC_ERR_METHOD 204   /* BEP 5: method unknown */

#define KRPC_WANT_N4 1u /* BEP 32: "want" lists "n4", IPv4 nodes wanted */
#define KRPC_WANT_N6 2u /* BEP 32: "want" lists "n6", IPv6 nodes wanted */

/* Our bounds, not the BEPs': the longest transaction ID we echo (BEP 5 suggests 2 bytes),
 * the peers kept from one get_peers response (more are ignored), and the bencode elements one
 * datagram may hold (a full 1500-byte datagram has fewer than 750). */
#define KRPC_TID_MAX 32
#define KRPC_VALUES_MAX 128
#define KRPC_TOKENS_MAX 1024

enum krpc_type {
    KRPC_QUERY,    /* y = "q" */
    KRPC_RESPONSE, /* y = "r" */
    KRPC_ERROR,    /* y = "e" */
};

enum krpc_method {
    KRPC_PING,          /* BEP 5 */
    KRPC_FIND_NODE,     /* BEP 5 */
    KRPC_GET_PEERS,     /* BEP 5 */
    KRPC_ANNOUNCE_PEER, /* BEP 5 */
    KRPC_GET,           /* BEP 44 */
    KRPC_PUT,           /* BEP 44 */
    KRPC_UNKNOWN,
};

/* Bytes inside a datagram (or, for writing, the caller's memory). data is NULL when absent. */
struct krpc_span {
    const uint8_t *data;
    size_t len;
};

/* One message. The fields a message does not carry are zero/NULL. Fixed-size fields are
 * pointers to exactly that many bytes. */
struct krpc_msg {
    enum krpc_type type;
    enum krpc_method method;  /* queries */
    struct krpc_span t;       /* transaction ID, at most KRPC_TID_MAX bytes */
    struct krpc_span version; /* top-level "v": client version; optional */
    struct krpc_span ip;      /* BEP 42 "ip": the receiver's address as seen, 6 or 18 bytes */
    bool ro;                  /* BEP 43 "ro": the sender is read-only */

    /* Query arguments ("a") and response values ("r"). */
    const uint8_t *id;        /* KRPC_ID_LEN: the sender's node ID */
    const uint8_t *target;    /* KRPC_ID_LEN: find_node, get */
    const uint8_t *info_hash; /* KRPC_ID_LEN: get_peers, announce_peer */
    bool has_port;
    uint16_t port;           /* announce_peer */
    bool implied_port;       /* announce_peer: use the UDP source port */
    unsigned want;           /* BEP 32: KRPC_WANT_* flags; 0 when absent */
    struct krpc_span token;  /* write token: announce_peer, put; get_peers, get responses */
    struct krpc_span nodes;  /* responses: a multiple of KRPC_NODE_LEN bytes */
    struct krpc_span nodes6; /* responses: a multiple of KRPC_NODE6_LEN bytes */
    size_t nvalues;          /* get_peers responses: compact peers, 6 or 18 bytes each */
    struct krpc_span values[KRPC_VALUES_MAX];

    /* BEP 44 items: put arguments and get results. */
    const uint8_t *k;   /* BEP44_KEY_LEN; NULL for immutable items */
    const uint8_t *sig; /* BEP44_SIG_LEN */
    bool has_seq;
    int64_t seq;
    bool has_cas;
    int64_t cas;            /* put: the seq the writer expects to replace */
    struct krpc_span salt;  /* never empty: an empty salt counts as none */
    struct krpc_span value; /* "v": the bencoded value, kept raw */

    /* Errors ("e"); also set by krpc_parse when a query must be answered with one. */
    int64_t error_code;
    struct krpc_span error_msg;
};

/* Parses one datagram into m, whose spans then point into data. Returns 0; -EBADMSG when
 * the datagram is to be dropped; -EPROTO for a query to answer with an error: then m->t is
 * set, m->error_code is 203 or 204 and m->error_msg holds a NUL-terminated reason. */
int krpc_parse(struct krpc_msg *m, const uint8_t *data, size_t len);

/* Writes m as a datagram into buf (room for cap bytes) and sets *len. Returns 0; -EINVAL when
 * a field the message needs is missing or has a length krpc_parse would refuse; -ENOSPC when
 * cap is too small. m->value must be valid bencode; it is copied as is. */
int krpc_write(const struct krpc_msg *m, uint8_t *buf, size_t cap, size_t *len);

/* Clears m and makes it a query for `method` with transaction ID t and sender id (both kept by
 * pointer); the caller then sets the method's arguments. */
void krpc_msg_init_query(struct krpc_msg *m, enum krpc_method method, const uint8_t *t,
                         size_t t_len, const uint8_t id[KRPC_ID_LEN]);

/* Clears m and makes it the response to `query` (its transaction ID) from node `id`. */
void krpc_msg_init_response(struct krpc_msg *m, const struct krpc_msg *query,
                            const uint8_t id[KRPC_ID_LEN]);

/* Clears m and makes it the error reply to `query` with `code` and text `msg` (NUL-terminated;
 * NULL for krpc_strerror(code)). */
void krpc_msg_init_error(struct krpc_msg *m, const struct krpc_msg *query, int code,
                         const char *msg);

/* The method's name on the wire ("find_node"), or "unknown". */
const char *krpc_method_name(enum krpc_method method);

/* Words for a KRPC error code (BEP 5 and BEP 44 codes), given as is or negated. */
const char *krpc_strerror(int64_t code);

#endif
