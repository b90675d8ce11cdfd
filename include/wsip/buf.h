/* Refcounted byte buffer: a receive buffer that parsed messages point into. */
#ifndef WSIP_BUF_H
#define WSIP_BUF_H

#include <stddef.h>

struct wsip_buf {
    unsigned refs;
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated in data[] */
    char data[];
};

/* Returns a buffer with one reference and len 0, or NULL. */
struct wsip_buf *wsip_buf_new(size_t cap);
/* Copies len bytes into a new buffer (handy for tests and the CLI). */
struct wsip_buf *wsip_buf_from(const void *p, size_t len);
struct wsip_buf *wsip_buf_ref(struct wsip_buf *b);
void wsip_buf_unref(struct wsip_buf *b);

#endif
