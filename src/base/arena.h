/* Bump allocator for parse results: everything is freed at once with the
 * message that owns it. */
#ifndef WSIP_BASE_ARENA_H
#define WSIP_BASE_ARENA_H

#include <stddef.h>

struct wsip_arena;

/* first_size: bytes of the first chunk (the struct lives inside it). */
struct wsip_arena *wsip_arena_new(size_t first_size);
void wsip_arena_free(struct wsip_arena *a);
/* 16-byte aligned, zeroed memory; NULL when out of memory. */
void *wsip_arena_alloc(struct wsip_arena *a, size_t size);
/* Grows the most recent allocation in place when possible, else copies.
 * Used for the header array, which is appended to while parsing. */
void *wsip_arena_grow(struct wsip_arena *a, void *p, size_t old_size, size_t new_size);
/* As wsip_arena_grow, but the new bytes are not zeroed (for arrays whose
 * entries are always fully assigned). */
void *wsip_arena_grow_raw(struct wsip_arena *a, void *p, size_t old_size, size_t new_size);

#endif
