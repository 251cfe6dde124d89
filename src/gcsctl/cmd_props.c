/* cmd_props.c — what the agent reports about a container (GetProperties):
 * ps, stats. */
#include "gcsctl/gcsctl.h"

#include "bridge/proto.h"

#include <getopt.h>

/* GetProperties for one property type; *ret is the decoded Properties. */
static int get_properties(ctl *x, const char *id, const char *type, json_t **ret)
{
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    json_t *req = hc_envelope(id);
    cleanup_free char *query = xasprintf("{\"PropertyTypes\":[\"%s\"]}", type);
    json_object_set_new(req, "Query", json_string(query));
    json_t *resp;
    cleanup_free char *what = xasprintf("get %s of %s", type, id);
    rc = ctl_request(x, MSG_REQUEST_CODE(RPC_GET_PROPERTIES), req, &resp, what);
    if (rc != CTL_OK)
        return rc;
    const char *text = json_string_value(json_object_get(resp, "Properties"));
    cleanup_err gcs_err err = GCS_ERR_INIT;
    json_t *props;
    int r = jx_parse_object(text ? text : "{}", text ? strlen(text) : 2, &props, &err);
    json_decref(resp);
    if (r < 0)
        return ctl_fail("%s: Properties: %s", what, err_msg(&err));
    *ret = props;
    return CTL_OK;
}

int cmd_ps(ctl *x, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return ctl_usage_error(x, "needs exactly one ID");
    json_t *props;
    int rc = get_properties(x, argv[1], "ProcessList", &props);
    if (rc != CTL_OK)
        return rc;
    json_t *list = json_object_get(props, "ProcessList");
    for (size_t i = 0; i < json_array_size(list); i++)
        printf("%lld\n", (long long)json_integer_value(json_object_get(json_array_get(list, i), "ProcessId")));
    json_decref(props);
    return CTL_OK;
}

static long long num_at(json_t *o, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return (long long)json_integer_value(v);
}

int cmd_stats(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {{"brief", no_argument, NULL, 'b'}, {0}};
    bool brief = false;
    int o;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (o != 'b')
            return ctl_usage_error(x, "unknown option %s", argv[optind - 1]);
        brief = true;
    }
    if (argc - optind != 1)
        return ctl_usage_error(x, "needs exactly one ID");
    json_t *props;
    int rc = get_properties(x, argv[optind], "Statistics", &props);
    if (rc != CTL_OK)
        return rc;
    json_t *m = json_object_get(props, "LCOWMetrics");
    if (!m)
        m = json_object_get(props, "Statistics"); /* not expected; printed as is */
    if (brief) {
        printf("memory usage %lld limit %lld\n", num_at(m, "memory", "usage", "usage"),
               num_at(m, "memory", "usage", "limit"));
        printf("cpu total %lld ns\n", num_at(m, "cpu", "usage", "total"));
        printf("pids current %lld\n", num_at(m, "pids", "current", NULL));
    } else {
        ctl_print_json(m ? m : props);
    }
    json_decref(props);
    return CTL_OK;
}
