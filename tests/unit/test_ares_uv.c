#include "ares_uv.h"
#include "unit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* RFC 1035 4.1.1: the header is 12 bytes; QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT at 4, 6, 8, 10. */
#define DNS_HEADER_LEN 12
#define DNS_TYPE_A 1
#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3

/* Every test gives up after this, so a broken loop fails instead of hanging. */
#define GUARD_MS 5000

/* A tiny DNS server on 127.0.0.1: "test.example." A is 192.0.2.7, its other types are empty,
 * names starting "silent." get no answer, any other name is NXDOMAIN. */
struct responder {
    uv_udp_t udp;
    struct addr addr;
    bool silent; /* never answer anything */
    int queries;
};

struct fixture {
    uv_loop_t loop;
    uv_timer_t guard;
    bool timed_out;
    struct responder resp;
    struct ares_uv *u;
};

static void responder_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    static char slab[4096];

    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void responder_sent(uv_udp_send_t *req, int status)
{
    (void)status;
    free(req);
}

/* Reads the question's name as lower-case dotted text; returns the offset after QTYPE/QCLASS
 * (and the type in *qtype), or 0 when the query is not one we can answer. */
static size_t question_end(const uint8_t *msg, size_t len, char *name, size_t cap, uint16_t *qtype)
{
    size_t pos = DNS_HEADER_LEN;
    size_t out = 0;

    if (len < DNS_HEADER_LEN || msg[4] != 0 || msg[5] != 1) {
        return 0;
    }
    while (pos < len && msg[pos] != 0) {
        size_t label = msg[pos];
        if (label > 63 || pos + 1 + label >= len || out + label + 2 > cap) {
            return 0;
        }
        for (size_t i = 0; i < label; i++) {
            name[out++] = (char)tolower(msg[pos + 1 + i]);
        }
        name[out++] = '.';
        pos += 1 + label;
    }
    name[out] = '\0';
    if (pos + 5 > len) {
        return 0;
    }
    *qtype = (uint16_t)(msg[pos + 1] << 8 | msg[pos + 2]);
    return pos + 5;
}

static void responder_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
                           const struct sockaddr *from, unsigned flags)
{
    /* clang-format off */
    static const uint8_t answer_a[] = {
        0xc0, 0x0c,             /* name: pointer to the question at offset 12 */
        0x00, DNS_TYPE_A,       /* type */
        0x00, DNS_CLASS_IN,     /* class */
        0x00, 0x00, 0x01, 0x2c, /* TTL 300 */
        0x00, 0x04,             /* RDLENGTH */
        192,  0,    2,    7,    /* RDATA */
    };
    /* clang-format on */
    struct responder *r = udp->data;
    const uint8_t *query = (const uint8_t *)buf->base;
    char name[256];
    uint16_t qtype = 0;
    size_t end;
    uv_udp_send_t *req;
    uint8_t *reply;
    size_t len;
    uv_buf_t out;

    (void)flags;
    if (nread <= 0 || from == NULL) {
        return;
    }
    r->queries++;
    end = question_end(query, (size_t)nread, name, sizeof(name), &qtype);
    if (r->silent || end == 0 || strncmp(name, "silent.", 7) == 0) {
        return;
    }

    req = malloc(sizeof(*req) + end + sizeof(answer_a));
    reply = (uint8_t *)(req + 1);
    memcpy(reply, query, end); /* header and question */
    reply[2] |= 0x80;          /* QR */
    reply[3] = 0x80;           /* RA, RCODE 0 */
    memset(reply + 6, 0, 6);   /* no answers, authorities or additionals yet */
    len = end;
    if (strcmp(name, "test.example.") != 0) {
        reply[3] |= DNS_RCODE_NXDOMAIN;
    } else if (qtype == DNS_TYPE_A) {
        memcpy(reply + len, answer_a, sizeof(answer_a));
        len += sizeof(answer_a);
        reply[7] = 1;
    }
    out = uv_buf_init((char *)reply, (unsigned)len);
    if (uv_udp_send(req, udp, &out, 1, from, responder_sent) != 0) {
        free(req);
    }
}

static void guard_fired(uv_timer_t *timer)
{
    struct fixture *f = timer->data;

    f->timed_out = true;
    uv_stop(timer->loop);
}

/* Starts the loop, the responder and an ares_uv pointed at it: one try, `timeout_ms` each,
 * DNS only (no hosts file), no search domains. */
static void fixture_setup(struct fixture *f, int timeout_ms, int flags)
{
    static char lookups[] = "b";
    struct ares_options opts;
    struct sockaddr_in bind_addr;
    struct sockaddr_storage bound;
    int bound_len = sizeof(bound);

    memset(f, 0, sizeof(*f));
    CHECK_INT(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->guard);
    f->guard.data = f;

    uv_udp_init(&f->loop, &f->resp.udp);
    f->resp.udp.data = &f->resp;
    uv_ip4_addr("127.0.0.1", 0, &bind_addr);
    CHECK_INT(uv_udp_bind(&f->resp.udp, (const struct sockaddr *)&bind_addr, 0), 0);
    CHECK_INT(uv_udp_getsockname(&f->resp.udp, (struct sockaddr *)&bound, &bound_len), 0);
    CHECK_INT(addr_from_sockaddr((struct sockaddr *)&bound, (socklen_t)bound_len, &f->resp.addr),
              0);
    CHECK_INT(uv_udp_recv_start(&f->resp.udp, responder_alloc, responder_recv), 0);

    memset(&opts, 0, sizeof(opts));
    opts.timeout = timeout_ms;
    opts.tries = 1;
    opts.lookups = lookups;
    opts.ndomains = 0;
    opts.flags = flags;
    CHECK_INT(ares_uv_new(&f->loop, &opts,
                          ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
                              ARES_OPT_DOMAINS | ARES_OPT_FLAGS,
                          &f->u),
              0);
    CHECK_INT(ares_uv_set_servers(f->u, &f->resp.addr, 1), 0);
}

/* Runs the loop until *done, or GUARD_MS; returns *done. */
static bool fixture_run_until(struct fixture *f, const bool *done)
{
    uv_timer_start(&f->guard, guard_fired, GUARD_MS, 0);
    while (!*done && !f->timed_out) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&f->guard);
    return *done;
}

/* Frees the ares_uv (unless the test did), closes the responder, and runs the loop until it is
 * empty, which it must be: a handle left behind would keep it alive until the guard fires. */
static void fixture_teardown(struct fixture *f)
{
    ares_uv_free(f->u);
    f->u = NULL;
    uv_close((uv_handle_t *)&f->resp.udp, NULL);

    uv_unref((uv_handle_t *)&f->guard);
    uv_timer_start(&f->guard, guard_fired, GUARD_MS, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    CHECK(!f->timed_out);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&f->loop), 0);
}

/* What one ares_uv_resolve callback saw. */
struct resolved {
    bool done;
    int calls;
    int status;
    size_t n;
    char text[4][ADDR_TEXT_MAX];
    struct ares_uv **free_me; /* when set, the callback frees this ares_uv */
};

static void on_resolved(void *user, int status, const struct addr *addrs, size_t n)
{
    struct resolved *r = user;

    r->done = true;
    r->calls++;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        addr_format(&addrs[i], r->text[i], sizeof(r->text[i]));
    }
    if (r->free_me != NULL) {
        ares_uv_free(*r->free_me);
        *r->free_me = NULL;
    }
}

/* What one ares_query/ares_search callback saw: the status and the first A address. */
struct answered {
    bool done;
    int calls;
    int status;
    char a[INET_ADDRSTRLEN];
};

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct answered *r = arg;
    struct ares_addrttl ttls[4];
    int nttls = 4;

    (void)timeouts;
    r->done = true;
    r->calls++;
    r->status = status;
    if (status == ARES_SUCCESS && ares_parse_a_reply(abuf, alen, NULL, ttls, &nttls) == 0 &&
        nttls > 0) {
        inet_ntop(AF_INET, &ttls[0].ipaddr, r->a, sizeof(r->a));
    }
}

static void test_ares_uv_resolve_asks_the_configured_server(void)
{
    struct fixture f;
    struct resolved r = {0};

    fixture_setup(&f, 1000, 0);
    CHECK_INT(ares_uv_resolve(f.u, "test.example", 6881, on_resolved, &r), 0);
    CHECK(fixture_run_until(&f, &r.done));
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.status, 0);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.text[0], "192.0.2.7:6881");
    CHECK(f.resp.queries >= 1);
    fixture_teardown(&f);
}

static void test_ares_uv_query_on_channel_gets_the_answer(void)
{
    struct fixture f;
    struct answered r = {0};

    fixture_setup(&f, 1000, 0);
    ares_query(ares_uv_channel(f.u), "test.example", DNS_CLASS_IN, DNS_TYPE_A, on_answer, &r);
    CHECK(fixture_run_until(&f, &r.done));
    CHECK_INT(r.status, ARES_SUCCESS);
    CHECK_STR(r.a, "192.0.2.7");
    fixture_teardown(&f);
}

static void test_ares_uv_search_on_channel_gets_the_answer(void)
{
    struct fixture f;
    struct answered r = {0};

    fixture_setup(&f, 1000, 0);
    ares_search(ares_uv_channel(f.u), "test.example.", DNS_CLASS_IN, DNS_TYPE_A, on_answer, &r);
    CHECK(fixture_run_until(&f, &r.done));
    CHECK_INT(r.status, ARES_SUCCESS);
    CHECK_STR(r.a, "192.0.2.7");
    fixture_teardown(&f);
}

static void test_ares_uv_resolve_numeric_hosts_without_a_query(void)
{
    struct fixture f;
    struct resolved v4 = {0}, v6 = {0}, scoped = {0};

    fixture_setup(&f, 1000, 0);
    CHECK_INT(ares_uv_resolve(f.u, "192.0.2.1", 853, on_resolved, &v4), 0);
    CHECK_INT(ares_uv_resolve(f.u, "2001:db8::1", 53, on_resolved, &v6), 0);
    CHECK_INT(ares_uv_resolve(f.u, "fe80::1%lo", 53, on_resolved, &scoped), 0);
    /* Answered before ares_uv_resolve returned, without running the loop. */
    CHECK(v4.done && v6.done && scoped.done);
    CHECK_INT(v4.status, 0);
    CHECK_STR(v4.text[0], "192.0.2.1:853");
    CHECK_STR(v6.text[0], "[2001:db8::1]:53");
    CHECK_STR(scoped.text[0], "[fe80::1%lo]:53");
    uv_run(&f.loop, UV_RUN_NOWAIT);
    CHECK_INT(f.resp.queries, 0);
    fixture_teardown(&f);
}

static void test_ares_uv_resolve_unknown_name_reports_not_found(void)
{
    struct fixture f;
    struct resolved r = {0};

    fixture_setup(&f, 1000, 0);
    CHECK_INT(ares_uv_resolve(f.u, "nx.example", 53, on_resolved, &r), 0);
    CHECK(fixture_run_until(&f, &r.done));
    CHECK_INT(r.status, -ENOENT);
    CHECK_INT(r.n, 0);
    fixture_teardown(&f);
}

static void test_ares_uv_silent_server_times_out(void)
{
    struct fixture f;
    struct resolved r = {0};

    fixture_setup(&f, 200, 0);
    f.resp.silent = true;
    CHECK_INT(ares_uv_resolve(f.u, "test.example", 53, on_resolved, &r), 0);
    CHECK(fixture_run_until(&f, &r.done));
    CHECK_INT(r.status, -ETIMEDOUT);
    fixture_teardown(&f);
}

/* With STAYOPEN the socket outlives the first query, so c-ares says nothing when the second is
 * sent; the timer must still end it. */
static void test_ares_uv_query_on_open_socket_times_out(void)
{
    struct fixture f;
    struct answered first = {0}, second = {0};

    fixture_setup(&f, 300, ARES_FLAG_STAYOPEN);
    ares_query(ares_uv_channel(f.u), "test.example", DNS_CLASS_IN, DNS_TYPE_A, on_answer, &first);
    CHECK(fixture_run_until(&f, &first.done));
    CHECK_INT(first.status, ARES_SUCCESS);
    uv_run(&f.loop, UV_RUN_NOWAIT);

    ares_query(ares_uv_channel(f.u), "silent.example", DNS_CLASS_IN, DNS_TYPE_A, on_answer,
               &second);
    CHECK(fixture_run_until(&f, &second.done));
    CHECK_INT(second.status, ARES_ETIMEOUT);
    fixture_teardown(&f);
}

static void test_ares_uv_free_cancels_pending_queries(void)
{
    struct fixture f;
    struct resolved lookup = {0};
    struct answered query = {0};
    bool asked = false;

    fixture_setup(&f, 2000, 0);
    f.resp.silent = true;
    CHECK_INT(ares_uv_resolve(f.u, "test.example", 53, on_resolved, &lookup), 0);
    ares_query(ares_uv_channel(f.u), "test.example", DNS_CLASS_IN, DNS_TYPE_A, on_answer, &query);
    uv_timer_start(&f.guard, guard_fired, GUARD_MS, 0);
    while (f.resp.queries < 3 && !f.timed_out) {
        uv_run(&f.loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&f.guard);
    asked = f.resp.queries >= 3; /* A and AAAA for the lookup, A for the query */
    CHECK(asked);
    CHECK(!lookup.done && !query.done);

    ares_uv_free(f.u);
    f.u = NULL;
    CHECK_INT(lookup.calls, 1);
    CHECK_INT(lookup.status, -ECANCELED);
    CHECK_INT(query.calls, 1);
    CHECK(query.status == ARES_ECANCELLED || query.status == ARES_EDESTRUCTION);
    fixture_teardown(&f);
}

static void test_ares_uv_free_from_a_callback_waits_for_c_ares(void)
{
    struct fixture f;
    struct resolved r = {0};

    fixture_setup(&f, 1000, 0);
    r.free_me = &f.u;
    CHECK_INT(ares_uv_resolve(f.u, "test.example", 53, on_resolved, &r), 0);
    CHECK(fixture_run_until(&f, &r.done));
    CHECK_INT(r.calls, 1);
    CHECK_INT(r.status, 0);
    CHECK(f.u == NULL);
    fixture_teardown(&f);
}

static void test_ares_uv_set_servers_refuses_while_queries_pending(void)
{
    struct fixture f;
    struct answered r = {0};

    fixture_setup(&f, 2000, 0);
    f.resp.silent = true;
    ares_query(ares_uv_channel(f.u), "test.example", DNS_CLASS_IN, DNS_TYPE_A, on_answer, &r);
    CHECK_INT(ares_uv_set_servers(f.u, &f.resp.addr, 1), -EBUSY);
    fixture_teardown(&f);
    CHECK_INT(r.calls, 1);
}

static void test_ares_uv_set_servers_rejects_scoped_and_unset_addresses(void)
{
    struct fixture f;
    struct addr servers[2];

    fixture_setup(&f, 1000, 0);
    CHECK_INT(addr_parse("fe80::1%lo", 53, &servers[0]), 0);
    CHECK_INT(ares_uv_set_servers(f.u, servers, 1), -EINVAL);
    memset(&servers[1], 0, sizeof(servers[1]));
    CHECK_INT(addr_parse("[2001:db8::53]:5353", 53, &servers[0]), 0);
    CHECK_INT(ares_uv_set_servers(f.u, servers, 2), -EINVAL);
    CHECK_INT(ares_uv_set_servers(f.u, servers, 1), 0);
    CHECK_INT(ares_uv_set_servers(f.u, NULL, 1), -EINVAL);
    fixture_teardown(&f);
}

static void test_ares_uv_error_maps_status_codes(void)
{
    CHECK_INT(ares_uv_error(ARES_SUCCESS), 0);
    CHECK_INT(ares_uv_error(ARES_ENODATA), -ENODATA);
    CHECK_INT(ares_uv_error(ARES_ENOTFOUND), -ENOENT);
    CHECK_INT(ares_uv_error(ARES_ENONAME), -ENOENT);
    CHECK_INT(ares_uv_error(ARES_ETIMEOUT), -ETIMEDOUT);
    CHECK_INT(ares_uv_error(ARES_ESERVFAIL), -EREMOTEIO);
    CHECK_INT(ares_uv_error(ARES_EREFUSED), -EACCES);
    CHECK_INT(ares_uv_error(ARES_ENOTIMP), -EOPNOTSUPP);
    CHECK_INT(ares_uv_error(ARES_EFORMERR), -EBADMSG);
    CHECK_INT(ares_uv_error(ARES_EBADRESP), -EBADMSG);
    CHECK_INT(ares_uv_error(ARES_ECONNREFUSED), -ECONNREFUSED);
    CHECK_INT(ares_uv_error(ARES_ENOMEM), -ENOMEM);
    CHECK_INT(ares_uv_error(ARES_ECANCELLED), -ECANCELED);
    CHECK_INT(ares_uv_error(ARES_EDESTRUCTION), -ECANCELED);
    CHECK_INT(ares_uv_error(ARES_EBADNAME), -EINVAL);
    CHECK_INT(ares_uv_error(ARES_ESERVICE), -EINVAL);
    CHECK_INT(ares_uv_error(ARES_EFILE), -EIO);
    CHECK_INT(ares_uv_error(9999), -EIO);
}

static void test_ares_uv_free_null_is_a_no_op(void)
{
    ares_uv_free(NULL);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_ares_uv_resolve_asks_the_configured_server),
        UNIT(test_ares_uv_query_on_channel_gets_the_answer),
        UNIT(test_ares_uv_search_on_channel_gets_the_answer),
        UNIT(test_ares_uv_resolve_numeric_hosts_without_a_query),
        UNIT(test_ares_uv_resolve_unknown_name_reports_not_found),
        UNIT(test_ares_uv_silent_server_times_out),
        UNIT(test_ares_uv_query_on_open_socket_times_out),
        UNIT(test_ares_uv_free_cancels_pending_queries),
        UNIT(test_ares_uv_free_from_a_callback_waits_for_c_ares),
        UNIT(test_ares_uv_set_servers_refuses_while_queries_pending),
        UNIT(test_ares_uv_set_servers_rejects_scoped_and_unset_addresses),
        UNIT(test_ares_uv_error_maps_status_codes),
        UNIT(test_ares_uv_free_null_is_a_no_op),
    };
    return unit_run("ares_uv", tests, sizeof(tests) / sizeof(tests[0]));
}
