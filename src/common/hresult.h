/* hresult.h — the HRESULT values the host understands (docs/protocol.md §6.2).
 * Stored as int32_t; always written to the wire as signed decimal. */
#pragma once
#include <stdint.h>

#define HR_OK ((int32_t)0)
#define HR_E_NOTIMPL ((int32_t)0x80004001u)
#define HR_E_FAIL ((int32_t)0x80004005u)
#define HR_E_INVALIDARG ((int32_t)0x80070057u)
#define HR_NOT_FOUND ((int32_t)0x80070490u)          /* ERROR_NOT_FOUND: unknown pid, gone process, netns */
#define HR_VMCOMPUTE_TIMEOUT ((int32_t)0xC0370109u)  /* WaitForProcess timeout */
#define HR_VMCOMPUTE_UNKNOWN_MESSAGE ((int32_t)0xC037010Bu)
#define HR_VMCOMPUTE_UNSUPPORTED_PROTOCOL ((int32_t)0xC037010Cu)
#define HR_VMCOMPUTE_INVALID_JSON ((int32_t)0xC037010Du)
#define HR_VMCOMPUTE_SYSTEM_NOT_FOUND ((int32_t)0xC037010Eu)
#define HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS ((int32_t)0xC037010Fu)
#define HR_VMCOMPUTE_INVALID_STATE ((int32_t)0x80370105u)
#define HR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED ((int32_t)0xC0370110u)
