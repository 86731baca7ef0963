/* jsonv.h - parse a request body and check it against a list of allowed fields. */
#ifndef KIMCHID_JSONV_H
#define KIMCHID_JSONV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "msg.h"

enum jsonv_type { JSONV_STRING, JSONV_BOOL, JSONV_INT, JSONV_NUMBER, JSONV_ARRAY };

/* One field a body may carry. An integer field with hi > lo must lie in [lo, hi]; a string
 * field with hi > 0 may be at most hi bytes long, a list at most hi items. Out of bounds is a 400
 * with id `bounds_id` (M_API_SCHEMA when 0) saying "must be from lo to hi (unit)". */
struct jsonv_field {
    const char *name;
    enum jsonv_type type;
    bool required;
    long long lo, hi;
    enum msg bounds_id;
    const char *unit; /* "MiB/s", "connections", ...: what the number counts */
};

/* Parses a body (not NUL-terminated). An empty body is an empty object.
 * Returns a new reference to an object, or NULL with a 400 in `e`. */
json_t *jsonv_parse_object(const char *body, size_t len, struct err *e);

/* Checks that `obj` has only the listed fields, each of the listed type, and all
 * required ones. Returns 0, or -1 with a 400 naming the field in `e`. */
int jsonv_check(const json_t *obj, const struct jsonv_field *fields, size_t n, struct err *e);

/* Returns a string field's value (borrowed) or NULL when absent. */
const char *jsonv_str(const json_t *obj, const char *name);

/* Overwrites a string field's value in place (a password) before the object is freed. */
void jsonv_wipe(json_t *obj, const char *name);

/* Depth of nesting of a value: a scalar is 0, [] or {} is 1. */
int jsonv_depth(const json_t *v);

#endif
