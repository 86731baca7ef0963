/* esc.h - one-line text from untrusted values, for logs and the audit trail. */
#ifndef KIMCHID_ESC_H
#define KIMCHID_ESC_H

#include <stddef.h>

/* Copies `in` into out (room for `room` bytes, not NUL-terminated), writing every control
 * byte, and every byte that is not part of a valid UTF-8 character, as \xNN, and every byte
 * listed in `also` preceded by a backslash, so that a value from the network cannot forge a
 * line or a field, and what is written is UTF-8 (JSON can carry it). Stops before a character
 * that does not fit, never inside one. Returns the bytes written. */
size_t esc_controls(const char *in, char *out, size_t room, const char *also);

/* The length (1-4) of the valid UTF-8 character `p` starts with, or 0 when it starts none
 * (a stray continuation byte, an overlong form, a surrogate, a character cut short). */
size_t esc_utf8_len(const char *p);

/* Rewrites, in place, each byte of `s` that is not part of a valid UTF-8 character as '?':
 * for messages that quote a value cut at a byte count ("%.200s" can end inside a character). */
void esc_utf8_fix(char *s);

/* Percent-encodes `in` for a URI into out (NUL-terminated, `len` bytes): ASCII letters and
 * digits and the bytes in `keep` stay, every other byte becomes %XX. Stops before a
 * character that does not fit. */
void esc_percent(const char *in, const char *keep, char *out, size_t len);

/* A guest's URI below Kimchi's prefix, as a task's target_uri names it: the name
 * percent-encoded (RFC 3986's unreserved stay), then "/action" when given:
 * "/plugins/kimchi/vms/50%25off/migrate". */
void esc_vm_uri(const char *name, const char *action, char *out, size_t len);

#endif
