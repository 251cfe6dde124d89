/* jsonx.h — typed decoding of host JSON into C structs, by field tables.
 *
 * Go's decoder is the reference peer: keys match exactly first, then
 * case-insensitively; unknown keys are ignored; missing keys and JSON null
 * leave the zero value; a number that does not fit the target type, or a
 * value of the wrong JSON type, fails the whole decode. Every failure here is
 * HR_VMCOMPUTE_INVALID_JSON with a message naming the key path.
 *
 * Strings and objects in the output are borrowed from the JSON document;
 * arrays and documents parsed from JSON-in-a-string fields are owned by a
 * jx_arena that the caller frees after use (usually with the request). */
#pragma once

#include "common/err.h"

#include <jansson.h>

typedef struct jx_arena {
    json_t **docs;
    size_t ndocs;
    void **blocks;
    size_t nblocks;
} jx_arena;

void jx_arena_free(jx_arena *a);

enum jx_type {
    JX_END = 0,
    JX_STR,      /* const char *            */
    JX_BOOL,     /* bool                    */
    JX_U8,       /* uint8_t                 */
    JX_U16,      /* uint16_t                */
    JX_U32,      /* uint32_t                */
    JX_U64,      /* uint64_t                */
    JX_I32,      /* int32_t                 */
    JX_I64,      /* int64_t                 */
    JX_OBJ,      /* json_t * (object)       */
    JX_ANY,      /* json_t * (any value)    */
    JX_STRARR,   /* jx_strv { const char **v; size_t n; } */
    JX_STRMAP,   /* json_t * (object whose values are all strings) */
    JX_STRUCT,   /* nested object, decoded by .sub into the struct at .off */
    JX_ARRAY,    /* jx_vec { void *v; size_t n; }, items decoded by .sub, each .size bytes */
    JX_JSONSTR,  /* a string that holds a JSON object; decoded by .sub into the struct at .off
                    (empty string = absent); if .sub is NULL, json_t * of the parsed object */
};

typedef struct jx_field {
    const char *key;
    enum jx_type type;
    size_t off;
    const struct jx_field *sub; /* JX_STRUCT, JX_ARRAY, JX_JSONSTR */
    size_t size;                /* JX_ARRAY: item size */
    bool *present;              /* unused by tables; see jx_has() */
} jx_field;

typedef struct jx_strv {
    const char **v;
    size_t n;
} jx_strv;

typedef struct jx_vec {
    void *v;
    size_t n;
} jx_vec;

#define JXF(k, t, st, m) {.key = (k), .type = (t), .off = offsetof(st, m)}
#define JXS(k, t, st, m, subtab) {.key = (k), .type = (t), .off = offsetof(st, m), .sub = (subtab)}
#define JXA(k, st, m, subtab, itemtype)                                                            \
    {.key = (k), .type = JX_ARRAY, .off = offsetof(st, m), .sub = (subtab), .size = sizeof(itemtype)}
#define JX_TABLE_END {.key = NULL, .type = JX_END}

/* Look a key up: exact match first, then ASCII case-insensitive. NULL if
 * missing or JSON null. */
json_t *jx_get(const json_t *obj, const char *key);

/* Decode obj (must be a JSON object) into out by table. path names obj in
 * error messages ("" for the top level). */
int jx_decode(const json_t *obj, const jx_field *table, void *out, jx_arena *arena,
              const char *path, gcs_err *err);

/* Parse a buffer holding one JSON object (trailing whitespace allowed). */
int jx_parse_object(const char *buf, size_t len, json_t **ret, gcs_err *err);

/* Compact encoding, no trailing newline. Caller frees. */
char *jx_dump(const json_t *v, size_t *ret_len);
