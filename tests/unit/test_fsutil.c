/* Unit tests for src/common/fsutil: the one mkdir -p and the one pid-file
 * reader, on a real temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp_dir(void)
{
    char *d = xstrdup("/tmp/gcs-fsutil.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void test_mkdir_p_reports_what_it_made(void **state)
{
    (void)state;
    cleanup_free char *d = tmp_dir();
    cleanup_free char *deep = xasprintf("%s/a/b/c", d);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    mkdir_made made = {0};
    bool created = false;
    assert_int_equal(mkdir_p(deep, 0700, &created, &made, &err), 0);
    assert_true(created);
    assert_int_equal(made.n, 3);
    cleanup_free char *a = xasprintf("%s/a", d);
    assert_string_equal(made.v[0], a);
    assert_string_equal(made.v[2], deep);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    mkdir_made_free(&made);
    /* again: nothing new */
    assert_int_equal(mkdir_p(deep, 0700, &created, &made, &err), 0);
    assert_false(created);
    assert_int_equal(made.n, 0);
    /* a file in the way */
    cleanup_free char *f = xasprintf("%s/file", d);
    assert_int_equal(write_file(f, "x", 1, 0600), 0);
    assert_int_equal(mkdir_p(f, 0755, &created, NULL, &err), -ENOTDIR);
    err_clear(&err);
    cleanup_free char *under = xasprintf("%s/sub", f);
    assert_true(mkdir_p(under, 0755, NULL, NULL, &err) < 0);
    err_clear(&err);
    assert_true(mkdir_p("", 0755, NULL, NULL, &err) < 0);
    err_clear(&err);
    unlink(f);
    rmdir(deep);
    cleanup_free char *b = xasprintf("%s/a/b", d);
    rmdir(b);
    rmdir(a);
    assert_int_equal(rmdir(d), 0);
}

static void test_read_pid_file(void **state)
{
    (void)state;
    cleanup_free char *d = tmp_dir();
    cleanup_free char *f = xasprintf("%s/init.pid", d);
    static const struct {
        const char *text;
        pid_t want; /* 0: refused */
    } cases[] = {
        {"1234", 1234}, {"1234\n", 1234}, {"", 0},      {"0", 0},       {"-5", 0},
        {"12x", 0},     {"12\n\n", 0},    {" 12", 0},  {"99999999999", 0}, {"\n", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        assert_int_equal(write_file(f, cases[i].text, strlen(cases[i].text), 0600), 0);
        cleanup_err gcs_err err = GCS_ERR_INIT;
        pid_t pid = 0;
        int r = read_pid_file(f, &pid, &err);
        if (cases[i].want) {
            if (r != 0)
                fail_msg("\"%s\": %s", cases[i].text, err_msg(&err));
            assert_int_equal(pid, cases[i].want);
        } else if (r == 0) {
            fail_msg("\"%s\" accepted as %d", cases[i].text, (int)pid);
        }
    }
    unlink(f);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    pid_t pid;
    assert_true(read_pid_file(f, &pid, &err) < 0); /* missing */
    assert_int_equal(rmdir(d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdir_p_reports_what_it_made),
        cmocka_unit_test(test_read_pid_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
