/* CommandLine splitting (docs/protocol.md §4.4 case A): go-shellwords rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/shellwords.h"

static void check(const char *line, const char *const *want)
{
    char **v;
    size_t n;
    gcs_err e = GCS_ERR_INIT;
    if (shellwords_split(line, &v, &n, &e) < 0)
        fail_msg("%s: %s", line, err_msg(&e));
    size_t i = 0;
    for (; want[i]; i++) {
        if (i >= n)
            fail_msg("%s: only %zu words", line, n);
        assert_string_equal(v[i], want[i]);
    }
    assert_int_equal(n, i);
    assert_null(v[n]);
    shellwords_free(v);
}

static void test_split(void **state)
{
    (void)state;
    check("", (const char *[]){NULL});
    check("   \t ", (const char *[]){NULL});
    check("ls -l /", (const char *[]){"ls", "-l", "/", NULL});
    check("  a   b  ", (const char *[]){"a", "b", NULL});
    check("echo 'a b' \"c d\"", (const char *[]){"echo", "a b", "c d", NULL});
    check("echo a\\ b", (const char *[]){"echo", "a b", NULL});
    check("x'y'\"z\"w", (const char *[]){"xyzw", NULL});
    check("echo \"a\\\"b\" 'c\\d'", (const char *[]){"echo", "a\"b", "c\\d", NULL});
    check("echo \"\\n\"", (const char *[]){"echo", "\\n", NULL});
    check("echo '' \"\"", (const char *[]){"echo", "", "", NULL});
    check("sh -c 'echo $HOME'", (const char *[]){"sh", "-c", "echo $HOME", NULL}); /* no expansion */
}

static void test_errors(void **state)
{
    (void)state;
    const char *bad[] = {"echo 'abc", "echo \"abc", "echo abc\\"};
    for (size_t i = 0; i < 3; i++) {
        char **v = NULL;
        size_t n;
        gcs_err e = GCS_ERR_INIT;
        assert_true(shellwords_split(bad[i], &v, &n, &e) < 0);
        assert_int_equal(e.hr, HR_E_INVALIDARG);
        err_clear(&e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_split), cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests_name("shellwords", tests, NULL, NULL);
}
