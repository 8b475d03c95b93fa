/* The caching forwarder: listens for queries, answers from its cache, and otherwise asks the
 * upstream servers (from resolv files and `server` options), merging identical questions. */
#ifndef PK_FORWARDER_H
#define PK_FORWARDER_H

#include <stdint.h>
#include <uv.h>

#include "fwd_config.h"

struct forwarder;

struct forwarder_stats {
    uint64_t queries;
    uint64_t cache_hits;
    uint64_t stale_answers;
    uint64_t forwarded; /* upstream resolutions started */
    uint64_t merged;    /* queries that joined one already in flight */
    uint64_t servfail;
    uint64_t refused;
    uint64_t formerr;
    uint64_t dropped;        /* unreadable datagrams, responses sent to us */
    uint64_t local_nxdomain; /* answered here: domain-needed, bogus-priv */
    uint64_t rebind_blocked; /* upstream answers whose addresses stop-dns-rebind removed */
};

/* Creates a forwarder on `loop` from cfg (copied). Binds nothing yet. */
int forwarder_new(uv_loop_t *loop, const struct fwd_config *cfg, struct forwarder **out);

/* Binds every listen address and starts watching the resolv files. Returns 0 or the first
 * error, already logged with the address or file. */
int forwarder_start(struct forwarder *f);

/* Applies a new configuration (SIGHUP): servers, cache limits and resolv files; listen
 * addresses and port stay as they were. The cache survives unless clear-on-reload. */
int forwarder_reload(struct forwarder *f, const struct fwd_config *cfg);

/* The address endpoint i is bound to, for tests that bind port 0. */
int forwarder_local_addr(const struct forwarder *f, size_t i, struct addr *out);

void forwarder_stats(const struct forwarder *f, struct forwarder_stats *out);

/* Stops listening, abandons queries in flight and frees everything; cb(arg) once all
 * handles are closed. */
void forwarder_stop(struct forwarder *f, void (*cb)(void *arg), void *arg);

#endif
