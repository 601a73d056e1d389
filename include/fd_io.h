/* Whole reads and writes at an offset: pread/pwrite until every byte is
 * done, through EINTR and short transfers, so no caller writes that loop
 * again. The images, saved files and /proc/self/pagemap go through here.
 */
#ifndef VMM__FD_IO_H
#define VMM__FD_IO_H

#include <stddef.h>
#include <stdint.h>

/* len bytes at off into buf: 0, -errno, or -EIO when the file ends first. */
int fd__pread_all(int fd, void *buf, size_t len, uint64_t off);
/* The same, reading past the end of the file as zeros (an image shorter
 * than the disk it backs reads so): 0 or -errno. */
int fd__pread_zero_tail(int fd, void *buf, size_t len, uint64_t off);
/* len bytes of buf at off: 0, -errno, or -EIO when a write makes no
 * progress. */
int fd__pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

#endif
