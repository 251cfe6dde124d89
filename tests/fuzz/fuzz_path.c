/* libFuzzer: the lexical path helpers (common/path.h). Input: x \0 rel.
 * Asserts: clean is idempotent, never "", has no "//", "/./", "/../" after a
 * rooted start, no trailing '/' except "/"; join_within either refuses or
 * gives a path within base; nothing outside "/a/b" is within "/a/b". */
#include "common/path.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_clean(const char *x)
{
    cleanup_free char *c = path_clean(x);
    cleanup_free char *cc = path_clean(c);
    size_t n = strlen(c);
    FUZZ_CHECK(n > 0, "clean(\"%s\") is empty", x);
    FUZZ_CHECK(strcmp(c, cc) == 0, "clean not idempotent: \"%s\" -> \"%s\" -> \"%s\"", x, c, cc);
    FUZZ_CHECK(!strstr(c, "//"), "clean(\"%s\") = \"%s\" has //", x, c);
    FUZZ_CHECK(!strstr(c, "/./") && !str_has_prefix(c, "./") && !(n >= 2 && streq(c + n - 2, "/.")),
               "clean(\"%s\") = \"%s\" has a . element", x, c);
    FUZZ_CHECK(n == 1 || c[n - 1] != '/', "clean(\"%s\") = \"%s\" ends in /", x, c);
    FUZZ_CHECK((x[0] == '/') == (c[0] == '/'), "clean(\"%s\") = \"%s\" changed rootedness", x, c);
    /* a rooted path never keeps "..": it cannot go above "/" */
    if (c[0] == '/')
        FUZZ_CHECK(!streq(c, "/..") && !str_has_prefix(c, "/../") && !strstr(c, "/../") &&
                       !(n >= 3 && streq(c + n - 3, "/..")),
                   "clean(\"%s\") = \"%s\" keeps ..", x, c);
    /* within is reflexive on cleaned paths */
    FUZZ_CHECK(path_is_within(c, x), "\"%s\" not within its own clean \"%s\"", x, c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_fields ff;
    fuzz_split(data, size, 2, &ff);
    const char *x = ff.f[0], *rel = ff.f[1];

    check_clean(x);
    check_clean(rel);

    /* containment under a fixed base: only "/a/b" itself or "/a/b/..." */
    cleanup_free char *cx = path_clean(x);
    bool inside = streq(cx, "/a/b") || str_has_prefix(cx, "/a/b/");
    FUZZ_CHECK(path_is_within("/a/b", x) == inside, "is_within(/a/b, \"%s\" -> \"%s\") = %d", x, cx, !inside);
    FUZZ_CHECK(path_is_within("/", x) == (cx[0] == '/'), "is_within(/, \"%s\")", x);

    /* join_within over fuzzed bases (x) and a fixed one */
    const char *bases[] = {x, "/a/b", "/", "/run/gcs/c/id"};
    for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
        gcs_err err = GCS_ERR_INIT;
        char *j = NULL;
        int r = path_join_within(bases[i], rel, &j, &err);
        if (r == 0) {
            FUZZ_CHECK(j && path_is_within(bases[i], j), "join_within(\"%s\", \"%s\") = \"%s\" escapes", bases[i],
                       rel, j ? j : "(null)");
            cleanup_free char *cj = path_clean(j);
            FUZZ_CHECK(streq(cj, j) || (!*j && !*bases[i] && !*rel), "join_within(\"%s\", \"%s\") = \"%s\" not clean",
                       bases[i], rel, j);
            free(j);
        } else {
            FUZZ_CHECK(r < 0 && err_isset(&err), "join_within(\"%s\", \"%s\") failed without an error", bases[i],
                       rel);
        }
        err_clear(&err);
    }

    /* dir is clean and (for rooted input) rooted */
    cleanup_free char *d = path_dir(x);
    cleanup_free char *cd = path_clean(d);
    FUZZ_CHECK(streq(d, cd), "dir(\"%s\") = \"%s\" not clean", x, d);
    fuzz_fields_done(&ff);
    return 0;
}
