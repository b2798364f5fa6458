/* lstat of many entries of one directory through one directory descriptor (stat-names.c). */
#ifndef STAT_NAMES_H
#define STAT_NAMES_H

#include <stddef.h>

/* Doubles per entry in the output: error (0, or the errno of that entry), then the fields below. */
#define STAT_NAMES_FIELDS 10

/*
 * Opens directory `dir` (not following a symlink in its last component) and fstatat()s, without following
 * links, each of the `count` names (`names[i]`, `lens[i]` bytes, no NUL inside). For entry i, out[i * FIELDS ...]
 * gets: error, mode, uid, gid, size, mtimeMs (sec * 1000 + nsec / 1e6, as Node computes it), dev, rdev, ino,
 * nlink. Returns 0, or the errno of opening the directory (nothing is written then).
 */
int stat_names(const char *dir, const char *const *names, const size_t *lens, size_t count, double *out);
#endif
