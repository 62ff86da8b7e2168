/* api: the directory's HTTP API as plain functions: a request (method,
 * path, query arguments, body) in, a status and a JSON body out. It knows
 * nothing of the HTTP server, so tests and fuzzers call it directly. */
#ifndef CHAT_API_H
#define CHAT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dir/push.h"
#include "dir/relay.h"
#include "dir/store.h"

struct api_config {
	int64_t max_body;	/* bytes of request body */
	int64_t max_content;	/* bytes of one message's content */
	int64_t presence_ms;	/* online: registered within this window */
	/* identity (0 or false: the defaults) */
	bool require_keys;	/* refuse registrations without a key */
	int64_t auth_window_ms;	/* a signature's time, either way of now */
	size_t replay_slots;	/* signatures remembered within the window */
	struct push *push;	/* GET /events; NULL: no such endpoint */
	struct relay *relay;	/* POST /relay; NULL: no such endpoint */
};

/* Returns the query argument named key, or NULL. */
typedef const char *(*api_arg_fn)(void *ctx, const char *key);

struct api_request {
	const char *method;
	const char *path;
	api_arg_fn arg;
	void *arg_ctx;
	const char *body;
	size_t body_len;
	const char *remote;	/* numeric address the request came from */
	const char *target;	/* the request target as sent, path and
				 * query undecoded; NULL: path */
	const char *signature;	/* the Chat-Signature header, or NULL */
	const char *last_event_id;	/* the Last-Event-ID header, or NULL */
	const char *local;	/* numeric address the request reached;
				 * NULL: unknown */
};

struct api_stream;

struct api_response {
	int status;
	char *body;		/* malloc'd JSON; NULL when streaming */
	size_t body_len;
	const char *allow;	/* the Allow header of a 405 */
	struct api_stream *stream;	/* a list that is read piecewise */
	struct push_stream *events;	/* GET /events: text/event-stream */
};

struct api;

struct api *api_new(struct store *store, const struct api_config *cfg);
void api_free(struct api *api);

/* Fills *rs; the caller frees rs->body, rs->stream and rs->events. */
void api_handle(struct api *api, const struct api_request *rq,
    struct api_response *rs);
/* An error answer {"error": msg, "code": code} of the given status. */
void api_error(struct api_response *rs, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Copies up to max bytes of the list into buf: the count, 0 at its end,
 * -1 when the store failed midway (the body is then cut short). */
ssize_t api_stream_read(struct api_stream *s, char *buf, size_t max);
void api_stream_free(struct api_stream *s);

#endif
