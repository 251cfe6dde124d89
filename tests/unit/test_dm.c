/* Unit tests for src/dm: the DM_TABLE_LOAD payload, the linear and verity
 * targets (upstream internal/guest/storage/devicemapper/targets.go), the
 * ext4 and dm-verity superblocks (ext4/dmverity/dmverity_test.go's cases:
 * short read, bad signature) and a kernel without device-mapper. The
 * ioctls themselves run in the utility VM (tests/uvm/test_uvm_storage.py):
 * this machine's kernel has no device-mapper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dm/dm.h"
#include "dm/verity.h"

#include <errno.h>
#include <linux/dm-ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static void test_pack_two_targets(void **state)
{
    (void)state;
    dm_target t[2] = {{0, 8, "linear", "/dev/pmem0 16"}, {8, 100, "zero", NULL}};
    _Alignas(8) uint8_t buf[512];
    gcs_err err = GCS_ERR_INIT;
    long n = dm_pack_targets(t, 2, buf, sizeof(buf), &err);
    size_t rec0 = sizeof(struct dm_target_spec) + 16; /* "/dev/pmem0 16\0" padded to 16 */
    size_t rec1 = sizeof(struct dm_target_spec) + 8;  /* "\0" padded to 8 */
    assert_int_equal(n, (long)(rec0 + rec1));
    const struct dm_target_spec *s0 = (const void *)buf;
    assert_int_equal(s0->sector_start, 0);
    assert_int_equal(s0->length, 8);
    assert_int_equal(s0->next, rec0);
    assert_string_equal(s0->target_type, "linear");
    assert_string_equal((const char *)(s0 + 1), "/dev/pmem0 16");
    const struct dm_target_spec *s1 = (const void *)(buf + rec0);
    assert_int_equal(s1->sector_start, 8);
    assert_int_equal(s1->length, 100);
    assert_string_equal(s1->target_type, "zero");
    assert_string_equal((const char *)(s1 + 1), "");
    assert_int_equal(rec0 % 8, 0);
    err_clear(&err);
}

static void test_pack_errors(void **state)
{
    (void)state;
    _Alignas(8) uint8_t buf[256];
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(dm_pack_targets(NULL, 0, buf, sizeof(buf), &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "at least one target"));
    dm_target overlap[2] = {{0, 8, "linear", "a 0"}, {4, 8, "linear", "b 0"}};
    assert_int_equal(dm_pack_targets(overlap, 2, buf, sizeof(buf), &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "overlaps"));
    dm_target longtype = {0, 8, "a-type-name-too-long", ""};
    assert_int_equal(dm_pack_targets(&longtype, 1, buf, sizeof(buf), &err), -EINVAL);
    dm_target zero = {0, 0, "linear", "a 0"};
    assert_int_equal(dm_pack_targets(&zero, 1, buf, sizeof(buf), &err), -EINVAL);
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    dm_target huge = {0, 8, "linear", big};
    assert_int_equal(dm_pack_targets(&huge, 1, buf, sizeof(buf), &err), -ENOSPC);
    err_clear(&err);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(dm_name_valid("dm-linear-pmem0-0-1024"));
    assert_false(dm_name_valid(""));
    assert_false(dm_name_valid(NULL));
    assert_false(dm_name_valid("a/b"));
    assert_false(dm_name_valid(".."));
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(dm_name_valid(longname));
    assert_true(dm_create_retryable(-EBUSY));
    assert_true(dm_create_retryable(-ENXIO));
    assert_false(dm_create_retryable(-EACCES));
}

/* upstream's pmem_test: name dm-linear-pmem0-0-1024, table 0 2 linear /dev/pmem0 0 */
static void test_linear_target(void **state)
{
    (void)state;
    dm_target t;
    char *params = NULL;
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(dm_linear_target("/dev/pmem0", 0, 1024, &t, &params, &err), 0);
    assert_int_equal(t.start, 0);
    assert_int_equal(t.length, 2);
    assert_string_equal(t.type, "linear");
    assert_string_equal(t.params, "/dev/pmem0 0");
    free(params);
    assert_int_equal(dm_linear_target("/dev/pmem3", 8392704, 4096, &t, &params, &err), 0);
    assert_string_equal(t.params, "/dev/pmem3 16392");
    assert_int_equal(t.length, 8);
    free(params);
    assert_int_equal(dm_linear_target("/dev/pmem0", 100, 1024, &t, &params, &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "multiples of 512"));
    assert_int_equal(dm_linear_target("/dev/pmem0", 0, 0, &t, &params, &err), -EINVAL);
    err_clear(&err);
}

static void make_ext4_sb(uint8_t *buf, uint32_t log_bs, uint32_t blocks)
{
    memset(buf, 0, 2048);
    put32(buf + 1024 + 0x04, blocks);
    put32(buf + 1024 + 0x18, log_bs);
    buf[1024 + 0x38] = 0x53;
    buf[1024 + 0x39] = 0xEF;
}

static void test_ext4_size(void **state)
{
    (void)state;
    uint8_t buf[2048];
    uint64_t size;
    uint32_t bs;
    gcs_err err = GCS_ERR_INIT;
    make_ext4_sb(buf, 2, 256);
    assert_int_equal(dm_ext4_size(buf, sizeof(buf), &size, &bs, &err), 0);
    assert_int_equal(bs, 4096);
    assert_int_equal(size, 1048576);
    assert_int_equal(dm_ext4_size(buf, 1500, &size, &bs, &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "short read"));
    buf[1024 + 0x38] = 0;
    assert_int_equal(dm_ext4_size(buf, sizeof(buf), &size, &bs, &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "not an ext4"));
    err_clear(&err);
}

static void make_verity_sb(uint8_t *b, uint64_t data_blocks)
{
    memset(b, 0, DM_VERITY_SB_BLOCK);
    memcpy(b, "verity\0\0", 8);
    put32(b + 8, 1);
    put32(b + 12, 1);
    memcpy(b + 32, "sha256", 6);
    put32(b + 64, 4096);
    put32(b + 68, 4096);
    put64(b + 72, data_blocks);
    b[80] = 4; /* salt size */
    b[88] = 0xde;
    b[89] = 0xad;
    b[90] = 0xbe;
    b[91] = 0xef;
}

static void test_verity_sb(void **state)
{
    (void)state;
    uint8_t b[DM_VERITY_SB_BLOCK];
    dm_verity_sb sb;
    gcs_err err = GCS_ERR_INIT;
    make_verity_sb(b, 256);
    assert_int_equal(dm_verity_sb_parse(b, sizeof(b), &sb, &err), 0);
    assert_int_equal(sb.version, 1);
    assert_int_equal(sb.hash_type, 1);
    assert_string_equal(sb.algorithm, "sha256");
    assert_int_equal(sb.data_block_size, 4096);
    assert_int_equal(sb.data_blocks, 256);
    assert_string_equal(sb.salt_hex, "deadbeef");
    /* dmverity_test: short read, bad signature */
    assert_int_equal(dm_verity_sb_parse(b, 100, &sb, &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "short read"));
    b[0] = 'V';
    assert_int_equal(dm_verity_sb_parse(b, sizeof(b), &sb, &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "invalid dm-verity super-block signature"));
    make_verity_sb(b, 256);
    put32(b + 64, 3000);
    assert_int_equal(dm_verity_sb_parse(b, sizeof(b), &sb, &err), -EINVAL);
    make_verity_sb(b, 256);
    b[80] = 0xff;
    b[81] = 0x01; /* 511 */
    assert_int_equal(dm_verity_sb_parse(b, sizeof(b), &sb, &err), -EINVAL);
    make_verity_sb(b, 256);
    memcpy(b + 32, "sha 256", 7);
    assert_int_equal(dm_verity_sb_parse(b, sizeof(b), &sb, &err), -EINVAL);
    err_clear(&err);
}

static void test_verity_target(void **state)
{
    (void)state;
    uint8_t b[DM_VERITY_SB_BLOCK];
    dm_verity_sb sb;
    gcs_err err = GCS_ERR_INIT;
    make_verity_sb(b, 256);
    assert_int_equal(dm_verity_sb_parse(b, sizeof(b), &sb, &err), 0);
    dm_verity_host host = {.root_digest = "ab12", .ext4_size = 1048576, .block_size = 4096, .version = 1,
                           .algorithm = "sha256", .salt = "DEADBEEF", .superblock = true};
    dm_target t;
    char *params = NULL;
    assert_int_equal(dm_verity_target("/dev/mapper/x", 1048576, &sb, &host, &t, &params, &err), 0);
    /* upstream's table: version, data and hash device the same, blocks,
     * hash start one block after the data (the superblock) */
    assert_string_equal(params, "1 /dev/mapper/x /dev/mapper/x 4096 4096 256 257 sha256 ab12 deadbeef");
    assert_int_equal(t.length, 2048);
    assert_string_equal(t.type, "verity");
    free(params);
    /* what the host says must match the device */
    dm_verity_host wrong = host;
    wrong.salt = "00";
    assert_int_equal(dm_verity_target("/dev/x", 1048576, &sb, &wrong, &t, &params, &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "VerityInfo.Salt does not match"));
    wrong = host;
    wrong.ext4_size = 4096;
    assert_int_equal(dm_verity_target("/dev/x", 1048576, &sb, &wrong, &t, &params, &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "Ext4SizeInBytes"));
    wrong = host;
    wrong.root_digest = NULL;
    assert_int_equal(dm_verity_target("/dev/x", 1048576, &sb, &wrong, &t, &params, &err), -EINVAL);
    assert_non_null(strstr(err_msg(&err), "RootDigest"));
    wrong.root_digest = "xyz1";
    assert_int_equal(dm_verity_target("/dev/x", 1048576, &sb, &wrong, &t, &params, &err), -EINVAL);
    /* the superblock must cover the file system */
    assert_int_equal(dm_verity_target("/dev/x", 2 * 1048576, &sb, &(dm_verity_host){.root_digest = "ab"}, &t,
                                      &params, &err),
                     -EINVAL);
    assert_non_null(strstr(err_msg(&err), "covers 256 blocks"));
    /* no salt: "-" */
    make_verity_sb(b, 256);
    b[80] = 0;
    assert_int_equal(dm_verity_sb_parse(b, sizeof(b), &sb, &err), 0);
    assert_int_equal(dm_verity_target("/dev/x", 1048576, &sb, &(dm_verity_host){.root_digest = "ab"}, &t, &params,
                                      &err),
                     0);
    assert_non_null(strstr(params, " sha256 ab -"));
    free(params);
    err_clear(&err);
}

/* dm_verity_read on a file laid out as hcsshim does */
static void test_verity_read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/gcs-dm-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t ext4[2048], vsb[DM_VERITY_SB_BLOCK];
    make_ext4_sb(ext4, 2, 4);
    make_verity_sb(vsb, 4);
    assert_int_equal(pwrite(fd, ext4, sizeof(ext4), 0), (ssize_t)sizeof(ext4));
    assert_int_equal(pwrite(fd, vsb, sizeof(vsb), 16384), (ssize_t)sizeof(vsb));
    close(fd);
    uint64_t size = 0;
    dm_verity_sb sb;
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(dm_verity_read(path, &size, &sb, &err), 0);
    assert_int_equal(size, 16384);
    assert_int_equal(sb.data_blocks, 4);
    /* no superblock after the data */
    assert_int_equal(truncate(path, 16384), 0);
    assert_true(dm_verity_read(path, &size, &sb, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "short read of the dm-verity superblock"));
    unlink(path);
    assert_true(dm_verity_read(path, &size, &sb, &err) < 0);
    err_clear(&err);
}

/* This machine has no device-mapper; a -dev-root without a control node is
 * the same answer: a clear error, nothing crashes. */
static void test_open_without_dm(void **state)
{
    (void)state;
    char dir[] = "/tmp/gcs-dm-root-XXXXXX";
    assert_non_null(mkdtemp(dir));
    dm *d = NULL;
    gcs_err err = GCS_ERR_INIT;
    assert_true(dm_open(dir, &d, &err) < 0);
    assert_null(d);
    assert_non_null(strstr(err_msg(&err), "device-mapper is not available"));
    err_clear(&err);
    /* the machine's own control node, when there is one and no dm_mod */
    struct stat st;
    if (stat("/dev/mapper/control", &st) == 0 && dm_open(NULL, &d, &err) < 0)
        assert_non_null(strstr(err_msg(&err), "device-mapper"));
    d = dm_close(d);
    err_clear(&err);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_two_targets), cmocka_unit_test(test_pack_errors),
        cmocka_unit_test(test_names),            cmocka_unit_test(test_linear_target),
        cmocka_unit_test(test_ext4_size),        cmocka_unit_test(test_verity_sb),
        cmocka_unit_test(test_verity_target),    cmocka_unit_test(test_verity_read_file),
        cmocka_unit_test(test_open_without_dm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
