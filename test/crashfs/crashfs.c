/*
 * crashfs.c - a power-cut model for one folder, LD_PRELOADed into the process under test (the
 * vtpmback daemon's JVM). In the spirit of LazyFS and ALICE: after a simulated power cut, only what
 * fsync(2)/fdatasync(2) made durable exists. The shim keeps a "durable view" of the watched tree in a
 * shadow folder, keyed by inode:
 *
 *   SHADOW/files/<ino>  the content of file <ino> as of its last fsync/fdatasync
 *   SHADOW/dirs/<ino>   the entries ("<ino> <d|f> <octal mode> <name>" lines) of folder <ino> as of
 *                       its last fsync
 *
 * A file created (O_CREAT on a name that did not exist) or a folder made (mkdir) starts with nothing
 * durable: its shadow entry is removed, so a reused inode number never lends it an older file's data.
 * rename, unlink and mkdir change nothing durable by themselves: only the next fsync of the folder
 * does. The test harness rebuilds the tree after a cut from the root folder's entry (see
 * CrashFs.java): folders reachable through fsynced entries, files with their last fsynced content, a
 * never-fsynced file empty.
 *
 * Every durability event under the root (fsync, fdatasync, rename, unlink, mkdir) is numbered and
 * appended to SHADOW/events ("<n> <op> <path>"). While SHADOW/kill-at holds "<n> before" or
 * "<n> after", the process SIGKILLs itself at its n-th event, before or right after it happens: a
 * crash point inside a save, chosen by number (the harness writes the file while the process runs).
 *
 * Environment: CRASHFS_ROOT (absolute, canonical) and CRASHFS_SHADOW (outside the root; holds files/
 * and dirs/). Without them the shim does nothing.
 *
 * Limits: the JDK's calls only (open/open64/openat/openat64/creat, fsync, fdatasync, rename, renameat,
 * renameat2, unlink, unlinkat, mkdir); no write(2) reordering inside a file between two fsyncs (a
 * file is either as of its last fsync or, if never fsynced, empty); an unlinked inode's number reused
 * before its folder was fsynced can give the stale name the new file's content.
 *
 * Build: gcc -shared -fPIC -O2 -o crashfs.so crashfs.c -ldl
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static char root[PATH_MAX];
static size_t root_len;
static char shadow[PATH_MAX];
static char control[PATH_MAX];
static long events;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void crashfs_init(void)
{
	const char *r = getenv("CRASHFS_ROOT"), *s = getenv("CRASHFS_SHADOW");
	if (!r || !s || strlen(r) >= sizeof(root) - 1 || strlen(s) >= sizeof(shadow) - 32)
		return;
	strcpy(root, r);
	root_len = strlen(root);
	while (root_len > 1 && root[root_len - 1] == '/')
		root[--root_len] = 0;
	strcpy(shadow, s);
	snprintf(control, sizeof(control), "%s/kill-at", shadow);
}

/* Direct system calls: the shim never re-enters its own wrappers. */
static int sys_open(const char *p, int flags, mode_t mode)
{
	return (int)syscall(SYS_openat, AT_FDCWD, p, flags | O_CLOEXEC, mode);
}

static int sys_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

static int under_root(const char *path)
{
	return root_len && strncmp(path, root, root_len) == 0 && (path[root_len] == 0 || path[root_len] == '/');
}

/* The path fd refers to, if it lies under the root. */
static int fd_under_root(int fd, char *out)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, PATH_MAX - 1);
	if (n <= 0)
		return 0;
	out[n] = 0;
	return under_root(out);
}

static void shadow_path(char *out, const char *kind, ino_t ino)
{
	snprintf(out, PATH_MAX, "%s/%s/%llu", shadow, kind, (unsigned long long)ino);
}

/* Writes data to SHADOW/kind/ino through a temp file and rename (the shadow is the model, not fsynced). */
static void shadow_store(const char *kind, ino_t ino, const char *data, size_t len)
{
	char final[PATH_MAX], tmp[PATH_MAX + 32];
	shadow_path(final, kind, ino);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", final, (long)syscall(SYS_gettid));
	int fd = sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	size_t off = 0;
	while (off < len) {
		ssize_t w = syscall(SYS_write, fd, data + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	sys_close(fd);
	syscall(SYS_rename, tmp, final);
}

static void shadow_forget(const char *kind, ino_t ino)
{
	char p[PATH_MAX];
	shadow_path(p, kind, ino);
	syscall(SYS_unlink, p);
}

/* Whether SHADOW/kill-at ("<n> before|after") names event n on this side of it. */
static int kill_point(long n, int after)
{
	char buf[64];
	int fd = sys_open(control, O_RDONLY, 0);
	if (fd < 0)
		return 0;
	ssize_t r = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	sys_close(fd);
	if (r <= 0)
		return 0;
	buf[r] = 0;
	char *end;
	long at = strtol(buf, &end, 10);
	return at == n && (strstr(end, "after") != NULL) == after;
}

/* Numbers one durability event; SIGKILLs the process at the chosen one. Returns its number. */
static long event(const char *op, const char *path)
{
	pthread_mutex_lock(&lock);
	long n = ++events;
	char line[PATH_MAX + 64], file[PATH_MAX];
	int len = snprintf(line, sizeof(line), "%ld %s %s\n", n, op, path);
	snprintf(file, sizeof(file), "%s/events", shadow);
	int fd = sys_open(file, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		syscall(SYS_write, fd, line, (size_t)len);
		sys_close(fd);
	}
	pthread_mutex_unlock(&lock);
	if (kill_point(n, 0))
		kill(getpid(), SIGKILL);
	return n;
}

static void event_done(long n)
{
	if (n && kill_point(n, 1))
		kill(getpid(), SIGKILL);
}

/* The buffer grows by doubling; NULL on failure. */
static char *grow(char *buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return buf;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c *= 2;
	char *b = realloc(buf, c);
	if (b)
		*cap = c;
	else
		free(buf);
	return b;
}

/* Records what an fsync of fd makes durable: a file's content, or a folder's entries. */
static void make_durable(int fd, const char *path)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return;
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	size_t cap = 0, len = 0;
	char *buf = NULL;
	if (S_ISREG(st.st_mode)) {
		int rfd = sys_open(link, O_RDONLY, 0); /* reopened: the daemon's fd may be write-only */
		if (rfd < 0)
			return;
		for (;;) {
			if (!(buf = grow(buf, &cap, len + 65536)))
				break;
			ssize_t r = syscall(SYS_read, rfd, buf + len, cap - len);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
		sys_close(rfd);
		if (buf)
			shadow_store("files", st.st_ino, buf, len);
	} else if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (!d)
			return;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			struct stat es;
			if (fstatat(dirfd(d), e->d_name, &es, AT_SYMLINK_NOFOLLOW) != 0)
				continue;
			if (!S_ISREG(es.st_mode) && !S_ISDIR(es.st_mode))
				continue;
			if (!(buf = grow(buf, &cap, len + strlen(e->d_name) + 32)))
				break;
			len += (size_t)sprintf(buf + len, "%llu %c %o %s\n", (unsigned long long)es.st_ino,
					       S_ISDIR(es.st_mode) ? 'd' : 'f', (unsigned)(es.st_mode & 07777), e->d_name);
		}
		closedir(d);
		if (buf || len == 0)
			shadow_store("dirs", st.st_ino, buf ? buf : "", len);
	}
	free(buf);
}

static int do_sync(int fd, const char *op, int (*real)(int))
{
	char path[PATH_MAX];
	if (!root_len || !fd_under_root(fd, path))
		return real(fd);
	long n = event(op, path);
	int rc = real(fd);
	int saved = errno;
	if (rc == 0)
		make_durable(fd, path);
	event_done(n);
	errno = saved;
	return rc;
}

#define REAL(name) ({ static __typeof__(name) *r; if (!r) r = (__typeof__(name) *)dlsym(RTLD_NEXT, #name); r; })

int fsync(int fd)
{
	return do_sync(fd, "fsync", REAL(fsync));
}

int fdatasync(int fd)
{
	return do_sync(fd, "fdatasync", REAL(fdatasync));
}

/* After an O_CREAT open that made a new file: nothing of it is durable yet. */
static void created(int fd, int existed)
{
	char path[PATH_MAX];
	struct stat st;
	if (fd >= 0 && !existed && fd_under_root(fd, path) && fstat(fd, &st) == 0)
		shadow_forget("files", st.st_ino);
}

static int exists_at(int dirfd, const char *p)
{
	struct stat st;
	return fstatat(dirfd, p, &st, 0) == 0;
}

#define OPEN_WRAPPER(name, ...)                                                                    \
	{                                                                                          \
		mode_t mode = 0;                                                                   \
		if (flags & (O_CREAT | __O_TMPFILE)) {                                             \
			va_list ap;                                                                \
			va_start(ap, flags);                                                       \
			mode = va_arg(ap, mode_t);                                                 \
			va_end(ap);                                                                \
		}                                                                                  \
		if (!root_len || !(flags & O_CREAT))                                               \
			return REAL(name)(__VA_ARGS__, flags, mode);                               \
		int existed = exists_at(DIRFD, p);                                                 \
		int fd = REAL(name)(__VA_ARGS__, flags, mode);                                     \
		int saved = errno;                                                                 \
		created(fd, existed);                                                              \
		errno = saved;                                                                     \
		return fd;                                                                         \
	}

#define DIRFD AT_FDCWD
int open(const char *p, int flags, ...) OPEN_WRAPPER(open, p)
int open64(const char *p, int flags, ...) OPEN_WRAPPER(open64, p)
#undef DIRFD
#define DIRFD dfd
int openat(int dfd, const char *p, int flags, ...) OPEN_WRAPPER(openat, dfd, p)
int openat64(int dfd, const char *p, int flags, ...) OPEN_WRAPPER(openat64, dfd, p)
#undef DIRFD

int creat(const char *p, mode_t mode)
{
	return open(p, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* The absolute form of p (relative to dfd) for the root check; empty if it cannot be told. */
static void absolute(int dfd, const char *p, char *out)
{
	out[0] = 0;
	if (p[0] == '/') {
		snprintf(out, PATH_MAX, "%s", p);
		return;
	}
	char base[PATH_MAX];
	if (dfd == AT_FDCWD) {
		if (!getcwd(base, sizeof(base)))
			return;
	} else {
		char link[64];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", dfd);
		ssize_t n = readlink(link, base, sizeof(base) - 1);
		if (n <= 0)
			return;
		base[n] = 0;
	}
	snprintf(out, PATH_MAX, "%s/%s", base, p);
}

static long path_event(const char *op, int dfd, const char *p)
{
	char abs[PATH_MAX];
	if (!root_len)
		return 0;
	absolute(dfd, p, abs);
	return under_root(abs) ? event(op, abs) : 0;
}

int rename(const char *from, const char *to)
{
	long n = path_event("rename", AT_FDCWD, to);
	int rc = REAL(rename)(from, to);
	int saved = errno;
	event_done(n);
	errno = saved;
	return rc;
}

int renameat(int fdf, const char *from, int fdt, const char *to)
{
	long n = path_event("rename", fdt, to);
	int rc = REAL(renameat)(fdf, from, fdt, to);
	int saved = errno;
	event_done(n);
	errno = saved;
	return rc;
}

int renameat2(int fdf, const char *from, int fdt, const char *to, unsigned int flags)
{
	long n = path_event("rename", fdt, to);
	int rc = REAL(renameat2)(fdf, from, fdt, to, flags);
	int saved = errno;
	event_done(n);
	errno = saved;
	return rc;
}

int unlink(const char *p)
{
	long n = path_event("unlink", AT_FDCWD, p);
	int rc = REAL(unlink)(p);
	int saved = errno;
	event_done(n);
	errno = saved;
	return rc;
}

int unlinkat(int dfd, const char *p, int flags)
{
	long n = path_event("unlink", dfd, p);
	int rc = REAL(unlinkat)(dfd, p, flags);
	int saved = errno;
	event_done(n);
	errno = saved;
	return rc;
}

int mkdir(const char *p, mode_t mode)
{
	long n = path_event("mkdir", AT_FDCWD, p);
	int rc = REAL(mkdir)(p, mode);
	int saved = errno;
	struct stat st;
	if (rc == 0 && n && stat(p, &st) == 0)
		shadow_forget("dirs", st.st_ino);
	event_done(n);
	errno = saved;
	return rc;
}
