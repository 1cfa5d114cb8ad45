#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>
#include "CFileSync.h"

int coffre_start_writeback(int fd, int64_t offset, int64_t count) {
#ifdef __linux__
    return sync_file_range(fd, (off_t)offset, (off_t)count, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)count;
    return 0;
#endif
}

int coffre_write_all_at(int fd, struct iovec *vectors, int count, int64_t offset) {
    while (count > 0) {
        if (vectors->iov_len == 0) {
            vectors++;
            count--;
            continue;
        }
        int batch = count < IOV_MAX ? count : IOV_MAX;
        ssize_t written = pwritev(fd, vectors, batch, (off_t)offset);
        if (written < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (written == 0) {
            errno = EIO;
            return -1;
        }
        offset += written;
        while (count > 0 && (size_t)written >= vectors->iov_len) {
            written -= (ssize_t)vectors->iov_len;
            vectors++;
            count--;
        }
        if (count > 0 && written > 0) {
            vectors->iov_base = (char *)vectors->iov_base + written;
            vectors->iov_len -= (size_t)written;
        }
    }
    return 0;
}
