/* filter.c - collection filters as Wok applies them: every query parameter not starting with
 * '_' names a field; an item is kept when it has that field and the field equals the value
 * or the value, read as a regular expression, matches at the start of the field (Python's
 * re.match: anchored at the start only). Kimchi's UI finds its tasks this way, e.g.
 * ?status=running&target_uri=^/plugins/kimchi/vms/.+/clone. Patterns are POSIX extended
 * regular expressions, which read the forms Kimchi's UI sends the same way. */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "api_priv.h"

#define MAX_FILTERS 8

struct filters {
    size_t n;
    char keys[MAX_FILTERS][64];
    char values[MAX_FILTERS][512];
    regex_t re[MAX_FILTERS];
    bool compiled[MAX_FILTERS];
    bool bad; /* a filter was refused (the reason is in e) */
    struct err *e;
};

static bool collect(void *ctx, const char *key, const char *value)
{
    struct filters *f = ctx;
    if (key[0] == '_')
        return true; /* Wok's flags, not fields */
    if (f->n == MAX_FILTERS || strlen(key) >= sizeof(f->keys[0]) ||
        strlen(value) >= sizeof(f->values[0])) {
        err_set(f->e, ERR_INVALID, M_API_FILTER_LIMIT,
                "Too many or too long filters: give at most %d, each under 512 characters.",
                MAX_FILTERS);
        f->bad = true;
        return false;
    }
    snprintf(f->keys[f->n], sizeof(f->keys[0]), "%s", key);
    snprintf(f->values[f->n], sizeof(f->values[0]), "%s", value);
    f->compiled[f->n] = regcomp(&f->re[f->n], value, REG_EXTENDED) == 0;
    if (!f->compiled[f->n]) {
        err_set(f->e, ERR_INVALID, M_API_FILTER_REGEX,
                "The filter %s=\"%.200s\" is not a valid regular expression. Fix the pattern, "
                "or filter by the exact value.",
                key, value);
        f->bad = true;
        return false;
    }
    f->n++;
    return true;
}

static bool field_matches(const struct filters *f, size_t i, json_t *item)
{
    json_t *v = json_object_get(item, f->keys[i]);
    char num[32];
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    }
    if (!s)
        return false;
    regmatch_t m;
    return strcmp(s, f->values[i]) == 0 || (regexec(&f->re[i], s, 1, &m, 0) == 0 && m.rm_so == 0);
}

static void filters_free(struct filters *f)
{
    for (size_t i = 0; i < MAX_FILTERS; i++)
        if (f->compiled[i])
            regfree(&f->re[i]);
}

json_t *api_filter(const struct api_request *req, json_t *list, struct err *e)
{
    struct filters f = {.e = e};
    if (req->query_each)
        req->query_each(req->query_cls, collect, &f);
    if (f.bad) {
        filters_free(&f);
        json_decref(list);
        return NULL;
    }
    json_t *out = f.n ? json_array() : list;
    for (size_t k = 0; f.n && k < json_array_size(list); k++) {
        json_t *item = json_array_get(list, k);
        bool keep = true;
        for (size_t i = 0; i < f.n && keep; i++)
            keep = field_matches(&f, i, item);
        if (keep)
            json_array_append(out, item);
    }
    if (f.n)
        json_decref(list);
    filters_free(&f);
    return out;
}
