/* proto.h — wire constants of the hcsshim bridge (docs/protocol.md §2). */
#pragma once

#include <stdint.h>

#define MSG_HDR_SIZE 16u
/* Guest -> host frames may not exceed this, header included (docs/protocol.md §2.3). */
#define MSG_MAX_OUT 65536u
/* Host -> guest: the host imposes no limit; we cap inbound frames here and
 * drop the connection above it (docs/protocol.md §2.3). */
#define MSG_MAX_IN_DEFAULT (32u * 1024 * 1024)

#define MSG_TYPE_MASK 0xF0000000u
#define MSG_CATEGORY_MASK 0x0FF00000u
#define MSG_ID_MASK 0x000FFF00u
#define MSG_VERSION_MASK 0x000000FFu

#define MSG_TYPE_REQUEST 0x10000000u
#define MSG_TYPE_RESPONSE 0x20000000u
#define MSG_TYPE_NOTIFY 0x30000000u

#define MSG_CATEGORY_COMPUTE_SYSTEM 0x00100000u
#define MSG_CATEGORY_COMPUTE_SERVICE 0x00200000u

enum rpc_id {
    RPC_CREATE = 1,
    RPC_START = 2,
    RPC_SHUTDOWN_GRACEFUL = 3,
    RPC_SHUTDOWN_FORCED = 4,
    RPC_EXECUTE_PROCESS = 5,
    RPC_WAIT_FOR_PROCESS = 6,
    RPC_SIGNAL_PROCESS = 7,
    RPC_RESIZE_CONSOLE = 8,
    RPC_GET_PROPERTIES = 9,
    RPC_MODIFY_SETTINGS = 10,
    RPC_NEGOTIATE_PROTOCOL = 11,
    RPC_DUMP_STACKS = 12,
    RPC_DELETE_CONTAINER_STATE = 13,
    RPC_UPDATE_CONTAINER = 14,
    RPC_LIFECYCLE_NOTIFICATION = 15,
    RPC_MAX = 16,
};

/* Request code of ComputeSystem message n (version 1). */
#define MSG_REQUEST_CODE(n) (MSG_TYPE_REQUEST | MSG_CATEGORY_COMPUTE_SYSTEM | ((uint32_t)(n) << 8) | 1u)
#define MSG_NOTIFY_CONTAINER 0x30100101u
#define MSG_MODIFY_SERVICE_SETTINGS 0x10200101u

/* The response code swaps the top nibble to 2, for any request code. */
static inline uint32_t msg_response_code(uint32_t request_code)
{
    return MSG_TYPE_RESPONSE | (request_code & ~MSG_TYPE_MASK);
}
/* The rpc number of a ComputeSystem v1 request code, or 0 if it is none. */
static inline unsigned msg_rpc_of(uint32_t code)
{
    if ((code & MSG_TYPE_MASK) != MSG_TYPE_REQUEST || (code & MSG_CATEGORY_MASK) != MSG_CATEGORY_COMPUTE_SYSTEM ||
        (code & MSG_VERSION_MASK) != 1u)
        return 0;
    unsigned n = (code & MSG_ID_MASK) >> 8;
    return n < RPC_MAX ? n : 0;
}

const char *msg_rpc_name(unsigned rpc);

#define GCS_PROTOCOL_VERSION 4u
#define GCS_BRIDGE_PORT 0x40000000u
#define GCS_FIRST_STDIO_PORT 0x40000001u
#define VSOCK_CID_HOST 2u
#define NULL_CONTAINER_ID "00000000-0000-0000-0000-000000000000"
