/* libFuzzer: what gcs reads from a layer device before trusting it — the
 * ext4 superblock size and the dm-verity superblock (dm/verity.h) — and the
 * verity table built from them. The device's bytes come from the host.
 * Asserts: a failure sets the error and returns -EINVAL; a parsed
 * superblock has sane block sizes and a hex salt of salt_size bytes; a
 * built table covers exactly the ext4 data and names the digest. */
#include "dm/verity.h"

#include "fuzz_input.h"

#include <errno.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gcs_err err = GCS_ERR_INIT;
    uint64_t ext4 = 0;
    uint32_t bs = 0;
    int r = dm_ext4_size(data, size, &ext4, &bs, &err);
    FUZZ_CHECK(r == 0 || (r == -EINVAL && err_isset(&err)), "ext4 size: %d", r);
    if (r == 0)
        FUZZ_CHECK(bs >= 1024 && bs <= 65536 && ext4 % bs == 0, "ext4 block size %u, size %llu", bs,
                   (unsigned long long)ext4);
    err_clear(&err);
    /* the verity superblock: at 2048 when the input is long enough, so one
     * input drives both */
    const uint8_t *vb = size > 2048 ? data + 2048 : data;
    size_t vn = size > 2048 ? size - 2048 : size;
    dm_verity_sb sb;
    r = dm_verity_sb_parse(vb, vn, &sb, &err);
    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL && err_isset(&err), "verity sb: %d", r);
        err_clear(&err);
        return 0;
    }
    FUZZ_CHECK(strlen(sb.salt_hex) == 2u * sb.salt_size, "salt hex of %zu chars for %u bytes", strlen(sb.salt_hex),
               sb.salt_size);
    FUZZ_CHECK(sb.data_block_size >= 512 && (sb.data_block_size & (sb.data_block_size - 1)) == 0, "block size %u",
               sb.data_block_size);
    uint64_t data_size = sb.data_blocks <= UINT64_MAX / sb.data_block_size ? sb.data_blocks * sb.data_block_size : 0;
    dm_verity_host host = {.root_digest = "00ff"};
    dm_target t;
    char *params = NULL;
    r = dm_verity_target("/dev/x", data_size, &sb, &host, &t, &params, &err);
    if (r == 0) {
        FUZZ_CHECK(t.length * DM_SECTOR == data_size, "table length %llu for %llu bytes",
                   (unsigned long long)t.length, (unsigned long long)data_size);
        FUZZ_CHECK(strstr(params, " 00ff ") != NULL, "digest missing: %s", params);
        free(params);
    } else {
        FUZZ_CHECK(err_isset(&err), "verity target failed without an error");
    }
    err_clear(&err);
    return 0;
}
