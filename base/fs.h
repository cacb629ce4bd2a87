/* base/fs.h -- small file-system helpers shared by the WAL, blocks and snapshots.
 *
 * All return EM_OK or EM_EIO with the path and errno in err. Thread: any.
 */
#ifndef EMBER_BASE_FS_H
#define EMBER_BASE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* mkdir -p */
int em_mkdir_all(const char *path, em_err_t *err);
/* fsync a directory so that creates, renames and deletes in it are durable. */
int em_fsync_dir(const char *path, em_err_t *err);
/* rm -rf (a missing path is not an error). */
int em_remove_all(const char *path, em_err_t *err);
/* Read a whole file into 'out' (appended), refusing files larger than max_bytes with EM_ELIMIT. */
int em_read_file(const char *path, size_t max_bytes, em_buf_t *out, em_err_t *err);
/* Write 'n' bytes to 'path' atomically: a temporary file in the same directory, fsync, rename, fsync
 * the directory. */
int em_write_file_atomic(const char *path, const void *data, size_t n, em_err_t *err);
/* write(2) all n bytes, retrying on EINTR and short writes. */
int em_write_all(int fd, const void *p, size_t n);
/* Total bytes of regular files under 'path' (recursive). */
uint64_t em_dir_size(const char *path);
bool em_path_exists(const char *path);

#endif
