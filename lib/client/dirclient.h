/* dirclient: the directory's HTTP API as C calls, over one libcurl handle
 * per client (keep-alive, connect and total timeouts). Results come back
 * as jansson objects in the programs' output form. */
#ifndef CHAT_DIRCLIENT_H
#define CHAT_DIRCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sodium.h>

#include "sec/sig.h"

#define DC_SERVER_DEFAULT "http://127.0.0.1:8000"
#define DC_TIMEOUT_MS 10000		/* a whole request, by default */
#define DC_CONNECT_TIMEOUT_MS 3000	/* its connection, at most */
#define DC_PAGE 1000			/* items asked for per page */
#define DC_ANSWER_MAX (256L << 20)	/* bytes of one answer, at most */

enum dc_status {
	DC_OK = 0,
	DC_NOT_FOUND,		/* 404 peer_not_found: unknown user (67) */
	DC_REJECTED,		/* the server refused the request: 4xx (65) */
	DC_DENIED,		/* 401, 403: not signed as who may (77) */
	DC_UNAVAILABLE,		/* cannot connect, timed out, 5xx (69) */
	DC_TEMPFAIL,		/* 503: the server asks to retry later (75) */
	DC_PROTOCOL,		/* not a chat directory's answer (76) */
	DC_INTERNAL,		/* out of memory and the like (70) */
	DC_CANCELLED,		/* the cancel callback stopped it (75) */
};

struct dirclient;

/* A client of the directory at server (an http or https URL, maybe with a
 * path prefix). timeout_ms bounds each request (0: DC_TIMEOUT_MS). NULL
 * with err set when server is not such a URL (errno EINVAL) or libcurl
 * cannot start (ENOMEM). */
struct dirclient *dc_new(const char *server, long timeout_ms, char *err,
    size_t errlen);
void dc_free(struct dirclient *dc);
/* The last failure as "what: why", for "program: what: why". */
const char *dc_error(const struct dirclient *dc);
/* The sysexits(3) status a program exits with for st. */
int dc_exit_status(enum dc_status st);

/* Called during transfers; a non-zero return stops the request, which
 * then fails with DC_CANCELLED. */
typedef int (*dc_cancel_fn)(void *arg);
void dc_set_cancel(struct dirclient *dc, dc_cancel_fn fn, void *arg);

/* From now on every request is signed as user with sk (copied, wiped at
 * dc_free), and registrations of user carry its public key. NULL user:
 * sign no more. */
void dc_set_signer(struct dirclient *dc, const char *user,
    const unsigned char sk[crypto_sign_SECRETKEYBYTES]);
/* Replaces user's key at the directory by the one of new_sk, in a request
 * signed by the current signer and proved by the new key. */
enum dc_status dc_rotate(struct dirclient *dc, const char *user,
    const unsigned char new_sk[crypto_sign_SECRETKEYBYTES]);

/* Requests after the first SESSION_AFTER signed ones go in a session
 * (chat-protocol(7)): MACs under a key shared with the directory stand in
 * for signatures. dc_session opens one now, if none is open, and gives
 * its id and key (for benchmarks and tests). */
enum dc_status dc_session(struct dirclient *dc, char sid[SIG_SID_LEN + 1],
    unsigned char key[SIG_KEYLEN]);

/* Lists hand their items one by one to a callback, a page at a time, so
 * memory stays constant however long the list. The item is borrowed; a
 * non-zero return stops the list early (the call still returns DC_OK). */
typedef int (*dc_item_fn)(void *arg, json_t *item);

/* Peers: {"username","ip","port","online","last_seen"}. */

/* Registers or updates (a heartbeat) a peer. ip NULL: the server records
 * the address the request came from. *peer: the peer as recorded, with
 * "created" and "observed_ip"; the caller decrefs it. */
enum dc_status dc_register(struct dirclient *dc, const char *user,
    const char *ip, int port, json_t **peer);
/* dc_register with candidates (NULL: none): a JSON array of
 * {"ip","port","type"} (chat-protocol(7)); *peer then has the
 * "candidates" the directory stored. */
enum dc_status dc_register_with(struct dirclient *dc, const char *user,
    const char *ip, int port, json_t *candidates, json_t **peer);
enum dc_status dc_peerinfo(struct dirclient *dc, const char *user,
    json_t **peer);
/* Every peer (online_only: those online), sorted by name. */
enum dc_status dc_peers(struct dirclient *dc, bool online_only,
    dc_item_fn fn, void *arg);
/* Marks user offline until it registers again. */
enum dc_status dc_logout(struct dirclient *dc, const char *user);

/* Friends are peers too. */
enum dc_status dc_friends(struct dirclient *dc, const char *user,
    dc_item_fn fn, void *arg);
/* user adds friend; *created: they were not friends before. */
enum dc_status dc_friend_add(struct dirclient *dc, const char *user,
    const char *friend, bool *created);

/* Messages: {"id","uid","from","to","text","ts"}. */

struct dc_query {
	const char *user;	/* whose messages */
	const char *peer;	/* the conversation with peer; NULL: inbox */
	int64_t after;		/* only ids above this */
	int64_t last;		/* > 0: only the newest last of them */
};

/* Oldest first. */
enum dc_status dc_messages(struct dirclient *dc, const struct dc_query *q,
    dc_item_fn fn, void *arg);

struct dc_outgoing {
	const char *from;
	const char *to;
	const char *text;	/* UTF-8 */
	const char *uid;	/* NULL: the server makes one */
	/* filled in when stored */
	int64_t id;
	bool created;		/* false: the uid was stored before */
};

/* Stores one message; a repeated uid stores nothing and gives the first
 * id. */
enum dc_status dc_send(struct dirclient *dc, struct dc_outgoing *m);
/* Stores n messages at once, all or none. */
enum dc_status dc_send_batch(struct dirclient *dc, struct dc_outgoing *m,
    size_t n);

/* The address of the local interface that reaches the server, found
 * without sending anything (a connected UDP socket). -1 when unknown. */
int dc_local_ip(const struct dirclient *dc, char *out, size_t outlen);

/* The pure parts, for tests. */

/* server + path + "?k=v&..." from a NULL-terminated list of key, value
 * pairs (NULL values are skipped), escaped; malloc'd, NULL on no memory. */
char *dc_url(const char *server, const char *path, const char *const *query);
/* What a curl result (a CURLcode) means. */
enum dc_status dc_curl_status(int curlcode);
/* What an HTTP status with its parsed body (maybe NULL) means. */
enum dc_status dc_http_status(long http, const json_t *body);
/* A message of the API ({"message",...}) in the output form ("text"), or
 * NULL when it is not one. */
json_t *dc_message_out(const json_t *api);
/* A peer of the API in the output form, or NULL when it is not one. */
json_t *dc_peer_out(const json_t *api);

#endif
