/* listener: the engine of chat-listen. Accepts peers on a listening
 * socket, takes their hello and messages, prints each message as a JSON
 * line and acknowledges it only once printed and recorded as seen. One
 * thread, epoll; the main's own descriptors (its helpers' pipes) can
 * share the loop. */
#ifndef CHAT_LISTENER_H
#define CHAT_LISTENER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "peer/seen.h"

#define LISTENER_PRINT_CHUNK 65536	/* bytes printed with one write */

struct listener;

struct listener_cfg {
	const char *user;	/* the user listened for */
	int lfd;		/* a listening socket, non-blocking */
	int outfd;		/* where messages are printed: stdout */
	size_t maxconns;
	int64_t handshake_ms, idle_ms;
	struct seen *seen;	/* NULL: no record, no duplicates dropped */
	/* Wire v2: the user's X25519 static secret and Ed25519 public key,
	 * and the pins file, all three or none; xsk NULL: v1 only. */
	const uint8_t *xsk;
	const unsigned char *edpk;
	const char *pins;
	bool plaintext;		/* v1 peers too */
	/* The directory's key for an unpinned v2 sender: 1 and ed, or 0
	 * when it has none or cannot say. NULL: not asked. */
	int (*dir_key)(void *arg, const char *peer, unsigned char ed[32]);
	volatile sig_atomic_t *stopping;	/* set: serve returns */
	/* A descriptor of the main's own (listener_watch) is readable. */
	void (*on_event)(void *arg, void *tag);
	/* After each round of events, at least every 200 ms. */
	void (*on_tick)(void *arg);
	void *arg;
};

/* NULL when out of memory, or (EINVAL) xsk without edpk and pins. The
 * listener does not own lfd nor seen. */
struct listener *listener_new(const struct listener_cfg *cfg);
/* Ends every connection ("stopping") and prints what waits. */
void listener_free(struct listener *l);

/* Serves until stopping is set or a failure sets the status. */
void listener_serve(struct listener *l);
/* 0, or the exit status of a failure that stops the listener (74: its
 * output could not be written). */
int listener_status(const struct listener *l);
void listener_set_status(struct listener *l, int status);

/* Queues j (which it takes) as a line to print. */
void listener_print(struct listener *l, json_t *j);
/* Bytes queued and not yet printed. */
size_t listener_pending(const struct listener *l);
/* Prints what is queued and records the uids seen: 0, or -1 with the
 * status set. */
int listener_commit(struct listener *l);

/* A connected socket made some other way (the relay, a punched hole)
 * is served as if accepted: the peer at its other end shakes hands and
 * says hello as a sender does. via and port name it in messages. 0, or
 * -1 when the listener cannot take it (closed). */
int listener_adopt(struct listener *l, int fd, const char *via, int port);

/* fd joins the loop (readable: on_event with tag), or leaves it. */
int listener_watch(struct listener *l, int fd, void *tag);
void listener_unwatch(struct listener *l, int fd);

#endif
