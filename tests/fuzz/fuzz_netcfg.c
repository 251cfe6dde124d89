/* libFuzzer: the host-supplied strings of a Network Add that reach the
 * agent's NIC code (network/nic.h, network/nl.h, network/netcfg.h): the
 * adapter ID (a path element under -sysfs-root), IPConfig addresses, route
 * prefixes and next hops, a netmask.
 * Input: id \0 prefix \0 address \0 mask.
 * Asserts: an accepted ID is one path element (no '/', not . or ..); a
 * lookup under a missing root never finds a NIC; an accepted prefix has a
 * length within its family's bits and its address prints and parses back
 * to the same bytes; a mask prefix is -1 or 0..32. */
#include "network/netcfg.h"
#include "network/nic.h"
#include "network/nl.h"

#include "fuzz_input.h"

#include <arpa/inet.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_fields ff;
    fuzz_split(data, size, 4, &ff);
    gcs_err err = GCS_ERR_INIT;
    const char *id = ff.f[0];
    if (nic_check_id(id, &err) == 0) {
        FUZZ_CHECK(!strchr(id, '/') && strcmp(id, ".") && strcmp(id, "..") && *id, "id %s", id);
        char *ifname = NULL, *why = NULL;
        int r = nic_lookup("/nonexistent-gcs-fuzz-root", id, ff.len[1] & 1, &ifname, &why, &err);
        FUZZ_CHECK(r == 0 && !ifname && why, "lookup %d", r);
        free(why);
    }
    err_clear(&err);

    nl_addr a;
    unsigned len = 0;
    if (nl_prefix_parse(ff.f[1], &a, &len)) {
        FUZZ_CHECK(len <= nl_addr_bits(&a), "len %u", len);
        char buf[INET6_ADDRSTRLEN];
        nl_addr b;
        FUZZ_CHECK(nl_addr_parse(nl_addr_str(&a, buf, sizeof(buf)), &b) && b.family == a.family &&
                       memcmp(a.b, b.b, a.family == AF_INET ? 4 : 16) == 0,
                   "round trip %s", buf);
        nl_addr c;
        if (nl_addr_parse(ff.f[2], &c))
            (void)nl_addr_same_prefix(&a, &c, len);
    }
    (void)netcfg_route_skipped(ff.f[1], ff.f[2]);
    int m = netcfg_mask_prefix(ff.f[3]);
    FUZZ_CHECK(m >= -1 && m <= 32, "mask %d", m);
    fuzz_fields_done(&ff);
    return 0;
}
