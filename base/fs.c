/* Design: see fs.h */
#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int em_mkdir_all(const char *path, em_err_t *err)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return em_err_set(err, EM_EINVAL, "invalid directory path \"%s\"", path);
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
                return em_err_sys(err, EM_EIO, errno, "mkdir %s", tmp);
            tmp[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return em_err_set(err, EM_EIO, "%s exists and is not a directory", path);
    return EM_OK;
}

int em_fsync_dir(const char *path, em_err_t *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return em_err_sys(err, EM_EIO, errno, "open %s", path);
    int rc = EM_OK;
    if (fsync(fd) != 0)
        rc = em_err_sys(err, EM_EIO, errno, "fsync %s", path);
    close(fd);
    return rc;
}

int em_remove_all(const char *path, em_err_t *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? EM_OK : em_err_sys(err, EM_EIO, errno, "stat %s", path);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return em_err_sys(err, EM_EIO, errno, "opendir %s", path);
        struct dirent *e;
        int rc = EM_OK;
        while ((e = readdir(d)) && rc == EM_OK) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[PATH_MAX];
            snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
            rc = em_remove_all(child, err);
        }
        closedir(d);
        if (rc != EM_OK)
            return rc;
        if (rmdir(path) != 0)
            return em_err_sys(err, EM_EIO, errno, "rmdir %s", path);
        return EM_OK;
    }
    if (unlink(path) != 0 && errno != ENOENT)
        return em_err_sys(err, EM_EIO, errno, "remove %s", path);
    return EM_OK;
}

int em_read_file(const char *path, size_t max_bytes, em_buf_t *out, em_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return em_err_sys(err, errno == ENOENT ? EM_ENOTFOUND : EM_EIO, errno, "open %s", path);
    int rc = EM_OK;
    size_t total = 0;
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = em_err_sys(err, EM_EIO, errno, "read %s", path);
            break;
        }
        if (r == 0)
            break;
        total += (size_t)r;
        if (total > max_bytes) {
            rc = em_err_set(err, EM_ELIMIT, "%s is larger than %zu bytes", path, max_bytes);
            break;
        }
        em_buf_append(out, chunk, (size_t)r);
    }
    close(fd);
    return rc;
}

int em_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return EM_EIO;
        }
        c += w;
        n -= (size_t)w;
    }
    return EM_OK;
}

int em_write_file_atomic(const char *path, const void *data, size_t n, em_err_t *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return em_err_sys(err, EM_EIO, errno, "create %s", tmp);
    int rc = EM_OK;
    if (em_write_all(fd, data, n) != EM_OK)
        rc = em_err_sys(err, EM_EIO, errno, "write %s", tmp);
    else if (fsync(fd) != 0)
        rc = em_err_sys(err, EM_EIO, errno, "fsync %s", tmp);
    close(fd);
    if (rc == EM_OK && rename(tmp, path) != 0)
        rc = em_err_sys(err, EM_EIO, errno, "rename %s", tmp);
    if (rc != EM_OK) {
        unlink(tmp);
        return rc;
    }
    return em_fsync_dir(dir, err);
}

uint64_t em_dir_size(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    uint64_t total = 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        total += em_dir_size(child);
    }
    closedir(d);
    return total;
}

bool em_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}
