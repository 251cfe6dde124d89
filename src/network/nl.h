/* nl.h — rtnetlink through libmnl: the few link, address, route and rule
 * operations pod networking needs (docs/architecture.md, "Pod networking").
 *
 * A socket belongs to the network namespace it was opened in. nl_open
 * opens one in another namespace from a short-lived thread that enters
 * that namespace, opens the socket and ends: the agent's own thread never
 * leaves its namespace. Requests are acknowledged by the kernel at once
 * (no waiting on the network), so they run on the loop's thread. */
#pragma once

#include "common/err.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct nl_sock nl_sock;

/* An IPv4 or IPv6 address. */
typedef struct nl_addr {
    int family; /* AF_INET, AF_INET6; 0 = none */
    union {
        struct in_addr v4;
        struct in6_addr v6;
        unsigned char b[16];
    };
} nl_addr;

/* netns_fd < 0: the caller's own namespace. */
int nl_open(int netns_fd, nl_sock **ret, gcs_err *err);
void nl_close(nl_sock *s);

/* ifindex and MTU of a link by name; -ENODEV (err set) when absent. */
int nl_link_get(nl_sock *s, const char *ifname, int *ret_index, unsigned *ret_mtu, gcs_err *err);
int nl_link_set_up(nl_sock *s, int index, bool up, gcs_err *err);
int nl_link_set_mtu(nl_sock *s, int index, unsigned mtu, gcs_err *err);
/* Move the link into the namespace netns_fd refers to. */
int nl_link_set_netns(nl_sock *s, int index, int netns_fd, gcs_err *err);
int nl_addr_add(nl_sock *s, int index, const nl_addr *a, unsigned prefix, gcs_err *err);
int nl_addr_del(nl_sock *s, int index, const nl_addr *a, unsigned prefix, gcs_err *err);
/* dst NULL or family 0: the default route (of gw's family). gw NULL or
 * family 0: on-link. metric 0: none. table 0: main. Returns the kernel's
 * negative errno (-ENETUNREACH for a gateway not reachable) with err set. */
int nl_route_add(nl_sock *s, int index, const nl_addr *dst, unsigned dst_len, const nl_addr *gw, unsigned metric,
                 unsigned table, gcs_err *err);
/* `from <src>/<len> table <table> priority <prio>`, add or delete. */
int nl_rule(nl_sock *s, bool add, const nl_addr *src, unsigned src_len, unsigned table, unsigned prio,
            gcs_err *err);

/* Parse a textual IPv4/IPv6 address; false if not one. */
bool nl_addr_parse(const char *s, nl_addr *ret);
/* "a.b.c.d/len" or "x::/len" (len optional: full length); false if invalid. */
bool nl_prefix_parse(const char *s, nl_addr *ret, unsigned *ret_len);
bool nl_addr_is_any(const nl_addr *a);
unsigned nl_addr_bits(const nl_addr *a);
/* a and b in the same prefix of len bits. */
bool nl_addr_same_prefix(const nl_addr *a, const nl_addr *b, unsigned len);
/* Text form into buf (INET6_ADDRSTRLEN). */
const char *nl_addr_str(const nl_addr *a, char *buf, size_t n);
