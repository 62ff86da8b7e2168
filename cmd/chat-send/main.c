/* chat-send: send messages to a peer directly over TCP (wire protocol v2,
 * Noise-encrypted; v1 with --plaintext), pipelined, and store each in the
 * directory; one status line each. The engine is lib/peer/sender.c;
 * here are the flags, the keys and the look-up. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli_dirclient.h"
#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/jarena.h"
#include "core/util.h"
#include "core/valid.h"
#include "client/candidates.h"
#include "net/netaddr.h"
#include "net/punch.h"
#include "net/relay_client.h"
#include "net/stun_client.h"
#include "peer/sender.h"
#include "peer/wire.h"
#include "sec/keys.h"
#include "sec/noise.h"

enum { OPT_VERSION = 256, OPT_JSON, OPT_NO_STORE, OPT_DIRECT, OPT_PLAINTEXT,
	OPT_NO_RELAY, OPT_PATH };

#define CANDS_MAX 8		/* a directory entry's candidates, at most */
#define RELAY_CONNECT_MS 2000	/* to the relay, at most */
#define RELAY_WAIT_MS 5000	/* for the peer to join there, at most */
#define PUNCH_MS 2000		/* punching towards the peer, at most */
#define PUNCH_STUN_MS 1000	/* learning the punching port's mapping */

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-send -u name [--json] [--no-store] "
	    "[--no-relay] [--direct host:port] [--path direct|punched|relayed] "
	    "[--plaintext] [-t seconds] [-s url] peer [text ...]\n");
	fprintf(f, "       %s -h | --help | --version\n", "chat-send");
	exit(status);
}

static int64_t
seconds_ms(const char *s)
{
	int64_t ms;

	if (!parse_seconds(s, &ms))
		cli_die(EX_USAGE, "%s: not a number of seconds", s);
	return ms;
}

struct keys {
	struct keypair kp;
	uint8_t xsk[NOISE_KEYLEN];
	char *pins;
};

/* The user's key (made on first use) and its X25519 form, for wire v2. */
static void
load_keys(struct sender_cfg *cfg, struct keys *k, const char *user)
{
	char *home = cli_home(NULL), err[512];
	enum key_status st;

	if (home == NULL)
		cli_die(EX_USAGE, "no CHAT_HOME and no HOME to keep a key in "
		    "(--plaintext speaks v1 without a key)");
	st = key_load(home, user, true, &k->kp, err, sizeof(err));
	if (st != KEY_OK && st != KEY_CREATED)
		cli_die(st == KEY_OPEN ? EX_NOPERM : st == KEY_BAD ?
		    EX_DATAERR : EX_IOERR, "%s (--plaintext speaks v1 without "
		    "a key)", err);
	if (noise_key_from_ed25519(k->xsk, k->kp.sk) != 0 ||
	    (k->pins = key_path(home, user, ".pins")) == NULL)
		cli_die(EX_SOFTWARE, "cannot derive the channel key");
	free(home);
	cfg->xsk = k->xsk;
	cfg->edpk = k->kp.pk;
	cfg->pins = k->pins;
}

/* When the peer's addresses do not answer: the directory calls the peer
 * with a relay token and our candidates; both sides punch towards each
 * other from the ports their NATs mapped for the STUN server, and when no
 * hole opens both join at the relay. */
struct relay_arg {
	struct dirclient *dc;
	const char *user, *peer;
	bool none;		/* the directory has no relay: ask no more */
	bool relay_only;	/* --path relayed: never punch */
	bool punch_only;	/* --path punched: never join the relay */
	struct punch_target targets[PUNCH_MAX];	/* its public candidates */
	size_t ntargets;
	struct stun_query stun;	/* host NULL: no STUN server known */
	char stun_host[NETADDR_HOSTLEN];
};

/* The STUN server that maps the punching port: CHAT_STUN, else the
 * directory's host at STUN_PORT, as chat-register's. */
static void
pick_stun(struct relay_arg *ra, const char *server)
{
	const char *s = cli_setting(NULL, "CHAT_STUN", NULL);
	const char *url = cli_setting(server, CLI_ENV_SERVER,
	    DC_SERVER_DEFAULT);
	int ignored;

	ra->stun = (struct stun_query){ .tcp = true,
	    .timeout_ms = PUNCH_STUN_MS };
	if (s != NULL) {
		if (stun_server_split(s, STUN_PORT, ra->stun_host,
		    &ra->stun.port) != 0)
			return;
	} else if (netaddr_url(url, ra->stun_host, sizeof(ra->stun_host),
	    &ignored) == 0) {
		ra->stun.port = STUN_PORT;
	} else {
		return;
	}
	ra->stun.host = ra->stun_host;
}

/* A port to punch from, held by a socket that shares it, and the
 * candidates it maps to (the host address and, by STUN, the public one);
 * the holder's descriptor, or -1 when there is none to offer. */
static int
punch_port(struct relay_arg *ra, int *port, json_t **cands)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char err[256], host[NETADDR_HOSTLEN], local[NETADDR_HOSTLEN];
	struct stun_query q = ra->stun;
	int fd;

	*cands = NULL;
	if (ra->ntargets == 0 || ra->stun.host == NULL ||
	    (fd = punch_socket(AF_INET, 0, err, sizeof(err))) < 0)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(fd);
		return -1;
	}
	netaddr_format((struct sockaddr *)&ss, host, port);
	q.local_port = *port;
	*cands = candidates_gather(dc_local_ip(ra->dc, local,
	    sizeof(local)) == 0 ? local : NULL, *port, &q);
	if (*cands == NULL) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
relay_fallback(void *arg, int64_t timeout_ms, enum sender_path *path,
    char host[NETADDR_HOSTLEN], int *port, char *err, size_t errlen)
{
	struct relay_arg *ra = arg;
	char token[65], relay[NETADDR_HOSTLEN + 8], why[256];
	enum dc_status st;
	json_t *cands;
	char rhost[NETADDR_HOSTLEN];
	size_t which;
	int fd, rfd, holder, pport = 0, rport = 0;

	if (ra->none) {
		snprintf(err, errlen, "no relay to try");
		return -1;
	}
	cands = NULL;
	holder = ra->relay_only ? -1 : punch_port(ra, &pport, &cands);
	if (holder < 0 && ra->punch_only) {
		json_decref(cands);
		snprintf(err, errlen, "no port to punch from (no public "
		    "candidate of the peer's, or no STUN server)");
		return -1;
	}
	st = dc_relay(ra->dc, ra->user, ra->peer, cands, pport, token, relay);
	json_decref(cands);
	if (st != DC_OK) {
		if (holder >= 0)
			close(holder);
		ra->none = st == DC_UNSUPPORTED;
		snprintf(err, errlen, "asking for a relay: %s",
		    dc_error(ra->dc));
		return -1;
	}
	/* A place at the relay first, kept while we punch: the token does
	 * not run out meanwhile, and the peer may join it as it hears the
	 * call. */
	rfd = -1;
	if (ra->punch_only)
		;	/* the peer waits there in vain, until the token ends */
	else if (netaddr_split(relay, rhost, &rport) != 0 || rport == 0)
		snprintf(err, errlen, "the directory's relay is not HOST:PORT: "
		    "%s", relay);
	else
		rfd = relay_bind(rhost, rport, token, timeout_ms <
		    RELAY_CONNECT_MS ? timeout_ms : RELAY_CONNECT_MS, err,
		    errlen);
	sodium_memzero(token, sizeof(token));
	/* The peer punches towards us as it hears the call. */
	if (holder >= 0) {
		fd = punch_connect(ra->targets, ra->ntargets, pport,
		    timeout_ms < PUNCH_MS ? timeout_ms : PUNCH_MS, &which, why,
		    sizeof(why));
		close(holder);
		if (fd >= 0) {
			if (rfd >= 0)
				close(rfd);
			snprintf(host, NETADDR_HOSTLEN, "%s",
			    ra->targets[which].host);
			*port = ra->targets[which].port;
			*path = SENDER_PATH_PUNCHED;
			return fd;
		}
	}
	if (ra->punch_only)
		snprintf(err, errlen, "no hole punched to the peer within %d "
		    "ms", PUNCH_MS);
	if (rfd < 0)
		return -1;
	if (relay_wait(rfd, timeout_ms < RELAY_WAIT_MS ? timeout_ms :
	    RELAY_WAIT_MS, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "relay %s:%d: %s", rhost, rport, why);
		close(rfd);
		return -1;
	}
	snprintf(host, NETADDR_HOSTLEN, "%s", rhost);
	*port = rport;
	*path = SENDER_PATH_RELAYED;
	return rfd;
}

/* Whether ip:port is among the first n: a NAT that keeps the port makes
 * the reflexive candidate the observed one again, not worth a second
 * wait. */
static bool
seen_cand(const struct sender_cand *c, size_t n, const char *ip, int port)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].port == port && strcmp(c[i].host, ip) == 0)
			return true;
	return false;
}

/* The peer's candidates from its directory entry, host ones first (the
 * observed address is cfg's host:port), then the reflexive ones. */
static size_t
take_cands(const json_t *info, struct sender_cand *c, size_t max)
{
	static const char *const order[] = { "host", "observed", "srflx" };
	const json_t *v;
	const char *ip, *type;
	size_t i, k, n = 0;
	json_int_t port;

	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++)
		json_array_foreach(json_object_get(info, "candidates"), i, v) {
			ip = json_string_value(json_object_get(v, "ip"));
			type = json_string_value(json_object_get(v, "type"));
			port = json_integer_value(json_object_get(v, "port"));
			if (n == max || ip == NULL || type == NULL ||
			    strcmp(type, order[k]) != 0 || port <= 0 ||
			    port > 65535 || strlen(ip) >= sizeof(c[n].host) ||
			    seen_cand(c, n, ip, (int)port))
				continue;
			snprintf(c[n].host, sizeof(c[n].host), "%s", ip);
			c[n++].port = (int)port;
		}
	return n;
}

/* The peer's public candidates (observed, srflx), each once: where to
 * punch towards. */
static void
take_targets(const json_t *info, struct relay_arg *ra)
{
	const json_t *v;
	const char *ip, *type;
	json_int_t port;
	size_t i, k;

	json_array_foreach(json_object_get(info, "candidates"), i, v) {
		ip = json_string_value(json_object_get(v, "ip"));
		type = json_string_value(json_object_get(v, "type"));
		port = json_integer_value(json_object_get(v, "port"));
		if (ra->ntargets == PUNCH_MAX || ip == NULL || type == NULL ||
		    strcmp(type, "host") == 0 || port <= 0 || port > 65535 ||
		    strlen(ip) >= NETADDR_HOSTLEN)
			continue;
		for (k = 0; k < ra->ntargets; k++)
			if (strcmp(ra->targets[k].host, ip) == 0 &&
			    ra->targets[k].port == port)
				break;
		if (k < ra->ntargets)
			continue;
		snprintf(ra->targets[k].host, NETADDR_HOSTLEN, "%s", ip);
		ra->targets[ra->ntargets++].port = (int)port;
	}
}

/* Where the peer listens: --direct, else the directory; false when it
 * cannot be reached directly now. */
static bool
find_peer(struct dirclient *dc, const char *peer, const char *direct,
    char host[NETADDR_HOSTLEN], int *port, unsigned char dirkey[32],
    bool *haskey, struct sender_cand *cands, size_t *ncands,
    struct relay_arg *ra)
{
	enum dc_status st;
	json_t *info;
	const char *ip;

	if (direct != NULL) {
		if (netaddr_split(direct, host, port) != 0 || *port == 0)
			cli_die(EX_USAGE, "%s: not HOST:PORT", direct);
		/* Still the directory's word on the peer's key, if it has
		 * one to give. */
		if (dc != NULL && dc_peerinfo(dc, peer, &info) == DC_OK) {
			*haskey = json_is_string(json_object_get(info, "key")) &&
			    key_parse(json_string_value(json_object_get(info,
			    "key")), dirkey);
			json_decref(info);
		}
		return true;
	}
	st = dc_peerinfo_ext(dc, peer, &info);
	if (st == DC_NOT_FOUND)
		cli_die(EX_NOUSER, "%s: no such user", peer);
	if (st != DC_OK) {
		cli_warn("looking up %s: %s", peer, dc_error(dc));
		return false;
	}
	*haskey = json_is_string(json_object_get(info, "key")) &&
	    key_parse(json_string_value(json_object_get(info, "key")), dirkey);
	ip = json_string_value(json_object_get(info, "ip"));
	*port = (int)json_integer_value(json_object_get(info, "port"));
	if (!json_is_true(json_object_get(info, "online")) || ip == NULL ||
	    *port <= 0) {
		cli_warn("%s is offline; storing the messages for later", peer);
		json_decref(info);
		return false;
	}
	snprintf(host, NETADDR_HOSTLEN, "%s", ip);
	*ncands = take_cands(info, cands, CANDS_MAX);
	take_targets(info, ra);
	json_decref(info);
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "direct", required_argument, NULL, OPT_DIRECT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-relay", no_argument, NULL, OPT_NO_RELAY },
		{ "no-store", no_argument, NULL, OPT_NO_STORE },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "plaintext", no_argument, NULL, OPT_PLAINTEXT },
		{ "server", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct sender_cfg cfg = { .reconnects = 1, .timeout_ms = 10000,
	    .infd = STDIN_FILENO, .out = stdout };
	const char *server = NULL, *direct = NULL;
	struct dirclient *dc = NULL, *sdc = NULL, *kdc = NULL;
	struct sender *s;
	char *text = NULL, host[NETADDR_HOSTLEN];
	size_t len = 0, n;
	bool created, store = true, haskey = false;
	struct keys keys = { 0 };
	unsigned char dirkey[32];
	struct sender_cand cands[CANDS_MAX];
	size_t ncands = 0;
	struct relay_arg ra = { 0 };
	bool no_relay = false;
	const char *way = NULL;
	int c, i, port = 0, status;

	cli_init();
	jarena_init();	/* the storing thread parses answers in an arena */
	while ((c = getopt_long(argc, argv, "hs:t:u:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case OPT_DIRECT:
			direct = optarg;
			break;
		case OPT_JSON:
			cfg.json = true;
			break;
		case OPT_NO_RELAY:
			no_relay = true;
			break;
		case OPT_NO_STORE:
			store = false;
			break;
		case OPT_PATH:
			way = optarg;
			break;
		case OPT_PLAINTEXT:
			cfg.plaintext = true;
			break;
		case 's':
			server = optarg;
			break;
		case 't':
			cfg.timeout_ms = seconds_ms(optarg);
			break;
		case 'u':
			cfg.user = optarg;
			break;
		case 'h':
			usage(stdout, EX_OK);
		case OPT_VERSION:
			cli_version();
		default:
			usage(stderr, EX_USAGE);
		}
	}
	if (optind >= argc)
		usage(stderr, EX_USAGE);
	if ((cfg.user = cli_setting(cfg.user, CLI_ENV_USER, NULL)) == NULL) {
		cli_warn("no user: give -u or set CHAT_USER");
		usage(stderr, EX_USAGE);
	}
	cfg.peer = argv[optind++];
	if (way != NULL) {
		if (strcmp(way, "punched") == 0)
			ra.punch_only = true;
		else if (strcmp(way, "relayed") == 0)
			ra.relay_only = true;
		else if (strcmp(way, "direct") != 0)
			cli_die(EX_USAGE, "--path %s: not direct, punched or "
			    "relayed", way);
		if (strcmp(way, "direct") != 0 && (no_relay || direct != NULL))
			cli_die(EX_USAGE, "--path %s goes through the directory:"
			    " not with %s", way, no_relay ? "--no-relay" :
			    "--direct");
		/* Only that way: the peer's addresses are not tried for
		 * the other two, nor the directory's help for direct. */
		cfg.no_direct = strcmp(way, "direct") != 0;
		no_relay = no_relay || !cfg.no_direct;
	}
	cfg.hash = NOISE_SHA256;
	if (!valid_username(cfg.user))
		cli_die(EX_USAGE, "%s: not a username", cfg.user);
	if (!valid_username(cfg.peer))
		cli_die(EX_USAGE, "%s: not a username", cfg.peer);
	if (cfg.json && optind < argc)
		cli_die(EX_USAGE, "--json reads messages from stdin, not from "
		    "arguments");
	/* The words of the command line, joined by spaces: one message. */
	for (i = optind; i < argc; i++) {
		n = strlen(argv[i]);
		if ((text = realloc(text, len + n + 2)) == NULL)
			cli_die(EX_SOFTWARE, "out of memory");
		if (i > optind)
			text[len++] = ' ';
		memcpy(text + len, argv[i], n + 1);
		len += n;
	}
	if (text != NULL && (len == 0 || len > WIRE_TEXT_MAX ||
	    !valid_utf8(text, len)))
		cli_die(EX_DATAERR, "the message is empty, longer than 64 KiB "
		    "or not UTF-8");
	if (text != NULL)
		cfg.infd = -1;

	if (store || direct == NULL) {
		dc = cli_dirclient(server);
		cli_sign_as(dc, cfg.user);
	}
	if (!cfg.plaintext)
		load_keys(&cfg, &keys, cfg.user);
	if (find_peer(dc, cfg.peer, direct, host, &port, dirkey, &haskey,
	    cands, &ncands, &ra)) {
		cfg.host = host;
		cfg.port = port;
		/* The observed address came first, as seed clients use it;
		 * with candidates it goes where their order puts it. */
		if (ncands > 0) {
			cfg.host = cands[0].host;
			cfg.port = cands[0].port;
			cfg.cands = cands + 1;
			cfg.ncands = ncands - 1;
		}
		if (direct == NULL && !no_relay) {
			ra.dc = dc;
			ra.user = cfg.user;
			ra.peer = cfg.peer;
			pick_stun(&ra, server);
			cfg.fallback = relay_fallback;
			cfg.fallback_arg = &ra;
		}
	}
	if (haskey && !cfg.plaintext)
		cfg.dirkey = dirkey;
	if (dc != NULL && dc_friend_add(dc, cfg.user, cfg.peer, &created) !=
	    DC_OK)
		cli_warn("adding %s as a friend: %s", cfg.peer, dc_error(dc));
	if (store) {
		sdc = cli_dirclient(server);
		cli_sign_as(sdc, cfg.user);
		cfg.store = sdc;
		kdc = cli_dirclient(server);
		cli_sign_as(kdc, cfg.user);
		cfg.seal = kdc;
	}
	if ((s = sender_new(&cfg)) == NULL)
		cli_die(EX_OSERR, "cannot set up: %s", strerror(errno));
	sender_open(s);
	if (text != NULL) {
		sender_add(s, text, len);
		free(text);
	}
	status = sender_run(s);
	sender_free(s);
	key_wipe(&keys.kp);
	sodium_memzero(keys.xsk, sizeof(keys.xsk));
	free(keys.pins);
	dc_free(kdc);
	dc_free(sdc);
	dc_free(dc);
	return status;
}
