#include "krpc.h"
#include "unit.h"

#include <errno.h>

static const uint8_t node_id[] = "abcdefghij0123456789";
static const uint8_t other_id[] = "mnopqrstuvwxyz123456";
static const uint8_t key[BEP44_KEY_LEN] = "0123456789abcdef0123456789abcde";
static const uint8_t sig[BEP44_SIG_LEN] =
    "sig sig sig sig sig sig sig sig sig sig sig sig sig sig sig sig";

static uint8_t out[1500];
static size_t out_len;

static int parse_text(struct krpc_msg *m, const char *text)
{
    return krpc_parse(m, (const uint8_t *)text, strlen(text));
}

static int span_is(struct krpc_span s, const void *bytes, size_t len)
{
    return s.data != NULL && s.len == len && memcmp(s.data, bytes, len) == 0;
}

/* Writes m into `out`, parses it back into *back, and writes *back again: the two datagrams
 * must be the same bytes. */
static void round_trip(const struct krpc_msg *m, struct krpc_msg *back)
{
    static uint8_t again[1500];
    size_t again_len = 0;

    CHECK_INT(krpc_write(m, out, sizeof(out), &out_len), 0);
    CHECK_INT(krpc_parse(back, out, out_len), 0);
    CHECK_INT(krpc_write(back, again, sizeof(again), &again_len), 0);
    CHECK_INT(again_len, out_len);
    CHECK_MEM(again, out, out_len);
}

static void test_krpc_parses_bep5_ping_query(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), 0);
    CHECK_INT(m.type, KRPC_QUERY);
    CHECK_INT(m.method, KRPC_PING);
    CHECK(span_is(m.t, "aa", 2));
    CHECK(m.id != NULL && memcmp(m.id, node_id, KRPC_ID_LEN) == 0);
    CHECK(!m.ro);
    CHECK(m.version.data == NULL);
}

static void test_krpc_parses_bep5_ping_response(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"), 0);
    CHECK_INT(m.type, KRPC_RESPONSE);
    CHECK(m.id != NULL && memcmp(m.id, other_id, KRPC_ID_LEN) == 0);
}

static void test_krpc_parses_bep5_error(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee"), 0);
    CHECK_INT(m.type, KRPC_ERROR);
    CHECK_INT(m.error_code, KRPC_ERR_GENERIC);
    CHECK(span_is(m.error_msg, "A Generic Error Ocurred", 23));
}

static void test_krpc_parses_bep5_announce_peer(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:"
                             "mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:"
                             "announce_peer1:t2:aa1:y1:qe"),
              0);
    CHECK_INT(m.method, KRPC_ANNOUNCE_PEER);
    CHECK(m.info_hash != NULL && memcmp(m.info_hash, other_id, KRPC_ID_LEN) == 0);
    CHECK(m.has_port);
    CHECK_INT(m.port, 6881);
    CHECK(m.implied_port);
    CHECK(span_is(m.token, "aoeusnth", 8));
}

static void test_krpc_parses_bep5_get_peers_response_with_values(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:"
                             "axje.u6:idhtnmee1:t2:aa1:y1:re"),
              0);
    CHECK_INT(m.nvalues, 2);
    CHECK(span_is(m.values[0], "axje.u", 6));
    CHECK(span_is(m.values[1], "idhtnm", 6));
    CHECK(span_is(m.token, "aoeusnth", 8));
}

static void test_krpc_bep5_examples_write_back_byte_for_byte(void)
{
    static const char *examples[] = {
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
        "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
        "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:"
        "aa1:y1:qe",
        "d1:rd2:id20:0123456789abcdefghij5:nodes26:abcdefghijklmnopqrstuvwxyze1:t2:aa1:y1:re",
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:"
        "aa1:y1:qe",
        "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:"
        "y1:re",
        "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:"
        "porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
    };
    struct krpc_msg m;

    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        size_t len = strlen(examples[i]);
        CHECK_INT(parse_text(&m, examples[i]), 0);
        CHECK_INT(krpc_write(&m, out, sizeof(out), &out_len), 0);
        CHECK_INT(out_len, len);
        CHECK_MEM(out, examples[i], len);
    }
}

static void test_krpc_round_trips_ping(void)
{
    struct krpc_msg q, r, back;

    krpc_msg_init_query(&q, KRPC_PING, (const uint8_t *)"t1", 2, node_id);
    q.ro = true;
    q.version.data = (const uint8_t *)"PK01";
    q.version.len = 4;
    round_trip(&q, &back);
    CHECK_INT(back.method, KRPC_PING);
    CHECK(back.ro);
    CHECK(span_is(back.version, "PK01", 4));
    CHECK(span_is(back.t, "t1", 2));

    krpc_msg_init_response(&r, &back, other_id);
    r.ip.data = (const uint8_t *)"\x7f\x00\x00\x01\x1a\xe1";
    r.ip.len = KRPC_PEER_LEN;
    round_trip(&r, &back);
    CHECK_INT(back.type, KRPC_RESPONSE);
    CHECK(span_is(back.t, "t1", 2));
    CHECK(span_is(back.ip, "\x7f\x00\x00\x01\x1a\xe1", KRPC_PEER_LEN));
    CHECK(memcmp(back.id, other_id, KRPC_ID_LEN) == 0);
}

static void test_krpc_round_trips_find_node(void)
{
    uint8_t nodes[2 * KRPC_NODE_LEN], nodes6[KRPC_NODE6_LEN];
    struct krpc_msg q, r, back;

    krpc_msg_init_query(&q, KRPC_FIND_NODE, (const uint8_t *)"fn", 2, node_id);
    q.target = other_id;
    q.want = KRPC_WANT_N4 | KRPC_WANT_N6;
    round_trip(&q, &back);
    CHECK_INT(back.method, KRPC_FIND_NODE);
    CHECK(memcmp(back.target, other_id, KRPC_ID_LEN) == 0);
    CHECK_INT(back.want, KRPC_WANT_N4 | KRPC_WANT_N6);

    memset(nodes, 0xab, sizeof(nodes));
    memset(nodes6, 0xcd, sizeof(nodes6));
    krpc_msg_init_response(&r, &back, other_id);
    r.nodes.data = nodes;
    r.nodes.len = sizeof(nodes);
    r.nodes6.data = nodes6;
    r.nodes6.len = sizeof(nodes6);
    round_trip(&r, &back);
    CHECK(span_is(back.nodes, nodes, sizeof(nodes)));
    CHECK(span_is(back.nodes6, nodes6, sizeof(nodes6)));
}

static void test_krpc_round_trips_get_peers(void)
{
    static const uint8_t peer6[KRPC_PEER6_LEN] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1, 0x1a, 0xe1};
    struct krpc_msg q, r, back;

    krpc_msg_init_query(&q, KRPC_GET_PEERS, (const uint8_t *)"gp", 2, node_id);
    q.info_hash = other_id;
    round_trip(&q, &back);
    CHECK_INT(back.method, KRPC_GET_PEERS);
    CHECK(memcmp(back.info_hash, other_id, KRPC_ID_LEN) == 0);

    krpc_msg_init_response(&r, &back, other_id);
    r.token.data = (const uint8_t *)"tok";
    r.token.len = 3;
    r.nvalues = 2;
    r.values[0].data = (const uint8_t *)"\x0a\x00\x00\x01\x1a\xe1";
    r.values[0].len = KRPC_PEER_LEN;
    r.values[1].data = peer6;
    r.values[1].len = KRPC_PEER6_LEN;
    round_trip(&r, &back);
    CHECK(span_is(back.token, "tok", 3));
    CHECK_INT(back.nvalues, 2);
    CHECK(span_is(back.values[1], peer6, KRPC_PEER6_LEN));
}

static void test_krpc_round_trips_announce_peer(void)
{
    struct krpc_msg q, r, back;

    krpc_msg_init_query(&q, KRPC_ANNOUNCE_PEER, (const uint8_t *)"ap", 2, node_id);
    q.info_hash = other_id;
    q.has_port = true;
    q.port = 6881;
    q.token.data = (const uint8_t *)"12345678";
    q.token.len = 8;
    round_trip(&q, &back);
    CHECK_INT(back.method, KRPC_ANNOUNCE_PEER);
    CHECK_INT(back.port, 6881);
    CHECK(!back.implied_port);
    CHECK(span_is(back.token, "12345678", 8));

    krpc_msg_init_response(&r, &back, other_id);
    round_trip(&r, &back);
    CHECK_INT(back.type, KRPC_RESPONSE);
}

static void test_krpc_round_trips_get(void)
{
    static const uint8_t value[] = "12:Hello World!";
    struct krpc_msg q, r, back;

    krpc_msg_init_query(&q, KRPC_GET, (const uint8_t *)"g1", 2, node_id);
    q.target = other_id;
    q.has_seq = true;
    q.seq = 41;
    round_trip(&q, &back);
    CHECK_INT(back.method, KRPC_GET);
    CHECK(back.has_seq);
    CHECK_INT(back.seq, 41);

    krpc_msg_init_response(&r, &back, other_id);
    r.token.data = (const uint8_t *)"tk";
    r.token.len = 2;
    r.k = key;
    r.sig = sig;
    r.has_seq = true;
    r.seq = 42;
    r.value.data = value;
    r.value.len = sizeof(value) - 1;
    round_trip(&r, &back);
    CHECK(memcmp(back.k, key, BEP44_KEY_LEN) == 0);
    CHECK(memcmp(back.sig, sig, BEP44_SIG_LEN) == 0);
    CHECK_INT(back.seq, 42);
    CHECK(span_is(back.value, value, sizeof(value) - 1));
}

static void test_krpc_round_trips_mutable_put(void)
{
    static const uint8_t value[] = "l1:ai-7ee";
    struct krpc_msg q, r, back;

    krpc_msg_init_query(&q, KRPC_PUT, (const uint8_t *)"p1", 2, node_id);
    q.token.data = (const uint8_t *)"tk";
    q.token.len = 2;
    q.k = key;
    q.sig = sig;
    q.has_seq = true;
    q.seq = 1697016827303000;
    q.has_cas = true;
    q.cas = 1697016827302999;
    q.salt.data = (const uint8_t *)"foobar";
    q.salt.len = 6;
    q.value.data = value;
    q.value.len = sizeof(value) - 1;
    round_trip(&q, &back);
    CHECK_INT(back.method, KRPC_PUT);
    CHECK(back.k != NULL && memcmp(back.k, key, BEP44_KEY_LEN) == 0);
    CHECK_INT(back.seq, 1697016827303000);
    CHECK(back.has_cas);
    CHECK_INT(back.cas, 1697016827302999);
    CHECK(span_is(back.salt, "foobar", 6));
    CHECK(span_is(back.value, value, sizeof(value) - 1));

    krpc_msg_init_response(&r, &back, other_id);
    round_trip(&r, &back);
    CHECK_INT(back.type, KRPC_RESPONSE);
}

static void test_krpc_round_trips_immutable_put(void)
{
    struct krpc_msg q, back;

    krpc_msg_init_query(&q, KRPC_PUT, (const uint8_t *)"p2", 2, node_id);
    q.token.data = (const uint8_t *)"tk";
    q.token.len = 2;
    q.value.data = (const uint8_t *)"12:Hello World!";
    q.value.len = 15;
    round_trip(&q, &back);
    CHECK(back.k == NULL);
    CHECK(!back.has_seq);
    CHECK(span_is(back.value, "12:Hello World!", 15));
}

static void test_krpc_round_trips_error(void)
{
    struct krpc_msg q, e, back;

    krpc_msg_init_query(&q, KRPC_PUT, (const uint8_t *)"zz", 2, node_id);
    krpc_msg_init_error(&e, &q, BEP44_ERR_SEQ_TOO_LOW, NULL);
    round_trip(&e, &back);
    CHECK_INT(back.type, KRPC_ERROR);
    CHECK_INT(back.error_code, 302);
    CHECK(span_is(back.t, "zz", 2));
    CHECK(span_is(back.error_msg, krpc_strerror(302), strlen(krpc_strerror(302))));
}

static void test_krpc_answers_unknown_method_with_204(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id20:abcdefghij0123456789e1:q17:sample_infohashes1:t2:xy"
                             "1:y1:qe"),
              -EPROTO);
    CHECK_INT(m.error_code, KRPC_ERR_METHOD);
    CHECK_INT(m.method, KRPC_UNKNOWN);
    CHECK(span_is(m.t, "xy", 2));
}

static void test_krpc_answers_missing_id_with_203(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ade1:q4:ping1:t2:aa1:y1:qe"), -EPROTO);
    CHECK_INT(m.error_code, KRPC_ERR_PROTOCOL);
    CHECK_STR((const char *)m.error_msg.data, "missing or invalid 'id'");
    CHECK(span_is(m.t, "aa", 2));
}

static void test_krpc_answers_short_id_with_203(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe"), -EPROTO);
    CHECK_INT(m.error_code, KRPC_ERR_PROTOCOL);
}

static void test_krpc_answers_missing_arguments_with_203(void)
{
    static const char *queries[] = {
        /* no "a" at all */
        "d1:q4:ping1:t2:aa1:y1:qe",
        /* "a" not a dictionary */
        "d1:ai1e1:q4:ping1:t2:aa1:y1:qe",
        /* "q" not a string */
        "d1:ad2:id20:abcdefghij0123456789e1:qi1e1:t2:aa1:y1:qe",
        /* find_node without target */
        "d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe",
        /* get_peers with a short info_hash */
        "d1:ad2:id20:abcdefghij01234567899:info_hash3:abce1:q9:get_peers1:t2:aa1:y1:qe",
        /* announce_peer without token */
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti1ee1:q13:"
        "announce_peer1:t2:aa1:y1:qe",
        /* announce_peer with a port out of range */
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti65536e5:"
        "token1:xe1:q13:announce_peer1:t2:aa1:y1:qe",
        /* get without target */
        "d1:ad2:id20:abcdefghij0123456789e1:q3:get1:t2:aa1:y1:qe",
        /* put without v */
        "d1:ad2:id20:abcdefghij01234567895:token1:xe1:q3:put1:t2:aa1:y1:qe",
        /* mutable put without sig */
        "d1:ad2:id20:abcdefghij01234567891:k32:0123456789abcdef0123456789abcdef3:seqi1e5:token"
        "1:x1:v1:xe1:q3:put1:t2:aa1:y1:qe",
        /* get with a seq that is not an integer */
        "d1:ad2:id20:abcdefghij01234567893:seq1:16:target20:mnopqrstuvwxyz123456e1:q3:get1:t2:"
        "aa1:y1:qe",
    };
    struct krpc_msg m;

    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        int rc = parse_text(&m, queries[i]);
        if (rc != -EPROTO || m.error_code != KRPC_ERR_PROTOCOL) {
            fprintf(stderr, "  query %zu: rc %d, code %lld\n", i, rc, (long long)m.error_code);
        }
        CHECK_INT(rc, -EPROTO);
        CHECK_INT(m.error_code, KRPC_ERR_PROTOCOL);
        CHECK(span_is(m.t, "aa", 2));
    }
}

static void test_krpc_tolerates_unknown_keys(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id20:abcdefghij01234567894:zzzzi1ee1:q4:ping1:t2:aa"
                             "1:xi5e1:y1:q1:zlee"),
              0);
    CHECK_INT(m.method, KRPC_PING);
}

static void test_krpc_reads_version_ip_and_read_only_flag(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id20:abcdefghij0123456789e2:ip6:\x01\x02\x03\x04\x1a\xe1"
                             "1:q4:ping2:roi1e1:t2:aa1:v4:LT\x01\x02"
                             "1:y1:qe"),
              0);
    CHECK(m.ro);
    CHECK(span_is(m.ip, "\x01\x02\x03\x04\x1a\xe1", 6));
    CHECK(span_is(m.version, "LT\x01\x02", 4));
}

static void test_krpc_ignores_malformed_ip(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id20:abcdefghij0123456789e2:ip3:abc1:q4:ping1:t2:aa1:y1:qe"),
              0);
    CHECK(m.ip.data == NULL);
}

static void test_krpc_drops_undecodable_messages(void)
{
    static const char *datagrams[] = {
        "",
        "i1e",
        "d1:q4:ping1:y1:qe",                                  /* no t */
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aae", /* no y */
        "d1:t2:aa1:y1:xe",                                    /* unknown y */
        "d1:t2:aa1:y2:qqe",                                   /* y too long */
        "d1:t33:123456789012345678901234567890123:y1:re",     /* t too long */
        "d1:t2:aa1:y1:re",                                    /* response without r */
        "d1:rd2:id3:abce1:t2:aa1:y1:re",                      /* response with a short id */
        "d1:rd2:id20:abcdefghij01234567895:nodes25:abcdefghijklmnopqrstuvwxye1:t2:aa1:y1:re",
        "d1:rd2:id20:abcdefghij01234567896:valuesl5:abcdeee1:t2:aa1:y1:re",
        "d1:e3:abc1:t2:aa1:y1:ee", /* error not a list */
        "d1:ele1:t2:aa1:y1:ee",    /* error without code */
        "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe1:z",
    };
    struct krpc_msg m;

    for (size_t i = 0; i < sizeof(datagrams) / sizeof(datagrams[0]); i++) {
        int rc = parse_text(&m, datagrams[i]);
        if (rc != -EBADMSG) {
            fprintf(stderr, "  datagram %zu: rc %d\n", i, rc);
        }
        CHECK_INT(rc, -EBADMSG);
    }
}

static void test_krpc_reads_error_without_message(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:eli202ee1:t2:aa1:y1:ee"), 0);
    CHECK_INT(m.error_code, KRPC_ERR_SERVER);
    CHECK_INT(m.error_msg.len, 0);
}

static void test_krpc_keeps_at_most_values_max_peers(void)
{
    static char text[16 + (KRPC_VALUES_MAX + 5) * 8 + 64];
    struct krpc_msg m;
    size_t n;

    n = (size_t)snprintf(text, sizeof(text), "d1:rd2:id20:abcdefghij01234567896:valuesl");
    for (int i = 0; i < KRPC_VALUES_MAX + 5; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "6:%06d", i);
    }
    snprintf(text + n, sizeof(text) - n, "ee1:t2:aa1:y1:re");
    CHECK_INT(parse_text(&m, text), 0);
    CHECK_INT(m.nvalues, KRPC_VALUES_MAX);
}

static void test_krpc_immutable_put_ignores_mutable_fields(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id20:abcdefghij01234567894:salt3:abc3:seqi4e5:token1:x1:v"
                             "1:xe1:q3:put1:t2:aa1:y1:qe"),
              0);
    CHECK(m.k == NULL);
    CHECK(m.salt.data == NULL);
    CHECK(!m.has_seq);
    CHECK(span_is(m.value, "1:x", 3));
}

static void test_krpc_treats_empty_salt_as_none(void)
{
    struct krpc_msg m;

    CHECK_INT(parse_text(&m, "d1:ad2:id20:abcdefghij01234567891:k32:0123456789abcdef0123456789"
                             "abcdef4:salt0:3:seqi1e3:sig64:0123456789abcdef0123456789abcdef"
                             "0123456789abcdef0123456789abcdef5:token1:x1:v1:xe1:q3:put1:t2:aa1:"
                             "y1:qe"),
              0);
    CHECK(m.salt.data == NULL);
    CHECK(m.k != NULL && m.sig != NULL);
}

static void test_krpc_write_refuses_missing_required_fields(void)
{
    struct krpc_msg m;

    krpc_msg_init_query(&m, KRPC_FIND_NODE, (const uint8_t *)"aa", 2, node_id);
    CHECK_INT(krpc_write(&m, out, sizeof(out), &out_len), -EINVAL); /* no target */

    krpc_msg_init_query(&m, KRPC_PUT, (const uint8_t *)"aa", 2, node_id);
    m.token.data = (const uint8_t *)"x";
    m.token.len = 1;
    m.value.data = (const uint8_t *)"1:x";
    m.value.len = 3;
    m.k = key;
    CHECK_INT(krpc_write(&m, out, sizeof(out), &out_len), -EINVAL); /* k without sig, seq */

    krpc_msg_init_query(&m, KRPC_UNKNOWN, (const uint8_t *)"aa", 2, node_id);
    CHECK_INT(krpc_write(&m, out, sizeof(out), &out_len), -EINVAL);

    krpc_msg_init_query(&m, KRPC_PING, NULL, 0, node_id);
    CHECK_INT(krpc_write(&m, out, sizeof(out), &out_len), -EINVAL); /* no t */
}

static void test_krpc_write_refuses_what_parse_would_refuse(void)
{
    struct krpc_msg m, q;

    krpc_msg_init_query(&q, KRPC_FIND_NODE, (const uint8_t *)"aa", 2, node_id);
    krpc_msg_init_response(&m, &q, node_id);
    m.nodes.data = (const uint8_t *)"short";
    m.nodes.len = 5;
    CHECK_INT(krpc_write(&m, out, sizeof(out), &out_len), -EINVAL);

    krpc_msg_init_response(&m, &q, node_id);
    m.ip.data = (const uint8_t *)"abc";
    m.ip.len = 3;
    CHECK_INT(krpc_write(&m, out, sizeof(out), &out_len), -EINVAL);
}

static void test_krpc_write_reports_full_buffer(void)
{
    struct krpc_msg m;
    uint8_t small[20];

    krpc_msg_init_query(&m, KRPC_PING, (const uint8_t *)"aa", 2, node_id);
    CHECK_INT(krpc_write(&m, small, sizeof(small), &out_len), -ENOSPC);
}

static void test_krpc_names_methods_and_errors(void)
{
    CHECK_STR(krpc_method_name(KRPC_ANNOUNCE_PEER), "announce_peer");
    CHECK_STR(krpc_method_name(KRPC_GET), "get");
    CHECK_STR(krpc_method_name(KRPC_UNKNOWN), "unknown");
    CHECK_STR(krpc_strerror(204), "method unknown");
    CHECK_STR(krpc_strerror(-206), "invalid signature");
    CHECK_STR(krpc_strerror(INT64_MIN), "unknown error");
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT(test_krpc_parses_bep5_ping_query),
        UNIT(test_krpc_parses_bep5_ping_response),
        UNIT(test_krpc_parses_bep5_error),
        UNIT(test_krpc_parses_bep5_announce_peer),
        UNIT(test_krpc_parses_bep5_get_peers_response_with_values),
        UNIT(test_krpc_bep5_examples_write_back_byte_for_byte),
        UNIT(test_krpc_round_trips_ping),
        UNIT(test_krpc_round_trips_find_node),
        UNIT(test_krpc_round_trips_get_peers),
        UNIT(test_krpc_round_trips_announce_peer),
        UNIT(test_krpc_round_trips_get),
        UNIT(test_krpc_round_trips_mutable_put),
        UNIT(test_krpc_round_trips_immutable_put),
        UNIT(test_krpc_round_trips_error),
        UNIT(test_krpc_answers_unknown_method_with_204),
        UNIT(test_krpc_answers_missing_id_with_203),
        UNIT(test_krpc_answers_short_id_with_203),
        UNIT(test_krpc_answers_missing_arguments_with_203),
        UNIT(test_krpc_tolerates_unknown_keys),
        UNIT(test_krpc_reads_version_ip_and_read_only_flag),
        UNIT(test_krpc_ignores_malformed_ip),
        UNIT(test_krpc_drops_undecodable_messages),
        UNIT(test_krpc_reads_error_without_message),
        UNIT(test_krpc_keeps_at_most_values_max_peers),
        UNIT(test_krpc_immutable_put_ignores_mutable_fields),
        UNIT(test_krpc_treats_empty_salt_as_none),
        UNIT(test_krpc_write_refuses_missing_required_fields),
        UNIT(test_krpc_write_refuses_what_parse_would_refuse),
        UNIT(test_krpc_write_reports_full_buffer),
        UNIT(test_krpc_names_methods_and_errors),
    };
    return unit_run("dht_krpc", tests, sizeof(tests) / sizeof(tests[0]));
}
