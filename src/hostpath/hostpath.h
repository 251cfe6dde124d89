/* hostpath.h — the policy for paths the host hands the agent (bundle,
 * scratch, sandbox root, rootfs target, layer mount points): before the
 * agent creates, mounts or removes anything there, the path must be
 * absolute, free of "." and ".." elements, and strictly inside one of the
 * allowed roots (-allowed-roots, colon-separated; default
 * /run/gcs:/run/mounts). Deliberate difference from upstream, which takes
 * such paths as sent: docs/differences.md D-2. Pure: nothing here touches
 * the filesystem. */
#pragma once

#include "common/err.h"

/* 0, or -EINVAL with HR_E_INVALIDARG and a message naming what (e.g.
 * "ScratchPath") and the path. allowed_roots: colon-separated. */
int hostpath_check(const char *allowed_roots, const char *what, const char *p, gcs_err *err);
