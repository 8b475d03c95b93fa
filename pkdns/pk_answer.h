/* How pkdns answers a query for a pkarr name, as a resolution that does no I/O. Start it with
 * the client's query; each step says what it needs next, and the daemon feeds it in when it
 * has it, from the cache, the DHT or a DNS server, as late as it likes:
 *
 *   PK_ANSWER_NEED_KEY     the signed packet of `key`: pk_answer_feed_packet (NULL when the
 *                          key has none), or pk_answer_fail when the lookup failed
 *   PK_ANSWER_NEED_ICANN   the forward server's answer to `name`/`qtype`; PK_ANSWER_NEED_SERVER
 *                          the same question put to one of `servers` (glue addresses, port 53):
 *                          pk_answer_write_query builds it, pk_answer_feed_response takes the
 *                          complete answer (retry a truncated one over TCP first)
 *   PK_ANSWER_DONE         the answer is in the caller's buffer, answer_len bytes
 *   PK_ANSWER_FORWARD      not a pkarr name: forward the client's query as it is
 *   PK_ANSWER_DROP         send nothing (ANY with disable_any_queries, as the Rust pkdns does)
 *
 * The rules, after the Rust pkdns: records whose owner and type match answer; else a CNAME at
 * the name is followed (inside the packet at once, to other keys and ICANN names through the
 * daemon); else the closest NS delegation below the key's apex refers, and with glue in the
 * packet the question goes to the delegated server; else an empty NOERROR. A key without a
 * packet is NXDOMAIN. Following needs the client's RD bit and max_recursion_depth > 1, and
 * every name followed counts toward max_recursion_depth (SERVFAIL beyond it). TTLs from
 * packets are clamped to [min_ttl, max_ttl], then counted down by the time the packet has
 * spent in the cache (pk_answer_feed_cached). */
#ifndef PK_ANSWER_H
#define PK_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dns.h"
#include "dns_msg.h"
#include "pkarr_name.h"
#include "pk_packet.h"

#define PK_ANSWER_CHAIN_MAX 16 /* ours: CNAMEs one answer follows at most */
#define PK_ANSWER_GLUE_MAX 8   /* ours: glue addresses offered for one delegation */
#define PK_ANSWER_LOCAL_STEPS PK_ANSWER_CHAIN_MAX /* names followed inside a packet without RD */
#define PK_ANSWER_OUT_MAX DNS_TCP_MAX             /* a buffer this large always holds the answer */
#define PK_ANSWER_STALE_TTL_S 30 /* RFC 8767 4: TTL of records in a stale answer, at most */

struct pk_answer_config {
    uint32_t min_ttl; /* seconds */
    uint32_t max_ttl; /* seconds; wins over min_ttl when smaller */
    unsigned max_recursion_depth;
    bool disable_any_queries;
    const uint8_t *tld; /* wire name of the top-level domain after keys; NULL for none */
    size_t tld_len;
    const struct pkarr_known *known; /* keys known valid, spared the curve check; may be NULL */
};

/* Never 0, so that internal helpers can say "go on" with 0. */
enum pk_answer_step {
    PK_ANSWER_DONE = 1,
    PK_ANSWER_FORWARD,
    PK_ANSWER_DROP,
    PK_ANSWER_NEED_KEY,
    PK_ANSWER_NEED_ICANN,
    PK_ANSWER_NEED_SERVER,
};

/* One CNAME followed: its target (the owner of the next link) and TTL. */
struct pk_answer_link {
    uint8_t target[DNS_NAME_MAX];
    size_t target_len;
    uint32_t ttl;
};

/* A resolution in progress; the caller owns it. The fields after `step` say what it needs
 * and are read-only to the caller. */
struct pk_answer {
    struct pk_answer_config cfg;
    struct dns_query query;
    bool recursion;
    unsigned steps; /* names resolved so far, the query name included */

    enum pk_answer_step step;
    uint8_t key[PK_PACKET_KEY_LEN]; /* NEED_KEY */
    uint8_t name[DNS_NAME_MAX];     /* the name being resolved, as asked or as pointed to */
    size_t name_len;
    uint16_t qtype;
    struct addr servers[PK_ANSWER_GLUE_MAX]; /* NEED_SERVER */
    size_t n_servers;
    size_t answer_len;     /* DONE */
    uint32_t packet_age_s; /* the packet being resolved: seconds in the cache */
    bool packet_stale;     /* and past its TTL */

    size_t n_chain;
    struct pk_answer_link chain[PK_ANSWER_CHAIN_MAX];
};

/* Starts answering the parsed query q (its name may end in cfg->tld, which must outlive a).
 * Returns the first step; DONE answers (NXDOMAIN for a label shaped like a key that is not
 * one, NOTIMP, REFUSED) are written to out[0..cap). Negative: -ENOSPC when cap is too small
 * even for an error answer. */
int pk_answer_start(struct pk_answer *a, const struct pk_answer_config *cfg,
                    const struct dns_query *q, uint8_t *out, size_t cap);

/* Feeds the packet of the key asked for (decoded; NULL: the key has none). Returns the next
 * step, -EINVAL when no key was asked for or p is another key's, -ENOSPC as above. */
int pk_answer_feed_packet(struct pk_answer *a, const struct pk_packet *p, uint8_t *out, size_t cap);

/* Feeds a packet as pk_answer_feed_packet does, one that has spent age_s seconds in the cache:
 * its records' TTLs are counted down by age_s (to 1 at the least), or, when it is stale (past
 * its TTL, answering while a refresh runs), read PK_ANSWER_STALE_TTL_S at most. */
int pk_answer_feed_cached(struct pk_answer *a, const struct pk_packet *p, uint32_t age_s,
                          bool stale, uint8_t *out, size_t cap);

/* Feeds the response to the query of pk_answer_write_query. A malformed or truncated one, or
 * one to another question, ends in SERVFAIL. Returns the next step, -EINVAL out of turn. */
int pk_answer_feed_response(struct pk_answer *a, const uint8_t *msg, size_t len, uint8_t *out,
                            size_t cap);

/* Ends the resolution with SERVFAIL (Extended DNS Error 22, No Reachable Authority, with
 * `why` as its text, may be NULL): the lookup or query it needed failed or timed out.
 * Returns PK_ANSWER_DONE or -ENOSPC. */
int pk_answer_fail(struct pk_answer *a, const char *why, uint8_t *out, size_t cap);

/* Writes the query for NEED_ICANN or NEED_SERVER with `id`: RD set, one question, an OPT
 * record. Returns its length, -EINVAL out of turn, -ENOSPC. */
int pk_answer_write_query(const struct pk_answer *a, uint16_t id, uint8_t *out, size_t cap);

#endif
