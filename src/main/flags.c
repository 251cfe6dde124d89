#include "main/flags.h"

#include "bridge/proto.h"
#include "common/util.h"

#include <errno.h>
#include <stddef.h>

enum ftype { F_STR, F_BOOL, F_U64 };

typedef struct flag_def {
    const char *name;
    enum ftype type;
    size_t off;
    const char *help;
} flag_def;

#define FD(n, t, m, h) {n, t, offsetof(gcs_config, m), h}

static const flag_def defs[] = {
    FD("allowed-roots", F_STR, allowed_roots,
       "Colon-separated directories that host-supplied bundle, scratch and sandbox paths must lie under"),
    FD("cgroup-root", F_STR, cgroup_root, "Root of the cgroup filesystem the agent manages (tests point it at a fake tree)"),
    FD("chronyd", F_STR, chronyd,
       "The chronyd the time sync starts (a name looked up in PATH, or a path; tests give a wrapper)"),
    FD("core-dump-location", F_STR, core_dump_location,
       "The location/format where process core dumps will be written to (written to /proc/sys/kernel/core_pattern)."),
    FD("device-timeout-ms", F_U64, device_timeout_ms,
       "Milliseconds to wait for a device the host attached (SCSI disk, partition, device node, VPCI) to show up"),
    FD("dev-root", F_STR, dev_root, "Directory of device nodes (/dev; tests point it at a directory of their own)"),
    FD("dhcp-timeout", F_U64, dhcp_timeout,
       "Seconds a NIC the host added without an address waits for a DHCP lease (busybox udhcpc) before its setup fails"),
    FD("disable-time-sync", F_BOOL, disable_time_sync,
       "If true do not run chronyd time synchronization service inside the UVM"),
    FD("gcs-mem-limit-bytes", F_U64, gcs_mem_limit_bytes, "the maximum amount of memory the gcs can use"),
    FD("initial-policy-stance", F_STR, initial_policy_stance,
       "Stance: allow, deny. (deny: logs are discarded, as upstream; confidential policy is not implemented)"),
    FD("kmsgLogLevel", F_U64, kmsg_log_level,
       "Log all kmsg entries with a priority less than or equal to the supplied level."),
    FD("log-format", F_STR, log_format, "Logging Format: text or json"),
    FD("logfile", F_STR, logfile, "Logging Target: An optional file name/path. Omit for console output."),
    FD("loglevel", F_STR, loglevel, "Logging Level: debug, info, warning, error, fatal, panic."),
    FD("max-frame-bytes", F_U64, max_frame_bytes,
       "Largest host->guest bridge frame accepted; a bigger one drops the connection"),
    FD("root-mem-reserve-bytes", F_U64, root_mem_reserve_bytes,
       "the amount of memory reserved for the orchestration, the rest will be assigned to containers"),
    FD("runtime", F_STR, runtime, "OCI runtime binary (runc or crun, or a path)"),
    FD("runtime-no-pivot", F_BOOL, runtime_no_pivot,
       "Pass --no-pivot to the runtime's create, as upstream always does (an initramfs root cannot be pivoted "
       "away); -runtime-no-pivot=false lets the runtime pivot_root"),
    FD("runtime-timeout", F_U64, runtime_timeout,
       "Seconds one runtime invocation may take before it is killed and reported as failed"),
    FD("runtime-root", F_STR, runtime_root, "State directory passed to the runtime as --root (empty: the runtime's default)"),
    FD("scrub-logs", F_BOOL, scrub_logs, "If true, scrub potentially sensitive information from logging"),
    FD("sysfs-root", F_STR, sysfs_root,
       "Root of sysfs where VMBus, SCSI, PCI and network devices are looked up (tests point it at a fake tree)"),
    FD("transport", F_STR, transport,
       "Where the agent dials the host: vsock (CID 2), unix:DIR (sockets DIR/<port>, for tests and development) "
       "or serial:DEV|name=NAME[,tcp=IPV4][,ip=IPV4/N][,nic=IF] (a VM without vsock: bridge on virtio-serial, "
       "other ports over TCP). Default: vsock, or the gcs.devtransport= kernel parameter when present"),
    FD("use-inouterr", F_BOOL, use_inouterr,
       "If true use stdin/stdout for bridge communication and stderr for logging"),
    FD("v4", F_BOOL, v4, "enable the v4 protocol support and v2 schema"),
};

void gcs_config_defaults(gcs_config *c)
{
    memset(c, 0, sizeof(*c));
    c->loglevel = "debug";
    c->logfile = "";
    c->log_format = "text";
    c->root_mem_reserve_bytes = 75ull * 1024 * 1024;
    c->gcs_mem_limit_bytes = 50ull * 1024 * 1024;
    c->scrub_logs = true;
    c->initial_policy_stance = "allow";
    c->core_dump_location = "";
    c->kmsg_log_level = 4; /* kmsg Warning */
    c->transport = ""; /* vsock unless gcs.devtransport= (transport_default) */
    c->runtime = "runc";
    c->runtime_root = "";
    c->cgroup_root = "/sys/fs/cgroup";
    c->max_frame_bytes = MSG_MAX_IN_DEFAULT;
    c->allowed_roots = "/run/gcs:/run/mounts:/run/layers";
    c->sysfs_root = "/sys";
    c->dev_root = "/dev";
    c->chronyd = "chronyd";
    c->runtime_timeout = 120;
    c->dhcp_timeout = 30;
    c->runtime_no_pivot = true; /* internal/guest/runtime/runc/runc.go: create always passes --no-pivot */
    c->device_timeout_ms = 5000;
}

int flags_parse_bool(const char *s, bool *ret)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        if (strcmp(s, t[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcmp(s, f[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_u64(const char *s, uint64_t *ret)
{
    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

static void print_default(FILE *out, const flag_def *d)
{
    gcs_config def;
    gcs_config_defaults(&def);
    const char *base = (const char *)&def + d->off;
    switch (d->type) {
    case F_STR: {
        const char *v = *(const char *const *)base;
        if (v && *v)
            fprintf(out, " (default \"%s\")", v);
        break;
    }
    case F_BOOL:
        if (*(const bool *)base)
            fprintf(out, " (default true)");
        break;
    case F_U64: {
        uint64_t v = *(const uint64_t *)base;
        if (v)
            fprintf(out, " (default %llu)", (unsigned long long)v);
        break;
    }
    }
}

void gcs_flags_usage(FILE *out, const char *argv0)
{
    fprintf(out, "\nUsage of %s:\n", argv0);
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
        const flag_def *d = &defs[i];
        fprintf(out, "  -%s%s\n    \t%s", d->name, d->type == F_STR ? " string" : d->type == F_U64 ? " uint" : "",
                d->help);
        print_default(out, d);
        fputc('\n', out);
    }
    fprintf(out, "Examples:\n");
    fprintf(out, "    %s -v4 -loglevel=debug -logfile=/run/gcs/gcs.log\n", argv0);
    fprintf(out, "    %s -v4 -transport unix:/tmp/host -use-inouterr=false\n", argv0);
}

enum flags_result gcs_flags_parse(gcs_config *c, int argc, char **argv, FILE *err_out)
{
    const char *argv0 = argc > 0 ? argv[0] : "gcs";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            break; /* first non-flag argument: stop, as Go's flag package does */
        a++;
        if (a[0] == '-') {
            a++;
            if (a[0] == '\0')
                break; /* "--" terminates the flags */
        }
        if (a[0] == '-' || a[0] == '=') {
            fprintf(err_out, "bad flag syntax: %s\n", argv[i]);
            gcs_flags_usage(err_out, argv0);
            return FLAGS_ERROR;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if ((nlen == 1 && a[0] == 'h') || (nlen == 4 && strncmp(a, "help", 4) == 0)) {
            gcs_flags_usage(err_out, argv0);
            return FLAGS_HELP;
        }
        const flag_def *d = NULL;
        for (size_t k = 0; k < ARRAY_SIZE(defs); k++)
            if (strlen(defs[k].name) == nlen && strncmp(defs[k].name, a, nlen) == 0)
                d = &defs[k];
        if (!d) {
            fprintf(err_out, "flag provided but not defined: -%.*s\n", (int)nlen, a);
            gcs_flags_usage(err_out, argv0);
            return FLAGS_ERROR;
        }
        char *base = (char *)c + d->off;
        const char *val = eq ? eq + 1 : NULL;
        if (d->type == F_BOOL) {
            bool b = true;
            if (val && flags_parse_bool(val, &b) < 0) {
                fprintf(err_out, "invalid boolean value \"%s\" for -%s: parse error\n", val, d->name);
                gcs_flags_usage(err_out, argv0);
                return FLAGS_ERROR;
            }
            *(bool *)base = b;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(err_out, "flag needs an argument: -%s\n", d->name);
                gcs_flags_usage(err_out, argv0);
                return FLAGS_ERROR;
            }
            val = argv[++i];
        }
        if (d->type == F_STR) {
            *(const char **)base = val;
        } else if (parse_u64(val, (uint64_t *)base) < 0) {
            fprintf(err_out, "invalid value \"%s\" for flag -%s: parse error\n", val, d->name);
            gcs_flags_usage(err_out, argv0);
            return FLAGS_ERROR;
        }
    }
    return FLAGS_OK;
}
