/* jsonv.c - request body parsing and field validation with messages naming the field. */
#include "jsonv.h"

#include <string.h>

#define JSONV_MAX_DEPTH 32

static const char *type_name(enum jsonv_type t)
{
    switch (t) {
    case JSONV_STRING:
        return "a string";
    case JSONV_BOOL:
        return "true or false";
    case JSONV_INT:
        return "an integer";
    case JSONV_NUMBER:
        return "a number";
    case JSONV_ARRAY:
        return "a list";
    }
    return "?";
}

static bool type_ok(const json_t *v, enum jsonv_type t)
{
    switch (t) {
    case JSONV_STRING:
        return json_is_string(v);
    case JSONV_BOOL:
        return json_is_boolean(v);
    case JSONV_INT:
        return json_is_integer(v);
    case JSONV_NUMBER:
        return json_is_number(v);
    case JSONV_ARRAY:
        return json_is_array(v);
    }
    return false;
}

int jsonv_depth(const json_t *v)
{
    int max = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            int d = jsonv_depth(c);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            int d = jsonv_depth(c);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    return 0;
}

json_t *jsonv_parse_object(const char *body, size_t len, struct err *e)
{
    if (len == 0)
        return json_object();
    json_error_t je;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        err_set(e, ERR_INVALID, M_API_BAD_JSON,
                "The request body is not valid JSON (%s at line %d, column %d). Send a JSON "
                "object.",
                je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        err_set(e, ERR_INVALID, M_API_SCHEMA, "The request body must be a JSON object.");
        return NULL;
    }
    if (jsonv_depth(v) > JSONV_MAX_DEPTH) {
        json_decref(v);
        err_set(e, ERR_INVALID, M_API_BAD_JSON, "The request body is nested too deeply.");
        return NULL;
    }
    return v;
}

static const struct jsonv_field *find_field(const struct jsonv_field *fields, size_t n,
                                            const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static int bounds_ok(const json_t *v, const struct jsonv_field *f, struct err *e)
{
    enum msg id = f->bounds_id ? f->bounds_id : M_API_SCHEMA;
    if (f->type == JSONV_INT && f->hi > f->lo &&
        (json_integer_value(v) < f->lo || json_integer_value(v) > f->hi))
        return err_set(e, ERR_INVALID, id, "The parameter \"%s\" must be from %lld to %lld%s%s%s.",
                       f->name, f->lo, f->hi, f->unit ? " (" : "", f->unit ? f->unit : "",
                       f->unit ? ")" : "");
    if (f->type == JSONV_STRING && f->hi > 0 && json_string_length(v) > (size_t)f->hi)
        return err_set(e, ERR_INVALID, id, "The parameter \"%s\" is longer than %lld characters.",
                       f->name, f->hi);
    if (f->type == JSONV_ARRAY && f->hi > 0 && json_array_size(v) > (size_t)f->hi)
        return err_set(e, ERR_INVALID, id, "The parameter \"%s\" lists more than %lld items.",
                       f->name, f->hi);
    return 0;
}

int jsonv_check(const json_t *obj, const struct jsonv_field *fields, size_t n, struct err *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct jsonv_field *f = find_field(fields, n, key);
        if (!f)
            return err_set(e, ERR_INVALID, M_API_UNKNOWN_PARAM,
                           "Unknown parameter \"%.64s\". Remove it from the request.", key);
        if (!type_ok(v, f->type))
            return err_set(e, ERR_INVALID, M_API_SCHEMA, "The parameter \"%s\" must be %s.",
                           f->name, type_name(f->type));
        if (bounds_ok(v, f, e) < 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !json_object_get(obj, fields[i].name))
            return err_set(e, ERR_INVALID, M_API_SCHEMA, "The parameter \"%s\" is required.",
                           fields[i].name);
    return 0;
}

void jsonv_wipe(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (json_is_string(v)) /* jansson owns the buffer; wiping it in place is safe */
        explicit_bzero((char *)json_string_value(v), json_string_length(v));
}

const char *jsonv_str(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}
