/* policy.h — the one place where a security policy decides about a host
 * request before it has any effect (docs/architecture.md, "ModifySettings
 * resources"). Upstream's equivalent is the enforcer of
 * pkg/securitypolicy, consulted from internal/guest/runtime/hcsv2/uvm.go.
 *
 * Today the only policy is allow-all: confidential mode is not implemented,
 * so every question is answered yes. A real enforcer plugs in here; the
 * callers already ask before every resource change. */
#pragma once

#include "bridge/msg.h"
#include "common/err.h"

/* What a ModifySettings request wants to do. */
typedef struct policy_modify {
    enum msg_resource type;
    enum msg_request_type request;
    const char *container_id; /* the target container, or NULL for the VM */
    const msg_resource_settings *settings;
} policy_modify;

/* 0: allowed. <0 with err set (HR_E_ACCESSDENIED-like wording of the
 * enforcer): refused, and the request must change nothing. */
int policy_check_modify(const policy_modify *q, gcs_err *err);
