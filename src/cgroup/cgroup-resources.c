/* cgroup-resources.c — pure conversions: OCI resources to v2 files, and the
 * memory.events parser. No file system access here. */
#include "cgroup/cgroup-internal.h"

#include <errno.h>
#include <inttypes.h>

#define CPU_WEIGHT_MAX 10000u

/* docs/pod-model.md §4.5 cpu.shares row; clamped (docs/differences.md D-13;
 * upstream internal/guest/cgroup/cgroup_test.go shares -> weight cases). */
static uint64_t shares_to_weight(uint64_t shares)
{
    if (shares < 2)
        shares = 2;
    uint64_t w = 1 + ((shares - 2) * 9999) / 262142;
    if (shares > 262144 || w > CPU_WEIGHT_MAX)
        w = CPU_WEIGHT_MAX;
    return w;
}

void cgroup_v2_resources_from_oci(const json_t *oci, struct cgroup_v2_resources *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(oci))
        return;

    const json_t *mem = json_object_get(oci, "memory");
    int64_t limit = 0, swap = 0;
    bool has_limit = cg_json_i64(mem, "limit", &limit);
    bool has_swap = cg_json_i64(mem, "swap", &swap);
    if (has_limit) {
        out->has_memory_max = true;
        out->memory_max = limit < 0 ? -1 : limit;
    }
    if (cg_json_i64(mem, "reservation", &out->memory_low)) {
        out->has_memory_low = true;
        if (out->memory_low < 0)
            out->memory_low = -1;
    }
    if (has_swap) {
        /* OCI swap is memory+swap; v2 swap.max counts swap alone (docs/differences.md D-13). */
        out->has_memory_swap_max = true;
        if (swap < 0)
            out->memory_swap_max = -1;
        else if (has_limit && limit >= 0)
            out->memory_swap_max = swap > limit ? swap - limit : 0;
        else
            out->memory_swap_max = swap;
    }

    const json_t *cpu = json_object_get(oci, "cpu");
    uint64_t shares = 0;
    if (cg_json_u64(cpu, "shares", &shares) && shares != 0) {
        out->has_cpu_weight = true;
        out->cpu_weight = shares_to_weight(shares);
    }
    int64_t quota = 0;
    uint64_t period = 0;
    if (cg_json_i64(cpu, "quota", &quota) && cg_json_u64(cpu, "period", &period) && period != 0) {
        out->has_cpu_max = true;
        if (quota <= 0)
            snprintf(out->cpu_max, sizeof(out->cpu_max), "max %" PRIu64, period);
        else
            snprintf(out->cpu_max, sizeof(out->cpu_max), "%" PRId64 " %" PRIu64, quota, period);
    }

    const json_t *pids = json_object_get(oci, "pids");
    int64_t plimit = 0;
    if (cg_json_i64(pids, "limit", &plimit) && plimit > 0) {
        out->has_pids_max = true;
        out->pids_max = plimit;
    }

    const json_t *blkio = json_object_get(oci, "blockIO");
    uint64_t weight = 0;
    if (cg_json_u64(blkio, "weight", &weight) && weight != 0) {
        out->has_io_bfq_weight = true;
        out->io_bfq_weight = weight;
    }
}

void cgroup_v2_resources_controllers(const struct cgroup_v2_resources *r, char buf[32])
{
    buf[0] = '\0';
    if (r->has_cpu_weight || r->has_cpu_max)
        strcat(buf, "cpu ");
    if (r->has_io_bfq_weight)
        strcat(buf, "io ");
    if (r->has_memory_max || r->has_memory_low || r->has_memory_swap_max)
        strcat(buf, "memory ");
    if (r->has_pids_max)
        strcat(buf, "pids ");
    size_t n = strlen(buf);
    if (n)
        buf[n - 1] = '\0';
}

/* As upstream internal/guest/cgroup/memory_event_test.go expects. */
void cgroup_parse_memory_events(const char *text, struct cgroup_memory_events *out)
{
    memset(out, 0, sizeof(*out));
    if (!text)
        return;
    static const struct {
        const char *key;
        size_t val_off, has_off;
    } keys[] = {
#define K(name) {#name, offsetof(struct cgroup_memory_events, name), offsetof(struct cgroup_memory_events, has_##name)}
        K(low), K(high), K(max), K(oom), K(oom_kill), K(oom_group_kill),
#undef K
    };
    cleanup_free char *copy = xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[32], val[32], extra[2];
        int n = sscanf(line, "%31s %31s %1s", key, val, extra);
        if (n != 2 || val[0] < '0' || val[0] > '9')
            continue;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(val, &end, 10);
        if (errno || *end)
            continue;
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
            if (streq(key, keys[i].key)) {
                *(uint64_t *)((char *)out + keys[i].val_off) = v;
                *(bool *)((char *)out + keys[i].has_off) = true;
            }
        }
    }
}
