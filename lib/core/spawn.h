/* spawn: helper programs run as children, Unix style: found next to the
 * running program first, then in PATH; started with fork and exec with
 * the standard descriptors they are given and nothing else; tied to the
 * parent's life. */
#ifndef CHAT_SPAWN_H
#define CHAT_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SPAWN_NULL (-1)		/* the child's descriptor is /dev/null */
#define SPAWN_KEEP (-2)		/* the child shares the parent's */

/* The program name in the directory of the running executable when it is
 * there, else the first in PATH. malloc'd; NULL when there is none (errno
 * ENOENT) or no memory. */
char *spawn_find(const char *name);
#define SPAWN_NOHUP 1		/* flags: the child starts with SIGHUP ignored */

/* Starts path with argv (argv[0] first, NULL last) and fds[0..2] as its
 * standard input, output and error: descriptors, SPAWN_NULL or SPAWN_KEEP.
 * It starts with no signal blocked or ignored (but SIGHUP with SPAWN_NOHUP
 * in flags: for work a closing terminal calls for), no other descriptor open,
 * and gets SIGTERM when the calling thread ends (PR_SET_PDEATHSIG), or
 * never starts when the parent is gone already. Its pid, or -1 with err
 * set when it cannot be started (exec failures included). */
pid_t spawn_child(const char *path, char *const argv[], const int fds[3],
    int flags, char *err, size_t errlen);
/* Reaps pid: 1 with *wstatus when it has ended, 0 when it runs on (only
 * without block), -1 with errno on failure. */
int spawn_reap(pid_t pid, bool block, int *wstatus);
/* "exit status N" or "killed by SIGNAME", for a diagnostic. */
void spawn_describe(int wstatus, char *buf, size_t len);

#endif
