/* libFuzzer: the log encoder (common/log.h). Input: msg \0 key \0 value.
 * Asserts: the JSON line is exactly one object and one '\n', jansson parses
 * it, a valid UTF-8 string within LOG_VALUE_MAX comes back unchanged, a
 * longer one comes back as a prefix plus the cut marker; the text line has
 * no raw control character. */
#include "common/log.h"

#include "fuzz_input.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const char *in, json_t *v)
{
    FUZZ_CHECK(json_is_string(v), "value of \"%.40s\" not a string", in);
    const char *out = json_string_value(v);
    size_t n = strlen(in);
    if (n > LOG_VALUE_MAX) {
        const char *cut = strstr(out, LOG_CUT_MARKER);
        FUZZ_CHECK(cut != NULL && (size_t)(cut - out) <= 3 * LOG_VALUE_MAX, "value of %zu bytes not cut", n);
        return;
    }
    json_t *valid = json_stringn(in, n); /* NULL: the input is not UTF-8 */
    if (valid)
        FUZZ_CHECK(strcmp(in, out) == 0, "valid UTF-8 changed: \"%.40s\" -> \"%.40s\"", in, out);
    json_decref(valid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_fields ff;
    fuzz_split(data, size, 3, &ff);
    const char *msg = ff.f[0], *key = ff.f[1], *val = ff.f[2]; /* val ends at its first NUL */
    const log_field f[] = {KV_S(key, val), KV_I("n", (long long)size), KV_END};
    size_t n;
    char *s = log_format_line(LOG_INFO, msg, f, true, &n);
    FUZZ_CHECK(n > 0 && s[n - 1] == '\n', "line does not end in a newline");
    FUZZ_CHECK(memchr(s, '\n', n - 1) == NULL, "raw newline inside a line");
    json_error_t e;
    json_t *o = json_loadb(s, n, 0, &e);
    FUZZ_CHECK(o && json_is_object(o), "not a JSON object: %s: %.200s", e.text, s);
    if (strcmp(key, "msg"))
        check_value(msg, json_object_get(o, "msg"));
    /* a key equal to msg/level/time/n overrides it in the object; skip those */
    if (strcmp(key, "msg") && strcmp(key, "level") && strcmp(key, "time") && strcmp(key, "n")) {
        json_t *v = NULL;
        const char *k;
        json_t *x;
        json_object_foreach(o, k, x)
            if (strcmp(k, "msg") && strcmp(k, "level") && strcmp(k, "time") && strcmp(k, "n"))
                v = x;
        FUZZ_CHECK(v != NULL, "field missing");
        check_value(val, v);
    }
    json_decref(o);
    free(s);
    s = log_format_line(LOG_INFO, msg, f, false, &n);
    for (size_t i = 0; i + 1 < n; i++)
        FUZZ_CHECK((unsigned char)s[i] >= 0x20, "raw control byte 0x%02x in a text line", (unsigned char)s[i]);
    free(s);
    fuzz_fields_done(&ff);
    return 0;
}
