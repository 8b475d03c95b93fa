/* The rules inside one pkarr packet: matching records, CNAMEs, NS delegations, NODATA. */
#include <string.h>
#include <strings.h>

#include "dns_name.h"
#include "pk_answer_int.h"
#include "pkarr_name.h"
#include "zbase32.h"

/* True when label[0..len) spells the key whose text is key_text, in either case. */
static bool pk_answer_packet_is_key(const uint8_t *label, size_t len, const char *key_text)
{
    return len == PKARR_KEY_TEXT_LEN && strncasecmp((const char *)label, key_text, len) == 0;
}

/* Cuts `name` down to its part before the label of the packet's key ("www.<key>.key" gives
 * "www", the apex the root), when the name lies under that key. Comparing the key's text
 * spares a curve check per name. */
static bool pk_answer_packet_relative(const struct pk_answer_config *cfg, const char *key_text,
                                      const uint8_t *name, size_t len, uint8_t *rel,
                                      size_t *rel_len)
{
    unsigned labels = dns_name_label_count(name, len);
    unsigned key_label = 0;
    const uint8_t *label;
    size_t label_len;
    size_t at = 0;

    if (dns_name_label_from_end(name, len, 0, &label, &label_len) != 0) {
        return false;
    }
    if (!pk_answer_packet_is_key(label, label_len, key_text)) {
        if (cfg->tld == NULL || !dns_name_is_under(name, len, cfg->tld, cfg->tld_len)) {
            return false;
        }
        key_label = dns_name_label_count(cfg->tld, cfg->tld_len);
        if (key_label == 0 ||
            dns_name_label_from_end(name, len, key_label, &label, &label_len) != 0 ||
            !pk_answer_packet_is_key(label, label_len, key_text)) {
            return false;
        }
    }
    for (unsigned i = 0; i + 1 + key_label < labels; i++) {
        at += 1u + name[at];
    }
    memcpy(rel, name, at);
    rel[at] = 0;
    *rel_len = at + 1;
    return true;
}

static bool pk_answer_packet_owns(const struct pk_rr *rr, const uint8_t *rel, size_t rel_len)
{
    return dns_name_equal(rr->name, rr->name_len, rel, rel_len);
}

static bool pk_answer_packet_type_matches(uint16_t qtype, uint16_t type)
{
    return qtype == type || qtype == DNS_TYPE_ANY;
}

/* The records at rel of the type asked for, owned by the name as it was asked. */
static int pk_answer_packet_records(struct pk_answer *a, const struct pk_packet *p,
                                    const uint8_t *rel, size_t rel_len, uint8_t *out, size_t cap)
{
    struct pk_answer_out o;

    pk_answer_begin(a, &o, out, cap, DNS_RCODE_NOERROR, true);
    for (size_t i = 0; i < p->records.count; i++) {
        const struct pk_rr *rr = &p->records.rr[i];
        if (pk_answer_packet_owns(rr, rel, rel_len) &&
            pk_answer_packet_type_matches(a->qtype, rr->type)) {
            pk_rr_write(&o.w, rr, a->name, a->name_len, pk_answer_ttl(a, rr->ttl));
            o.an++;
        }
    }
    return pk_answer_end(a, &o, DNS_EDE_NONE, NULL);
}

static bool pk_answer_packet_has_records(const struct pk_answer *a, const struct pk_packet *p,
                                         const uint8_t *rel, size_t rel_len)
{
    for (size_t i = 0; i < p->records.count; i++) {
        const struct pk_rr *rr = &p->records.rr[i];
        if (pk_answer_packet_owns(rr, rel, rel_len) &&
            pk_answer_packet_type_matches(a->qtype, rr->type)) {
            return true;
        }
    }
    return false;
}

static const struct pk_rr *pk_answer_packet_find(const struct pk_packet *p, const uint8_t *rel,
                                                 size_t rel_len, uint16_t type)
{
    for (size_t i = 0; i < p->records.count; i++) {
        const struct pk_rr *rr = &p->records.rr[i];
        if (rr->type == type && pk_answer_packet_owns(rr, rel, rel_len)) {
            return rr;
        }
    }
    return NULL;
}

/* Finds the closest delegation: the longest suffix of rel, the apex excluded (the key's own NS
 * records delegate nothing), that owns NS records. Returns its offset in rel, or -1. */
static int pk_answer_packet_cut(const struct pk_packet *p, const uint8_t *rel, size_t rel_len)
{
    size_t off = 0;

    while (rel[off] != 0) {
        if (pk_answer_packet_find(p, rel + off, rel_len - off, DNS_TYPE_NS) != NULL) {
            return (int)off;
        }
        off += 1u + rel[off];
    }
    return -1;
}

/* Writes the NS records of the cut into the authority section and their glue (address
 * records in the packet for targets under its key) into the additional section, and
 * collects the glue addresses in a->servers; with o NULL it only collects. */
static void pk_answer_packet_referral(struct pk_answer *a, const struct pk_packet *p,
                                      const char *key_text, const uint8_t *rel, size_t rel_len,
                                      size_t cut, struct pk_answer_out *o)
{
    /* rel is the front of a->name, so the cut at offset `cut` in one is at `cut` in both. */
    const uint8_t *owner = a->name + cut;
    size_t owner_len = a->name_len - cut;
    uint8_t target[DNS_NAME_MAX];
    size_t target_len;

    a->n_servers = 0;
    for (size_t i = 0; i < p->records.count; i++) {
        const struct pk_rr *ns = &p->records.rr[i];
        if (ns->type != DNS_TYPE_NS || !pk_answer_packet_owns(ns, rel + cut, rel_len - cut)) {
            continue;
        }
        if (o != NULL) {
            pk_rr_write(&o->w, ns, owner, owner_len, pk_answer_ttl(a, ns->ttl));
            o->ns++;
        }
        if (!pk_answer_packet_relative(&a->cfg, key_text, ns->rdata, ns->rdlength, target,
                                       &target_len)) {
            continue; /* a server elsewhere: no glue here */
        }
        for (size_t k = 0; k < p->records.count; k++) {
            const struct pk_rr *glue = &p->records.rr[k];
            if ((glue->type != DNS_TYPE_A && glue->type != DNS_TYPE_AAAA) ||
                !pk_answer_packet_owns(glue, target, target_len)) {
                continue;
            }
            pk_answer_add_server(a, glue->type, glue->rdata, glue->rdlength);
            if (o != NULL) {
                pk_rr_write(&o->w, glue, ns->rdata, ns->rdlength, pk_answer_ttl(a, glue->ttl));
                o->ar++;
            }
        }
    }
}

/* A delegated server serves the key's own names, not the top-level domain this resolver
 * lets clients add: before "www.sub.<key>.key" goes to it, a CNAME to "www.sub.<key>" joins
 * the chain, so that the server's answer (owned by that name) follows it in the reply.
 * Returns 0, or what pk_answer_add_link returns beyond the limits. */
static int pk_answer_packet_drop_tld(struct pk_answer *a, const char *key_text, uint32_t ttl,
                                     uint8_t *out, size_t cap)
{
    uint8_t bare[DNS_NAME_MAX];
    const uint8_t *label;
    size_t label_len, bare_len;

    if (dns_name_label_from_end(a->name, a->name_len, 0, &label, &label_len) != 0 ||
        pk_answer_packet_is_key(label, label_len, key_text) || a->cfg.tld == NULL ||
        a->name_len <= a->cfg.tld_len) {
        return 0;
    }
    /* The name ends in the TLD's labels and the root; keep what is before them. */
    bare_len = a->name_len - a->cfg.tld_len;
    memcpy(bare, a->name, bare_len);
    bare[bare_len++] = 0;
    return pk_answer_add_link(a, bare, bare_len, ttl, out, cap);
}

/* Nothing at the name itself: a delegation above it, or NODATA. */
static int pk_answer_packet_below(struct pk_answer *a, const struct pk_packet *p,
                                  const char *key_text, const uint8_t *rel, size_t rel_len,
                                  uint8_t *out, size_t cap)
{
    int cut = pk_answer_packet_cut(p, rel, rel_len);
    struct pk_answer_out o;

    if (cut < 0) {
        return pk_answer_finish(a, DNS_RCODE_NOERROR, true, DNS_EDE_NONE, NULL, out, cap);
    }
    if (a->recursion) {
        pk_answer_packet_referral(a, p, key_text, rel, rel_len, (size_t)cut, NULL);
        if (a->n_servers > 0) {
            const struct pk_rr *ns =
                pk_answer_packet_find(p, rel + cut, rel_len - (size_t)cut, DNS_TYPE_NS);
            uint32_t ttl = pk_answer_ttl(a, ns != NULL ? ns->ttl : 0);
            int rc = pk_answer_packet_drop_tld(a, key_text, ttl, out, cap);
            return rc != 0 ? rc : pk_answer_refer(a, out, cap);
        }
    }
    /* RFC 1034 4.3.2: a referral is not authoritative for the name it refers. */
    pk_answer_begin(a, &o, out, cap, DNS_RCODE_NOERROR, a->n_chain > 0);
    pk_answer_packet_referral(a, p, key_text, rel, rel_len, (size_t)cut, &o);
    return pk_answer_end(a, &o, DNS_EDE_NONE, NULL);
}

int pk_answer_packet_resolve(struct pk_answer *a, const struct pk_packet *p, uint8_t *out,
                             size_t cap)
{
    char key_text[PKARR_KEY_TEXT_LEN + 1];
    uint8_t rel[DNS_NAME_MAX];
    size_t rel_len;
    const struct pk_rr *cname;
    int rc;

    zbase32_encode(p->key, PK_PACKET_KEY_LEN, key_text, sizeof(key_text));

    /* Each turn resolves one name; a CNAME to a name under the same key takes another turn
     * and counts as a step, so a loop ends at the step limit. */
    for (;;) {
        if (!pk_answer_packet_relative(&a->cfg, key_text, a->name, a->name_len, rel, &rel_len)) {
            return pk_answer_leave(a, out, cap);
        }
        if (pk_answer_packet_has_records(a, p, rel, rel_len)) {
            return pk_answer_packet_records(a, p, rel, rel_len, out, cap);
        }
        cname = a->qtype == DNS_TYPE_CNAME ? NULL
                                           : pk_answer_packet_find(p, rel, rel_len, DNS_TYPE_CNAME);
        if (cname == NULL) {
            return pk_answer_packet_below(a, p, key_text, rel, rel_len, out, cap);
        }
        rc = pk_answer_add_link(a, cname->rdata, cname->rdlength, pk_answer_ttl(a, cname->ttl), out,
                                cap);
        if (rc != 0) {
            return rc;
        }
    }
}
