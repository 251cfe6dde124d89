/* Unit tests for src/network nic.c, netcfg.c and nl.c's address parsing:
 * the NIC lookup of upstream's internal/guest/network/network_test.go
 * (InstanceIDToName, InstanceIDToName_VPCI) on a fake sysfs tree, and the
 * pure parts of configureLink (internal/guest/network/netns_test.go). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/fsutil.h"
#include "network/netcfg.h"
#include "network/nic.h"
#include "network/nl.h"

#include <stdlib.h>
#include <sys/stat.h>

static char root[] = "/tmp/gcs-test-netcfg.XXXXXX";

static void mk(const char *rel)
{
    cleanup_free char *p = xasprintf("%s/%s", root, rel);
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(mkdir_p(p, 0755, NULL, NULL, &err), 0);
}

static int lookup(const char *id, bool vpci, char **ifname)
{
    gcs_err err = GCS_ERR_INIT;
    char *why = NULL;
    int r = nic_lookup(root, id, vpci, ifname, &why, &err);
    if (r == 0)
        assert_non_null(why);
    free(why);
    err_clear(&err);
    return r;
}

static void test_lookup_vmbus(void **state)
{
    (void)state;
    char *ifname = NULL;
    const char *id = "5f0bb4d5-AAAA-4b39-8e2d-7c9d0b6a3b01";
    /* not there yet: retry */
    assert_int_equal(lookup(id, false, &ifname), 0);
    mk("bus/vmbus/devices/5f0bb4d5-aaaa-4b39-8e2d-7c9d0b6a3b01/net");
    assert_int_equal(lookup(id, false, &ifname), 0); /* net/ still empty */
    mk("bus/vmbus/devices/5f0bb4d5-aaaa-4b39-8e2d-7c9d0b6a3b01/net/eth1");
    assert_int_equal(lookup(id, false, &ifname), 1); /* the ID is lower-cased */
    assert_string_equal(ifname, "eth1");
    free(ifname);
    mk("bus/vmbus/devices/5f0bb4d5-aaaa-4b39-8e2d-7c9d0b6a3b01/net/eth2");
    assert_true(lookup(id, false, &ifname) < 0); /* multiple interface names */
    assert_null(ifname);
}

static void test_lookup_vpci(void **state)
{
    (void)state;
    char *ifname = NULL;
    const char *id = "0b8e4e6c-1111-2222-3333-444455556666";
    mk("bus/vmbus/devices/0b8e4e6c-1111-2222-3333-444455556666/pci1234:00");
    assert_int_equal(lookup(id, true, &ifname), 0);
    mk("bus/vmbus/devices/0b8e4e6c-1111-2222-3333-444455556666/pci1234:00/1234:00:00.0/net/enP4660s1");
    assert_int_equal(lookup(id, true, &ifname), 1);
    assert_string_equal(ifname, "enP4660s1");
    free(ifname);
    /* a VPCI NIC is not found through the plain VMBus path */
    assert_int_equal(lookup(id, false, &ifname), 0);
}

static void test_bad_ids(void **state)
{
    (void)state;
    static const char *const bad[] = {"", ".", "..", "../x", "a/b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gcs_err err = GCS_ERR_INIT;
        assert_true(nic_check_id(bad[i], &err) < 0);
        assert_non_null(strstr(err_msg(&err), "not a device instance ID"));
        err_clear(&err);
    }
}

static void test_prefixes(void **state)
{
    (void)state;
    nl_addr a;
    unsigned len;
    assert_true(nl_prefix_parse("10.0.0.0/8", &a, &len));
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(len, 8);
    assert_true(nl_prefix_parse("fd00::/64", &a, &len));
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(len, 64);
    assert_true(nl_prefix_parse("10.1.2.3", &a, &len));
    assert_int_equal(len, 32);
    static const char *const bad[] = {"", "/8", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "10.0.0.0/8x", "x/8",
                                      "10.0.0.0/-1", "10.0.0.0/0008"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(nl_prefix_parse(bad[i], &a, &len));
    nl_addr b;
    assert_true(nl_addr_parse("10.1.2.3", &a));
    assert_true(nl_addr_parse("10.1.9.9", &b));
    assert_true(nl_addr_same_prefix(&a, &b, 16));
    assert_false(nl_addr_same_prefix(&a, &b, 24));
    assert_true(nl_addr_parse("0.0.0.0", &a) && nl_addr_is_any(&a));
}

static void test_masks_and_skips(void **state)
{
    (void)state;
    assert_int_equal(netcfg_mask_prefix("255.255.255.0"), 24);
    assert_int_equal(netcfg_mask_prefix("255.255.255.255"), 32);
    assert_int_equal(netcfg_mask_prefix("0.0.0.0"), 0);
    assert_int_equal(netcfg_mask_prefix("255.0.255.0"), -1);
    assert_int_equal(netcfg_mask_prefix("nonsense"), -1);
    assert_int_equal(netcfg_mask_prefix(NULL), -1);
    /* upstream's skip: a default route via the unspecified address; and an
     * empty next hop on a default route (no gateway at all) */
    assert_true(netcfg_route_skipped("0.0.0.0/0", "0.0.0.0"));
    assert_true(netcfg_route_skipped("::/0", "::"));
    assert_true(netcfg_route_skipped("0.0.0.0/0", ""));
    assert_true(netcfg_route_skipped("0.0.0.0/0", NULL));
    assert_false(netcfg_route_skipped("0.0.0.0/0", "10.0.0.1"));
    assert_false(netcfg_route_skipped("10.0.0.0/8", ""));
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_vmbus),
        cmocka_unit_test(test_lookup_vpci),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_masks_and_skips),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
