/* flags.h — the agent's command line, Go flag style: -flag value,
 * -flag=value and --flag are all accepted; bool flags take no separate
 * value (-flag, -flag=false). Parsing stops at "--" or the first argument
 * that is not a flag. Same names and defaults as the reference GCS, plus
 * -transport, -runtime, -runtime-root, -cgroup-root, -sysfs-root and -dev-root. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct gcs_config {
    const char *loglevel;
    const char *logfile;
    const char *log_format;
    bool use_inouterr;
    bool v4;
    uint64_t root_mem_reserve_bytes;
    uint64_t gcs_mem_limit_bytes;
    bool disable_time_sync;
    bool scrub_logs;
    const char *initial_policy_stance;
    const char *core_dump_location;
    uint64_t kmsg_log_level;
    const char *transport;
    const char *runtime;
    const char *runtime_root;
    const char *cgroup_root;
    uint64_t max_frame_bytes;
    const char *allowed_roots;
    bool runtime_no_pivot;
    uint64_t runtime_timeout;
    /* Where devices are found: sysfs (VMBus, SCSI hosts, PCI, NICs) and
     * device nodes. Tests point them at a fake sysfs tree and a directory of
     * device nodes (loop devices standing in for SCSI disks and pmem). */
    const char *sysfs_root;
    const char *dev_root;
    /* Seconds a NIC without an address may wait for a DHCP lease. */
    uint64_t dhcp_timeout;
    /* The time sync daemon (a name looked up in PATH, or a path). */
    const char *chronyd;
    /* How long a device the host attached may take to show up. */
    uint64_t device_timeout_ms;
} gcs_config;

void gcs_config_defaults(gcs_config *c);

enum flags_result { FLAGS_OK = 0, FLAGS_HELP = 1, FLAGS_ERROR = 2 };
/* Parses argv into c. On FLAGS_ERROR a message and the usage went to err_out;
 * on FLAGS_HELP the usage went to err_out (Go prints usage on stderr). */
enum flags_result gcs_flags_parse(gcs_config *c, int argc, char **argv, FILE *err_out);
void gcs_flags_usage(FILE *out, const char *argv0);
/* Go's strconv.ParseBool set. */
int flags_parse_bool(const char *s, bool *ret);
