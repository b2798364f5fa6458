/*
 * lstat of a directory's entries through one directory descriptor (fstatat), for the backup's source walk
 * (packages/engine's backup/source-walk.ts, through addon.c's statNames): one call per batch of names instead of one
 * lstatSync per entry, each of which resolves the whole path again and builds a Stats object. The walk falls back to
 * lstatSync for any entry that reports an error here, so messages stay Node's.
 */
#define _GNU_SOURCE
#include "stat-names.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int stat_names(const char *dir, const char *const *names, const size_t *lens, size_t count, double *out) {
  /* O_NOFOLLOW: a directory swapped for a symlink since it was listed must not have another directory's entries
     stand in for its own. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return errno ? errno : EIO;
  char name[NAME_MAX + 1];
  for (size_t i = 0; i < count; i++) {
    double *o = out + i * STAT_NAMES_FIELDS;
    memset(o, 0, STAT_NAMES_FIELDS * sizeof *o);
    if (lens[i] == 0 || lens[i] > NAME_MAX || memchr(names[i], 0, lens[i]) || memchr(names[i], '/', lens[i])) {
      o[0] = EINVAL;
      continue;
    }
    memcpy(name, names[i], lens[i]);
    name[lens[i]] = 0;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      o[0] = errno ? errno : EIO;
      continue;
    }
    o[1] = (double)st.st_mode;
    o[2] = (double)st.st_uid;
    o[3] = (double)st.st_gid;
    o[4] = (double)st.st_size;
    o[5] = (double)st.st_mtim.tv_sec * 1000 + (double)st.st_mtim.tv_nsec / 1e6;
    o[6] = (double)st.st_dev;
    o[7] = (double)st.st_rdev;
    o[8] = (double)st.st_ino;
    o[9] = (double)st.st_nlink;
  }
  close(dfd);
  return 0;
}
