/* Texts in the native INI file that a bare value cannot carry: a value (or a list item) that
 * starts with '"' is a quoted string, with the escapes \\, \" and \xHH (any byte), and a
 * quoted value still open at the end of its line goes on in the next, indented line, the
 * pieces joined as they are. The printer quotes only what would not read back as itself:
 * white space at either end, a ';' (inih takes " ;" for a comment), a leading '"', bytes
 * outside printable ASCII, or a line longer than inih's buffer. docs/router.md, "Quoted
 * values". */
#ifndef PK_RT_INI_TEXT_H
#define PK_RT_INI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define RT_INI_LINE_MAX 199      /* inih reads lines into 200 bytes, the NUL included */
#define RT_INI_PRINT_WIDTH 100   /* where the printer wraps what it must wrap */
#define RT_INI_VALUE_MAX 20000   /* a quoted value over all its lines, escapes included */
#define RT_INI_CONTINUE_INDENT 4 /* spaces before each continuation line the printer writes */

/* Decodes a value: the quoted string at the start of raw (only white space may follow it), or
 * raw itself when it does not start with '"'. Returns 0, -EAGAIN when raw ends inside the
 * quote (the value goes on in the next line), -EINVAL for a bad escape, a NUL byte or text
 * after the closing quote, -ENOSPC when out (cap bytes) is too small. */
int rt_ini_text_decode(const char *raw, char *out, size_t cap);

/* True when raw starts a quoted string that its end leaves open. */
bool rt_ini_text_open(const char *raw);

/* Splits a list (items separated by commas and white space; an item that starts with '"' is
 * a quoted string) into buf, one NUL-terminated item after the other, with items[] pointing
 * at them. Returns the item count (at most max; more are an error), or the errors of
 * rt_ini_text_decode, -E2BIG for more than max items. */
int rt_ini_list_decode(const char *raw, char *buf, size_t cap, char **items, size_t max);

/* Writes "<prefix><text>\n", text as it stands when it reads back as itself within one
 * line, else quoted and continued on indented lines of RT_INI_PRINT_WIDTH columns, broken
 * after a space where one is near. */
void rt_ini_print_text(FILE *out, const char *prefix, const char *text);

/* Writes one list item, quoted when it is empty or holds a separator, a quote, a ';' or a
 * byte outside printable ASCII. Returns the characters written. */
size_t rt_ini_print_item(FILE *out, const char *item);

/* The characters rt_ini_print_item writes for item. */
size_t rt_ini_item_width(const char *item);

/* True when name, written in a section header ([backend NAME]), reads back as itself. */
bool rt_ini_bare_name(const char *name);

#endif
