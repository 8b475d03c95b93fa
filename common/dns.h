/* DNS protocol constants (RFC 1035 unless noted). No functions: see dns_name.h, dns_msg.h,
 * dns_writer.h and dns_reply.h. */
#ifndef PK_DNS_H
#define PK_DNS_H

#define DNS_HEADER_LEN 12     /* RFC 1035 4.1.1 */
#define DNS_NAME_MAX 255      /* RFC 1035 2.3.4: a name on the wire, length octets included */
#define DNS_LABEL_MAX 63      /* RFC 1035 2.3.4 */
#define DNS_UDP_MIN 512       /* RFC 1035 4.2.1: the payload every client accepts */
#define DNS_EDNS_DEFAULT 1232 /* DNS Flag Day 2020: a payload that avoids fragmentation */
#define DNS_TCP_MAX 65535     /* RFC 1035 4.2.2: two-byte length prefix */

/* Header flag bits, RFC 1035 4.1.1 and RFC 4035 3.2. */
#define DNS_FLAG_QR 0x8000u
#define DNS_FLAG_AA 0x0400u
#define DNS_FLAG_TC 0x0200u
#define DNS_FLAG_RD 0x0100u
#define DNS_FLAG_RA 0x0080u
#define DNS_FLAG_AD 0x0020u
#define DNS_FLAG_CD 0x0010u
#define DNS_OPCODE_SHIFT 11
#define DNS_OPCODE_MASK 0x7800u
#define DNS_RCODE_MASK 0x000fu

enum dns_opcode {
    DNS_OPCODE_QUERY = 0,
    DNS_OPCODE_NOTIFY = 4, /* RFC 1996 */
    DNS_OPCODE_UPDATE = 5, /* RFC 2136 */
};

enum dns_rcode {
    DNS_RCODE_NOERROR = 0,
    DNS_RCODE_FORMERR = 1,
    DNS_RCODE_SERVFAIL = 2,
    DNS_RCODE_NXDOMAIN = 3,
    DNS_RCODE_NOTIMP = 4,
    DNS_RCODE_REFUSED = 5,
};

enum dns_type {
    DNS_TYPE_A = 1,
    DNS_TYPE_NS = 2,
    DNS_TYPE_CNAME = 5,
    DNS_TYPE_SOA = 6,
    DNS_TYPE_PTR = 12,
    DNS_TYPE_MX = 15,
    DNS_TYPE_TXT = 16,
    DNS_TYPE_AAAA = 28,
    DNS_TYPE_SRV = 33,
    DNS_TYPE_OPT = 41, /* RFC 6891 */
    DNS_TYPE_RRSIG = 46,
    DNS_TYPE_SVCB = 64, /* RFC 9460 */
    DNS_TYPE_HTTPS = 65,
    DNS_TYPE_IXFR = 251,
    DNS_TYPE_AXFR = 252,
    DNS_TYPE_ANY = 255,
};

enum dns_class {
    DNS_CLASS_IN = 1,
    DNS_CLASS_CH = 3,
    DNS_CLASS_ANY = 255,
};

/* RFC 6891 6.1.3: the DO bit in the OPT record's TTL field. */
#define DNS_EDNS_DO 0x8000u
#define DNS_EDNS_OPTION_EDE 15 /* RFC 8914 */

/* Extended DNS Error info codes, RFC 8914 4. */
enum dns_ede {
    DNS_EDE_OTHER = 0,
    DNS_EDE_STALE_ANSWER = 3,
    DNS_EDE_PROHIBITED = 18,
    DNS_EDE_NOT_READY = 14,
    DNS_EDE_NOT_SUPPORTED = 21,
    DNS_EDE_NO_REACHABLE_AUTHORITY = 22,
    DNS_EDE_NETWORK_ERROR = 23,
    DNS_EDE_NONE = 0xffff, /* not an RFC value: "no EDE option" */
};

#endif
