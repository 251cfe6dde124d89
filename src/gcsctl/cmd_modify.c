/* cmd_modify.c — ModifySettings by hand: any resource type, request type and
 * settings, on the VM or on a container. */
#include "gcsctl/gcsctl.h"

#include "bridge/proto.h"

#include <getopt.h>

int cmd_modify(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {
        {"container", required_argument, NULL, 'c'},
        {"settings", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *cid = NULL_CONTAINER_ID, *settings = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "+c:s:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            cid = optarg;
            break;
        case 's':
            settings = optarg;
            break;
        case 'h':
            ctl_cmd_usage(x, stdout);
            return CTL_OK;
        default:
            return ctl_usage_error(x, "unknown option");
        }
    }
    if (argc - optind < 1 || argc - optind > 2)
        return ctl_usage_error(x, "needs TYPE and optionally REQUEST (Add, Remove, Update, ...)");
    const char *type = argv[optind], *request = argc - optind == 2 ? argv[optind + 1] : "Add";
    json_t *doc = NULL;
    if (settings) {
        cleanup_free char *text = NULL;
        size_t len = 0;
        if (settings[0] == '@') {
            int r = read_file(settings + 1, &text, &len);
            if (r < 0)
                return ctl_fail("modify: %s: %s", settings + 1, strerror(-r));
        } else {
            text = xstrdup(settings);
            len = strlen(text);
        }
        json_error_t jerr;
        doc = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
        if (!doc)
            return ctl_usage_error(x, "--settings is not JSON: %s", jerr.text);
    }
    int rc = ctl_connect(x);
    if (rc != CTL_OK) {
        json_decref(doc);
        return rc;
    }
    json_t *req = json_pack("{s:s, s:s}", "ResourceType", type, "RequestType", request);
    if (doc)
        json_object_set_new(req, "Settings", doc);
    json_t *payload = hc_envelope(cid);
    json_object_set_new(payload, "Request", req);
    cleanup_free char *what = xasprintf("modify %s %s", type, request);
    return ctl_request(x, MSG_REQUEST_CODE(RPC_MODIFY_SETTINGS), payload, NULL, what);
}
