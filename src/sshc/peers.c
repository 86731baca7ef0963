/* peers.c - the hosts kimchid logs in to with its key (trust set up by kimchid, or found
 * working), so that the Migrate dialog can suggest them: <state-dir>/peers, one name a line,
 * written whole through a new file each time one is added. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/file.h"
#include "../util/log.h"
#include "sshc.h"

#define PEERS_MAX (64 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char path[1100];

void sshc_peers_init(const char *state_dir)
{
    snprintf(path, sizeof(path), "%s/peers", state_dir);
}

/* The file's text ("" when missing or unreadable); under the lock. */
static char *read_locked(void)
{
    struct err ignore;
    char *text = path[0] ? file_read(path, PEERS_MAX, true, &ignore) : NULL;
    return text ? text : strdup("");
}

static bool listed(const char *text, const char *host)
{
    size_t n = strlen(host);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, host, n) && (l[n] == '\n' || l[n] == '\0'))
            return true;
    return false;
}

void sshc_peer_note(const char *host)
{
    if (!path[0] || !host[0] || strchr(host, '\n'))
        return;
    pthread_mutex_lock(&lock);
    char *text = read_locked();
    if (text && !listed(text, host) && strlen(text) + strlen(host) + 2 < PEERS_MAX) {
        size_t len = strlen(text) + strlen(host) + 2;
        char *next = malloc(len);
        char tmp[1200];
        snprintf(tmp, sizeof(tmp), "%s.new", path);
        if (next) {
            snprintf(next, len, "%s%s\n", text, host);
            if (file_write_new(tmp, next, strlen(next), 0600) < 0 || rename(tmp, path) < 0)
                log_warn("cannot record \"%s\" among the hosts kimchid logs in to (%s)", host,
                         path);
        }
        free(next);
    }
    free(text);
    pthread_mutex_unlock(&lock);
}

char *sshc_peers_text(void)
{
    pthread_mutex_lock(&lock);
    char *text = read_locked();
    pthread_mutex_unlock(&lock);
    return text;
}
