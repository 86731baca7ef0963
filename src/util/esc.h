/* esc.h - one-line text from untrusted values, for logs and the audit trail. */
#ifndef KIMCHID_ESC_H
#define KIMCHID_ESC_H

#include <stddef.h>

/* Copies `in` into out (room for `room` bytes, not NUL-terminated), writing every control
 * byte as \xNN and every byte listed in `also` preceded by a backslash, so that a value from
 * the network cannot forge a line or a field. Stops before a character that does not fit.
 * Returns the bytes written. */
size_t esc_controls(const char *in, char *out, size_t room, const char *also);

/* Percent-encodes `in` for a URI into out (NUL-terminated, `len` bytes): ASCII letters and
 * digits and the bytes in `keep` stay, every other byte becomes %XX. Stops before a
 * character that does not fit. */
void esc_percent(const char *in, const char *keep, char *out, size_t len);

#endif
