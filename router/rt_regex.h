/* What a rule's regular expression will cost to compile, told before it is compiled.
 *
 * glibc's regcomp copies a repeated atom's whole tree for '+' and for every count of an
 * interval, so repetitions of repetitions grow as the product of their counts, and its
 * closures over optional copies grow as the square of their number: "a{1,32767}" takes 8 GiB
 * and 15 s, fifteen nested '+' take 45 MiB, and groups nested some 20,000 deep overflow its
 * stack. A configuration must get an error for such a pattern, not a router that dies. */
#ifndef PK_RT_REGEX_H
#define PK_RT_REGEX_H

#include <stdint.h>

/* The most nodes a pattern may expand to. A DNS name is at most 253 characters, so no useful
 * pattern comes near (the stack's pkarr regex is 70); at this size the costliest shape
 * measured, "a{1,2047}", takes 32 MiB and 18 ms to compile. */
#define RT_REGEX_NODES_MAX 2048

/* The deepest nesting of groups a pattern may have. */
#define RT_REGEX_DEPTH_MAX 64

/* An estimate from above of the nodes regcomp builds for the POSIX extended regular expression
 * text: every copy that a repetition makes counted, nested repetitions multiplied. Returns
 * UINT64_MAX when the groups nest deeper than RT_REGEX_DEPTH_MAX. */
uint64_t rt_regex_nodes(const char *text);

#endif
