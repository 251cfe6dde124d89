/* cmd_nic.c — a NIC by hand: ModifySettings Network (LCOWNetworkAdapter)
 * Add and Remove, built from options instead of JSON. */
#include "gcsctl/gcsctl.h"

#include "bridge/proto.h"

#include <getopt.h>

/* "A/LEN" -> {"IPAddress":A,"PrefixLength":LEN} */
static json_t *ipconfig(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || !slash[1])
        return NULL;
    char *end = NULL;
    long len = strtol(slash + 1, &end, 10);
    if (*end || len < 0 || len > 128)
        return NULL;
    cleanup_free char *ip = xstrndup(s, (size_t)(slash - s));
    return json_pack("{s:s, s:I}", "IPAddress", ip, "PrefixLength", (json_int_t)len);
}

/* "DST[,VIA[,METRIC]]" -> a Route */
static json_t *route(const char *s)
{
    cleanup_free char *copy = xstrdup(s);
    char *via = strchr(copy, ',');
    char *metric = NULL;
    if (via) {
        *via++ = 0;
        metric = strchr(via, ',');
        if (metric)
            *metric++ = 0;
    }
    json_t *r = json_pack("{s:s}", "DestinationPrefix", copy);
    if (via && *via)
        json_object_set_new(r, "NextHop", json_string(via));
    if (metric) {
        char *end = NULL;
        long m = strtol(metric, &end, 10);
        if (*end || m < 0 || m > 65535) {
            json_decref(r);
            return NULL;
        }
        json_object_set_new(r, "Metric", json_integer(m));
    }
    return r;
}

int cmd_nic(ctl *x, int argc, char **argv)
{
    enum { O_IP = 1, O_GW, O_ROUTE, O_SUFFIX, O_DNS, O_ENCAP, O_VPCI, O_PBR };
    static const struct option opts[] = {
        {"ip", required_argument, NULL, O_IP},         {"gateway", required_argument, NULL, O_GW},
        {"route", required_argument, NULL, O_ROUTE},   {"dns-suffix", required_argument, NULL, O_SUFFIX},
        {"dns", required_argument, NULL, O_DNS},       {"encap-overhead", required_argument, NULL, O_ENCAP},
        {"vpci", no_argument, NULL, O_VPCI},           {"policy-based-routing", no_argument, NULL, O_PBR},
        {"help", no_argument, NULL, 'h'},              {0},
    };
    json_t *s = json_object();
    json_t *ips = json_array(), *routes = json_array();
    int o;
    optind = 0; /* reinitialise: this command permutes (options after the positionals) */
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        json_t *v = NULL;
        switch (o) {
        case O_IP:
            if (!(v = ipconfig(optarg)))
                goto bad;
            json_array_append_new(ips, v);
            break;
        case O_GW:
            json_array_append_new(routes, json_pack("{s:s, s:s}", "DestinationPrefix",
                                                    strchr(optarg, ':') ? "::/0" : "0.0.0.0/0", "NextHop", optarg));
            break;
        case O_ROUTE:
            if (!(v = route(optarg)))
                goto bad;
            json_array_append_new(routes, v);
            break;
        case O_SUFFIX: json_object_set_new(s, "DNSSuffix", json_string(optarg)); break;
        case O_DNS: json_object_set_new(s, "DNSServerList", json_string(optarg)); break;
        case O_ENCAP: {
            char *end = NULL;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 0 || n > 65535)
                goto bad;
            json_object_set_new(s, "EncapOverhead", json_integer(n));
            break;
        }
        case O_VPCI: json_object_set_new(s, "VPCIAssigned", json_true()); break;
        case O_PBR: json_object_set_new(s, "PolicyBasedRouting", json_true()); break;
        case 'h':
            json_decref(s);
            json_decref(ips);
            json_decref(routes);
            ctl_cmd_usage(x, stdout);
            return CTL_OK;
        default:
            goto bad;
        }
    }
    if (argc - optind != 3 || (!streq(argv[optind], "add") && !streq(argv[optind], "remove"))) {
        json_decref(s);
        json_decref(ips);
        json_decref(routes);
        return ctl_usage_error(x, "needs add|remove NAMESPACE-ID ADAPTER-ID");
    }
    bool add = streq(argv[optind], "add");
    json_object_set_new(s, "NamespaceID", json_string(argv[optind + 1]));
    json_object_set_new(s, "ID", json_string(argv[optind + 2]));
    if (add && json_array_size(ips))
        json_object_set_new(s, "IPConfigs", ips);
    else
        json_decref(ips);
    if (add && json_array_size(routes))
        json_object_set_new(s, "Routes", routes);
    else
        json_decref(routes);
    int rc = ctl_connect(x);
    if (rc != CTL_OK) {
        json_decref(s);
        return rc;
    }
    json_t *req = json_pack("{s:s, s:s, s:o}", "ResourceType", "Network", "RequestType", add ? "Add" : "Remove",
                            "Settings", s);
    json_t *payload = hc_envelope(NULL_CONTAINER_ID);
    json_object_set_new(payload, "Request", req);
    char what[300];
    snprintf(what, sizeof(what), "nic %s %.256s", add ? "add" : "remove", argv[optind + 2]);
    return ctl_request(x, MSG_REQUEST_CODE(RPC_MODIFY_SETTINGS), payload, NULL, what);
bad:
    json_decref(s);
    json_decref(ips);
    json_decref(routes);
    return ctl_usage_error(x, "bad option or value");
}
