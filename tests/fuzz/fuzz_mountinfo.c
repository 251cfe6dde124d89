/* libFuzzer: the mountinfo parser (storage/storage.h). The kernel writes this
 * text, but the parser must be robust. Asserts: on success every mount point
 * and root is absolute, every string is non-NULL, and storage_mounts_under_in
 * only returns mount points equal to or below the asked path; on failure the
 * error is set and -EINVAL. */
#include "common/path.h"
#include "storage/storage.h"

#include "fuzz_input.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cleanup_free char *text = xstrndup((const char *)data, size);
    gcs_err err = GCS_ERR_INIT;
    storage_mount *m = NULL;
    size_t n = 0;
    int r = storage_mountinfo_parse(text, &m, &n, &err);
    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL && err_isset(&err), "parse failed with %d", r);
        err_clear(&err);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(m[i].root && m[i].mount_point && m[i].options && m[i].optional && m[i].fstype && m[i].source &&
                       m[i].super_options,
                   "mount %zu has a NULL field", i);
        FUZZ_CHECK(m[i].mount_point[0] == '/', "mount %zu: mount point \"%s\" is not absolute", i, m[i].mount_point);
        FUZZ_CHECK(m[i].id >= 0 && m[i].parent_id >= 0, "mount %zu: negative id", i);
    }
    static const char *const paths[] = {"/", "/run/gcs", "/a"};
    for (size_t k = 0; k < ARRAY_SIZE(paths); k++) {
        char **v = NULL;
        size_t vn = 0;
        FUZZ_CHECK(storage_mounts_under_in(m, n, paths[k], &v, &vn) == 0, "mounts_under_in failed");
        FUZZ_CHECK(vn <= n, "more mounts under %s than parsed", paths[k]);
        for (size_t i = 0; i < vn; i++)
            FUZZ_CHECK(path_is_within(paths[k], v[i]), "\"%s\" listed under %s", v[i], paths[k]);
        storage_strv_free(v, vn);
    }
    storage_mountinfo_free(m, n);
    return 0;
}
