/* chat-listen: accept direct connections from peers (wire protocol v2, or
 * v1 with --plaintext), print every message received as a JSON line,
 * acknowledge it once printed (the engine: lib/peer/listener.c); register with the directory and catch up with the inbox
 * through chat-register and chat-history, run as children, so that no
 * HTTP client weighs on a listener that runs all day. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/dirclient.h"
#include "core/cli.h"
#include "core/exitcodes.h"
#include "core/spawn.h"
#include "core/util.h"
#include "core/valid.h"
#include "net/netaddr.h"
#include "net/punch.h"
#include "net/relay_client.h"
#include "peer/listener.h"
#include "peer/seen.h"
#include "peer/wire.h"
#include "sec/keys.h"
#include "sec/noise.h"

#define READ_CHUNK 65536
#define HEARTBEAT_S 30		/* a third of the directory's presence window */
#define HISTORY_LINE_MAX (16 << 20)	/* bytes of a line from chat-history */
#define SAVE_EVERY 1000		/* messages caught up between cursor saves */
#define CALLS_MAX 4		/* relay calls being joined at once */
#define CALL_CONNECT_MS 2000	/* to the relay, at most */
#define CALL_MS 5000		/* for the relay to say joined, at most */
#define PUNCH_MS 2500		/* punching towards a caller, at most */

/* A relay call being joined: the bind is sent, the answer awaited. */
struct call {
	int fd;			/* -1: a free slot */
	char host[NETADDR_HOSTLEN];
	int port;
	char from[USERNAME_MAX + 1];
	int64_t deadline;
};

/* A hole punched, or not, towards a caller: what a punching thread
 * writes to the loop's pipe, in one write (under PIPE_BUF). */
struct punched {
	int fd;			/* -1: no hole opened */
	char host[NETADDR_HOSTLEN];
	int port;
	char from[USERNAME_MAX + 1];
};

struct punch_job {
	int out;		/* the pipe's write end */
	int local_port;
	struct punch_target t[PUNCH_MAX];
	size_t n;
	char from[USERNAME_MAX + 1];
};

struct main {
	struct listener *l;
	int punch_pipe[2];	/* from the punching threads; -1: none */
	int port;		/* the listening port, punched from */
	struct seen *seen;
	struct reg *reg;	/* the heartbeat, or NULL */
	struct follow *follow;	/* the inbox follower, or NULL */
	const char *server;
	int64_t timeout_ms;
	struct call calls[CALLS_MAX];
};

struct keys {
	struct keypair kp;
	uint8_t xsk[NOISE_KEYLEN];
	char *pins;
};

static void reg_event(void *arg, void *tag);
static void punch_start(struct main *m, json_t *ev, const char *from);
static void reg_tick(void *arg);

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Whether the listener stops: stopping, or a stop signal on its way,
 * blocked until the next wait. A SIGTERM to the whole process group (as
 * Ctrl-C and systemd send it) also ends the helpers, whose end the
 * listener may see before its own signal is taken: that is no failure
 * to report. */
static bool
stopping_now(void)
{
	sigset_t p;

	return stopping || (sigpending(&p) == 0 &&
	    (sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1 ||
	    sigismember(&p, SIGHUP) == 1));
}

enum { OPT_VERSION = 256, OPT_NO_REGISTER, OPT_NO_CATCH_UP, OPT_PLAINTEXT };

static noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: chat-listen -u name [-p port] [-a address] "
	    "[--no-register] [--no-catch-up] [--plaintext] [-s url]\n");
	fprintf(f, "       %s -h | --help | --version\n", "chat-listen");
	exit(status);
}

/* A time limit in milliseconds from the environment (seconds, maybe with
 * a fraction), else def. */
static int64_t
env_ms(const char *name, int64_t def)
{
	const char *v = getenv(name);
	int64_t ms;

	if (v == NULL || *v == '\0')
		return def;
	if (!parse_seconds(v, &ms))
		cli_die(EX_USAGE, "%s: %s: not a number of seconds", name, v);
	return ms;
}

/* Waits for fd to be readable, or a stop signal (blocked but while
 * waiting), or timeout_ms (-1: none): 1, 0 on a timeout, -1 stopping. */
static int
wait_readable(int fd, int64_t timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts, *tp = NULL;
	sigset_t none;
	int n;

	sigemptyset(&none);
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000;
		tp = &ts;
	}
	while (!stopping) {
		n = ppoll(&p, 1, tp, &none);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			cli_die(EX_OSERR, "poll: %s", strerror(errno));
	}
	return -1;
}

/* The helper program name, next to this one or in PATH; NULL, said on
 * stderr with what goes missing, when there is none. */
static char *
helper(const char *name, const char *missing)
{
	char *path = spawn_find(name);

	if (path == NULL && errno != ENOENT)
		cli_die(EX_SOFTWARE, "out of memory");
	if (path == NULL)
		cli_warn("%s: not found next to chat-listen or in PATH; %s",
		    name, missing);
	return path;
}

/* Starts path with argv, its stdout a pipe whose end is *out: its pid,
 * or -1 said on stderr. */
static pid_t
start_helper(const char *path, char *const argv[], int errfd, int flags,
    int *out)
{
	char err[512];
	int p[2], fds[3];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		cli_warn("pipe: %s", strerror(errno));
		return -1;
	}
	fds[0] = SPAWN_NULL;
	fds[1] = p[1];
	fds[2] = errfd;
	pid = spawn_child(path, argv, fds, flags, err, sizeof(err));
	close(p[1]);
	if (pid < 0) {
		cli_warn("%s", err);
		close(p[0]);
		return -1;
	}
	*out = p[0];
	return pid;
}

struct catchup {
	struct listener *l;
	struct main *m;		/* takes relay calls (the follower's); or NULL */
	struct seen *seen;
	int64_t last;
	int64_t saved;
	int items;		/* since the cursor was saved */
};

static int
save_cursor(struct catchup *cu)
{
	char err[512];

	if (listener_commit(cu->l) != 0)
		return -1;
	if (cu->last > cu->saved &&
	    seen_set_cursor(cu->seen, cu->last, err, sizeof(err)) != 0) {
		cli_warn("%s", err);
		listener_set_status(cu->l, EX_IOERR);
		return -1;
	}
	cu->saved = cu->last;
	cu->items = 0;
	return 0;
}

/* One message of the inbox: printed unless its uid was; -1 to stop. */
static int
on_inbox(struct catchup *cu, json_t *m)
{
	const char *uid = json_string_value(json_object_get(m, "uid"));
	json_t *id = json_object_get(m, "id"), *o;

	if (uid == NULL || !json_is_integer(id))
		return 0;
	if (seen_add(cu->seen, uid)) {
		o = json_pack("{s:s, s:O, s:s, s:O, s:O, s:O, s:O, s:b}",
		    "type", "message", "id", id, "uid", uid,
		    "from", json_object_get(m, "from"),
		    "to", json_object_get(m, "to"),
		    "text", json_object_get(m, "text"),
		    "ts", json_object_get(m, "ts"), "offline", 1);
		if (o != NULL)
			listener_print(cu->l, o);
	} else if (!seen_has(cu->seen, uid))
		cli_die(EX_SOFTWARE, "out of memory");
	if (json_integer_value(id) > cu->last)
		cu->last = json_integer_value(id);
	if ((listener_pending(cu->l) >= LISTENER_PRINT_CHUNK || ++cu->items >= SAVE_EVERY) &&
	    save_cursor(cu) != 0)
		return -1;
	return 0;
}

/* A relay call (chat-history --calls): a sender that could not reach
 * this listener waits at the directory's relay. The bind is sent now; the
 * answer comes to the loop, and the joined connection is served as an
 * accepted one. */
static void
on_call(struct main *m, json_t *ev)
{
	const char *from = json_string_value(json_object_get(ev, "from"));
	const char *token = json_string_value(json_object_get(ev, "token"));
	const char *relay = json_string_value(json_object_get(ev, "relay"));
	struct call *c = NULL;
	char err[512];
	size_t i;

	if (from == NULL || !valid_username(from) || token == NULL ||
	    relay == NULL)
		return;
	for (i = 0; i < CALLS_MAX && c == NULL; i++)
		if (m->calls[i].fd < 0)
			c = &m->calls[i];
	if (c == NULL) {
		cli_warn("a relay call from %s: %d calls under way already; "
		    "not taken", from, CALLS_MAX);
		return;
	}
	if (netaddr_split(relay, c->host, &c->port) != 0 || c->port == 0) {
		cli_warn("a relay call from %s: the relay is not HOST:PORT: %s",
		    from, relay);
		return;
	}
	if ((c->fd = relay_bind(c->host, c->port, token, CALL_CONNECT_MS, err,
	    sizeof(err))) < 0) {
		cli_warn("a relay call from %s: %s", from, err);
		return;
	}
	snprintf(c->from, sizeof(c->from), "%s", from);
	c->deadline = mono_ms() + CALL_MS;
	if (listener_watch(m->l, c->fd, c) != 0)
		cli_die(EX_OSERR, "epoll: %s", strerror(errno));
	punch_start(m, ev, from);
}

static void
call_end(struct main *m, struct call *c, const char *why)
{
	listener_unwatch(m->l, c->fd);
	if (why != NULL) {
		cli_warn("a relay call from %s: relay %s:%d: %s", c->from,
		    c->host, c->port, why);
		close(c->fd);
	}
	c->fd = -1;
}

static void
call_readable(struct main *m, struct call *c)
{
	char err[256], via[NETADDR_HOSTLEN + 8];
	int fd = c->fd;

	switch (relay_answer(fd, err, sizeof(err))) {
	case 0:
		return;
	case 1:
		call_end(m, c, NULL);
		snprintf(via, sizeof(via), "relay %s", c->host);
		listener_adopt(m->l, fd, via, c->port);
		return;
	default:
		call_end(m, c, err);
	}
}

/* A punching thread: connects from the listening port towards the
 * caller's candidates as the caller does towards ours, and hands what
 * came of it to the loop. */
static void *
punch_run(void *arg)
{
	struct punch_job *j = arg;
	struct punched d = { .fd = -1 };
	char err[256];
	size_t which;
	ssize_t n;

	d.fd = punch_connect(j->t, j->n, j->local_port, PUNCH_MS, &which, err,
	    sizeof(err));
	if (d.fd >= 0) {
		snprintf(d.host, sizeof(d.host), "%s", j->t[which].host);
		d.port = j->t[which].port;
	}
	snprintf(d.from, sizeof(d.from), "%s", j->from);
	do
		n = write(j->out, &d, sizeof(d));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(d) && d.fd >= 0)
		close(d.fd);
	free(j);
	return NULL;
}

/* The call's candidates, when it has any, are punched towards in a
 * thread of their own while the relay is joined here. */
static void
punch_start(struct main *m, json_t *ev, const char *from)
{
	struct punch_job *j;
	const json_t *v;
	pthread_attr_t attr;
	pthread_t t;
	size_t i;

	if (m->punch_pipe[1] < 0 || m->port <= 0 ||
	    (j = calloc(1, sizeof(*j))) == NULL)
		return;
	json_array_foreach(json_object_get(ev, "candidates"), i, v) {
		const char *ip = json_string_value(json_object_get(v, "ip"));
		json_int_t port = json_integer_value(json_object_get(v,
		    "port"));

		if (j->n == PUNCH_MAX || ip == NULL || port <= 0 ||
		    port > 65535 || strlen(ip) >= NETADDR_HOSTLEN)
			continue;
		snprintf(j->t[j->n].host, NETADDR_HOSTLEN, "%s", ip);
		j->t[j->n++].port = (int)port;
	}
	j->out = m->punch_pipe[1];
	j->local_port = m->port;
	snprintf(j->from, sizeof(j->from), "%s", from);
	if (j->n == 0 || pthread_attr_init(&attr) != 0) {
		free(j);
		return;
	}
	if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
	    pthread_create(&t, &attr, punch_run, j) != 0) {
		cli_warn("a relay call from %s: cannot start punching", from);
		free(j);
	}
	pthread_attr_destroy(&attr);
}

/* A punching thread's end: a hole is served as an accepted connection,
 * and the caller's wait at the relay is given up. */
static void
punch_readable(struct main *m)
{
	struct punched d;
	char via[NETADDR_HOSTLEN + 8];

	while (read(m->punch_pipe[0], &d, sizeof(d)) == (ssize_t)sizeof(d)) {
		if (d.fd < 0)
			continue;
		for (size_t i = 0; i < CALLS_MAX; i++)
			if (m->calls[i].fd >= 0 &&
			    strcmp(m->calls[i].from, d.from) == 0) {
				int fd = m->calls[i].fd;

				call_end(m, &m->calls[i], NULL);
				close(fd);
			}
		snprintf(via, sizeof(via), "punched %s", d.host);
		listener_adopt(m->l, d.fd, via, d.port);
	}
}

/* The lines b holds, each a message; -1 to stop. */
static int
catch_up_lines(struct catchup *cu, struct wire_buf *b)
{
	size_t len;
	json_error_t jerr;
	json_t *m;
	char *line;
	int rc;

	while ((rc = wire_buf_line(b, &line, &len)) != 0) {
		if (rc < 0) {
			cli_warn("catching up: chat-history: a line over %d"
			    " bytes", HISTORY_LINE_MAX);
			return -1;
		}
		m = json_loadb(line, len, 0, &jerr);
		if (!json_is_object(m)) {
			cli_warn("catching up: chat-history: not a JSON object: "
			    "%s", jerr.text);
			json_decref(m);
			return -1;
		}
		rc = 0;
		if (!json_is_string(json_object_get(m, "type")) ||
		    strcmp(json_string_value(json_object_get(m, "type")),
		    "relay") != 0)
			rc = on_inbox(cu, m);
		else if (cu->m != NULL)
			on_call(cu->m, m);
		json_decref(m);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* A chat-history run that read all it could: 65 says it dropped a
 * message it could not trust (named on its stderr), 67 that the user is
 * not yet known. */
static bool
history_done(int wstatus)
{
	return WIFEXITED(wstatus) && (WEXITSTATUS(wstatus) == EX_OK ||
	    WEXITSTATUS(wstatus) == EX_DATAERR ||
	    WEXITSTATUS(wstatus) == EX_NOUSER);
}

/* Prints the inbox after the saved cursor, as chat-history prints it,
 * saving the cursor as it goes: a listener stopped midway goes on from
 * there. */
static void
catch_up(struct listener *l, struct seen *seen, const char *user,
    const char *server)
{
	struct catchup cu = { .l = l, .seen = seen };
	struct wire_buf b = { .max = HISTORY_LINE_MAX };
	char *path, *at, after[24], desc[64];
	char *argv[] = { "chat-history", "-u", (char *)user, "--after",
	    after, "-s", (char *)server, NULL };
	bool failed = false;
	int fd, wstatus;
	size_t room;
	ssize_t n;
	pid_t pid;

	if ((path = helper("chat-history", "not catching up")) == NULL)
		return;
	cu.last = cu.saved = seen_cursor(seen);
	snprintf(after, sizeof(after), "%" PRId64, cu.last);
	pid = start_helper(path, argv, SPAWN_KEEP, 0, &fd);
	free(path);
	if (pid < 0)
		return;
	while (wait_readable(fd, -1) > 0) {
		if ((at = wire_buf_space(&b, READ_CHUNK, &room)) == NULL)
			cli_die(EX_SOFTWARE, "out of memory");
		while ((n = read(fd, at, room)) < 0 && errno == EINTR)
			;
		if (n > 0)
			wire_buf_fill(&b, (size_t)n);
		if (n <= 0) {
			if (n < 0) {
				cli_warn("catching up: chat-history: %s",
				    strerror(errno));
				failed = true;
			}
			break;
		}
		if (catch_up_lines(&cu, &b) != 0) {
			failed = true;
			break;
		}
	}
	/* Stopped early: the rest comes next time. */
	if (stopping || failed)
		kill(pid, SIGTERM);
	close(fd);
	if (spawn_reap(pid, true, &wstatus) == 1 && !stopping_now() &&
	    !failed && !history_done(wstatus)) {
		spawn_describe(wstatus, desc, sizeof(desc));
		cli_warn("catching up: chat-history: %s; the rest comes at the "
		    "next start", desc);
	}
	wire_buf_free(&b);
	if (listener_status(l) == 0)
		save_cursor(&cu);
}

/* The inbox follower: chat-history -f after the catch-up, woken by the
 * directory's push channel, so a message stored while the listener runs
 * (its sender could not reach it) is printed at once. Its lines share
 * the listener's loop; when it ends, it starts again a heartbeat later. */
struct follow {
	char *path;		/* of chat-history */
	const char *user, *server;
	struct catchup cu;
	struct wire_buf b;
	pid_t pid;		/* 0: not running */
	int fd;
	int64_t next_at;
};

static void
follow_start(struct follow *f, struct listener *l)
{
	char after[24];
	char *argv[] = { "chat-history", "-u", (char *)f->user, "-f",
	    "--calls", "--after", after, "-s", (char *)f->server, NULL };

	f->cu.last = f->cu.saved = seen_cursor(f->cu.seen);
	snprintf(after, sizeof(after), "%" PRId64, f->cu.last);
	f->b.off = f->b.len = f->b.scan = 0;
	f->b.dropping = false;
	if ((f->pid = start_helper(f->path, argv, SPAWN_KEEP, 0, &f->fd)) < 0) {
		f->pid = 0;
		f->next_at = mono_ms() + HEARTBEAT_S * 1000;
		return;
	}
	if (listener_watch(l, f->fd, f) != 0)
		cli_die(EX_OSERR, "epoll: %s", strerror(errno));
}

/* Ends the run: the pipe closed (or a bad line), or the listener stops. */
static void
follow_end(struct follow *f, struct listener *l, bool kill_it)
{
	char desc[64];
	int wstatus;

	listener_unwatch(l, f->fd);
	if (kill_it)
		kill(f->pid, SIGTERM);
	close(f->fd);
	if (spawn_reap(f->pid, true, &wstatus) == 1 && !kill_it &&
	    !stopping_now() && !history_done(wstatus)) {
		spawn_describe(wstatus, desc, sizeof(desc));
		cli_warn("following the inbox: chat-history: %s; again in %d s",
		    desc, HEARTBEAT_S);
	}
	f->pid = 0;
	f->next_at = mono_ms() + HEARTBEAT_S * 1000;
	if (listener_status(l) == 0)
		save_cursor(&f->cu);
}

static void
follow_readable(struct follow *f, struct listener *l)
{
	size_t room;
	ssize_t n;
	char *at;

	if ((at = wire_buf_space(&f->b, READ_CHUNK, &room)) == NULL)
		cli_die(EX_SOFTWARE, "out of memory");
	while ((n = read(f->fd, at, room)) < 0 && errno == EINTR)
		;
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		if (n < 0)
			cli_warn("following the inbox: chat-history: %s",
			    strerror(errno));
		follow_end(f, l, n < 0);
		return;
	}
	wire_buf_fill(&f->b, (size_t)n);
	if (catch_up_lines(&f->cu, &f->b) != 0) {
		follow_end(f, l, true);
		return;
	}
	if (listener_status(l) == 0)
		save_cursor(&f->cu);
}

/* The heartbeat: chat-register, run every every_ms to register once
 * more. Between runs nothing else runs beside the listener, so that an
 * idle listener holds no HTTP client in memory. */
struct reg {
	char *path;		/* of chat-register; NULL: none */
	char *argv[12];
	char port[8], every[32];
	pid_t pid;		/* 0: not running */
	int fd;			/* its stdout, a line when registered; or -1 */
	int64_t lines;		/* of this run */
	bool quiet;		/* the last run failed: say no more */
	int64_t every_ms, next_at;
};

static void
reg_init(struct reg *r, const char *user, const char *server,
    const char *ip, int port, int64_t every_ms)
{
	int i = 0;

	r->pid = 0;
	r->fd = -1;
	r->every_ms = every_ms;
	r->path = helper("chat-register", "not registering: only senders "
	    "given the address find this listener");
	snprintf(r->port, sizeof(r->port), "%d", port);
	/* "30", "0.2": as people write it, in messages */
	snprintf(r->every, sizeof(r->every), "%g", (double)every_ms / 1000);
	r->argv[i++] = "chat-register";
	r->argv[i++] = "-u";
	r->argv[i++] = (char *)user;
	r->argv[i++] = "-p";
	r->argv[i++] = r->port;
	r->argv[i++] = "-s";
	r->argv[i++] = (char *)server;
	if (ip != NULL) {
		r->argv[i++] = "-a";
		r->argv[i++] = (char *)ip;
	}
	r->argv[i] = NULL;
}

/* One run; after a failed one, with its stderr to /dev/null, so that an
 * outage is said once, not every heartbeat. */
static void
reg_start(struct reg *r)
{
	if (r->path == NULL)
		return;
	r->lines = 0;
	r->next_at = mono_ms() + r->every_ms;
	r->pid = start_helper(r->path, r->argv, r->quiet ? SPAWN_NULL :
	    SPAWN_KEEP, 0, &r->fd);
	if (r->pid < 0)
		r->pid = 0;
}

/* Reads what the run printed; at its end, reaps it, and says why when it
 * failed, once an outage. */
static void
reg_readable(struct reg *r, struct listener *l)
{
	char buf[4096], desc[64];
	ssize_t n;
	int wstatus;

	while ((n = read(r->fd, buf, sizeof(buf))) < 0 && errno == EINTR)
		;
	if (n > 0) {
		if (memchr(buf, '\n', (size_t)n) != NULL)
			r->lines++;
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	if (l != NULL)
		listener_unwatch(l, r->fd);
	close(r->fd);
	r->fd = -1;
	if (spawn_reap(r->pid, true, &wstatus) != 1)
		wstatus = EX_SOFTWARE << 8;
	r->pid = 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == EX_OK &&
	    r->lines > 0) {
		r->quiet = false;
		return;
	}
	if (!r->quiet && !stopping_now()) {
		spawn_describe(wstatus, desc, sizeof(desc));
		cli_warn("registering: chat-register failed (%s); trying again"
		    " every %s s", desc, r->every);
	}
	r->quiet = true;
}

/* At the start: waits for the first registration, so that the listener
 * can be found once it says it listens and no message stored meanwhile
 * is missed by the catch-up; bounded by a request's time. */
static void
reg_first(struct reg *r, int64_t timeout_ms)
{
	int64_t until = mono_ms() + timeout_ms + 2000, left;

	reg_start(r);
	while (r->pid > 0 && !stopping && (left = until - mono_ms()) > 0) {
		if (wait_readable(r->fd, left) > 0)
			reg_readable(r, NULL);
	}
}

/* Ends a run under way, then logs out with chat-register --logout. */
static void
reg_stop(struct reg *r, const char *user, const char *server)
{
	char *argv[] = { "chat-register", "-u", (char *)user, "--logout",
	    "-s", (char *)server, NULL };
	char desc[64];
	int wstatus = 0, fd;
	pid_t pid;

	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		close(r->fd);
		spawn_reap(r->pid, true, &wstatus);
	}
	if (r->path != NULL) {
		/* A closing terminal's hangup, which may come again as
		 * its shell exits, does not cut the logout short. */
		pid = start_helper(r->path, argv, SPAWN_KEEP, SPAWN_NOHUP, &fd);
		if (pid > 0) {
			close(fd);
			if (spawn_reap(pid, true, &wstatus) != 1)
				wstatus = EX_SOFTWARE << 8;
		}
		if (pid <= 0 || !WIFEXITED(wstatus) ||
		    WEXITSTATUS(wstatus) != EX_OK) {
			if (pid > 0) {
				spawn_describe(wstatus, desc, sizeof(desc));
				cli_warn("logging out: chat-register failed"
				    " (%s)", desc);
			} else
				cli_warn("logging out: chat-register did not"
				    " start");
		}
	}
	r->pid = 0;
	r->fd = -1;
	free(r->path);
	r->path = NULL;
}

/* The user's key (made on first use, as every keyed program does) and
 * its X25519 form for wire v2. Without one, --plaintext speaks v1 only. */
static void
load_keys(struct listener_cfg *cfg, struct keys *k, const char *user)
{
	char *home = cli_home(NULL), err[512];
	enum key_status st = KEY_NONE;

	if (home != NULL)
		st = key_load(home, user, true, &k->kp, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "no CHAT_HOME and no HOME to keep "
		    "a key in");
	if (st != KEY_OK && st != KEY_CREATED) {
		free(home);
		if (cfg->plaintext) {
			cli_warn("%s; speaking only v1, in plaintext", err);
			return;
		}
		cli_die(st == KEY_OPEN ? EX_NOPERM : st == KEY_BAD ?
		    EX_DATAERR : EX_IOERR, "%s (--plaintext speaks v1 without "
		    "a key)", err);
	}
	if (noise_key_from_ed25519(k->xsk, k->kp.sk) != 0 ||
	    (k->pins = key_path(home, user, ".pins")) == NULL)
		cli_die(EX_SOFTWARE, "cannot derive the channel key");
	free(home);
	cfg->xsk = k->xsk;
	cfg->edpk = k->kp.pk;
	cfg->pins = k->pins;
}

/* The directory's key for an unpinned v2 sender, asked through
 * chat-peers, a child that lives for one look-up, so that no HTTP client
 * stays in the listener's memory. Bounded by the request timeout; the
 * loop waits meanwhile, once per new sender. */
static int
dir_key(void *arg, const char *peer, unsigned char ed[32])
{
	struct main *m = arg;
	char *argv[] = { "chat-peers", "-s", (char *)m->server, (char *)peer,
	    NULL };
	char buf[4096], *path;
	size_t len = 0;
	ssize_t n;
	int fd, wstatus, found = 0;
	int64_t until = mono_ms() + m->timeout_ms + 1000;
	json_t *j;
	pid_t pid;

	if ((path = spawn_find("chat-peers")) == NULL)
		return 0;
	pid = start_helper(path, argv, SPAWN_NULL, 0, &fd);
	free(path);
	if (pid < 0)
		return 0;
	while (len < sizeof(buf) - 1 && mono_ms() < until &&
	    wait_readable(fd, until - mono_ms()) > 0) {
		while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) < 0 &&
		    errno == EINTR)
			;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	kill(pid, SIGTERM);
	close(fd);
	spawn_reap(pid, true, &wstatus);
	buf[len] = '\0';
	if ((j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL)) != NULL &&
	    json_is_string(json_object_get(j, "key")) &&
	    key_parse(json_string_value(json_object_get(j, "key")), ed))
		found = 1;
	json_decref(j);
	return found;
}

/* CHAT_HOME/listen/NAME, the name in lower case. */
static char *
state_dir(const char *user)
{
	char *home = cli_home(NULL), *dir, *p;

	if (home == NULL)
		cli_die(EX_USAGE, "no CHAT_HOME and no HOME to put state in");
	if (asprintf(&dir, "%s/listen/%s", home, user) < 0)
		cli_die(EX_SOFTWARE, "out of memory");
	for (p = dir + strlen(home); *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	free(home);
	return dir;
}

static void
raise_nofile(size_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64) {
		rl.rlim_cur = want + 64 < rl.rlim_max ? want + 64 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
reg_event(void *arg, void *tag)
{
	struct main *m = arg;

	if (m->follow != NULL && tag == m->follow)
		follow_readable(m->follow, m->l);
	else if (tag == m->punch_pipe)
		punch_readable(m);
	else if ((struct call *)tag >= m->calls &&
	    (struct call *)tag < m->calls + CALLS_MAX)
		call_readable(m, tag);
	else
		reg_readable(tag, m->l);
}

/* The next heartbeat, once its time has come. */
static void
reg_tick(void *arg)
{
	struct main *m = arg;
	struct reg *r = m->reg;
	struct follow *f = m->follow;

	if (f != NULL && f->pid == 0 && !stopping && mono_ms() >= f->next_at)
		follow_start(f, m->l);
	for (size_t i = 0; i < CALLS_MAX; i++)
		if (m->calls[i].fd >= 0 && mono_ms() >= m->calls[i].deadline)
			call_end(m, &m->calls[i], "the sender did not join in "
			    "time");
	if (r == NULL || r->path == NULL || r->pid > 0 ||
	    mono_ms() < r->next_at)
		return;
	reg_start(r);
	if (r->pid > 0 && listener_watch(m->l, r->fd, r) != 0)
		cli_die(EX_OSERR, "epoll: %s", strerror(errno));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "no-register", no_argument, NULL, OPT_NO_REGISTER },
		{ "no-catch-up", no_argument, NULL, OPT_NO_CATCH_UP },
		{ "plaintext", no_argument, NULL, OPT_PLAINTEXT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = NULL, *port_s = NULL, *server = NULL, *user = NULL;
	bool reg = true, catchup = true;
	struct listener_cfg cfg = { .outfd = STDOUT_FILENO,
	    .stopping = &stopping, .on_event = reg_event, .on_tick = reg_tick };
	struct main m = { 0 };
	for (size_t i = 0; i < CALLS_MAX; i++)
		m.calls[i].fd = -1;
	struct reg r = { .fd = -1 };
	struct follow fol = { .fd = -1 };
	struct keys keys = { 0 };
	struct sockaddr_storage ss;
	struct sigaction sa;
	sigset_t block;
	socklen_t sl = sizeof(ss);
	char local[NETADDR_HOSTLEN], bound[NETADDR_HOSTLEN], err[512], *dir;
	char dirhost[256];
	const char *regip;
	int c, port = 0, bport, dirport, lfd, status;
	int64_t max, every_ms, timeout_ms;

	cli_init();
	while ((c = getopt_long(argc, argv, "a:hp:s:u:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
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
		case OPT_NO_REGISTER:
			reg = false;
			break;
		case OPT_NO_CATCH_UP:
			catchup = false;
			break;
		case OPT_PLAINTEXT:
			cfg.plaintext = true;
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
	if ((user = cli_setting(user, CLI_ENV_USER, NULL)) == NULL) {
		cli_warn("no user: give -u or set CHAT_USER");
		usage(stderr, EX_USAGE);
	}
	if (!valid_username(user))
		cli_die(EX_USAGE, "%s: not a username", user);
	port_s = cli_setting(port_s, CLI_ENV_PORT, NULL);
	if (port_s != NULL && !cli_port(port_s, &port))
		cli_die(EX_USAGE, "%s: not a port (1 to 65535)", port_s);
	if (addr != NULL && !valid_ip(addr))
		cli_die(EX_USAGE, "%s: not an IPv4 or IPv6 address", addr);
	server = cli_setting(server, CLI_ENV_SERVER, DC_SERVER_DEFAULT);
	if (netaddr_url(server, dirhost, sizeof(dirhost), &dirport) != 0)
		cli_die(EX_USAGE, "%s: not an http or https URL", server);
	cfg.user = user;
	cfg.handshake_ms = env_ms("CHAT_HANDSHAKE_TIMEOUT", 10000);
	cfg.idle_ms = env_ms("CHAT_IDLE_TIMEOUT", 600000);
	if (getenv("CHAT_MAX_CONNS") != NULL && *getenv("CHAT_MAX_CONNS")) {
		if (!parse_int(getenv("CHAT_MAX_CONNS"), 1, 100000, &max))
			cli_die(EX_USAGE, "CHAT_MAX_CONNS: %s: not 1 to 100000",
			    getenv("CHAT_MAX_CONNS"));
		cfg.maxconns = (size_t)max;
	} else
		cfg.maxconns = 1000;
	every_ms = env_ms("CHAT_HEARTBEAT", HEARTBEAT_S * 1000);
	/* The helpers read it too; a bad one is said here, once. */
	timeout_ms = env_ms(CLI_ENV_TIMEOUT, 10000);

	/* By default it listens where the directory is reached from: the
	 * address it registers. */
	if (addr == NULL)
		addr = net_local_ip(dirhost, dirport, local, sizeof(local)) ==
		    0 ? local : "127.0.0.1";
	load_keys(&cfg, &keys, user);
	m.server = server;
	m.timeout_ms = timeout_ms;
	cfg.dir_key = dir_key;
	dir = state_dir(user);
	if ((m.seen = seen_open(dir, err, sizeof(err))) == NULL)
		cli_die(EX_IOERR, "%s", err);
	free(dir);
	cfg.seen = m.seen;
	raise_nofile(cfg.maxconns);
	if ((lfd = net_listen_shared(addr, port, 128, err, sizeof(err))) < 0)
		cli_die(EX_UNAVAILABLE, "listen: %s", err);
	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) != 0)
		cli_die(EX_OSERR, "getsockname: %s", strerror(errno));
	netaddr_format((struct sockaddr *)&ss, bound, &bport);
	cfg.lfd = lfd;
	cfg.arg = &m;
	if ((m.l = listener_new(&cfg)) == NULL)
		cli_die(EX_OSERR, "cannot set up: %s", strerror(errno));
	m.port = bport;
	m.punch_pipe[0] = m.punch_pipe[1] = -1;
	if (pipe2(m.punch_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    listener_watch(m.l, m.punch_pipe[0], m.punch_pipe) != 0)
		cli_die(EX_OSERR, "pipe: %s", strerror(errno));

	/* The stop signals are taken only while waiting (ppoll, epoll_pwait),
	 * so none comes between a look at stopping and a wait. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	/* A closed terminal: log out as for SIGTERM, rather than vanish
	 * while the directory still says online. */
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		cli_die(EX_OSERR, "signals: %s", strerror(errno));

	regip = strcmp(bound, "0.0.0.0") == 0 || strcmp(bound, "::") == 0 ?
	    (net_local_ip(dirhost, dirport, local, sizeof(local)) == 0 ?
	    local : NULL) : bound;
	if (reg) {
		reg_init(&r, user, server, regip, bport, every_ms);
		reg_first(&r, timeout_ms);
		m.reg = &r;
		if (r.pid > 0 && listener_watch(m.l, r.fd, &r) != 0)
			cli_die(EX_OSERR, "epoll: %s", strerror(errno));
	}

	listener_print(m.l, json_pack("{s:s, s:s, s:i, s:s}", "type",
	    "listening", "addr", bound, "port", bport, "user", user));
	if (listener_commit(m.l) == 0) {
		if (catchup && !stopping)
			catch_up(m.l, m.seen, user, server);
		if (catchup && !stopping && listener_status(m.l) == 0 &&
		    (fol.path = spawn_find("chat-history")) != NULL) {
			fol.user = user;
			fol.server = server;
			fol.cu = (struct catchup){ .l = m.l, .m = &m,
			    .seen = m.seen };
			fol.b = (struct wire_buf){ .max = HISTORY_LINE_MAX };
			m.follow = &fol;
			follow_start(&fol, m.l);
		}
		if (listener_status(m.l) == 0)
			listener_serve(m.l);
		for (size_t i = 0; i < CALLS_MAX; i++)
			if (m.calls[i].fd >= 0) {
				int fd = m.calls[i].fd;

				call_end(&m, &m.calls[i], NULL);
				close(fd);
			}
		if (m.follow != NULL) {
			if (fol.pid > 0)
				follow_end(&fol, m.l, true);
			wire_buf_free(&fol.b);
			free(fol.path);
		}
	}
	status = listener_status(m.l);
	listener_free(m.l);
	if (reg)
		reg_stop(&r, user, server);
	seen_close(m.seen);
	close(lfd);
	key_wipe(&keys.kp);
	sodium_memzero(keys.xsk, sizeof(keys.xsk));
	free(keys.pins);
	return status;
}
