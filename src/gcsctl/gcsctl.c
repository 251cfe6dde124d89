/* gcsctl — the host side of the gcs bridge, for people and tests.
 *
 * It listens on DIR/1073741824 (gcs -transport unix:DIR dials there), waits
 * for the agent, negotiates, runs one command, prints the result and exits;
 * the agent then re-dials and the next gcsctl gets it. */
#include "bridge/proto.h"
#include "gcsctl/client.h"

#include <errno.h>
#include <getopt.h>
#include <strings.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gcsctl [options] COMMAND [ARGS]\n"
            "\n"
            "options:\n"
            "  -d, --dir DIR        socket directory gcs dials into (default $GCS_DIR or /run/gcs-host)\n"
            "  -t, --timeout SEC    how long to wait for the agent and for each response (default 30)\n"
            "  -n, --no-negotiate   do not send NegotiateProtocol first (for protocol tests)\n"
            "\n"
            "commands:\n"
            "  negotiate            negotiate and print the agent's capabilities as JSON\n"
            "  raw TYPE JSON        send one request and print the response payload as JSON.\n"
            "                       TYPE is a message name (WaitForProcess, ...) or a number (0x10100601)\n");
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

static void print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", s ? s : "null");
    free(s);
}

int main(int argc, char **argv)
{
    const char *dir = getenv("GCS_DIR") ? getenv("GCS_DIR") : "/run/gcs-host";
    int timeout_s = 30;
    bool negotiate = true;
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"no-negotiate", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int o;
    while ((o = getopt_long_only(argc, argv, "+d:t:nh", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 't': timeout_s = atoi(optarg); break;
        case 'n': negotiate = false; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;

    if (strcmp(cmd, "raw") == 0 && nargs != 2) {
        fprintf(stderr, "gcsctl: raw needs TYPE and JSON\n");
        return 2;
    }
    if (strcmp(cmd, "negotiate") != 0 && strcmp(cmd, "raw") != 0) {
        fprintf(stderr, "gcsctl: unknown command %s\n", cmd);
        usage(stderr);
        return 2;
    }

    gcs_err err = GCS_ERR_INIT;
    hc c;
    int rc = 1;
    if (hc_listen(&c, dir, &err) < 0 || hc_accept(&c, timeout_s * 1000, &err) < 0)
        goto fail;
    json_t *resp = NULL;
    if (negotiate || strcmp(cmd, "negotiate") == 0) {
        if (hc_negotiate(&c, &resp, &err) < 0)
            goto fail;
        if (strcmp(cmd, "negotiate") == 0) {
            print_json(resp);
            json_decref(resp);
            rc = 0;
            goto out;
        }
        json_decref(resp);
    }
    if (strcmp(cmd, "raw") == 0) {
        uint32_t type;
        if (parse_type(args[0], &type) < 0) {
            fprintf(stderr, "gcsctl: bad message type %s\n", args[0]);
            rc = 2;
            goto out;
        }
        uint64_t id;
        uint32_t rtype;
        if (hc_send_raw(&c, type, args[1], strlen(args[1]), &id, &err) < 0 ||
            hc_wait_response(&c, id, &resp, &rtype, timeout_s * 1000, &err) < 0)
            goto fail;
        print_json(resp);
        json_t *res = json_object_get(resp, "Result");
        rc = json_is_integer(res) && json_integer_value(res) == 0 ? 0 : 1;
        json_decref(resp);
    }
    goto out;
fail:
    fprintf(stderr, "gcsctl: %s\n", err_msg(&err));
out:
    hc_close(&c);
    err_clear(&err);
    return rc;
}
