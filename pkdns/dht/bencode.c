#include "bencode.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

/* Reading state: the input, how far we got, and the token array being filled. */
struct bencode_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
    struct bencode_tok *toks;
    size_t cap;
    size_t ntoks;
};

static int bencode_element(struct bencode_reader *r, unsigned depth);

static bool bencode_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int bencode_new_tok(struct bencode_reader *r, enum bencode_type type, size_t *index)
{
    struct bencode_tok *tok;

    if (r->ntoks >= r->cap) {
        return -E2BIG;
    }
    *index = r->ntoks++;
    tok = &r->toks[*index];
    memset(tok, 0, sizeof(*tok));
    tok->type = (uint8_t)type;
    tok->start = (uint32_t)r->pos;
    return 0;
}

static void bencode_close_tok(struct bencode_reader *r, size_t index)
{
    r->toks[index].end = (uint32_t)r->pos;
    r->toks[index].next = (uint32_t)r->ntoks;
}

/* BEP 3: "i" [ "-" ] digits "e", no leading zeros, and "i-0e" is invalid. */
static int bencode_read_int(struct bencode_reader *r)
{
    const uint64_t pos_max = (uint64_t)INT64_MAX;
    uint64_t magnitude = 0;
    bool negative = false;
    size_t index;
    int rc;

    if ((rc = bencode_new_tok(r, BENCODE_INT, &index)) < 0) {
        return rc;
    }
    r->pos++;
    if (r->pos < r->len && r->data[r->pos] == '-') {
        negative = true;
        r->pos++;
    }
    if (r->pos >= r->len || !bencode_is_digit(r->data[r->pos])) {
        return -EBADMSG;
    }
    if (r->data[r->pos] == '0' &&
        (negative || r->pos + 1 >= r->len || r->data[r->pos + 1] != 'e')) {
        return -EBADMSG;
    }
    while (r->pos < r->len && bencode_is_digit(r->data[r->pos])) {
        uint64_t digit = (uint64_t)(r->data[r->pos] - '0');
        /* The magnitude of INT64_MIN is one more than INT64_MAX. */
        uint64_t limit = negative ? pos_max + 1 : pos_max;
        if (magnitude > (limit - digit) / 10) {
            return -EBADMSG;
        }
        magnitude = magnitude * 10 + digit;
        r->pos++;
    }
    if (r->pos >= r->len || r->data[r->pos] != 'e') {
        return -EBADMSG;
    }
    r->pos++;

    if (negative) {
        r->toks[index].u.value = magnitude > pos_max ? INT64_MIN : -(int64_t)magnitude;
    } else {
        r->toks[index].u.value = (int64_t)magnitude;
    }
    bencode_close_tok(r, index);
    return 0;
}

/* BEP 3: decimal length, ":", then that many bytes. The length is checked against the bytes
 * left while its digits are read, so it can neither overflow nor point past the input. */
static int bencode_read_str(struct bencode_reader *r)
{
    uint64_t str_len = 0; /* at most 10 * UINT32_MAX + 9 before the check below */
    size_t index;
    int rc;

    if ((rc = bencode_new_tok(r, BENCODE_STR, &index)) < 0) {
        return rc;
    }
    if (r->data[r->pos] == '0' && r->pos + 1 < r->len && r->data[r->pos + 1] != ':') {
        return -EBADMSG;
    }
    while (r->pos < r->len && bencode_is_digit(r->data[r->pos])) {
        str_len = str_len * 10 + (uint64_t)(r->data[r->pos] - '0');
        r->pos++;
        if (str_len > r->len - r->pos) {
            return -EBADMSG;
        }
    }
    if (r->pos >= r->len || r->data[r->pos] != ':') {
        return -EBADMSG;
    }
    r->pos++;
    if (str_len > r->len - r->pos) {
        return -EBADMSG;
    }
    r->pos += (size_t)str_len;

    r->toks[index].u.str_len = (uint32_t)str_len;
    bencode_close_tok(r, index);
    return 0;
}

/* Raw byte order, shorter first on a common prefix: how BEP 3 wants keys sorted. */
static int bencode_key_cmp(const struct bencode_reader *r, size_t a, size_t b)
{
    const struct bencode_tok *ta = &r->toks[a], *tb = &r->toks[b];
    size_t la = ta->u.str_len, lb = tb->u.str_len;
    int c = memcmp(r->data + ta->end - la, r->data + tb->end - lb, la < lb ? la : lb);

    if (c != 0) {
        return c;
    }
    return la < lb ? -1 : (la > lb ? 1 : 0);
}

/* Reads a list or, when is_dict, a dictionary whose keys must be strictly increasing. */
static int bencode_read_container(struct bencode_reader *r, bool is_dict, unsigned depth)
{
    size_t index, prev_key = 0;
    uint32_t count = 0;
    int rc;

    if (depth > BENCODE_MAX_DEPTH) {
        return -E2BIG;
    }
    if ((rc = bencode_new_tok(r, is_dict ? BENCODE_DICT : BENCODE_LIST, &index)) < 0) {
        return rc;
    }
    r->pos++;
    for (;;) {
        if (r->pos >= r->len) {
            return -EBADMSG;
        }
        if (r->data[r->pos] == 'e') {
            break;
        }
        if (is_dict) {
            size_t key = r->ntoks;
            if (!bencode_is_digit(r->data[r->pos])) {
                return -EBADMSG;
            }
            if ((rc = bencode_read_str(r)) < 0) {
                return rc;
            }
            if (count > 0 && bencode_key_cmp(r, prev_key, key) >= 0) {
                return -EBADMSG;
            }
            prev_key = key;
        }
        if ((rc = bencode_element(r, depth)) < 0) {
            return rc;
        }
        count++;
    }
    r->pos++;

    r->toks[index].u.count = count;
    bencode_close_tok(r, index);
    return 0;
}

/* Reads one element at r->pos; `depth` counts the containers around it. */
static int bencode_element(struct bencode_reader *r, unsigned depth)
{
    uint8_t c;

    if (r->pos >= r->len) {
        return -EBADMSG;
    }
    c = r->data[r->pos];
    if (c == 'i') {
        return bencode_read_int(r);
    }
    if (bencode_is_digit(c)) {
        return bencode_read_str(r);
    }
    if (c == 'l' || c == 'd') {
        return bencode_read_container(r, c == 'd', depth + 1);
    }
    return -EBADMSG;
}

int bencode_parse(struct bencode *doc, const uint8_t *data, size_t len, struct bencode_tok *toks,
                  size_t cap)
{
    struct bencode_reader r = {.data = data, .len = len, .toks = toks, .cap = cap};
    int rc;

    memset(doc, 0, sizeof(*doc));
    /* Offsets are 32-bit and token indices are ints. */
    if (len > UINT32_MAX) {
        return -E2BIG;
    }
    if (r.cap > INT_MAX) {
        r.cap = INT_MAX;
    }
    if ((rc = bencode_element(&r, 0)) < 0) {
        return rc;
    }
    if (r.pos != len) {
        return -EBADMSG;
    }

    doc->data = data;
    doc->len = len;
    doc->toks = toks;
    doc->ntoks = r.ntoks;
    return 0;
}

static const struct bencode_tok *bencode_tok_at(const struct bencode *doc, int tok)
{
    if (tok < 0 || (size_t)tok >= doc->ntoks) {
        return NULL;
    }
    return &doc->toks[tok];
}

int bencode_type(const struct bencode *doc, int tok)
{
    const struct bencode_tok *t = bencode_tok_at(doc, tok);

    if (tok < 0) {
        return tok;
    }
    return t != NULL ? t->type : -EINVAL;
}

int bencode_dict_get(const struct bencode *doc, int dict, const char *key)
{
    const struct bencode_tok *d = bencode_tok_at(doc, dict);
    size_t key_len = strlen(key);
    size_t i;

    if (dict < 0) {
        return dict;
    }
    if (d == NULL || d->type != BENCODE_DICT) {
        return -EINVAL;
    }
    /* Children alternate key, value; `next` skips a value's own children. */
    i = (size_t)dict + 1;
    for (uint32_t pair = 0; pair < d->u.count; pair++) {
        const struct bencode_tok *k = &doc->toks[i];
        size_t value = i + 1;
        if (k->u.str_len == key_len && memcmp(doc->data + k->end - key_len, key, key_len) == 0) {
            return (int)value;
        }
        i = doc->toks[value].next;
    }
    return -ENOENT;
}

int bencode_list_get(const struct bencode *doc, int list, size_t index)
{
    const struct bencode_tok *l = bencode_tok_at(doc, list);
    size_t i;

    if (list < 0) {
        return list;
    }
    if (l == NULL || l->type != BENCODE_LIST) {
        return -EINVAL;
    }
    if (index >= l->u.count) {
        return -ENOENT;
    }
    i = (size_t)list + 1;
    while (index-- > 0) {
        i = doc->toks[i].next;
    }
    return (int)i;
}

size_t bencode_count(const struct bencode *doc, int tok)
{
    const struct bencode_tok *t = bencode_tok_at(doc, tok);

    if (t == NULL || (t->type != BENCODE_LIST && t->type != BENCODE_DICT)) {
        return 0;
    }
    return t->u.count;
}

int bencode_int(const struct bencode *doc, int tok, int64_t *out)
{
    const struct bencode_tok *t = bencode_tok_at(doc, tok);

    if (tok < 0) {
        return tok;
    }
    if (t == NULL || t->type != BENCODE_INT) {
        return -EINVAL;
    }
    *out = t->u.value;
    return 0;
}

int bencode_str(const struct bencode *doc, int tok, const uint8_t **str, size_t *len)
{
    const struct bencode_tok *t = bencode_tok_at(doc, tok);

    if (tok < 0) {
        return tok;
    }
    if (t == NULL || t->type != BENCODE_STR) {
        return -EINVAL;
    }
    *str = doc->data + t->end - t->u.str_len;
    *len = t->u.str_len;
    return 0;
}

int bencode_span(const struct bencode *doc, int tok, const uint8_t **raw, size_t *len)
{
    const struct bencode_tok *t = bencode_tok_at(doc, tok);

    if (tok < 0) {
        return tok;
    }
    if (t == NULL) {
        return -EINVAL;
    }
    *raw = doc->data + t->start;
    *len = t->end - t->start;
    return 0;
}

void bencode_writer_init(struct bencode_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
}

void bencode_write_raw(struct bencode_writer *w, const void *raw, size_t len)
{
    if (w->err != 0) {
        return;
    }
    if (len > w->cap - w->len) {
        w->err = -ENOSPC;
        return;
    }
    if (len > 0) {
        memcpy(w->buf + w->len, raw, len);
    }
    w->len += len;
}

/* Writes the decimal digits of `magnitude`, with a '-' in front when negative is set. */
static void bencode_write_decimal(struct bencode_writer *w, bool negative, uint64_t magnitude)
{
    char digits[24];
    size_t n = sizeof(digits);

    do {
        digits[--n] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (negative) {
        digits[--n] = '-';
    }
    bencode_write_raw(w, digits + n, sizeof(digits) - n);
}

void bencode_write_int(struct bencode_writer *w, int64_t value)
{
    /* Negating through uint64_t keeps INT64_MIN defined. */
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;

    bencode_write_raw(w, "i", 1);
    bencode_write_decimal(w, value < 0, magnitude);
    bencode_write_raw(w, "e", 1);
}

void bencode_write_str(struct bencode_writer *w, const void *str, size_t len)
{
    bencode_write_decimal(w, false, len);
    bencode_write_raw(w, ":", 1);
    bencode_write_raw(w, str, len);
}

void bencode_write_key(struct bencode_writer *w, const char *key)
{
    bencode_write_str(w, key, strlen(key));
}

void bencode_write_list_begin(struct bencode_writer *w)
{
    bencode_write_raw(w, "l", 1);
}

void bencode_write_dict_begin(struct bencode_writer *w)
{
    bencode_write_raw(w, "d", 1);
}

void bencode_write_end(struct bencode_writer *w)
{
    bencode_write_raw(w, "e", 1);
}

int bencode_writer_finish(const struct bencode_writer *w, size_t *len)
{
    *len = w->len;
    return w->err;
}
