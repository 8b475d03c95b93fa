#include "cli_records.h"

#include "dns_name.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_RECORDS_TYPE_SVCB 64  /* RFC 9460 */
#define CLI_RECORDS_TYPE_HTTPS 65 /* RFC 9460 */

static const char *cli_records_type_name(uint16_t type, char *buf, size_t cap)
{
    static const struct {
        uint16_t type;
        const char *name;
    } names[] = {
        {1, "A"},
        {2, "NS"},
        {5, "CNAME"},
        {6, "SOA"},
        {12, "PTR"},
        {15, "MX"},
        {16, "TXT"},
        {28, "AAAA"},
        {33, "SRV"},
        {CLI_RECORDS_TYPE_SVCB, "SVCB"},
        {CLI_RECORDS_TYPE_HTTPS, "HTTPS"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].type == type) {
            return names[i].name;
        }
    }
    snprintf(buf, cap, "TYPE%u", (unsigned)type); /* RFC 3597 5 */
    return buf;
}

/* Prints the name at rdata[*pos..len) (written out in full) and advances *pos. Returns 0,
 * -EBADMSG. */
static int cli_records_print_name(const uint8_t *rdata, size_t len, size_t *pos)
{
    char text[DNS_NAME_TEXT_MAX];
    size_t at = *pos;

    while (at < len && rdata[at] != 0) {
        at += (size_t)rdata[at] + 1;
    }
    if (at >= len || dns_name_to_text(rdata + *pos, at + 1 - *pos, text, sizeof(text)) < 0) {
        return -EBADMSG;
    }
    printf(" %s", text);
    *pos = at + 1;
    return 0;
}

/* Prints TXT character-strings quoted (RFC 1035 5.1). Returns 0, -EBADMSG. */
static int cli_records_print_txt(const uint8_t *rdata, size_t len)
{
    for (size_t pos = 0; pos < len;) {
        size_t n = rdata[pos++];
        if (pos + n > len) {
            return -EBADMSG;
        }
        printf(" \"");
        for (size_t i = 0; i < n; i++, pos++) {
            uint8_t c = rdata[pos];
            if (c == '"' || c == '\\') {
                printf("\\%c", c);
            } else if (c < 0x20 || c > 0x7e) {
                printf("\\%03u", (unsigned)c);
            } else {
                putchar(c);
            }
        }
        putchar('"');
    }
    return 0;
}

static uint16_t cli_records_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Prints the RDATA of the types zone files write; the rest in RFC 3597's generic form.
 * Returns 0, or -EBADMSG when the RDATA does not have its type's shape. */
static int cli_records_print_rdata(const struct pk_rr *rr)
{
    char addr[INET6_ADDRSTRLEN];
    size_t pos = 0;

    switch (rr->type) {
    case 1:
    case 28:
        if (rr->rdlength != (rr->type == 1 ? 4 : 16)) {
            return -EBADMSG;
        }
        inet_ntop(rr->type == 1 ? AF_INET : AF_INET6, rr->rdata, addr, sizeof(addr));
        printf(" %s", addr);
        return 0;
    case 2:
    case 5:
    case 12:
        return cli_records_print_name(rr->rdata, rr->rdlength, &pos);
    case 15:
        if (rr->rdlength < 3) {
            return -EBADMSG;
        }
        printf(" %u", (unsigned)cli_records_u16(rr->rdata));
        pos = 2;
        return cli_records_print_name(rr->rdata, rr->rdlength, &pos);
    case 16:
        return cli_records_print_txt(rr->rdata, rr->rdlength);
    case 33:
        if (rr->rdlength < 7) {
            return -EBADMSG;
        }
        printf(" %u %u %u", (unsigned)cli_records_u16(rr->rdata),
               (unsigned)cli_records_u16(rr->rdata + 2), (unsigned)cli_records_u16(rr->rdata + 4));
        pos = 6;
        return cli_records_print_name(rr->rdata, rr->rdlength, &pos);
    default:
        printf(" \\# %u ", (unsigned)rr->rdlength); /* RFC 3597 5 */
        for (size_t i = 0; i < rr->rdlength; i++) {
            printf("%02x", rr->rdata[i]);
        }
        return 0;
    }
}

/* Prints one record as a zone file line, its owner relative to the key ("@" for the apex). */
void cli_records_print(const struct pk_rr *rr)
{
    char owner[DNS_NAME_TEXT_MAX], type_buf[16];
    int n = dns_name_to_text(rr->name, rr->name_len, owner, sizeof(owner));

    if (n <= 1) {
        snprintf(owner, sizeof(owner), "@");
    } else {
        owner[n - 1] = '\0';
    }
    printf("%s %u IN %s", owner, (unsigned)rr->ttl,
           cli_records_type_name(rr->type, type_buf, sizeof(type_buf)));
    if (cli_records_print_rdata(rr) < 0) {
        printf(" (malformed RDATA, %u bytes)", (unsigned)rr->rdlength);
    }
    putchar('\n');
}
