/* cmd_list.c — what the agent holds, from its DumpStacks text: list, dump.
 *
 * The text has "  pod <sid> cgroup=... root=... members=N[ sandbox=deleted]"
 * and "  container <id> kind=... state=... pod=... pid=... bundle=...
 * root=..." lines. A value runs up to the next known key, so a kind with a
 * space in it ("virtual-pod sandbox") parses. */
#include "gcsctl/gcsctl.h"

#include "bridge/proto.h"

#include <getopt.h>

typedef struct field {
    const char *key;
    bool number;
} field;

static const field POD_FIELDS[] = {
    {"cgroup", false},
    {"root", false},
    {"members", true},
    {"sandbox", false},
};
static const field CONTAINER_FIELDS[] = {
    {"kind", false}, {"state", false}, {"pod", false},   {"pid", true},
    {"bundle", false}, {"root", false}, {"execs", true},
};

/* Where " key=" (or "key=" at the start) next occurs in s at or after from. */
static const char *find_key(const char *s, const char *from, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = from; (p = strstr(p, key)) != NULL; p++) {
        if ((p == s || p[-1] == ' ') && p[kl] == '=')
            return p;
    }
    return NULL;
}

/* "<id> k1=v1 k2=v2 ..." -> {"id":..., "k1":..., ...}; keys in order, any may
 * be missing. */
static json_t *parse_entry(const char *s, const field *fields, size_t n)
{
    json_t *o = json_object();
    const char *sp = strchr(s, ' ');
    json_object_set_new(o, "id", json_stringn(s, sp ? (size_t)(sp - s) : strlen(s)));
    const char *at[8] = {0};
    const char *cur = sp ? sp : s + strlen(s);
    for (size_t i = 0; i < n; i++) {
        at[i] = find_key(s, cur, fields[i].key);
        if (at[i])
            cur = at[i] + strlen(fields[i].key) + 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!at[i])
            continue;
        const char *v = at[i] + strlen(fields[i].key) + 1;
        const char *end = v + strlen(v);
        for (size_t j = i + 1; j < n; j++) {
            if (at[j]) {
                end = at[j] - 1; /* the space before the next key */
                break;
            }
        }
        if (fields[i].number)
            json_object_set_new(o, fields[i].key, json_integer(strtoll(v, NULL, 10)));
        else
            json_object_set_new(o, fields[i].key, json_stringn(v, (size_t)(end - v)));
    }
    return o;
}

static json_t *parse_stacks(const char *text)
{
    json_t *pods = json_array(), *ctrs = json_array();
    cleanup_free char *copy = xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (str_has_prefix(line, "  pod ")) {
            json_t *p = parse_entry(line + 6, POD_FIELDS, ARRAY_SIZE(POD_FIELDS));
            const char *sb = json_string_value(json_object_get(p, "sandbox"));
            json_object_set_new(p, "sandbox_deleted", json_boolean(streq(sb, "deleted")));
            json_object_del(p, "sandbox");
            json_array_append_new(pods, p);
        } else if (str_has_prefix(line, "  container "))
            json_array_append_new(ctrs, parse_entry(line + 12, CONTAINER_FIELDS, ARRAY_SIZE(CONTAINER_FIELDS)));
    }
    json_t *o = json_object();
    json_object_set_new(o, "pods", pods);
    json_object_set_new(o, "containers", ctrs);
    return o;
}

static int dump_stacks(ctl *x, char **ret)
{
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    json_t *resp;
    rc = ctl_request(x, MSG_REQUEST_CODE(RPC_DUMP_STACKS), hc_envelope(NULL_CONTAINER_ID), &resp, "dump stacks");
    if (rc != CTL_OK)
        return rc;
    const char *s = json_string_value(json_object_get(resp, "GuestStacks"));
    *ret = xstrdup(s ? s : "");
    json_decref(resp);
    return CTL_OK;
}

int ctl_listing(ctl *x, json_t **ret)
{
    cleanup_free char *text = NULL;
    int rc = dump_stacks(x, &text);
    if (rc == CTL_OK)
        *ret = parse_stacks(text);
    return rc;
}

/* One table: the header row, then one row per object of arr. */
static void print_table(json_t *arr, const char *const *cols, const char *const *heads, size_t ncols)
{
    size_t nrows = json_array_size(arr);
    char **cells = xzalloc(sizeof(char *) * ncols * (nrows + 1));
    size_t width[8] = {0};
    for (size_t c = 0; c < ncols; c++) {
        cells[c] = xstrdup(heads[c]);
        for (size_t r = 0; r < nrows; r++) {
            json_t *v = json_object_get(json_array_get(arr, r), cols[c]);
            cells[(r + 1) * ncols + c] = json_is_integer(v)  ? xasprintf("%lld", (long long)json_integer_value(v))
                                         : json_is_string(v) ? xstrdup(json_string_value(v))
                                                             : xstrdup("");
        }
    }
    for (size_t i = 0; i < ncols * (nrows + 1); i++) {
        size_t l = strlen(cells[i]);
        if (l > width[i % ncols])
            width[i % ncols] = l;
    }
    for (size_t r = 0; r <= nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cells[r * ncols + c];
            if (c + 1 == ncols)
                printf("%s\n", s);
            else
                printf("%-*s  ", (int)width[c], s);
        }
    }
    for (size_t i = 0; i < ncols * (nrows + 1); i++)
        free(cells[i]);
    free(cells);
}

int cmd_list(ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0}};
    bool as_json = false;
    int o;
    while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (o != 'j')
            return ctl_usage_error(x, "unknown option %s", argv[optind - 1]);
        as_json = true;
    }
    if (optind != argc)
        return ctl_usage_error(x, "takes no arguments");
    cleanup_free char *text = NULL;
    int rc = dump_stacks(x, &text);
    if (rc != CTL_OK)
        return rc;
    json_t *doc = parse_stacks(text);
    if (as_json) {
        ctl_print_json(doc);
    } else {
        static const char *const pcols[] = {"id", "members", "cgroup", "root", "sandbox"};
        static const char *const pheads[] = {"POD", "MEMBERS", "CGROUP", "ROOT", "SANDBOX"};
        static const char *const ccols[] = {"id", "kind", "state", "pod", "pid", "bundle"};
        static const char *const cheads[] = {"CONTAINER", "KIND", "STATE", "POD", "PID", "BUNDLE"};
        json_t *pods = json_object_get(doc, "pods");
        for (size_t i = 0; i < json_array_size(pods); i++) {
            json_t *p = json_array_get(pods, i);
            bool gone = json_is_true(json_object_get(p, "sandbox_deleted"));
            json_object_set_new(p, "sandbox", json_string(gone ? "deleted" : "alive"));
        }
        print_table(pods, pcols, pheads, ARRAY_SIZE(pcols));
        printf("\n");
        print_table(json_object_get(doc, "containers"), ccols, cheads, ARRAY_SIZE(ccols));
    }
    json_decref(doc);
    return CTL_OK;
}

int cmd_dump(ctl *x, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return ctl_usage_error(x, "takes no arguments");
    cleanup_free char *text = NULL;
    int rc = dump_stacks(x, &text);
    if (rc == CTL_OK)
        fputs(text, stdout);
    return rc;
}
