/* An exclusive open-file-description fcntl lock on a whole file (ofd-lock.c). */
#ifndef OFD_LOCK_H
#define OFD_LOCK_H

#define OFD_LOCK_BUSY (-1)
#define OFD_LOCK_FAILED (-2)

/*
 * Opens `path` (created if missing) and locks it whole for writing without waiting. Returns the descriptor, which
 * holds the lock until it is closed; OFD_LOCK_BUSY when another process holds a conflicting lock; OFD_LOCK_FAILED
 * when the file cannot be opened or the kernel has no such locks.
 */
int ofd_lock(const char *path);
#endif
