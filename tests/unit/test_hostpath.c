/* Unit tests for src/hostpath: the host-supplied path policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hostpath/hostpath.h"

#define ROOTS "/run/gcs:/run/mounts"

static void check(const char *roots, const char *p, bool want_ok, const char *want_text)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    int r = hostpath_check(roots, "ScratchPath", p, &err);
    if (want_ok) {
        if (r != 0)
            fail_msg("%s refused: %s", p ? p : "(null)", err_msg(&err));
        return;
    }
    if (r == 0)
        fail_msg("%s accepted", p ? p : "(null)");
    assert_int_equal(err.hr, HR_E_INVALIDARG);
    if (!strstr(err_msg(&err), want_text))
        fail_msg("%s: \"%s\" lacks \"%s\"", p, err_msg(&err), want_text);
    assert_non_null(strstr(err_msg(&err), "ScratchPath"));
}

static void test_inside_roots(void **state)
{
    (void)state;
    check(ROOTS, "/run/gcs/c/abc", true, NULL);
    check(ROOTS, "/run/mounts/scsi/0_1_0/scratch/p/c", true, NULL);
    check(ROOTS, "/run/gcs/c/abc/", true, NULL);
    check(ROOTS, "//run//gcs/c", true, NULL);
}

static void test_refused(void **state)
{
    (void)state;
    check(ROOTS, NULL, false, "not an absolute path");
    check(ROOTS, "", false, "not an absolute path");
    check(ROOTS, "run/gcs/c", false, "not an absolute path");
    check(ROOTS, "/run/gcs/c/../../etc", false, "'.' or '..'");
    check(ROOTS, "/run/gcs/./c", false, "'.' or '..'");
    check(ROOTS, "/run/gcs/c/..", false, "'.' or '..'");
    /* the root itself is not inside it; a sibling sharing the prefix neither */
    check(ROOTS, "/run/gcs", false, "outside the allowed roots");
    check(ROOTS, "/run/gcsx/c", false, "outside the allowed roots");
    check(ROOTS, "/etc/passwd", false, "outside the allowed roots (/run/gcs:/run/mounts)");
    /* "a..b" is a name, not a traversal */
    check(ROOTS, "/run/gcs/a..b", true, NULL);
}

static void test_roots_list(void **state)
{
    (void)state;
    check("/srv", "/srv/x", true, NULL);
    check("::/srv::", "/srv/x", true, NULL);
    check("", "/srv/x", false, "outside");
    check(NULL, "/srv/x", false, "outside");
    check("relative:/srv", "/srv/y", true, NULL);
    check("relative", "/relative/y", false, "outside");
    check("/", "/anything", true, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inside_roots),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_roots_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
