/* store_backend: what each storage backend behind store.h provides, and
 * the struct every backend's handle begins with. Only backends and the
 * dispatch in store_backend.c include this. */
#ifndef CHAT_STORE_BACKEND_H
#define CHAT_STORE_BACKEND_H

#include "dir/store.h"

struct store_backend {
	enum store_status (*open)(const struct store_opts *opts,
	    struct store **out, char *err, size_t errlen);
	void (*close)(struct store *s);
	enum store_status (*health)(struct store *s);
	enum store_status (*reg)(struct store *s, const char *username,
	    const char *ip, int port, const char *key,
	    const char *candidates, int64_t now, struct store_peer *out,
	    bool *created);
	enum store_status (*set_key)(struct store *s, const char *username,
	    const char *old_key, const char *new_key);
	enum store_status (*release)(struct store *s, const char *username);
	enum store_status (*peer_get)(struct store *s, const char *username,
	    struct store_peer *out);
	enum store_status (*logout)(struct store *s, const char *username);
	enum store_status (*peers)(struct store *s, const char *after,
	    int64_t limit, int64_t online_since, store_peer_fn fn, void *arg);
	enum store_status (*friend_add)(struct store *s, const char *user1,
	    const char *user2, bool *created);
	enum store_status (*friends)(struct store *s, const char *username,
	    const char *after, int64_t limit, store_peer_fn fn, void *arg);
	enum store_status (*messages_create)(struct store *s,
	    struct store_new_message *msgs, size_t n, int64_t now,
	    size_t *bad);
	enum store_status (*messages)(struct store *s, const char *peer1,
	    const char *peer2, int64_t after, int64_t limit,
	    store_message_fn fn, void *arg);
	enum store_status (*messages_floor)(struct store *s,
	    const char *peer1, const char *peer2, int64_t after,
	    int64_t last, int64_t *floor);
	bool (*plan)(struct store *s, const char *query, char *out,
	    size_t len);
	enum store_status (*watch)(struct store *s, store_event_fn fn,
	    void *arg);
	/* Called with arguments store_publish checked. */
	enum store_status (*publish)(struct store *s, const char *user,
	    const char *json);
	/* Both NULL on a backend of one daemon per database. */
	void (*stream)(struct store *s, const char *user, bool open);
	enum store_status (*stream_any)(struct store *s, const char *user,
	    bool *any);
};

/* The first member of every backend's handle. */
struct store {
	const struct store_backend *be;
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

#endif
