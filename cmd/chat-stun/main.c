/* chat-stun: asks a STUN server for this host's mapped (public) address
 * and prints it as one JSON line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/util.h"
#include "net/netaddr.h"
#include "net/stun_client.h"

#define ENV_STUN "CHAT_STUN"

enum { OPT_TCP = 256, OPT_VERSION };

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-stun [--tcp] [-p port] [-t seconds] [server]\n");
	if (status == EX_OK)
		fputs("      --tcp           ask over TCP (else UDP)\n"
		    "  -p, --port PORT     send from this local port\n"
		    "  -t, --timeout SECS  give up after (10)\n"
		    "  server              HOST[:PORT] (else CHAT_STUN, else"
		    " CHAT_SERVER's host; port 3478)\n"
		    "  -h, --help          this help\n"
		    "      --version       the version\n", f);
	exit(status);
}

/* The server: the argument, else CHAT_STUN, else CHAT_SERVER's host. */
static void
pick_server(const char *arg, char host[NETADDR_HOSTLEN], int *port)
{
	const char *s = cli_setting(arg, ENV_STUN, NULL), *url;
	int ignored;

	if (s != NULL) {
		if (stun_server_split(s, STUN_PORT, host, port) != 0)
			cli_die(EX_USAGE, "%s: want HOST, HOST:PORT or [V6]:PORT",
			    s);
		return;
	}
	url = cli_setting(NULL, CLI_ENV_SERVER, "http://127.0.0.1:8000");
	if (netaddr_url(url, host, NETADDR_HOSTLEN, &ignored) != 0)
		cli_die(EX_USAGE, "%s: %s: not an http(s) URL", CLI_ENV_SERVER,
		    url);
	*port = STUN_PORT;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tcp", no_argument, NULL, OPT_TCP },
		{ "port", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	char host[NETADDR_HOSTLEN], err[512];
	struct stun_query q = { .host = host, .timeout_ms = 10000 };
	struct stun_mapped m;
	json_t *o;
	int c;

	cli_init();
	while ((c = getopt_long(argc, argv, "hp:t:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TCP:
			q.tcp = true;
			break;
		case 'p':
			if (!cli_port(optarg, &q.local_port))
				cli_die(EX_USAGE, "%s: not a port", optarg);
			break;
		case 't':
			if (!parse_seconds(optarg, &q.timeout_ms))
				cli_die(EX_USAGE, "%s: not a number of seconds",
				    optarg);
			break;
		case 'h':
			usage(stdout, EX_OK);
		case OPT_VERSION:
			cli_version();
		default:
			usage(stderr, EX_USAGE);
		}
	}
	if (argc - optind > 1)
		usage(stderr, EX_USAGE);
	pick_server(argc - optind == 1 ? argv[optind] : NULL, host, &q.port);

	switch (stun_query(&q, &m, err, sizeof(err))) {
	case STUNQ_OK:
		break;
	case STUNQ_PROTOCOL:
		cli_die(EX_PROTOCOL, "%s", err);
	default:
		cli_die(EX_UNAVAILABLE, "%s", err);
	}
	o = json_pack("{s:s, s:i, s:i}", "ip", m.ip, "port", m.port,
	    "local_port", m.local_port);
	if (o == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	cli_print(o);
	json_decref(o);
	return EX_OK;
}
