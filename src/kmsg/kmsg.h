/* kmsg.h — the kernel's log (/dev/kmsg) forwarded into the agent's log
 * stream, as upstream internal/guest/kmsg does: every record whose priority
 * is at or below the -kmsgLogLevel threshold becomes one info line
 * "kmsg read" with the fields priority (Emerg..Debug), facility, seq,
 * timesincebootmicro, flags and message. The device is read non-blockingly
 * on the loop; records overwritten before they were read are reported once
 * per gap ("kmsg entry overwritten; skipping entry"), a record that does not
 * parse is logged as an error with the raw line.
 *
 * When the agent's own log goes to that device, nothing is forwarded (each
 * line would come back as a record, without end).
 *
 * Reading starts at the oldest record the kernel still holds (as upstream),
 * so the boot messages reach the host too. */
#pragma once

#include "loop/loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* include/linux/kern_levels.h */
enum kmsg_level { KMSG_EMERG, KMSG_ALERT, KMSG_CRIT, KMSG_ERR, KMSG_WARNING, KMSG_NOTICE, KMSG_INFO, KMSG_DEBUG };

typedef struct kmsg_entry {
    unsigned priority; /* 0..7 */
    unsigned facility;
    uint64_t seq;
    uint64_t usec;      /* time since boot, microseconds */
    char flags[8];      /* "-", "c", "+" ... (the 4th prefix field, cut to 7 bytes) */
    const char *msg;    /* points into the record; trimmed of surrounding white space */
    size_t msg_len;
} kmsg_entry;

/* One record "PRI,SEQ,USEC,FLAGS[,...];text\n[ KEY=VALUE\n...]". The text
 * ends at the first newline; continuation lines (key/value pairs) are not
 * part of it. 0, or -1 when the record does not have that shape. rec need
 * not be NUL-terminated. */
int kmsg_parse(const char *rec, size_t n, kmsg_entry *out);
/* "Emerg".."Debug" (upstream's names). */
const char *kmsg_level_name(unsigned priority);

typedef struct kmsg_reader kmsg_reader;
/* Open path (normally <dev-root>/kmsg) and forward records with priority
 * <= max_level. A device that cannot be opened or watched is logged once
 * and NULL returned: the agent goes on without it. */
kmsg_reader *kmsg_start(loop *l, const char *path, unsigned max_level);
/* Stop watching and close. NULL is fine. */
void kmsg_stop(kmsg_reader *k);
/* Records forwarded so far (DumpStacks, tests). */
uint64_t kmsg_forwarded(const kmsg_reader *k);
