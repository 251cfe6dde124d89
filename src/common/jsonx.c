#include "common/jsonx.h"

#include <errno.h>
#include <math.h>
#include <strings.h>

static void arena_push_doc(jx_arena *a, json_t *doc)
{
    a->docs = xrealloc(a->docs, (a->ndocs + 1) * sizeof(*a->docs));
    a->docs[a->ndocs++] = doc;
}

static void *arena_alloc(jx_arena *a, size_t n)
{
    void *p = xzalloc(n);
    a->blocks = xrealloc(a->blocks, (a->nblocks + 1) * sizeof(*a->blocks));
    a->blocks[a->nblocks++] = p;
    return p;
}

void jx_arena_free(jx_arena *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->ndocs; i++)
        json_decref(a->docs[i]);
    for (size_t i = 0; i < a->nblocks; i++)
        free(a->blocks[i]);
    free(a->docs);
    free(a->blocks);
    memset(a, 0, sizeof(*a));
}

json_t *jx_get(const json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (!v) {
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)obj, k, val)
        {
            if (strcasecmp(k, key) == 0) {
                v = val;
                break;
            }
        }
    }
    return json_is_null(v) ? NULL : v;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "null";
    }
}

static int bad_type(gcs_err *err, const char *path, const char *key, const char *want, const json_t *v)
{
    return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "json: cannot decode %s %s%s%s into %s", type_name(v),
                   path, *path ? "." : "", key, want);
}

/* Integers: JSON reals are accepted only when integral (Go rejects fractions
 * for integer targets); range checked against [lo, hi]. */
static int get_int(const json_t *v, long long lo, unsigned long long hi, const char *path, const char *key,
                   const char *want, unsigned long long *uret, long long *sret, gcs_err *err)
{
    long long s;
    if (json_is_integer(v)) {
        s = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
            return bad_type(err, path, key, want, v);
        s = (long long)d;
    } else {
        return bad_type(err, path, key, want, v);
    }
    if (s < lo || (s >= 0 && (unsigned long long)s > hi))
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "json: value %lld of %s%s%s out of range for %s", s,
                       path, *path ? "." : "", key, want);
    if (uret)
        *uret = (unsigned long long)s;
    if (sret)
        *sret = s;
    return 0;
}

static int decode_value(const json_t *v, const jx_field *f, void *dst, jx_arena *arena, const char *path,
                        gcs_err *err);

static int decode_struct_at(const json_t *v, const jx_field *f, void *dst, jx_arena *arena, const char *path,
                            gcs_err *err)
{
    if (!json_is_object(v))
        return bad_type(err, path, f->key, "object", v);
    cleanup_free char *sub = *path ? xasprintf("%s.%s", path, f->key) : xstrdup(f->key);
    return jx_decode(v, f->sub, dst, arena, sub, err);
}

static int decode_value(const json_t *v, const jx_field *f, void *dst, jx_arena *arena, const char *path,
                        gcs_err *err)
{
    unsigned long long u;
    long long s;
    int r;
    switch (f->type) {
    case JX_STR:
        if (!json_is_string(v))
            return bad_type(err, path, f->key, "string", v);
        *(const char **)dst = json_string_value(v);
        return 0;
    case JX_BOOL:
        if (!json_is_boolean(v))
            return bad_type(err, path, f->key, "bool", v);
        *(bool *)dst = json_is_true(v);
        return 0;
    case JX_U8:
        if ((r = get_int(v, 0, UINT8_MAX, path, f->key, "uint8", &u, NULL, err)) < 0)
            return r;
        *(uint8_t *)dst = (uint8_t)u;
        return 0;
    case JX_U16:
        if ((r = get_int(v, 0, UINT16_MAX, path, f->key, "uint16", &u, NULL, err)) < 0)
            return r;
        *(uint16_t *)dst = (uint16_t)u;
        return 0;
    case JX_U32:
        if ((r = get_int(v, 0, UINT32_MAX, path, f->key, "uint32", &u, NULL, err)) < 0)
            return r;
        *(uint32_t *)dst = (uint32_t)u;
        return 0;
    case JX_U64:
        if ((r = get_int(v, 0, UINT64_MAX, path, f->key, "uint64", &u, NULL, err)) < 0)
            return r;
        *(uint64_t *)dst = (uint64_t)u;
        return 0;
    case JX_I32:
        if ((r = get_int(v, INT32_MIN, INT32_MAX, path, f->key, "int32", NULL, &s, err)) < 0)
            return r;
        *(int32_t *)dst = (int32_t)s;
        return 0;
    case JX_I64:
        if ((r = get_int(v, INT64_MIN, INT64_MAX, path, f->key, "int64", NULL, &s, err)) < 0)
            return r;
        *(int64_t *)dst = (int64_t)s;
        return 0;
    case JX_OBJ:
        if (!json_is_object(v))
            return bad_type(err, path, f->key, "object", v);
        *(json_t **)dst = (json_t *)v;
        return 0;
    case JX_ANY:
        *(json_t **)dst = (json_t *)v;
        return 0;
    case JX_STRMAP: {
        if (!json_is_object(v))
            return bad_type(err, path, f->key, "object", v);
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            if (!json_is_string(e) && !json_is_null(e))
                return bad_type(err, path, f->key, "map of string", e);
        }
        *(json_t **)dst = (json_t *)v;
        return 0;
    }
    case JX_STRARR: {
        if (!json_is_array(v))
            return bad_type(err, path, f->key, "array of string", v);
        jx_strv *sv = dst;
        size_t n = json_array_size(v);
        sv->v = arena_alloc(arena, (n + 1) * sizeof(char *));
        sv->n = n;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (json_is_null(e)) {
                sv->v[i] = "";
                continue;
            }
            if (!json_is_string(e))
                return bad_type(err, path, f->key, "array of string", e);
            sv->v[i] = json_string_value(e);
        }
        return 0;
    }
    case JX_STRUCT:
        return decode_struct_at(v, f, dst, arena, path, err);
    case JX_ARRAY: {
        if (!json_is_array(v))
            return bad_type(err, path, f->key, "array", v);
        jx_vec *vec = dst;
        size_t n = json_array_size(v);
        vec->v = arena_alloc(arena, n * f->size);
        vec->n = n;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (json_is_null(e))
                continue;
            if ((r = decode_struct_at(e, f, (char *)vec->v + i * f->size, arena, path, err)) < 0)
                return r;
        }
        return 0;
    }
    case JX_JSONSTR: {
        if (!json_is_string(v))
            return bad_type(err, path, f->key, "string", v);
        size_t len = json_string_length(v);
        if (len == 0)
            return 0;
        json_t *doc;
        if ((r = jx_parse_object(json_string_value(v), len, &doc, err)) < 0)
            return err_wrap(err, r, "%s%s%s", path, *path ? "." : "", f->key);
        arena_push_doc(arena, doc);
        if (!f->sub) {
            *(json_t **)dst = doc;
            return 0;
        }
        return decode_struct_at(doc, f, dst, arena, path, err);
    }
    case JX_END: break;
    }
    return err_set(err, HR_E_FAIL, "json: bad field table for %s", f->key);
}

int jx_decode(const json_t *obj, const jx_field *table, void *out, jx_arena *arena, const char *path,
              gcs_err *err)
{
    if (!json_is_object(obj))
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "json: %s is not an object", *path ? path : "document");
    for (const jx_field *f = table; f->type != JX_END; f++) {
        json_t *v = jx_get(obj, f->key);
        if (!v)
            continue;
        int r = decode_value(v, f, (char *)out + f->off, arena, path, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int jx_parse_object(const char *buf, size_t len, json_t **ret, gcs_err *err)
{
    json_error_t je;
    json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "invalid JSON at line %d column %d: %s", je.line,
                       je.column, je.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "invalid JSON: expected an object");
    }
    *ret = doc;
    return 0;
}

char *jx_dump(const json_t *v, size_t *ret_len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        s = xstrdup("null");
    if (ret_len)
        *ret_len = strlen(s);
    return s;
}
