/* chat-friends: list a user's friends with their presence, or add
 * friends; one JSON line each. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/cli_dirclient.h"
#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/valid.h"

enum { OPT_VERSION = 256 };

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-friends -u name [-s url] [add friend ...]\n");
	if (status == EX_OK)
		fputs("  -u, --user NAME   whose friends (else CHAT_USER)\n"
		    "  -s, --server URL  the directory (else CHAT_SERVER)\n"
		    "  -h, --help        this help\n"
		    "      --version     the version\n", f);
	exit(status);
}

static int
print_peer(void *arg, json_t *peer)
{
	(void)arg;
	cli_print(peer);
	return 0;
}

static noreturn void
no_user(const char *user)
{
	cli_die(EX_NOUSER, "%s: no such peer", user);
}

/* Adds each friend; an unknown or refused one is reported and the rest
 * go on. The status is that of the first that failed. */
static int
add(struct dirclient *dc, const char *user, char **friends, int n)
{
	enum dc_status st;
	json_t *peer, *line;
	bool created;
	int rc = EX_OK;

	for (int i = 0; i < n; i++) {
		if (strcasecmp(user, friends[i]) == 0) {
			cli_warn("%s: cannot be one's own friend", friends[i]);
			rc = rc ? rc : EX_DATAERR;
			continue;
		}
		st = dc_friend_add(dc, user, friends[i], &created);
		if (st == DC_NOT_FOUND) {
			/* Which of the two is unknown? Only an unknown
			 * friend lets the others go on. */
			st = dc_peerinfo(dc, user, &peer);
			json_decref(peer);
			if (st == DC_NOT_FOUND)
				no_user(user);
			if (st != DC_OK)
				cli_die(dc_exit_status(st), "%s", dc_error(dc));
			cli_warn("%s: no such peer", friends[i]);
			rc = rc ? rc : EX_NOUSER;
			continue;
		}
		if (st == DC_REJECTED) {
			cli_warn("%s", dc_error(dc));
			rc = rc ? rc : EX_DATAERR;
			continue;
		}
		if (st != DC_OK)
			cli_die(dc_exit_status(st), "%s", dc_error(dc));
		line = json_pack("{s:s, s:b}", "username", friends[i],
		    "created", created);
		if (line == NULL)
			cli_die(EX_SOFTWARE, "out of memory");
		cli_print(line);
		json_decref(line);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *user = NULL;
	struct dirclient *dc;
	enum dc_status st;
	int c, rc = EX_OK;

	cli_init();
	while ((c = getopt_long(argc, argv, "hs:u:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'h':
			usage(stdout, EX_OK);
		case OPT_VERSION:
			cli_version();
		default:
			usage(stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0 && (strcmp(argv[0], "add") != 0 || argc == 1)) {
		cli_warn(strcmp(argv[0], "add") != 0 ? "%s: unknown command" :
		    "%s: which friends?", argv[0]);
		usage(stderr, EX_USAGE);
	}
	if ((user = cli_setting(user, CLI_ENV_USER, NULL)) == NULL) {
		cli_warn("no user: give -u or set CHAT_USER");
		usage(stderr, EX_USAGE);
	}
	if (!valid_username(user))
		cli_die(EX_USAGE, "%s: not a username", user);
	for (int i = 1; i < argc; i++)
		if (!valid_username(argv[i]))
			cli_die(EX_USAGE, "%s: not a username", argv[i]);

	dc = cli_dirclient(server);
	cli_sign_as(dc, user);
	if (argc > 0)
		rc = add(dc, user, argv + 1, argc - 1);
	else if ((st = dc_friends(dc, user, print_peer, NULL)) == DC_NOT_FOUND)
		no_user(user);
	else if (st != DC_OK)
		cli_die(dc_exit_status(st), "%s", dc_error(dc));
	dc_free(dc);
	return rc;
}
