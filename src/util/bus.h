/* bus.h - the event stream's memory: what changed (a task, a guest), in order, as
 * Server-Sent Events frames, kept for clients that reconnect. Publishers (the task engine,
 * the inventory) add frames; each stream client waits for frames after the last one it sent.
 * Nothing here calls out: the bus's lock may be taken under any other lock. */
#ifndef KIMCHID_BUS_H
#define KIMCHID_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bus;

/* A bus keeping the newest frames up to `max_bytes` of text (at least the newest frame).
 * NULL when out of memory. */
struct bus *bus_new(size_t max_bytes);

/* Wakes every waiting reader for good (they get -1), then frees nothing: call bus_free after
 * the readers are gone. */
void bus_close(struct bus *b);
void bus_free(struct bus *b);

/* Adds one frame: `type` (a word) and `data` (JSON text on one line). NULL `b`: no-op. */
void bus_publish(struct bus *b, const char *type, const char *data);

struct json_t;
/* bus_publish of a JSON value (stolen; NULL, or one that cannot be written, adds nothing). */
void bus_publish_json(struct bus *b, const char *type, struct json_t *data);

/* Wakes every waiting reader without a new frame (it returns 0 at once): something it
 * checks between reads changed (a session ended). NULL `b`: no-op. */
void bus_wake(struct bus *b);

/* Where a client starting now begins: after the newest frame. */
uint64_t bus_now(struct bus *b);

/* Writes the id of position `pos` ("<run>.<seq>") into `out`. */
void bus_format_id(const struct bus *b, uint64_t pos, char *out, size_t len);

/* Whether anyone follows the bus: a reader waits in bus_read now, or one returned from it in
 * the last `within_ms` (a stream between two reads). NULL `b`: false. */
bool bus_watched(struct bus *b, int within_ms);

/* A client's Last-Event-ID `text` as a position: 0 and `*pos` set when it is one of this
 * bus's ids; 1 when it is well formed but from another run of kimchid or not issued yet (the
 * client must reload what it shows); -1 when malformed. */
int bus_parse_id(const struct bus *b, const char *text, uint64_t *pos);

/* Copies whole frames after `*pos` into `out` (at most `len` bytes), waiting up to
 * `timeout_ms` for the first; advances `*pos`. Returns the bytes copied (0: none came in
 * time), or -1 when the bus is closed. `*gap` is set when frames after `*pos` were dropped
 * (too old, or one larger than `len`): the client missed something and must reload. */
ssize_t bus_read(struct bus *b, uint64_t *pos, char *out, size_t len, int timeout_ms, bool *gap);

#endif
