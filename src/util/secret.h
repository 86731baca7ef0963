/* secret.h - strings that held a password or a key: wiped before their memory is freed. */
#ifndef KIMCHID_SECRET_H
#define KIMCHID_SECRET_H

/* Overwrites the string with zeros (a wipe the compiler may not drop) and frees it.
 * NULL is a no-op. */
void secret_free(char *s);

#endif
