/* The forwarder's upstream servers and the choice among them, as dnsmasq makes it: normally
 * the server that answered fastest lately, with every server asked at once now and then so a
 * faster one is noticed; `strict-order` tries them in the order given; `all-servers` asks all
 * of them every time. */
#ifndef PK_FWD_SERVERS_H
#define PK_FWD_SERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define FWD_SERVERS_MAX 64

enum fwd_servers_mode {
    FWD_SERVERS_FASTEST,
    FWD_SERVERS_STRICT,
    FWD_SERVERS_ALL,
};

struct fwd_server {
    struct addr addr;
    uint32_t srtt_ms; /* smoothed round trip; 0 until measured */
    uint32_t consecutive_failures;
    uint64_t queries;
    uint64_t answers;
    uint64_t failures;
};

struct fwd_servers {
    struct fwd_server list[FWD_SERVERS_MAX];
    size_t count;
    enum fwd_servers_mode mode;
    uint64_t plans; /* queries planned since the last probe of every server */
    uint64_t last_probe_ms;
};

/* A plan for one query: servers to ask, in order; `parallel` of them at once at first. */
struct fwd_plan {
    uint8_t order[FWD_SERVERS_MAX];
    size_t count;
    size_t parallel;
};

void fwd_servers_init(struct fwd_servers *s, enum fwd_servers_mode mode);

/* Replaces the list, keeping the statistics of servers that stay. Returns how many were
 * kept (more than FWD_SERVERS_MAX are dropped). */
size_t fwd_servers_set(struct fwd_servers *s, const struct addr *addrs, size_t n);

/* Index of `a` in the list, or -1. */
int fwd_servers_find(const struct fwd_servers *s, const struct addr *a);

/* Plans a query among the servers whose indexes are in `subset` (NULL: all). */
void fwd_servers_plan(struct fwd_servers *s, const uint8_t *subset, size_t n_subset,
                      uint64_t now_ms, struct fwd_plan *plan);

/* How long to wait for server i before also asking the next one. */
uint32_t fwd_servers_try_timeout_ms(const struct fwd_servers *s, size_t i);

void fwd_servers_answered(struct fwd_servers *s, size_t i, uint32_t rtt_ms);
void fwd_servers_failed(struct fwd_servers *s, size_t i);

#endif
