/* The command line of pkdns-cli's subcommands: "--name value" and "--name=value" options,
 * and the value forms they take (numbers, hex). */
#ifndef PK_CLI_ARGS_H
#define PK_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_ARGS_EXIT_USAGE 2 /* as DESIGN.md: usage errors exit 2 */

/* One option as read from argv. */
struct cli_args_opt {
    char name[32];     /* without the leading "--" */
    const char *value; /* NULL for a bare flag */
};

/* Reads the option at argv[*i], taking the next argument as its value unless the name is in
 * `bare` (a NULL-terminated list of flags). Advances *i past what it read. Returns 0, or
 * -EINVAL for an argument that is not an option, or an option over 31 characters. */
int cli_args_next(int argc, char **argv, int *i, const char *const *bare, struct cli_args_opt *out);

/* Parses a decimal number within [min, max]. Returns 0, or -EINVAL. */
int cli_args_number(const char *text, long long min, long long max, long long *out);

/* Decodes hex text into out (cap bytes); *len gets the byte count. Returns 0, or -EINVAL for
 * odd length or a non-hex digit, -ENOSPC when it does not fit. */
int cli_args_hex(const char *text, uint8_t *out, size_t cap, size_t *len);

/* Writes len bytes as lowercase hex into out, which must hold 2 * len + 1 bytes. */
void cli_args_to_hex(const uint8_t *data, size_t len, char *out);

#endif
