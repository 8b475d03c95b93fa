/* Fast unpredictable numbers for DNS query IDs and similar: a ChaCha20 keystream from
 * libsodium, keyed from the system's generator, handed out from a buffer so the per-query
 * path makes no system call. One stream per thread. */
#ifndef PK_RANDOM_H
#define PK_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n unpredictable bytes. */
void random_bytes(void *buf, size_t n);

uint16_t random_u16(void);
uint32_t random_u32(void);

/* A uniform value in [0, bound); bound 0 gives 0. */
uint32_t random_uniform(uint32_t bound);

#endif
