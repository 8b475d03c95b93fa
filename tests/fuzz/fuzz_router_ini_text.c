/* Fuzz target for the native INI file's quoted values: any bytes through the decoders, and
 * any text (up to its first NUL) printed as a value and read back the way inih hands over its
 * lines (white space stripped at both ends, continuation lines joined): it must be the text
 * again, with no line too long and none that inih would cut at a comment. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_ini_text.h"

#define FUZZ_MAX_INPUT 4096
#define FUZZ_PREFIX "v = "

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* One printed line as inih gives it: white space at both ends dropped; a ';' after white
 * space, or a line longer than inih's buffer, is a failure. */
static size_t fuzz_line_value(char *line, char **value)
{
    size_t len = strlen(line);

    if (len > RT_INI_LINE_MAX) {
        abort();
    }
    for (size_t i = 1; i < len; i++) {
        if (line[i] == ';' && fuzz_space(line[i - 1])) {
            abort();
        }
    }
    while (len > 0 && fuzz_space(line[len - 1])) {
        line[--len] = '\0';
    }
    while (fuzz_space(*line)) {
        line++, len--;
    }
    *value = line;
    return len;
}

/* Prints text, joins its lines as the INI reader does, and decodes them. */
static void fuzz_round_trip(const char *text)
{
    static char printed[8 * FUZZ_MAX_INPUT], joined[8 * FUZZ_MAX_INPUT], back[FUZZ_MAX_INPUT + 1];
    size_t used = 0;
    char *line, *save = NULL, *value;
    FILE *out = fmemopen(printed, sizeof(printed), "w");

    if (out == NULL) {
        return;
    }
    rt_ini_print_text(out, FUZZ_PREFIX, text);
    fclose(out);
    for (line = strtok_r(printed, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (used == 0 && strncmp(line, FUZZ_PREFIX, strlen(FUZZ_PREFIX)) != 0) {
            abort();
        }
        size_t len = fuzz_line_value(used == 0 ? line + strlen(FUZZ_PREFIX) : line, &value);
        if (used > 0 && (value[0] == ';' || value[0] == '#' || value == line)) {
            abort(); /* a comment, or a continuation that is not indented */
        }
        memcpy(joined + used, value, len + 1);
        used += len;
    }
    if (rt_ini_text_decode(joined, back, sizeof(back)) != 0 || strcmp(back, text) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[FUZZ_MAX_INPUT + 1], out[FUZZ_MAX_INPUT + 1];
    char *items[16];

    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    rt_ini_text_decode(text, out, sizeof(out));
    rt_ini_list_decode(text, out, sizeof(out), items, sizeof(items) / sizeof(items[0]));
    rt_ini_text_open(text);
    fuzz_round_trip(text); /* the text ends at its first NUL, as a value's does */
    return 0;
}
