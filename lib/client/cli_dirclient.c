/* cli_dirclient: the directory client of the client programs, in a file
 * of its own so that a program that asks the directory nothing (through
 * libcurl) links none of it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/cli_dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/util.h"

/* CHAT_TIMEOUT's seconds as milliseconds; 0 when unset. */
static long
timeout_ms(const char *s)
{
	int64_t ms;

	if (s == NULL)
		return 0;
	if (!parse_seconds(s, &ms))
		cli_die(EX_USAGE, "%s: %s: not a number of seconds",
		    CLI_ENV_TIMEOUT, s);
	return (long)ms;
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
