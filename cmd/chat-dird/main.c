/* chat-dird: the directory daemon. Flags and wiring only: the API is in
 * lib/dir/api.c, storage behind lib/dir/store.h, HTTP in lib/dir/httpd.c. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/exitcodes.h"
#include "core/jarena.h"
#include "core/log.h"
#include "core/util.h"
#include "core/valid.h"
#include "core/version.h"
#include "dir/api.h"
#include "dir/httpd.h"
#include "dir/push.h"
#include "dir/relay.h"
#include "dir/store.h"
#include "dir/stund.h"
#include "net/netaddr.h"
#include "sec/envelope.h"

#define GRACE_MS 5000

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chat-dird [-q] [-l addr:port] [-d path|url]"
	    " [--sync normal|full] [--pool n]\n"
	    "                 [--max-body bytes] [--max-content bytes]"
	    " [--max-conns n]\n"
	    "                 [--idle-timeout seconds] [--presence seconds]"
	    " [--threads n]\n"
	    "                 [--stun addr:port | --no-stun]"
	    " [--relay addr:port | --no-relay]\n"
	    "                 [--relay-ttl seconds] [--relay-rate n]"
	    " [--relay-max-conns n]\n"
	    "                 [--relay-max-total n] [--relay-max-bytes bytes]"
	    " [--relay-max-seconds seconds]\n"
	    "                 [--max-streams n] [--max-user-streams n]"
	    " [--heartbeat seconds]\n"
	    "                 [--require-keys] [--auth-window seconds]"
	    " [--replay-cache n]\n"
	    "       chat-dird [-d path|url] --release name\n"
	    "  -l, --listen ADDR:PORT    address to serve (127.0.0.1:8000;"
	    " port 0: any free)\n"
	    "  -d, --db PATH|URL         SQLite file, or postgresql:// URL"
	    " (CHAT_DB,\n"
	    "                            else chat-dird.db)\n"
	    "      --sync normal|full    SQLite: full also survives power loss"
	    " (normal)\n"
	    "      --pool N              PostgreSQL: most connections (4)\n"
	    "      --max-body BYTES      largest request body (1048576)\n"
	    "      --max-content BYTES   largest message content (98304)\n"
	    "      --max-conns N         most connections at once (10000)\n"
	    "      --idle-timeout SECS   close idle connections after (60)\n"
	    "      --presence SECS       online: registered within (90)\n"
	    "      --threads N           HTTP threads (one per core)\n"
	    "      --require-keys        register only names with a key\n"
	    "      --auth-window SECS    a signature's time may be this far"
	    " off (300)\n"
	    "      --replay-cache N      signatures remembered (1048576)\n"
	    "      --release NAME        unbind NAME's key, then exit\n"
	    "      --stun ADDR:PORT      STUN over UDP and TCP (-l's address,"
	    " port 3478;\n"
	    "                            any free port when -l's is 0)\n"
	    "      --no-stun             no STUN server\n"
	    "      --relay ADDR:PORT     TCP relay (-l's address, port 3479;"
	    " any free\n"
	    "                            port when -l's is 0)\n"
	    "      --no-relay            no relay\n"
	    "      --relay-ttl SECS      a relay token waits for both sides (10)\n"
	    "      --relay-rate N        relay tokens a user may ask a minute"
	    " (30)\n"
	    "      --relay-max-conns N   relayed pairs of one user at once (8)\n"
	    "      --relay-max-total N   relayed pairs at once (256)\n"
	    "      --relay-max-bytes N   bytes one relayed pair may carry"
	    " (67108864)\n"
	    "      --relay-max-seconds N a relayed pair's life (3600)\n"
	    "      --max-streams N       most GET /events streams (1000)\n"
	    "      --max-user-streams N  most streams of one user (8)\n"
	    "      --heartbeat SECS      a comment on idle streams every (15)\n"
	    "  -q, --quiet               no log line per request\n"
	    "  -h, --help                this help\n"
	    "      --version             print the version\n");
}

static int
die(int status, const char *what, const char *why)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "chat-dird: %s: %s", what, why);
	log_event("error", "fatal", json_pack("{s:s}", "error", msg));
	return status;
}

static bool
opt_int(const char *name, const char *v, int64_t min, int64_t max,
    int64_t *out)
{
	if (parse_int(v, min, max, out))
		return true;
	fprintf(stderr, "chat-dird: --%s: want an integer from %lld to %lld,"
	    " not '%s'\n", name, (long long)min, (long long)max, v);
	return false;
}

/* The database argument as logs may show it: a URL without the user and
 * password before its '@'. */
static void
db_shown(const char *db, char *out, size_t len)
{
	const char *scheme = strstr(db, "://"), *at;

	if (scheme == NULL || (at = strchr(scheme + 3, '@')) == NULL ||
	    (strchr(scheme + 3, '/') != NULL && strchr(scheme + 3, '/') < at)) {
		snprintf(out, len, "%s", db);
		return;
	}
	snprintf(out, len, "%.*s%s", (int)(scheme + 3 - db), db, at + 1);
}

/* Descriptors for many connections: raise the soft limit to the hard. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The operator's way to free a name whose owner lost the key: the name
 * keeps its history but no key, and the next keyed registration binds it. */
static int
release_name(struct store *store, const char *name)
{
	enum store_status st = store_release(store, name);

	store_close(store);
	if (st == STORE_NOT_FOUND) {
		fprintf(stderr, "chat-dird: --release: %s: no such peer\n", name);
		return EX_NOUSER;
	}
	if (st != STORE_OK) {
		fprintf(stderr, "chat-dird: --release: %s: %s\n", name,
		    store_strerror(st));
		return st == STORE_BUSY ? EX_TEMPFAIL : EX_SOFTWARE;
	}
	if (printf("{\"released\":\"%s\"}\n", name) < 0 || fflush(stdout) != 0)
		return EX_IOERR;
	return 0;
}

int
main(int argc, char **argv)
{
	enum { O_SYNC = 256, O_MAX_BODY, O_MAX_CONTENT, O_MAX_CONNS,
	    O_IDLE, O_PRESENCE, O_THREADS, O_VERSION, O_REQUIRE_KEYS,
	    O_AUTH_WINDOW, O_REPLAY_CACHE, O_RELEASE, O_STUN, O_NO_STUN, O_POOL,
	    O_MAX_STREAMS, O_MAX_USER_STREAMS, O_HEARTBEAT, O_RELAY, O_NO_RELAY,
	    O_RELAY_TTL, O_RELAY_RATE, O_RELAY_MAX_CONNS, O_RELAY_MAX_TOTAL,
	    O_RELAY_MAX_BYTES, O_RELAY_MAX_SECONDS };
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "sync", required_argument, NULL, O_SYNC },
		{ "max-body", required_argument, NULL, O_MAX_BODY },
		{ "max-content", required_argument, NULL, O_MAX_CONTENT },
		{ "max-conns", required_argument, NULL, O_MAX_CONNS },
		{ "idle-timeout", required_argument, NULL, O_IDLE },
		{ "presence", required_argument, NULL, O_PRESENCE },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "require-keys", no_argument, NULL, O_REQUIRE_KEYS },
		{ "auth-window", required_argument, NULL, O_AUTH_WINDOW },
		{ "replay-cache", required_argument, NULL, O_REPLAY_CACHE },
		{ "release", required_argument, NULL, O_RELEASE },
		{ "stun", required_argument, NULL, O_STUN },
		{ "no-stun", no_argument, NULL, O_NO_STUN },
		{ "pool", required_argument, NULL, O_POOL },
		{ "max-streams", required_argument, NULL, O_MAX_STREAMS },
		{ "max-user-streams", required_argument, NULL,
		    O_MAX_USER_STREAMS },
		{ "heartbeat", required_argument, NULL, O_HEARTBEAT },
		{ "relay", required_argument, NULL, O_RELAY },
		{ "no-relay", no_argument, NULL, O_NO_RELAY },
		{ "relay-ttl", required_argument, NULL, O_RELAY_TTL },
		{ "relay-rate", required_argument, NULL, O_RELAY_RATE },
		{ "relay-max-conns", required_argument, NULL,
		    O_RELAY_MAX_CONNS },
		{ "relay-max-total", required_argument, NULL,
		    O_RELAY_MAX_TOTAL },
		{ "relay-max-bytes", required_argument, NULL,
		    O_RELAY_MAX_BYTES },
		{ "relay-max-seconds", required_argument, NULL,
		    O_RELAY_MAX_SECONDS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen_at = "127.0.0.1:8000", *db = getenv("CHAT_DB");
	struct store_opts sopts = { 0 };
	struct api_config acfg = { .max_body = 1048576, .max_content = ENVELOPE_MAX,
	    .presence_ms = 90 * 1000 };
	const char *release = NULL;
	struct httpd_config hcfg = { -1, 0, 10000, 60, 1048576, false };
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[NETADDR_HOSTLEN], bound[NETADDR_HOSTLEN], err[512];
	char shown[512];
	struct store *store = NULL;
	struct api *api = NULL;
	struct httpd *h = NULL;
	struct push_config pcfg = { 0 };
	struct push *push = NULL;
	const char *stun_at = NULL;
	bool no_stun = false;
	char stun_host[NETADDR_HOSTLEN];
	struct stund_config tcfg = { stun_host, 3478, "chat-dird " CHAT_VERSION,
	    256, 10000 };
	struct stund *stun = NULL;
	const char *relay_at = NULL;
	bool no_relay = false;
	char relay_host[NETADDR_HOSTLEN];
	struct relay_config rcfg = { .host = relay_host, .port = RELAY_PORT };
	struct relay *relay = NULL;
	sigset_t sigs;
	int64_t v;
	long cores;
	int c, port, sig;

	if (db == NULL || *db == '\0')
		db = "chat-dird.db";
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	hcfg.threads = cores > 0 ? (unsigned)cores : 1;
	while ((c = getopt_long(argc, argv, "l:d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_at = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 'q':
			hcfg.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("chat-dird %s\n", CHAT_VERSION);
			return 0;
		case O_SYNC:
			if (strcmp(optarg, "full") != 0 &&
			    strcmp(optarg, "normal") != 0) {
				fprintf(stderr, "chat-dird: --sync: want normal or"
				    " full, not '%s'\n", optarg);
				return EX_USAGE;
			}
			sopts.sync_full = strcmp(optarg, "full") == 0;
			break;
		case O_MAX_BODY:
			if (!opt_int("max-body", optarg, 64, 1 << 30, &v))
				return EX_USAGE;
			acfg.max_body = v;
			hcfg.max_body = (size_t)v;
			break;
		case O_MAX_CONTENT:
			if (!opt_int("max-content", optarg, 1, 1 << 30, &v))
				return EX_USAGE;
			acfg.max_content = v;
			break;
		case O_MAX_CONNS:
			if (!opt_int("max-conns", optarg, 1, 1000000, &v))
				return EX_USAGE;
			hcfg.max_conns = (unsigned)v;
			break;
		case O_IDLE:
			if (!opt_int("idle-timeout", optarg, 1, 86400, &v))
				return EX_USAGE;
			hcfg.idle_timeout = (unsigned)v;
			break;
		case O_PRESENCE:
			if (!opt_int("presence", optarg, 1, 86400 * 365, &v))
				return EX_USAGE;
			acfg.presence_ms = v * 1000;
			break;
		case O_THREADS:
			if (!opt_int("threads", optarg, 1, 1024, &v))
				return EX_USAGE;
			hcfg.threads = (unsigned)v;
			break;
		case O_REQUIRE_KEYS:
			acfg.require_keys = true;
			break;
		case O_AUTH_WINDOW:
			if (!opt_int("auth-window", optarg, 1, 86400, &v))
				return EX_USAGE;
			acfg.auth_window_ms = v * 1000;
			break;
		case O_REPLAY_CACHE:
			if (!opt_int("replay-cache", optarg, 1024, 1 << 30, &v))
				return EX_USAGE;
			acfg.replay_slots = (size_t)v;
			break;
		case O_RELEASE:
			if (!valid_username(optarg)) {
				fprintf(stderr, "chat-dird: --release: '%s' is not"
				    " a username\n", optarg);
				return EX_USAGE;
			}
			release = optarg;
			break;
		case O_STUN:
			stun_at = optarg;
			break;
		case O_NO_STUN:
			no_stun = true;
			break;
		case O_POOL:
			if (!opt_int("pool", optarg, 1, 1000, &v))
				return EX_USAGE;
			sopts.pool = (int)v;
			break;
		case O_MAX_STREAMS:
			if (!opt_int("max-streams", optarg, 1, 1000000, &v))
				return EX_USAGE;
			pcfg.max_streams = (size_t)v;
			break;
		case O_MAX_USER_STREAMS:
			if (!opt_int("max-user-streams", optarg, 1, 1000000, &v))
				return EX_USAGE;
			pcfg.max_per_user = (size_t)v;
			break;
		case O_HEARTBEAT:
			if (!opt_int("heartbeat", optarg, 1, 3600, &v))
				return EX_USAGE;
			pcfg.heartbeat_ms = v * 1000;
			break;
		case O_RELAY:
			relay_at = optarg;
			break;
		case O_NO_RELAY:
			no_relay = true;
			break;
		case O_RELAY_TTL:
			if (!opt_int("relay-ttl", optarg, 1, 3600, &v))
				return EX_USAGE;
			rcfg.ttl_ms = v * 1000;
			break;
		case O_RELAY_RATE:
			if (!opt_int("relay-rate", optarg, 1, 1000000, &v))
				return EX_USAGE;
			rcfg.rate = (unsigned)v;
			break;
		case O_RELAY_MAX_CONNS:
			if (!opt_int("relay-max-conns", optarg, 1, 100000, &v))
				return EX_USAGE;
			rcfg.max_conns = (unsigned)v;
			break;
		case O_RELAY_MAX_TOTAL:
			if (!opt_int("relay-max-total", optarg, 1, 100000, &v))
				return EX_USAGE;
			rcfg.max_total = (unsigned)v;
			break;
		case O_RELAY_MAX_BYTES:
			if (!opt_int("relay-max-bytes", optarg, 1, INT64_MAX,
			    &v))
				return EX_USAGE;
			rcfg.max_bytes = v;
			break;
		case O_RELAY_MAX_SECONDS:
			if (!opt_int("relay-max-seconds", optarg, 1, 86400 * 365,
			    &v))
				return EX_USAGE;
			rcfg.max_ms = v * 1000;
			break;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "chat-dird: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	if (netaddr_split(listen_at, host, &port) != 0) {
		fprintf(stderr, "chat-dird: --listen: want ADDR:PORT or"
		    " [ADDR]:PORT, not '%s'\n", listen_at);
		return EX_USAGE;
	}
	if (stun_at != NULL && no_stun) {
		fprintf(stderr, "chat-dird: --stun and --no-stun: choose one\n");
		return EX_USAGE;
	}
	if (stun_at != NULL) {
		if (netaddr_split(stun_at, stun_host, &tcfg.port) != 0) {
			fprintf(stderr, "chat-dird: --stun: want ADDR:PORT or"
			    " [ADDR]:PORT, not '%s'\n", stun_at);
			return EX_USAGE;
		}
	} else {
		snprintf(stun_host, sizeof(stun_host), "%s", host);
		/* An ephemeral HTTP port (tests) wants an ephemeral STUN one. */
		if (port == 0)
			tcfg.port = 0;
	}
	if (relay_at != NULL && no_relay) {
		fprintf(stderr, "chat-dird: --relay and --no-relay: choose"
		    " one\n");
		return EX_USAGE;
	}
	if (relay_at != NULL) {
		if (netaddr_split(relay_at, relay_host, &rcfg.port) != 0) {
			fprintf(stderr, "chat-dird: --relay: want ADDR:PORT or"
			    " [ADDR]:PORT, not '%s'\n", relay_at);
			return EX_USAGE;
		}
	} else {
		snprintf(relay_host, sizeof(relay_host), "%s", host);
		if (port == 0)
			rcfg.port = 0;
	}

	/* One malloc arena per thread would hold memory for each of the
	 * worker threads; a few arenas serve them all. */
	(void)mallopt(M_ARENA_MAX, 2);
	/* A request's parsed JSON comes from an arena dropped at its end. */
	jarena_init();

	/* Signals are taken by sigwait below; every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	if (sodium_init() < 0)
		return die(EX_SOFTWARE, "libsodium", "cannot initialise");
	sopts.path = db;
	db_shown(db, shown, sizeof(shown));
	switch (store_open(&sopts, &store, err, sizeof(err))) {
	case STORE_OK:
		break;
	case STORE_NOT_OURS:
	case STORE_CORRUPT:
	case STORE_TOO_NEW:
		return die(EX_DATAERR, shown, err);
	case STORE_IO:
		return die(EX_IOERR, shown, err);
	default:
		return die(EX_SOFTWARE, shown, err);
	}
	if (release != NULL)
		return release_name(store, release);
	hcfg.listen_fd = net_listen(host, port, 1024, err, sizeof(err));
	if (hcfg.listen_fd < 0) {
		store_close(store);
		return die(EX_UNAVAILABLE, "listen", err);
	}
	if (getsockname(hcfg.listen_fd, (struct sockaddr *)&ss, &sslen) != 0) {
		close(hcfg.listen_fd);
		store_close(store);
		return die(EX_SOFTWARE, "listen", "getsockname failed");
	}
	netaddr_format((struct sockaddr *)&ss, bound, &port);
	pcfg.store = store;
	if ((push = push_new(&pcfg)) == NULL ||
	    store_watch(store, push_store_event, push) != STORE_OK) {
		close(hcfg.listen_fd);
		push_free(push);
		store_close(store);
		return die(EX_SOFTWARE, "events", "cannot start the push channel");
	}
	acfg.push = push;
	/* The default port taken by another program is no reason not to
	 * serve: the directory runs without a relay, and says so. */
	if (!no_relay && (relay = relay_start(&rcfg, err, sizeof(err))) ==
	    NULL) {
		if (relay_at != NULL) {
			close(hcfg.listen_fd);
			store_close(store);
			push_free(push);
			return die(EX_UNAVAILABLE, "relay", err);
		}
		log_event("warn", "relay", json_pack("{s:s, s:s}", "error", err,
		    "message", "running without a relay"));
	}
	acfg.relay = relay;
	if ((api = api_new(store, &acfg)) == NULL ||
	    (h = httpd_start(api, &hcfg, err, sizeof(err))) == NULL) {
		close(hcfg.listen_fd);
		relay_stop(relay);
		api_free(api);
		store_close(store);
		push_free(push);
		return die(EX_SOFTWARE, "start", api == NULL ? "out of memory" :
		    err);
	}
	if (!no_stun && (stun = stund_start(&tcfg, err, sizeof(err))) == NULL) {
		push_shutdown(push);
		httpd_stop(h, 0);
		relay_stop(relay);
		api_free(api);
		store_close(store);
		push_free(push);
		return die(EX_UNAVAILABLE, "stun", err);
	}
	if (printf("{\"type\":\"listening\",\"addr\":\"%s\",\"port\":%d",
	    bound, port) < 0 || (stun != NULL && printf(",\"stun_port\":%d",
	    stund_port(stun)) < 0) || (relay != NULL &&
	    printf(",\"relay_port\":%d", relay_port(relay)) < 0) ||
	    printf("}\n") < 0 || fflush(stdout) != 0)
		log_event("warn", "stdout", json_pack("{s:s}", "error",
		    "cannot write the listening line"));
	log_event("info", "start", json_pack("{s:s, s:s, s:i, s:s, s:i, s:s,"
	    " s:i, s:i}", "version", CHAT_VERSION, "addr", bound, "port", port,
	    "db", shown, "threads", (int)hcfg.threads, "sync",
	    sopts.sync_full ? "full" : "normal", "stun_port",
	    stun != NULL ? stund_port(stun) : 0, "relay_port",
	    relay != NULL ? relay_port(relay) : 0));

	do {
		if (sigwait(&sigs, &sig) != 0)
			sig = SIGTERM;
	} while (sig != SIGINT && sig != SIGTERM);

	log_event("info", "stop", json_pack("{s:s}", "signal",
	    sig == SIGINT ? "SIGINT" : "SIGTERM"));
	stund_stop(stun);
	/* Streams end first: they would hold the grace period to its end. */
	push_shutdown(push);
	httpd_stop(h, GRACE_MS);
	relay_stop(relay);
	api_free(api);
	store_close(store);
	push_free(push);
	return 0;
}
