/* cli: settings, output and diagnostics shared by the client programs. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/util.h"
#include "core/version.h"

void
cli_init(void)
{
	/* A closed standard descriptor gets /dev/null opened the wrong way
	 * round: using it fails as it would have, and no socket of ours
	 * can take its number and receive what was meant for it. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY) != fd)
			_exit(EX_OSERR);
	signal(SIGPIPE, SIG_IGN);
}

const char *
cli_setting(const char *flag, const char *env, const char *def)
{
	const char *v;

	if (flag != NULL)
		return flag;
	if (env != NULL && (v = getenv(env)) != NULL && *v != '\0')
		return v;
	return def;
}

char *
cli_home(const char *flag)
{
	const char *v = cli_setting(flag, CLI_ENV_HOME, NULL), *base;
	char *out;

	if (v != NULL)
		return strdup(v);
	if ((base = getenv("XDG_STATE_HOME")) != NULL && *base == '/') {
		if (asprintf(&out, "%s/chat", base) < 0)
			return NULL;
		return out;
	}
	if ((base = getenv("HOME")) == NULL || *base == '\0')
		return NULL;
	if (asprintf(&out, "%s/.local/state/chat", base) < 0)
		return NULL;
	return out;
}

bool
cli_port(const char *s, int *port)
{
	int64_t v;

	if (!parse_int(s, 1, 65535, &v))
		return false;
	*port = (int)v;
	return true;
}

void
cli_print(const json_t *o)
{
	errno = 0;
	if (json_dumpf(o, stdout, JSON_COMPACT) != 0 || putchar('\n') == EOF ||
	    fflush(stdout) == EOF)
		cli_die(EX_IOERR, "stdout: %s", errno ? strerror(errno) :
		    "write error");
}

static void
vwarn(const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
}

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void
cli_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(status);
}

void
cli_version(void)
{
	printf("%s %s\n", program_invocation_short_name, CHAT_VERSION);
	exit(fflush(stdout) == EOF ? EX_IOERR : EX_OK);
}
