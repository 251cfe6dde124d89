/* Unit tests for src/common/strmap.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/strmap.h"
#include "common/util.h"

static int freed;
static void count_free(void *p)
{
    freed++;
    free(p);
}

static void test_basic(void **state)
{
    (void)state;
    freed = 0;
    strmap *m = strmap_new(count_free);
    assert_int_equal(strmap_count(m), 0);
    assert_null(strmap_get(m, "a"));
    assert_false(strmap_contains(m, "a"));

    assert_true(strmap_set(m, "a", xstrdup("1")));
    assert_true(strmap_set(m, "b", xstrdup("2")));
    assert_string_equal(strmap_get(m, "a"), "1");
    assert_string_equal(strmap_get(m, "b"), "2");
    assert_true(strmap_contains(m, "a"));
    assert_int_equal(strmap_count(m), 2);

    /* replace frees the old value */
    assert_false(strmap_set(m, "a", xstrdup("3")));
    assert_int_equal(freed, 1);
    assert_string_equal(strmap_get(m, "a"), "3");
    assert_int_equal(strmap_count(m), 2);

    /* the empty key is a key */
    assert_true(strmap_set(m, "", xstrdup("empty")));
    assert_string_equal(strmap_get(m, ""), "empty");

    char *v = strmap_take(m, "b");
    assert_string_equal(v, "2");
    free(v);
    assert_int_equal(freed, 1);
    assert_null(strmap_take(m, "b"));

    assert_true(strmap_del(m, "a"));
    assert_int_equal(freed, 2);
    assert_false(strmap_del(m, "a"));
    assert_int_equal(strmap_count(m), 1);

    strmap_free(m);
    assert_int_equal(freed, 3);
    assert_null(strmap_free(NULL));
}

static void test_key_is_copied(void **state)
{
    (void)state;
    strmap *m = strmap_new(NULL);
    char key[8] = "abc";
    int x = 7;
    strmap_set(m, key, &x);
    key[0] = 'z';
    assert_ptr_equal(strmap_get(m, "abc"), &x);
    assert_null(strmap_get(m, "zbc"));
    strmap_free(m);
}

static void test_10k(void **state)
{
    (void)state;
    freed = 0;
    strmap *m = strmap_new(count_free);
    enum { N = 10000 };
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "container-%d", i);
        assert_true(strmap_set(m, key, xasprintf("%d", i)));
    }
    assert_int_equal(strmap_count(m), N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "container-%d", i);
        char *v = strmap_get(m, key);
        assert_non_null(v);
        assert_int_equal(atoi(v), i);
    }
    /* delete the even ones */
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof(key), "container-%d", i);
        assert_true(strmap_del(m, key));
    }
    assert_int_equal(strmap_count(m), N / 2);
    assert_int_equal(freed, N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "container-%d", i);
        assert_int_equal(strmap_contains(m, key), i % 2 == 1);
    }
    /* iteration visits each remaining entry exactly once */
    unsigned char *seen = xzalloc(N);
    strmap_iter it = STRMAP_ITER_INIT;
    const char *k;
    void *v;
    size_t n = 0;
    while (strmap_next(m, &it, &k, &v)) {
        int i = atoi(v);
        assert_true(i % 2 == 1);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        n++;
    }
    assert_int_equal(n, N / 2);
    free(seen);
    /* delete every entry while iterating */
    it = (strmap_iter)STRMAP_ITER_INIT;
    while (strmap_next(m, &it, &k, NULL))
        assert_true(strmap_del(m, k));
    assert_int_equal(strmap_count(m), 0);
    assert_int_equal(freed, N);
    /* still usable after emptying */
    strmap_set(m, "again", xstrdup("x"));
    assert_string_equal(strmap_get(m, "again"), "x");
    strmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_key_is_copied),
        cmocka_unit_test(test_10k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
