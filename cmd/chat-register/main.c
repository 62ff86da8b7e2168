/* chat-register: register a peer with the directory, or update it (a
 * heartbeat); prints the peer as the directory recorded it. With --every
 * it stays running as the heartbeat and logs out when stopped; with
 * --logout it logs the peer out. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/candidates.h"
#include "client/cli_dirclient.h"
#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/util.h"
#include "core/valid.h"
#include "net/netaddr.h"
#include "net/stun_client.h"

#define ENV_STUN "CHAT_STUN"
#define STUN_TIMEOUT_MS 500	/* a registration waits no longer for it */

enum { OPT_VERSION = 256, OPT_EVERY, OPT_LOGOUT, OPT_STUN, OPT_NO_STUN };

/* The candidates' STUN query from the registered port; host NULL: none. */
static struct stun_query stun;
static char stun_host[NETADDR_HOSTLEN];

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-register -u name -p port [-a ip] [-s url] "
	    "[--stun host[:port] | --no-stun]\n"
	    "       chat-register -u name -p port [-a ip] [-s url] "
	    "--every seconds\n"
	    "       chat-register -u name --logout [-s url]\n");
	if (status == EX_OK)
		fputs("  -u, --user NAME   the peer to register (else CHAT_USER)\n"
		    "  -p, --port PORT   the port it listens on (else CHAT_PORT)\n"
		    "  -a, --address IP  its address (else the one that reaches the server)\n"
		    "  -s, --server URL  the directory (else CHAT_SERVER)\n"
		    "      --every SECONDS  stay running: register again every SECONDS;\n"
		    "                    log out on SIGTERM, SIGINT or SIGHUP\n"
		    "      --logout      log the peer out: offline until it registers again\n"
		    "      --stun HOST[:PORT]  learn the public address of the port from\n"
		    "                    this STUN server (else CHAT_STUN, else the\n"
		    "                    directory's host, port 3478), for the candidates\n"
		    "      --no-stun     register the host address alone as a candidate\n"
		    "  -h, --help        this help\n"
		    "      --version     the version\n", f);
	exit(status);
}

/* Seconds, maybe with a fraction, as a timespec. */
static bool
every_of(const char *s, struct timespec *ts)
{
	int64_t ms;

	if (!parse_seconds(s, &ms))
		return false;
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
	return true;
}

/* The signals that stop --every: blocked, and looked for. */
static sigset_t stop_signals;

static int
stop_pending(void *arg)
{
	sigset_t pending;
	int i;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

	(void)arg;
	if (sigpending(&pending) != 0)
		return 0;
	for (i = 0; i < 3; i++)
		if (sigismember(&pending, sigs[i]))
			return 1;
	return 0;
}

/* One line on stdout; false when it cannot be written. */
static bool
print_peer(const json_t *peer)
{
	errno = 0;
	if (json_dumpf(peer, stdout, JSON_COMPACT) != 0 ||
	    putchar('\n') == EOF || fflush(stdout) == EOF) {
		cli_warn("stdout: %s", errno ? strerror(errno) : "write error");
		return false;
	}
	return true;
}

/* The STUN server of the candidates: --stun, else CHAT_STUN, else the
 * directory's host at STUN_PORT; queried over TCP from port, the one
 * peers connect to. */
static void
pick_stun(const char *flag, const char *server, int port)
{
	const char *s = cli_setting(flag, ENV_STUN, NULL);
	const char *url = cli_setting(server, CLI_ENV_SERVER,
	    DC_SERVER_DEFAULT);
	int ignored;

	if (s != NULL) {
		if (stun_server_split(s, STUN_PORT, stun_host, &stun.port) != 0)
			cli_die(EX_USAGE, "--stun: %s: want HOST, HOST:PORT or "
			    "[V6]:PORT", s);
	} else if (netaddr_url(url, stun_host, sizeof(stun_host),
	    &ignored) == 0)
		stun.port = STUN_PORT;
	else
		return;
	stun.host = stun_host;
	stun.local_port = port;
	stun.tcp = true;
	stun.timeout_ms = STUN_TIMEOUT_MS;
}

/* One registration, with the candidates: the address given (or found)
 * and, when a STUN server answers within STUN_TIMEOUT_MS, the public
 * address and port it saw the registered port come from. */
static enum dc_status
register_once(struct dirclient *dc, const char *user, const char *ip,
    int port, json_t **peer)
{
	json_t *cands = candidates_gather(ip, port, stun.host != NULL ?
	    &stun : NULL);
	enum dc_status st;

	if (cands == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	st = dc_register_with(dc, user, ip, port, json_array_size(cands) > 0 ?
	    cands : NULL, peer);
	json_decref(cands);
	return st;
}

/* --every: registers now and again every interval until a stop signal,
 * riding out a directory that is down; then logs out. Returns the exit
 * status. */
static int
heartbeat(struct dirclient *dc, const char *user, const char *ip, int port,
    const struct timespec *every)
{
	enum dc_status st;
	json_t *peer;
	bool warned = false;
	int status = EX_OK, sig;

	dc_set_cancel(dc, stop_pending, NULL);
	/* The first registration decides, as without --every: a directory
	 * that cannot be reached at the start is an error. */
	st = register_once(dc, user, ip, port, &peer);
	if (st != DC_OK && st != DC_CANCELLED)
		cli_die(dc_exit_status(st), "%s", dc_error(dc));
	if (st == DC_OK) {
		if (!print_peer(peer))
			status = EX_IOERR;
		json_decref(peer);
	}
	while (status == EX_OK && st != DC_CANCELLED) {
		sig = sigtimedwait(&stop_signals, NULL, every);
		if (sig > 0)
			break;
		if (sig < 0 && errno != EAGAIN)
			continue;
		st = register_once(dc, user, ip, port, &peer);
		if (st == DC_OK) {
			warned = false;
			if (!print_peer(peer))
				status = EX_IOERR;
			json_decref(peer);
		} else if (st != DC_CANCELLED && !warned) {
			cli_warn("%s", dc_error(dc));
			warned = true;
		}
	}
	dc_set_cancel(dc, NULL, NULL);
	if ((st = dc_logout(dc, user)) != DC_OK) {
		cli_warn("logging out: %s", dc_error(dc));
		if (status == EX_OK)
			status = dc_exit_status(st);
	}
	return status;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "every", required_argument, NULL, OPT_EVERY },
		{ "logout", no_argument, NULL, OPT_LOGOUT },
		{ "stun", required_argument, NULL, OPT_STUN },
		{ "no-stun", no_argument, NULL, OPT_NO_STUN },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *ip = NULL, *port_s = NULL, *server = NULL, *user = NULL;
	const char *every_s = NULL, *stun_s = NULL;
	bool no_stun = false;
	struct timespec every;
	struct dirclient *dc;
	enum dc_status st;
	bool logout = false;
	char local[64];
	json_t *peer;
	int c, port, status;

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
		case OPT_EVERY:
			every_s = optarg;
			break;
		case OPT_LOGOUT:
			logout = true;
			break;
		case OPT_STUN:
			stun_s = optarg;
			break;
		case OPT_NO_STUN:
			no_stun = true;
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
	if (logout && (port_s != NULL || ip != NULL || every_s != NULL)) {
		cli_warn("--logout takes no -p, -a or --every");
		usage(stderr, EX_USAGE);
	}
	user = cli_setting(user, CLI_ENV_USER, NULL);
	if (!logout)
		port_s = cli_setting(port_s, CLI_ENV_PORT, NULL);
	if (user == NULL || (!logout && port_s == NULL)) {
		cli_warn("%s", user == NULL ? "no user: give -u or set CHAT_USER"
		    : "no port: give -p or set CHAT_PORT");
		usage(stderr, EX_USAGE);
	}
	if (!valid_username(user))
		cli_die(EX_USAGE, "%s: not a username", user);
	if (!logout && !cli_port(port_s, &port))
		cli_die(EX_USAGE, "%s: not a port (1 to 65535)", port_s);
	if (ip != NULL && !valid_ip(ip))
		cli_die(EX_USAGE, "%s: not an IPv4 or IPv6 address", ip);
	if (every_s != NULL && !every_of(every_s, &every))
		cli_die(EX_USAGE, "--every: %s: not a number of seconds "
		    "(more than 0, at most %d)", every_s, SECONDS_MAX);
	/* Blocked before the first request, so that a stop signal is never
	 * lost: it cancels a request, or ends the wait for the next. */
	if (every_s != NULL) {
		sigemptyset(&stop_signals);
		sigaddset(&stop_signals, SIGTERM);
		sigaddset(&stop_signals, SIGINT);
		sigaddset(&stop_signals, SIGHUP);
		if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) != 0)
			cli_die(EX_OSERR, "signals: %s", strerror(errno));
	}

	/* A logout is what a closing terminal calls for: its hangup does
	 * not stop one under way (chat-listen runs one as it stops). */
	if (logout && signal(SIGHUP, SIG_IGN) == SIG_ERR)
		cli_die(EX_OSERR, "signals: %s", strerror(errno));
	dc = cli_dirclient(server);
	cli_sign_as(dc, user);
	if (logout) {
		if ((st = dc_logout(dc, user)) != DC_OK)
			cli_die(dc_exit_status(st), "%s", dc_error(dc));
		dc_free(dc);
		return EX_OK;
	}
	/* Without -a, the address that reaches the directory is the one
	 * peers are most likely to reach too; when even that is unknown,
	 * the directory records the address it sees. */
	if (ip == NULL && dc_local_ip(dc, local, sizeof(local)) == 0)
		ip = local;
	if (!no_stun)
		pick_stun(stun_s, server, port);
	if (every_s != NULL) {
		status = heartbeat(dc, user, ip, port, &every);
		dc_free(dc);
		return status;
	}
	if ((st = register_once(dc, user, ip, port, &peer)) != DC_OK)
		cli_die(dc_exit_status(st), "%s", dc_error(dc));
	cli_print(peer);
	json_decref(peer);
	dc_free(dc);
	return EX_OK;
}
