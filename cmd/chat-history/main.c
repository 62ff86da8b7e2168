/* chat-history: print the stored conversation with a peer, or one's
 * inbox, oldest first; with -f, go on printing messages as they are
 * stored. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <time.h>

#include "client/cli_dirclient.h"
#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/util.h"
#include "core/valid.h"

#define POLL_SECONDS 1		/* between requests while nothing comes */
#define POLL_ENV "CHAT_POLL_SECONDS"	/* for tests: another interval */

enum { OPT_AFTER = 256, OPT_CALLS, OPT_VERSION };

struct history {
	struct dirclient *dc;
	int64_t cursor;		/* the newest id seen */
	bool dropped;		/* a message that could not be trusted */
	bool print;
	bool follow;
	bool calls;		/* print relay calls too (--calls) */
	/* while following the push channel */
	struct dc_query *q;
	enum dc_status st;	/* of the last fetch */
};

static volatile sig_atomic_t got_signal;

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-history -u name [-f [--calls]] [--after id] "
	    "[-n count] [-s url] [peer]\n");
	if (status == EX_OK)
		fputs("  -u, --user NAME   whose messages (else CHAT_USER)\n"
		    "  -f, --follow      then print new messages as they come (the\n"
		    "                    push channel; polls an older directory\n"
		    "                    every CHAT_POLL_SECONDS, else 1 s)\n"
		    "      --calls       with -f and no peer, print the calls of\n"
		    "                    peers who ask to meet at the relay too\n"
		    "      --after ID    only messages after the id ID\n"
		    "  -n, --last COUNT  only the newest COUNT\n"
		    "  -s, --server URL  the directory (else CHAT_SERVER)\n"
		    "  -h, --help        this help\n"
		    "      --version     the version\n", f);
	exit(status);
}

static void
on_signal(int sig)
{
	got_signal = sig;
}

/* While following, SIGINT and SIGTERM stay blocked, so a line is never
 * cut short; they are looked for here and taken while waiting. */
static int
interrupted(void *arg)
{
	sigset_t pending;

	(void)arg;
	if (got_signal)
		return 1;
	return sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) ||
	    sigismember(&pending, SIGTERM));
}

static void
catch_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &block, waitmask) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0)
		cli_die(EX_OSERR, "signals: %m");
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGTERM);
}

static int
on_message(void *arg, json_t *m)
{
	struct history *h = arg;
	int64_t id = json_integer_value(json_object_get(m, "id"));
	char why[256];

	if (h->follow && interrupted(NULL))
		return 1;
	if (id > 0 && id <= h->cursor)
		return 0;
	if (id > h->cursor)
		h->cursor = id;
	if (!h->print)
		return 0;
	/* A forged message is left out, the others still printed. */
	if (dc_open(h->dc, m, why, sizeof(why)) != 0) {
		cli_warn("message %" PRId64 ": %s; dropped", id, why);
		h->dropped = true;
		return 0;
	}
	cli_print(m);
	return 0;
}

/* Exits with the verdict of a failed list. */
static noreturn void
fail(struct dirclient *dc, enum dc_status st, const struct dc_query *q)
{
	json_t *peer;

	if (st == DC_NOT_FOUND) {
		/* Which of the two is unknown? */
		if (q->peer != NULL &&
		    (st = dc_peerinfo(dc, q->user, &peer)) == DC_OK) {
			json_decref(peer);
			cli_die(EX_NOUSER, "%s: no such peer", q->peer);
		}
		if (st == DC_NOT_FOUND)
			cli_die(EX_NOUSER, "%s: no such peer", q->user);
	}
	cli_die(dc_exit_status(st), "%s", dc_error(dc));
}

/* The fallback's interval: POLL_ENV's seconds, else POLL_SECONDS. */
static struct timespec
poll_pause(void)
{
	const char *v = getenv(POLL_ENV);
	int64_t n;

	if (v != NULL && parse_int(v, 1, 86400 * 365, &n))
		return (struct timespec){ (time_t)n, 0 };
	return (struct timespec){ POLL_SECONDS, 0 };
}

/* Asks for new messages at most once a poll interval; rides out a
 * directory that is down or busy for a while. Returns on SIGINT or
 * SIGTERM. */
static void
poll_follow(struct dirclient *dc, struct dc_query *q, struct history *h,
    const sigset_t *waitmask)
{
	const struct timespec pause = poll_pause();
	enum dc_status st;
	bool down = false;

	for (;;) {
		if (interrupted(NULL) || (pselect(0, NULL, NULL, NULL, &pause,
		    waitmask) < 0 && got_signal))
			return;
		q->after = h->cursor;
		st = dc_messages(dc, q, on_message, h);
		if (st == DC_CANCELLED)
			return;
		if (st == DC_UNAVAILABLE || st == DC_TEMPFAIL) {
			if (!down)
				cli_warn("%s; trying again every %lld s",
				    dc_error(dc), (long long)pause.tv_sec);
			down = true;
		} else if (st != DC_OK)
			fail(dc, st, q);
		else
			down = false;
	}
}

/* A relay call: a peer who could not reach this user waits at the relay
 * with the token both sides bind with (chat-protocol(7), RELAY); chat-listen joins it.
 * Printed as it came, when it is one. */
static void
print_call(struct history *h, json_t *ev)
{
	const char *from = json_string_value(json_object_get(ev, "from"));
	const char *token = json_string_value(json_object_get(ev, "token"));
	const char *relay = json_string_value(json_object_get(ev, "relay"));

	if (!h->calls || h->q->peer != NULL || from == NULL ||
	    !valid_username(from) || token == NULL || strlen(token) != 64 ||
	    strspn(token, "0123456789abcdef") != 64 || relay == NULL ||
	    !json_is_integer(json_object_get(ev, "expires_in")))
		return;
	cli_print(ev);
}

/* An event of the push channel: a message of ours above the cursor, or
 * a resync, is a reason to fetch after the cursor. */
static int
on_event(void *arg, json_t *ev)
{
	struct history *h = arg;
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *from = json_string_value(json_object_get(ev, "from"));
	const char *to = json_string_value(json_object_get(ev, "to"));

	if (interrupted(NULL))
		return 1;
	if (type == NULL)
		return 0;
	if (strcmp(type, "message") == 0) {
		if (json_integer_value(json_object_get(ev, "id")) <= h->cursor)
			return 0;
		if (h->q->peer == NULL ? to == NULL ||
		    strcasecmp(to, h->q->user) != 0 : from == NULL || to == NULL ||
		    (strcasecmp(from, h->q->peer) != 0 &&
		    strcasecmp(to, h->q->peer) != 0))
			return 0;
	} else if (strcmp(type, "relay") == 0) {
		print_call(h, ev);
		return 0;
	} else if (strcmp(type, "resync") != 0) {
		return 0;
	}
	h->q->after = h->cursor;
	h->st = dc_messages(h->dc, h->q, on_message, h);
	/* A failed fetch ends the stream: the loop below decides. */
	return h->st != DC_OK;
}

/* Waits on the directory's push channel (a second client, ev, holds the
 * stream) and fetches after the cursor when it says so; falls back to
 * polling when the directory has no channel. */
static void
follow(struct dirclient *dc, struct dirclient *ev, struct dc_query *q,
    struct history *h, const sigset_t *waitmask)
{
	const struct timespec pause = { POLL_SECONDS, 0 };
	enum dc_status st;
	bool down = false;

	h->print = true;
	h->dc = dc;
	h->q = q;
	q->last = 0;
	for (;;) {
		h->st = DC_OK;
		st = dc_events(ev, q->user, true, h->cursor, on_event, h);
		if (st == DC_UNSUPPORTED) {
			poll_follow(dc, q, h, waitmask);
			return;
		}
		if (st == DC_CANCELLED || h->st == DC_CANCELLED ||
		    interrupted(NULL))
			return;
		if (st == DC_OK && h->st == DC_OK) {
			down = false;
			continue;
		}
		if (h->st != DC_OK)
			st = h->st;
		if (st != DC_UNAVAILABLE && st != DC_TEMPFAIL &&
		    st != DC_PROTOCOL && st != DC_OK)
			fail(dc, st, q);
		if (!down)
			cli_warn("%s; trying again every %d s", h->st != DC_OK ?
			    dc_error(dc) : dc_error(ev), POLL_SECONDS);
		down = true;
		if (pselect(0, NULL, NULL, NULL, &pause, waitmask) < 0 &&
		    got_signal)
			return;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "calls", no_argument, NULL, OPT_CALLS },
		{ "follow", no_argument, NULL, 'f' },
		{ "last", required_argument, NULL, 'n' },
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *user = NULL;
	struct history h = { .print = true };
	struct dc_query q = { 0 };
	struct dirclient *dc;
	enum dc_status st;
	sigset_t waitmask;
	int64_t last = -1;
	int c;

	cli_init();
	while ((c = getopt_long(argc, argv, "fhn:s:u:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case OPT_AFTER:
			if (!parse_int(optarg, 0, INT64_MAX, &q.after))
				cli_die(EX_USAGE, "--after: %s: not a message id",
				    optarg);
			break;
		case 'f':
			h.follow = true;
			break;
		case OPT_CALLS:
			h.calls = true;
			break;
		case 'n':
			if (!parse_int(optarg, 0, INT64_MAX, &last))
				cli_die(EX_USAGE, "-n: %s: not a count", optarg);
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
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage(stderr, EX_USAGE);
	if ((q.user = cli_setting(user, CLI_ENV_USER, NULL)) == NULL) {
		cli_warn("no user: give -u or set CHAT_USER");
		usage(stderr, EX_USAGE);
	}
	q.peer = argc == 1 ? argv[0] : NULL;
	if (h.calls && (!h.follow || q.peer != NULL))
		cli_die(EX_USAGE, "--calls: only with -f, following the inbox");
	if (!valid_username(q.user))
		cli_die(EX_USAGE, "%s: not a username", q.user);
	if (q.peer != NULL && !valid_username(q.peer))
		cli_die(EX_USAGE, "%s: not a username", q.peer);

	dc = cli_dirclient(server);
	cli_sign_as(dc, q.user);
	h.dc = dc;
	if (h.follow) {
		catch_signals(&waitmask);
		dc_set_cancel(dc, interrupted, NULL);
	}
	/* -n 0 prints no history, but still learns where it ends. */
	h.cursor = q.after;
	q.last = last > 0 ? last : last == 0 ? 1 : 0;
	h.print = last != 0;
	st = dc_messages(dc, &q, on_message, &h);
	if (st != DC_OK && !(st == DC_CANCELLED && h.follow))
		fail(dc, st, &q);
	if (h.follow) {
		struct dirclient *ev = cli_dirclient(server);

		cli_sign_as(ev, q.user);
		dc_set_cancel(ev, interrupted, NULL);
		follow(dc, ev, &q, &h, &waitmask);
		dc_free(ev);
	}
	dc_free(dc);
	return h.dropped ? EX_DATAERR : EX_OK;
}
