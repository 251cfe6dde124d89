/* cmd_container.c — container lifecycle commands: create, delete. */
#include "gcsctl/gcsctl.h"
#include "gcsctl/spec.h"

#include "bridge/proto.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>

/* The index of "--" in argv, or argc: what follows it is not options. */
static int dashdash(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (streq(argv[i], "--"))
            return i;
    return argc;
}

/* BYTES with an optional binary suffix k, m or g. */
static int parse_bytes(const char *s, int64_t *ret)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v <= 0)
        return -EINVAL;
    int shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    default: return -EINVAL;
    }
    if (*end && end[1])
        return -EINVAL;
    if (v > (INT64_MAX >> shift))
        return -ERANGE;
    *ret = (int64_t)v << shift;
    return 0;
}

/* The settings document from FILE, or stdin for "-": checked to be JSON. */
static int read_settings(const char *file, char **ret)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (streq(file, "-")) {
        size_t cap = 0;
        for (;;) {
            if (len + 4096 + 1 > cap) {
                cap = (cap + 4096) * 2;
                text = xrealloc(text, cap);
            }
            size_t n = fread(text + len, 1, cap - len - 1, stdin);
            len += n;
            if (n == 0)
                break;
        }
        if (ferror(stdin))
            return ctl_fail("create: reading stdin: %s", strerror(errno));
        text[len] = '\0';
    } else {
        int r = read_file(file, &text, &len);
        if (r < 0)
            return ctl_fail("create: %s: %s", file, strerror(-r));
    }
    cleanup_err gcs_err err = GCS_ERR_INIT;
    json_t *doc;
    if (jx_parse_object(text, len, &doc, &err) < 0)
        return ctl_fail("create: %s: %s", file, err_msg(&err));
    json_decref(doc);
    *ret = steal_pointer(&text);
    return CTL_OK;
}

static int send_create(ctl *x, const char *id, const char *config, bool print)
{
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    json_t *req = hc_envelope(id);
    json_object_set_new(req, "ContainerConfig", json_string(config));
    cleanup_free char *what = xasprintf("create %s", id);
    rc = ctl_request(x, MSG_REQUEST_CODE(RPC_CREATE), req, NULL, what);
    if (rc == CTL_OK && print)
        printf("%s\n", id);
    return rc;
}

int ctl_create_spec(ctl *x, ctlspec_opts *so, const char *bundle, bool print)
{
    /* The rootfs is a path on the agent's machine, which may be a VM: a
     * relative path is made absolute here, but its existence is the agent's
     * business (it answers with the runtime's error). */
    char real[PATH_MAX];
    ctlspec_opts o = *so;
    if (o.rootfs[0] != '/') {
        if (!realpath(so->rootfs, real))
            return ctl_fail("create: rootfs %s: %s", so->rootfs, strerror(errno));
        o.rootfs = real;
    }
    cleanup_free char *guid = NULL;
    if (!o.netns && o.kind == CTLSPEC_SANDBOX)
        o.netns = guid = ctlspec_new_guid();
    cleanup_free char *def_bundle = xasprintf("/run/gcs/c/%s", o.id);
    json_t *doc = ctlspec_container_config(ctlspec_build(&o), bundle ? bundle : def_bundle);
    cleanup_free char *text = jx_dump(doc, NULL);
    json_decref(doc);
    return send_create(x, o.id, text, print);
}

int cmd_create(ctl *x, int argc, char **argv)
{
    return ctl_create_args(x, argc, argv, true, NULL);
}

int ctl_create_args(ctl *x, int argc, char **argv, bool print, const char **ret_id)
{
    enum {
        O_SETTINGS = 1,
        O_KIND,
        O_SANDBOX,
        O_VPID,
        O_ROOTFS,
        O_BUNDLE,
        O_HOSTNAME,
        O_MEMORY,
        O_NETNS,
        O_SKIP,
        O_NOSKIP,
        O_TERMINAL
    };
    static const struct option opts[] = {
        {"settings", required_argument, NULL, O_SETTINGS},   {"kind", required_argument, NULL, O_KIND},
        {"sandbox", required_argument, NULL, O_SANDBOX},     {"vpid", required_argument, NULL, O_VPID},
        {"rootfs", required_argument, NULL, O_ROOTFS},       {"bundle", required_argument, NULL, O_BUNDLE},
        {"hostname", required_argument, NULL, O_HOSTNAME},   {"memory", required_argument, NULL, O_MEMORY},
        {"netns", required_argument, NULL, O_NETNS},         {"skip-networking", no_argument, NULL, O_SKIP},
        {"no-skip-networking", no_argument, NULL, O_NOSKIP}, {"terminal", no_argument, NULL, O_TERMINAL},
        {0},
    };
    const char *settings = NULL, *kind = NULL, *rootfs = NULL, *bundle = NULL;
    ctlspec_opts so = {0};
    int skip = -1; /* -1: the kind's default */
    bool spec_flags = false;
    int nopt = dashdash(argc, argv);
    int o;
    while ((o = getopt_long(nopt, argv, ":", opts, NULL)) != -1) {
        spec_flags |= o != O_SETTINGS && o != '?' && o != ':';
        switch (o) {
        case O_SETTINGS: settings = optarg; break;
        case O_KIND: kind = optarg; break;
        case O_SANDBOX: so.sandbox_id = optarg; break;
        case O_VPID: so.vpid = optarg; break;
        case O_ROOTFS: rootfs = optarg; break;
        case O_BUNDLE: bundle = optarg; break;
        case O_HOSTNAME: so.hostname = optarg; break;
        case O_NETNS: so.netns = optarg; break;
        case O_SKIP: skip = 1; break;
        case O_NOSKIP: skip = 0; break;
        case O_TERMINAL: so.terminal = true; break;
        case O_MEMORY:
            if (parse_bytes(optarg, &so.memory_limit) < 0)
                return ctl_usage_error(x, "bad --memory %s (BYTES, or a number with k, m or g)", optarg);
            break;
        case ':': return ctl_usage_error(x, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(x, "unknown option %s", argv[optind - 1]);
        }
    }
    if (nopt - optind != 1)
        return ctl_usage_error(x, "needs exactly one ID");
    const char *id = argv[optind];
    if (str_empty(id))
        return ctl_usage_error(x, "empty ID");
    if (ret_id)
        *ret_id = id;
    bool has_args = nopt < argc;

    if (settings) {
        if (spec_flags || has_args)
            return ctl_usage_error(x, "--settings takes the whole document: no other options or ARGS");
        cleanup_free char *text = NULL;
        int rc = read_settings(settings, &text);
        return rc == CTL_OK ? send_create(x, id, text, print) : rc;
    }

    if (!kind)
        return ctl_usage_error(x, "needs --settings FILE or --kind KIND");
    if (ctlspec_kind_parse(kind, &so.kind) < 0)
        return ctl_usage_error(x, "unknown kind %s (sandbox, workload or standalone)", kind);
    if (!rootfs)
        return ctl_usage_error(x, "--kind needs --rootfs DIR");
    switch (so.kind) {
    case CTLSPEC_SANDBOX:
        if (so.vpid && !streq(so.vpid, id))
            return ctl_usage_error(x, "a virtual pod's sandbox has ID == VPID (%s != %s)", id, so.vpid);
        if (so.sandbox_id && !streq(so.sandbox_id, id))
            return ctl_usage_error(x, "a sandbox is its own pod: --sandbox must be the ID or left out");
        break;
    case CTLSPEC_WORKLOAD:
        if (!so.sandbox_id && !so.vpid)
            return ctl_usage_error(x, "a workload needs --sandbox SID or --vpid VPID");
        if (!so.sandbox_id)
            so.sandbox_id = so.vpid; /* ignored for virtual pods, but CRI always sets it */
        break;
    case CTLSPEC_STANDALONE:
        if (so.sandbox_id)
            return ctl_usage_error(x, "a standalone container has no --sandbox");
        break;
    }
    so.id = id;
    so.rootfs = rootfs;
    so.skip_networking = skip < 0 ? so.kind == CTLSPEC_SANDBOX : skip == 1;
    if (has_args) {
        so.args = argv + nopt + 1;
        so.nargs = (size_t)(argc - nopt - 1);
        if (so.nargs == 0)
            return ctl_usage_error(x, "nothing after --");
    }
    return ctl_create_spec(x, &so, bundle, print);
}

int cmd_delete(ctl *x, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return ctl_usage_error(x, "needs exactly one ID");
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    cleanup_free char *what = xasprintf("delete %s", argv[1]);
    rc = ctl_request(x, MSG_REQUEST_CODE(RPC_DELETE_CONTAINER_STATE), hc_envelope(argv[1]), NULL, what);
    if (rc == CTL_OK)
        printf("%s\n", argv[1]);
    return rc;
}
