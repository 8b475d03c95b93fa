/* Bencode (BEP 3), the encoding of every KRPC datagram. It lives in pkdns/dht/ rather than in
 * common/ with the other protocol code because nothing but the DHT (and the pkdns-cli commands
 * that drive it) reads or writes bencode.
 *
 * The reader is strict and never looks past the length it is given: canonical integers only,
 * string lengths checked against the bytes left, dictionary keys sorted and unique, nesting and
 * element count capped. It fills a caller-provided array of tokens, one per element in document
 * order, that point back into the input; nothing is copied. The writer appends to a caller
 * buffer and remembers the first -ENOSPC, so a message is written without checks between calls
 * and checked once at the end. */
#ifndef PK_BENCODE_H
#define PK_BENCODE_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting of lists and dictionaries the reader accepts. KRPC needs 3 or 4 levels; the
 * rest is room for BEP 44 values, which may be any bencoded value. */
#define BENCODE_MAX_DEPTH 32

enum bencode_type {
    BENCODE_INT = 1,
    BENCODE_STR,
    BENCODE_LIST,
    BENCODE_DICT,
};

/* One element. Read it through the functions below rather than directly. */
struct bencode_tok {
    uint8_t type;   /* enum bencode_type */
    uint32_t start; /* offset of the element's first byte */
    uint32_t end;   /* offset one past its last byte */
    uint32_t next;  /* index of the first token after this element and its children */
    union {
        int64_t value;    /* BENCODE_INT */
        uint32_t str_len; /* BENCODE_STR: the payload is the last str_len bytes */
        uint32_t count;   /* BENCODE_LIST: elements; BENCODE_DICT: key-value pairs */
    } u;
};

/* A parsed document: the input and its tokens. Token 0 is the root element. */
struct bencode {
    const uint8_t *data;
    size_t len;
    const struct bencode_tok *toks;
    size_t ntoks;
};

/* Parses data[0..len), exactly one element, into toks (cap tokens, one per element and key);
 * doc refers to both, which the caller keeps alive. Returns 0, -EBADMSG for malformed input or
 * trailing bytes, -E2BIG past cap tokens or BENCODE_MAX_DEPTH levels of nesting. */
int bencode_parse(struct bencode *doc, const uint8_t *data, size_t len, struct bencode_tok *toks,
                  size_t cap);

/* The type of token `tok` (enum bencode_type), or -EINVAL when tok is out of range.
 * Like every accessor below, a negative tok is returned unchanged, so lookups chain. */
int bencode_type(const struct bencode *doc, int tok);

/* Looks `key` up in dictionary `dict`. Returns the value's token index, -ENOENT when the key
 * is absent, or -EINVAL when dict is not a dictionary. */
int bencode_dict_get(const struct bencode *doc, int dict, const char *key);

/* Returns the token index of element `index` of `list`, -ENOENT past its end, or -EINVAL when
 * list is not a list. */
int bencode_list_get(const struct bencode *doc, int list, size_t index);

/* Number of elements of a list or of key-value pairs of a dictionary; 0 for anything else. */
size_t bencode_count(const struct bencode *doc, int tok);

/* Reads an integer into *out. Returns 0, or -EINVAL when tok is not an integer. */
int bencode_int(const struct bencode *doc, int tok, int64_t *out);

/* Points *str at a string's payload (inside the input) and sets *len. Returns 0, or -EINVAL
 * when tok is not a string. */
int bencode_str(const struct bencode *doc, int tok, const uint8_t **str, size_t *len);

/* Points *raw at the whole encoded element (inside the input), e.g. "12:Hello World!" or
 * "li1ee", and sets *len. Returns 0, or -EINVAL for a bad tok. */
int bencode_span(const struct bencode *doc, int tok, const uint8_t **raw, size_t *len);

/* A writer into a caller buffer. After the first write that does not fit, err is -ENOSPC and
 * every later write does nothing. */
struct bencode_writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err;
};

/* Starts writing at buf[0]; buf may be NULL when cap is 0. */
void bencode_writer_init(struct bencode_writer *w, uint8_t *buf, size_t cap);

/* Writes an integer, canonical form ("i-5e", "i0e"). */
void bencode_write_int(struct bencode_writer *w, int64_t value);

/* Writes a byte string ("<len>:<bytes>"); str may be NULL when len is 0. */
void bencode_write_str(struct bencode_writer *w, const void *str, size_t len);

/* Writes a NUL-terminated string as a byte string; meant for dictionary keys, which the caller
 * writes in sorted order. */
void bencode_write_key(struct bencode_writer *w, const char *key);

/* Copies bytes that already are bencoded (e.g. a BEP 44 value) unchanged. */
void bencode_write_raw(struct bencode_writer *w, const void *raw, size_t len);

/* Opens a list; bencode_write_end closes it. */
void bencode_write_list_begin(struct bencode_writer *w);

/* Opens a dictionary; bencode_write_end closes it. */
void bencode_write_dict_begin(struct bencode_writer *w);

/* Closes the innermost open list or dictionary. */
void bencode_write_end(struct bencode_writer *w);

/* Sets *len to the bytes written. Returns 0, or -ENOSPC when something did not fit. */
int bencode_writer_finish(const struct bencode_writer *w, size_t *len);

#endif
