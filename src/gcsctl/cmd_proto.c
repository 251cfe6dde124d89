/* cmd_proto.c — protocol-level commands: negotiate, raw. */
#include "gcsctl/gcsctl.h"

#include "bridge/proto.h"

#include <errno.h>
#include <strings.h>

int cmd_negotiate(ctl *x, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return ctl_usage_error(x, "takes no arguments");
    x->negotiate = false; /* done here, so its response can be printed */
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    json_t *resp;
    if (hc_negotiate(&x->c, &resp, &err) < 0)
        return ctl_fail("%s", err_msg(&err));
    ctl_print_json(resp);
    json_decref(resp);
    return CTL_OK;
}

static int parse_type(const char *s, uint32_t *ret)
{
    for (unsigned n = 1; n < RPC_MAX; n++) {
        if (strcasecmp(s, msg_rpc_name(n)) == 0) {
            *ret = MSG_REQUEST_CODE(n);
            return 0;
        }
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || *end || v > UINT32_MAX)
        return -EINVAL;
    *ret = (uint32_t)v;
    return 0;
}

int cmd_raw(ctl *x, int argc, char **argv)
{
    if (argc != 3)
        return ctl_usage_error(x, "needs TYPE and JSON");
    uint32_t type;
    if (parse_type(argv[1], &type) < 0)
        return ctl_usage_error(x, "bad message type %s", argv[1]);
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    uint64_t id;
    json_t *resp;
    if (hc_send_raw(&x->c, type, argv[2], strlen(argv[2]), &id, &err) < 0 ||
        hc_wait_response(&x->c, id, &resp, NULL, x->timeout_ms, &err) < 0)
        return ctl_fail("%s", err_msg(&err));
    ctl_print_json(resp);
    json_t *res = json_object_get(resp, "Result");
    rc = json_is_integer(res) && json_integer_value(res) == 0 ? CTL_OK : CTL_FAILED;
    json_decref(resp);
    return rc;
}
