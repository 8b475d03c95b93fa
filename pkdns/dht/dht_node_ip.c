/* The node's address as others see it (BEP 42): responders put it in "ip". Two in a row that
 * agree make it an address of our own, never to be queried; several distinct ones that agree
 * on an IPv4 address make it our external address, and our node ID is then derived from it
 * (BEP 42), unless it is a local address or the ID fits it already. Peers cannot hand us an
 * ID: they only outvote each other, and a loopback or private address never changes it. */
#include "dht_bep42.h"
#include "dht_contact.h"
#include "dht_node_int.h"
#include "log.h"

#include <netinet/in.h>
#include <string.h>

/* Records that `by` saw us at `seen`, one report per responder IP; returns how many distinct
 * responders report the IP address of `seen`. */
static size_t dht_node_ip_vote(struct dht_node *node, const struct addr *seen,
                               const struct addr *by)
{
    struct dht_node_ip_vote *slot = NULL;
    size_t agree = 0;

    for (size_t i = 0; i < node->nvotes; i++) {
        if (addr_equal_ip(&node->votes[i].by, by)) {
            slot = &node->votes[i];
        }
    }
    if (slot == NULL && node->nvotes < DHT_NODE_IP_VOTES) {
        slot = &node->votes[node->nvotes++];
    } else if (slot == NULL) {
        slot = &node->votes[node->next_vote];
        node->next_vote = (node->next_vote + 1) % DHT_NODE_IP_VOTES;
    }
    slot->seen = *seen;
    slot->by = *by;
    for (size_t i = 0; i < node->nvotes; i++) {
        agree += addr_equal_ip(&node->votes[i].seen, seen) ? 1 : 0;
    }
    return agree;
}

/* Gives the node (and both tables) a new ID. Returns 0 or -ENOMEM (nothing changed). */
static int dht_node_ip_set_id(struct dht_node *node, const uint8_t id[KRPC_ID_LEN])
{
    int rc = dht_table_set_id(node->table, id);

    if (rc < 0) {
        return rc;
    }
    if (node->table6 != NULL && (rc = dht_table_set_id(node->table6, id)) < 0) {
        dht_table_set_id(node->table, node->id); /* back as it was, as far as memory allows */
        return rc;
    }
    memcpy(node->id, id, KRPC_ID_LEN);
    return 0;
}

/* Our external IPv4 address is agreed: the ID follows it when BEP 42 asks for it. */
static void dht_node_ip_agreed(struct dht_node *node, const struct addr *seen)
{
    uint8_t noise[KRPC_ID_LEN], id[KRPC_ID_LEN];
    char text[ADDR_TEXT_MAX];
    const uint8_t *ip;
    size_t ip_len;

    node->external = *seen;
    log_info(DHT_TAG, "external address %s agreed by %d responders",
             addr_format(seen, text, sizeof(text)), DHT_NODE_IP_AGREE);
    if (dht_bep42_check(node->id, seen) || !dht_contact_ip_bytes(seen, &ip, &ip_len)) {
        return;
    }
    dht_node_random(node, noise, sizeof(noise));
    if (dht_bep42_make_id(ip, ip_len, noise[0] & 7u, noise, id) < 0 ||
        dht_node_ip_set_id(node, id) < 0) {
        log_warn(DHT_TAG, "cannot change node ID for external address %s; keeping it", text);
        return;
    }
    log_info(DHT_TAG, "node ID changed to fit external address %s (BEP 42)", text);
}

void dht_node_ip_reported(struct dht_node *node, const struct krpc_msg *m, const struct addr *from,
                          uint64_t now_ms)
{
    struct addr seen;

    (void)now_ms;
    if (m->ip.len == KRPC_PEER_LEN) {
        dht_contact_read_addr(m->ip.data, &seen);
    } else if (m->ip.len == KRPC_PEER6_LEN) {
        dht_contact_read_addr6(m->ip.data, &seen);
    } else {
        return;
    }
    if (addr_equal(&seen, &node->reported) && !addr_equal_ip(from, &node->reported_by)) {
        dht_node_add_own_addr(node, &seen);
    }
    node->reported = seen;
    node->reported_by = *from;

    /* One ID serves both families; it follows the IPv4 address, as most nodes are there. */
    if (seen.sa.ss_family != AF_INET || !dht_contact_addr_usable(&seen)) {
        return;
    }
    if (dht_node_ip_vote(node, &seen, from) >= DHT_NODE_IP_AGREE &&
        (node->external.len == 0 || !addr_equal_ip(&node->external, &seen))) {
        dht_node_ip_agreed(node, &seen);
    }
}
