/* client.h — the host side of the bridge, for gcsctl: listen where gcs
 * dials (DIR/<port>), accept, send requests, match responses by ID, and
 * collect notifications that arrive meanwhile. Blocking, one thread. */
#pragma once

#include "bridge/frame.h"
#include "common/jsonx.h"

typedef struct hc_notification {
    json_t *payload;
    struct hc_notification *next;
} hc_notification;

typedef struct hc {
    char *dir;
    int lfd; /* listener on DIR/1073741824 */
    int fd;  /* the accepted bridge connection */
    uint64_t next_id;
    frame_reader rd;
    hc_notification *nhead, *ntail;
    uint32_t next_stdio_port;
} hc;

int hc_listen(hc *c, const char *dir, gcs_err *err);
int hc_accept(hc *c, int timeout_ms, gcs_err *err);
void hc_close(hc *c);

/* Send one request (payload stolen) and wait for its response. *ret_resp is
 * the response payload object. */
int hc_call(hc *c, uint32_t type, json_t *payload, json_t **ret_resp, int timeout_ms, gcs_err *err);
/* Send raw payload bytes; returns the ID used. */
int hc_send_raw(hc *c, uint32_t type, const char *payload, size_t len, uint64_t *ret_id, gcs_err *err);
/* Wait for the response to id (notifications are queued). */
int hc_wait_response(hc *c, uint64_t id, json_t **ret_resp, uint32_t *ret_type, int timeout_ms, gcs_err *err);
/* Read exactly one frame (the caller saw the connection readable): a
 * notification is queued and a response to another ID dropped (0); the
 * response to id is returned in *ret_resp (1). */
int hc_read_one(hc *c, uint64_t id, json_t **ret_resp, int timeout_ms, gcs_err *err);
/* Wait for the next notification. */
int hc_wait_notification(hc *c, json_t **ret, int timeout_ms, gcs_err *err);

int hc_negotiate(hc *c, json_t **ret_resp, gcs_err *err);

/* A request envelope {"ContainerId":cid,"ActivityId":"000..."} to add to. */
json_t *hc_envelope(const char *container_id);

/* Listen for a stdio connection on a fresh port; returns the listening fd. */
int hc_listen_port(hc *c, uint32_t *ret_port, gcs_err *err);
/* Accept the one connection gcs makes to port (listener lfd), then close
 * the listener and remove its socket file. Returns the connected fd. */
int hc_accept_port(hc *c, int lfd, uint32_t port, int timeout_ms, gcs_err *err);
/* Listen on a given stdio port (again, after a host swap). */
int hc_listen_on(hc *c, uint32_t port, gcs_err *err);
/* The host goes away: close the bridge connection and its listener (the
 * socket file goes), forget a partly read frame; queued notifications stay. */
void hc_drop(hc *c);
/* Listen for the bridge again after hc_drop. */
int hc_relisten(hc *c, gcs_err *err);
/* Remove the socket file of a stdio port that will not be accepted. */
void hc_unlink_port(hc *c, uint32_t port);
