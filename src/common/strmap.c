/* strmap.c — see strmap.h. */
#include "common/strmap.h"

#include "common/util.h"

typedef struct entry {
    struct entry *next;
    void *value;
    size_t hash;
    char key[];
} entry;

struct strmap {
    entry **buckets;
    size_t nbuckets; /* always a power of two */
    size_t count;
    strmap_free_fn free_value;
};

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

strmap *strmap_new(strmap_free_fn free_value)
{
    strmap *m = xzalloc(sizeof(*m));
    m->nbuckets = 16;
    m->buckets = xzalloc(m->nbuckets * sizeof(*m->buckets));
    m->free_value = free_value;
    return m;
}

strmap *strmap_free(strmap *m)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *n = e->next;
            if (m->free_value)
                m->free_value(e->value);
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    free(m);
    return NULL;
}

static entry **find_slot(const strmap *m, const char *key, size_t h)
{
    entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
            return pp;
    return pp;
}

void *strmap_get(const strmap *m, const char *key)
{
    entry *e = *find_slot(m, key, hash_str(key));
    return e ? e->value : NULL;
}

bool strmap_contains(const strmap *m, const char *key)
{
    return *find_slot(m, key, hash_str(key)) != NULL;
}

static void grow(strmap *m)
{
    size_t nb = m->nbuckets * 2;
    entry **b = xzalloc(nb * sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *n = e->next;
            entry **slot = &b[e->hash & (nb - 1)];
            e->next = *slot;
            *slot = e;
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

bool strmap_set(strmap *m, const char *key, void *value)
{
    size_t h = hash_str(key);
    entry **slot = find_slot(m, key, h);
    if (*slot) {
        void *old = (*slot)->value;
        (*slot)->value = value;
        if (m->free_value && old != value)
            m->free_value(old);
        return false;
    }
    size_t klen = strlen(key);
    entry *e = xmalloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = NULL;
    *slot = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return true;
}

void *strmap_take(strmap *m, const char *key)
{
    entry **slot = find_slot(m, key, hash_str(key));
    entry *e = *slot;
    if (!e)
        return NULL;
    *slot = e->next;
    void *v = e->value;
    free(e);
    m->count--;
    return v;
}

bool strmap_del(strmap *m, const char *key)
{
    entry **slot = find_slot(m, key, hash_str(key));
    entry *e = *slot;
    if (!e)
        return false;
    *slot = e->next;
    if (m->free_value)
        m->free_value(e->value);
    free(e);
    m->count--;
    return true;
}

size_t strmap_count(const strmap *m) { return m->count; }

bool strmap_next(const strmap *m, strmap_iter *it, const char **ret_key, void **ret_value)
{
    entry *e = it->next;
    while (!e && it->bucket < m->nbuckets)
        e = m->buckets[it->bucket++];
    if (!e)
        return false;
    /* remember the successor now, so the caller may delete e */
    it->next = e->next;
    if (ret_key)
        *ret_key = e->key;
    if (ret_value)
        *ret_value = e->value;
    return true;
}
