/* secret.c - wiping secrets before their memory is freed. */
#include "secret.h"

#include <stdlib.h>
#include <string.h>

void secret_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}
