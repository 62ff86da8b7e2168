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
#include "sec/keys.h"

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

void
cli_sign_as(struct dirclient *dc, const char *user)
{
	char *home = cli_home(NULL), *pins, err[512];
	struct keypair kp;
	enum key_status st;

	if (home == NULL)
		return;
	if (sodium_init() < 0)
		cli_die(EX_SOFTWARE, "libsodium: cannot initialise");
	st = key_load(home, user, true, &kp, err, sizeof(err));
	pins = key_path(home, user, ".pins");
	free(home);
	switch (st) {
	case KEY_OK:
	case KEY_CREATED:
		break;
	case KEY_OPEN:
		cli_die(EX_NOPERM, "%s", err);
	case KEY_BAD:
		cli_die(EX_DATAERR, "%s", err);
	default:
		cli_die(EX_IOERR, "%s", err);
	}
	dc_set_signer(dc, user, kp.sk);
	key_wipe(&kp);
	if (pins == NULL || !dc_set_pins(dc, pins))
		cli_die(EX_SOFTWARE, "out of memory");
	free(pins);
}
