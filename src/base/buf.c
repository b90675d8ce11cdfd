#include "wsip/buf.h"

#include <stdlib.h>
#include <string.h>

struct wsip_buf *wsip_buf_new(size_t cap)
{
    struct wsip_buf *b = malloc(sizeof(*b) + cap);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = 0;
    b->cap = cap;
    return b;
}

struct wsip_buf *wsip_buf_from(const void *p, size_t len)
{
    struct wsip_buf *b = wsip_buf_new(len);
    if (!b)
        return NULL;
    if (len)
        memcpy(b->data, p, len);
    b->len = len;
    return b;
}

struct wsip_buf *wsip_buf_ref(struct wsip_buf *b)
{
    if (b)
        b->refs++;
    return b;
}

void wsip_buf_unref(struct wsip_buf *b)
{
    if (b && --b->refs == 0)
        free(b);
}
