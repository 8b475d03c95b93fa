/* pkdns-cli resolve's output: one line per record in zone-file form. */
#ifndef PK_CLI_RECORDS_H
#define PK_CLI_RECORDS_H

#include "pk_rr.h"

/* Prints rr as "NAME TTL IN TYPE RDATA", with the rdata of the types publish takes in text
 * form and any other type as RFC 3597 generic data. */
void cli_records_print(const struct pk_rr *rr);

#endif
