/* pkdns's DNS over HTTP server (RFC 8484, plain HTTP/1.1; a TLS proxy goes in front), on
 * [general] dns_over_http_socket. GET /dns-query?dns=<base64url> and POST /dns-query with
 * the message as body are handed to the query callback as queries from a client with
 * transport DNS_TRANSPORT_HTTP; the answer comes back through pkdns_doh_send, now or later.
 * A fixed table of connections, each with one buffer for its requests and one for its
 * response, one request handled at a time (pipelined ones wait), an idle timeout. The client
 * is the TCP peer, or the first X-Forwarded-For address when the peer is a loopback proxy. */
#ifndef PKDNS_DOH_H
#define PKDNS_DOH_H

#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "dns_listener.h"

#define PKDNS_DOH_MAX_CONNS 128     /* ours: beyond this, new connections are closed at once */
#define PKDNS_DOH_IDLE_MS 10000     /* ours: time to send a request, or to take a response */
#define PKDNS_DOH_LINGER_MS 2000    /* ours: reading what follows a response that closes */
#define PKDNS_DOH_PATH "/dns-query" /* RFC 8484 4.1.1's example path, as the Rust pkdns */

struct pkdns_doh_stats {
    uint64_t connections;
    uint64_t rejected; /* connections closed at once: the table was full */
    uint64_t requests;
    uint64_t responses_2xx;
    uint64_t responses_4xx;
    uint64_t responses_5xx;
};

struct pkdns_doh;

/* Creates the server on loop; cb(user, ...) gets each DNS query, which must be settled with
 * pkdns_doh_send or pkdns_doh_done. Binds nothing. Returns 0 or -ENOMEM. */
int pkdns_doh_new(uv_loop_t *loop, dns_listener_query_cb cb, void *user, struct pkdns_doh **out);

/* Listens on addr and logs "DNS over HTTP on ADDR". Returns 0 or the error, after logging a
 * line that names the address. */
int pkdns_doh_bind(struct pkdns_doh *d, const struct addr *addr);

/* Answers c's request with the DNS message msg[0..len) (copied). Returns 0, or -ENOTCONN
 * when its connection is gone (the answer is dropped), or -EMSGSIZE. */
int pkdns_doh_send(struct pkdns_doh *d, const struct dns_client *c, const uint8_t *msg, size_t len);

/* Settles c's request without a DNS answer (500); nothing when its connection is gone. */
void pkdns_doh_done(struct pkdns_doh *d, const struct dns_client *c);

/* Copies the counters to out. */
void pkdns_doh_stats(const struct pkdns_doh *d, struct pkdns_doh_stats *out);

/* Closes the listener and every connection; cb(arg) (may be NULL) runs once all is closed
 * and d freed. Nothing may use d after this call. */
void pkdns_doh_close(struct pkdns_doh *d, void (*cb)(void *arg), void *arg);

#endif
