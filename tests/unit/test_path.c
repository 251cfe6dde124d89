/* Unit tests for src/common/path.c: Go filepath.Clean/Dir/Join tables and the
 * separator-aware containment rule (docs/differences.md D-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/path.h"

struct pair {
    const char *in, *want;
};

/* The table of Go's own path.Clean tests, plus the cases the brief names. */
static const struct pair clean_cases[] = {
    {"", "."},
    {".", "."},
    {"/", "/"},
    {"//", "/"},
    {"///", "/"},
    {"//a//b/", "/a/b"},
    {"abc", "abc"},
    {"abc/def", "abc/def"},
    {"a/b/c", "a/b/c"},
    {"..", ".."},
    {"../..", "../.."},
    {"../../abc", "../../abc"},
    {"/abc", "/abc"},
    {"/..", "/"},
    {"/../x", "/x"},
    {"abc/", "abc"},
    {"abc/def/", "abc/def"},
    {"a/b/c/", "a/b/c"},
    {"./", "."},
    {"../", ".."},
    {"../../", "../.."},
    {"/abc/", "/abc"},
    {"abc//def//ghi", "abc/def/ghi"},
    {"//abc", "/abc"},
    {"abc//", "abc"},
    {"abc/./def", "abc/def"},
    {"/./abc/def", "/abc/def"},
    {"abc/.", "abc"},
    {"a/./b/", "a/b"},
    {"abc/def/ghi/../jkl", "abc/def/jkl"},
    {"abc/def/../ghi/../jkl", "abc/jkl"},
    {"abc/def/..", "abc"},
    {"abc/def/../..", "."},
    {"/abc/def/../..", "/"},
    {"abc/def/../../..", ".."},
    {"/abc/def/../../..", "/"},
    {"abc/def/../../../ghi/jkl/../../../mno", "../../mno"},
    {"a/../..", ".."},
    {"a/../../b", "../b"},
    {"x/../y", "y"},
    {"./vp1", "vp1"},
    {"abc/./../def", "def"},
    {"abc//./../def", "def"},
    {"abc/../../././../def", "../../def"},
    {"a..b", "a..b"},
    {"...", "..."},
    {"/run/gcs/c/abc/", "/run/gcs/c/abc"},
};

static void test_clean_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(clean_cases); i++) {
        char *got = path_clean(clean_cases[i].in);
        if (strcmp(got, clean_cases[i].want) != 0)
            fail_msg("clean(%s) = %s, want %s", clean_cases[i].in, got, clean_cases[i].want);
        /* Clean is idempotent */
        char *again = path_clean(got);
        assert_string_equal(again, got);
        free(again);
        free(got);
    }
}

static const struct pair dir_cases[] = {
    {"", "."},
    {".", "."},
    {"/.", "/"},
    {"/", "/"},
    {"////", "/"},
    {"/foo", "/"},
    {"x/", "x"},
    {"abc", "."},
    {"abc/def", "abc"},
    {"a/b/.x", "a/b"},
    {"a/b/c.", "a/b"},
    {"a/b/c.x", "a/b"},
    {"/run/gcs/c/abc", "/run/gcs/c"},
    {"/run/gcs/c/abc/", "/run/gcs/c/abc"}, /* docs/pod-model.md §2.3: a trailing slash moves the parent */
};

static void test_dir_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(dir_cases); i++) {
        char *got = path_dir(dir_cases[i].in);
        if (strcmp(got, dir_cases[i].want) != 0)
            fail_msg("dir(%s) = %s, want %s", dir_cases[i].in, got, dir_cases[i].want);
        free(got);
    }
}

static void test_join(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b, *want;
    } cases[] = {
        {"", "", ""},
        {"a", "", "a"},
        {"", "b", "b"},
        {"a", "b", "a/b"},
        {"a/", "b", "a/b"},
        {"a/", "", "a"},
        {"/", "a", "/a"},
        {"/", "", "/"},
        {"/a", "/b", "/a/b"},
        {"/a/b", "../c", "/a/c"},
        {"/a/b", "../../../../c", "/c"},
        {"/r/sandboxMounts", "../sandboxMountsX", "/r/sandboxMountsX"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *got = path_join(cases[i].a, cases[i].b);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("join(%s, %s) = %s, want %s", cases[i].a, cases[i].b, got, cases[i].want);
        free(got);
    }
}

static void test_is_within(void **state)
{
    (void)state;
    assert_true(path_is_within("/a/b", "/a/b"));
    assert_true(path_is_within("/a/b", "/a/b/"));
    assert_true(path_is_within("/a/b/", "/a/b"));
    assert_true(path_is_within("/a/b", "/a/b/c"));
    assert_true(path_is_within("/a/b", "/a/b/c/../d"));
    assert_true(path_is_within("/a//b", "/a/b/c"));
    assert_true(path_is_within("/", "/anything"));
    assert_true(path_is_within("/", "/"));
    /* a sibling sharing the string prefix is NOT inside (docs/differences.md D-8) */
    assert_false(path_is_within("/a/b", "/a/bc"));
    assert_false(path_is_within("/r/sandboxMounts", "/r/sandboxMountsX"));
    assert_false(path_is_within("/a/b", "/a/b/../c"));
    assert_false(path_is_within("/a/b", "/a"));
    assert_false(path_is_within("/", "relative"));
    assert_true(path_is_within("rel", "rel/x"));
    assert_false(path_is_within("rel", "relx"));
}

static void test_join_within(void **state)
{
    (void)state;
    gcs_err err = GCS_ERR_INIT;
    char *p = NULL;

    assert_int_equal(path_join_within("/r/logs", "a/b.log", &p, &err), 0);
    assert_string_equal(p, "/r/logs/a/b.log");
    free(p);
    p = NULL;

    assert_int_equal(path_join_within("/r/logs", "a/../b", &p, &err), 0);
    assert_string_equal(p, "/r/logs/b");
    free(p);
    p = NULL;

    /* absolute rel is taken under base, like Go's Join */
    assert_int_equal(path_join_within("/r/logs", "/etc/passwd", &p, &err), 0);
    assert_string_equal(p, "/r/logs/etc/passwd");
    free(p);
    p = NULL;

    assert_true(path_join_within("/r/logs", "../x", &p, &err) < 0);
    assert_null(p);
    assert_non_null(strstr(err_msg(&err), "escapes"));
    err_clear(&err);

    assert_true(path_join_within("/r/logs", "../logsX/y", &p, &err) < 0);
    assert_null(p);
    err_clear(&err);

    assert_int_equal(path_join_within("/r/logs", "", &p, &err), 0);
    assert_string_equal(p, "/r/logs");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_table), cmocka_unit_test(test_dir_table), cmocka_unit_test(test_join),
        cmocka_unit_test(test_is_within),   cmocka_unit_test(test_join_within),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
