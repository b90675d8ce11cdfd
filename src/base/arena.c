#include "base/arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct wsip_arena {
    struct chunk *head; /* current chunk; older ones follow */
    void *last;         /* most recent allocation, for in-place growth */
};

static size_t align_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static struct chunk *chunk_new(size_t size)
{
    struct chunk *c = malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct wsip_arena *wsip_arena_new(size_t first_size)
{
    size_t size = align_up(first_size < 256 ? 256 : first_size);
    struct chunk *c = chunk_new(size);
    if (!c)
        return NULL;
    /* the arena header is the first allocation of its own first chunk */
    struct wsip_arena *a = (struct wsip_arena *)(void *)c->data; /* data[] is 16-aligned */
    c->used = align_up(sizeof(*a));
    a->head = c;
    a->last = NULL;
    return a;
}

void wsip_arena_free(struct wsip_arena *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
}

static void *alloc(struct wsip_arena *a, size_t size, bool zero)
{
    size = align_up(size ? size : 1);
    struct chunk *c = a->head;
    if (c->size - c->used < size) {
        size_t want = c->size * 2;
        if (want < size)
            want = align_up(size);
        struct chunk *n = chunk_new(want);
        if (!n)
            return NULL;
        n->next = c;
        a->head = n;
        c = n;
    }
    void *p = c->data + c->used;
    c->used += size;
    if (zero)
        memset(p, 0, size);
    a->last = p;
    return p;
}

void *wsip_arena_alloc(struct wsip_arena *a, size_t size)
{
    return alloc(a, size, true);
}

static void *grow(struct wsip_arena *a, void *p, size_t old_size, size_t new_size, bool zero)
{
    if (!p)
        return alloc(a, new_size, zero);
    struct chunk *c = a->head;
    size_t old_al = align_up(old_size), new_al = align_up(new_size);
    if (p == a->last && (unsigned char *)p + old_al == c->data + c->used &&
        c->size - c->used >= new_al - old_al) {
        if (zero)
            memset((unsigned char *)p + old_size, 0, new_al - old_size);
        c->used += new_al - old_al;
        return p;
    }
    void *n = alloc(a, new_size, zero);
    if (n)
        memcpy(n, p, old_size);
    return n;
}

void *wsip_arena_grow(struct wsip_arena *a, void *p, size_t old_size, size_t new_size)
{
    return grow(a, p, old_size, new_size, true);
}

void *wsip_arena_grow_raw(struct wsip_arena *a, void *p, size_t old_size, size_t new_size)
{
    return grow(a, p, old_size, new_size, false);
}
