/* sandbox.c — see sandbox.h. */
#include "sandbox/sandbox.h"

#include "common/log.h"
#include "common/path.h"
#include "common/quote.h"
#include "common/strmap.h"
#include "pod/paths.h"

struct sandbox_roots {
    strmap *map; /* key -> char *root */
};

sandbox_roots *sandbox_roots_new(void)
{
    sandbox_roots *r = xzalloc(sizeof(*r));
    r->map = strmap_new(free);
    return r;
}

sandbox_roots *sandbox_roots_free(sandbox_roots *roots)
{
    if (!roots)
        return NULL;
    strmap_free(roots->map);
    free(roots);
    return NULL;
}

static bool vpid_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

int sandbox_vpid_validate(const char *vpid, gcs_err *err)
{
    cleanup_free char *q = quote_go(vpid);

    /* docs/pod-model.md §2.3, docs/differences.md D-9: one path element,
     * neither "." nor "..".
     * Keep the upstream wording for everything that could move the root. */
    if (strchr(vpid, '/') || streq(vpid, ".") || streq(vpid, ".."))
        return err_set(err, HR_E_INVALIDARG, "invalid virtual pod ID %s: path traversal attempt", q);
    size_t n = strlen(vpid);
    bool ok = n > 0 && n <= SANDBOX_VPID_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = vpid_char_ok(vpid[i]);
    if (!ok)
        return err_set(err, HR_E_INVALIDARG,
                       "invalid virtual pod ID %s: must be 1 to %d characters from [A-Za-z0-9_.-]", q,
                       SANDBOX_VPID_MAX);
    return 0;
}

int sandbox_root_compute(const char *bundle, const char *vpid, char **ret_root, gcs_err *err)
{
    int r;

    /* docs/pod-model.md §2.3: no vpid -> the bundle path exactly as given, not cleaned */
    if (str_empty(vpid)) {
        *ret_root = xstrdup(bundle);
        return 0;
    }
    if ((r = sandbox_vpid_validate(vpid, err)) < 0)
        return r;
    /* docs/pod-model.md §2.3: dirname(bundle)/virtual-pods/<vpid> */
    cleanup_free char *parent = path_dir(bundle);
    cleanup_free char *sub = xasprintf("%s/%s", POD_VIRTUAL_PODS_DIR, vpid);
    *ret_root = path_join(parent, sub);
    return 0;
}

int sandbox_root_register(sandbox_roots *roots, const char *key, const char *bundle, const char *vpid,
                          char **ret_root, gcs_err *err)
{
    char *root = NULL;
    int r = sandbox_root_compute(bundle, vpid, &root, err);
    if (r < 0)
        return r;
    if (ret_root)
        *ret_root = xstrdup(root);
    strmap_set(roots->map, key, root);
    return 0;
}

char *sandbox_root_resolve(const sandbox_roots *roots, const char *sid)
{
    const char *root = strmap_get(roots->map, sid);
    if (root)
        return xstrdup(root);
    /* docs/pod-model.md §3.3: upstream marks this "remove after shim v1 sunset" */
    char *fallback = sandbox_legacy_root(sid);
    log_warn("sandbox root not registered, using legacy path", KV_S("sandboxID", sid), KV_S("fallback", fallback));
    return fallback;
}

const char *sandbox_root_lookup(const sandbox_roots *roots, const char *key)
{
    return strmap_get(roots->map, key);
}

bool sandbox_root_unregister(sandbox_roots *roots, const char *key) { return strmap_del(roots->map, key); }

size_t sandbox_roots_count(const sandbox_roots *roots) { return strmap_count(roots->map); }

char *sandbox_mounts_dir(const char *root) { return path_join(root, POD_SANDBOX_MOUNTS_DIR); }
char *sandbox_tmpfs_mounts_dir(const char *root) { return path_join(root, POD_SANDBOX_TMPFS_MOUNTS_DIR); }
char *sandbox_hugepages_dir(const char *root) { return path_join(root, POD_HUGEPAGES_DIR); }
char *sandbox_logs_dir(const char *root) { return path_join(root, POD_LOGS_DIR); }
char *sandbox_hostname_path(const char *root) { return path_join(root, POD_HOSTNAME_FILE); }
char *sandbox_hosts_path(const char *root) { return path_join(root, POD_HOSTS_FILE); }
char *sandbox_resolv_conf_path(const char *root) { return path_join(root, POD_RESOLV_CONF_FILE); }

char *sandbox_legacy_root(const char *sid) { return path_join(POD_LEGACY_ROOT_PREFIX, sid); }

#define LEGACY_SUB(fn, name)                                                                                   \
    char *fn(const char *sid)                                                                                  \
    {                                                                                                          \
        cleanup_free char *root = sandbox_legacy_root(sid);                                                    \
        return path_join(root, name);                                                                          \
    }
LEGACY_SUB(sandbox_legacy_mounts_dir, POD_SANDBOX_MOUNTS_DIR)
LEGACY_SUB(sandbox_legacy_tmpfs_mounts_dir, POD_SANDBOX_TMPFS_MOUNTS_DIR)
LEGACY_SUB(sandbox_legacy_hugepages_dir, POD_HUGEPAGES_DIR)
LEGACY_SUB(sandbox_legacy_logs_dir, POD_LOGS_DIR)

bool sandbox_needs_bundle_bind(const char *bundle_dir, const char *scratch)
{
    if (str_empty(scratch))
        return false;
    return !path_is_within(bundle_dir, scratch);
}
