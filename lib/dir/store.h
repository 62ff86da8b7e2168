/* store: the directory's storage interface (peers, friendships, messages).
 * The API speaks only to this header, so a second backend can be added
 * without touching it. store_open picks the backend by the database
 * argument: store_pg.c for a postgresql:// URL, else store_sqlite.c. */
#ifndef CHAT_STORE_H
#define CHAT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/valid.h"

enum store_status {
	STORE_OK = 0,
	STORE_NOT_FOUND,	/* a named peer does not exist */
	STORE_SAME_USER,	/* a friendship with oneself */
	STORE_FULL,		/* the disk is full: retry later */
	STORE_BUSY,		/* locked by another process: retry later */
	STORE_FAILED,		/* any other storage failure */
	STORE_NOT_OURS,		/* open: the file is not a chat-dird database */
	STORE_CORRUPT,		/* open: the file is damaged */
	STORE_TOO_NEW,		/* open: written by a newer chat-dird */
	STORE_IO,		/* open: cannot open or create the file */
	STORE_KEY_MISMATCH,	/* the name is bound to another key */
	STORE_INVALID,		/* publish: a bad name, or an event too large */
};

#define STORE_KEY_MAX 64	/* bytes of a public key, as text */
#define STORE_CANDIDATES_MAX 1024	/* bytes of a peer's candidates, as JSON */
/* Bytes of a published event's user, a newline and its JSON: PostgreSQL
 * refuses a NOTIFY payload of 8000 bytes or more. */
#define STORE_PUBLISH_MAX 7999

struct store_opts {
	const char *path;	/* a SQLite file, or a postgresql:// URL */
	bool sync_full;		/* SQLite: synchronous=FULL, survive power loss */
	int pool;		/* PostgreSQL: most connections (0: default) */
};

struct store_peer {
	char username[USERNAME_MAX + 1];
	char ip[64];
	int port;
	int64_t last_seen;	/* ms since the epoch */
	bool logged_out;
	char key[STORE_KEY_MAX + 1];	/* "" when the name has no key */
	/* The addresses the peer claims, a JSON array the API checked
	 * and the store keeps as it is; "" when none. */
	char candidates[STORE_CANDIDATES_MAX + 1];
};

/* Borrowed strings: valid only during the callback. */
struct store_message {
	int64_t id;
	const char *uid;
	const char *from;
	const char *to;
	const char *content;
	size_t content_len;
	int64_t ts;		/* ms since the epoch */
};

struct store_new_message {
	const char *sender;
	const char *receiver;
	const char *content;
	size_t content_len;
	const char *uid;	/* NULL: the store makes one */
	/* filled in by store_messages_create */
	char uid_made[UID_MAX + 1];
	int64_t id;
	int64_t ts;
	bool created;		/* false: the uid was stored before */
};

/* Callbacks return 0 to go on, non-zero to stop early. */
typedef int (*store_peer_fn)(void *arg, const struct store_peer *p);
typedef int (*store_message_fn)(void *arg, const struct store_message *m);

struct store;

/* True when the database argument names a PostgreSQL server. */
bool store_is_pg(const char *db);
/* Opens (creating and migrating as needed) the database. On failure *err
 * says why, and a file that is not ours is left untouched. */
enum store_status store_open(const struct store_opts *opts,
    struct store **out, char *err, size_t errlen);
void store_close(struct store *s);
const char *store_strerror(enum store_status st);
/* Schema version this program writes to a SQLite file. */
int store_schema_version(void);

enum store_status store_health(struct store *s);

/* Registers or updates a peer, atomically: a new name is created with key
 * (NULL or "": none); a known one is updated only when its key is NULL
 * (a key given is then bound to it: trust on first use) or equals key,
 * else nothing changes and the answer is STORE_KEY_MISMATCH. candidates
 * (NULL or "": none) replace the ones stored, at most
 * STORE_CANDIDATES_MAX bytes. *out is the peer as stored. */
enum store_status store_register(struct store *s, const char *username,
    const char *ip, int port, const char *key, const char *candidates,
    int64_t now, struct store_peer *out, bool *created);
/* Rotation: the key becomes new_key where it is old_key; otherwise
 * STORE_KEY_MISMATCH (or STORE_NOT_FOUND for an unknown name). */
enum store_status store_set_key(struct store *s, const char *username,
    const char *old_key, const char *new_key);
/* The operator's release: the name keeps its row, friendships and
 * messages but no key, so the next keyed registration binds it anew. */
enum store_status store_release(struct store *s, const char *username);
enum store_status store_peer_get(struct store *s, const char *username,
    struct store_peer *out);
enum store_status store_logout(struct store *s, const char *username);
/* Peers by username (ASCII case-insensitive), after `after` (NULL: from
 * the start), at most limit (< 0: no limit); online_since > 0 keeps only
 * peers seen since then and not logged out. */
enum store_status store_peers(struct store *s, const char *after,
    int64_t limit, int64_t online_since, store_peer_fn fn, void *arg);

/* user1 adds user2; friendship is mutual. */
enum store_status store_friend_add(struct store *s, const char *user1,
    const char *user2, bool *created);
enum store_status store_friends(struct store *s, const char *username,
    const char *after, int64_t limit, store_peer_fn fn, void *arg);

/* Stores all n messages in one transaction, or none. On STORE_NOT_FOUND
 * *bad is the index of the first message naming an unknown peer. */
enum store_status store_messages_create(struct store *s,
    struct store_new_message *msgs, size_t n, int64_t now, size_t *bad);

enum store_event_kind {
	STORE_EV_MESSAGE = 0,	/* a message committed: id, from, to */
	STORE_EV_PUBLISHED,	/* store_publish: user, json */
};

/* A message committed, or an event published, by this daemon or another
 * on the same database. Borrowed strings: valid only during the
 * callback. */
struct store_event {
	enum store_event_kind kind;
	int64_t id;
	const char *from;
	const char *to;
	const char *user;	/* published: whose streams it is for */
	const char *json;	/* published: one JSON object, one line */
};
/* ev NULL: events may have been missed (a lost connection, now back). */
typedef void (*store_event_fn)(void *arg, const struct store_event *ev);

/* From now on fn hears of every message committed and every event
 * published: on SQLite from the writing (or publishing) thread, after its
 * commit; on PostgreSQL from a thread of the store's that LISTENs on a
 * connection of its own (the writes NOTIFY in their transaction) and
 * reconnects by itself. Call at most once, before serving. */
enum store_status store_watch(struct store *s, store_event_fn fn, void *arg);

/* Publishes a live event for user's streams on every daemon of the
 * database: the watcher (store_watch) of each store open on it, this one
 * included, hears it once as a STORE_EV_PUBLISHED event. Nothing is kept:
 * a daemon not listening then never hears it (and hears NULL once it
 * listens again). On SQLite, one daemon per file, this store's watcher
 * hears it before the call returns; on PostgreSQL it is a NOTIFY on the
 * channel chat_push, heard by every LISTEN thread, this store's too, so
 * the publisher does not deliver it itself. STORE_INVALID when user is
 * no valid name, json holds a newline, or the two with a newline between
 * are over STORE_PUBLISH_MAX bytes. */
enum store_status store_publish(struct store *s, const char *user,
    const char *json);

/* Event streams, so that a daemon can tell whether a user can be called
 * on any daemon of the database: this daemon opened (open) or closed one
 * of user's streams. On PostgreSQL the store's LISTEN connection
 * (store_watch) holds a lock while user has a stream here, seen by every
 * session and gone with a daemon that dies; on SQLite, one daemon per
 * file, nothing is kept. */
void store_stream(struct store *s, const char *user, bool open);
/* *any: a daemon of the database holds one of user's streams, as its
 * lock shows (on PostgreSQL, where two names may share a lock, now and
 * then a stream of a name that shares it; on SQLite never: the caller
 * counts its own). */
enum store_status store_stream_any(struct store *s, const char *user,
    bool *any);

/* A conversation (peer2 != NULL: both ways between peer1 and peer2) or an
 * inbox (peer2 == NULL: messages to peer1), ids > after, oldest first, at
 * most limit (< 0: no limit). */
enum store_status store_messages(struct store *s, const char *peer1,
    const char *peer2, int64_t after, int64_t limit, store_message_fn fn,
    void *arg);
/* The `after` that leaves only the newest `last` of those messages. */
enum store_status store_messages_floor(struct store *s, const char *peer1,
    const char *peer2, int64_t after, int64_t last, int64_t *floor);

/* The database's plan for a named query ("conversation", "inbox", "peers",
 * "friends", "peer"), for tests and for operators checking that no query
 * scans a table. Returns false for an unknown name. */
bool store_plan(struct store *s, const char *query, char *out, size_t len);

#endif
