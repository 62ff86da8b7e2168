/* pg_listen: the PostgreSQL backend's LISTEN connection, reconnecting by
 * itself, so that streams hear of writes made, and events published,
 * through any daemon. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dir/pg_listen.h"
#include "core/log.h"
#include "core/util.h"
#include "core/valid.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define HOLD_WAIT_MS 1000	/* a stream's opening waits for its lock */

/* A user with streams open here, and whether the LISTEN connection
 * holds the user's lock now. */
struct hold {
	char user[USERNAME_MAX + 1];	/* as first opened */
	size_t count;
	bool held;
};

struct pg_listen {
	char *url;
	store_event_fn fn;
	void *arg;
	int stop[2];		/* a pipe: written to stop the thread */
	int wake[2];		/* a pipe: written when streams change */
	pthread_t thread;
	pthread_mutex_t mu;	/* guards holds and up */
	pthread_cond_t held;	/* a lock taken, or the connection lost */
	struct hold *holds;
	size_t nholds, cap;
	bool up;		/* LISTENing on a connection */
};

int32_t
pg_stream_key(const char *user)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)user; *p; p++)
		h = (h ^ (uint32_t)tolower(*p)) * 16777619u;
	return (int32_t)(h & 0x7fffffff);
}

/* The user's entry, with mu held; NULL when there is none. */
static struct hold *
hold_of(struct pg_listen *l, const char *name)
{
	for (size_t i = 0; i < l->nholds; i++)
		if (strcasecmp(l->holds[i].user, name) == 0)
			return &l->holds[i];
	return NULL;
}

/* The next lock to take or drop: the user into name, *take: false when
 * the locks held match the streams. Forgets the users done with. */
static bool
next_change(struct pg_listen *l, char name[USERNAME_MAX + 1], bool *take)
{
	bool found = false;
	size_t j = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->nholds; i++) {
		struct hold *h = &l->holds[i];

		if (!found && (h->count > 0) != h->held) {
			found = true;
			*take = h->count > 0;
			memcpy(name, h->user, sizeof(h->user));
		}
		if (h->count > 0 || h->held)
			l->holds[j++] = *h;
	}
	l->nholds = j;
	pthread_mutex_unlock(&l->mu);
	return found;
}

/* Takes and drops locks on pg until they match the streams: false when
 * the connection fails (its locks are gone with it). */
static bool
sync_locks(struct pg_listen *l, PGconn *pg)
{
	char name[USERNAME_MAX + 1], key[16];
	const char *vals[] = { key };
	struct hold *h;
	bool take, ok;
	PGresult *r;

	while (next_change(l, name, &take)) {
		snprintf(key, sizeof(key), "%" PRId32, pg_stream_key(name));
		r = PQexecParams(pg, take ?
		    "SELECT pg_try_advisory_lock_shared(" PG_STREAM_CLASS
		    ", $1::int4)" : "SELECT pg_advisory_unlock_shared("
		    PG_STREAM_CLASS ", $1::int4)", 1, NULL, vals, NULL,
		    NULL, 0);
		ok = PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
		if (!ok)
			return false;
		pthread_mutex_lock(&l->mu);
		if ((h = hold_of(l, name)) != NULL)
			h->held = take;
		pthread_cond_broadcast(&l->held);
		pthread_mutex_unlock(&l->mu);
	}
	return true;
}

/* Up on a fresh connection, which holds no lock yet; or down. */
static void
set_up(struct pg_listen *l, bool up)
{
	pthread_mutex_lock(&l->mu);
	l->up = up;
	for (size_t i = 0; i < l->nholds; i++)
		l->holds[i].held = false;
	pthread_cond_broadcast(&l->held);
	pthread_mutex_unlock(&l->mu);
}

/* Until name's lock is held, while the connection is up, for at most
 * HOLD_WAIT_MS: once a stream has begun, every daemon sees it. */
static void
wait_held(struct pg_listen *l, const char *name)
{
	struct timespec t;
	struct hold *h;

	mono_deadline(&t, HOLD_WAIT_MS);
	pthread_mutex_lock(&l->mu);
	while (l->up && (h = hold_of(l, name)) != NULL && h->count > 0 &&
	    !h->held && pthread_cond_timedwait(&l->held, &l->mu, &t) == 0)
		;
	pthread_mutex_unlock(&l->mu);
}

void
pg_listen_stream(struct pg_listen *l, const char *user, bool open)
{
	struct hold *h;

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	h = hold_of(l, user);
	if (h == NULL && open) {
		if (l->nholds == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			struct hold *n = realloc(l->holds, cap * sizeof(*n));

			if (n != NULL) {
				l->holds = n;
				l->cap = cap;
			}
		}
		if (l->nholds < l->cap) {
			h = &l->holds[l->nholds++];
			memset(h, 0, sizeof(*h));
			snprintf(h->user, sizeof(h->user), "%s", user);
		}
	}
	if (h != NULL && open)
		h->count++;
	else if (h != NULL && h->count > 0)
		h->count--;
	pthread_mutex_unlock(&l->mu);
	if (h == NULL && open) {
		log_event("warn", "listen", json_pack("{s:s, s:s}", "user", user,
		    "error", "out of memory: the stream is not seen by the"
		    " other daemons"));
		return;
	}
	/* Full: a wake is pending already. */
	if (write(l->wake[1], "s", 1) < 0 && errno != EAGAIN) {
		log_event("warn", "listen", json_pack("{s:s}", "error",
		    "cannot wake the LISTEN thread"));
		return;
	}
	if (open)
		wait_held(l, user);
}

/* "ID:FROM:TO" into ev; false when it is no such thing. */
static bool
parse_message(char *payload, struct store_event *ev)
{
	char *from = strchr(payload, ':'), *to;

	if (from == NULL || (to = strchr(from + 1, ':')) == NULL)
		return false;
	*from++ = '\0';
	*to++ = '\0';
	ev->kind = STORE_EV_MESSAGE;
	ev->from = from;
	ev->to = to;
	return parse_int(payload, 1, INT64_MAX, &ev->id) &&
	    valid_username(from) && valid_username(to);
}

/* "USER\nJSON" (store_publish) into ev; false when it is no such thing. */
static bool
parse_published(char *payload, struct store_event *ev)
{
	char *json = strchr(payload, '\n');

	if (json == NULL)
		return false;
	*json++ = '\0';
	ev->kind = STORE_EV_PUBLISHED;
	ev->user = payload;
	ev->json = json;
	return valid_username(payload) && strchr(json, '\n') == NULL;
}

/* A notification into ev, by its channel. */
static bool
parse(const PGnotify *n, struct store_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (strcmp(n->relname, PG_LISTEN_CHANNEL) == 0)
		return parse_message(n->extra, ev);
	if (strcmp(n->relname, PG_PUSH_CHANNEL) == 0)
		return parse_published(n->extra, ev);
	return false;
}

/* Waits ms, or less when told to stop: true when told. */
static bool
stopped(struct pg_listen *l, int ms)
{
	struct pollfd p = { l->stop[0], POLLIN, 0 };

	return poll(&p, 1, ms) > 0;
}

static PGconn *
listen_conn(struct pg_listen *l)
{
	/* Keepalives: a server host that vanishes is noticed in seconds,
	 * not at the kernel's TCP timeout. */
	static const char *const keys[] = { "connect_timeout",
	    "application_name", "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "dbname", NULL };
	const char *vals[] = { "5", "chat-dird-listen", "10", "5", "3", l->url,
	    NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	PGresult *r;

	if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
		PQfinish(pg);
		return NULL;
	}
	r = PQexec(pg, "LISTEN " PG_LISTEN_CHANNEL "; LISTEN " PG_PUSH_CHANNEL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		PQclear(r);
		PQfinish(pg);
		return NULL;
	}
	PQclear(r);
	return pg;
}

/* Serves one connection until it fails (false) or the thread is told
 * to stop (true). */
static bool
serve(struct pg_listen *l, PGconn *pg)
{
	struct pollfd p[3] = { { PQsocket(pg), POLLIN, 0 },
	    { l->stop[0], POLLIN, 0 }, { l->wake[0], POLLIN, 0 } };
	PGnotify *n;
	char drain[64];

	for (;;) {
		if (!sync_locks(l, pg))
			return false;
		/* Those read along with the answers, then the new ones. */
		while ((n = PQnotifies(pg)) != NULL) {
			struct store_event ev;

			if (parse(n, &ev))
				l->fn(l->arg, &ev);
			PQfreemem(n);
		}
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (p[1].revents != 0)
			return true;
		if (p[2].revents != 0)
			while (read(l->wake[0], drain, sizeof(drain)) > 0)
				;
		if (p[0].revents != 0 && PQconsumeInput(pg) == 0)
			return false;
	}
}

static void *
listen_main(void *arg)
{
	struct pg_listen *l = arg;
	int wait = RETRY_MIN_MS;
	bool up = false;
	PGconn *pg;

	for (;;) {
		if ((pg = listen_conn(l)) == NULL) {
			if (up)
				log_event("warn", "listen", json_pack("{s:s}",
				    "error", "PostgreSQL's LISTEN connection is"
				    " down; reconnecting"));
			up = false;
			if (stopped(l, wait))
				return NULL;
			wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
			continue;
		}
		if (!up)
			log_event("info", "listen", json_pack("{s:[s,s]}",
			    "channels", PG_LISTEN_CHANNEL, PG_PUSH_CHANNEL));
		up = true;
		wait = RETRY_MIN_MS;
		set_up(l, true);
		/* Whatever was committed while no one listened. */
		l->fn(l->arg, NULL);
		if (serve(l, pg)) {
			PQfinish(pg);
			set_up(l, false);
			return NULL;
		}
		PQfinish(pg);
		set_up(l, false);
	}
}

struct pg_listen *
pg_listen_start(const char *url, store_event_fn fn, void *arg)
{
	struct pg_listen *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->fn = fn;
	l->arg = arg;
	l->stop[0] = l->stop[1] = l->wake[0] = l->wake[1] = -1;
	if ((l->url = strdup(url)) == NULL || pipe(l->stop) != 0 ||
	    pipe(l->wake) != 0 || fcntl(l->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(l->wake[1], F_SETFL, O_NONBLOCK) != 0 ||
	    pthread_mutex_init(&l->mu, NULL) != 0)
		goto fail;
	if (cond_init_mono(&l->held) != 0) {
		pthread_mutex_destroy(&l->mu);
		goto fail;
	}
	if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
		pthread_cond_destroy(&l->held);
		pthread_mutex_destroy(&l->mu);
		goto fail;
	}
	return l;
fail:
	for (int i = 0; i < 2; i++) {
		if (l->stop[i] >= 0)
			close(l->stop[i]);
		if (l->wake[i] >= 0)
			close(l->wake[i]);
	}
	free(l->url);
	free(l);
	return NULL;
}

void
pg_listen_stop(struct pg_listen *l)
{
	if (l == NULL)
		return;
	if (write(l->stop[1], "x", 1) != 1)
		log_event("warn", "listen", json_pack("{s:s}", "error",
		    "cannot stop the LISTEN thread"));
	else
		pthread_join(l->thread, NULL);
	for (int i = 0; i < 2; i++) {
		close(l->stop[i]);
		close(l->wake[i]);
	}
	pthread_cond_destroy(&l->held);
	pthread_mutex_destroy(&l->mu);
	free(l->holds);
	free(l->url);
	free(l);
}
