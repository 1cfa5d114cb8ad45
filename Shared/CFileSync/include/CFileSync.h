#ifndef COFFRE_CFILESYNC_H
#define COFFRE_CFILESYNC_H

#include <stdint.h>
#include <sys/uio.h>

/// Starts writeback of `count` bytes at `offset` of `fd` to the device and
/// returns without waiting for it: Linux's sync_file_range with
/// SYNC_FILE_RANGE_WRITE. Swift's Glibc module hides that call (it needs
/// _GNU_SOURCE), hence this wrapper. Makes nothing durable: only fsync does.
/// Returns 0, or -1 with errno set; 0 and nothing done where the call does
/// not exist.
int coffre_start_writeback(int fd, int64_t offset, int64_t count);

/// Writes every byte of the `count` buffers of `vectors`, in order, at
/// `offset` of `fd` (pwritev, repeated after a short write or EINTR; the
/// entries of `vectors` are advanced as bytes go out). Returns 0, or -1 with
/// errno set; on -1 some of the bytes may have been written.
int coffre_write_all_at(int fd, struct iovec *vectors, int count, int64_t offset);

#endif
