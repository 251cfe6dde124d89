/* cmd_scsi.c — a SCSI disk by hand: MappedVirtualDisk Add/Remove and the
 * SCSIDevice unplug, with the settings built from options. */
#include "gcsctl/gcsctl.h"

#include "bridge/proto.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

static int parse_u(const ctl *x, const char *what, const char *s, unsigned long max, unsigned long *ret)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || !*s || *end || v > max)
        return ctl_usage_error(x, "%s %s is not a number from 0 to %lu", what, s, max);
    *ret = v;
    return CTL_OK;
}

int cmd_scsi(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {
        {"controller", required_argument, NULL, 'c'},
        {"partition", required_argument, NULL, 'p'},
        {"read-only", no_argument, NULL, 'r'},
        {"block-dev", no_argument, NULL, 'b'},
        {"ensure-fs", required_argument, NULL, 'e'},
        {"fs", required_argument, NULL, 'f'},
        {"encrypted", no_argument, NULL, 'E'},
        {"option", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    unsigned long controller = 0, partition = 0, lun = 0;
    bool ro = false, block_dev = false, encrypted = false, ensure = false;
    const char *fs = NULL;
    json_t *options = json_array();
    int o, rc;
    /* the verb first, then its options and arguments */
    const char *verb = argc >= 2 ? argv[1] : "";
    argc--;
    argv++;
    optind = 1;
    while ((o = getopt_long(argc, argv, "+c:p:rbe:f:Eo:h", opts, NULL)) != -1) {
        rc = CTL_OK;
        switch (o) {
        case 'c':
            rc = parse_u(x, "--controller", optarg, 255, &controller);
            break;
        case 'p':
            rc = parse_u(x, "--partition", optarg, UINT32_MAX, &partition);
            break;
        case 'r':
            ro = true;
            break;
        case 'b':
            block_dev = true;
            break;
        case 'e':
            ensure = true;
            fs = optarg;
            break;
        case 'f':
            fs = optarg;
            break;
        case 'E':
            encrypted = true;
            break;
        case 'o':
            json_array_append_new(options, json_string(optarg));
            break;
        case 'h':
            json_decref(options);
            ctl_cmd_usage(x, stdout);
            return CTL_OK;
        default:
            rc = ctl_usage_error(x, "unknown option");
        }
        if (rc != CTL_OK) {
            json_decref(options);
            return rc;
        }
    }
    int n = argc - optind + 1; /* the verb counts */
    optind--;
    bool unplug = streq(verb, "unplug");
    if (!streq(verb, "add") && !streq(verb, "remove") && !unplug) {
        json_decref(options);
        return ctl_usage_error(x, "needs add, remove or unplug");
    }
    if (n < 2 || n > 3 || (unplug && n != 2)) {
        json_decref(options);
        return ctl_usage_error(x, unplug ? "unplug needs LUN" : "needs LUN and optionally PATH");
    }
    if ((rc = parse_u(x, "LUN", argv[optind + 1], 255, &lun)) != CTL_OK) {
        json_decref(options);
        return rc;
    }
    json_t *s = json_pack("{s:I, s:I}", "Controller", (json_int_t)controller, "Lun", (json_int_t)lun);
    const char *type = "SCSIDevice", *request = "Remove";
    if (!unplug) {
        type = "MappedVirtualDisk";
        request = streq(verb, "add") ? "Add" : "Remove";
        if (n == 3)
            json_object_set_new(s, "MountPath", json_string(argv[optind + 2]));
        if (partition)
            json_object_set_new(s, "Partition", json_integer((json_int_t)partition));
        if (ro)
            json_object_set_new(s, "ReadOnly", json_true());
        if (block_dev)
            json_object_set_new(s, "BlockDev", json_true());
        if (encrypted)
            json_object_set_new(s, "Encrypted", json_true());
        if (ensure)
            json_object_set_new(s, "EnsureFilesystem", json_true());
        if (fs)
            json_object_set_new(s, "Filesystem", json_string(fs));
        if (json_array_size(options))
            json_object_set(s, "Options", options);
    }
    json_decref(options);
    if ((rc = ctl_connect(x)) != CTL_OK) {
        json_decref(s);
        return rc;
    }
    json_t *req = json_pack("{s:s, s:s, s:o}", "ResourceType", type, "RequestType", request, "Settings", s);
    json_t *payload = hc_envelope(NULL_CONTAINER_ID);
    json_object_set_new(payload, "Request", req);
    cleanup_free char *what = xasprintf("scsi %s %lu:%lu", verb, controller, lun);
    return ctl_request(x, MSG_REQUEST_CODE(RPC_MODIFY_SETTINGS), payload, NULL, what);
}
