/* gcsctl — the host side of the gcs bridge, for people and tests.
 *
 * It listens on DIR/1073741824 (gcs -transport unix:DIR dials there), waits
 * for the agent, negotiates, runs one command, prints the result and exits;
 * the agent then re-dials and the next gcsctl gets it. Each command lives in
 * a cmd_*.c file and is one row of the table below. */
#include "gcsctl/gcsctl.h"

#include "bridge/proto.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>

static const ctl_cmd COMMANDS[] = {
    {"negotiate", 0, "negotiate", "Negotiate and print the agent's capabilities as JSON.", cmd_negotiate},
    {"raw", 2, "raw TYPE JSON",
     "Send one request and print the response payload as JSON. TYPE is a message name\n"
     "(WaitForProcess, ...) or a number (0x10100601). Exit code 1 if Result is not 0.",
     cmd_raw},
    {"modify", 1, "modify [--container ID] [--settings JSON|@FILE] TYPE [REQUEST]",
     "ModifySettings: one resource of TYPE (CombinedLayers, MappedVirtualDisk, Network, ...) with\n"
     "REQUEST (default Add) on the VM, or on a container with --container. Settings inline or @FILE.\n"
     "Example: gcsctl modify --settings '{\"ContainerRootPath\":\"/run/gcs/c/w1/rootfs\",\n"
     "         \"Layers\":[{\"Path\":\"/run/layers/l1\"}],\"ScratchPath\":\"/run/gcs/c/w1/scratch\"}' CombinedLayers",
     cmd_modify},
    {"scsi", 2,
     "scsi add|remove [--controller N] [--partition P] [--read-only] [--block-dev] [--ensure-fs ext4|xfs]\n"
     "                  [--fs TYPE] [--encrypted] [--option OPT]... LUN [PATH]\n"
     "       gcsctl scsi unplug [--controller N] LUN",
     "A SCSI disk the host attached (MappedVirtualDisk): add mounts it at PATH (or, without PATH, only\n"
     "waits for it), remove takes PATH off; unplug deletes the disk from the VM (SCSIDevice Remove).\n"
     "  --controller N       Hyper-V SCSI controller index 0-3 (default 0)\n"
     "  --partition P        partition P of the disk (default 0: the whole disk)\n"
     "  --read-only          mount read-only\n"
     "  --block-dev          PATH becomes a symlink to the device node instead of a mount\n"
     "  --ensure-fs FS       format with FS (ext4 or xfs) unless the disk already holds it\n"
     "  --fs TYPE            the filesystem type to mount (default: what the disk holds)\n"
     "  --encrypted          dm-crypt with an ephemeral key (the contents are lost)\n"
     "  --option OPT         repeatable; only propagation options (rshared, private, ...) take effect\n"
     "Example: gcsctl scsi add --ensure-fs ext4 1 /run/mounts/scsi/m1",
     cmd_scsi},
    {"pmem", 3, "pmem add|remove [--offset B --size B] [--verity-digest HEX [--verity-salt HEX]] N MOUNTPATH",
     "A read-only ext4 layer on /dev/pmem<N> (VPMemDevice), mounted at MOUNTPATH\n"
     "(hcsshim: /run/layers/p<N>, or /run/layers/p<N>-<offset>-<size> when mapped).\n"
     "  --offset, --size     map that part of the device with dm-linear (MappingInfo)\n"
     "  --verity-digest HEX  dm-verity over it with this root digest (VerityInfo; the\n"
     "                       superblock and hash tree follow the ext4 data)\n"
     "Example: gcsctl pmem add --size 8392704 0 /run/layers/p0-0-8392704",
     cmd_pmem},
    {"plan9", 2, "plan9 add|remove [--port P] [--read-only] MOUNTPATH [SHARE]",
     "A host directory over Plan 9 (MappedDirectory): the agent dials the host's port P\n"
     "(default 564) and mounts 9p with aname=SHARE at MOUNTPATH.\n"
     "Example: gcsctl plan9 add --read-only /run/mounts/plan9/1 1",
     cmd_plan9},
    {"nic", 3,
     "nic add|remove NAMESPACE-ID ADAPTER-ID [--ip A/LEN]... [--gateway GW] [--route DST[,VIA[,METRIC]]]...\n"
     "       [--dns-suffix S1,S2] [--dns SRV1,SRV2] [--encap-overhead N] [--vpci] [--policy-based-routing]",
     "ModifySettings Network: add a NIC (the VMBus instance ID ADAPTER-ID, found under the agent's\n"
     "-sysfs-root) to the network namespace entry NAMESPACE-ID, or remove it. Without --ip the NIC\n"
     "asks DHCP. The sandbox that names NAMESPACE-ID (create --netns ID --no-skip-networking) gets it.\n"
     "Example: gcsctl nic add 6f1c... 5f0b... --ip 10.1.2.3/24 --gateway 10.1.2.1 --dns 10.0.0.10",
     cmd_nic},
    {"create", 1,
     "create ID --settings FILE\n"
     "       gcsctl create ID --kind sandbox|workload|standalone [--sandbox SID] [--vpid VPID] --rootfs DIR\n"
     "                     [--bundle DIR] [--hostname H] [--memory BYTES] [--netns GUID]\n"
     "                     [--skip-networking | --no-skip-networking] [--terminal] [-- ARGS...]",
     "Create a container (CreateContainer).\n"
     "  --settings FILE      the container document (SchemaVersion, OciBundlePath, OciSpecification,\n"
     "                       ScratchDirPath) as JSON; \"-\" reads stdin\n"
     "  --kind KIND          build the spec here instead: sandbox, workload or standalone\n"
     "  --sandbox SID        the pod a workload joins (io.kubernetes.cri.sandbox-id)\n"
     "  --vpid VPID          virtual pod id (io.microsoft.cri.virtual-pod-id); a virtual pod's sandbox has ID == VPID\n"
     "  --rootfs DIR         root filesystem (mounted read-only; see make-rootfs)\n"
     "  --bundle DIR         bundle directory (default /run/gcs/c/ID)\n"
     "  --hostname H         the sandbox's hostname\n"
     "  --memory BYTES       linux.resources.memory.limit\n"
     "  --netns GUID         windows.network.networkNamespace (default: a fresh GUID for sandboxes)\n"
     "  --skip-networking    io.microsoft.cri.skip-pod-networking=true (the default for sandboxes, as NIC\n"
     "                       configuration is not implemented yet); --no-skip-networking leaves it out\n"
     "  --terminal           process.terminal=true (start it with -t)\n"
     "  -- ARGS...           the init process (default: /bin/sh -c 'while :; do sleep 3600; done')",
     cmd_create},
    {"delete", 1, "delete ID", "Delete a container's state (DeleteContainerState).", cmd_delete},
    {"list", 0, "list [--json]",
     "List the agent's pods and containers (from DumpStacks).\n"
     "  --json               print {\"pods\": [...], \"containers\": [...]} instead of tables",
     cmd_list},
    {"dump", 0, "dump", "Print the agent's DumpStacks text.", cmd_dump},
    {"start", 1, "start ID [-i] [-t] [-d] [--away-ms MS]",
     "Start the container's init process (ExecuteProcess) with its output on gcsctl's, wait for it\n"
     "and exit with its exit code (1 if that is 256 or more).\n"
     "  -i, --interactive    also relay gcsctl's stdin (half-closed at EOF)\n"
     "  -t, --tty            the container has a terminal (process.terminal; detected from its bundle when\n"
     "                       this host can read it): raw local terminal, SIGWINCH sent as ResizeConsole\n"
     "  -d, --detach         no stdio: print the pid and exit 0\n"
     "  --away-ms MS         on SIGUSR1 play a host swap (live migration): drop the bridge and the stdio\n"
     "                       connections, stay away MS ms, take them back when the agent re-dials and\n"
     "                       print on without a gap (the replayed region is matched, not printed twice)",
     cmd_start},
    {"exec", 1, "exec ID [-i] [-t] [--user UID[:GID]] [--cwd DIR] [--env K=V]... -- ARGS...",
     "Run another process in a container, attached; exit with its exit code.\n"
     "  -i, --interactive    relay gcsctl's stdin\n"
     "  -t, --tty            a terminal (raw local terminal; window size sent at start and on SIGWINCH)\n"
     "  --user UID[:GID]     default 0:0\n"
     "  --cwd DIR            default /\n"
     "  --env K=V            repeatable; default PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
     cmd_exec},
    {"vm-exec", 0, "vm-exec [-i] [-t] [--cwd DIR] [--env K=V]... -- ARGS...",
     "Run a process in the VM itself (not in a container), attached; exit with its exit code.\n"
     "  -i, --interactive    relay gcsctl's stdin\n"
     "  -t, --tty            EmulateConsole: a terminal",
     cmd_vm_exec},
    {"kill", 1, "kill ID [PID] [--signal N]",
     "Send signal N (default 15) to a process of the container (SignalProcess); PID defaults to its init.", cmd_kill},
    {"shutdown", 1, "shutdown ID [--force]",
     "Stop the container's init: SIGTERM (ShutdownGraceful), or SIGKILL with --force (ShutdownForced).\n"
     "Returns at once; 'gcsctl wait' learns the exit code.",
     cmd_shutdown},
    {"wait", 2, "wait ID PID [--timeout MS]",
     "Wait for a process (WaitForProcess), print its exit code and exit with it. Without --timeout it\n"
     "waits forever; a timeout is a failure (exit 1).",
     cmd_wait},
    {"ps", 1, "ps ID", "The container's processes (GetProperties ProcessList), one pid per line.", cmd_ps},
    {"stats", 1, "stats ID [--brief]",
     "The container's cgroup statistics (GetProperties Statistics) as JSON.\n"
     "  --brief              only memory usage and limit, cpu time and the pid count",
     cmd_stats},
    {"run", 1, "run ID --rootfs DIR [create options...] [-i] [-t] [--keep] [-- ARGS...]",
     "create (default --kind standalone), start attached, then delete (unless --keep); exit with the\n"
     "container's exit code.\n"
     "  -i, -t               as for start (-t also sets process.terminal)\n"
     "  --keep               keep the container's state afterwards (--rm, the default, deletes it)",
     cmd_run},
    {"pod", 1, "pod [--delete] FILE",
     "Create and start a whole pod from a JSON description, detached, and print a summary:\n"
     "  {\"sandbox\": {\"id\": ID, \"rootfs\": DIR, \"hostname\": H, \"vpid\": null|ID, \"memory\": BYTES,\n"
     "               \"netns\": NAMESPACE-ID (the NICs of gcsctl nic add; absent: skip-pod-networking)},\n"
     "   \"workloads\": [{\"id\": ID, \"args\": [...], \"rootfs\": DIR, \"memory\": BYTES}]}\n"
     "A non-null vpid (equal to the sandbox id) makes it a virtual pod.\n"
     "  --delete             stop (forced), wait for and delete each workload, then the sandbox",
     cmd_pod},
    {"make-rootfs", 1, "make-rootfs DIR [--busybox PATH]",
     "Write a busybox root filesystem into DIR (no agent needed).\n"
     "  --busybox PATH       the busybox binary to copy (default /bin/busybox)",
     cmd_make_rootfs},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: gcsctl [options] COMMAND [ARGS]\n"
                 "\n"
                 "options:\n"
                 "  -d, --dir DIR        socket directory gcs dials into (default $GCS_DIR or /run/gcs-host)\n"
                 "  -t, --timeout SEC    how long to wait for the agent and for each response (default 30)\n"
                 "  -n, --no-negotiate   do not send NegotiateProtocol first (for protocol tests)\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(COMMANDS); i++)
        fprintf(out, "  gcsctl %s\n", COMMANDS[i].usage);
    fprintf(out, "\n'gcsctl help COMMAND' or 'gcsctl COMMAND --help' describes one command.\n"
                 "Exit codes: 0 success, 1 the request failed (message on stderr), 2 usage.\n");
}

static const ctl_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(COMMANDS); i++)
        if (streq(COMMANDS[i].name, name))
            return &COMMANDS[i];
    return NULL;
}

void ctl_cmd_usage(const ctl *x, FILE *out)
{
    fprintf(out, "usage: gcsctl %s\n\n%s\n", x->cmd->usage, x->cmd->help);
}

int ctl_usage_error(const ctl *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gcsctl %s: ", x->cmd->name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: gcsctl %s\n", x->cmd->usage);
    return CTL_USAGE;
}

int ctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gcsctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_FAILED;
}

void ctl_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", s ? s : "null");
    free(s);
}

int ctl_connect(ctl *x)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    if (x->connected)
        return CTL_OK;
    if (hc_listen(&x->c, x->dir, &err) < 0) {
        hc_close(&x->c);
        return ctl_fail("%s", err_msg(&err));
    }
    x->connected = true; /* from here hc_close releases the listener */
    if (hc_accept(&x->c, x->timeout_ms, &err) < 0)
        return ctl_fail("%s", err_msg(&err));
    if (x->negotiate) {
        json_t *resp;
        if (hc_negotiate(&x->c, &resp, &err) < 0)
            return ctl_fail("%s", err_msg(&err));
        json_decref(resp);
    }
    return CTL_OK;
}

int ctl_check_response(json_t *resp, const char *what)
{
    json_t *res = json_object_get(resp, "Result");
    int32_t hr = json_is_integer(res) ? (int32_t)json_integer_value(res) : HR_E_FAIL;
    if (hr == 0)
        return CTL_OK;
    const char *m = json_string_value(json_object_get(resp, "ErrorMessage"));
    ctl_fail("%s: %s (HRESULT 0x%08x)", what, str_empty(m) ? "request failed" : m, (uint32_t)hr);
    json_decref(resp);
    return CTL_FAILED;
}

int ctl_request(ctl *x, uint32_t type, json_t *payload, json_t **ret_resp, const char *what)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    json_t *resp;
    if (hc_call(&x->c, type, payload, &resp, x->timeout_ms, &err) < 0)
        return ctl_fail("%s: %s", what, err_msg(&err));
    if (ctl_check_response(resp, what) != CTL_OK)
        return CTL_FAILED;
    if (ret_resp)
        *ret_resp = resp;
    else
        json_decref(resp);
    return CTL_OK;
}

/* `gcsctl CMD --help` works for every command, before its own parsing. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && !streq(argv[i], "--"); i++)
        if (streq(argv[i], "--help") || streq(argv[i], "-h"))
            return true;
    return false;
}

static int positional_count(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc && !streq(argv[i], "--"); i++)
        if (argv[i][0] != '-' || streq(argv[i], "-"))
            n++;
    return n;
}

int main(int argc, char **argv)
{
    ctl x = {.timeout_ms = 30000, .negotiate = true};
    x.dir = getenv("GCS_DIR") ? getenv("GCS_DIR") : "/run/gcs-host";
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"no-negotiate", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int o;
    while ((o = getopt_long_only(argc, argv, "+d:t:nh", opts, NULL)) != -1) {
        switch (o) {
        case 'd': x.dir = optarg; break;
        case 't': x.timeout_ms = atoi(optarg) * 1000; break;
        case 'n': x.negotiate = false; break;
        case 'h': usage(stdout); return CTL_OK;
        default: usage(stderr); return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    char **cargv = argv + optind;
    int cargc = argc - optind;
    if (streq(cargv[0], "help")) {
        if (cargc < 2) {
            usage(stdout);
            return CTL_OK;
        }
        x.cmd = find_cmd(cargv[1]);
        if (!x.cmd)
            return ctl_fail("unknown command %s", cargv[1]), CTL_USAGE;
        ctl_cmd_usage(&x, stdout);
        return CTL_OK;
    }
    x.cmd = find_cmd(cargv[0]);
    if (!x.cmd) {
        fprintf(stderr, "gcsctl: unknown command %s\n", cargv[0]);
        usage(stderr);
        return CTL_USAGE;
    }
    if (wants_help(cargc, cargv)) {
        ctl_cmd_usage(&x, stdout);
        return CTL_OK;
    }
    if (positional_count(cargc, cargv) < x.cmd->min_args)
        return ctl_usage_error(&x, "needs %d argument%s", x.cmd->min_args, x.cmd->min_args == 1 ? "" : "s");
    optind = 0; /* the command parses its own options */
    int rc = x.cmd->fn(&x, cargc, cargv);
    if (x.connected)
        hc_close(&x.c);
    return rc;
}
