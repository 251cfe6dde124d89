/* strmap.h — a small hash map from C strings to pointers.
 *
 * Keys are copied; values are owned by the map when a free_value function was
 * given (called on replace, delete and strmap_free). O(1) average get, set and
 * delete (separate chaining, FNV-1a, grows at load factor 1, never shrinks).
 * Iteration order is unspecified. During iteration the entry just returned
 * may be deleted (strmap_del / strmap_take); any other change invalidates
 * the iterator. Single-threaded, like the rest of the agent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct strmap strmap;
typedef void (*strmap_free_fn)(void *value);

typedef struct strmap_iter {
    size_t bucket;
    void *next; /* internal: the entry to return next */
} strmap_iter;

#define STRMAP_ITER_INIT {0, NULL}

strmap *strmap_new(strmap_free_fn free_value);
/* Frees every key and value. Accepts NULL; returns NULL. */
strmap *strmap_free(strmap *m);

/* The value stored under key, or NULL when missing. */
void *strmap_get(const strmap *m, const char *key);
bool strmap_contains(const strmap *m, const char *key);
/* Store value under key, replacing (and freeing) a previous value.
 * Returns true when key was new. */
bool strmap_set(strmap *m, const char *key, void *value);
/* Remove key and free its value. Returns true when key was present. */
bool strmap_del(strmap *m, const char *key);
/* Remove key and return its value without freeing it (NULL when missing). */
void *strmap_take(strmap *m, const char *key);
size_t strmap_count(const strmap *m);

/* Next entry; false at the end. ret_key / ret_value may be NULL. The key
 * pointer stays valid until the entry is deleted. */
bool strmap_next(const strmap *m, strmap_iter *it, const char **ret_key, void **ret_value);
