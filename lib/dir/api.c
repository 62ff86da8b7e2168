/* api: the directory's HTTP API as plain functions. Requests are parsed
 * and answers built with jansson; lists are written row by row so that an
 * unpaged list of any length takes constant memory. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "dir/api.h"
#include "dir/auth.h"
#include "core/jarena.h"
#include "core/jsonw.h"
#include "core/util.h"
#include "core/valid.h"
#include "net/netaddr.h"
#include "sec/keys.h"
#include "sec/sig.h"

#define USERNAME_RULE \
	"a username is 1 to 50 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
#define PAGE_MAX 1000		/* largest ?limit= */
#define BATCH_MAX 10000		/* most messages in one create */
#define FETCH_ROWS 256		/* rows a list reads from the store at once */
#define FETCH_BYTES (256 * 1024)	/* ...or until this much is buffered */
#define CANDIDATES_MAX 8	/* addresses a peer may claim */

struct api {
	struct store *store;
	struct api_config cfg;
	struct auth *auth;
};

struct api *
api_new(struct store *store, const struct api_config *cfg)
{
	struct api *api = calloc(1, sizeof(*api));
	struct auth_config ac;

	if (api == NULL)
		return NULL;
	api->store = store;
	api->cfg = *cfg;
	if (api->cfg.auth_window_ms <= 0)
		api->cfg.auth_window_ms = AUTH_WINDOW_MS;
	if (api->cfg.replay_slots == 0)
		api->cfg.replay_slots = AUTH_REPLAY_SLOTS;
	ac = (struct auth_config){ api->cfg.auth_window_ms,
	    api->cfg.replay_slots };
	if (sodium_init() < 0 || (api->auth = auth_new(&ac)) == NULL) {
		free(api);
		return NULL;
	}
	return api;
}

void
api_free(struct api *api)
{
	if (api == NULL)
		return;
	auth_free(api->auth);
	free(api);
}

/* --- answers --- */

static void
answer(struct api_response *rs, int status, json_t *o)
{
	static const char oom[] =
	    "{\"error\":\"out of memory\",\"code\":\"internal\"}\n";
	struct jsonw w = { 0 };

	/* A line: so that curl's output ends where the answer does. */
	jw_json(&w, o);
	jw_lit(&w, "\n\0");
	json_decref(o);
	rs->status = status;
	if (w.failed) {
		jw_free(&w);
		rs->status = 500;
		jw_raw(&w, oom, sizeof(oom));
	}
	rs->body = w.data;
	rs->body_len = w.failed || w.len == 0 ? 0 : w.len - 1;
}

void
api_error(struct api_response *rs, int status, const char *code,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* jansson's parse errors quote the input, which may not be UTF-8,
	 * and the cut above may split a character: keep the valid part. */
	for (size_t n = strlen(msg); n > 0 && !valid_utf8(msg, n);)
		msg[--n] = '\0';
	answer(rs, status, json_pack("{s:s, s:s}", "error", msg, "code", code));
}

static void
store_error(struct api_response *rs, enum store_status st)
{
	switch (st) {
	case STORE_NOT_FOUND:
		api_error(rs, 404, "peer_not_found", "Peer not found");
		break;
	case STORE_SAME_USER:
		api_error(rs, 400, "same_user", "user1 and user2 are the same");
		break;
	case STORE_FULL:
		api_error(rs, 503, "storage_full", "storage is full; try later");
		break;
	case STORE_BUSY:
		api_error(rs, 503, "store_busy", "storage is busy; try later");
		break;
	case STORE_KEY_MISMATCH:
		api_error(rs, 403, "key_mismatch", "the name is bound to another"
		    " key");
		break;
	default:
		api_error(rs, 503, "store_failed", "storage failed: %s",
		    store_strerror(st));
		break;
	}
}

/* --- request fields --- */

static json_t *
body_object(const struct api_request *rq, struct api_response *rs)
{
	json_error_t e;
	json_t *o;

	if (rq->body_len == 0) {
		api_error(rs, 400, "invalid_json", "a JSON object body is required");
		return NULL;
	}
	o = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &e);
	if (o == NULL) {
		api_error(rs, 400, "invalid_json", "invalid JSON: %s", e.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		api_error(rs, 400, "invalid_json", "the body must be a JSON object");
		return NULL;
	}
	return o;
}

/* A required username field of a JSON object. */
static const char *
field_user(json_t *o, const char *field, struct api_response *rs)
{
	json_t *v = json_object_get(o, field);

	if (v == NULL || json_is_null(v)) {
		api_error(rs, 400, "invalid_field", "%s is required", field);
		return NULL;
	}
	if (!json_is_string(v)) {
		api_error(rs, 400, "invalid_field", "%s must be a string", field);
		return NULL;
	}
	if (!valid_username(json_string_value(v))) {
		api_error(rs, 400, "invalid_username", "%s: %s", field,
		    USERNAME_RULE);
		return NULL;
	}
	return json_string_value(v);
}

/* A required username query argument. */
static const char *
arg_user(const struct api_request *rq, const char *key,
    struct api_response *rs)
{
	const char *v = rq->arg(rq->arg_ctx, key);

	if (v == NULL || *v == '\0') {
		api_error(rs, 400, "invalid_field", "%s is required", key);
		return NULL;
	}
	if (!valid_username(v)) {
		api_error(rs, 400, "invalid_username", "%s: %s", key,
		    USERNAME_RULE);
		return NULL;
	}
	return v;
}

/* An optional integer query argument; *out keeps its value when absent. */
static bool
arg_int(const struct api_request *rq, const char *key, int64_t min,
    int64_t max, int64_t *out, struct api_response *rs)
{
	const char *v = rq->arg(rq->arg_ctx, key);

	if (v == NULL)
		return true;
	if (!parse_int(v, min, max, out)) {
		api_error(rs, 400, "bad_param", "%s must be an integer from %lld"
		    " to %lld", key, (long long)min, (long long)max);
		return false;
	}
	return true;
}

/* --- lists, written row by row --- */

enum list_kind { L_PEERS, L_FRIENDS, L_MESSAGES };

struct api_stream {
	struct api *api;
	enum list_kind kind;
	const char *key;
	char name1[USERNAME_MAX + 1];
	char name2[USERNAME_MAX + 1];	/* empty: the inbox of name1 */
	int64_t online_since;
	char after_name[USERNAME_MAX + 1];
	int64_t after_id;
	int64_t remaining;	/* rows still to write; < 0: all */
	bool more;		/* rows remain past the limit: say "next" */
	bool exhausted;		/* no more rows to read */
	bool stopped;		/* the last read stopped at FETCH_BYTES */
	bool finished;		/* the closing bracket is buffered */
	bool first;
	size_t rows;		/* rows seen in this fetch */
	int64_t now;
	struct jsonw out;	/* written, from off on not yet read */
	size_t off;
};

/* --- who is asking --- */

/* A request's signature: parsed once, checked at most once. */
struct who {
	bool have;		/* a well-formed header came */
	struct sig_parts p;
	bool verified;		/* p.user's key signed this request */
};

/* Parses the Chat-Signature header, if any, answering 401 when it is
 * malformed. */
static bool
who_of(const struct api_request *rq, struct who *w, struct api_response *rs)
{
	memset(w, 0, sizeof(*w));
	if (rq->signature == NULL)
		return true;
	if (!sig_parse(rq->signature, &w->p)) {
		api_error(rs, 401, "bad_signature_header", SIG_HEADER " must be"
		    " \"v1 USER TIME SIGNATURE\" (chat-protocol(7))");
		return false;
	}
	w->have = true;
	return true;
}

/* Whether w's signature is pk's over this request, answering the refusal
 * when it is not. */
static bool
verify(struct api *api, const struct api_request *rq, struct who *w,
    const unsigned char *pk, const char *key, struct api_response *rs)
{
	const char *target = rq->target != NULL ? rq->target : rq->path;
	enum auth_result r;

	if (w->p.session)
		r = auth_check_session(api->auth, &w->p, key, rq->method,
		    target, rq->body, rq->body_len, now_ms());
	else
		r = auth_check(api->auth, &w->p, pk, rq->method, target,
		    rq->body, rq->body_len, now_ms());
	switch (r) {
	case AUTH_OK:
		w->verified = true;
		return true;
	case AUTH_STALE:
		api_error(rs, 401, "stale_signature", "the signature's time is"
		    " more than %lld s away from the directory's clock",
		    (long long)(api->cfg.auth_window_ms / 1000));
		break;
	case AUTH_BAD:
		api_error(rs, 401, "bad_signature", "the signature is not %s's"
		    " over this request", w->p.user);
		break;
	case AUTH_REPLAY:
		api_error(rs, 401, "replayed_signature", "this signature was"
		    " seen before");
		break;
	case AUTH_FULL:
		api_error(rs, 503, "replay_cache_full", "too many signed"
		    " requests; try later");
		break;
	case AUTH_NO_SESSION:
		api_error(rs, 401, "unknown_session", "no such session of %s:"
		    " sign with the key, or open a session", w->p.user);
		break;
	}
	return false;
}

/* Whether the request may act for, or read the private data of, the
 * peer p: yes when p has no key; else only with p's signature. */
static bool
may_act(struct api *api, const struct api_request *rq, struct who *w,
    const struct store_peer *p, struct api_response *rs)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];

	if (p->key[0] == '\0')
		return true;
	if (!w->have) {
		api_error(rs, 401, "signature_required", "%s has a key: the"
		    " request must be signed with it", p->username);
		return false;
	}
	if (strcasecmp(w->p.user, p->username) != 0) {
		api_error(rs, 403, "forbidden", "signed by %s, not by %s",
		    w->p.user, p->username);
		return false;
	}
	if (w->verified)
		return true;
	if (!key_parse(p->key, pk)) {
		api_error(rs, 503, "store_failed", "%s's stored key is damaged",
		    p->username);
		return false;
	}
	return verify(api, rq, w, pk, p->key, rs);
}

/* may_act for a peer by name; an unknown name passes, for the handler
 * to answer as it always has. */
static bool
may_act_as(struct api *api, const struct api_request *rq, struct who *w,
    const char *user, struct api_response *rs)
{
	struct store_peer p;
	enum store_status st = store_peer_get(api->store, user, &p);

	if (st == STORE_NOT_FOUND)
		return true;
	if (st != STORE_OK) {
		store_error(rs, st);
		return false;
	}
	return may_act(api, rq, w, &p, rs);
}

static void
put(struct api_stream *s, const char *p, size_t n)
{
	jw_raw(&s->out, p, n);
}

static void
puts_raw(struct api_stream *s, const char *p)
{
	jw_raw(&s->out, p, strlen(p));
}

static void
put_str(struct api_stream *s, const char *p, size_t n)
{
	jw_str(&s->out, p, n);
}

static void
put_int(struct api_stream *s, int64_t v)
{
	jw_int(&s->out, v);
}

static void
put_ts(struct api_stream *s, int64_t ms)
{
	char ts[TS_LEN];

	ts_format(ms, ts);
	put(s, "\"", 1);
	put(s, ts, TS_LEN - 1);
	put(s, "\"", 1);
}

static bool
is_online(const struct api *api, const struct store_peer *p, int64_t now)
{
	return !p->logged_out && now - p->last_seen <= api->cfg.presence_ms;
}

/* Opens a row; false when the limit is reached (one row past it says
 * that more remain). */
static bool
row_begin(struct api_stream *s)
{
	s->rows++;
	if (s->remaining == 0) {
		s->more = true;
		return false;
	}
	puts_raw(s, s->first ? "{" : ",{");
	s->first = false;
	return true;
}

/* Closes a row; non-zero stops the store's reading: the buffer is full
 * for now, or writing failed. */
static int
row_end(struct api_stream *s)
{
	puts_raw(s, "}");
	if (s->remaining > 0)
		s->remaining--;
	s->stopped = s->out.len >= FETCH_BYTES;
	return s->out.failed || s->stopped;
}

static int
row_peer(void *arg, const struct store_peer *p)
{
	struct api_stream *s = arg;

	if (!row_begin(s))
		return 1;
	puts_raw(s, "\"username\":");
	put_str(s, p->username, strlen(p->username));
	puts_raw(s, ",\"ip\":");
	put_str(s, p->ip, strlen(p->ip));
	puts_raw(s, ",\"port\":");
	put_int(s, p->port);
	puts_raw(s, is_online(s->api, p, s->now) ? ",\"online\":true" :
	    ",\"online\":false");
	puts_raw(s, ",\"last_seen\":");
	put_ts(s, p->last_seen);
	if (p->key[0] != '\0') {
		puts_raw(s, ",\"key\":");
		put_str(s, p->key, strlen(p->key));
	}
	snprintf(s->after_name, sizeof(s->after_name), "%s", p->username);
	return row_end(s);
}

static int
row_message(void *arg, const struct store_message *m)
{
	struct api_stream *s = arg;

	if (!row_begin(s))
		return 1;
	puts_raw(s, "\"id\":");
	put_int(s, m->id);
	puts_raw(s, ",\"uid\":");
	put_str(s, m->uid, strlen(m->uid));
	puts_raw(s, ",\"from\":");
	put_str(s, m->from, strlen(m->from));
	puts_raw(s, ",\"to\":");
	put_str(s, m->to, strlen(m->to));
	puts_raw(s, ",\"message\":");
	put_str(s, m->content, m->content_len);
	puts_raw(s, ",\"ts\":");
	put_ts(s, m->ts);
	s->after_id = m->id;
	return row_end(s);
}

/* Reads the next rows from the store into the buffer; once there are no
 * more, closes the list (with "next" when a limit cut it short). */
static enum store_status
fetch(struct api_stream *s)
{
	struct store *st = s->api->store;
	enum store_status res = STORE_OK;
	int64_t want = FETCH_ROWS;

	if (!s->exhausted) {
		/* A paged list reads one row past its limit to learn whether
		 * more remain. */
		if (s->remaining >= 0 && s->remaining < want)
			want = s->remaining + 1;
		s->rows = 0;
		s->stopped = false;
		switch (s->kind) {
		case L_PEERS:
			res = store_peers(st, s->after_name, want,
			    s->online_since, row_peer, s);
			break;
		case L_FRIENDS:
			res = store_friends(st, s->name1, s->after_name, want,
			    row_peer, s);
			break;
		case L_MESSAGES:
			res = store_messages(st, s->name1, s->name2[0] ?
			    s->name2 : NULL, s->after_id, want, row_message, s);
			break;
		}
		if (res != STORE_OK)
			return res;
		if (s->out.failed)
			return STORE_FAILED;
		if (s->more || (!s->stopped && (int64_t)s->rows < want))
			s->exhausted = true;
		else
			return STORE_OK;
	}
	puts_raw(s, "]");
	if (s->more) {
		puts_raw(s, ",\"next\":");
		if (s->kind == L_MESSAGES)
			put_int(s, s->after_id);
		else
			put_str(s, s->after_name, strlen(s->after_name));
	}
	puts_raw(s, "}\n");
	s->finished = true;
	return s->out.failed ? STORE_FAILED : STORE_OK;
}

ssize_t
api_stream_read(struct api_stream *s, char *buf, size_t max)
{
	size_t n;

	while (s->off == s->out.len) {
		if (s->finished)
			return 0;
		s->out.len = s->off = 0;
		if (fetch(s) != STORE_OK)
			return -1;
	}
	n = s->out.len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->out.data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

void
api_stream_free(struct api_stream *s)
{
	if (s != NULL) {
		jw_free(&s->out);
		free(s);
	}
}

/* Starts a list answer: reads the first rows now, so that an unknown peer
 * or a failing store still gets a proper error status. A list that fits in
 * one read is answered whole; a longer one streams. */
static void
list_answer(struct api_response *rs, struct api_stream *s)
{
	enum store_status res;

	s->first = true;
	s->now = now_ms();
	puts_raw(s, "{\"");
	puts_raw(s, s->key);
	puts_raw(s, "\":[");
	res = fetch(s);
	if (res != STORE_OK) {
		api_stream_free(s);
		store_error(rs, res);
		return;
	}
	rs->status = 200;
	if (s->finished) {
		rs->body = s->out.data;
		rs->body_len = s->out.len;
		s->out.data = NULL;
		api_stream_free(s);
	} else
		rs->stream = s;
}

static struct api_stream *
list_new(struct api *api, enum list_kind kind, const char *key,
    struct api_response *rs)
{
	struct api_stream *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		api_error(rs, 500, "internal", "out of memory");
		return NULL;
	}
	s->api = api;
	s->kind = kind;
	s->key = key;
	s->remaining = -1;
	return s;
}

/* ?limit= and the cursor shared by every list. */
static bool
list_paging(const struct api_request *rq, struct api_stream *s,
    struct api_response *rs)
{
	int64_t limit = -1;

	if (!arg_int(rq, "limit", 1, PAGE_MAX, &limit, rs))
		return false;
	if (limit > 0)
		s->remaining = limit;
	if (s->kind == L_MESSAGES)
		return arg_int(rq, "after", 0, INT64_MAX, &s->after_id, rs);
	{
		const char *after = rq->arg(rq->arg_ctx, "after");
		if (after != NULL && *after != '\0') {
			if (strlen(after) > USERNAME_MAX) {
				api_error(rs, 400, "bad_param",
				    "after must be a username");
				return false;
			}
			snprintf(s->after_name, sizeof(s->after_name), "%s",
			    after);
		}
	}
	return true;
}

/* --- peers --- */

static json_t *
peer_json(const struct api *api, const struct store_peer *p, int64_t now)
{
	char ts[TS_LEN];

	json_t *o;

	ts_format(p->last_seen, ts);
	o = json_pack("{s:s, s:s, s:i, s:b, s:s}", "username", p->username,
	    "ip", p->ip, "port", p->port, "online", is_online(api, p, now),
	    "last_seen", ts);
	if (o != NULL && p->key[0] != '\0')
		json_object_set_new(o, "key", json_string(p->key));
	return o;
}

static bool
port_of(json_t *v, int *port, struct api_response *rs)
{
	int64_t p = 0;

	if (v == NULL || json_is_null(v)) {
		api_error(rs, 400, "invalid_field", "port is required");
		return false;
	}
	if (json_is_integer(v))
		p = json_integer_value(v);
	else if (!json_is_string(v) || !parse_int(json_string_value(v), 1,
	    65535, &p)) {
		api_error(rs, 400, "invalid_port",
		    "port must be an integer from 1 to 65535");
		return false;
	}
	if (p < 1 || p > 65535) {
		api_error(rs, 400, "invalid_port",
		    "port must be an integer from 1 to 65535");
		return false;
	}
	*port = (int)p;
	return true;
}

/* The stored candidates: the observed address first (the request's source
 * with the registered port), then the ones the body claims, each checked
 * strictly. Fills out with compact JSON. */
static bool
candidates_of(const struct api_request *rq, json_t *v, int port, char *out,
    size_t len, struct api_response *rs)
{
	json_t *all, *c, *f;
	const char *k, *t;
	size_t i, n;
	bool ok = false;

	if (v != NULL && !json_is_null(v) && (!json_is_array(v) ||
	    json_array_size(v) > CANDIDATES_MAX)) {
		api_error(rs, 400, "invalid_candidates", "candidates must be an"
		    " array of at most %d addresses", CANDIDATES_MAX);
		return false;
	}
	if ((all = json_array()) == NULL ||
	    json_array_append_new(all, json_pack("{s:s, s:i, s:s}", "ip",
	    rq->remote, "port", port, "type", "observed")) != 0)
		goto oom;
	json_array_foreach(v, i, c) {
		int64_t pt;

		if (!json_is_object(c)) {
			api_error(rs, 400, "invalid_candidates", "candidate %zu"
			    " must be an object", i);
			goto end;
		}
		json_object_foreach(c, k, f)
			if (strcmp(k, "ip") != 0 && strcmp(k, "port") != 0 &&
			    strcmp(k, "type") != 0) {
				api_error(rs, 400, "invalid_candidates",
				    "candidate %zu: unknown field %.40s", i, k);
				goto end;
			}
		f = json_object_get(c, "ip");
		if (!json_is_string(f) || !valid_ip(json_string_value(f))) {
			api_error(rs, 400, "invalid_candidates", "candidate %zu:"
			    " ip must be an IPv4 or IPv6 address", i);
			goto end;
		}
		f = json_object_get(c, "port");
		pt = json_is_integer(f) ? json_integer_value(f) : 0;
		if (pt < 1 || pt > 65535) {
			api_error(rs, 400, "invalid_candidates", "candidate %zu:"
			    " port must be an integer from 1 to 65535", i);
			goto end;
		}
		f = json_object_get(c, "type");
		t = json_is_string(f) ? json_string_value(f) : "";
		if (strcmp(t, "host") != 0 && strcmp(t, "srflx") != 0) {
			api_error(rs, 400, "invalid_candidates", "candidate %zu:"
			    " type must be host or srflx", i);
			goto end;
		}
		if (json_array_append_new(all, json_pack("{s:O, s:I, s:s}",
		    "ip", json_object_get(c, "ip"), "port", (json_int_t)pt,
		    "type", t)) != 0)
			goto oom;
	}
	n = json_dumpb(all, out, len, JSON_COMPACT);
	if (n == 0 || n >= len) {
		api_error(rs, 400, "invalid_candidates", "candidates too long");
		goto end;
	}
	out[n] = '\0';
	ok = true;
	goto end;
oom:
	api_error(rs, 500, "internal", "out of memory");
end:
	json_decref(all);
	return ok;
}

/* A peer's candidates as stored, added to its answer. */
static void
add_candidates(json_t *o, const struct store_peer *p)
{
	json_t *c;

	if (o == NULL || p->candidates[0] == '\0')
		return;
	if ((c = json_loads(p->candidates, 0, NULL)) != NULL)
		json_object_set_new(o, "candidates", c);
}

static void
h_register(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	json_t *o, *v, *out;
	const char *user, *ip, *key = NULL;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	struct store_peer p;
	enum store_status st;
	struct who w;
	bool created;
	int port;
	char cands[STORE_CANDIDATES_MAX + 1];

	if (!who_of(rq, &w, rs) || (o = body_object(rq, rs)) == NULL)
		return;
	if ((user = field_user(o, "username", rs)) == NULL ||
	    !port_of(json_object_get(o, "port"), &port, rs) ||
	    !candidates_of(rq, json_object_get(o, "candidates"), port, cands,
	    sizeof(cands), rs))
		goto end;
	v = json_object_get(o, "key");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || !key_parse(json_string_value(v), pk)) {
			api_error(rs, 400, "invalid_key", "key must be an Ed25519"
			    " public key in base64");
			goto end;
		}
		key = json_string_value(v);
	}
	v = json_object_get(o, "ip");
	if (v == NULL || json_is_null(v))
		ip = rq->remote;
	else if (!json_is_string(v) || !valid_ip(json_string_value(v))) {
		api_error(rs, 400, "invalid_ip",
		    "ip must be an IPv4 or IPv6 address");
		goto end;
	} else
		ip = json_string_value(v);
	if (key != NULL) {
		/* Whoever binds a key shows they hold it: the request is
		 * signed by it, as the name it registers. */
		if (!w.have) {
			api_error(rs, 401, "signature_required", "a registration"
			    " with a key must be signed with it");
			goto end;
		}
		if (strcasecmp(w.p.user, user) != 0) {
			api_error(rs, 403, "forbidden", "signed by %s, not by %s",
			    w.p.user, user);
			goto end;
		}
		if (!verify(api, rq, &w, pk, key, rs))
			goto end;
	} else {
		/* No key given: the one bound to the name, if any, must
		 * have signed. */
		st = store_peer_get(api->store, user, &p);
		if (st != STORE_OK && st != STORE_NOT_FOUND) {
			store_error(rs, st);
			goto end;
		}
		if (st == STORE_OK && p.key[0] != '\0') {
			if (!may_act(api, rq, &w, &p, rs))
				goto end;
			key = p.key;
		}
	}
	if (key == NULL && api->cfg.require_keys) {
		api_error(rs, 403, "key_required", "this directory registers"
		    " only names with a key");
		goto end;
	}
	st = store_register(api->store, user, ip, port, key, cands,
	    now_ms(), &p, &created);
	if (st != STORE_OK) {
		store_error(rs, st);
		goto end;
	}
	out = peer_json(api, &p, now_ms());
	add_candidates(out, &p);
	json_object_set_new(out, "message",
	    json_string("Peer registered successfully"));
	json_object_set_new(out, "created", json_boolean(created));
	json_object_set_new(out, "observed_ip", json_string(rq->remote));
	answer(rs, created ? 201 : 200, out);
end:
	json_decref(o);
}

static void
h_peers(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	struct api_stream *s = list_new(api, L_PEERS, "peers", rs);
	const char *online;

	if (s == NULL)
		return;
	if (!list_paging(rq, s, rs))
		goto fail;
	online = rq->arg(rq->arg_ctx, "online");
	if (online != NULL && strcmp(online, "1") != 0 &&
	    strcmp(online, "true") != 0 && strcmp(online, "0") != 0 &&
	    strcmp(online, "false") != 0) {
		api_error(rs, 400, "bad_param", "online must be 1 or 0");
		goto fail;
	}
	if (online != NULL && (online[0] == '1' || online[0] == 't'))
		s->online_since = now_ms() - api->cfg.presence_ms;
	list_answer(rs, s);
	return;
fail:
	api_stream_free(s);
}

static void
h_peerinfo(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	const char *user = arg_user(rq, "username", rs);
	struct store_peer p;
	enum store_status st;

	if (user == NULL)
		return;
	if ((st = store_peer_get(api->store, user, &p)) != STORE_OK)
		store_error(rs, st);
	else {
		json_t *o = peer_json(api, &p, now_ms());

		add_candidates(o, &p);
		answer(rs, 200, o);
	}
}

static void
h_logout(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	json_t *o;
	const char *user;
	enum store_status st;
	struct who w;

	/* Seed clients log out with no body: nothing to mark then. */
	if (rq->body_len == 0) {
		answer(rs, 200, json_pack("{s:s}", "message",
		    "Logged out successfully"));
		return;
	}
	if ((o = body_object(rq, rs)) == NULL)
		return;
	if (json_object_get(o, "username") == NULL) {
		answer(rs, 200, json_pack("{s:s}", "message",
		    "Logged out successfully"));
	} else if ((user = field_user(o, "username", rs)) != NULL &&
	    who_of(rq, &w, rs) && may_act_as(api, rq, &w, user, rs)) {
		if ((st = store_logout(api->store, user)) != STORE_OK)
			store_error(rs, st);
		else
			answer(rs, 200, json_pack("{s:s, s:s}", "message",
			    "Logged out successfully", "username", user));
	}
	json_decref(o);
}

/* --- friendships --- */

static void
h_friend_start(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	json_t *o = body_object(rq, rs);
	const char *u1, *u2;
	enum store_status st;
	struct who w;
	bool created;

	if (o == NULL)
		return;
	if ((u1 = field_user(o, "user1", rs)) == NULL ||
	    (u2 = field_user(o, "user2", rs)) == NULL)
		goto end;
	if (strcasecmp(u1, u2) == 0) {
		api_error(rs, 400, "same_user", "user1 and user2 are the same");
		goto end;
	}
	if (!who_of(rq, &w, rs) || !may_act_as(api, rq, &w, u1, rs))
		goto end;
	if ((st = store_friend_add(api->store, u1, u2, &created)) != STORE_OK)
		store_error(rs, st);
	else
		answer(rs, 200, json_pack("{s:s, s:b}", "message",
		    "friendship started successfully", "created", created));
end:
	json_decref(o);
}

static void
h_friend_get(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	const char *user = arg_user(rq, "username", rs);
	struct api_stream *s;
	struct who w;

	if (user == NULL || !who_of(rq, &w, rs) ||
	    !may_act_as(api, rq, &w, user, rs) ||
	    (s = list_new(api, L_FRIENDS, "friends", rs)) == NULL)
		return;
	snprintf(s->name1, sizeof(s->name1), "%s", user);
	if (!list_paging(rq, s, rs)) {
		api_stream_free(s);
		return;
	}
	list_answer(rs, s);
}

/* --- messages --- */

static bool
new_message(struct api *api, json_t *o, struct store_new_message *m,
    struct api_response *rs)
{
	json_t *v;

	if (!json_is_object(o)) {
		api_error(rs, 400, "invalid_field", "a message must be an object");
		return false;
	}
	if ((m->sender = field_user(o, "sender", rs)) == NULL ||
	    (m->receiver = field_user(o, "receiver", rs)) == NULL)
		return false;
	v = json_object_get(o, "content");
	if (!json_is_string(v)) {
		api_error(rs, 400, "invalid_field", v == NULL ?
		    "content is required" : "content must be a string");
		return false;
	}
	m->content = json_string_value(v);
	m->content_len = json_string_length(v);
	if ((int64_t)m->content_len > api->cfg.max_content) {
		api_error(rs, 413, "content_too_large", "content exceeds %lld"
		    " bytes", (long long)api->cfg.max_content);
		return false;
	}
	v = json_object_get(o, "uid");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || !valid_uid(json_string_value(v))) {
			api_error(rs, 400, "invalid_uid", "uid must be 1 to 64 of"
			    " A-Z a-z 0-9 . _ : -");
			return false;
		}
		m->uid = json_string_value(v);
	}
	return true;
}

static void
h_message_create(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	json_t *o = body_object(rq, rs), *list, *out, *ids;
	struct store_new_message *msgs = NULL;
	size_t n, bad = 0, i;
	enum store_status st;
	bool any_new = false;
	char ts[TS_LEN];
	struct who w;

	if (o == NULL)
		return;
	list = json_object_get(o, "messages");
	if (list != NULL && !json_is_array(list)) {
		api_error(rs, 400, "invalid_field", "messages must be an array");
		goto end;
	}
	n = list != NULL ? json_array_size(list) : 1;
	if (n == 0 || n > BATCH_MAX) {
		api_error(rs, 400, "invalid_field", "messages must hold 1 to %d"
		    " messages", BATCH_MAX);
		goto end;
	}
	if ((msgs = calloc(n, sizeof(*msgs))) == NULL) {
		api_error(rs, 500, "internal", "out of memory");
		goto end;
	}
	for (i = 0; i < n; i++)
		if (!new_message(api, list != NULL ? json_array_get(list, i) : o,
		    &msgs[i], rs))
			goto end;
	/* Each sender that has a key must have signed; a run of messages
	 * from one sender is looked up once. */
	if (!who_of(rq, &w, rs))
		goto end;
	for (i = 0; i < n; i++)
		if ((i == 0 || strcasecmp(msgs[i].sender,
		    msgs[i - 1].sender) != 0) &&
		    !may_act_as(api, rq, &w, msgs[i].sender, rs))
			goto end;
	st = store_messages_create(api->store, msgs, n, now_ms(), &bad);
	if (st == STORE_NOT_FOUND) {
		api_error(rs, 404, "peer_not_found", "Peer not found");
		goto end;
	} else if (st != STORE_OK) {
		store_error(rs, st);
		goto end;
	}
	for (i = 0; i < n; i++)
		any_new |= msgs[i].created;
	if (list == NULL) {
		ts_format(msgs[0].ts, ts);
		out = json_pack("{s:s, s:I, s:s, s:s}", "status", "ok",
		    "message_id", (json_int_t)msgs[0].id, "uid",
		    msgs[0].uid_made, "ts", ts);
	} else {
		ids = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(ids, json_integer(msgs[i].id));
		out = json_pack("{s:s, s:o}", "status", "ok", "message_ids", ids);
	}
	answer(rs, any_new ? 201 : 200, out);
end:
	free(msgs);
	json_decref(o);
}

static void
messages_list(struct api *api, const struct api_request *rq,
    struct api_response *rs, const char *peer1, const char *peer2)
{
	struct api_stream *s = list_new(api, L_MESSAGES, "messages", rs);
	int64_t last = 0, floor;
	enum store_status st;

	if (s == NULL)
		return;
	snprintf(s->name1, sizeof(s->name1), "%s", peer1);
	if (peer2 != NULL)
		snprintf(s->name2, sizeof(s->name2), "%s", peer2);
	if (!list_paging(rq, s, rs) ||
	    !arg_int(rq, "last", 1, INT64_MAX, &last, rs))
		goto fail;
	if (last > 0) {
		st = store_messages_floor(api->store, peer1, peer2, s->after_id,
		    last, &floor);
		if (st != STORE_OK) {
			store_error(rs, st);
			goto fail;
		}
		s->after_id = floor;
	}
	list_answer(rs, s);
	return;
fail:
	api_stream_free(s);
}

static void
h_message_get(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	const char *p1, *p2;
	struct store_peer a, b;
	enum store_status st;
	struct who w;

	if ((p1 = arg_user(rq, "peer1", rs)) == NULL ||
	    (p2 = arg_user(rq, "peer2", rs)) == NULL || !who_of(rq, &w, rs))
		return;
	/* A conversation with a keyed side is private: one of its keyed
	 * sides must sign. */
	if ((st = store_peer_get(api->store, p1, &a)) == STORE_NOT_FOUND)
		a.key[0] = '\0';
	else if (st != STORE_OK)
		goto fail;
	if ((st = store_peer_get(api->store, p2, &b)) == STORE_NOT_FOUND)
		b.key[0] = '\0';
	else if (st != STORE_OK)
		goto fail;
	if (a.key[0] != '\0' || b.key[0] != '\0') {
		const struct store_peer *me = &a;

		if (w.have && b.key[0] != '\0' &&
		    strcasecmp(w.p.user, b.username) == 0)
			me = &b;
		else if (a.key[0] == '\0')
			me = &b;
		if (!may_act(api, rq, &w, me, rs))
			return;
	}
	messages_list(api, rq, rs, p1, p2);
	return;
fail:
	store_error(rs, st);
}

static void
h_message_inbox(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	const char *user = arg_user(rq, "username", rs);
	struct who w;

	if (user != NULL && who_of(rq, &w, rs) &&
	    may_act_as(api, rq, &w, user, rs))
		messages_list(api, rq, rs, user, NULL);
}

/* --- keys --- */

/* POST /session: a keyed user, in a request signed with the key, opens a
 * session whose MACs then stand in for signatures (chat-protocol(7)). */
static void
h_session(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	unsigned char cpk[crypto_scalarmult_BYTES], spk[sizeof(cpk)];
	char sid[SIG_SID_LEN + 1], b64[KEY_B64_LEN + 1], ts[TS_LEN];
	const char *user;
	struct store_peer p;
	enum store_status st;
	struct who w;
	json_t *o, *v;
	size_t got;
	int64_t now;

	if (!who_of(rq, &w, rs) || (o = body_object(rq, rs)) == NULL)
		return;
	if ((user = field_user(o, "username", rs)) == NULL)
		goto end;
	v = json_object_get(o, "key");
	if (!json_is_string(v) || json_string_length(v) != KEY_B64_LEN ||
	    sodium_base642bin(cpk, sizeof(cpk), json_string_value(v),
	    KEY_B64_LEN, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != sizeof(cpk)) {
		api_error(rs, 400, "invalid_key", "key must be an X25519 public"
		    " key in base64");
		goto end;
	}
	if ((st = store_peer_get(api->store, user, &p)) != STORE_OK) {
		store_error(rs, st);
		goto end;
	}
	if (p.key[0] == '\0') {
		api_error(rs, 409, "no_key", "%s has no key: sessions are for"
		    " names with one", p.username);
		goto end;
	}
	if (w.have && w.p.session) {
		api_error(rs, 401, "signature_required", "a session is opened"
		    " by a request signed with the key itself");
		goto end;
	}
	if (!may_act(api, rq, &w, &p, rs))
		goto end;
	now = now_ms();
	switch (auth_session_open(api->auth, p.username, p.key, cpk, now, sid,
	    spk)) {
	case AUTH_OK:
		break;
	case AUTH_FULL:
		api_error(rs, 503, "sessions_full", "too many sessions; try"
		    " later");
		goto end;
	default:
		api_error(rs, 400, "invalid_key", "that key cannot make a"
		    " session");
		goto end;
	}
	key_b64(spk, b64);
	ts_format(now + AUTH_SESSION_MS, ts);
	/* macs: the kinds of session MAC taken, so that a client uses s2
	 * here and s1 with a directory from before it. */
	answer(rs, 201, json_pack("{s:s, s:s, s:s, s:s, s:[s, s]}", "session",
	    sid, "username", p.username, "key", b64, "expires", ts, "macs",
	    "s1", "s2"));
end:
	json_decref(o);
}

/* What a new key signs to show it is held: "chat-rotate-v1\n" USER "\n"
 * OLD-KEY "\n" NEW-KEY, the keys in base64. */
static bool
rotation_proof_ok(const char *user, const char *old_key, const char *new_key,
    const unsigned char new_pk[crypto_sign_PUBLICKEYBYTES], const char *b64)
{
	unsigned char sig[crypto_sign_BYTES];
	char msg[256];
	size_t got;
	int n;

	n = snprintf(msg, sizeof(msg), "chat-rotate-v1\n%s\n%s\n%s", user,
	    old_key, new_key);
	return n > 0 && (size_t)n < sizeof(msg) && b64 != NULL &&
	    sodium_base642bin(sig, sizeof(sig), b64, strlen(b64), NULL, &got,
	    NULL, sodium_base64_VARIANT_ORIGINAL) == 0 && got == sizeof(sig) &&
	    crypto_sign_verify_detached(sig, (const unsigned char *)msg,
	    (size_t)n, new_pk) == 0;
}

static void
h_key_rotate(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	json_t *o, *v, *proof;
	const char *user, *key;
	struct store_peer p;
	enum store_status st;
	struct who w;

	if (!who_of(rq, &w, rs) || (o = body_object(rq, rs)) == NULL)
		return;
	if ((user = field_user(o, "username", rs)) == NULL)
		goto end;
	v = json_object_get(o, "key");
	if (!json_is_string(v) || !key_parse(json_string_value(v), pk)) {
		api_error(rs, 400, "invalid_key", "key must be an Ed25519 public"
		    " key in base64");
		goto end;
	}
	key = json_string_value(v);
	if ((st = store_peer_get(api->store, user, &p)) != STORE_OK) {
		store_error(rs, st);
		goto end;
	}
	if (p.key[0] == '\0') {
		api_error(rs, 409, "no_key", "%s has no key to replace: register"
		    " with one", p.username);
		goto end;
	}
	if (!may_act(api, rq, &w, &p, rs))
		goto end;
	proof = json_object_get(o, "proof");
	if (!rotation_proof_ok(user, p.key, key, pk,
	    json_is_string(proof) ? json_string_value(proof) : NULL)) {
		api_error(rs, 400, "bad_proof", "proof must be the new key's"
		    " signature of the rotation (chat-protocol(7))");
		goto end;
	}
	if ((st = store_set_key(api->store, user, p.key, key)) != STORE_OK) {
		store_error(rs, st);
		goto end;
	}
	answer(rs, 200, json_pack("{s:s, s:s, s:s}", "message", "key replaced",
	    "username", p.username, "key", key));
end:
	json_decref(o);
}

/* GET /events: the push channel (push.h), private as the inbox is. */
static void
h_events(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	const char *user = arg_user(rq, "username", rs), *last;
	struct store_peer p;
	enum store_status st;
	int64_t after = 0;
	bool has_after;
	struct who w;

	if (user == NULL || !who_of(rq, &w, rs))
		return;
	if (api->cfg.push == NULL) {
		api_error(rs, 404, "not_found", "no such endpoint");
		return;
	}
	if ((st = store_peer_get(api->store, user, &p)) != STORE_OK) {
		store_error(rs, st);
		return;
	}
	if (!may_act(api, rq, &w, &p, rs))
		return;
	last = rq->last_event_id;
	if (last != NULL && !parse_int(last, 0, INT64_MAX, &after)) {
		api_error(rs, 400, "bad_param", "Last-Event-ID must be a message"
		    " id");
		return;
	}
	has_after = last != NULL || rq->arg(rq->arg_ctx, "after") != NULL;
	if (last == NULL && !arg_int(rq, "after", 0, INT64_MAX, &after, rs))
		return;
	switch (push_open(api->cfg.push, p.username, has_after, after,
	    &rs->events)) {
	case PUSH_OPENED:
		rs->status = 200;
		break;
	case PUSH_USER_FULL:
		api_error(rs, 429, "too_many_streams", "%s has too many event"
		    " streams open", p.username);
		break;
	case PUSH_NOMEM:
		api_error(rs, 500, "internal", "out of memory");
		break;
	default:
		api_error(rs, 503, "streams_full", "too many event streams;"
		    " try later");
		break;
	}
}

static void
h_healthz(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	enum store_status st = store_health(api->store);

	(void)rq;
	if (st == STORE_OK)
		answer(rs, 200, json_pack("{s:s}", "status", "ok"));
	else
		answer(rs, 503, json_pack("{s:s, s:s, s:s}", "status",
		    "unavailable", "error", store_strerror(st), "code",
		    "store_failed"));
}

/* POST /relay: a one-time token for the directory's relay, where the
 * asker and peer meet when neither reaches the other; the peer is called
 * on its event stream with the same token. */
static void
h_relay(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	const char *user, *peer, *host;
	char token[65], addr[NETADDR_HOSTLEN + 8], ev[STORE_CANDIDATES_MAX + 512];
	char cands[STORE_CANDIDATES_MAX + 1] = "";
	int port;
	size_t n;
	struct store_peer a, p;
	enum store_status st;
	int64_t ms;
	json_int_t secs;
	struct who w;
	json_t *o, *call;

	if (api->cfg.relay == NULL) {
		api_error(rs, 404, "not_found", "no such endpoint");
		return;
	}
	if ((o = body_object(rq, rs)) == NULL)
		return;
	if ((user = field_user(o, "username", rs)) == NULL ||
	    (peer = field_user(o, "peer", rs)) == NULL)
		goto end;
	if (strcasecmp(user, peer) == 0) {
		api_error(rs, 400, "same_user", "username and peer are the same");
		goto end;
	}
	/* The asker's own candidates, for the peer to punch towards: its
	 * port as the directory saw it come from, then the claimed ones. */
	if (json_object_get(o, "candidates") != NULL &&
	    (!port_of(json_object_get(o, "port"), &port, rs) ||
	    !candidates_of(rq, json_object_get(o, "candidates"), port, cands,
	    sizeof(cands), rs)))
		goto end;
	if (!who_of(rq, &w, rs))
		goto end;
	if ((st = store_peer_get(api->store, user, &a)) != STORE_OK ||
	    (st = store_peer_get(api->store, peer, &p)) != STORE_OK) {
		store_error(rs, st);
		goto end;
	}
	if (!may_act(api, rq, &w, &a, rs))
		goto end;
	/* Here, else on another daemon of the database. */
	if (api->cfg.push != NULL && push_count(api->cfg.push, p.username) ==
	    0) {
		bool any;

		if ((st = store_stream_any(api->store, p.username, &any)) !=
		    STORE_OK) {
			store_error(rs, st);
			goto end;
		}
		if (!any) {
			api_error(rs, 409, "peer_unreachable", "%s has no event"
			    " stream open to be called on", p.username);
			goto end;
		}
	}
	host = relay_wildcard(api->cfg.relay) ? rq->local :
	    relay_host(api->cfg.relay);
	if (host == NULL || *host == '\0') {
		api_error(rs, 503, "relay_full", "the relay's address is not"
		    " known here");
		goto end;
	}
	snprintf(addr, sizeof(addr), strchr(host, ':') != NULL ? "[%s]:%d" :
	    "%s:%d", host, relay_port(api->cfg.relay));
	switch (relay_offer(api->cfg.relay, a.username, p.username, token,
	    &ms)) {
	case RELAY_OFFER_OK:
		break;
	case RELAY_OFFER_RATE:
		api_error(rs, 429, "rate_limited", "%s asked for the relay too"
		    " often; try in a minute", a.username);
		goto end;
	case RELAY_OFFER_USER_FULL:
		api_error(rs, 429, "rate_limited", "%s or %s is at the relay too"
		    " many times at once", a.username, p.username);
		goto end;
	default:
		api_error(rs, 503, "relay_full", "the relay is full; try later");
		goto end;
	}
	secs = (json_int_t)((ms + 999) / 1000);
	call = json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", "relay", "from",
	    a.username, "token", token, "relay", addr, "expires_in", secs);
	if (call != NULL && cands[0] != '\0' && json_object_set_new(call,
	    "candidates", json_loads(cands, 0, NULL)) != 0) {
		json_decref(call);
		call = NULL;
	}
	/* json_dumpb: no malloc'd string inside the request's arena. */
	n = call != NULL ? json_dumpb(call, ev, sizeof(ev) - 1, JSON_COMPACT) :
	    0;
	json_decref(call);
	if (n == 0 || n >= sizeof(ev)) {
		api_error(rs, 500, "internal", "out of memory");
		goto end;
	}
	ev[n] = '\0';
	/* Through the store: on PostgreSQL the peer's stream may be held by
	 * another daemon of the database. */
	if ((st = store_publish(api->store, p.username, ev)) != STORE_OK) {
		store_error(rs, st);
		goto end;
	}
	answer(rs, 200, json_pack("{s:s, s:s, s:I}", "token", token, "relay",
	    addr, "expires_in", secs));
end:
	sodium_memzero(token, sizeof(token));
	sodium_memzero(ev, sizeof(ev));
	json_decref(o);
}

/* --- routing --- */

typedef void (*handler)(struct api *, const struct api_request *,
    struct api_response *);

static const struct route {
	const char *path;	/* without the trailing slash */
	bool post;		/* else GET (and HEAD) */
	handler fn;
} routes[] = {
	{ "/register", true, h_register },
	{ "/peers", false, h_peers },
	{ "/peerinfo", false, h_peerinfo },
	{ "/friend/start", true, h_friend_start },
	{ "/friend/get", false, h_friend_get },
	{ "/message/create", true, h_message_create },
	{ "/message/get", false, h_message_get },
	{ "/message/inbox", false, h_message_inbox },
	{ "/logout", true, h_logout },
	{ "/key/rotate", true, h_key_rotate },
	{ "/session", true, h_session },
	{ "/healthz", false, h_healthz },
	{ "/events", false, h_events },
	{ "/relay", true, h_relay },
};

void
api_handle(struct api *api, const struct api_request *rq,
    struct api_response *rs)
{
	size_t plen = strlen(rq->path);

	memset(rs, 0, sizeof(*rs));
	if (plen > 1 && rq->path[plen - 1] == '/')
		plen--;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		bool get = strcmp(rq->method, "GET") == 0 ||
		    strcmp(rq->method, "HEAD") == 0;

		if (strlen(r->path) != plen ||
		    strncmp(r->path, rq->path, plen) != 0)
			continue;
		if (r->post ? strcmp(rq->method, "POST") != 0 : !get) {
			rs->allow = r->post ? "POST" : "GET, HEAD";
			api_error(rs, 405, "method_not_allowed", "%s takes %s",
			    r->path, rs->allow);
			return;
		}
		/* A malformed signature is refused on every endpoint, so
		 * that a client learns of its mistake even where none is
		 * needed. */
		if (rq->signature != NULL) {
			struct who w;

			if (!who_of(rq, &w, rs))
				return;
		}
		jarena_open();
		r->fn(api, rq, rs);
		jarena_close();
		return;
	}
	api_error(rs, 404, "not_found", "no such endpoint");
}
