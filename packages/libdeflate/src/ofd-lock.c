/*
 * An exclusive fcntl lock on a whole file, held by an open file description (Linux's F_OFD_SETLK) rather than by
 * the process: closing some other descriptor of the same file, as reading the lockfile does, does not drop it.
 * Such locks conflict with the classic fcntl record locks that duplicity (fasteners, Python's fcntl.lockf) takes,
 * both ways. addon.c's lockFile is the caller; packages/engine's lock/fcntl-holder.ts says why.
 */
#define _GNU_SOURCE
#include "ofd-lock.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int ofd_lock(const char *path) {
#ifdef F_OFD_SETLK
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) return OFD_LOCK_FAILED;
  struct flock fl = {0};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET; /* l_start 0, l_len 0: the whole file, as lockf(fd, F_TLOCK, 0) from offset 0 */
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return fd;
  int busy = errno == EAGAIN || errno == EACCES;
  close(fd);
  return busy ? OFD_LOCK_BUSY : OFD_LOCK_FAILED;
#else
  (void)path;
  return OFD_LOCK_FAILED;
#endif
}
