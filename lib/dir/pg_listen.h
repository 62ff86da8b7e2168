/* pg_listen: one LISTEN connection to PostgreSQL, on a thread of its own,
 * turning the notifications of message writes and of published events
 * into store events. Part of the PostgreSQL backend (store_pg.c). */
#ifndef CHAT_PG_LISTEN_H
#define CHAT_PG_LISTEN_H

#include <stdbool.h>
#include <stdint.h>

#include "dir/store.h"

#define PG_LISTEN_CHANNEL "chat_messages"	/* "ID:FROM:TO" */
#define PG_PUSH_CHANNEL "chat_push"		/* "USER\nJSON" */
/* Stream presence: while a daemon holds an event stream of a user, its
 * LISTEN connection holds the shared advisory lock
 * (PG_STREAM_CLASS, pg_stream_key(user)), which any session of the
 * database sees in pg_locks; a daemon that dies drops its locks with its
 * connection. */
#define PG_STREAM_CLASS "1129534546"	/* "CSTR", for SQL */

struct pg_listen;

/* Connects in the background and keeps connecting: each time LISTEN is
 * (re)established, fn hears NULL (events may have been missed), then
 * each notification on either channel that parses, as a message or a
 * published event. NULL when the thread cannot start. */
struct pg_listen *pg_listen_start(const char *url, store_event_fn fn,
    void *arg);
void pg_listen_stop(struct pg_listen *l);

/* One of user's streams opened here (open) or closed. The thread takes
 * the user's lock at the first and drops it at the last, in the
 * background; after a reconnection it takes them all again. */
void pg_listen_stream(struct pg_listen *l, const char *user, bool open);

/* The lock's second key for user, ASCII case-insensitive: a hash, so two
 * names may share one (a stream of either then counts for both). */
int32_t pg_stream_key(const char *user);

#endif
