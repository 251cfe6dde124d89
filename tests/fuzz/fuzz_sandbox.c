/* libFuzzer: sandbox roots (sandbox/sandbox.h). Input: bundle \0 vpid \0 key.
 * Asserts: a registered root with a vpid is exactly one element below
 * path_dir(bundle)/virtual-pods and that element is the vpid; without a vpid
 * it is the bundle as given; resolve and lookup return it; unregister drops
 * it and resolve then falls back to /run/gcs/c/<key>. A refused vpid stores
 * nothing. */
#include "common/log.h"
#include "common/path.h"
#include "sandbox/sandbox.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static sandbox_roots *roots;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_setup(2, LOG_ERROR, false);
    roots = sandbox_roots_new();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_fields ff;
    fuzz_split(data, size, 3, &ff);
    const char *bundle = ff.f[0], *vpid = ff.f[1], *key = ff.f[2];
    gcs_err err = GCS_ERR_INIT;
    char *root = NULL;
    size_t before = sandbox_roots_count(roots);
    bool existed = sandbox_root_lookup(roots, key) != NULL;

    int r = sandbox_root_register(roots, key, bundle, vpid, &root, &err);
    if (r < 0) {
        FUZZ_CHECK(err_isset(&err) && !root, "register failed without an error");
        FUZZ_CHECK(sandbox_roots_count(roots) == before, "failed register changed the count");
        if (*vpid) {
            gcs_err e2 = GCS_ERR_INIT;
            FUZZ_CHECK(sandbox_vpid_validate(vpid, &e2) < 0, "register refused a valid vpid \"%s\"", vpid);
            err_clear(&e2);
        }
        err_clear(&err);
        fuzz_fields_done(&ff);
        return 0;
    }
    FUZZ_CHECK(root, "register returned no root");
    FUZZ_CHECK(sandbox_roots_count(roots) == before + (existed ? 0 : 1), "count after register");

    if (*vpid) {
        gcs_err e2 = GCS_ERR_INIT;
        FUZZ_CHECK(sandbox_vpid_validate(vpid, &e2) == 0, "accepted invalid vpid \"%s\"", vpid);
        cleanup_free char *dir = path_dir(bundle);
        cleanup_free char *vp = path_join(dir, "virtual-pods");
        cleanup_free char *parent = path_dir(root);
        cleanup_free char *cvp = path_clean(vp);
        FUZZ_CHECK(path_is_within(vp, root) && !streq(root, cvp), "root \"%s\" not below \"%s\"", root, vp);
        FUZZ_CHECK(streq(parent, cvp), "root \"%s\" not exactly one element below \"%s\"", root, cvp);
        FUZZ_CHECK(streq(root + strlen(parent) + (streq(parent, "/") ? 0 : 1), vpid),
                   "last element of \"%s\" is not the vpid \"%s\"", root, vpid);
    } else {
        FUZZ_CHECK(streq(root, bundle), "root \"%s\" != bundle \"%s\" without vpid", root, bundle);
    }

    FUZZ_CHECK(streq(sandbox_root_lookup(roots, key), root), "lookup(\"%s\") differs", key);
    cleanup_free char *res = sandbox_root_resolve(roots, key);
    FUZZ_CHECK(streq(res, root), "resolve(\"%s\") = \"%s\", registered \"%s\"", key, res, root);

    /* the sub-directories stay under the root */
    cleanup_free char *m = sandbox_mounts_dir(root);
    cleanup_free char *t = sandbox_tmpfs_mounts_dir(root);
    /* (a relative root such as "." does not contain relative paths: path_is_within is lexical) */
    FUZZ_CHECK(*root != '/' || (path_is_within(root, m) && path_is_within(root, t)), "subdirs of \"%s\"", root);

    FUZZ_CHECK(sandbox_root_unregister(roots, key), "unregister(\"%s\") found nothing", key);
    FUZZ_CHECK(!sandbox_root_lookup(roots, key), "still registered after unregister");
    FUZZ_CHECK(!sandbox_root_unregister(roots, key), "second unregister succeeded");
    FUZZ_CHECK(sandbox_roots_count(roots) == before - (existed ? 1 : 0), "count after unregister");
    /* keep the map small but non-empty across runs: re-add under a derived key */
    if (sandbox_roots_count(roots) < 64)
        (void)sandbox_root_register(roots, bundle, bundle, NULL, NULL, &err);
    err_clear(&err);
    free(root);
    fuzz_fields_done(&ff);
    return 0;
}
