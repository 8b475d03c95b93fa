/* TCP to one backend, with connections kept open and reused (RFC 7766 6.2.1): up to
 * RT_TCP_MAX_CONNS connections, each carrying up to RT_TCP_PIPELINE queries at once and
 * taking answers in whatever order they come (6.2.1.1), matched by ID and question. A
 * connection with nothing in flight for RT_TCP_IDLE_MS is closed (6.2.3). A query whose
 * connection closes after it was established (the server closed it when idle or after so many
 * queries, as servers may) is sent again on another connection, up to RT_TCP_MAX_RESENDS
 * times; one more loss, a connection that cannot be made, or no answer within the timeout
 * fails it. */
#ifndef PK_RT_TCP_H
#define PK_RT_TCP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "rt_backend.h"

#define RT_TCP_MAX_CONNS 16
#define RT_TCP_PIPELINE 32
#define RT_TCP_IDLE_MS 5000
#define RT_TCP_MAX_RESENDS 3

/* The answer to p (with the wire ID; the callback may rewrite it in place). */
typedef void (*rt_tcp_answer_cb)(void *user, const struct rt_pending *p, uint8_t *answer,
                                 size_t len);
/* p failed with err (-ETIMEDOUT, or the connection's error); query[0..len) is what was sent. */
typedef void (*rt_tcp_fail_cb)(void *user, const struct rt_pending *p, const uint8_t *query,
                               size_t len, int err);

struct rt_tcp_stats {
    uint64_t connects;   /* connections opened */
    uint64_t resent;     /* queries sent again after their connection closed */
    uint64_t mismatched; /* answers with an unknown ID or another question */
    uint64_t blocks;     /* query blocks allocated (finished small ones are reused) */
};

struct rt_tcp;

/* Creates the TCP side of a backend at addr; connections open when queries need them.
 * Returns 0 or -ENOMEM. */
int rt_tcp_new(uv_loop_t *loop, const struct addr *addr, uint32_t timeout_ms,
               rt_tcp_answer_cb on_answer, rt_tcp_fail_cb on_fail, void *user, struct rt_tcp **out);

/* Sends msg[0..len) (a query; copied, its ID replaced) for p on a connection with room, or
 * a new one. Exactly one callback follows a 0 return. Returns 0, -EBUSY when every
 * connection is full, -EMSGSIZE, or -ENOMEM. */
int rt_tcp_send(struct rt_tcp *t, const struct rt_pending *p, const uint8_t *msg, size_t len);

/* Sets the time a query may take (for queries sent from now on). */
void rt_tcp_set_timeout(struct rt_tcp *t, uint32_t timeout_ms);

/* Queries in flight or waiting to be sent. */
uint32_t rt_tcp_outstanding(const struct rt_tcp *t);

void rt_tcp_stats(const struct rt_tcp *t, struct rt_tcp_stats *out);

/* Closes every connection; queries in flight are abandoned without callbacks. Memory is freed
 * once libuv has closed the handles. NULL is a no-op. */
void rt_tcp_close(struct rt_tcp *t);

#endif
