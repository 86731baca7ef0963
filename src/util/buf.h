/* buf.h - a bounded growable byte buffer; errors are sticky and checked once. */
#ifndef KIMCHID_BUF_H
#define KIMCHID_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data; /* always NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    size_t limit; /* 0: no limit */
    bool failed;  /* an append hit the limit or out of memory */
};

/* Initializes an empty buffer that refuses to grow past `limit` bytes (0 = none). */
void buf_init(struct buf *b, size_t limit);

/* Appends bytes; on failure sets b->failed and returns -1. */
int buf_append(struct buf *b, const void *data, size_t len);

/* Appends a formatted string; on failure sets b->failed and returns -1. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns the data (caller owns, free()) and resets the buffer. NULL when failed. */
char *buf_steal(struct buf *b);

/* Frees the data; the buffer may be reused after buf_init. */
void buf_free(struct buf *b);

#endif
