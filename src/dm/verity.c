/* verity.c — hcsshim's dm-verity layout (verity.h). */
#include "dm/verity.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static int inval(gcs_err *err, const char *msg, const char *what)
{
    err_set(err, HR_E_FAIL, "%s%s", msg, what ? what : "");
    return -EINVAL;
}

int dm_ext4_size(const uint8_t *buf, size_t len, uint64_t *size, uint32_t *block_size, gcs_err *err)
{
    if (len < 2048)
        return inval(err, "short read of the ext4 superblock", NULL);
    const uint8_t *sb = buf + 1024;
    if (le16(sb + 0x38) != 0xEF53)
        return inval(err, "not an ext4 file system (no superblock magic)", NULL);
    uint32_t log = le32(sb + 0x18);
    if (log > 6) /* 64 KiB blocks at most */
        return inval(err, "ext4 superblock: bad block size", NULL);
    *block_size = 1024u << log;
    *size = (uint64_t)*block_size * le32(sb + 0x04);
    return 0;
}

static bool pow2_in(uint32_t v, uint32_t lo, uint32_t hi) { return v >= lo && v <= hi && (v & (v - 1)) == 0; }

int dm_verity_sb_parse(const uint8_t *buf, size_t len, dm_verity_sb *sb, gcs_err *err)
{
    memset(sb, 0, sizeof(*sb));
    if (len < 512)
        return inval(err, "short read of the dm-verity superblock", NULL);
    char sig[9] = {0};
    memcpy(sig, buf, 8);
    if (strcmp(sig, "verity") != 0)
        return inval(err, "invalid dm-verity super-block signature", NULL);
    sb->version = le32(buf + 8);
    sb->hash_type = le32(buf + 12);
    memcpy(sb->algorithm, buf + 32, 32);
    sb->algorithm[32] = '\0';
    sb->data_block_size = le32(buf + 64);
    sb->hash_block_size = le32(buf + 68);
    sb->data_blocks = le64(buf + 72);
    sb->salt_size = le16(buf + 80);
    if (sb->hash_type > 1)
        return inval(err, "dm-verity superblock: unknown hash type", NULL);
    if (!*sb->algorithm)
        return inval(err, "dm-verity superblock: no hash algorithm", NULL);
    for (const char *p = sb->algorithm; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return inval(err, "dm-verity superblock: bad hash algorithm name", NULL);
    if (!pow2_in(sb->data_block_size, 512, 1u << 20) || !pow2_in(sb->hash_block_size, 512, 1u << 20))
        return inval(err, "dm-verity superblock: bad block size", NULL);
    if (sb->data_blocks == 0)
        return inval(err, "dm-verity superblock: no data blocks", NULL);
    if (sb->salt_size > DM_VERITY_SALT_MAX)
        return inval(err, "dm-verity superblock: salt too long", NULL);
    for (unsigned i = 0; i < sb->salt_size; i++)
        snprintf(sb->salt_hex + 2 * i, 3, "%02x", buf[88 + i]);
    return 0;
}

int dm_verity_read(const char *path, uint64_t *data_size, dm_verity_sb *sb, gcs_err *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "open %s", path);
    uint8_t buf[DM_VERITY_SB_BLOCK];
    ssize_t n = pread(fd, buf, 2048, 0);
    if (n < 0)
        return err_errno(err, HR_E_FAIL, errno, "read %s", path);
    uint32_t bs;
    int r = dm_ext4_size(buf, (size_t)n, data_size, &bs, err);
    if (r < 0)
        return err_wrap(err, r, "%s", path);
    n = pread(fd, buf, sizeof(buf), (off_t)*data_size);
    if (n < 0)
        return err_errno(err, HR_E_FAIL, errno, "read the dm-verity superblock of %s at %llu", path,
                         (unsigned long long)*data_size);
    if ((r = dm_verity_sb_parse(buf, (size_t)n, sb, err)) < 0)
        return err_wrap(err, r, "%s at byte %llu", path, (unsigned long long)*data_size);
    return 0;
}

static bool hex_even(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n % 2)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

int dm_verity_target(const char *dev, uint64_t data_size, const dm_verity_sb *sb, const dm_verity_host *host,
                     dm_target *t, char **params, gcs_err *err)
{
    if (str_empty(host->root_digest) || !hex_even(host->root_digest) || strlen(host->root_digest) > 128)
        return err_set(err, HR_E_INVALIDARG, "VerityInfo: RootDigest must be a hex digest"), -EINVAL;
    if (data_size == 0 || data_size % sb->data_block_size || data_size % DM_SECTOR)
        return err_set(err, HR_E_FAIL, "dm-verity: ext4 size %llu is not a whole number of %u-byte blocks",
                       (unsigned long long)data_size, sb->data_block_size),
               -EINVAL;
    if (sb->data_blocks != data_size / sb->data_block_size)
        return err_set(err, HR_E_FAIL, "dm-verity superblock covers %llu blocks, the ext4 file system %llu",
                       (unsigned long long)sb->data_blocks, (unsigned long long)(data_size / sb->data_block_size)),
               -EINVAL;
    if (data_size % sb->hash_block_size)
        return err_set(err, HR_E_FAIL, "dm-verity: ext4 size %llu is not a whole number of %u-byte hash blocks",
                       (unsigned long long)data_size, sb->hash_block_size),
               -EINVAL;
    /* what the host says must be what the device holds */
    const char *mismatch = NULL;
    if (host->ext4_size && (uint64_t)host->ext4_size != data_size)
        mismatch = "Ext4SizeInBytes";
    else if (host->block_size && (uint64_t)host->block_size != sb->data_block_size)
        mismatch = "BlockSize";
    else if (host->version && (uint64_t)host->version != sb->version)
        mismatch = "Version";
    else if (!str_empty(host->algorithm) && strcasecmp(host->algorithm, sb->algorithm) != 0)
        mismatch = "Algorithm";
    else if (!str_empty(host->salt) && strcasecmp(host->salt, sb->salt_hex) != 0)
        mismatch = "Salt";
    if (mismatch)
        return err_set(err, HR_E_FAIL, "VerityInfo.%s does not match the dm-verity superblock on %s", mismatch, dev),
               -EINVAL;
    /* the hash tree starts one hash block after the superblock's offset;
     * the superblock sits at data_size, which is hash-block aligned */
    uint64_t hash_start = data_size / sb->hash_block_size + 1;
    *params = xasprintf("%u %s %s %u %u %llu %llu %s %s %s", sb->hash_type, dev, dev, sb->data_block_size,
                        sb->hash_block_size, (unsigned long long)sb->data_blocks, (unsigned long long)hash_start,
                        sb->algorithm, host->root_digest, sb->salt_size ? sb->salt_hex : "-");
    *t = (dm_target){0, data_size / DM_SECTOR, "verity", *params};
    return 0;
}
