/* cmd_storage.c — attach and detach by hand what the host normally sends
 * as ModifySettings: VPMem layers (gcsctl pmem) and Plan 9 shares
 * (gcsctl plan9). Each builds the settings hcsshim would send and makes
 * one request, like `gcsctl modify`. */
#include "gcsctl/gcsctl.h"

#include "bridge/proto.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

static int modify_vm(ctl *x, const char *type, const char *request, json_t *settings)
{
    int rc = ctl_connect(x);
    if (rc != CTL_OK) {
        json_decref(settings);
        return rc;
    }
    json_t *req = json_pack("{s:s, s:s, s:o}", "ResourceType", type, "RequestType", request, "Settings", settings);
    json_t *payload = hc_envelope(NULL_CONTAINER_ID);
    json_object_set_new(payload, "Request", req);
    cleanup_free char *what = xasprintf("%s %s", type, request);
    return ctl_request(x, MSG_REQUEST_CODE(RPC_MODIFY_SETTINGS), payload, NULL, what);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 0);
    if (errno || end == s || *end || *s == '-')
        return -1;
    *v = n;
    return 0;
}

static const char *request_of(const char *verb)
{
    if (streq(verb, "add"))
        return "Add";
    if (streq(verb, "remove"))
        return "Remove";
    return NULL;
}

int cmd_pmem(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {
        {"offset", required_argument, NULL, 'o'},
        {"size", required_argument, NULL, 's'},
        {"verity-digest", required_argument, NULL, 'v'},
        {"verity-salt", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    uint64_t offset = 0, size = 0;
    bool mapped = false;
    const char *digest = NULL, *salt = NULL;
    int o;
    if (argc < 2 || !request_of(argv[1]))
        return ctl_usage_error(x, "needs add|remove DEVICE MOUNTPATH");
    const char *request = request_of(argv[1]);
    argc--, argv++; /* options follow the verb */
    optind = 1;
    while ((o = getopt_long(argc, argv, "+o:s:v:S:h", opts, NULL)) != -1) {
        switch (o) {
        case 'o':
        case 's':
            if (parse_u64(optarg, o == 'o' ? &offset : &size) < 0)
                return ctl_usage_error(x, "--%s: not a byte count: %s", o == 'o' ? "offset" : "size", optarg);
            mapped = true;
            break;
        case 'v':
            digest = optarg;
            break;
        case 'S':
            salt = optarg;
            break;
        case 'h':
            ctl_cmd_usage(x, stdout);
            return CTL_OK;
        default:
            return ctl_usage_error(x, "unknown option");
        }
    }
    if (argc - optind != 2)
        return ctl_usage_error(x, "needs add|remove DEVICE MOUNTPATH");
    uint64_t dev;
    if (parse_u64(argv[optind], &dev) < 0 || dev > UINT32_MAX)
        return ctl_usage_error(x, "DEVICE is the pmem number: %s", argv[optind]);
    if (mapped && size == 0)
        return ctl_usage_error(x, "--offset needs --size");
    json_t *s = json_pack("{s:I, s:s}", "DeviceNumber", (json_int_t)dev, "MountPath", argv[optind + 1]);
    if (mapped) {
        json_t *m = json_pack("{s:I}", "DeviceSizeInBytes", (json_int_t)size);
        if (offset)
            json_object_set_new(m, "DeviceOffsetInBytes", json_integer((json_int_t)offset));
        json_object_set_new(s, "MappingInfo", m);
    }
    if (digest) {
        json_t *v = json_pack("{s:s, s:b}", "RootDigest", digest, "SuperBlock", 1);
        if (salt)
            json_object_set_new(v, "Salt", json_string(salt));
        json_object_set_new(s, "VerityInfo", v);
    }
    return modify_vm(x, "VPMemDevice", request, s);
}

int cmd_plan9(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"read-only", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    uint64_t port = 564;
    bool ro = false;
    int o;
    if (argc < 2 || !request_of(argv[1]))
        return ctl_usage_error(x, "needs add|remove MOUNTPATH [SHARE]");
    const char *request = request_of(argv[1]);
    argc--, argv++; /* options follow the verb */
    optind = 1;
    while ((o = getopt_long(argc, argv, "+p:rh", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            if (parse_u64(optarg, &port) < 0 || port > INT32_MAX)
                return ctl_usage_error(x, "--port: not a port: %s", optarg);
            break;
        case 'r':
            ro = true;
            break;
        case 'h':
            ctl_cmd_usage(x, stdout);
            return CTL_OK;
        default:
            return ctl_usage_error(x, "unknown option");
        }
    }
    int n = argc - optind;
    if (n != 1 && n != 2)
        return ctl_usage_error(x, "needs add|remove MOUNTPATH [SHARE]");
    json_t *s = json_pack("{s:s, s:I}", "MountPath", argv[optind], "Port", (json_int_t)port);
    if (n == 2)
        json_object_set_new(s, "ShareName", json_string(argv[optind + 1]));
    if (ro)
        json_object_set_new(s, "ReadOnly", json_true());
    return modify_vm(x, "MappedDirectory", request, s);
}
