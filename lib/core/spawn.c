/* spawn: helper programs as children, found next to us or in PATH. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/spawn.h"

/* dir/name when it is an executable file; malloc'd. */
static char *
try_dir(const char *dir, size_t dirlen, const char *name)
{
	struct stat st;
	char *p;

	if (dirlen == 0) {
		dir = ".";
		dirlen = 1;
	}
	if (asprintf(&p, "%.*s/%s", (int)dirlen, dir, name) < 0)
		return NULL;
	if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
		return p;
	free(p);
	return NULL;
}

char *
spawn_find(const char *name)
{
	char self[PATH_MAX], *slash, *p;
	const char *path, *colon;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL &&
		    (p = try_dir(self, (size_t)(slash - self), name)) != NULL)
			return p;
	}
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (;;) {
		colon = strchr(path, ':');
		n = colon != NULL ? colon - path : (ssize_t)strlen(path);
		if ((p = try_dir(path, (size_t)n, name)) != NULL)
			return p;
		if (colon == NULL)
			break;
		path = colon + 1;
	}
	errno = ENOENT;
	return NULL;
}

/* In the child, between fork and exec: async-signal-safe calls only.
 * Reports errno on report and exits when something fails. */
static noreturn void
child(const char *path, char *const argv[], const int fds[3], int flags,
    pid_t parent, int report)
{
	static const int reset[] = { SIGPIPE, SIGTERM, SIGINT, SIGHUP,
	    SIGCHLD, SIGQUIT };
	struct sigaction dfl;
	sigset_t none;
	int i, fd, e;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (i = 0; i < (int)(sizeof(reset) / sizeof(reset[0])); i++)
		sigaction(reset[i], &dfl, NULL);
	if (flags & SPAWN_NOHUP) {
		dfl.sa_handler = SIG_IGN;
		sigaction(SIGHUP, &dfl, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		goto fail;
	/* The parent may have died before the line above. */
	if (getppid() != parent)
		_exit(0);
	for (i = 0; i < 3; i++) {
		if (fds[i] == SPAWN_KEEP)
			continue;
		if (fds[i] == SPAWN_NULL) {
			if ((fd = open("/dev/null", i == 0 ? O_RDONLY :
			    O_WRONLY)) < 0)
				goto fail;
		} else
			fd = fds[i];
		if (fd != i && dup2(fd, i) < 0)
			goto fail;
		if (fd != i && fds[i] == SPAWN_NULL)
			close(fd);
	}
	/* Nothing else goes across exec, whoever opened it and how. A
	 * kernel older than 5.11 lacks CLOSE_RANGE_CLOEXEC: then each one. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
		for (fd = 3; fd < 65536; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	execv(path, argv);
fail:
	e = errno;
	while (write(report, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

pid_t
spawn_child(const char *path, char *const argv[], const int fds[3],
    int flags, char *err, size_t errlen)
{
	pid_t parent = getpid(), pid;
	int report[2], e = 0, status;
	ssize_t n;

	if (pipe2(report, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(report[0]);
		close(report[1]);
		return -1;
	}
	if (pid == 0)
		child(path, argv, fds, flags, parent, report[1]);
	close(report[1]);
	/* Nothing comes when exec worked: the descriptor closed with it. */
	while ((n = read(report[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (n == (ssize_t)sizeof(e)) {
		spawn_reap(pid, true, &status);
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	return pid;
}

int
spawn_reap(pid_t pid, bool block, int *wstatus)
{
	pid_t r;

	while ((r = waitpid(pid, wstatus, block ? 0 : WNOHANG)) < 0 &&
	    errno == EINTR)
		;
	if (r < 0)
		return -1;
	return r == pid ? 1 : 0;
}

void
spawn_describe(int wstatus, char *buf, size_t len)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "killed by SIG%s",
		    sigabbrev_np(WTERMSIG(wstatus)) != NULL ?
		    sigabbrev_np(WTERMSIG(wstatus)) : "?");
	else
		snprintf(buf, len, "wait status %d", wstatus);
}
