/* cli_dirclient: the directory client of the client programs, in a file
 * of its own so that a program that asks the directory nothing (through
 * libcurl) links none of it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "exitcodes.h"

/* Seconds, maybe with a fraction, more than 0 and at most a day. */
static long
timeout_ms(const char *s)
{
	char *end;
	double v;

	if (s == NULL)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (*s < '0' || *s > '9' || errno != 0 || *end != '\0' ||
	    !isfinite(v) || v <= 0 || v > 86400)
		cli_die(EX_USAGE, "%s: %s: not a number of seconds",
		    CLI_ENV_TIMEOUT, s);
	return v * 1000 < 1 ? 1 : (long)(v * 1000);
}

struct dirclient *
cli_dirclient(const char *server_flag)
{
	const char *server = cli_setting(server_flag, CLI_ENV_SERVER,
	    DC_SERVER_DEFAULT);
	struct dirclient *dc;
	char err[512];

	dc = dc_new(server, timeout_ms(cli_setting(NULL, CLI_ENV_TIMEOUT,
	    NULL)), err, sizeof(err));
	if (dc == NULL)
		cli_die(errno == EINVAL ? EX_USAGE : EX_SOFTWARE, "%s", err);
	return dc;
}
