/* netcfg.c — see netcfg.h. */
#include "network/netcfg.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>

static bool is_default_dst(const char *d) { return streq(d, "0.0.0.0/0") || streq(d, "::/0"); }

bool netcfg_route_skipped(const char *dst, const char *next_hop)
{
    /* upstream skips 0.0.0.0/0 via 0.0.0.0 (and ::/0 via ::); an empty
     * next hop on a default route means the same: no gateway */
    return is_default_dst(dst) && (str_empty(next_hop) || streq(next_hop, "0.0.0.0") || streq(next_hop, "::"));
}

int netcfg_mask_prefix(const char *mask)
{
    struct in_addr a;
    if (!mask || inet_pton(AF_INET, mask, &a) != 1)
        return -1;
    uint32_t m = ntohl(a.s_addr);
    int n = 0;
    while (n < 32 && (m & (1u << (31 - n))))
        n++;
    if (n < 32 && (m << n) != 0)
        return -1;
    return n;
}

/* Address ip/prefix (and, with low metric, its rule). */
static int add_address(nl_sock *s, nsreg_adapter *a, int index, const char *ip, unsigned prefix, bool low,
                       gcs_err *err)
{
    nl_addr addr;
    if (!nl_addr_parse(ip, &addr) || prefix > nl_addr_bits(&addr))
        return err_set(err, HR_E_FAIL, "parsing address %s/%u failed", ip ? ip : "", prefix);
    int r = nl_addr_add(s, index, &addr, prefix, err);
    if (r < 0)
        return r;
    if (low) {
        if ((r = nl_rule(s, true, &addr, nl_addr_bits(&addr), NETCFG_PBR_TABLE, NETCFG_PBR_RULE_PRIORITY, err)) < 0)
            return r;
        nsreg_adapter_add_rule(a, addr.family, addr.b);
    }
    return 0;
}

static int add_route(nl_sock *s, nsreg_adapter *a, int index, const char *dst_s, const char *gw_s, uint16_t metric,
                     bool low, gcs_err *err)
{
    if (netcfg_route_skipped(dst_s, gw_s))
        return 0;
    nl_addr dst = {0}, gw = {0};
    unsigned dst_len = 0;
    if (!is_default_dst(dst_s) && !nl_prefix_parse(dst_s, &dst, &dst_len))
        return err_set(err, HR_E_FAIL, "parsing route dst address %s failed", dst_s ? dst_s : "");
    bool has_gw = nl_addr_parse(gw_s, &gw) && !nl_addr_is_any(&gw);
    if (!has_gw)
        memset(&gw, 0, sizeof(gw));
    if (!dst.family && !has_gw)
        return err_set(err, HR_E_FAIL, "gw and destination cannot both be nil");
    if (!dst.family && is_default_dst(dst_s))
        dst.family = streq(dst_s, "::/0") ? AF_INET6 : AF_INET;
    unsigned m = metric ? metric : low ? NETCFG_LOW_METRIC : 0;
    unsigned table = a->nrules ? NETCFG_PBR_TABLE : 0;
    int r = nl_route_add(s, index, &dst, dst_len, has_gw ? &gw : NULL, m, table, err);
    if (r == -ENETUNREACH && has_gw) {
        /* the gateway is outside the NIC's subnets (upstream: add <gw>/32
         * or /128 to the link and try once more) */
        err_clear(err);
        log_info("gateway outside the NIC's subnets: adding a host address for it",
                 KV_S("ifname", a->ifname), KV_S("gateway", gw_s));
        if ((r = nl_addr_add(s, index, &gw, nl_addr_bits(&gw), err)) < 0)
            return r;
        r = nl_route_add(s, index, &dst, dst_len, &gw, m, table, err);
    }
    return r < 0 ? r : 0;
}

int netcfg_configure(nl_sock *s, nsreg_adapter *a, bool *ret_need_dhcp, gcs_err *err)
{
    *ret_need_dhcp = false;
    int index;
    unsigned mtu;
    int r = nl_link_get(s, a->ifname, &index, &mtu, err);
    if (r < 0)
        return r;
    if (a->encap_overhead) {
        if (a->encap_overhead >= mtu)
            return err_set(err, HR_E_FAIL, "EncapOverhead %u is not below the MTU %u of %s", a->encap_overhead, mtu,
                           a->ifname);
        if ((r = nl_link_set_mtu(s, index, mtu - a->encap_overhead, err)) < 0)
            return r;
    }
    if ((r = nl_link_set_up(s, index, true, err)) < 0)
        return r;
    if (a->nips == 0) {
        *ret_need_dhcp = true;
        return 0;
    }
    bool low = a->enable_low_metric;
    for (size_t i = 0; i < a->nips; i++)
        if ((r = add_address(s, a, index, a->ips[i].address, a->ips[i].prefix_length, low, err)) < 0)
            return r;
    for (size_t i = 0; i < a->nroutes; i++) {
        const nsreg_route *rt = &a->routes[i];
        if ((r = add_route(s, a, index, rt->destination_prefix, rt->next_hop, rt->metric, low, err)) < 0)
            return r;
    }
    return 0;
}

int netcfg_apply_lease(nl_sock *s, nsreg_adapter *a, const char *ip, const char *mask, const char *router,
                       gcs_err *err)
{
    int prefix = netcfg_mask_prefix(mask);
    if (prefix < 0)
        return err_set(err, HR_E_FAIL, "DHCP lease: bad netmask \"%s\"", mask ? mask : "");
    int index;
    int r = nl_link_get(s, a->ifname, &index, NULL, err);
    if (r < 0)
        return r;
    /* the lease becomes the NIC's IPConfig, so Remove and policy routing
     * treat it like a static address */
    a->ips = xrealloc(a->ips, (a->nips + 1) * sizeof(*a->ips));
    a->ips[a->nips++] = (nsreg_ipconfig){xstrdup(ip), (uint8_t)prefix};
    if ((r = add_address(s, a, index, ip, (unsigned)prefix, a->enable_low_metric, err)) < 0)
        return r;
    if (!str_empty(router)) {
        cleanup_free char *first = xstrndup(router, strcspn(router, " "));
        r = add_route(s, a, index, "0.0.0.0/0", first, 0, a->enable_low_metric, err);
    }
    return r < 0 ? r : 0;
}

int netcfg_loopback_up(nl_sock *s, gcs_err *err)
{
    int index;
    int r = nl_link_get(s, "lo", &index, NULL, err);
    if (r < 0)
        return r;
    return nl_link_set_up(s, index, true, err);
}

int netcfg_unconfigure(nl_sock *s, nsreg_adapter *a, gcs_err *err)
{
    int first = 0;
    gcs_err e = GCS_ERR_INIT;
    for (size_t i = 0; i < a->nrules; i++) {
        nl_addr addr = {.family = a->rules[i].family};
        memcpy(addr.b, a->rules[i].addr, sizeof(addr.b));
        int r = nl_rule(s, false, &addr, nl_addr_bits(&addr), NETCFG_PBR_TABLE, NETCFG_PBR_RULE_PRIORITY, &e);
        if (r < 0 && !first) {
            first = r;
            err_move(err, &e);
        }
        err_clear(&e);
    }
    a->nrules = 0;
    int index;
    if (nl_link_get(s, a->ifname, &index, NULL, &e) < 0) {
        if (!first) {
            first = -ENODEV;
            err_move(err, &e);
        }
        err_clear(&e);
        return first;
    }
    if (a->in_place) {
        for (size_t i = 0; i < a->nips; i++) {
            nl_addr addr;
            if (nl_addr_parse(a->ips[i].address, &addr))
                nl_addr_del(s, index, &addr, a->ips[i].prefix_length, &e);
            err_clear(&e);
        }
    }
    int r = nl_link_set_up(s, index, false, &e);
    if (r < 0 && !first) {
        first = r;
        err_move(err, &e);
    }
    err_clear(&e);
    return first;
}
