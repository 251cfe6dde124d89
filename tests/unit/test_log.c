/* Unit tests for the log encoder (src/common/log.c): every line it makes
 * is one valid JSON object (parsed back with jansson) or one well-quoted
 * text line, whatever the values hold; long values are cut inside their
 * quotes with the documented marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"

#include <jansson.h>
#include <regex.h>

/* The line as a JSON object; fails the test if it is not exactly one
 * object followed by one '\n'. */
static json_t *parse_line(const char *s, size_t n)
{
    assert_true(n > 0);
    assert_int_equal(s[n - 1], '\n');
    assert_null(memchr(s, '\n', n - 1));
    json_error_t e;
    json_t *o = json_loadb(s, n, 0, &e);
    if (!o)
        fail_msg("not JSON: %s: %.200s", e.text, s);
    assert_true(json_is_object(o));
    return o;
}

static json_t *emit_json(enum log_level lvl, const char *msg, const log_field *f)
{
    size_t n;
    char *s = log_format_line(lvl, msg, f, true, &n);
    json_t *o = parse_line(s, n);
    free(s);
    return o;
}

static const char *str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_shape(void **state)
{
    (void)state;
    const log_field f[] = {KV_S("container", "c1"), KV_I("pid", -12), KV_U("count", 3), KV_B("ok", true),
                           KV_D("ms", 1.5), KV_END};
    json_t *o = emit_json(LOG_WARN, "hello", f);
    assert_string_equal(str_of(o, "level"), "warning");
    assert_string_equal(str_of(o, "msg"), "hello");
    assert_string_equal(str_of(o, "container"), "c1");
    assert_int_equal(json_integer_value(json_object_get(o, "pid")), -12);
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 3);
    assert_true(json_is_true(json_object_get(o, "ok")));
    assert_true(json_real_value(json_object_get(o, "ms")) == 1.5);
    /* time: RFC 3339 with up to 9 fraction digits, no trailing zero (Go's RFC3339Nano) */
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,8}[1-9])?Z$",
                             REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regexec(&re, str_of(o, "time"), 0, NULL, 0), 0);
    regfree(&re);
    json_decref(o);
}

/* 1 MiB values: each is cut at LOG_VALUE_MAX bytes inside its quotes, with
 * the marker and the full length; the line is still one object. */
static void test_one_mib_values(void **state)
{
    (void)state;
    size_t big = 1u << 20;
    char *a = xmalloc(big + 1);
    memset(a, 'a', big);
    a[big] = '\0';
    /* multi-byte sequences straddling the cut: é is 2 bytes, so the cut
     * falls in the middle of one unless the encoder backs off */
    char *u = xmalloc(big + 1);
    u[0] = 'x'; /* the pairs start at an odd offset, so the cut lands mid-sequence */
    for (size_t i = 1; i + 1 < big; i += 2) {
        u[i] = (char)0xc3;
        u[i + 1] = (char)0xa9;
    }
    u[big - 1] = 'y';
    u[big] = '\0';
    const log_field f[] = {KV_S("a", a), KV_S("u", u), KV_S("short", "s"), KV_END};
    json_t *o = emit_json(LOG_INFO, a, f);
    char marker[64];
    snprintf(marker, sizeof(marker), LOG_CUT_MARKER "%zu bytes]", big);
    const char *keys[] = {"msg", "a"};
    for (size_t k = 0; k < 2; k++) {
        const char *v = str_of(o, keys[k]);
        assert_int_equal(strlen(v), LOG_VALUE_MAX + strlen(marker));
        assert_memory_equal(v, a, LOG_VALUE_MAX);
        assert_string_equal(v + LOG_VALUE_MAX, marker);
    }
    const char *v = str_of(o, "u");
    const char *m = strstr(v, LOG_CUT_MARKER);
    assert_non_null(m);
    assert_string_equal(m, marker);
    size_t kept = (size_t)(m - v);
    assert_int_equal(kept, LOG_VALUE_MAX - 1); /* backed off to the last whole sequence */
    assert_memory_equal(v, u, kept); /* a prefix of whole sequences, nothing replaced */
    assert_string_equal(str_of(o, "short"), "s");
    json_decref(o);
    /* a value of exactly LOG_VALUE_MAX bytes is whole */
    a[LOG_VALUE_MAX] = '\0';
    const log_field f2[] = {KV_S("a", a), KV_END};
    o = emit_json(LOG_INFO, "m", f2);
    assert_string_equal(str_of(o, "a"), a);
    json_decref(o);
    /* the text format cuts the same way and keeps the quotes closed */
    size_t n;
    a[LOG_VALUE_MAX] = 'a';
    char *t = log_format_line(LOG_INFO, "m", f, false, &n);
    assert_int_equal(t[n - 1], '\n');
    assert_non_null(strstr(t, marker));
    assert_null(memchr(t, '\n', n - 1));
    free(t);
    free(a);
    free(u);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"ok \xc3\xa9", "ok \xc3\xa9"},                            /* valid 2-byte */
        {"\xe2\x82\xac \xf0\x9f\x98\x80", "\xe2\x82\xac \xf0\x9f\x98\x80"}, /* valid 3- and 4-byte */
        {"a\xff" "b", "a\xef\xbf\xbd" "b"},                          /* stray byte */
        {"\xc3", "\xef\xbf\xbd"},                                  /* truncated at the end */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                  /* overlong '/' */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},   /* a surrogate */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* above U+10FFFF */
        {"\xe2\x82" "x", "\xef\xbf\xbd\xef\xbf\xbd" "x"},            /* cut sequence in the middle */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const log_field f[] = {KV_S("v", cases[i].in), KV_S(cases[i].in, "key"), KV_END};
        json_t *o = emit_json(LOG_ERROR, cases[i].in, f);
        assert_string_equal(str_of(o, "v"), cases[i].want);
        assert_string_equal(str_of(o, "msg"), cases[i].want);
        assert_string_equal(str_of(o, cases[i].want), "key");
        json_decref(o);
    }
}

static void test_control_characters(void **state)
{
    (void)state;
    char all[48];
    for (int i = 1; i < 32; i++)
        all[i - 1] = (char)i;
    strcpy(all + 31, "\"\\\x7f\xe2\x80\xa8\xe2\x80\xa9");
    const log_field f[] = {KV_S("v", all), KV_END};
    size_t n;
    char *s = log_format_line(LOG_INFO, all, f, true, &n);
    /* nothing below 0x20 appears raw, U+2028/2029 are escaped */
    for (size_t i = 0; i + 1 < n; i++)
        assert_true((unsigned char)s[i] >= 0x20);
    assert_null(strstr(s, "\xe2\x80\xa8"));
    assert_non_null(strstr(s, "\\u2028\\u2029"));
    assert_non_null(strstr(s, "\\n") && strstr(s, "\\u0001"));
    json_t *o = parse_line(s, n);
    assert_string_equal(str_of(o, "v"), all);
    assert_string_equal(str_of(o, "msg"), all);
    json_decref(o);
    free(s);
    s = log_format_line(LOG_INFO, all, f, false, &n);
    for (size_t i = 0; i + 1 < n; i++)
        assert_true((unsigned char)s[i] >= 0x20);
    free(s);
}

static void test_special_doubles(void **state)
{
    (void)state;
    const log_field f[] = {KV_D("nan", 0.0 / 0.0), KV_D("inf", 1.0 / 0.0), KV_D("ninf", -1.0 / 0.0), KV_END};
    json_t *o = emit_json(LOG_INFO, "d", f);
    assert_string_equal(str_of(o, "nan"), "NaN");
    assert_string_equal(str_of(o, "inf"), "+Inf");
    assert_string_equal(str_of(o, "ninf"), "-Inf");
    json_decref(o);
}

/* log_emit writes the same bytes in one write, and every level name is one
 * logrus accepts. */
static void test_emit_to_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    log_setup(p[1], LOG_TRACE, true);
    static const char *const names[] = {"panic", "fatal", "error", "warning", "info", "debug", "trace"};
    for (int lv = LOG_PANIC; lv <= LOG_TRACE; lv++) {
        log_emit((enum log_level)lv, "x\xff", (const log_field[]){KV_S("k", "\n"), KV_END});
        char buf[512];
        ssize_t n = read(p[0], buf, sizeof(buf));
        assert_true(n > 0);
        json_t *o = parse_line(buf, (size_t)n);
        assert_string_equal(str_of(o, "level"), names[lv]);
        assert_string_equal(str_of(o, "msg"), "x\xef\xbf\xbd");
        json_decref(o);
    }
    log_setup(2, LOG_INFO, false);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape),           cmocka_unit_test(test_one_mib_values),
        cmocka_unit_test(test_invalid_utf8),    cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_special_doubles), cmocka_unit_test(test_emit_to_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
