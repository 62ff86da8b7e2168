/* pg_listen: one LISTEN connection to PostgreSQL, on a thread of its own,
 * turning the notifications of message writes and of published events
 * into store events. Part of the PostgreSQL backend (store_pg.c). */
#ifndef CHAT_PG_LISTEN_H
#define CHAT_PG_LISTEN_H

#include "dir/store.h"

#define PG_LISTEN_CHANNEL "chat_messages"	/* "ID:FROM:TO" */
#define PG_PUSH_CHANNEL "chat_push"		/* "USER\nJSON" */

struct pg_listen;

/* Connects in the background and keeps connecting: each time LISTEN is
 * (re)established, fn hears NULL (events may have been missed), then
 * each notification on either channel that parses, as a message or a
 * published event. NULL when the thread cannot start. */
struct pg_listen *pg_listen_start(const char *url, store_event_fn fn,
    void *arg);
void pg_listen_stop(struct pg_listen *l);

#endif
