/* chat-peers: list the directory's peers, or look peers up by name; one
 * JSON line a peer. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/cli_dirclient.h"
#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/valid.h"

enum { OPT_ONLINE = 256, OPT_VERSION };

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-peers [--online] [-s url] [name ...]\n");
	if (status == EX_OK)
		fputs("      --online      only peers that are online\n"
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

/* Looks each name up; an unknown one is reported and the rest go on. */
static int
lookup(struct dirclient *dc, char **names, int n, bool online_only)
{
	enum dc_status st;
	json_t *peer;
	int rc = EX_OK;

	for (int i = 0; i < n; i++) {
		st = dc_peerinfo(dc, names[i], &peer);
		if (st == DC_NOT_FOUND) {
			cli_warn("%s: no such peer", names[i]);
			rc = EX_NOUSER;
			continue;
		}
		if (st != DC_OK)
			cli_die(dc_exit_status(st), "%s", dc_error(dc));
		if (!online_only || json_is_true(json_object_get(peer, "online")))
			cli_print(peer);
		json_decref(peer);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "online", no_argument, NULL, OPT_ONLINE },
		{ "server", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL;
	struct dirclient *dc;
	enum dc_status st;
	bool online_only = false;
	int c, rc;

	cli_init();
	while ((c = getopt_long(argc, argv, "hs:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ONLINE:
			online_only = true;
			break;
		case 's':
			server = optarg;
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
	for (int i = 0; i < argc; i++)
		if (!valid_username(argv[i]))
			cli_die(EX_USAGE, "%s: not a username", argv[i]);

	dc = cli_dirclient(server);
	if (argc > 0)
		rc = lookup(dc, argv, argc, online_only);
	else if ((st = dc_peers(dc, online_only, print_peer, NULL)) != DC_OK)
		cli_die(dc_exit_status(st), "%s", dc_error(dc));
	else
		rc = EX_OK;
	dc_free(dc);
	return rc;
}
