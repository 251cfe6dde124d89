/* cmd_process.c — process commands: start, exec, vm-exec, kill, shutdown,
 * wait. Attached commands exit with the process's exit code. */
#include "gcsctl/proc.h"

#include "bridge/proto.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int dashdash(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (streq(argv[i], "--"))
            return i;
    return argc;
}

static int parse_u32(const char *s, uint32_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-')
        return -EINVAL;
    *ret = (uint32_t)v;
    return 0;
}

static int opt_error(ctl *x, int o, char **argv)
{
    if (o == ':')
        return ctl_usage_error(x, "%s needs a value", argv[optind - 1]);
    return ctl_usage_error(x, "unknown option %s", argv[optind - 1]);
}

int cmd_start(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {
        {"interactive", no_argument, NULL, 'i'},
        {"detach", no_argument, NULL, 'd'},
        {"tty", no_argument, NULL, 't'},
        {"away-ms", required_argument, NULL, 'A'},
        {0},
    };
    bool in = false, detach = false, tty = false;
    int o, away = 0;
    char *end;
    while ((o = getopt_long(argc, argv, ":idt", opts, NULL)) != -1) {
        switch (o) {
        case 'i': in = true; break;
        case 'd': detach = true; break;
        case 't': tty = true; break;
        case 'A':
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v <= 0 || v > 600000)
                return ctl_usage_error(x, "--away-ms wants 1..600000, not %s", optarg);
            away = (int)v;
            break;
        default: return opt_error(x, o, argv);
        }
    }
    if (argc - optind != 1)
        return ctl_usage_error(x, "needs exactly one ID");
    if (detach && (in || tty || away))
        return ctl_usage_error(x, "-d runs without stdio: no -i, -t or --away-ms");
    const char *id = argv[optind];
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    if (!detach && !tty)
        tty = ctl_container_has_terminal(x, id);
    uint32_t pid, code = 0;
    rc = ctl_start_init_swap(x, id, !detach, in, tty, away, &pid, &code);
    if (rc != CTL_OK)
        return rc;
    if (detach) {
        printf("%u\n", pid);
        return CTL_OK;
    }
    return ctl_exit_status(code);
}

/* Shared by exec and vm-exec: -i, -t, and ARGS after "--". */
typedef struct exec_args {
    bool in, tty;
    const char *user, *cwd;
    json_t *env; /* array of "K=V" */
    char **args;
    int nargs;
} exec_args;

static int parse_exec(ctl *x, int argc, char **argv, bool container, exec_args *a, const char **ret_id)
{
    enum { O_USER = 1, O_CWD, O_ENV };
    static const struct option copts[] = {
        {"interactive", no_argument, NULL, 'i'}, {"tty", no_argument, NULL, 't'},
        {"user", required_argument, NULL, O_USER}, {"cwd", required_argument, NULL, O_CWD},
        {"env", required_argument, NULL, O_ENV},   {0},
    };
    int nopt = dashdash(argc, argv);
    int o;
    while ((o = getopt_long(nopt, argv, ":it", copts, NULL)) != -1) {
        switch (o) {
        case 'i': a->in = true; break;
        case 't': a->tty = true; break;
        case O_USER: a->user = optarg; break;
        case O_CWD: a->cwd = optarg; break;
        case O_ENV:
            if (!strchr(optarg, '='))
                return ctl_usage_error(x, "--env needs K=V, not %s", optarg);
            json_array_append_new(a->env, json_string(optarg));
            break;
        default: return opt_error(x, o, argv);
        }
    }
    if (container) {
        if (nopt - optind != 1)
            return ctl_usage_error(x, "needs exactly one ID before --");
        *ret_id = argv[optind];
    } else if (nopt != optind) {
        return ctl_usage_error(x, "takes no arguments before --");
    }
    if (nopt + 1 >= argc)
        return ctl_usage_error(x, "needs -- ARGS...");
    a->args = argv + nopt + 1;
    a->nargs = argc - nopt - 1;
    return CTL_OK;
}

static json_t *args_array(const exec_args *a)
{
    json_t *arr = json_array();
    for (int i = 0; i < a->nargs; i++)
        json_array_append_new(arr, json_string(a->args[i]));
    return arr;
}

int cmd_exec(ctl *x, int argc, char **argv)
{
    exec_args a = {.env = json_array()};
    const char *id = NULL;
    int rc = parse_exec(x, argc, argv, true, &a, &id);
    json_t *user = json_object();
    if (rc == CTL_OK && a.user) {
        uint32_t uid = 0, gid = 0;
        cleanup_free char *u = xstrdup(a.user);
        char *colon = strchr(u, ':');
        if (colon)
            *colon++ = '\0';
        if (parse_u32(u, &uid) < 0 || (colon && parse_u32(colon, &gid) < 0))
            rc = ctl_usage_error(x, "bad --user %s (UID[:GID])", a.user);
        json_object_set_new(user, "uid", json_integer(uid));
        json_object_set_new(user, "gid", json_integer(gid));
    } else {
        json_object_set_new(user, "uid", json_integer(0));
        json_object_set_new(user, "gid", json_integer(0));
    }
    if (rc != CTL_OK) {
        json_decref(a.env);
        json_decref(user);
        return rc;
    }
    if (json_array_size(a.env) == 0)
        json_array_append_new(a.env, json_string(DEFAULT_PATH));
    if (a.tty)
        json_array_append_new(a.env, json_string("TERM=xterm"));
    json_t *proc = json_object();
    json_object_set_new(proc, "args", args_array(&a));
    json_object_set_new(proc, "cwd", json_string(a.cwd ? a.cwd : "/"));
    json_object_set_new(proc, "env", a.env);
    json_object_set_new(proc, "terminal", json_boolean(a.tty));
    json_object_set_new(proc, "user", user);
    json_t *params = json_object();
    json_object_set_new(params, "OciProcess", proc);
    ctl_proc_opts po = {
        .container_id = id,
        .params = params,
        .attach = true,
        .stdin = a.in,
        .tty = a.tty,
        .resize = a.tty,
        .forward_signals = !a.tty,
    };
    uint32_t pid, code = 0;
    rc = ctl_proc_run(x, &po, &pid, &code);
    return rc == CTL_OK ? ctl_exit_status(code) : rc;
}

int cmd_vm_exec(ctl *x, int argc, char **argv)
{
    exec_args a = {.env = json_array()};
    int rc = parse_exec(x, argc, argv, false, &a, NULL);
    if (rc == CTL_OK && (a.user))
        rc = ctl_usage_error(x, "--user is for container processes");
    if (rc != CTL_OK) {
        json_decref(a.env);
        return rc;
    }
    /* docs/protocol.md §4.4 case A: CommandArgs, and the environment as a map */
    json_t *env = json_object();
    json_object_set_new(env, "PATH", json_string(&DEFAULT_PATH[5]));
    size_t i;
    json_t *kv;
    json_array_foreach(a.env, i, kv) {
        const char *s = json_string_value(kv);
        const char *eq = strchr(s, '=');
        cleanup_free char *k = xstrndup(s, (size_t)(eq - s));
        json_object_set_new(env, k, json_string(eq + 1));
    }
    json_decref(a.env);
    json_t *params = json_object();
    json_object_set_new(params, "CommandArgs", args_array(&a));
    json_object_set_new(params, "WorkingDirectory", json_string(a.cwd ? a.cwd : "/"));
    json_object_set_new(params, "Environment", env);
    json_object_set_new(params, "EmulateConsole", json_boolean(a.tty));
    ctl_proc_opts po = {
        .container_id = NULL_CONTAINER_ID,
        .params = params,
        .attach = true,
        .stdin = a.in,
        .tty = a.tty,
        /* the reference answers neither ResizeConsole nor SignalProcess for
         * VM processes (docs/differences.md D-25) */
    };
    uint32_t pid, code = 0;
    rc = ctl_proc_run(x, &po, &pid, &code);
    return rc == CTL_OK ? ctl_exit_status(code) : rc;
}

/* The container's init pid, from DumpStacks. */
static int init_pid(ctl *x, const char *id, uint32_t *ret)
{
    json_t *info;
    int rc = ctl_container_info(x, id, &info);
    if (rc != CTL_OK)
        return rc;
    json_int_t pid = json_integer_value(json_object_get(info, "pid"));
    json_decref(info);
    if (pid <= 0)
        return ctl_fail("container %s has no process yet", id);
    *ret = (uint32_t)pid;
    return CTL_OK;
}

int cmd_kill(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {{"signal", required_argument, NULL, 's'}, {0}};
    uint32_t sig = 15, pid = 0;
    int o;
    while ((o = getopt_long(argc, argv, ":s:", opts, NULL)) != -1) {
        if (o != 's')
            return opt_error(x, o, argv);
        if (parse_u32(optarg, &sig) < 0 || sig > 64)
            return ctl_usage_error(x, "bad --signal %s (a number)", optarg);
    }
    int n = argc - optind;
    if (n < 1 || n > 2)
        return ctl_usage_error(x, "needs ID and optionally PID");
    const char *id = argv[optind];
    if (n == 2 && (parse_u32(argv[optind + 1], &pid) < 0 || pid == 0))
        return ctl_usage_error(x, "bad PID %s", argv[optind + 1]);
    int rc = ctl_connect(x);
    if (rc == CTL_OK && pid == 0)
        rc = init_pid(x, id, &pid);
    if (rc != CTL_OK)
        return rc;
    json_t *req = hc_envelope(id);
    json_object_set_new(req, "ProcessId", json_integer(pid));
    json_t *opt = json_object();
    json_object_set_new(opt, "Signal", json_integer(sig));
    json_object_set_new(req, "Options", opt);
    cleanup_free char *what = xasprintf("kill %s %u", id, pid);
    return ctl_request(x, MSG_REQUEST_CODE(RPC_SIGNAL_PROCESS), req, NULL, what);
}

int cmd_shutdown(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {0}};
    bool force = false;
    int o;
    while ((o = getopt_long(argc, argv, ":f", opts, NULL)) != -1) {
        if (o != 'f')
            return opt_error(x, o, argv);
        force = true;
    }
    if (argc - optind != 1)
        return ctl_usage_error(x, "needs exactly one ID");
    const char *id = argv[optind];
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    cleanup_free char *what = xasprintf("shutdown %s", id);
    return ctl_request(x, MSG_REQUEST_CODE(force ? RPC_SHUTDOWN_FORCED : RPC_SHUTDOWN_GRACEFUL), hc_envelope(id),
                       NULL, what);
}

int cmd_wait(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {{"timeout", required_argument, NULL, 'T'}, {0}};
    uint32_t timeout = 0xffffffffu, pid;
    int o;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (o != 'T')
            return opt_error(x, o, argv);
        if (parse_u32(optarg, &timeout) < 0)
            return ctl_usage_error(x, "bad --timeout %s (milliseconds)", optarg);
    }
    if (argc - optind != 2)
        return ctl_usage_error(x, "needs ID and PID");
    const char *id = argv[optind];
    if (parse_u32(argv[optind + 1], &pid) < 0 || pid == 0)
        return ctl_usage_error(x, "bad PID %s", argv[optind + 1]);
    int rc = ctl_connect(x);
    uint32_t code = 0;
    if (rc == CTL_OK)
        rc = ctl_proc_wait(x, id, pid, timeout, &code);
    if (rc != CTL_OK)
        return rc;
    printf("%u\n", code);
    return ctl_exit_status(code);
}
