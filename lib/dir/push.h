/* push: the directory's push channel: server-sent event streams, one per
 * GET /events, fed by the store's events: messages, and events published
 * (store_publish) through any daemon. It knows no HTTP server: a stream
 * is read piecewise and asks its server, through a waker, to stop
 * polling it while it has nothing to say. */
#ifndef CHAT_PUSH_H
#define CHAT_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dir/store.h"

#define PUSH_MAX_STREAMS 1000		/* streams per daemon, by default */
#define PUSH_MAX_PER_USER 8		/* streams per user, by default */
#define PUSH_HEARTBEAT_MS 15000		/* a comment line this often */

struct push_config {
	size_t max_streams;	/* 0: PUSH_MAX_STREAMS */
	size_t max_per_user;	/* 0: PUSH_MAX_PER_USER */
	int64_t heartbeat_ms;	/* 0: PUSH_HEARTBEAT_MS */
	struct store *store;	/* told of each stream (store_stream), or NULL */
};

/* How a stream's server parks and wakes it. suspend is called from the
 * stream's own read, resume from any thread; both with push's lock held,
 * so a resume never reaches a stream that is gone or not parked. */
struct push_waker {
	void (*suspend)(void *arg);
	void (*resume)(void *arg);
	void *arg;
};

enum push_open {
	PUSH_OPENED,
	PUSH_FULL,		/* max_streams reached: 503 */
	PUSH_USER_FULL,		/* max_per_user reached: 429 */
	PUSH_STOPPED,		/* shutting down: 503 */
	PUSH_NOMEM,
};

struct push;
struct push_stream;

struct push *push_new(const struct push_config *cfg);
/* Ends every stream (their reads report the end) and refuses new ones;
 * call before stopping the server, then push_free once it has freed its
 * streams. */
void push_shutdown(struct push *p);
void push_free(struct push *p);

/* Publishes one event to the streams of user (ASCII case-insensitive) on
 * this daemon: json is one JSON object on one line, at most
 * STORE_PUBLISH_MAX bytes, sent as the data of an event without an id, so
 * it is live only: a stream that resumes later does not see it again.
 * The API publishes through store_publish instead, which reaches the
 * streams on every daemon of the database and ends here, once on each. */
void push_publish(struct push *p, const char *user, const char *json);

/* A store_event_fn: a message event goes to the streams of its sender
 * and of its receiver and into the replay ring; a published event goes
 * to push_publish; NULL (events may have been missed) sends every
 * stream a resync and empties the ring. */
void push_store_event(void *p, const struct store_event *ev);

/* Opens a stream for user. has_after: the client saw the events up to
 * the message id after (Last-Event-ID); those stored since are replayed
 * when the ring still holds all of them, else the stream begins with a
 * resync event. */
enum push_open push_open(struct push *p, const char *user, bool has_after,
    int64_t after, struct push_stream **out);
/* Before the first read. */
void push_set_waker(struct push_stream *s, const struct push_waker *w);
/* Copies up to max bytes of the stream into buf: the count; 0 when it has
 * nothing now (the waker's suspend was called: read again once resumed);
 * -1 at its end. */
ssize_t push_read(struct push_stream *s, char *buf, size_t max);
void push_close(struct push_stream *s);

/* Streams open now, in all and for user (NULL: all); for tests. */
size_t push_count(struct push *p, const char *user);

#endif
