/* pg_listen: the PostgreSQL backend's LISTEN connection, reconnecting by
 * itself, so that streams hear of writes made, and events published,
 * through any daemon. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dir/pg_listen.h"
#include "core/log.h"
#include "core/util.h"
#include "core/valid.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

struct pg_listen {
	char *url;
	store_event_fn fn;
	void *arg;
	int stop[2];		/* a pipe: written to stop the thread */
	pthread_t thread;
};

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
	struct pollfd p[2] = { { PQsocket(pg), POLLIN, 0 },
	    { l->stop[0], POLLIN, 0 } };
	PGnotify *n;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (p[1].revents != 0)
			return true;
		if (PQconsumeInput(pg) == 0)
			return false;
		while ((n = PQnotifies(pg)) != NULL) {
			struct store_event ev;

			if (parse(n, &ev))
				l->fn(l->arg, &ev);
			PQfreemem(n);
		}
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
		/* Whatever was committed while no one listened. */
		l->fn(l->arg, NULL);
		if (serve(l, pg)) {
			PQfinish(pg);
			return NULL;
		}
		PQfinish(pg);
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
	if ((l->url = strdup(url)) == NULL || pipe(l->stop) != 0) {
		free(l->url);
		free(l);
		return NULL;
	}
	if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
		close(l->stop[0]);
		close(l->stop[1]);
		free(l->url);
		free(l);
		return NULL;
	}
	return l;
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
	close(l->stop[0]);
	close(l->stop[1]);
	free(l->url);
	free(l);
}
