/*
 * fs-util.h — fd-first filesystem helpers: full reads and writes, atomic publish (temp file in
 * the same directory, fsync, rename, fsync of the directory), mkdir -p and recursive removal.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lana/error.h"

/* Writes all of buf or fails with a negative errno. */
int write_full(int fd, const void *buf, size_t len);
/* Reads up to len bytes, retrying on EINTR and short reads; returns bytes read or -errno. */
ssize_t read_full(int fd, void *buf, size_t len);
/* Reads the whole file at dirfd/path (max bytes at most) into a NUL-terminated heap buffer. */
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
                 struct lana_error **err);
/* Atomically replaces dirfd/name with the given bytes (temp + fsync + rename + fsync dir). */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                         struct lana_error **err);
/* The same without the fsyncs: readers see the old or the new bytes, never a mix, but a crash
 * may lose the update. For runtime state that does not outlive a boot (container records). */
int write_file_volatile_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                           struct lana_error **err);
/* Creates a fresh temp file "name.tmp-XXXXXX" in dirfd; returns the fd and its name. */
int open_tmpfile_at(int dirfd, const char *prefix, char **ret_name, struct lana_error **err);
int fsync_dirfd(int dirfd);
/* The components of `path` joined by single slashes, with no leading or trailing one ("" for the
 * root). A "." component is dropped when `drop_dot`, else refused; ".." is always refused:
 * NULL then. */
char *path_simplify(const char *path, bool drop_dot);
/* mkdir -p relative to dirfd (or absolute). Existing directories are fine. */
int mkdir_p_at(int dirfd, const char *path, mode_t mode);
/* rm -rf of dirfd/path without following symlinks. Missing path is not an error. */
int rm_rf_at(int dirfd, const char *path);
/* Opens the directory that holds `path` ("." for a bare name; created with mkdir -p when
 * `create`) and returns its fd, with the last component in *ret_name. -EINVAL when the path has
 * no last component ("dir/"). */
int open_parent_dir(const char *path, bool create, char **ret_name);
/* Copies all bytes from in to out. */
int copy_fd(int in, int out);
/* Closes every descriptor from 3 up, except the `n` listed in `keep` (any order; entries below 3
 * or negative are ignored). Uses close_range(2) over the gaps, and a walk up to the descriptor
 * limit where the kernel lacks it. Returns 0, or -errno when a descriptor could not be closed. */
int close_all_fds_except(const int *keep, size_t n);
