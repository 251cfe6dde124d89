/* nl.c — see nl.h. */
#include "network/nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

/* requests are small; answers are read in pieces of this size */
#define NL_BUF 8192

struct nl_sock {
    struct mnl_socket *m;
    unsigned portid;
    unsigned seq;
};

/* ---- opening, in another namespace from a short-lived thread ---- */

struct open_job {
    int netns_fd;
    struct mnl_socket *m;
    int err;
    const char *step;
};

static void *open_in_netns(void *arg)
{
    struct open_job *j = arg;
    if (j->netns_fd >= 0 && setns(j->netns_fd, CLONE_NEWNET) < 0) {
        j->err = errno;
        j->step = "setns";
        return NULL;
    }
    j->m = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!j->m) {
        j->err = errno;
        j->step = "socket";
    }
    /* the thread ends here: its namespace goes with it */
    return NULL;
}

int nl_open(int netns_fd, nl_sock **ret, gcs_err *err)
{
    struct open_job j = {netns_fd, NULL, 0, NULL};
    if (netns_fd < 0) {
        open_in_netns(&j);
    } else {
        pthread_t t;
        int e = pthread_create(&t, NULL, open_in_netns, &j);
        if (e)
            return err_errno(err, HR_E_FAIL, e, "netlink: start the namespace thread");
        pthread_join(t, NULL);
    }
    if (!j.m)
        return err_errno(err, HR_E_FAIL, j.err, "netlink: %s", j.step);
    if (mnl_socket_bind(j.m, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        mnl_socket_close(j.m);
        return err_errno(err, HR_E_FAIL, e, "netlink: bind");
    }
    nl_sock *s = xzalloc(sizeof(*s));
    s->m = j.m;
    s->portid = mnl_socket_get_portid(j.m);
    s->seq = (unsigned)time(NULL);
    *ret = s;
    return 0;
}

void nl_close(nl_sock *s)
{
    if (!s)
        return;
    mnl_socket_close(s->m);
    free(s);
}

/* ---- one request, its answer ---- */

typedef struct reply {
    mnl_cb_t cb;
    void *data;
} reply;

static struct nlmsghdr *msg_start(char *buf, uint16_t type, uint16_t flags, nl_sock *s)
{
    struct nlmsghdr *n = mnl_nlmsg_put_header(buf);
    n->nlmsg_type = type;
    n->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    n->nlmsg_seq = ++s->seq;
    return n;
}

/* Send n, read until the ack (or error). Returns 0 or -errno. */
static int transact(nl_sock *s, struct nlmsghdr *n, const reply *r)
{
    if (mnl_socket_sendto(s->m, n, n->nlmsg_len) < 0)
        return -errno;
    char buf[NL_BUF];
    for (;;) {
        ssize_t len = mnl_socket_recvfrom(s->m, buf, sizeof(buf));
        if (len < 0)
            return -errno;
        int rc = mnl_cb_run(buf, (size_t)len, n->nlmsg_seq, s->portid, r ? r->cb : NULL, r ? r->data : NULL);
        if (rc < 0)
            return -errno;
        if (rc == MNL_CB_STOP)
            return 0;
    }
}

static int ifi_request(nl_sock *s, int index, unsigned flags, unsigned change, void (*attrs)(struct nlmsghdr *, const void *),
                       const void *arg)
{
    char buf[NL_BUF];
    struct nlmsghdr *n = msg_start(buf, RTM_NEWLINK, 0, s);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(n, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    ifi->ifi_flags = flags;
    ifi->ifi_change = change;
    if (attrs)
        attrs(n, arg);
    return transact(s, n, NULL);
}

/* ---- links ---- */

struct link_info {
    int index;
    unsigned mtu;
};

static int link_attr_cb(const struct nlattr *a, void *data)
{
    struct link_info *li = data;
    if (mnl_attr_get_type(a) == IFLA_MTU && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
        li->mtu = mnl_attr_get_u32(a);
    return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *n, void *data)
{
    struct link_info *li = data;
    struct ifinfomsg *ifi = mnl_nlmsg_get_payload(n);
    li->index = ifi->ifi_index;
    mnl_attr_parse(n, sizeof(*ifi), link_attr_cb, li);
    return MNL_CB_OK;
}

int nl_link_get(nl_sock *s, const char *ifname, int *ret_index, unsigned *ret_mtu, gcs_err *err)
{
    if (strlen(ifname) >= IFNAMSIZ)
        return err_set(err, HR_E_FAIL, "interface name %s too long", ifname);
    char buf[NL_BUF];
    struct nlmsghdr *n = msg_start(buf, RTM_GETLINK, 0, s);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(n, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(n, IFLA_IFNAME, ifname);
    struct link_info li = {0, 0};
    reply r = {link_cb, &li};
    int rc = transact(s, n, &r);
    if (rc < 0 || li.index <= 0)
        return err_errno(err, HR_E_FAIL, rc < 0 ? -rc : ENODEV, "link %s", ifname);
    *ret_index = li.index;
    if (ret_mtu)
        *ret_mtu = li.mtu;
    return 0;
}

int nl_link_set_up(nl_sock *s, int index, bool up, gcs_err *err)
{
    int rc = ifi_request(s, index, up ? IFF_UP : 0, IFF_UP, NULL, NULL);
    if (rc < 0)
        return err_errno(err, HR_E_FAIL, -rc, "set link %d %s", index, up ? "up" : "down");
    return 0;
}

static void put_mtu(struct nlmsghdr *n, const void *arg) { mnl_attr_put_u32(n, IFLA_MTU, *(const unsigned *)arg); }

int nl_link_set_mtu(nl_sock *s, int index, unsigned mtu, gcs_err *err)
{
    int rc = ifi_request(s, index, 0, 0, put_mtu, &mtu);
    if (rc < 0)
        return err_errno(err, HR_E_FAIL, -rc, "set link %d mtu %u", index, mtu);
    return 0;
}

static void put_nsfd(struct nlmsghdr *n, const void *arg) { mnl_attr_put_u32(n, IFLA_NET_NS_FD, (uint32_t)*(const int *)arg); }

int nl_link_set_netns(nl_sock *s, int index, int netns_fd, gcs_err *err)
{
    int rc = ifi_request(s, index, 0, 0, put_nsfd, &netns_fd);
    if (rc < 0)
        return err_errno(err, HR_E_FAIL, -rc, "move link %d to another network namespace", index);
    return 0;
}

/* ---- addresses ---- */

static size_t addr_len(const nl_addr *a) { return a->family == AF_INET ? 4 : 16; }

static int addr_request(nl_sock *s, bool add, int index, const nl_addr *a, unsigned prefix)
{
    char buf[NL_BUF];
    struct nlmsghdr *n = msg_start(buf, add ? RTM_NEWADDR : RTM_DELADDR, add ? NLM_F_CREATE | NLM_F_EXCL : 0, s);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(n, sizeof(*ifa));
    ifa->ifa_family = (unsigned char)a->family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)index;
    mnl_attr_put(n, IFA_LOCAL, addr_len(a), a->b);
    mnl_attr_put(n, IFA_ADDRESS, addr_len(a), a->b);
    if (add && a->family == AF_INET && prefix < 31) {
        /* the broadcast address of the subnet, as `ip addr add ... brd +` */
        uint32_t host = ntohl(a->v4.s_addr);
        uint32_t mask = prefix ? ~0u << (32 - prefix) : 0;
        uint32_t brd = htonl((host & mask) | ~mask);
        mnl_attr_put(n, IFA_BROADCAST, 4, &brd);
    }
    return transact(s, n, NULL);
}

int nl_addr_add(nl_sock *s, int index, const nl_addr *a, unsigned prefix, gcs_err *err)
{
    int rc = addr_request(s, true, index, a, prefix);
    if (rc < 0) {
        char t[INET6_ADDRSTRLEN];
        return err_errno(err, HR_E_FAIL, -rc, "add address %s/%u", nl_addr_str(a, t, sizeof(t)), prefix);
    }
    return 0;
}

int nl_addr_del(nl_sock *s, int index, const nl_addr *a, unsigned prefix, gcs_err *err)
{
    int rc = addr_request(s, false, index, a, prefix);
    if (rc < 0) {
        char t[INET6_ADDRSTRLEN];
        return err_errno(err, HR_E_FAIL, -rc, "delete address %s/%u", nl_addr_str(a, t, sizeof(t)), prefix);
    }
    return 0;
}

/* ---- routes and rules ---- */

static void put_table(struct nlmsghdr *n, unsigned char *hdr_table, unsigned table, int attr)
{
    if (table < 256) {
        *hdr_table = (unsigned char)table;
    } else {
        *hdr_table = RT_TABLE_UNSPEC;
        mnl_attr_put_u32(n, (uint16_t)attr, table);
    }
}

int nl_route_add(nl_sock *s, int index, const nl_addr *dst, unsigned dst_len, const nl_addr *gw, unsigned metric,
                 unsigned table, gcs_err *err)
{
    bool has_dst = dst && dst->family;
    bool has_gw = gw && gw->family;
    int family = has_dst ? dst->family : has_gw ? gw->family : AF_INET;
    char buf[NL_BUF];
    struct nlmsghdr *n = msg_start(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, s);
    struct rtmsg *rt = mnl_nlmsg_put_extra_header(n, sizeof(*rt));
    rt->rtm_family = (unsigned char)family;
    rt->rtm_dst_len = has_dst ? (unsigned char)dst_len : 0;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = has_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    rt->rtm_type = RTN_UNICAST;
    put_table(n, &rt->rtm_table, table ? table : RT_TABLE_MAIN, RTA_TABLE);
    if (has_dst && dst_len > 0)
        mnl_attr_put(n, RTA_DST, addr_len(dst), dst->b);
    if (has_gw)
        mnl_attr_put(n, RTA_GATEWAY, addr_len(gw), gw->b);
    mnl_attr_put_u32(n, RTA_OIF, (uint32_t)index);
    if (metric)
        mnl_attr_put_u32(n, RTA_PRIORITY, metric);
    int rc = transact(s, n, NULL);
    if (rc < 0) {
        char d[INET6_ADDRSTRLEN] = "default", g[INET6_ADDRSTRLEN] = "";
        if (has_dst && dst_len > 0)
            nl_addr_str(dst, d, sizeof(d));
        if (has_gw)
            nl_addr_str(gw, g, sizeof(g));
        err_errno(err, HR_E_FAIL, -rc, "add route %s/%u via %s metric %u table %u", d, has_dst ? dst_len : 0,
                  has_gw ? g : "(on-link)", metric, table ? table : RT_TABLE_MAIN);
        return rc;
    }
    return 0;
}

int nl_rule(nl_sock *s, bool add, const nl_addr *src, unsigned src_len, unsigned table, unsigned prio, gcs_err *err)
{
    char buf[NL_BUF];
    struct nlmsghdr *n = msg_start(buf, add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE | NLM_F_EXCL : 0, s);
    struct fib_rule_hdr *fr = mnl_nlmsg_put_extra_header(n, sizeof(*fr));
    fr->family = (unsigned char)src->family;
    fr->src_len = (unsigned char)src_len;
    fr->action = FR_ACT_TO_TBL;
    put_table(n, &fr->table, table, FRA_TABLE);
    mnl_attr_put(n, FRA_SRC, addr_len(src), src->b);
    mnl_attr_put_u32(n, FRA_PRIORITY, prio);
    int rc = transact(s, n, NULL);
    if (rc < 0) {
        char t[INET6_ADDRSTRLEN];
        return err_errno(err, HR_E_FAIL, -rc, "%s rule from %s/%u table %u priority %u", add ? "add" : "delete",
                         nl_addr_str(src, t, sizeof(t)), src_len, table, prio);
    }
    return 0;
}

/* ---- addresses as text ---- */

bool nl_addr_parse(const char *s, nl_addr *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (!s || !*s)
        return false;
    if (inet_pton(AF_INET, s, &ret->v4) == 1) {
        ret->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, &ret->v6) == 1) {
        ret->family = AF_INET6;
        return true;
    }
    return false;
}

bool nl_prefix_parse(const char *s, nl_addr *ret, unsigned *ret_len)
{
    if (!s)
        return false;
    const char *slash = strchr(s, '/');
    char host[INET6_ADDRSTRLEN + 1];
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl == 0 || hl >= sizeof(host))
        return false;
    memcpy(host, s, hl);
    host[hl] = 0;
    if (!nl_addr_parse(host, ret))
        return false;
    unsigned bits = nl_addr_bits(ret);
    if (!slash) {
        *ret_len = bits;
        return true;
    }
    const char *p = slash + 1;
    if (!*p || strlen(p) > 3)
        return false;
    unsigned v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > bits)
        return false;
    *ret_len = v;
    return true;
}

bool nl_addr_is_any(const nl_addr *a)
{
    for (size_t i = 0; i < addr_len(a); i++)
        if (a->b[i])
            return false;
    return true;
}

unsigned nl_addr_bits(const nl_addr *a) { return a->family == AF_INET ? 32 : 128; }

bool nl_addr_same_prefix(const nl_addr *a, const nl_addr *b, unsigned len)
{
    if (a->family != b->family || len > nl_addr_bits(a))
        return false;
    for (unsigned i = 0; i < len; i++) {
        unsigned bit = 7 - (i % 8);
        if (((a->b[i / 8] >> bit) & 1) != ((b->b[i / 8] >> bit) & 1))
            return false;
    }
    return true;
}

const char *nl_addr_str(const nl_addr *a, char *buf, size_t n)
{
    if (!a->family || !inet_ntop(a->family, a->b, buf, (socklen_t)n))
        snprintf(buf, n, "?");
    return buf;
}
