/* uvmstate.c — the mount-tracking table (see uvmstate.h). */
#include "uvmstate/uvmstate.h"

#include "common/path.h"
#include "common/strmap.h"

#include <errno.h>
#include <stdlib.h>

enum dev_kind { DEV_RW, DEV_RO, DEV_OVERLAY, DEV_BIND };

typedef struct dev {
    enum dev_kind kind;
    char *path;   /* clean; also the map key */
    char *source; /* an overlay's source is its own path, as upstream */
    bool encrypted;
    unsigned usage;   /* uses taken by live overlays */
    char **refs;      /* overlay: clean paths of the mounts it uses, one per use */
    size_t n_refs;
    uint64_t seq;     /* order of addition: unwinding goes newest first */
    const char *owner; /* the resource that made it (static string), or NULL */
    char *user;        /* the container whose rootfs it is, or NULL */
    uvmstate_unmount_fn unmount;
    void *data;
    void (*free_data)(void *data);
} dev;

struct uvmstate {
    strmap *devs; /* clean mount path -> dev */
    char *inconsistent_cause; /* NULL until the latch is set */
    uint64_t next_seq;
};

struct uvmstate_undo {
    dev *d; /* the removed overlay, owned until applied or freed */
};

static const char *kind_name(enum dev_kind k)
{
    switch (k) {
    case DEV_RW:
        return "RW";
    case DEV_RO:
        return "RO";
    case DEV_OVERLAY:
        return "overlay";
    case DEV_BIND:
        return "bind";
    }
    return "unknown";
}

static void dev_free(void *p)
{
    dev *d = p;
    if (!d)
        return;
    for (size_t i = 0; i < d->n_refs; i++)
        free(d->refs[i]);
    free(d->refs);
    free(d->path);
    free(d->source);
    free(d->user);
    if (d->free_data)
        d->free_data(d->data);
    free(d);
}

uvmstate *uvmstate_new(void)
{
    uvmstate *t = xzalloc(sizeof(*t));
    t->devs = strmap_new(dev_free);
    return t;
}

uvmstate *uvmstate_free(uvmstate *t)
{
    if (!t)
        return NULL;
    strmap_free(t->devs);
    free(t->inconsistent_cause);
    free(t);
    return NULL;
}

void uvmstate_set_inconsistent(uvmstate *t, const char *cause)
{
    if (!t->inconsistent_cause)
        t->inconsistent_cause = xstrdup(str_empty(cause) ? "unknown error" : cause);
}

bool uvmstate_is_inconsistent(const uvmstate *t) { return t->inconsistent_cause != NULL; }

int uvmstate_check(const uvmstate *t, gcs_err *err)
{
    if (!t->inconsistent_cause)
        return 0;
    return err_set(err, HR_E_FAIL,
                   "mount, unmount, container creation and deletion have been disabled in this UVM due to a "
                   "previous error: %s",
                   t->inconsistent_cause);
}

size_t uvmstate_count(const uvmstate *t) { return strmap_count(t->devs); }

/* The innermost tracked mount containing clean_path (itself included). */
static dev *find_containing(const uvmstate *t, const char *clean_path)
{
    strmap_iter it = STRMAP_ITER_INIT;
    dev *found = NULL;
    void *v;

    while (strmap_next(t->devs, &it, NULL, &v)) {
        dev *d = v;
        /* Separator-aware, unlike upstream's "Rel does not start with ..",
         * which also skips a child named "..x" (test derived_dotdot_name). */
        if (!path_is_within(d->path, clean_path))
            continue;
        if (!found || strlen(d->path) > strlen(found->path))
            found = d;
    }
    return found;
}

static int add_dev(uvmstate *t, enum dev_kind kind, const char *mount_path, const char *source, bool encrypted,
                   dev **ret, gcs_err *err)
{
    int r;
    if ((r = uvmstate_check(t, err)) < 0)
        return err_wrap(err, r, "track %s mount %s", kind_name(kind), mount_path);

    cleanup_free char *clean = path_clean(mount_path);
    dev *old = strmap_get(t->devs, clean);
    if (old)
        return err_set(err, HR_E_FAIL, "a %s mount is already tracked at %s", kind_name(old->kind), clean);

    dev *d = xzalloc(sizeof(*d));
    d->kind = kind;
    d->path = steal_pointer(&clean);
    d->source = xstrdup(source ? source : "");
    d->encrypted = encrypted;
    d->seq = ++t->next_seq;
    strmap_set(t->devs, d->path, d);
    if (ret)
        *ret = d;
    return 0;
}

/* Checks shared by every removal; *ret is NULL when nothing is tracked. */
static int find_for_remove(uvmstate *t, enum dev_kind kind, const char *mount_path, const char *source, dev **ret,
                           gcs_err *err)
{
    int r;
    *ret = NULL;
    if ((r = uvmstate_check(t, err)) < 0)
        return err_wrap(err, r, "untrack %s mount %s", kind_name(kind), mount_path);

    cleanup_free char *clean = path_clean(mount_path);
    dev *d = strmap_get(t->devs, clean);
    if (!d)
        return 0; /* already removed or never added: fine, as upstream */
    if (kind != DEV_OVERLAY && !streq(d->source, source ? source : ""))
        return err_set(err, HR_E_FAIL, "untrack %s: wrong source %s, tracked %s", clean, source ? source : "",
                       d->source);
    if (d->kind != kind)
        return err_set(err, HR_E_FAIL, "untrack %s: wrong mount type %s, tracked %s", clean, kind_name(kind),
                       kind_name(d->kind));
    if (d->usage > 0)
        return err_set(err, HR_E_FAIL, "mount %s is still in use by %u overlay layer(s), can't unmount", clean,
                       d->usage);
    *ret = d;
    return 0;
}

int uvmstate_add_rw(uvmstate *t, const char *mount_path, const char *source, bool encrypted, gcs_err *err)
{
    return add_dev(t, DEV_RW, mount_path, source, encrypted, NULL, err);
}

int uvmstate_add_ro(uvmstate *t, const char *mount_path, const char *source, gcs_err *err)
{
    return add_dev(t, DEV_RO, mount_path, source, false, NULL, err);
}

int uvmstate_remove_rw(uvmstate *t, const char *mount_path, const char *source, bool encrypted, gcs_err *err)
{
    dev *d;
    int r = find_for_remove(t, DEV_RW, mount_path, source, &d, err);
    if (r < 0 || !d)
        return r;
    if (d->encrypted != encrypted)
        return err_set(err, HR_E_FAIL, "untrack %s: encrypted flag %s, tracked %s", d->path,
                       encrypted ? "true" : "false", d->encrypted ? "true" : "false");
    strmap_del(t->devs, d->path);
    return 0;
}

/* Removal of a kind with no checks beyond find_for_remove's. */
static int remove_plain(uvmstate *t, enum dev_kind kind, const char *mount_path, const char *source, gcs_err *err)
{
    dev *d;
    int r = find_for_remove(t, kind, mount_path, source, &d, err);
    if (r < 0 || !d)
        return r;
    strmap_del(t->devs, d->path);
    return 0;
}

int uvmstate_remove_ro(uvmstate *t, const char *mount_path, const char *source, gcs_err *err)
{
    return remove_plain(t, DEV_RO, mount_path, source, err);
}

/* Take a use on the innermost mount containing path, recording it in o. */
static void use_path(uvmstate *t, dev *o, const char *path)
{
    if (str_empty(path))
        return;
    cleanup_free char *clean = path_clean(path);
    dev *d = find_containing(t, clean);
    if (!d)
        return;
    d->usage++;
    o->refs = xrealloc(o->refs, (o->n_refs + 1) * sizeof(*o->refs));
    o->refs[o->n_refs++] = xstrdup(d->path);
}

static void release_uses(uvmstate *t, dev *o)
{
    for (size_t i = 0; i < o->n_refs; i++) {
        dev *d = strmap_get(t->devs, o->refs[i]);
        /* A used mount cannot be removed, so d exists and d->usage > 0. */
        if (d && d->usage > 0)
            d->usage--;
    }
}

int uvmstate_add_overlay(uvmstate *t, const char *target, const char *const *layers, size_t n_layers,
                         const char *scratch, gcs_err *err)
{
    int r;
    if ((r = uvmstate_check(t, err)) < 0)
        return err_wrap(err, r, "track overlay %s", target);

    cleanup_free char *clean = path_clean(target);
    dev *old = strmap_get(t->devs, clean);
    if (old)
        return err_set(err, HR_E_FAIL, "a %s mount is already tracked at %s", kind_name(old->kind), clean);

    dev *o = xzalloc(sizeof(*o));
    o->kind = DEV_OVERLAY;
    o->source = xstrdup(clean);
    o->path = steal_pointer(&clean);
    /* Uses are taken before the overlay enters the table: upstream inserts
     * it first, so a layer under its own target made it use itself and it
     * could never be removed (test derived_layer_inside_target). */
    for (size_t i = 0; i < n_layers; i++)
        use_path(t, o, layers[i]);
    use_path(t, o, scratch);
    o->seq = ++t->next_seq;
    strmap_set(t->devs, o->path, o);
    return 0;
}

int uvmstate_remove_overlay(uvmstate *t, const char *target, uvmstate_undo **undo, gcs_err *err)
{
    dev *o;
    int r;

    if (undo)
        *undo = NULL;
    if ((r = find_for_remove(t, DEV_OVERLAY, target, NULL, &o, err)) < 0 || !o)
        return r;
    release_uses(t, o);
    strmap_take(t->devs, o->path);
    if (undo) {
        *undo = xzalloc(sizeof(**undo));
        (*undo)->d = o;
    } else {
        dev_free(o);
    }
    return 0;
}

int uvmstate_undo_apply(uvmstate *t, uvmstate_undo *undo, gcs_err *err)
{
    if (!undo)
        return 0;
    dev *o = undo->d;
    int r = 0;

    if (strmap_contains(t->devs, o->path)) {
        r = err_set(err, HR_E_FAIL, "restore overlay %s: a mount is tracked there again", o->path);
        goto out;
    }
    for (size_t i = 0; i < o->n_refs; i++) {
        if (!strmap_contains(t->devs, o->refs[i])) {
            r = err_set(err, HR_E_FAIL, "restore overlay %s: mount %s it used is no longer tracked", o->path,
                        o->refs[i]);
            goto out;
        }
    }
    for (size_t i = 0; i < o->n_refs; i++) {
        dev *d = strmap_get(t->devs, o->refs[i]);
        d->usage++;
    }
    strmap_set(t->devs, o->path, steal_pointer(&undo->d));
out:
    uvmstate_undo_free(undo);
    return r;
}

uvmstate_undo *uvmstate_undo_free(uvmstate_undo *undo)
{
    if (!undo)
        return NULL;
    dev_free(undo->d);
    free(undo);
    return NULL;
}

bool uvmstate_is_encrypted(const uvmstate *t, const char *path)
{
    cleanup_free char *clean = path_clean(path ? path : "");
    dev *d = find_containing(t, clean);
    return d && d->kind == DEV_RW && d->encrypted;
}

bool uvmstate_has_overlay_at(const uvmstate *t, const char *path)
{
    cleanup_free char *clean = path_clean(path ? path : "");
    dev *d = strmap_get(t->devs, clean);
    return d && d->kind == DEV_OVERLAY;
}

int uvmstate_add_bind(uvmstate *t, const char *mount_path, const char *source, gcs_err *err)
{
    return add_dev(t, DEV_BIND, mount_path, source, false, NULL, err);
}

int uvmstate_remove_bind(uvmstate *t, const char *mount_path, const char *source, gcs_err *err)
{
    return remove_plain(t, DEV_BIND, mount_path, source, err);
}

static dev *lookup(const uvmstate *t, const char *path)
{
    cleanup_free char *clean = path_clean(path ? path : "");
    return strmap_get(t->devs, clean);
}

bool uvmstate_has(const uvmstate *t, const char *path) { return lookup(t, path) != NULL; }

int uvmstate_set_unmount(uvmstate *t, const char *path, const char *owner, uvmstate_unmount_fn fn, void *data,
                         void (*free_data)(void *data))
{
    dev *d = lookup(t, path);
    if (!d) {
        if (free_data)
            free_data(data);
        return -ENOENT;
    }
    if (d->free_data)
        d->free_data(d->data);
    d->owner = owner;
    d->unmount = fn;
    d->data = data;
    d->free_data = free_data;
    return 0;
}

void *uvmstate_data(const uvmstate *t, const char *path)
{
    dev *d = lookup(t, path);
    return d ? d->data : NULL;
}

const char *uvmstate_owner(const uvmstate *t, const char *path)
{
    dev *d = lookup(t, path);
    return d ? d->owner : NULL;
}

int uvmstate_set_user(uvmstate *t, const char *path, const char *container_id)
{
    dev *d = lookup(t, path);
    if (!d)
        return -ENOENT;
    free(d->user);
    d->user = container_id ? xstrdup(container_id) : NULL;
    return 0;
}

const char *uvmstate_user(const uvmstate *t, const char *path)
{
    dev *d = lookup(t, path);
    return d ? d->user : NULL;
}

void uvmstate_clear_user(uvmstate *t, const char *container_id)
{
    strmap_iter it = STRMAP_ITER_INIT;
    void *v;
    while (strmap_next(t->devs, &it, NULL, &v)) {
        dev *d = v;
        if (d->user && streq(d->user, container_id)) {
            free(d->user);
            d->user = NULL;
        }
    }
}

static int by_seq_desc(const void *a, const void *b)
{
    const dev *x = *(dev *const *)a, *y = *(dev *const *)b;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

size_t uvmstate_list(const uvmstate *t, const char *under, const char *owner, char ***ret)
{
    size_t n = 0, cap = strmap_count(t->devs);
    dev **v = xzalloc((cap + 1) * sizeof(*v));
    strmap_iter it = STRMAP_ITER_INIT;
    void *val;
    while (strmap_next(t->devs, &it, NULL, &val)) {
        dev *d = val;
        if (under && !path_is_within(under, d->path))
            continue;
        if (owner && !(d->owner && streq(d->owner, owner)))
            continue;
        v[n++] = d;
    }
    qsort(v, n, sizeof(*v), by_seq_desc);
    char **out = xzalloc((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]->path);
    free(v);
    *ret = out;
    return n;
}

void uvmstate_list_free(char **paths)
{
    if (!paths)
        return;
    for (char **p = paths; *p; p++)
        free(*p);
    free(paths);
}

int uvmstate_unmount(uvmstate *t, const char *path, gcs_err *err)
{
    dev *d = lookup(t, path);
    if (!d)
        return 0;
    if (d->usage > 0)
        return err_set(err, HR_E_FAIL, "mount %s is still in use by %u overlay layer(s), can't unmount", d->path,
                       d->usage);
    int r;
    if (d->unmount && (r = d->unmount(d->path, d->data, err)) < 0)
        return r;
    if (d->kind == DEV_OVERLAY)
        release_uses(t, d);
    strmap_del(t->devs, d->path);
    return 0;
}

static int unwind(uvmstate *t, const char *under, const char *owner, bool keep_under, gcs_err *err)
{
    char **paths = NULL;
    size_t n = uvmstate_list(t, under, owner, &paths);
    cleanup_free char *clean_under = under ? path_clean(under) : NULL;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep_under && streq(paths[i], clean_under))
            continue;
        gcs_err e = GCS_ERR_INIT;
        int r = uvmstate_unmount(t, paths[i], &e);
        if (r < 0 && first == 0) {
            first = r;
            if (err)
                err_move(err, &e);
        }
        err_clear(&e);
    }
    uvmstate_list_free(paths);
    return first;
}

int uvmstate_unwind(uvmstate *t, const char *under, const char *owner, gcs_err *err)
{
    return unwind(t, under, owner, false, err);
}

int uvmstate_unwind_below(uvmstate *t, const char *dir, gcs_err *err)
{
    return unwind(t, dir, NULL, true, err);
}
