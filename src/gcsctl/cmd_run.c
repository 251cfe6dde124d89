/* cmd_run.c — run: create, start attached, delete; the container's exit
 * code is gcsctl's. */
#include "gcsctl/proc.h"

#include "bridge/proto.h"

int cmd_run(ctl *x, int argc, char **argv)
{
    /* run's own flags come out; the rest is create's command line, with
     * --kind standalone unless a kind or settings document is given */
    bool in = false, tty = false, keep = false, has_kind = false;
    cleanup_free char **cargv = xzalloc(sizeof(char *) * ((size_t)argc + 4));
    int cargc = 0;
    cargv[cargc++] = argv[0];
    int i = 1;
    for (; i < argc && !streq(argv[i], "--"); i++) {
        const char *a = argv[i];
        if (streq(a, "-i") || streq(a, "--interactive"))
            in = true;
        else if (streq(a, "-t") || streq(a, "--tty"))
            tty = true;
        else if (streq(a, "-it") || streq(a, "-ti"))
            in = tty = true;
        else if (streq(a, "--keep"))
            keep = true;
        else if (streq(a, "--rm"))
            keep = false;
        else {
            has_kind |= streq(a, "--kind") || streq(a, "--settings") || str_has_prefix(a, "--kind=") ||
                        str_has_prefix(a, "--settings=");
            cargv[cargc++] = argv[i];
        }
    }
    if (!has_kind) {
        cargv[cargc++] = "--kind";
        cargv[cargc++] = "standalone";
    }
    if (tty)
        cargv[cargc++] = "--terminal";
    for (; i < argc; i++)
        cargv[cargc++] = argv[i];
    cargv[cargc] = NULL;

    const char *id = NULL;
    optind = 0;
    int rc = ctl_create_args(x, cargc, cargv, false, &id);
    if (rc != CTL_OK)
        return rc;
    uint32_t pid, code = 0;
    rc = ctl_start_init(x, id, true, in, tty, &pid, &code);
    if (!keep) {
        cleanup_free char *what = xasprintf("delete %s", id);
        int drc = ctl_request(x, MSG_REQUEST_CODE(RPC_DELETE_CONTAINER_STATE), hc_envelope(id), NULL, what);
        if (rc == CTL_OK && drc != CTL_OK)
            return drc;
    }
    return rc == CTL_OK ? ctl_exit_status(code) : rc;
}
