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

#include "net/netaddr.h"
#include "sec/sig.h"

#define DC_SERVER_DEFAULT "http://127.0.0.1:8000"
#define DC_TIMEOUT_MS 10000		/* a whole request, by default */
#define DC_CONNECT_TIMEOUT_MS 3000	/* its connection, at most */
#define DC_PAGE 1000			/* items asked for per page */
#define DC_ANSWER_MAX (256L << 20)	/* bytes of one answer, at most */
#define DC_BATCH_BYTES (900 << 10)	/* of one batch request, at most
					 * (chat-dird takes 1 MiB) */

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
	DC_UNSUPPORTED,		/* 404 not_found: an older directory (69) */
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
/* From now on, with a signer set: what the signer stores for a peer with
 * a key is sealed to that key and the signer's (chat-protocol(7), SEALED
 * ENVELOPES), peers' keys pinned on first use in the file pins; what
 * goes to a peer without a key stays plain text. false: no memory. */
bool dc_set_pins(struct dirclient *dc, const char *pins);
/* Opens m (a message as dc_messages gives it) in place when it is sealed:
 * "text" the text, "sealed" true. 0: opened, or plain text; -1: forged,
 * altered or not to be opened with the keys at hand, why says why. */
int dc_open(struct dirclient *dc, json_t *m, char *why, size_t whylen);
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

/* dc_peerinfo, and the peer's "candidates" as the directory lists them
 * (an array of {"ip","port","type"}, observed first), when it has any. */
enum dc_status dc_peerinfo_ext(struct dirclient *dc, const char *user,
    json_t **peer);
/* POST /relay, user asking: a one-time token (64 hex digits) for the
 * relay at relay ("HOST:PORT"); the directory calls peer with it, and
 * with cands (NULL: none), user's candidates at port, to punch towards. DC_UNSUPPORTED:
 * a directory without a relay; DC_NOT_FOUND: no such peer; DC_REJECTED:
 * refused (the peer has no event stream to be rung on, or too many
 * asked). */
enum dc_status dc_relay(struct dirclient *dc, const char *user,
    const char *peer, json_t *cands, int port, char token[65],
    char relay[NETADDR_HOSTLEN + 8]);

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
 * id. Sealed when dc_set_pins says so; a message without a uid then gets
 * one (which the caller does not learn). */
enum dc_status dc_send(struct dirclient *dc, struct dc_outgoing *m);
/* Stores n messages at once, all or none; but when they take more than
 * DC_BATCH_BYTES in a request (as sealed ones may), in as many requests,
 * in order, each all or none: a failure leaves those before it stored,
 * their ids set. */
enum dc_status dc_send_batch(struct dirclient *dc, struct dc_outgoing *m,
    size_t n);

/* dc_send_batch in two steps, which two threads may take, each with its
 * own dirclient, so that one batch is sealed while the one before it is
 * posted. dc_seal makes m[0..n) ready: a uid for each without one, and
 * what it stores, sealed when dc_set_pins says so (peers' keys looked up
 * through dc). dc_post stores the ready messages [from, from + n) through
 * any dirclient of the same user: one alone as dc_send does, more as
 * dc_send_batch does; it sets their ids in m, which must stay until
 * dc_ready_free. */
struct dc_ready;
enum dc_status dc_seal(struct dirclient *dc, struct dc_outgoing *m, size_t n,
    struct dc_ready **r);
enum dc_status dc_post(struct dirclient *dc, struct dc_ready *r, size_t from,
    size_t n);
void dc_ready_free(struct dc_ready *r);

/* Events of the push channel (GET /events, chat-protocol(7)): each is
 * one JSON object, {"type":"message","id","from","to"}, {"type":"resync"}
 * or another type. Borrowed; a non-zero return ends the stream. */
typedef int (*dc_event_fn)(void *arg, json_t *event);

#define DC_EVENT_LINE_MAX 4096	/* bytes of one line of the stream */
#define DC_EVENT_IDLE_MS 45000	/* silence (three heartbeats) ends it */

/* Reads user's event stream, resuming after the message id after when
 * has_after, until the server ends it (DC_OK), fn stops it (DC_OK), it
 * fails, or it is silent for DC_EVENT_IDLE_MS (DC_UNAVAILABLE). A
 * directory without the channel gives DC_UNSUPPORTED. The stream holds
 * dc's handle: fn makes its requests through another client. */
enum dc_status dc_events(struct dirclient *dc, const char *user,
    bool has_after, int64_t after, dc_event_fn fn, void *arg);

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
