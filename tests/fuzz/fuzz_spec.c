/* libFuzzer: OCI spec rewriting (spec/spec.h) on a fuzzed spec.
 * Input: flags byte, rlimit-core value \0 devshm-size value \0 spec JSON.
 * flags bit 0: standalone (else workload); bit 1: the hugetlbfs mounter
 * fails. The setup functions run against roots under a private directory
 * made once per process (mkdtemp); everything they create there is removed
 * after each input with storage_remove_all (never follows symlinks). A
 * string root.path is pointed at a fixed rootfs with etc/passwd and
 * etc/group, so username resolution reads nothing else.
 * Asserts: every mount whose source had a sandbox://, sandbox-tmp:// or
 * hugepages:// prefix and was rewritten now lies within the matching
 * directory of the root (after success, all of them were rewritten); the
 * hugetlbfs mounter is only asked for targets within <root>/hugepages; on
 * success cgroupsPath is /pods/<sid>/<id> (/pods/<id> standalone), windows is
 * gone and /etc/hostname, hosts, resolv.conf are mounted; no wrong JSON type
 * crashes anything. The annotation helpers: a devshm size is accepted only
 * as a non-zero decimal and then gives exactly one /dev/shm mount with
 * size=<v>k; a core rlimit only as "<u64>;<u64>" within int64, appended as
 * the last rlimit with those values. */
#include "common/log.h"
#include "common/path.h"
#include "pod/annotations.h"
#include "sandbox/sandbox.h"
#include "spec/spec.h"
#include "storage/storage.h"

#include "fuzz_input.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char base[64];
static char *root, *sa_root, *rootfs, *huge_dir, *mounts_dir, *tmpfs_dir;

static void cleanup_base(void)
{
    gcs_err err = GCS_ERR_INIT;
    if (base[0] && storage_remove_all(base, &err) < 0)
        fprintf(stderr, "fuzz_spec: cleanup %s: %s\n", base, err_msg(&err));
    err_clear(&err);
}

static void write_or_die(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    FUZZ_CHECK(f && fputs(content, f) >= 0 && fclose(f) == 0, "write %s", path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_setup(2, LOG_FATAL, false);
    snprintf(base, sizeof(base), "/tmp/gcs-fuzz-spec.XXXXXX");
    FUZZ_CHECK(mkdtemp(base), "mkdtemp");
    atexit(cleanup_base);
    root = xasprintf("%s/root", base);
    sa_root = xasprintf("%s/standalone", base);
    rootfs = xasprintf("%s/rootfs", base);
    huge_dir = sandbox_hugepages_dir(root);
    mounts_dir = sandbox_mounts_dir(root);
    tmpfs_dir = sandbox_tmpfs_mounts_dir(root);
    cleanup_free char *etc = xasprintf("%s/etc", rootfs);
    FUZZ_CHECK(mkdir(rootfs, 0755) == 0 && mkdir(etc, 0755) == 0, "mkdir %s", etc);
    cleanup_free char *pw = xasprintf("%s/passwd", etc);
    cleanup_free char *gr = xasprintf("%s/group", etc);
    write_or_die(pw, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/app:\n");
    write_or_die(gr, "root:x:0:\nnogroup:x:65534:\napp:x:1000:app\n");
    return 0;
}

static int fake_hugetlb(const char *target, const char *pagesize, void *userdata, gcs_err *err)
{
    FUZZ_CHECK(path_is_within(huge_dir, target) && *pagesize, "hugetlbfs asked for %s (pagesize \"%s\")", target,
               pagesize);
    if (*(bool *)userdata)
        return err_set(err, HR_E_FAIL, "fake hugetlbfs mount failure");
    return 0;
}

typedef struct tracked {
    json_t *m; /* a reference */
    char *orig;
    const char *dir;
} tracked;

static void check_spec(const uint8_t *data, size_t size, fuzz_fields *ff)
{
    bool standalone = data[0] & 1;
    bool mount_fails = data[0] & 2;
    json_t *spec = json_loadb(ff->f[2], ff->len[2], 0, NULL); /* the bridge only hands over objects */
    if (!json_is_object(spec)) {
        json_decref(spec);
        return;
    }
    json_t *r = json_object_get(spec, "root");
    if (json_is_string(json_object_get(r, "path")))
        json_object_set_new(r, "path", json_string(rootfs));

    tracked t[64];
    size_t nt = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m) {
        const char *s = json_string_value(json_object_get(m, "source"));
        if (!s || nt == ARRAY_SIZE(t))
            continue;
        const char *dir = str_has_prefix(s, "sandbox-tmp://") ? tmpfs_dir
                          : str_has_prefix(s, "sandbox://")   ? mounts_dir
                          : str_has_prefix(s, "hugepages://") ? huge_dir
                                                              : NULL;
        if (dir && !standalone)
            t[nt++] = (tracked){json_incref(m), xstrdup(s), dir};
    }

    gcs_err err = GCS_ERR_INIT;
    int ret;
    if (standalone) {
        ret = spec_setup_standalone(spec, "c1", sa_root, "uvm-host", "nameserver 10.0.0.1\n", &err);
    } else {
        FUZZ_CHECK(mkdir(root, 0755) == 0, "mkdir %s", root);
        ret = spec_setup_workload(spec, "s1", "c1", root, fake_hugetlb, &mount_fails, &err);
    }
    FUZZ_CHECK(ret == 0 || (ret < 0 && err_isset(&err)), "setup returned %d, error \"%s\"", ret, err_msg(&err));
    err_clear(&err);

    for (size_t k = 0; k < nt; k++) {
        const char *now = json_string_value(json_object_get(t[k].m, "source"));
        bool changed = !streq(now, t[k].orig);
        if (changed)
            FUZZ_CHECK(now && path_is_within(t[k].dir, now), "source \"%s\" -> \"%s\" outside %s", t[k].orig,
                       now ? now : "(none)", t[k].dir);
        if (ret == 0)
            FUZZ_CHECK(changed, "source \"%s\" left as it was after success", t[k].orig);
        json_decref(t[k].m);
        free(t[k].orig);
    }
    if (ret == 0) {
        const char *cg = json_string_value(json_object_get(json_object_get(spec, "linux"), "cgroupsPath"));
        FUZZ_CHECK(streq(cg, standalone ? "/pods/c1" : "/pods/s1/c1"), "cgroupsPath \"%s\"", cg ? cg : "(none)");
        FUZZ_CHECK(!json_object_get(spec, "windows"), "windows left in the spec");
        static const char *const etc[] = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"};
        for (size_t k = 0; k < ARRAY_SIZE(etc); k++)
            FUZZ_CHECK(spec_mount_present(spec, etc[k]), "%s not mounted", etc[k]);
        /* every bind source we added for them lies in the root */
        json_array_foreach(json_object_get(spec, "mounts"), i, m) {
            const char *d = json_string_value(json_object_get(m, "destination"));
            const char *s = json_string_value(json_object_get(m, "source"));
            if (d && s && str_has_prefix(d, "/etc/") && str_has_prefix(s, base))
                FUZZ_CHECK(path_is_within(standalone ? sa_root : root, s), "%s from %s", d, s);
        }
    }

    /* the annotation helpers, also on whatever the setup left behind */
    cleanup_free char *rl = xstrdup(ff->f[0]);
    json_t *rls_before = json_object_get(json_object_get(spec, "process"), "rlimits");
    size_t before = json_is_array(rls_before) ? json_array_size(rls_before) : 0;
    ret = spec_set_core_rlimit(spec, rl, &err);
    if (ret == 0) {
        size_t semi = strcspn(rl, ";");
        FUZZ_CHECK(semi > 0 && rl[semi] == ';' && rl[semi + 1] && strspn(rl, "0123456789") == semi &&
                       strspn(rl + semi + 1, "0123456789") == strlen(rl + semi + 1),
                   "rlimit \"%s\" accepted", rl);
        unsigned long long soft = strtoull(rl, NULL, 10), hard = strtoull(rl + semi + 1, NULL, 10);
        json_t *rls = json_object_get(json_object_get(spec, "process"), "rlimits");
        FUZZ_CHECK(json_array_size(rls) == before + 1, "rlimits not appended");
        json_t *last = json_array_get(rls, json_array_size(rls) - 1);
        FUZZ_CHECK(streq(json_string_value(json_object_get(last, "type")), "RLIMIT_CORE") &&
                       (unsigned long long)json_integer_value(json_object_get(last, "soft")) == soft &&
                       (unsigned long long)json_integer_value(json_object_get(last, "hard")) == hard &&
                       json_integer_value(json_object_get(last, "soft")) >= 0 &&
                       json_integer_value(json_object_get(last, "hard")) >= 0,
                   "rlimit \"%s\" stored wrong", rl);
    } else {
        err_clear(&err);
    }

    json_t *ann = json_object_get(spec, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(spec, "annotations", ann);
    }
    /* nocheck: the value need not be UTF-8, and must really be set */
    FUZZ_CHECK(json_object_set_new(ann, POD_ANN_DEV_SHM_SIZE_KB, json_stringn_nocheck(ff->f[1], ff->len[1])) == 0,
               "set annotation");
    ret = spec_apply_devshm_annotation(spec, &err);
    const char *v = ff->f[1];
    bool digits = *v != '\0';
    bool nonzero = false;
    for (const char *p = v; *p; p++)
        digits = digits && *p >= '0' && *p <= '9', nonzero = nonzero || *p != '0';
    errno = 0;
    bool fits = digits && (strtoull(v, NULL, 10), errno == 0);
    if (ret == 0) {
        FUZZ_CHECK(digits && nonzero && fits, "devshm size \"%s\" accepted", v);
        size_t shm = 0;
        cleanup_free char *want = xasprintf("size=%sk", v);
        json_array_foreach(json_object_get(spec, "mounts"), i, m) {
            if (!streq(json_string_value(json_object_get(m, "destination")), "/dev/shm"))
                continue;
            shm++;
            json_t *opts = json_object_get(m, "options");
            FUZZ_CHECK(streq(json_string_value(json_array_get(opts, json_array_size(opts) - 1)), want),
                       "devshm options for \"%s\"", v);
        }
        FUZZ_CHECK(shm == 1, "%zu /dev/shm mounts", shm);
    } else {
        FUZZ_CHECK(err_isset(&err), "devshm refused without an error");
        FUZZ_CHECK(!digits || !nonzero || !fits, "devshm size \"%s\" refused: %s", v, err_msg(&err));
        err_clear(&err);
    }
    (void)size;
    json_decref(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_fields ff;
    fuzz_split(data + 1, size - 1, 3, &ff);
    check_spec(data, size, &ff);
    fuzz_fields_done(&ff);
    gcs_err err = GCS_ERR_INIT;
    FUZZ_CHECK(storage_remove_all(root, &err) == 0 && storage_remove_all(sa_root, &err) == 0, "cleanup: %s",
               err_msg(&err));
    return 0;
}
