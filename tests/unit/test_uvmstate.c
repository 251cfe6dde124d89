/* Unit tests for src/uvmstate: the mount ledger (owners, users, unwinding
 * newest first), the confidential-mode tracking rules and the latch of
 * upstream's internal/guest/runtime/hcsv2/uvm_state.go (the mount-table cases
 * of its uvm_state_test.go), plus the derived cases behind the deliberate
 * differences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "uvmstate/uvmstate.h"

#include <errno.h>

/* The call must succeed; on failure show its message. */
#define OK(call)                                                                                                   \
    do {                                                                                                           \
        gcs_err e_ = GCS_ERR_INIT;                                                                                 \
        gcs_err *err = &e_;                                                                                        \
        int r_ = (call);                                                                                           \
        if (r_ != 0)                                                                                               \
            fail_msg("%s failed (%d): %s", #call, r_, err_msg(&e_));                                             \
        assert_false(err_isset(&e_));                                                                              \
        err_clear(&e_);                                                                                            \
    } while (0)

/* The call must fail with a message containing `want`. */
#define FAILS(call, want)                                                                                          \
    do {                                                                                                           \
        gcs_err e_ = GCS_ERR_INIT;                                                                                 \
        gcs_err *err = &e_;                                                                                        \
        int r_ = (call);                                                                                           \
        if (r_ >= 0)                                                                                               \
            fail_msg("%s succeeded, expected an error containing \"%s\"", #call, (want));                        \
        if (!strstr(err_msg(&e_), (want)))                                                                         \
            fail_msg("%s: error \"%s\" does not contain \"%s\"", #call, err_msg(&e_), (want));                   \
        err_clear(&e_);                                                                                            \
    } while (0)

#define LATCHED "mount, unmount, container creation and deletion have been disabled in this UVM due to a previous error"

static const char *const scsi_layers[] = {"/run/mounts/scsi/m1", "/run/mounts/scsi/m2", "/run/mounts/scsi/m3"};

/* ---- the ledger: owners, users, unwinding ----------------------------- */

struct unmount_log {
    char seen[8][64];
    int n;
    int fail_at; /* index of the call that fails, or -1 */
};

static int record_unmount(const char *path, void *data, gcs_err *err)
{
    struct unmount_log *log = data;
    int i = log->n++;
    snprintf(log->seen[i], sizeof(log->seen[i]), "%s", path);
    if (i == log->fail_at)
        return err_set(err, HR_E_FAIL, "umount %s: Device or resource busy", path);
    return 0;
}

/* The rootfs of a running container is "in use": the ledger answers it
 * after path_clean, so "/./" cannot fool it (upstream compared the root
 * path as sent). */
static void ledger_user_of_overlay(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_overlay(t, "/run/gcs/c/abc/rootfs", NULL, 0, "", err));
    assert_null(uvmstate_user(t, "/run/gcs/c/abc/rootfs"));
    assert_int_equal(uvmstate_set_user(t, "/run/gcs/c/abc/./rootfs", "abc"), 0);
    assert_string_equal(uvmstate_user(t, "/run/gcs/c/abc/rootfs/"), "abc");
    assert_null(uvmstate_user(t, "/run/gcs/c/abc/rootfs2"));
    assert_int_equal(uvmstate_set_user(t, "/run/gcs/c/none", "x"), -ENOENT);
    uvmstate_clear_user(t, "abc");
    assert_null(uvmstate_user(t, "/run/gcs/c/abc/rootfs"));
    uvmstate_free(t);
}

/* Teardown walks newest first: the overlay inside the bound bundle comes off
 * before the bind it sits on; entries outside `under` are left alone. */
static void ledger_unwind_newest_first(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    struct unmount_log log = {.fail_at = -1};
    OK(uvmstate_add_bind(t, "/run/gcs/c/a", "/run/scratch/a/bundle", err));
    OK(uvmstate_add_overlay(t, "/run/gcs/c/a/rootfs", NULL, 0, "/run/scratch/a", err));
    OK(uvmstate_add_overlay(t, "/run/gcs/c/b/rootfs", NULL, 0, "", err));
    assert_int_equal(uvmstate_set_unmount(t, "/run/gcs/c/a", "CombinedLayers", record_unmount, &log, NULL), 0);
    assert_int_equal(uvmstate_set_unmount(t, "/run/gcs/c/a/rootfs", "CombinedLayers", record_unmount, &log, NULL), 0);
    assert_int_equal(uvmstate_set_unmount(t, "/run/gcs/c/b/rootfs", "Other", record_unmount, &log, NULL), 0);
    assert_ptr_equal(uvmstate_data(t, "/run/gcs/c/a"), &log);

    char **paths = NULL;
    assert_int_equal(uvmstate_list(t, NULL, "CombinedLayers", &paths), 2);
    assert_string_equal(paths[0], "/run/gcs/c/a/rootfs");
    assert_string_equal(paths[1], "/run/gcs/c/a");
    assert_null(paths[2]);
    uvmstate_list_free(paths);

    OK(uvmstate_unwind(t, "/run/gcs/c/a", NULL, err));
    assert_int_equal(log.n, 2);
    assert_string_equal(log.seen[0], "/run/gcs/c/a/rootfs");
    assert_string_equal(log.seen[1], "/run/gcs/c/a");
    assert_int_equal(uvmstate_count(t), 1);
    assert_true(uvmstate_has(t, "/run/gcs/c/b/rootfs"));
    uvmstate_free(t);
}

/* A failed unmount keeps its entry (and what it sits on), the walk goes on
 * and the first error is reported; a second unwind finishes the job. */
static void ledger_unwind_failure_keeps_entry(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    struct unmount_log log = {.fail_at = 0};
    OK(uvmstate_add_ro(t, "/run/mounts/m1", "/dev/sda", err));
    OK(uvmstate_add_overlay(t, "/run/gcs/c/a/rootfs", (const char *const[]){"/run/mounts/m1"}, 1, "", err));
    assert_int_equal(uvmstate_set_unmount(t, "/run/mounts/m1", "SCSI", record_unmount, &log, NULL), 0);
    assert_int_equal(uvmstate_set_unmount(t, "/run/gcs/c/a/rootfs", "CombinedLayers", record_unmount, &log, NULL), 0);
    /* the layer is in use: refused before its unmount function runs */
    FAILS(uvmstate_unmount(t, "/run/mounts/m1", err), "still in use");
    assert_int_equal(log.n, 0);
    FAILS(uvmstate_unwind(t, NULL, NULL, err), "Device or resource busy");
    assert_int_equal(uvmstate_count(t), 2);
    OK(uvmstate_unwind(t, NULL, NULL, err));
    assert_int_equal(uvmstate_count(t), 0);
    uvmstate_free(t);
}

/* Data attached to an entry is freed with it, or at once if there is none. */
static void ledger_data_freed(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_bind(t, "/run/gcs/c/a", "/s/bundle", err));
    assert_int_equal(uvmstate_set_unmount(t, "/run/gcs/c/a", "x", NULL, xstrdup("d1"), free), 0);
    assert_int_equal(uvmstate_set_unmount(t, "/run/gcs/c/zz", "x", NULL, xstrdup("d2"), free), -ENOENT);
    FAILS(uvmstate_remove_bind(t, "/run/gcs/c/a", "/other", err), "wrong source");
    OK(uvmstate_remove_bind(t, "/run/gcs/c/a", "/s/bundle", err));
    assert_int_equal(uvmstate_count(t), 0);
    uvmstate_free(t); /* ASan: nothing leaked */
}


/* ---- the mount-tracking table (upstream uvm_state_test.go) -------------- */

static void case36_rw_add_remove(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_rw(t, "/run/gcs/c/abcd", "/dev/sda", false, err));
    assert_int_equal(uvmstate_count(t), 1);
    OK(uvmstate_remove_rw(t, "/run/gcs/c/abcd", "/dev/sda", false, err));
    assert_int_equal(uvmstate_count(t), 0);
    /* removing what is not tracked is not an error (as upstream) */
    OK(uvmstate_remove_rw(t, "/run/gcs/c/abcd", "/dev/sda", false, err));
    uvmstate_free(t);
}

static void case37_rw_add_twice(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_rw(t, "/run/gcs/c/abc", "/dev/sda", false, err));
    FAILS(uvmstate_add_rw(t, "/run/gcs/c/abc", "/dev/sda", false, err), "already tracked at /run/gcs/c/abc");
    /* the same path spelled differently is the same entry; any kind collides */
    FAILS(uvmstate_add_rw(t, "/run/gcs/c//abc/", "/dev/sdb", true, err), "already tracked");
    FAILS(uvmstate_add_ro(t, "/run/gcs/c/abc", "/dev/sda", err), "already tracked");
    FAILS(uvmstate_add_overlay(t, "/run/gcs/c/abc", NULL, 0, NULL, err), "already tracked");
    assert_int_equal(uvmstate_count(t), 1);
    uvmstate_free(t);
}

static void case38_rw_remove_wrong_source(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_rw(t, "/run/gcs/c/abcd", "/dev/sda", false, err));
    FAILS(uvmstate_remove_rw(t, "/run/gcs/c/abcd", "/dev/sdb", false, err), "wrong source /dev/sdb");
    assert_int_equal(uvmstate_count(t), 1);
    OK(uvmstate_remove_rw(t, "/run/gcs/c/abcd", "/dev/sda", false, err));
    uvmstate_free(t);
}

static void case39_rw_remove_wrong_encrypted(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_rw(t, "/run/gcs/c/abcd", "/dev/sda", false, err));
    FAILS(uvmstate_remove_rw(t, "/run/gcs/c/abcd", "/dev/sda", true, err), "encrypted flag");
    assert_int_equal(uvmstate_count(t), 1);
    uvmstate_free(t);
}

struct enc_case {
    const char *path;
    bool want;
};

static const struct enc_case enc_cases[] = {
    {"/run/gcs/c/encrypted/nested", true},               /* 40 */
    {"/run/gcs/c/encrypted/../encrypted/nested", true},  /* 41 */
    {"/run/gcs/c/abcdef", false},                        /* 42 */
    {"/run/gcs/c", false},                               /* 43 */
    {"/run/gcs/c/../abcd", false},                       /* 44 */
    {"/run/gcs/c/encrypted/unencrypted/foo", false},     /* 45 */
    {"/run/gcs/c/encrypted", true},                      /* 46 */
};

static int enc_setup(void **state)
{
    gcs_err e = GCS_ERR_INIT;
    uvmstate *t = uvmstate_new();
    const struct enc_case *c = *state;

    if (uvmstate_add_rw(t, "/run/gcs/c/encrypted", "/dev/sda", true, &e) < 0 ||
        uvmstate_add_rw(t, "/run/gcs/c/encrypted/unencrypted", "/dev/sdb", false, &e) < 0) {
        err_clear(&e);
        uvmstate_free(t);
        return -1;
    }
    /* cmocka passes one pointer: keep the case and the table together */
    void **pair = xmalloc(2 * sizeof(void *));
    pair[0] = (void *)c;
    pair[1] = t;
    *state = pair;
    return 0;
}

static int enc_teardown(void **state)
{
    void **pair = *state;
    uvmstate_free(pair[1]);
    free(pair);
    return 0;
}

static void test_is_encrypted(void **state)
{
    void **pair = *state;
    const struct enc_case *c = pair[0];
    assert_int_equal(uvmstate_is_encrypted(pair[1], c->path), c->want);
}

static void case47_ro_add_remove(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_ro(t, "/run/gcs/c/abcd", "/dev/sda", err));
    assert_int_equal(uvmstate_count(t), 1);
    /* an RO device is never encrypted, and has another kind than RW */
    assert_false(uvmstate_is_encrypted(t, "/run/gcs/c/abcd/x"));
    FAILS(uvmstate_remove_ro(t, "/run/gcs/c/abcd", "/dev/sdb", err), "wrong source");
    FAILS(uvmstate_remove_rw(t, "/run/gcs/c/abcd", "/dev/sda", false, err), "wrong mount type RW, tracked RO");
    OK(uvmstate_remove_ro(t, "/run/gcs/c/abcd", "/dev/sda", err));
    assert_int_equal(uvmstate_count(t), 0);
    uvmstate_free(t);
}

static void case48_ro_add_twice(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_ro(t, "/run/gcs/c/abc", "/dev/sda", err));
    FAILS(uvmstate_add_ro(t, "/run/gcs/c/abc", "/dev/sda", err), "already tracked");
    assert_int_equal(uvmstate_count(t), 1);
    uvmstate_free(t);
}

/* RO layers m1..m3 and an encrypted RW scratch at `scratch`. */
static uvmstate *overlay_fixture(const char *scratch)
{
    uvmstate *t = uvmstate_new();
    for (size_t i = 0; i < ARRAY_SIZE(scsi_layers); i++)
        OK(uvmstate_add_ro(t, scsi_layers[i], scsi_layers[i], err));
    OK(uvmstate_add_rw(t, scratch, scratch, true, err));
    return t;
}

static void case49_overlay_add_remove_undo(void **state)
{
    (void)state;
    const char *target = "/run/gcs/c/aaaa/rootfs", *scratch = "/run/gcs/c/aaaa/scratch";
    uvmstate *t = overlay_fixture(scratch);
    uvmstate_undo *undo = NULL;

    OK(uvmstate_add_overlay(t, target, scsi_layers, ARRAY_SIZE(scsi_layers), scratch, err));
    assert_true(uvmstate_has_overlay_at(t, target));
    assert_true(uvmstate_is_encrypted(t, "/run/gcs/c/aaaa/scratch/upper"));
    OK(uvmstate_remove_overlay(t, target, &undo, err));
    assert_non_null(undo);
    assert_false(uvmstate_has_overlay_at(t, target));

    /* the undo restores the overlay and its uses */
    OK(uvmstate_undo_apply(t, undo, err));
    assert_true(uvmstate_has_overlay_at(t, target));
    FAILS(uvmstate_remove_ro(t, scsi_layers[0], scsi_layers[0], err), "still in use");
    FAILS(uvmstate_remove_rw(t, scratch, scratch, true, err), "still in use");

    OK(uvmstate_remove_overlay(t, target, &undo, err));
    assert_non_null(undo);
    uvmstate_undo_free(undo); /* the real unmount worked: drop the undo */
    assert_false(uvmstate_has_overlay_at(t, target));
    /* nothing tracked there any more: success and no undo */
    undo = (uvmstate_undo *)1;
    OK(uvmstate_remove_overlay(t, target, &undo, err));
    assert_null(undo);
    uvmstate_free(t);
}

static void case50_devices_in_use_by_overlay(void **state)
{
    (void)state;
    const char *target = "/run/gcs/c/aaaa/rootfs", *scratch = "/run/gcs/c/aaaa/scratch";
    uvmstate *t = overlay_fixture(scratch);

    OK(uvmstate_add_overlay(t, target, scsi_layers, ARRAY_SIZE(scsi_layers), scratch, err));
    for (size_t i = 0; i < ARRAY_SIZE(scsi_layers); i++)
        FAILS(uvmstate_remove_ro(t, scsi_layers[i], scsi_layers[i], err), "still in use");
    FAILS(uvmstate_remove_rw(t, scratch, scratch, true, err), "still in use");
    assert_int_equal(uvmstate_count(t), 5);

    OK(uvmstate_remove_overlay(t, target, NULL, err));
    for (size_t i = 0; i < ARRAY_SIZE(scsi_layers); i++)
        OK(uvmstate_remove_ro(t, scsi_layers[i], scsi_layers[i], err));
    OK(uvmstate_remove_rw(t, scratch, scratch, true, err));
    assert_int_equal(uvmstate_count(t), 0);
    uvmstate_free(t);
}

static void case51_overlays_sharing_devices(void **state)
{
    (void)state;
    const char *o1 = "/run/gcs/c/aaaa/rootfs", *o2 = "/run/gcs/c/bbbb/rootfs";
    const char *shared = "/run/gcs/c/sandbox";
    uvmstate *t = overlay_fixture(shared);

    OK(uvmstate_add_overlay(t, o1, scsi_layers, 3, "/run/gcs/c/sandbox/scratch/aaaa", err));
    OK(uvmstate_add_overlay(t, o2, scsi_layers, 2, "/run/gcs/c/sandbox/scratch/bbbb", err));
    for (size_t i = 0; i < 3; i++)
        FAILS(uvmstate_remove_ro(t, scsi_layers[i], scsi_layers[i], err), "still in use");
    FAILS(uvmstate_remove_rw(t, shared, shared, true, err), "still in use");

    OK(uvmstate_remove_overlay(t, o1, NULL, err));
    FAILS(uvmstate_remove_ro(t, scsi_layers[0], scsi_layers[0], err), "still in use");
    FAILS(uvmstate_remove_ro(t, scsi_layers[1], scsi_layers[1], err), "still in use");
    OK(uvmstate_remove_ro(t, scsi_layers[2], scsi_layers[2], err));
    FAILS(uvmstate_remove_rw(t, shared, shared, true, err), "still in use");

    OK(uvmstate_remove_overlay(t, o2, NULL, err));
    OK(uvmstate_remove_ro(t, scsi_layers[0], scsi_layers[0], err));
    OK(uvmstate_remove_ro(t, scsi_layers[1], scsi_layers[1], err));
    OK(uvmstate_remove_rw(t, shared, shared, true, err));
    assert_int_equal(uvmstate_count(t), 0);
    uvmstate_free(t);
}

static void case52_overlay_add_dot_remove_clean(void **state)
{
    (void)state;
    uvmstate *t = overlay_fixture("/run/gcs/c/aaaa/scratch");
    OK(uvmstate_add_overlay(t, "/run/gcs/c/aaaa/./rootfs", scsi_layers, 3, "/run/gcs/c/aaaa/scratch", err));
    assert_true(uvmstate_has_overlay_at(t, "/run/gcs/c/aaaa/rootfs"));
    OK(uvmstate_remove_overlay(t, "/run/gcs/c/aaaa/rootfs", NULL, err));
    assert_false(uvmstate_has_overlay_at(t, "/run/gcs/c/aaaa/./rootfs"));
    /* its uses were released */
    OK(uvmstate_remove_rw(t, "/run/gcs/c/aaaa/scratch", "/run/gcs/c/aaaa/scratch", true, err));
    uvmstate_free(t);
}

static void case53_overlay_add_clean_remove_dot(void **state)
{
    (void)state;
    uvmstate *t = overlay_fixture("/run/gcs/c/aaaa/scratch");
    OK(uvmstate_add_overlay(t, "/run/gcs/c/aaaa/rootfs", scsi_layers, 3, "/run/gcs/c/aaaa/scratch", err));
    assert_true(uvmstate_has_overlay_at(t, "/run/gcs/c/aaaa/./rootfs"));
    OK(uvmstate_remove_overlay(t, "/run/gcs/c/aaaa/./rootfs", NULL, err));
    assert_false(uvmstate_has_overlay_at(t, "/run/gcs/c/aaaa/rootfs"));
    OK(uvmstate_remove_ro(t, scsi_layers[2], scsi_layers[2], err));
    uvmstate_free(t);
}

/* ---- the latch ---------------------------------------------------------- */

static void latch_blocks_every_change(void **state)
{
    (void)state;
    const char *target = "/run/gcs/c/aaaa/rootfs", *scratch = "/run/gcs/c/aaaa/scratch";
    uvmstate *t = overlay_fixture(scratch);
    uvmstate_undo *undo = NULL;

    OK(uvmstate_add_overlay(t, target, scsi_layers, 3, scratch, err));
    OK(uvmstate_remove_overlay(t, target, &undo, err));
    OK(uvmstate_check(t, err));
    assert_false(uvmstate_is_inconsistent(t));

    uvmstate_set_inconsistent(t, "unmount /run/gcs/c/aaaa/rootfs: device busy");
    uvmstate_set_inconsistent(t, "second cause is ignored");
    assert_true(uvmstate_is_inconsistent(t));
    const char *want = LATCHED ": unmount /run/gcs/c/aaaa/rootfs: device busy";
    FAILS(uvmstate_check(t, err), want);
    FAILS(uvmstate_add_rw(t, "/run/gcs/c/new", "/dev/sdc", false, err), want);
    FAILS(uvmstate_add_ro(t, "/run/mounts/scsi/m4", "/dev/sdd", err), want);
    FAILS(uvmstate_add_overlay(t, "/run/gcs/c/bbbb/rootfs", scsi_layers, 3, NULL, err), want);
    FAILS(uvmstate_remove_rw(t, scratch, scratch, true, err), want);
    FAILS(uvmstate_remove_ro(t, scsi_layers[0], scsi_layers[0], err), want);
    uvmstate_undo *none = (uvmstate_undo *)1;
    FAILS(uvmstate_remove_overlay(t, target, &none, err), want);
    assert_null(none);
    assert_int_equal(uvmstate_count(t), 4);

    /* rolling back a failed unmount still works, and so do the queries */
    OK(uvmstate_undo_apply(t, undo, err));
    assert_true(uvmstate_has_overlay_at(t, target));
    assert_true(uvmstate_is_encrypted(t, scratch));
    FAILS(uvmstate_remove_overlay(t, target, NULL, err), want);
    uvmstate_free(t);
}

/* ---- derived cases (deliberate differences from upstream) -------------- */

/* Upstream's "relative path starts with .." skips a child literally named
 * "..x"; separator-aware containment does not. */
static void derived_dotdot_name(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    OK(uvmstate_add_rw(t, "/run/gcs/c/enc", "/dev/sda", true, err));
    assert_true(uvmstate_is_encrypted(t, "/run/gcs/c/enc/..x"));
    assert_true(uvmstate_is_encrypted(t, "/run/gcs/c/enc/"));
    assert_false(uvmstate_is_encrypted(t, "/run/gcs/c/enc/.."));
    assert_false(uvmstate_is_encrypted(t, "/run/gcs/c/encx"));
    assert_false(uvmstate_is_encrypted(t, "run/gcs/c/enc/x")); /* relative */
    assert_false(uvmstate_is_encrypted(t, ""));
    uvmstate_free(t);
}

/* Upstream enters the overlay first, so a layer under its own target made it
 * use itself and it could never be removed. */
static void derived_layer_inside_target(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    const char *layers[] = {"/run/gcs/c/aaaa/rootfs/sub"};
    OK(uvmstate_add_rw(t, "/run/gcs/c/aaaa", "/dev/sda", false, err));
    OK(uvmstate_add_overlay(t, "/run/gcs/c/aaaa/rootfs", layers, 1, NULL, err));
    FAILS(uvmstate_remove_rw(t, "/run/gcs/c/aaaa", "/dev/sda", false, err), "still in use by 1");
    OK(uvmstate_remove_overlay(t, "/run/gcs/c/aaaa/rootfs", NULL, err));
    OK(uvmstate_remove_rw(t, "/run/gcs/c/aaaa", "/dev/sda", false, err));
    uvmstate_free(t);
}

/* A layer inside another overlay uses that overlay; an undo is refused when
 * its target was taken meanwhile. */
static void derived_overlay_uses_and_undo_conflict(void **state)
{
    (void)state;
    uvmstate *t = uvmstate_new();
    uvmstate_undo *undo = NULL;
    const char *inner[] = {"/run/gcs/c/o1/rootfs/layer"};

    OK(uvmstate_add_overlay(t, "/run/gcs/c/o1/rootfs", NULL, 0, NULL, err));
    OK(uvmstate_add_overlay(t, "/run/gcs/c/o2/rootfs", inner, 1, NULL, err));
    FAILS(uvmstate_remove_overlay(t, "/run/gcs/c/o1/rootfs", NULL, err), "still in use");
    FAILS(uvmstate_remove_ro(t, "/run/gcs/c/o1/rootfs", "/run/gcs/c/o1/rootfs", err), "wrong mount type RO");
    OK(uvmstate_remove_overlay(t, "/run/gcs/c/o2/rootfs", &undo, err));
    OK(uvmstate_add_ro(t, "/run/gcs/c/o2/rootfs", "/dev/sdx", err));
    FAILS(uvmstate_undo_apply(t, undo, err), "tracked there again");
    OK(uvmstate_undo_apply(t, NULL, err));
    OK(uvmstate_remove_overlay(t, "/run/gcs/c/o1/rootfs", NULL, err));
    assert_null(uvmstate_undo_free(NULL));
    assert_null(uvmstate_free(NULL));
    uvmstate_free(t);
}

#define CASE(name, fn, st) {name, fn, NULL, NULL, (void *)(st)}
#define ENC(name, i) {name, test_is_encrypted, enc_setup, enc_teardown, (void *)&enc_cases[i]}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ledger_user_of_overlay),
        cmocka_unit_test(ledger_unwind_newest_first),
        cmocka_unit_test(ledger_unwind_failure_keeps_entry),
        cmocka_unit_test(ledger_data_freed),
        cmocka_unit_test(case36_rw_add_remove),
        cmocka_unit_test(case37_rw_add_twice),
        cmocka_unit_test(case38_rw_remove_wrong_source),
        cmocka_unit_test(case39_rw_remove_wrong_encrypted),
        ENC("case40_encrypted_nested", 0),
        ENC("case41_encrypted_dotdot_back_in", 1),
        ENC("case42_not_encrypted_prefix_sibling", 2),
        ENC("case43_not_encrypted_parent", 3),
        ENC("case44_not_encrypted_dotdot_out", 4),
        ENC("case45_innermost_unencrypted_wins", 5),
        ENC("case46_encrypted_mount_path_itself", 6),
        cmocka_unit_test(case47_ro_add_remove),
        cmocka_unit_test(case48_ro_add_twice),
        cmocka_unit_test(case49_overlay_add_remove_undo),
        cmocka_unit_test(case50_devices_in_use_by_overlay),
        cmocka_unit_test(case51_overlays_sharing_devices),
        cmocka_unit_test(case52_overlay_add_dot_remove_clean),
        cmocka_unit_test(case53_overlay_add_clean_remove_dot),
        cmocka_unit_test(latch_blocks_every_change),
        cmocka_unit_test(derived_dotdot_name),
        cmocka_unit_test(derived_layer_inside_target),
        cmocka_unit_test(derived_overlay_uses_and_undo_conflict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
