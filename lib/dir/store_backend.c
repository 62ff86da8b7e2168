/* store_backend: store.h's calls, passed to the backend store_open chose
 * by the database argument: a postgresql:// URL, else a SQLite file. */
#include <string.h>

#include "dir/store_backend.h"

bool
store_is_pg(const char *db)
{
	return strncmp(db, "postgresql://", 13) == 0 ||
	    strncmp(db, "postgres://", 11) == 0;
}

const char *
store_strerror(enum store_status st)
{
	switch (st) {
	case STORE_OK: return "ok";
	case STORE_NOT_FOUND: return "peer not found";
	case STORE_SAME_USER: return "a peer cannot befriend itself";
	case STORE_FULL: return "storage is full";
	case STORE_BUSY: return "storage is busy";
	case STORE_FAILED: return "storage failed";
	case STORE_NOT_OURS: return "not a chat-dird database";
	case STORE_CORRUPT: return "database is corrupt";
	case STORE_TOO_NEW: return "database is from a newer chat-dird";
	case STORE_IO: return "cannot open database";
	case STORE_KEY_MISMATCH: return "the name is bound to another key";
	case STORE_INVALID: return "invalid or oversized event";
	}
	return "unknown error";
}

enum store_status
store_open(const struct store_opts *opts, struct store **out, char *err,
    size_t errlen)
{
	const struct store_backend *be = store_is_pg(opts->path) ?
	    &store_pg_backend : &store_sqlite_backend;

	return be->open(opts, out, err, errlen);
}

void
store_close(struct store *s)
{
	if (s != NULL)
		s->be->close(s);
}

enum store_status
store_health(struct store *s)
{
	return s->be->health(s);
}

enum store_status
store_register(struct store *s, const char *username, const char *ip,
    int port, const char *key, const char *candidates, int64_t now,
    struct store_peer *out, bool *created)
{
	if (candidates != NULL && strlen(candidates) > STORE_CANDIDATES_MAX)
		return STORE_FAILED;
	return s->be->reg(s, username, ip, port, key, candidates, now, out,
	    created);
}

enum store_status
store_set_key(struct store *s, const char *username, const char *old_key,
    const char *new_key)
{
	return s->be->set_key(s, username, old_key, new_key);
}

enum store_status
store_release(struct store *s, const char *username)
{
	return s->be->release(s, username);
}

enum store_status
store_peer_get(struct store *s, const char *username, struct store_peer *out)
{
	return s->be->peer_get(s, username, out);
}

enum store_status
store_logout(struct store *s, const char *username)
{
	return s->be->logout(s, username);
}

enum store_status
store_peers(struct store *s, const char *after, int64_t limit,
    int64_t online_since, store_peer_fn fn, void *arg)
{
	return s->be->peers(s, after, limit, online_since, fn, arg);
}

enum store_status
store_friend_add(struct store *s, const char *user1, const char *user2,
    bool *created)
{
	return s->be->friend_add(s, user1, user2, created);
}

enum store_status
store_friends(struct store *s, const char *username, const char *after,
    int64_t limit, store_peer_fn fn, void *arg)
{
	return s->be->friends(s, username, after, limit, fn, arg);
}

enum store_status
store_messages_create(struct store *s, struct store_new_message *msgs,
    size_t n, int64_t now, size_t *bad)
{
	return s->be->messages_create(s, msgs, n, now, bad);
}

enum store_status
store_messages(struct store *s, const char *peer1, const char *peer2,
    int64_t after, int64_t limit, store_message_fn fn, void *arg)
{
	return s->be->messages(s, peer1, peer2, after, limit, fn, arg);
}

enum store_status
store_messages_floor(struct store *s, const char *peer1, const char *peer2,
    int64_t after, int64_t last, int64_t *floor)
{
	return s->be->messages_floor(s, peer1, peer2, after, last, floor);
}

bool
store_plan(struct store *s, const char *query, char *out, size_t len)
{
	return s->be->plan(s, query, out, len);
}

enum store_status
store_watch(struct store *s, store_event_fn fn, void *arg)
{
	return s->be->watch(s, fn, arg);
}

enum store_status
store_publish(struct store *s, const char *user, const char *json)
{
	/* Checked here so that both backends refuse the same events. */
	if (!valid_username(user) || json == NULL ||
	    strchr(json, '\n') != NULL ||
	    strlen(user) + 1 + strlen(json) > STORE_PUBLISH_MAX)
		return STORE_INVALID;
	return s->be->publish(s, user, json);
}

void
store_stream(struct store *s, const char *user, bool open)
{
	if (s->be->stream != NULL)
		s->be->stream(s, user, open);
}

enum store_status
store_stream_any(struct store *s, const char *user, bool *any)
{
	*any = false;
	return s->be->stream_any != NULL ? s->be->stream_any(s, user, any) :
	    STORE_OK;
}
