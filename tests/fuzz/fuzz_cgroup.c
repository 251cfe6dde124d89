/* libFuzzer: the pure cgroup converters (cgroup/cgroup.h). First byte even:
 * the rest is an OCI LinuxResources JSON for cgroup_v2_resources_from_oci;
 * odd: memory.events text for cgroup_parse_memory_events.
 * Asserts: cpu_weight in [1,10000] and equal to the docs/pod-model.md §4.5
 * formula computed
 * without overflow; pids_max > 0; memory values >= -1 (-1 = max) and
 * swap.max follows the docs/differences.md D-13 rule; cpu.max is "max P" or "Q P" with
 * Q, P > 0; the controller list matches the has_* flags. memory.events:
 * every key found has the value of the last well-formed "key value" line
 * (checked against an independent tokenizer), and no key is invented. */
#include "cgroup/cgroup.h"

#include "fuzz_input.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool get_int(const json_t *o, const char *k, int64_t *v)
{
    json_t *j = json_is_object(o) ? json_object_get(o, k) : NULL;
    if (!json_is_integer(j))
        return false;
    *v = json_integer_value(j);
    return true;
}

static void check_resources(const json_t *oci)
{
    struct cgroup_v2_resources r;
    memset(&r, 0x5a, sizeof(r));
    cgroup_v2_resources_from_oci(oci, &r);
    const json_t *cpu = json_is_object(oci) ? json_object_get(oci, "cpu") : NULL;
    const json_t *mem = json_is_object(oci) ? json_object_get(oci, "memory") : NULL;
    int64_t shares, limit, swap, quota, period, plimit;

    if (r.has_cpu_weight) {
        FUZZ_CHECK(r.cpu_weight >= 1 && r.cpu_weight <= 10000, "cpu_weight %" PRIu64, r.cpu_weight);
        FUZZ_CHECK(get_int(cpu, "shares", &shares) && shares > 0, "cpu_weight without shares");
        unsigned __int128 s = (uint64_t)(shares < 2 ? 2 : shares);
        unsigned __int128 w = 1 + ((s - 2) * 9999) / 262142;
        if (w > 10000)
            w = 10000;
        FUZZ_CHECK(r.cpu_weight == (uint64_t)w, "shares %" PRId64 " -> weight %" PRIu64 ", want %" PRIu64, shares,
                   r.cpu_weight, (uint64_t)w);
    } else {
        FUZZ_CHECK(!get_int(cpu, "shares", &shares) || shares <= 0, "shares %" PRId64 " ignored", shares);
    }
    if (r.has_pids_max)
        FUZZ_CHECK(r.pids_max > 0, "pids_max %" PRId64, r.pids_max);
    else
        FUZZ_CHECK(!get_int(json_object_get(oci, "pids"), "limit", &plimit) || plimit <= 0,
                   "pids limit %" PRId64 " ignored", plimit);
    if (r.has_memory_max)
        FUZZ_CHECK(r.memory_max >= -1, "memory_max %" PRId64, r.memory_max);
    if (r.has_memory_low)
        FUZZ_CHECK(r.memory_low >= -1, "memory_low %" PRId64, r.memory_low);
    if (r.has_memory_swap_max) {
        FUZZ_CHECK(r.memory_swap_max >= -1, "swap_max %" PRId64, r.memory_swap_max);
        FUZZ_CHECK(get_int(mem, "swap", &swap), "swap_max without swap");
        if (swap >= 0 && get_int(mem, "limit", &limit) && limit >= 0)
            FUZZ_CHECK(r.memory_swap_max == (swap > limit ? swap - limit : 0),
                       "swap %" PRId64 " limit %" PRId64 " -> swap.max %" PRId64, swap, limit, r.memory_swap_max);
    }
    if (r.has_cpu_max) {
        char q[48], extra[2];
        unsigned long long p;
        FUZZ_CHECK(sscanf(r.cpu_max, "%47s %llu%1s", q, &p, extra) == 2 && p > 0, "cpu.max \"%s\"", r.cpu_max);
        FUZZ_CHECK(get_int(cpu, "period", &period) && (uint64_t)period == p, "cpu.max period");
        FUZZ_CHECK(get_int(cpu, "quota", &quota), "cpu.max without quota");
        if (quota <= 0) {
            FUZZ_CHECK(streq(q, "max"), "quota %" PRId64 " -> \"%s\"", quota, r.cpu_max);
        } else {
            char want[24];
            snprintf(want, sizeof(want), "%" PRId64, quota);
            FUZZ_CHECK(streq(q, want), "quota %" PRId64 " -> \"%s\"", quota, r.cpu_max);
        }
    }
    char ctl[32];
    cgroup_v2_resources_controllers(&r, ctl);
    FUZZ_CHECK(strlen(ctl) < sizeof(ctl), "controllers overflow");
    FUZZ_CHECK(!!strstr(ctl, "cpu") == (r.has_cpu_weight || r.has_cpu_max), "controllers \"%s\" cpu", ctl);
    FUZZ_CHECK(!!strstr(ctl, "pids") == r.has_pids_max, "controllers \"%s\" pids", ctl);
    FUZZ_CHECK(!!strstr(ctl, "memory") == (r.has_memory_max || r.has_memory_low || r.has_memory_swap_max),
               "controllers \"%s\" memory", ctl);
    FUZZ_CHECK(!!strstr(ctl, "io") == r.has_io_bfq_weight, "controllers \"%s\" io", ctl);
}

/* The reference: the last line of exactly two whitespace-separated tokens
 * "key <decimal that fits in u64>", tokens up to 31 characters (the kernel never pads). */
static bool ref_event(const char *text, const char *key, uint64_t *ret)
{
    bool found = false;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *tok[3];
        size_t tl[3], nt = 0;
        for (size_t i = 0; i < len;) {
            while (i < len && isspace((unsigned char)p[i]))
                i++;
            if (i >= len)
                break;
            size_t s = i;
            while (i < len && !isspace((unsigned char)p[i]))
                i++;
            if (nt < 3)
                tok[nt] = p + s, tl[nt] = i - s;
            nt++;
        }
        if (nt == 2 && tl[0] == strlen(key) && !memcmp(tok[0], key, tl[0]) && tl[1] <= 31) {
            char v[32];
            memcpy(v, tok[1], tl[1]);
            v[tl[1]] = '\0';
            bool digits = true;
            for (size_t i = 0; i < tl[1]; i++)
                digits = digits && isdigit((unsigned char)v[i]);
            errno = 0;
            unsigned long long x = digits ? strtoull(v, NULL, 10) : 0;
            if (digits && !errno) {
                found = true;
                *ret = x;
            }
        }
        p += len + (nl ? 1 : 0);
    }
    return found;
}

static void check_events(const char *text)
{
    struct cgroup_memory_events e;
    memset(&e, 0x5a, sizeof(e));
    cgroup_parse_memory_events(text, &e);
    const struct {
        const char *key;
        bool has;
        uint64_t v;
    } k[] = {{"low", e.has_low, e.low},       {"high", e.has_high, e.high},       {"max", e.has_max, e.max},
             {"oom", e.has_oom, e.oom},       {"oom_kill", e.has_oom_kill, e.oom_kill},
             {"oom_group_kill", e.has_oom_group_kill, e.oom_group_kill}};
    for (size_t i = 0; i < ARRAY_SIZE(k); i++) {
        uint64_t want = 0;
        bool ref = ref_event(text, k[i].key, &want);
        if (ref)
            FUZZ_CHECK(k[i].has && k[i].v == want, "%s: parsed %d/%" PRIu64 ", want %" PRIu64, k[i].key,
                       (int)k[i].has, k[i].v, want);
        else if (k[i].has)
            FUZZ_CHECK(false, "%s = %" PRIu64 " parsed from no well-formed line", k[i].key, k[i].v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        cleanup_free char *text = xstrndup((const char *)data + 1, size - 1);
        check_events(text);
        return 0;
    }
    json_t *oci = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    check_resources(oci);
    json_decref(oci);
    return 0;
}
