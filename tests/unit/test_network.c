/* Unit tests for src/network: the cases of upstream's
 * internal/guest/runtime/hcsv2/network_test.go and
 * internal/guest/network/network_test.go (docs/pod-model.md §6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "network/netfiles.h"
#include "network/nsreg.h"

#include <stdlib.h>
#include <sys/stat.h>

static const char *const HOSTS_TAIL = "\n"
                                      "# The following lines are desirable for IPv6 capable hosts\n"
                                      "::1     ip6-localhost ip6-loopback\n"
                                      "fe00::0 ip6-localnet\n"
                                      "ff00::0 ip6-mcastprefix\n"
                                      "ff02::1 ip6-allnodes\n"
                                      "ff02::2 ip6-allrouters\n";

static char *resolv(const char *const *s, size_t ns, const char *const *v, size_t nv, const char *const *o,
                    size_t no)
{
    gcs_err err = GCS_ERR_INIT;
    char *out = NULL;
    if (netfiles_resolv_conf_content(s, ns, v, nv, o, no, &out, &err) < 0)
        fail_msg("%s", err_msg(&err));
    return out;
}

/* 108-113 */
static void test_resolv_conf(void **state)
{
    (void)state;
    static const char *const s2[] = {"a.com", "b.com"};
    static const char *const v2[] = {"8.8.8.8", "8.8.4.4"};
    static const char *const o2[] = {"timeout:30", "inet6"};
    static const char *const s7[] = {"1", "2", "3", "4", "5", "6", "7"};
    char *c;

    c = resolv(NULL, 0, NULL, 0, NULL, 0); /* 108 */
    assert_string_equal(c, "");
    free(c);

    gcs_err err = GCS_ERR_INIT; /* 109 */
    c = NULL;
    assert_true(netfiles_resolv_conf_content(s7, 7, NULL, 0, NULL, 0, &c, &err) < 0);
    assert_null(c);
    assert_string_equal(err_msg(&err), "searches has more than 6 domains");
    err_clear(&err);
    c = resolv(s7, 6, NULL, 0, NULL, 0); /* 6 is still fine */
    assert_string_equal(c, "search 1 2 3 4 5 6\n");
    free(c);

    c = resolv(s2, 2, NULL, 0, NULL, 0); /* 110 */
    assert_string_equal(c, "search a.com b.com\n");
    free(c);
    c = resolv(NULL, 0, v2, 2, NULL, 0); /* 111 */
    assert_string_equal(c, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    free(c);
    c = resolv(NULL, 0, NULL, 0, o2, 2); /* 112 */
    assert_string_equal(c, "options timeout:30 inet6\n");
    free(c);
    /* no line or item injection (found by fuzz_netfiles) */
    static const char *const inj[] = {"a\nb", "a b", "", "a\rb", "a\x01"};
    for (size_t i = 0; i < ARRAY_SIZE(inj); i++) {
        c = NULL;
        assert_true(netfiles_resolv_conf_content(&inj[i], 1, NULL, 0, NULL, 0, &c, &err) < 0);
        assert_null(c);
        assert_int_equal(err.hr, HR_E_INVALIDARG);
        err_clear(&err);
        assert_true(netfiles_resolv_conf_content(NULL, 0, &inj[i], 1, NULL, 0, &c, &err) < 0);
        err_clear(&err);
        assert_true(netfiles_resolv_conf_content(NULL, 0, NULL, 0, &inj[i], 1, &c, &err) < 0);
        err_clear(&err);
    }
    c = resolv(s2, 2, v2, 2, o2, 2); /* 113 */
    assert_string_equal(c, "search a.com b.com\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions timeout:30 inet6\n");
    free(c);
}

/* 114 */
static void test_valid_hostnames(void **state)
{
    (void)state;
    static const char *const good[] = {"localhost", "my-hostname", "my.hostname", "my-host-name123",
                                       "_underscores.are.allowed.too", ""};
    gcs_err err = GCS_ERR_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        if (netfiles_validate_hostname(good[i], &err) < 0)
            fail_msg("%s: %s", good[i], err_msg(&err));
    char h[256];
    memset(h, 'a', 255);
    h[255] = '\0';
    assert_int_equal(netfiles_validate_hostname(h, &err), 0);
}

/* 115 */
static void test_invalid_hostnames(void **state)
{
    (void)state;
    static const char *const bad[] = {"localhost\n13.104.0.1 ip6-localhost ip6-loopback localhost",
                                      "localhost\n2603:1000::1 ip6-localhost ip6-loopback",
                                      "hello@microsoft.com",
                                      "has space",
                                      "has,comma",
                                      "a\nb"};
    gcs_err err = GCS_ERR_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (netfiles_validate_hostname(bad[i], &err) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(err_msg(&err), "invalid: must match ^[a-zA-Z0-9_\\-\\.]{0,255}$"));
        /* the message must not carry a raw newline */
        assert_null(strchr(err_msg(&err), '\n'));
        err_clear(&err);
    }
    /* the single NUL byte */
    assert_true(netfiles_validate_hostname_n("\0", 1, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "invalid: must match"));
    err_clear(&err);
    /* 1000 x 'a' */
    char *h = xmalloc(1001);
    memset(h, 'a', 1000);
    h[1000] = '\0';
    assert_true(netfiles_validate_hostname(h, &err) < 0);
    err_clear(&err);
    h[256] = '\0';
    assert_true(netfiles_validate_hostname(h, &err) < 0);
    err_clear(&err);
    free(h);
}

/* 116, 117 */
static void test_hosts_content(void **state)
{
    (void)state;
    char *c = netfiles_hosts_content("Test");
    char *want = xasprintf("127.0.0.1 localhost\n127.0.0.1 Test\n%s", HOSTS_TAIL);
    assert_string_equal(c, want);
    free(c), free(want);
    c = netfiles_hosts_content("test.rules.domain.com");
    want = xasprintf("127.0.0.1 localhost\n127.0.0.1 test.rules.domain.com test\n%s", HOSTS_TAIL);
    assert_string_equal(c, want);
    free(c), free(want);
    c = netfiles_hostname_content("h");
    assert_string_equal(c, "h\n");
    free(c);
}

static void test_write_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/gcs-unit-netfiles-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *p = xasprintf("%s/hosts", dir);
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(netfiles_write(p, "x\n", &err), 0);
    assert_int_equal(netfiles_write(p, "y\n", &err), 0); /* truncates */
    char *got = NULL;
    size_t len;
    assert_int_equal(read_file(p, &got, &len), 0);
    assert_string_equal(got, "y\n");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true((st.st_mode & 0133) == 0);                                                /* never more than 0644 */
    free(got);
    unlink(p);
    free(p);
    char *bad = xasprintf("%s/missing/hosts", dir);
    assert_true(netfiles_write(bad, "x", &err) < 0);
    assert_non_null(strstr(err_msg(&err), "No such file"));
    err_clear(&err);
    free(bad);
    rmdir(dir);
}

/* 96-100 */
static void test_registry_get_create_remove(void **state)
{
    (void)state;
    nsreg *reg = nsreg_new();
    gcs_err err = GCS_ERR_INIT;

    assert_null(nsreg_get(reg, "missing", &err)); /* 96 */
    assert_int_equal(err.hr, HR_NOT_FOUND);
    assert_string_equal(err_msg(&err), "namespace 'missing' not found");
    err_clear(&err);

    nsreg_ns *a = nsreg_get_or_create(reg, "ABC-def"); /* 97, 98 */
    assert_non_null(a);
    assert_string_equal(nsreg_ns_id(a), "abc-def");
    assert_ptr_equal(nsreg_get(reg, "abc-DEF", &err), a);
    assert_ptr_equal(nsreg_get_or_create(reg, "abc-def"), a); /* 99 */
    assert_int_equal(nsreg_count(reg), 1);

    /* even "" is a namespace (upstream's standalone get-or-create) */
    assert_non_null(nsreg_get_or_create(reg, ""));
    assert_int_equal(nsreg_count(reg), 2);

    assert_int_equal(nsreg_remove(reg, "nope", &err), 0); /* 100 */
    assert_int_equal(nsreg_remove(reg, "ABC-DEF", &err), 0);
    assert_null(nsreg_get(reg, "abc-def", &err));
    err_clear(&err);
    assert_int_equal(nsreg_count(reg), 1);
    nsreg_free(reg);
    assert_null(nsreg_free(NULL));
}

/* 101 + adapter bookkeeping */
static void test_registry_adapters(void **state)
{
    (void)state;
    nsreg *reg = nsreg_new();
    gcs_err err = GCS_ERR_INIT;
    nsreg_ns *ns = nsreg_get_or_create(reg, "n1");
    assert_int_equal(nsreg_ns_add_adapter(ns, &(nsreg_adapter){.id = "test"}, &err), 0);
    assert_true(nsreg_ns_add_adapter(ns, &(nsreg_adapter){.id = "TEST"}, &err) < 0);
    assert_string_equal(err_msg(&err), "adapter with id: 'TEST' already present in namespace");
    err_clear(&err);
    assert_int_equal(nsreg_ns_adapter_count(ns), 1);

    assert_true(nsreg_remove(reg, "n1", &err) < 0);
    assert_string_equal(err_msg(&err), "network namespace 'n1' contains adapters");
    err_clear(&err);
    assert_ptr_equal(nsreg_get(reg, "n1", &err), ns);

    assert_false(nsreg_ns_remove_adapter(ns, "other"));
    assert_true(nsreg_ns_remove_adapter(ns, "Test"));
    assert_int_equal(nsreg_ns_adapter_count(ns), 0);
    assert_int_equal(nsreg_remove(reg, "n1", &err), 0);
    assert_int_equal(nsreg_count(reg), 0);

    ns = nsreg_get_or_create(reg, "n2");
    assert_int_equal(nsreg_ns_pid(ns), 0);
    assert_int_equal(nsreg_ns_assign_pid(ns, 42, &err), 0);
    assert_true(nsreg_ns_assign_pid(ns, 43, &err) < 0);
    assert_string_equal(err_msg(&err), "previously assigned container pid 42 to network namespace \"n2\"");
    err_clear(&err);
    assert_int_equal(nsreg_ns_pid(ns), 42);
    /* freeing a registry that still holds NICs frees them */
    nsreg_ns_add_adapter(ns, &(nsreg_adapter){.id = "x", .dns_suffix = "a", .dns_server_list = "b"}, &err);
    nsreg_free(reg);
}

static bool strv_has(const nsreg_strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i], s) == 0)
            return true;
    return false;
}

static void assert_strv_set(const nsreg_strv *v, const char *const *want, size_t n)
{
    assert_int_equal(v->n, n);
    for (size_t i = 0; i < n; i++)
        if (!strv_has(v, want[i]))
            fail_msg("missing %s", want[i]);
}

/* 102-107: cumulative rows on one namespace */
static void test_dns_rows(void **state)
{
    (void)state;
    static const struct {
        const char *suffix, *servers;
        const char *searches_want[5];
        size_t nsearch;
        const char *servers_want[5];
        size_t nserv;
    } rows[] = {
        {NULL, NULL, {0}, 0, {0}, 0},                                                     /* 102 */
        {NULL, "1.1.1.1", {0}, 0, {"1.1.1.1"}, 1},                                        /* 103 */
        {"azure-dns.com", NULL, {"azure-dns.com"}, 1, {"1.1.1.1"}, 1},                    /* 104 */
        {"Azure-DNS.com,service.svc.cluster.local,svc.cluster.local,cluster.local",      /* 105 */
         "10.11.12.13, 1.1.1.1, 8.8.8.8",
         {"azure-dns.com", "service.svc.cluster.local", "svc.cluster.local", "cluster.local"},
         4,
         {"1.1.1.1", "10.11.12.13", "8.8.8.8"},
         3},
        {NULL, NULL,                                                                       /* 106 */
         {"azure-dns.com", "service.svc.cluster.local", "svc.cluster.local", "cluster.local"},
         4,
         {"1.1.1.1", "10.11.12.13", "8.8.8.8"},
         3},
        {NULL, "FC00::A",                                                                  /* 107 */
         {"azure-dns.com", "service.svc.cluster.local", "svc.cluster.local", "cluster.local"},
         4,
         {"1.1.1.1", "10.11.12.13", "8.8.8.8", "fc00::a"},
         4},
    };
    nsreg *reg = nsreg_new();
    nsreg_ns *ns = nsreg_get_or_create(reg, "dns");
    gcs_err err = GCS_ERR_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        char id[16];
        snprintf(id, sizeof(id), "nic%zu", i);
        nsreg_adapter a = {.id = id, .dns_suffix = (char *)rows[i].suffix, .dns_server_list = (char *)rows[i].servers};
        assert_int_equal(nsreg_ns_add_adapter(ns, &a, &err), 0);
        nsreg_strv s, v;
        nsreg_ns_dns_config(ns, &s, &v);
        assert_strv_set(&s, rows[i].searches_want, rows[i].nsearch);
        assert_strv_set(&v, rows[i].servers_want, rows[i].nserv);
        nsreg_strv_done(&s);
        nsreg_strv_done(&v);
    }
    nsreg_free(reg);
}

/* deliberate difference documented in nsreg.h */
static void test_dns_empty_items_dropped(void **state)
{
    (void)state;
    nsreg *reg = nsreg_new();
    nsreg_ns *ns = nsreg_get_or_create(reg, "e");
    gcs_err err = GCS_ERR_INIT;
    nsreg_ns_add_adapter(ns, &(nsreg_adapter){.id = "a", .dns_suffix = "a.com,, ,b.com,", .dns_server_list = ","},
                         &err);
    nsreg_strv s, v;
    nsreg_ns_dns_config(ns, &s, &v);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0], "a.com"); /* NIC order is kept */
    assert_string_equal(s.v[1], "b.com");
    assert_int_equal(v.n, 0);
    char *c = NULL;
    assert_int_equal(netfiles_resolv_conf_content((const char *const *)s.v, s.n, (const char *const *)v.v, v.n,
                                                  NULL, 0, &c, &err),
                     0);
    assert_string_equal(c, "search a.com b.com\n");
    free(c);
    nsreg_strv_done(&s);
    nsreg_strv_done(&v);
    nsreg_free(reg);
}

/* The one writer of a root's network files: only the files asked for, the
 * hostname checked first (nothing written when it is bad). */
static void test_write_set(void **state)
{
    (void)state;
    char dir[] = "/tmp/gcs-unit-netset-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cleanup_err gcs_err err = GCS_ERR_INIT;
    assert_true(netfiles_write_set(dir, "bad\nname", "", NETFILE_ALL, &err) < 0);
    err_clear(&err);
    cleanup_free char *hn = xasprintf("%s/hostname", dir), *hosts = xasprintf("%s/hosts", dir),
                      *rc = xasprintf("%s/resolv.conf", dir);
    assert_int_equal(access(hn, F_OK), -1);
    assert_int_equal(netfiles_write_set(dir, "pod1", "nameserver 10.0.0.10\n", NETFILE_HOSTNAME | NETFILE_RESOLV_CONF,
                                        &err),
                     0);
    cleanup_free char *got = NULL;
    assert_int_equal(read_file(hn, &got, NULL), 0);
    assert_string_equal(got, "pod1\n");
    free(got);
    got = NULL;
    assert_int_equal(read_file(rc, &got, NULL), 0);
    assert_string_equal(got, "nameserver 10.0.0.10\n");
    assert_int_equal(access(hosts, F_OK), -1); /* not asked for */
    /* resolv.conf alone needs no hostname */
    assert_int_equal(netfiles_write_set(dir, NULL, NULL, NETFILE_RESOLV_CONF, &err), 0);
    assert_int_equal(netfiles_write_set(dir, "pod1", NULL, NETFILE_HOSTS, &err), 0);
    free(got);
    got = NULL;
    assert_int_equal(read_file(hosts, &got, NULL), 0);
    cleanup_free char *want = netfiles_hosts_content("pod1");
    assert_string_equal(got, want);
    unlink(hn);
    unlink(hosts);
    unlink(rc);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_set),
        cmocka_unit_test(test_resolv_conf),
        cmocka_unit_test(test_valid_hostnames),
        cmocka_unit_test(test_invalid_hostnames),
        cmocka_unit_test(test_hosts_content),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_registry_get_create_remove),
        cmocka_unit_test(test_registry_adapters),
        cmocka_unit_test(test_dns_rows),
        cmocka_unit_test(test_dns_empty_items_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
