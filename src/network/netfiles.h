/* netfiles.h — the networking files a sandbox root holds (docs/pod-model.md §2.4,
 * 3.4 steps 2, 3, 5): hostname validation and the exact content of
 * `hostname`, `hosts` and `resolv.conf`. Pure except netfiles_write. */
#pragma once

#include "common/err.h"

#include <stddef.h>

#define NETFILES_MAX_DNS_SEARCHES 6 /* man 5 resolv.conf */

/* ^[a-zA-Z0-9_\-\.]{0,255}$ (empty allowed: "use the UVM hostname"). Blocks
 * newline injection into /etc/hosts. Error:
 * hostname "<h>" invalid: must match ^[a-zA-Z0-9_\-\.]{0,255}$ */
int netfiles_validate_hostname(const char *hostname, gcs_err *err);
/* The same on a counted buffer, so an embedded NUL byte is refused too. */
int netfiles_validate_hostname_n(const char *hostname, size_t len, gcs_err *err);
/* "<hostname>\n". Caller frees. */
char *netfiles_hostname_content(const char *hostname);
/* The fixed /etc/hosts for hostname (3.4 step 3). Caller frees. */
char *netfiles_hosts_content(const char *hostname);
/* resolv.conf: "search a b\n", then one "nameserver X\n" per server, then
 * "options o1 o2\n"; each part only when non-empty. More than 6 searches is
 * an error, and so is an empty item or one with a blank or control character
 * (no line or item injection). Arrays may be NULL when their count is 0. */
int netfiles_resolv_conf_content(const char *const *searches, size_t nsearches, const char *const *servers,
                                 size_t nservers, const char *const *options, size_t noptions, char **ret,
                                 gcs_err *err);
/* Write content to path with mode 0644 (O_TRUNC). */
int netfiles_write(const char *path, const char *content, gcs_err *err);

/* The three files, as bits of `which` for netfiles_write_set. */
enum { NETFILE_HOSTNAME = 1, NETFILE_HOSTS = 2, NETFILE_RESOLV_CONF = 4, NETFILE_ALL = 7 };
/* The one place the sandbox network files are written: <dir>/hostname,
 * <dir>/hosts (both from hostname, which must be valid) and
 * <dir>/resolv.conf (resolv_conf as given, NULL = empty), each only when
 * its bit is in which. Used for a sandbox root and a standalone
 * container's root alike. */
int netfiles_write_set(const char *dir, const char *hostname, const char *resolv_conf, unsigned which,
                       gcs_err *err);
