/* sender: the engine of chat-send. Reads messages (lines of text, or
 * chat-send --json objects) from a descriptor, sends them to the peer
 * pipelined over one connection, reconnects once when it breaks, stores
 * every message in the directory from a thread of its own, and reports
 * each message's fate as one JSON line, in order. */
#ifndef CHAT_SENDER_H
#define CHAT_SENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client/dirclient.h"
#include "net/netaddr.h"
#include "sec/noise.h"

struct sender;

/* How a message reached the peer: the status lines' "path". */
enum sender_path {
	SENDER_PATH_NONE,	/* not delivered */
	SENDER_PATH_DIRECT,	/* a connection to one of its addresses */
	SENDER_PATH_PUNCHED,	/* a hole punched through both NATs */
	SENDER_PATH_RELAYED,	/* spliced by the directory's relay */
};

/* An address the peer may be reached at. */
struct sender_cand {
	char host[NETADDR_HOSTLEN];
	int port;
};

/* When no address answers: a connection to the peer made some other way
 * (a punched hole, the relay), within timeout_ms; its path, and where it
 * goes for messages, in *path, host and *port. -1 with why in err. */
typedef int (*sender_fallback_fn)(void *arg, int64_t timeout_ms,
    enum sender_path *path, char host[NETADDR_HOSTLEN], int *port,
    char *err, size_t errlen);

struct sender_cfg {
	const char *user, *peer;
	const char *host;	/* where the peer listens; NULL: offline */
	int port;
	/* More addresses to try after host:port, in order, each for a few
	 * seconds when there are several: its candidates. */
	const struct sender_cand *cands;
	size_t ncands;
	bool no_direct;		/* the fallback only, not the addresses */
	sender_fallback_fn fallback;	/* NULL: none */
	void *fallback_arg;
	struct dirclient *store;	/* the posting thread's; NULL: none */
	/* The sealing thread's, which seals one batch while the one before
	 * is posted: another dirclient of the same user, needed with store. */
	struct dirclient *seal;
	bool json;		/* input lines are chat-send --json objects */
	int64_t timeout_ms;	/* connect, hello, and each ack */
	int reconnects;		/* tries after a broken connection */
	int infd;		/* the input; -1: none (sender_add only) */
	FILE *out;		/* the status lines */
	/* Wire v2, unless plaintext: the user's X25519 static secret and
	 * Ed25519 public key, the pins file, and the directory's key for
	 * the peer (NULL: none known). Noise_IK when the peer's key is
	 * pinned or the directory's, else Noise_XX. */
	bool plaintext;
	const uint8_t *xsk;
	const unsigned char *edpk;
	const char *pins;
	const unsigned char *dirkey;
	enum noise_hash hash;
};

/* NULL when out of memory, or (EINVAL) v2 without its keys or store
 * without seal. */
struct sender *sender_new(const struct sender_cfg *cfg);
void sender_free(struct sender *s);
/* Connects and shakes hands: true, or false said on stderr (the messages
 * will be stored only). */
bool sender_open(struct sender *s);
/* One message before the run (chat-send's TEXT words). */
void sender_add(struct sender *s, const char *text, size_t len);
/* Sends, stores and reports until the input ends and every message is
 * reported: the exit status (0, 65 a bad input line, 69 a message
 * neither delivered nor stored). */
int sender_run(struct sender *s);

#endif
