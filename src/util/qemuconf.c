/* qemuconf.c - libvirt's qemu.conf is "name = value" lines, '#' comments, strings quoted. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "qemuconf.h"

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The quoted value if `line` sets `name`, else NULL; its length in *n. */
static const char *setting(const char *line, const char *name, size_t *n)
{
    const char *p = skip_space(line);
    size_t nl = strlen(name);
    if (strncmp(p, name, nl) != 0 || (isalnum((unsigned char)p[nl]) || p[nl] == '_'))
        return NULL;
    p = skip_space(p + nl);
    if (*p != '=')
        return NULL;
    p = skip_space(p + 1);
    if (*p != '"')
        return NULL;
    const char *end = strchr(p + 1, '"');
    const char *eol = strchr(p + 1, '\n');
    if (!end || (eol && end > eol))
        return NULL;
    *n = (size_t)(end - p - 1);
    return p + 1;
}

void qemuconf_get(const char *text, const char *name, char *out, size_t len)
{
    out[0] = 0;
    for (const char *line = text; line && *line;) {
        size_t n;
        const char *v = setting(line, name, &n);
        if (v)
            snprintf(out, len, "%.*s", (int)n, v);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
}

void qemuconf_lock_manager(const char *text, char *out, size_t len)
{
    qemuconf_get(text, "lock_manager", out, len);
}

bool qemuconf_userfaultfd_denied(const char *conf, const char *uffd_sysctl,
                                 unsigned long qemu_version)
{
    char user[64];
    qemuconf_get(conf ? conf : "", "user", user, sizeof(user));
    bool root = strcmp(user, "root") == 0 || strcmp(user, "+0") == 0;
    return !root && qemu_version > 0 && qemu_version < QEMUCONF_DEV_USERFAULTFD_VERSION &&
           uffd_sysctl && uffd_sysctl[0] == '0';
}
