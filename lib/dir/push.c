/* push: server-sent event streams of the directory (GET /events), fed by
 * the store's events (messages, and events published through any
 * daemon); a stream with nothing to say is parked by its server, so a
 * waiting client holds no thread. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dir/push.h"
#include "core/valid.h"

#define STREAM_BUF (64 * 1024)	/* bytes queued for one stream, at most */
#define RING_MAX 4096		/* message events kept for resuming */
#define EVENT_MAX 512		/* bytes of one message event */

struct push_stream {
	struct push *p;
	char user[USERNAME_MAX + 1];
	char buf[STREAM_BUF];
	size_t len, off;
	bool resync;		/* events were dropped: say so */
	bool hello;		/* the opening comment is due */
	bool heartbeat;		/* a comment is due */
	bool parked;		/* suspended by its server */
	struct push_waker w;
	struct push_stream *prev, *next;
};

struct ring_event {
	int64_t id;
	char from[USERNAME_MAX + 1];
	char to[USERNAME_MAX + 1];
};

struct push {
	struct push_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct push_stream *streams;
	size_t nstreams;
	bool stopping;
	pthread_t ticker;
	bool ticking;
	/* The ring holds every message event with an id above floor that
	 * reached this daemon; floor_known is false until the first one
	 * after a start or a resync, when nothing is known. */
	struct ring_event ring[RING_MAX];
	size_t ring_head, ring_len;
	bool floor_known;
	int64_t floor;
};

static void
wake(struct push_stream *s)
{
	if (s->parked) {
		s->parked = false;
		if (s->w.resume != NULL)
			s->w.resume(s->w.arg);
	}
}

/* Appends an event to s, or marks it for a resync when it is full. */
static void
queue(struct push_stream *s, const char *ev, size_t n)
{
	if (s->resync)
		return;
	if (s->off > 0 && s->off == s->len)
		s->off = s->len = 0;
	if (s->len + n > sizeof(s->buf)) {
		s->resync = true;
		s->off = s->len = 0;
	} else {
		memcpy(s->buf + s->len, ev, n);
		s->len += n;
	}
	wake(s);
}

static size_t
message_event(char *out, size_t len, int64_t id, const char *from,
    const char *to)
{
	int n = snprintf(out, len, "id: %" PRId64 "\ndata: {\"type\":\"message\","
	    "\"id\":%" PRId64 ",\"from\":\"%s\",\"to\":\"%s\"}\n\n", id, id,
	    from, to);

	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static void *
ticker_main(void *arg)
{
	struct push *p = arg;
	struct timespec t;

	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += p->cfg.heartbeat_ms / 1000;
		t.tv_nsec += (p->cfg.heartbeat_ms % 1000) * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		while (!p->stopping && pthread_cond_timedwait(&p->cv, &p->mu,
		    &t) != ETIMEDOUT)
			;
		for (struct push_stream *s = p->streams; s != NULL; s = s->next) {
			s->heartbeat = true;
			wake(s);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct push *
push_new(const struct push_config *cfg)
{
	struct push *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->cfg = *cfg;
	if (p->cfg.max_streams == 0)
		p->cfg.max_streams = PUSH_MAX_STREAMS;
	if (p->cfg.max_per_user == 0)
		p->cfg.max_per_user = PUSH_MAX_PER_USER;
	if (p->cfg.heartbeat_ms <= 0)
		p->cfg.heartbeat_ms = PUSH_HEARTBEAT_MS;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return NULL;
	}
	if (pthread_cond_init(&p->cv, NULL) != 0 ||
	    pthread_create(&p->ticker, NULL, ticker_main, p) != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	p->ticking = true;
	return p;
}

void
push_shutdown(struct push *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	for (struct push_stream *s = p->streams; s != NULL; s = s->next)
		wake(s);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->ticking)
		pthread_join(p->ticker, NULL);
	p->ticking = false;
}

void
push_free(struct push *p)
{
	if (p == NULL)
		return;
	push_shutdown(p);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void
push_publish(struct push *p, const char *user, const char *json)
{
	/* As large as the store carries from another daemon. */
	char ev[STORE_PUBLISH_MAX + 16];
	int n;

	/* One line of data: a JSON object with a newline in it is no
	 * event a client could read back. */
	if (strchr(json, '\n') != NULL)
		return;
	n = snprintf(ev, sizeof(ev), "data: %s\n\n", json);
	if (n < 0 || (size_t)n >= sizeof(ev))
		return;
	pthread_mutex_lock(&p->mu);
	for (struct push_stream *s = p->streams; s != NULL; s = s->next)
		if (strcasecmp(s->user, user) == 0)
			queue(s, ev, (size_t)n);
	pthread_mutex_unlock(&p->mu);
}

/* A name valid_username took, into a ring slot: once for every message
 * stored, so not through snprintf. */
static void
copy_name(char dst[USERNAME_MAX + 1], const char *src)
{
	size_t n = strnlen(src, USERNAME_MAX);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
ring_add(struct push *p, const struct store_event *ev)
{
	struct ring_event *r;

	if (p->ring_len == RING_MAX) {
		/* The oldest goes: ids up to it are no longer all here. */
		r = &p->ring[p->ring_head];
		if (r->id > p->floor)
			p->floor = r->id;
		p->ring_head = (p->ring_head + 1) % RING_MAX;
		p->ring_len--;
	}
	if (!p->floor_known) {
		/* Ids come in commit order: any id below this one that did
		 * not reach us was committed before we listened. */
		p->floor_known = true;
		p->floor = ev->id - 1;
	}
	r = &p->ring[(p->ring_head + p->ring_len) % RING_MAX];
	r->id = ev->id;
	copy_name(r->from, ev->from);
	copy_name(r->to, ev->to);
	p->ring_len++;
}

void
push_store_event(void *arg, const struct store_event *ev)
{
	struct push *p = arg;
	char buf[EVENT_MAX];
	size_t n = 0;

	if (ev != NULL && ev->kind == STORE_EV_PUBLISHED) {
		push_publish(p, ev->user, ev->json);
		return;
	}
	if (ev != NULL && (!valid_username(ev->from) ||
	    !valid_username(ev->to)))
		return;
	pthread_mutex_lock(&p->mu);
	if (ev == NULL) {
		p->ring_len = 0;
		p->floor_known = false;
		for (struct push_stream *s = p->streams; s != NULL; s = s->next) {
			s->resync = true;
			wake(s);
		}
	} else {
		ring_add(p, ev);
		/* The line is made for the first stream that wants it: most
		 * messages have none. */
		for (struct push_stream *s = p->streams; s != NULL; s = s->next)
			if ((strcasecmp(s->user, ev->from) == 0 ||
			    strcasecmp(s->user, ev->to) == 0) && (n > 0 ||
			    (n = message_event(buf, sizeof(buf), ev->id, ev->from,
			    ev->to)) > 0))
				queue(s, buf, n);
	}
	pthread_mutex_unlock(&p->mu);
}

static int
ring_cmp(const void *a, const void *b)
{
	int64_t x = (*(struct ring_event *const *)a)->id;
	int64_t y = (*(struct ring_event *const *)b)->id;

	return x < y ? -1 : x > y;
}

/* Queues the ring's events of s->user above after, oldest first. */
static void
replay(struct push *p, struct push_stream *s, int64_t after)
{
	struct ring_event **hit = NULL;
	size_t nhit = 0;
	char buf[EVENT_MAX];
	size_t n;

	if (!p->floor_known || after < p->floor) {
		s->resync = true;
		return;
	}
	if (p->ring_len > 0 && (hit = calloc(p->ring_len,
	    sizeof(*hit))) == NULL) {
		s->resync = true;
		return;
	}
	for (size_t i = 0; i < p->ring_len; i++) {
		struct ring_event *r = &p->ring[(p->ring_head + i) % RING_MAX];

		if (r->id > after && (strcasecmp(r->from, s->user) == 0 ||
		    strcasecmp(r->to, s->user) == 0))
			hit[nhit++] = r;
	}
	if (nhit > 1)
		qsort(hit, nhit, sizeof(*hit), ring_cmp);
	for (size_t i = 0; i < nhit; i++)
		if ((n = message_event(buf, sizeof(buf), hit[i]->id,
		    hit[i]->from, hit[i]->to)) > 0)
			queue(s, buf, n);
	free(hit);
}

enum push_open
push_open(struct push *p, const char *user, bool has_after, int64_t after,
    struct push_stream **out)
{
	struct push_stream *s;
	size_t mine = 0;
	enum push_open res = PUSH_OPENED;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PUSH_NOMEM;
	s->p = p;
	snprintf(s->user, sizeof(s->user), "%s", user);
	s->hello = true;
	pthread_mutex_lock(&p->mu);
	for (struct push_stream *o = p->streams; o != NULL; o = o->next)
		mine += strcasecmp(o->user, user) == 0;
	if (p->stopping)
		res = PUSH_STOPPED;
	else if (p->nstreams >= p->cfg.max_streams)
		res = PUSH_FULL;
	else if (mine >= p->cfg.max_per_user)
		res = PUSH_USER_FULL;
	if (res == PUSH_OPENED) {
		if (has_after)
			replay(p, s, after);
		s->next = p->streams;
		if (p->streams != NULL)
			p->streams->prev = s;
		p->streams = s;
		p->nstreams++;
	}
	pthread_mutex_unlock(&p->mu);
	if (res != PUSH_OPENED) {
		free(s);
		return res;
	}
	if (p->cfg.store != NULL)
		store_stream(p->cfg.store, s->user, true);
	*out = s;
	return PUSH_OPENED;
}

void
push_set_waker(struct push_stream *s, const struct push_waker *w)
{
	pthread_mutex_lock(&s->p->mu);
	s->w = *w;
	pthread_mutex_unlock(&s->p->mu);
}

static size_t
take(char *buf, size_t max, const char *src, size_t n)
{
	if (n > max)
		n = max;
	memcpy(buf, src, n);
	return n;
}

ssize_t
push_read(struct push_stream *s, char *buf, size_t max)
{
	static const char hello[] = ": chat-dird events\n\n";
	static const char beat[] = ":\n\n";
	static const char resync[] = "data: {\"type\":\"resync\"}\n\n";
	struct push *p = s->p;
	ssize_t n = 0;

	pthread_mutex_lock(&p->mu);
	/* An event already begun is finished first: a resync or a comment
	 * never lands inside one. */
	if (s->hello && max >= sizeof(hello) - 1) {
		s->hello = false;
		n = (ssize_t)take(buf, max, hello, sizeof(hello) - 1);
	} else if (s->off < s->len) {
		n = (ssize_t)take(buf, max, s->buf + s->off, s->len - s->off);
		s->off += (size_t)n;
	} else if (p->stopping) {
		n = -1;
	} else if (s->resync && max >= sizeof(resync) - 1) {
		s->resync = false;
		s->heartbeat = false;
		n = (ssize_t)take(buf, max, resync, sizeof(resync) - 1);
	} else if (s->heartbeat && max >= sizeof(beat) - 1) {
		s->heartbeat = false;
		n = (ssize_t)take(buf, max, beat, sizeof(beat) - 1);
	} else {
		s->parked = true;
		if (s->w.suspend != NULL)
			s->w.suspend(s->w.arg);
	}
	if (n > 0)
		s->heartbeat = false;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void
push_close(struct push_stream *s)
{
	struct push *p;

	if (s == NULL)
		return;
	p = s->p;
	pthread_mutex_lock(&p->mu);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		p->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	p->nstreams--;
	pthread_mutex_unlock(&p->mu);
	if (p->cfg.store != NULL)
		store_stream(p->cfg.store, s->user, false);
	free(s);
}

size_t
push_count(struct push *p, const char *user)
{
	size_t n = 0;

	pthread_mutex_lock(&p->mu);
	for (struct push_stream *s = p->streams; s != NULL; s = s->next)
		n += user == NULL || strcasecmp(s->user, user) == 0;
	pthread_mutex_unlock(&p->mu);
	return n;
}
