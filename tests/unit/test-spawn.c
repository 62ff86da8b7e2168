/* Unit tests for lib/spawn: finding helper programs, and children that
 * get the descriptors they are given and no others. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/spawn.h"

static void
finds_next_to_itself_then_in_path(void **state)
{
	char self[4096], *p;
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	p = spawn_find("test-spawn");
	assert_non_null(p);
	assert_string_equal(p, self);
	free(p);
	p = spawn_find("sh");
	assert_non_null(p);
	assert_true(p[0] == '/' || p[0] == '.');
	free(p);
	errno = 0;
	assert_null(spawn_find("no-such-chat-helper"));
	assert_int_equal(errno, ENOENT);
}

/* sh -c script, its output read from a pipe; returns its wait status. */
static int
run_sh_flags(const char *script, const int fds_err, int flags, char *out,
    size_t outlen)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL }, err[256];
	int p[2], fds[3], status;
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[0] = SPAWN_NULL;
	fds[1] = p[1];
	fds[2] = fds_err;
	pid = spawn_child("/bin/sh", argv, fds, flags, err, sizeof(err));
	assert_true(pid > 0);
	close(p[1]);
	while (len + 1 < outlen && (n = read(p[0], out + len,
	    outlen - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	assert_int_equal(spawn_reap(pid, true, &status), 1);
	return status;
}

static int
run_sh(const char *script, const int fds_err, char *out, size_t outlen)
{
	return run_sh_flags(script, fds_err, 0, out, outlen);
}

static void
children_get_their_descriptors_only(void **state)
{
	char out[256], desc[64];
	int leak, status;

	(void)state;
	status = run_sh("echo hi; read x && echo read; exit 3", SPAWN_KEEP,
	    out, sizeof(out));
	assert_string_equal(out, "hi\n");	/* stdin is /dev/null */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	spawn_describe(status, desc, sizeof(desc));
	assert_string_equal(desc, "exit status 3");
	/* A descriptor opened without O_CLOEXEC stays behind all the same. */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak > 2);
	snprintf(desc, sizeof(desc), "[ -e /dev/fd/%d ] && echo leaked; "
	    "echo done", leak);
	run_sh(desc, SPAWN_NULL, out, sizeof(out));
	assert_string_equal(out, "done\n");
	close(leak);
	status = run_sh("kill -TERM $$", SPAWN_NULL, out, sizeof(out));
	spawn_describe(status, desc, sizeof(desc));
	assert_string_equal(desc, "killed by SIGTERM");
}

/* SPAWN_NOHUP: a hangup does not end the child; without it, it does,
 * even when the parent ignores SIGHUP itself. */
static void
nohup_children_ride_out_a_hangup(void **state)
{
	char out[64], desc[64];
	int status;

	(void)state;
	assert_int_not_equal(signal(SIGHUP, SIG_IGN), SIG_ERR);
	status = run_sh_flags("kill -HUP $$; echo alive", SPAWN_NULL,
	    SPAWN_NOHUP, out, sizeof(out));
	assert_string_equal(out, "alive\n");
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	status = run_sh("kill -HUP $$; echo alive", SPAWN_NULL, out,
	    sizeof(out));
	assert_string_equal(out, "");
	spawn_describe(status, desc, sizeof(desc));
	assert_string_equal(desc, "killed by SIGHUP");
	assert_int_not_equal(signal(SIGHUP, SIG_DFL), SIG_ERR);
}

static void
a_program_that_cannot_run_is_an_error(void **state)
{
	char *argv[] = { "nothing", NULL }, err[256];
	const int fds[3] = { SPAWN_NULL, SPAWN_NULL, SPAWN_NULL };
	int status;

	(void)state;
	assert_int_equal(spawn_child("/no/such/program", argv, fds, 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/no/such/program: No such file"));
	assert_int_equal(spawn_child("/dev/null", argv, fds, 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "Permission denied"));
	/* and nothing is left to reap */
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_next_to_itself_then_in_path),
		cmocka_unit_test(children_get_their_descriptors_only),
		cmocka_unit_test(nohup_children_ride_out_a_hangup),
		cmocka_unit_test(a_program_that_cannot_run_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
