/* netcfg.h — configuring one NIC the host added, through a netlink socket
 * of the namespace it sits in (upstream: internal/guest/network/netns.go
 * NetNSConfig and configureLink; docs/architecture.md, "Pod networking").
 *
 * MTU minus EncapOverhead; link up; each IPConfig as an address; with
 * EnableLowMetric a rule `from <ip>/32 (/128) table 101 priority 5` per
 * address and every route of the NIC in table 101, metric 500 when the
 * host gave none; routes: a default route without a real gateway is
 * skipped, a gateway outside every subnet of the NIC gets a host address
 * of its own and the route is tried again. A NIC without IPConfigs is
 * brought up and left for DHCP (netcfg_apply_lease). */
#pragma once

#include "network/nl.h"
#include "network/nsreg.h"

#define NETCFG_PBR_TABLE 101
#define NETCFG_PBR_RULE_PRIORITY 5
#define NETCFG_LOW_METRIC 500

/* Configure a (already in the namespace of s). *ret_need_dhcp: no address
 * was given. Rules added are recorded in a->rules. */
int netcfg_configure(nl_sock *s, nsreg_adapter *a, bool *ret_need_dhcp, gcs_err *err);
/* A DHCP lease: address with the netmask's prefix, a default route via the
 * first router (if any), in table 101 with a rule when low metric. */
int netcfg_apply_lease(nl_sock *s, nsreg_adapter *a, const char *ip, const char *mask, const char *router,
                       gcs_err *err);
int netcfg_loopback_up(nl_sock *s, gcs_err *err);
/* Undo: delete the rules recorded; a NIC configured in place loses its
 * addresses. The link is left down. */
int netcfg_unconfigure(nl_sock *s, nsreg_adapter *a, gcs_err *err);

/* Pure helpers (unit tests). "a.b.c.d" netmask -> prefix length, -1 if not
 * a contiguous mask. */
int netcfg_mask_prefix(const char *mask);
/* Whether a route is the "default via nothing" upstream skips. */
bool netcfg_route_skipped(const char *dst, const char *next_hop);
