/* cmd_pod.c — pod: a whole pod from a small JSON description, and its
 * teardown.
 *
 *   {"sandbox": {"id": S, "rootfs": DIR, "hostname": H, "vpid": null|S, "memory": BYTES},
 *    "workloads": [{"id": W, "args": [...], "rootfs": DIR, "memory": BYTES}, ...]}
 *
 * A workload's rootfs defaults to the sandbox's; "vpid" makes it a virtual
 * pod (then it must equal the sandbox id). Everything is started detached. */
#include "gcsctl/proc.h"
#include "gcsctl/spec.h"

#include "bridge/proto.h"

#include <getopt.h>

static int load(ctl *x, const char *file, json_t **ret)
{
    json_error_t je;
    json_t *doc = json_load_file(file, 0, &je);
    if (!doc)
        return ctl_fail("pod: %s:%d: %s", file, je.line, je.text);
    json_t *sb = json_object_get(doc, "sandbox");
    const char *sid = json_string_value(json_object_get(sb, "id"));
    json_t *vpid = json_object_get(sb, "vpid");
    json_t *wls = json_object_get(doc, "workloads");
    const char *why = NULL;
    if (!json_is_object(sb) || str_empty(sid))
        why = "needs sandbox.id";
    else if (!json_is_string(json_object_get(sb, "rootfs")))
        why = "needs sandbox.rootfs";
    else if (vpid && !json_is_null(vpid) && !streq(json_string_value(vpid), sid))
        why = "sandbox.vpid must be null or the sandbox id";
    else if (wls && !json_is_array(wls))
        why = "workloads must be an array";
    for (size_t i = 0; !why && i < json_array_size(wls); i++) {
        json_t *w = json_array_get(wls, i);
        json_t *args = json_object_get(w, "args");
        if (str_empty(json_string_value(json_object_get(w, "id"))))
            why = "every workload needs an id";
        else if (args && (!json_is_array(args) || json_array_size(args) == 0))
            why = "a workload's args must be a non-empty array of strings";
        for (size_t j = 0; !why && j < json_array_size(args); j++)
            if (!json_is_string(json_array_get(args, j)))
                why = "a workload's args must be a non-empty array of strings";
    }
    if (why) {
        json_decref(doc);
        (void)x;
        return ctl_fail("pod: %s: %s", file, why);
    }
    *ret = doc;
    return CTL_OK;
}

static int start_detached(ctl *x, const char *id, uint32_t *ret_pid)
{
    uint32_t code;
    return ctl_start_init(x, id, false, false, false, ret_pid, &code);
}

static int pod_create(ctl *x, json_t *doc)
{
    json_t *sb = json_object_get(doc, "sandbox");
    const char *sid = json_string_value(json_object_get(sb, "id"));
    const char *vpid = json_string_value(json_object_get(sb, "vpid"));
    const char *srootfs = json_string_value(json_object_get(sb, "rootfs"));
    ctlspec_opts so = {
        .kind = CTLSPEC_SANDBOX,
        .id = sid,
        .vpid = vpid,
        .rootfs = srootfs,
        .hostname = json_string_value(json_object_get(sb, "hostname")),
        .memory_limit = json_integer_value(json_object_get(sb, "memory")),
        /* "netns": the namespace entry whose NICs (gcsctl nic add) the
         * sandbox gets; without it the pod skips networking */
        .netns = json_string_value(json_object_get(sb, "netns")),
        .skip_networking = !json_string_value(json_object_get(sb, "netns")),
    };
    int rc = ctl_create_spec(x, &so, NULL, false);
    uint32_t spid = 0;
    if (rc == CTL_OK)
        rc = start_detached(x, sid, &spid);
    if (rc != CTL_OK)
        return rc;
    printf("%-10s %-40s pid %u\n", vpid ? "vpod" : "pod", sid, spid);
    json_t *wls = json_object_get(doc, "workloads");
    for (size_t i = 0; i < json_array_size(wls); i++) {
        json_t *w = json_array_get(wls, i);
        json_t *args = json_object_get(w, "args");
        size_t n = json_array_size(args);
        const char **argv = xzalloc(sizeof(char *) * (n + 1));
        for (size_t j = 0; j < n; j++)
            argv[j] = json_string_value(json_array_get(args, j));
        const char *rootfs = json_string_value(json_object_get(w, "rootfs"));
        ctlspec_opts wo = {
            .kind = CTLSPEC_WORKLOAD,
            .id = json_string_value(json_object_get(w, "id")),
            .sandbox_id = sid,
            .vpid = vpid,
            .rootfs = rootfs ? rootfs : srootfs,
            .memory_limit = json_integer_value(json_object_get(w, "memory")),
            .args = (char *const *)argv,
            .nargs = n,
        };
        rc = ctl_create_spec(x, &wo, NULL, false);
        free(argv);
        uint32_t pid = 0;
        if (rc == CTL_OK)
            rc = start_detached(x, wo.id, &pid);
        if (rc != CTL_OK)
            return rc;
        printf("%-10s %-40s pid %u\n", "workload", wo.id, pid);
    }
    return CTL_OK;
}

/* Stop (forced) and wait for a running container, then delete it. A
 * container the agent does not hold is reported and skipped. */
static int teardown_one(ctl *x, json_t *listing, const char *id)
{
    json_t *info = NULL;
    json_t *arr = json_object_get(listing, "containers");
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (streq(json_string_value(json_object_get(json_array_get(arr, i), "id")), id))
            info = json_array_get(arr, i);
    if (!info) {
        printf("%-40s not found\n", id);
        return CTL_OK;
    }
    const char *state = json_string_value(json_object_get(info, "state"));
    uint32_t pid = (uint32_t)json_integer_value(json_object_get(info, "pid"));
    int rc;
    uint32_t code = 0;
    bool waited = false;
    if (streq(state, "running")) {
        cleanup_free char *what = xasprintf("shutdown %s", id);
        rc = ctl_request(x, MSG_REQUEST_CODE(RPC_SHUTDOWN_FORCED), hc_envelope(id), NULL, what);
        if (rc == CTL_OK)
            rc = ctl_proc_wait(x, id, pid, 0xffffffffu, &code);
        if (rc != CTL_OK)
            return rc;
        waited = true;
    }
    cleanup_free char *what = xasprintf("delete %s", id);
    rc = ctl_request(x, MSG_REQUEST_CODE(RPC_DELETE_CONTAINER_STATE), hc_envelope(id), NULL, what);
    if (rc != CTL_OK)
        return rc;
    if (waited)
        printf("%-40s exit %u, deleted\n", id, code);
    else
        printf("%-40s deleted\n", id);
    return CTL_OK;
}

static int pod_delete(ctl *x, json_t *doc)
{
    json_t *listing;
    int rc = ctl_listing(x, &listing);
    if (rc != CTL_OK)
        return rc;
    int worst = CTL_OK;
    json_t *wls = json_object_get(doc, "workloads");
    /* workloads first, then the sandbox (docs/pod-model.md §5.6) */
    for (size_t i = json_array_size(wls); i-- > 0;) {
        rc = teardown_one(x, listing, json_string_value(json_object_get(json_array_get(wls, i), "id")));
        if (rc != CTL_OK)
            worst = rc;
    }
    rc = teardown_one(x, listing, json_string_value(json_object_get(json_object_get(doc, "sandbox"), "id")));
    json_decref(listing);
    return rc != CTL_OK ? rc : worst;
}

int cmd_pod(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {{"delete", no_argument, NULL, 'D'}, {0}};
    bool del = false;
    int o;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (o != 'D')
            return ctl_usage_error(x, "unknown option %s", argv[optind - 1]);
        del = true;
    }
    if (argc - optind != 1)
        return ctl_usage_error(x, "needs exactly one FILE");
    json_t *doc = NULL;
    int rc = load(x, argv[optind], &doc);
    if (rc == CTL_OK)
        rc = ctl_connect(x);
    if (rc == CTL_OK)
        rc = del ? pod_delete(x, doc) : pod_create(x, doc);
    json_decref(doc);
    return rc;
}
