/* One backend, as the query path sees it. Its UDP side: a few sockets connected to it (so the
 * kernel drops datagrams from anyone else), read in batches with recvmmsg; a fixed table of
 * outstanding queries indexed by a random wire ID; timeouts in send order. Queries wait in
 * their slot until the loop's idle phase, when each socket's queue leaves with one sendmmsg:
 * one system call, and one wakeup of the backend, per loop turn rather than per query. Nothing
 * is allocated per UDP query. A reply counts only when it arrives on the socket its query left
 * from, with that ID and that question. Its TCP side (rt_tcp.h) keeps connections open and
 * reuses them. */
#ifndef PK_RT_BACKEND_H
#define PK_RT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dns_listener.h"
#include "dns_msg.h"
#include "rt_config.h"

/* Queries up to this long are kept with their slot, so a timeout can retry them elsewhere. */
#define RT_BACKEND_QUERY_MAX 512
/* Most slots per backend: IDs are 16 bits and must stay easy to draw at random. */
#define RT_BACKEND_MAX_OUTSTANDING 32768

/* A query in flight, as the router handed it over; given back with its answer or timeout. */
struct rt_pending {
    struct dns_client client;
    struct dns_query q;  /* the client's ID, question and EDNS limits */
    uint32_t generation; /* of the configuration that routed it */
    uint16_t pool;
    uint8_t attempt;    /* 0 for the first try */
    bool cacheable;     /* the answer may go into the pool's packet cache */
    uint16_t query_len; /* of query[]; 0 when the query was too long to keep */
    uint8_t query[RT_BACKEND_QUERY_MAX];
};

struct rt_backend;

/* The answer to p (answer has the wire ID still; the callback may rewrite it in place). */
typedef void (*rt_backend_answer_cb)(void *user, struct rt_backend *b, const struct rt_pending *p,
                                     uint8_t *answer, size_t len);
/* p got no answer in time, could not be sent, or lost its TCP connection twice; query[0..len)
 * is what was sent (len 0 when it was too long to keep). p is freed when the callback
 * returns. */
typedef void (*rt_backend_timeout_cb)(void *user, struct rt_backend *b, const struct rt_pending *p,
                                      const uint8_t *query, size_t len);

struct rt_backend_stats {
    uint64_t queries;
    uint64_t responses;
    uint64_t timeouts;
    uint64_t mismatched;   /* datagrams ignored: unknown ID, wrong question, not a response */
    uint64_t send_errors;  /* queries the socket refused */
    uint64_t send_batches; /* sendmmsg calls for queued queries */
    uint64_t tcp_connects; /* TCP connections opened */
    uint64_t tcp_blocks;   /* TCP query blocks allocated */
    uint64_t tcp_resent;   /* TCP queries sent again after their connection closed */
    uint64_t full;         /* queries refused because every slot was taken */
    uint64_t refused;      /* ICMP port unreachable reports */
    uint32_t outstanding;
    uint32_t latency_us; /* moving average of answer times */
};

/* Receive buffers shared by every backend on one loop. */
struct rt_backend_rx;

/* Allocates the shared receive buffers. Returns NULL when out of memory. */
struct rt_backend_rx *rt_backend_rx_new(void);

/* Frees them, once no backend uses them; NULL is a no-op. */
void rt_backend_rx_free(struct rt_backend_rx *rx);

/* Opens cfg->sockets UDP sockets connected to cfg->addr and starts reading. Answers and
 * timeouts (after timeout_ms) go to the callbacks with `user`. Returns 0 or a negative errno. */
int rt_backend_new(uv_loop_t *loop, const struct rt_backend_config *cfg, uint32_t max_outstanding,
                   uint32_t timeout_ms, struct rt_backend_rx *rx, rt_backend_answer_cb on_answer,
                   rt_backend_timeout_cb on_timeout, void *user, struct rt_backend **out);

/* Sends msg[0..len) (a query; its ID is replaced by a fresh random one) and remembers p
 * (copied). A query that fits RT_BACKEND_QUERY_MAX is kept in its slot and queued for the
 * loop's next idle phase; should the socket refuse it then, it goes to the timeout callback
 * in the next timer phase (counted as a send error, not a timeout). A longer one is sent at
 * once. Returns 0, -EBUSY when every slot is taken, -ESHUTDOWN when retiring, or (long
 * queries only) the socket's error. */
int rt_backend_send(struct rt_backend *b, const struct rt_pending *p, const uint8_t *msg,
                    size_t len);

/* Sends msg[0..len) for p over TCP (rt_tcp.h: connections kept and reused, queries
 * pipelined); the answer or failure comes through the same callbacks as for UDP. Returns 0,
 * -ESHUTDOWN when retiring, -EBUSY when every connection is full, or another error. */
int rt_backend_send_tcp(struct rt_backend *b, const struct rt_pending *p, const uint8_t *msg,
                        size_t len);

/* True when msg[0..len) answers p: a response with exactly p's question (RFC 5452 9.1; the
 * name compared without case, as some servers echo 0x20-mixed spellings). */
bool rt_backend_answers(const struct rt_pending *p, const uint8_t *msg, size_t len);

/* The configuration the backend was opened with (name, address, pools, checks). */
const struct rt_backend_config *rt_backend_config(const struct rt_backend *b);

/* Replaces the settings a reload may change (everything but address and sockets) and the
 * query timeout. */
void rt_backend_update(struct rt_backend *b, const struct rt_backend_config *cfg,
                       uint32_t timeout_ms);

/* Copies the counters; `outstanding`, `mismatched` and the others count TCP queries too. */
void rt_backend_stats(const struct rt_backend *b, struct rt_backend_stats *out);

/* Stops taking queries and frees the backend once those in flight are answered or timed out
 * (their callbacks still run). */
void rt_backend_retire(struct rt_backend *b);

/* Closes at once: queries in flight are abandoned without callbacks. */
void rt_backend_close(struct rt_backend *b);

#endif
