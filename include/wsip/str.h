/* String views: a pointer and a length into bytes someone else owns. */
#ifndef WSIP_STR_H
#define WSIP_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wsip_str {
    const char *p;
    size_t len;
};

#define WSIP_STR_NULL   ((struct wsip_str){NULL, 0})
#define WSIP_STR_LIT(s) ((struct wsip_str){(s), sizeof(s) - 1})
#define WSIP_STR_FMT    "%.*s"
#define WSIP_STR_ARG(s) (int)(s).len, (s).p

static inline struct wsip_str wsip_str_make(const char *p, size_t len)
{
    return (struct wsip_str){p, len};
}

static inline struct wsip_str wsip_str_cstr(const char *s)
{
    return (struct wsip_str){s, s ? strlen(s) : 0};
}

static inline bool wsip_str_empty(struct wsip_str s)
{
    return s.len == 0;
}

bool wsip_str_eq(struct wsip_str a, struct wsip_str b);
bool wsip_str_caseeq(struct wsip_str a, struct wsip_str b);
bool wsip_str_caseeq_cstr(struct wsip_str a, const char *b);
bool wsip_str_eq_cstr(struct wsip_str a, const char *b);
bool wsip_str_has_prefix_case(struct wsip_str s, const char *prefix);

/* Decimal digits only, no sign, no space; 0 on success, -1 on overflow past
 * max or on any non-digit (including an empty string). */
int wsip_str_to_u64(struct wsip_str s, uint64_t max, uint64_t *out);
int wsip_str_to_u32(struct wsip_str s, uint32_t max, uint32_t *out);

/* Trim SP, HTAB and (folded) CR/LF on both ends. */
struct wsip_str wsip_str_trim(struct wsip_str s);

/* RFC 3986 %HH decoding into out (cap bytes). Returns the decoded length, or
 * -1 when an escape is malformed or the output does not fit. */
long wsip_str_unescape(struct wsip_str in, char *out, size_t cap);

/* Copies the view into a NUL-terminated buffer (truncating to cap-1). */
size_t wsip_str_copy(struct wsip_str s, char *out, size_t cap);

/* The value of a hex digit (either case), or -1. */
int wsip_hex_value(char c);
/* n bytes as 2n lower-case hex digits and a NUL (out holds 2n + 1). */
void wsip_hex_encode(const void *bin, size_t n, char *out);

#endif
