/* chat-register: register a peer with the directory, or update it (a
 * heartbeat); prints the peer as the directory recorded it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "dirclient.h"
#include "exitcodes.h"
#include "valid.h"

enum { OPT_VERSION = 256 };

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-register -u name -p port [-a ip] [-s url]\n");
	if (status == EX_OK)
		fputs("  -u, --user NAME   the peer to register (else CHAT_USER)\n"
		    "  -p, --port PORT   the port it listens on (else CHAT_PORT)\n"
		    "  -a, --address IP  its address (else the one that reaches the server)\n"
		    "  -s, --server URL  the directory (else CHAT_SERVER)\n"
		    "  -h, --help        this help\n"
		    "      --version     the version\n", f);
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *ip = NULL, *port_s = NULL, *server = NULL, *user = NULL;
	struct dirclient *dc;
	enum dc_status st;
	char local[64];
	json_t *peer;
	int c, port;

	cli_init();
	while ((c = getopt_long(argc, argv, "a:hp:s:u:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			ip = optarg;
			break;
		case 'p':
			port_s = optarg;
			break;
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
	if (optind != argc)
		usage(stderr, EX_USAGE);
	user = cli_setting(user, CLI_ENV_USER, NULL);
	port_s = cli_setting(port_s, CLI_ENV_PORT, NULL);
	if (user == NULL || port_s == NULL) {
		cli_warn("%s", user == NULL ? "no user: give -u or set CHAT_USER"
		    : "no port: give -p or set CHAT_PORT");
		usage(stderr, EX_USAGE);
	}
	if (!valid_username(user))
		cli_die(EX_USAGE, "%s: not a username", user);
	if (!cli_port(port_s, &port))
		cli_die(EX_USAGE, "%s: not a port (1 to 65535)", port_s);
	if (ip != NULL && !valid_ip(ip))
		cli_die(EX_USAGE, "%s: not an IPv4 or IPv6 address", ip);

	dc = cli_dirclient(server);
	/* Without -a, the address that reaches the directory is the one
	 * peers are most likely to reach too; when even that is unknown,
	 * the directory records the address it sees. */
	if (ip == NULL && dc_local_ip(dc, local, sizeof(local)) == 0)
		ip = local;
	if ((st = dc_register(dc, user, ip, port, &peer)) != DC_OK)
		cli_die(dc_exit_status(st), "%s", dc_error(dc));
	cli_print(peer);
	json_decref(peer);
	dc_free(dc);
	return EX_OK;
}
