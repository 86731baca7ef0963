/* array.h - the element count of an array, so a count is never written by hand. */
#ifndef KIMCHID_ARRAY_H
#define KIMCHID_ARRAY_H

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
