/* pam.c - checks a password with PAM and works out the user's groups and role. */
#include <gnutls/crypto.h>
#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "auth_priv.h"

struct conv_data {
    const char *user;
    const char *password;
};

/* Answers PAM's prompts: the password for hidden ones, the user name for visible ones. */
static int conversation(int n, const struct pam_message **msg, struct pam_response **resp,
                        void *appdata)
{
    struct conv_data *d = appdata;
    struct pam_response *r = calloc((size_t)n, sizeof(*r));
    if (!r)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
            r[i].resp = strdup(d->password);
        else if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
            r[i].resp = strdup(d->user);
    }
    *resp = r; /* PAM frees (and, for pam_unix, wipes) the answers */
    return PAM_SUCCESS;
}

/* PAM modules may ask for a delay after a failure; the lockout does that job without
 * holding an HTTP thread. */
static void no_delay(int retval, unsigned usec, void *appdata)
{
    (void)retval;
    (void)usec;
    (void)appdata;
}

static void add_group(struct auth_identity *id, const char *name, size_t *len)
{
    int n = snprintf(id->groups + *len, sizeof(id->groups) - *len, "%s\"%s\"", *len > 1 ? "," : "",
                     name);
    if (n > 0 && *len + (size_t)n < sizeof(id->groups) - 2)
        *len += (size_t)n;
}

/* 16 hex digits of the SHA-256 of the account's password hash (`s`, its shadow entry; NULL
 * when it cannot be read: ""), so that a session can tell the password changed without
 * keeping the hash itself. */
static void password_mark(const struct spwd *s, char *out, size_t len)
{
    unsigned char d[32];
    out[0] = '\0';
    if (s && s->sp_pwdp &&
        gnutls_hash_fast(GNUTLS_DIG_SHA256, s->sp_pwdp, strlen(s->sp_pwdp), d) == 0)
        for (size_t i = 0; i < 8 && 2 * i + 2 < len; i++)
            snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* `user`'s identity: its groups, its role, and the mark of its password from `shadow`. */
static void fill_identity(struct auth *a, const char *user, const struct spwd *shadow,
                          struct auth_identity *id)
{
    struct passwd pw, *p = NULL;
    char buf[4096];
    gid_t groups[64];
    int ngroups = 64;
    size_t len = 1;
    snprintf(id->user, sizeof(id->user), "%s", user);
    snprintf(id->groups, sizeof(id->groups), "[");
    id->admin = false;
    password_mark(shadow, id->pw_mark, sizeof(id->pw_mark));
    if (getpwnam_r(user, &pw, buf, sizeof(buf), &p) == 0 && p) {
        id->admin = p->pw_uid == 0;
        if (getgrouplist(user, p->pw_gid, groups, &ngroups) < 0)
            ngroups = 64;
        for (int i = 0; i < ngroups; i++) {
            struct group gr, *g = NULL;
            char gbuf[4096];
            if (getgrgid_r(groups[i], &gr, gbuf, sizeof(gbuf), &g) != 0 || !g)
                continue;
            add_group(id, g->gr_name, &len);
            if (strcmp(g->gr_name, a->admin_group) == 0)
                id->admin = true;
        }
    }
    snprintf(id->groups + len, sizeof(id->groups) - len, "]");
}

int auth_account_now(struct auth *a, const char *user, struct auth_identity *id)
{
    struct passwd pw, *p = NULL;
    struct spwd sp, *s = NULL;
    char buf[4096];
    if (getpwnam_r(user, &pw, buf, sizeof(buf), &p) != 0 || !p)
        return -1; /* deleted */
    if (getspnam_r(user, &sp, buf, sizeof(buf), &s) == 0 && s) {
        long today = (long)(time(NULL) / 86400);
        if (s->sp_pwdp && s->sp_pwdp[0] == '!')
            return -1; /* locked (passwd -l, usermod -L) */
        if (s->sp_expire > 0 && s->sp_expire <= today)
            return -1; /* the account expired */
    }
    fill_identity(a, user, s, id);
    explicit_bzero(buf, sizeof(buf)); /* it held the password's hash */
    return 0;
}

/* A copy of a name from the network that is safe to log: no control characters. */
static void printable(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++)
        out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
    out[i] = '\0';
}

int auth_pam_check(struct auth *a, const char *user, const char *password, struct auth_identity *id,
                   struct err *e)
{
    struct conv_data d = {user, password};
    struct pam_conv conv = {conversation, &d};
    pam_handle_t *h = NULL;
    int rc = pam_start(a->pam_service, user, &conv, &h);
    if (rc != PAM_SUCCESS) {
        err_set(e, ERR_INTERNAL, M_AUTH_UNAVAILABLE, "PAM could not start: %s.",
                pam_strerror(h, rc));
        return -1;
    }
    pam_set_item(h, PAM_FAIL_DELAY, (const void *)no_delay);
    rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_SUCCESS)
        rc = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    pam_end(h, rc);
    if (rc != PAM_SUCCESS) {
        char shown[65];
        printable(user, shown, sizeof(shown));
        log_warn("login failed for user \"%s\"", shown);
        return err_set(e, ERR_AUTH, M_AUTH_FAILED, "The user name or password is wrong.");
    }
    struct spwd sp, *shadow = NULL;
    char buf[4096];
    getspnam_r(user, &sp, buf, sizeof(buf), &shadow);
    fill_identity(a, user, shadow, id);
    explicit_bzero(buf, sizeof(buf)); /* it held the password's hash */
    return 0;
}
