/* verity.h — hcsshim's dm-verity layout on a read-only ext4 layer
 * (docs/architecture.md, "Device-mapper"; upstream internal/verity/verity.go,
 * ext4/dmverity/dmverity.go, internal/guest/storage/devicemapper/targets.go).
 *
 * The device holds the ext4 file system, then one 4096-byte block with the
 * dm-verity superblock, then the hash tree (what `veritysetup format
 * --hash-offset=<ext4 size>` on the same device writes, and what hcsshim's
 * tar2ext4 -vhd appends). The ext4 size is s_blocks_count_lo blocks of
 * 1024 << s_log_block_size bytes (the high half ignored, as upstream).
 *
 * The root digest is NOT read from the device here: it is the host's (the
 * VerityInfo it sends), so a device whose hash tree was rewritten does not
 * vouch for itself. The superblock gives the layout, checked against what
 * the host says. */
#pragma once

#include "dm/dm.h"

#include <stdint.h>

#define DM_VERITY_SB_BLOCK 4096u
#define DM_VERITY_SALT_MAX 256u

typedef struct dm_verity_sb {
    uint32_t version;
    uint32_t hash_type;
    char algorithm[33];
    uint32_t data_block_size;
    uint32_t hash_block_size;
    uint64_t data_blocks;
    uint16_t salt_size;
    char salt_hex[2 * DM_VERITY_SALT_MAX + 1];
} dm_verity_sb;

/* What the host's VerityInfo says (zero / NULL fields: not given). */
typedef struct dm_verity_host {
    int64_t ext4_size;
    int64_t version;
    const char *algorithm;
    bool superblock;
    const char *root_digest;
    const char *salt;
    int64_t block_size;
} dm_verity_host;

/* ext4 probe: the superblock at byte 1024 of buf (at least 2048 bytes);
 * -EINVAL when s_magic is not 0xEF53. */
int dm_ext4_size(const uint8_t *buf, size_t len, uint64_t *size, uint32_t *block_size, gcs_err *err);
/* Decode a dm-verity superblock (DM_VERITY_SB_BLOCK bytes); -EINVAL on a
 * bad signature or values dm-verity would refuse. */
int dm_verity_sb_parse(const uint8_t *buf, size_t len, dm_verity_sb *sb, gcs_err *err);

/* Read the layout of the device at path: the ext4 size (*data_size) and the
 * verity superblock that follows it. */
int dm_verity_read(const char *path, uint64_t *data_size, dm_verity_sb *sb, gcs_err *err);

/* The verity target over dev (data and hash on dev, hash tree one block
 * after the ext4 data), from the device's layout and the host's info:
 * fields the host gave must match the superblock; its RootDigest (hex,
 * even length) is required. *params to free. */
int dm_verity_target(const char *dev, uint64_t data_size, const dm_verity_sb *sb, const dm_verity_host *host,
                     dm_target *t, char **params, gcs_err *err);
