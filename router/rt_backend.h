/* One backend's UDP side: a few sockets connected to it (so the kernel drops datagrams from
 * anyone else), read in batches with recvmmsg; a fixed table of outstanding queries indexed by
 * a random wire ID; timeouts in send order. Nothing is allocated per query. A reply counts
 * only when it arrives on the socket its query left from, with that ID and that question. */
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
    uint16_t query_len; /* of query[]; 0 when the query was too long to keep */
    uint8_t query[RT_BACKEND_QUERY_MAX];
};

struct rt_backend;

/* The answer to p (answer has the wire ID still; the callback may rewrite it in place). */
typedef void (*rt_backend_answer_cb)(void *user, struct rt_backend *b, const struct rt_pending *p,
                                     uint8_t *answer, size_t len);
/* p got no answer in time; its slot is freed when the callback returns. */
typedef void (*rt_backend_timeout_cb)(void *user, struct rt_backend *b, const struct rt_pending *p);

struct rt_backend_stats {
    uint64_t queries;
    uint64_t responses;
    uint64_t timeouts;
    uint64_t mismatched;  /* datagrams ignored: unknown ID, wrong question, not a response */
    uint64_t send_errors; /* queries the socket refused */
    uint64_t full;        /* queries refused because every slot was taken */
    uint64_t refused;     /* ICMP port unreachable reports */
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
 * (copied, with the query kept when it fits). Returns 0, -EBUSY when every slot is taken, or
 * the socket's error (-ECONNREFUSED after an ICMP port unreachable). */
int rt_backend_send(struct rt_backend *b, const struct rt_pending *p, const uint8_t *msg,
                    size_t len);

/* Counts a query sent over TCP, so that leastOutstanding sees it and a retiring backend waits
 * for it. */
void rt_backend_tcp_begin(struct rt_backend *b);

/* Ends what rt_backend_tcp_begin counted, with whether an answer came. */
void rt_backend_tcp_end(struct rt_backend *b, bool answered);

/* The configuration the backend was opened with (name, address, pools, checks). */
const struct rt_backend_config *rt_backend_config(const struct rt_backend *b);

/* Replaces the settings a reload may change (everything but address and sockets) and the
 * query timeout. */
void rt_backend_update(struct rt_backend *b, const struct rt_backend_config *cfg,
                       uint32_t timeout_ms);

/* Copies the counters; `outstanding` counts TCP queries too. */
void rt_backend_stats(const struct rt_backend *b, struct rt_backend_stats *out);

/* Stops taking queries and frees the backend once those in flight are answered or timed out
 * (their callbacks still run). */
void rt_backend_retire(struct rt_backend *b);

/* Closes at once: queries in flight are abandoned without callbacks. */
void rt_backend_close(struct rt_backend *b);

#endif
