/* dirclient: the directory's HTTP API as C calls over libcurl; every list
 * is read a page at a time and every answer is checked for its shape. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client/dirclient.h"
#include "client/sealer.h"
#include "core/exitcodes.h"
#include "core/jsonw.h"
#include "core/util.h"
#include "core/version.h"
#include "net/netaddr.h"
#include "sec/envelope.h"
#include "sec/keys.h"
#include "sec/sig.h"

#define CURSOR_MAX 128		/* bytes of a "next" cursor */
#define QUERY_MAX 16		/* query keys and values, with the NULL */
#define STR(x) #x
#define XSTR(x) STR(x)
#define PAGE_STR XSTR(DC_PAGE)

struct dirclient {
	CURL *curl;
	char *server;		/* without trailing slashes */
	struct curl_slist *json_hdrs;	/* for POST */
	struct curl_slist *get_hdrs;
	char *buf;		/* the answer being received */
	size_t len, cap;
	bool too_big;
	bool no_memory;
	long http;		/* status of the last answer */
	long timeout_ms;	/* of each request */
	dc_cancel_fn cancel;
	void *cancel_arg;
	char curlerr[CURL_ERROR_SIZE];
	char err[1024];
	/* the user whose key signs every request, when set */
	bool signing;
	char signer[USERNAME_MAX + 1];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	/* a session, once a few requests were signed: MACs from then on */
	int signed_count;
	bool session_off;	/* the directory has none: sign every one */
	bool in_session;
	int mac;		/* its kind: 2 (s2) when the directory takes it */
	/* the BLAKE2b-256 of the body of the request being made, when it
	 * was hashed ahead (a batch made ready in another thread); else
	 * NULL, and the body is hashed when the request is MAC'd */
	const unsigned char *body_b2h;
	bool opening;
	char code[32];		/* the "code" of the last error answer */
	char sid[SIG_SID_LEN + 1];
	unsigned char skey[SIG_KEYLEN];
	struct sealer *sealer;	/* sealing and opening, when set */
};

#define SESSION_AFTER 2		/* signed requests before a session */

/* A list endpoint read page by page. */
struct list {
	const char *path;
	const char *key;		/* the array in each page */
	json_t *(*conv)(const json_t *);
	const char *query[7];		/* key, value pairs of every page */
	const char *first[4];		/* of the first page only */
	char cursor[CURSOR_MAX];	/* "after"; empty: from the start */
	int64_t max;			/* items at most; 0: all */
};

static void
seterr(struct dirclient *dc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dc->err, sizeof(dc->err), fmt, ap);
	va_end(ap);
	/* What a server says goes to a terminal: no control characters. */
	for (char *p = dc->err; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct dirclient *dc = arg;
	size_t len = size * n, cap;
	char *nb;

	if (dc->len + len > (size_t)DC_ANSWER_MAX) {
		dc->too_big = true;
		return 0;
	}
	if (dc->len + len + 1 > dc->cap) {
		cap = dc->cap ? dc->cap : 16384;
		while (cap < dc->len + len + 1)
			cap *= 2;
		if ((nb = realloc(dc->buf, cap)) == NULL) {
			dc->no_memory = true;
			return 0;
		}
		dc->buf = nb;
		dc->cap = cap;
	}
	memcpy(dc->buf + dc->len, p, len);
	dc->len += len;
	return len;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct dirclient *dc = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return dc->cancel != NULL && dc->cancel(dc->cancel_arg) != 0;
}

/* The server URL without trailing slashes, or NULL with err set. */
static char *
server_check(const char *server, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *host = NULL, *query = NULL, *frag = NULL, *out = NULL;
	size_t n;

	if (u == NULL) {
		snprintf(err, errlen, "%s: out of memory", server);
		return NULL;
	}
	if (strncasecmp(server, "http://", 7) != 0 &&
	    strncasecmp(server, "https://", 8) != 0)
		snprintf(err, errlen, "%s: not an http or https URL", server);
	else if (curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0')
		snprintf(err, errlen, "%s: not a valid URL", server);
	else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK)
		snprintf(err, errlen, "%s: a server URL has no query or "
		    "fragment", server);
	else if ((out = strdup(server)) == NULL)
		snprintf(err, errlen, "%s: out of memory", server);
	else {
		n = strlen(out);
		while (n > 0 && out[n - 1] == '/')
			out[--n] = '\0';
	}
	curl_free(host);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return out;
}

struct dirclient *
dc_new(const char *server, long timeout_ms, char *err, size_t errlen)
{
	struct dirclient *dc;
	long connect_ms;

	if (timeout_ms <= 0)
		timeout_ms = DC_TIMEOUT_MS;
	connect_ms = timeout_ms < DC_CONNECT_TIMEOUT_MS ? timeout_ms :
	    DC_CONNECT_TIMEOUT_MS;
	if ((dc = calloc(1, sizeof(*dc))) == NULL) {
		snprintf(err, errlen, "directory client: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if ((dc->server = server_check(server, err, errlen)) == NULL) {
		free(dc);
		errno = EINVAL;
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl: cannot initialise");
		free(dc->server);
		free(dc);
		errno = ENOMEM;
		return NULL;
	}
	dc->timeout_ms = timeout_ms;
	dc->curl = curl_easy_init();
	dc->json_hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (dc->json_hdrs != NULL)
		dc->json_hdrs = curl_slist_append(dc->json_hdrs, "Expect:");
	dc->get_hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (dc->curl == NULL || dc->json_hdrs == NULL || dc->get_hdrs == NULL ||
	    curl_easy_setopt(dc->curl, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(dc->curl, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(dc->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) ||
	    curl_easy_setopt(dc->curl, CURLOPT_TIMEOUT_MS, timeout_ms) ||
	    curl_easy_setopt(dc->curl, CURLOPT_ERRORBUFFER, dc->curlerr) ||
	    curl_easy_setopt(dc->curl, CURLOPT_WRITEFUNCTION, on_data) ||
	    curl_easy_setopt(dc->curl, CURLOPT_WRITEDATA, dc) ||
	    curl_easy_setopt(dc->curl, CURLOPT_USERAGENT,
	    "chat/" CHAT_VERSION)) {
		snprintf(err, errlen, "libcurl: cannot set up a handle");
		dc_free(dc);
		errno = ENOMEM;
		return NULL;
	}
	return dc;
}

void
dc_free(struct dirclient *dc)
{
	if (dc == NULL)
		return;
	if (dc->curl != NULL)
		curl_easy_cleanup(dc->curl);
	curl_slist_free_all(dc->json_hdrs);
	curl_slist_free_all(dc->get_hdrs);
	sodium_memzero(dc->sk, sizeof(dc->sk));
	sodium_memzero(dc->skey, sizeof(dc->skey));
	sealer_free(dc->sealer);
	curl_global_cleanup();
	free(dc->buf);
	free(dc->server);
	free(dc);
}

const char *
dc_error(const struct dirclient *dc)
{
	return dc->err;
}

int
dc_exit_status(enum dc_status st)
{
	switch (st) {
	case DC_OK:
		return EX_OK;
	case DC_NOT_FOUND:
		return EX_NOUSER;
	case DC_REJECTED:
		return EX_DATAERR;
	case DC_DENIED:
		return EX_NOPERM;
	case DC_UNAVAILABLE:
	case DC_UNSUPPORTED:
		return EX_UNAVAILABLE;
	case DC_TEMPFAIL:
	case DC_CANCELLED:
		return EX_TEMPFAIL;
	case DC_PROTOCOL:
		return EX_PROTOCOL;
	case DC_INTERNAL:
		break;
	}
	return EX_SOFTWARE;
}

void
dc_set_cancel(struct dirclient *dc, dc_cancel_fn fn, void *arg)
{
	dc->cancel = fn;
	dc->cancel_arg = arg;
	curl_easy_setopt(dc->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(dc->curl, CURLOPT_XFERINFODATA, dc);
	curl_easy_setopt(dc->curl, CURLOPT_NOPROGRESS, fn == NULL ? 1L : 0L);
}

char *
dc_url(const char *server, const char *path, const char *const *query)
{
	size_t len = strlen(server) + strlen(path) + 1, n;
	char *esc[QUERY_MAX] = { NULL }, *url = NULL, *p;
	bool ok = true;
	char sep = '?';

	for (n = 0; query != NULL && query[n] != NULL && n + 2 < QUERY_MAX;
	    n += 2) {
		if (query[n + 1] == NULL)
			continue;
		esc[n] = curl_easy_escape(NULL, query[n], 0);
		esc[n + 1] = curl_easy_escape(NULL, query[n + 1], 0);
		if (esc[n] == NULL || esc[n + 1] == NULL)
			ok = false;
		else
			len += strlen(esc[n]) + strlen(esc[n + 1]) + 2;
	}
	if (ok && (url = malloc(len)) != NULL) {
		p = url + sprintf(url, "%s%s", server, path);
		for (size_t i = 0; i < n; i += 2) {
			if (esc[i] == NULL)
				continue;
			p += sprintf(p, "%c%s=%s", sep, esc[i], esc[i + 1]);
			sep = '&';
		}
	}
	for (size_t i = 0; i < n; i++)
		curl_free(esc[i]);
	return url;
}

enum dc_status
dc_curl_status(int curlcode)
{
	switch ((CURLcode)curlcode) {
	case CURLE_OK:
		return DC_OK;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return DC_UNAVAILABLE;
	case CURLE_ABORTED_BY_CALLBACK:
		return DC_CANCELLED;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
		return DC_INTERNAL;
	default:
		/* Anything else is an answer that is not HTTP as we know it:
		 * garbage, an empty reply, TLS spoken to plain HTTP... */
		return DC_PROTOCOL;
	}
}

enum dc_status
dc_http_status(long http, const json_t *body)
{
	const json_t *code;

	if (http >= 200 && http <= 299)
		return json_is_object(body) ? DC_OK : DC_PROTOCOL;
	if (http == 404) {
		/* An unknown user; any other 404 is an unknown path: the
		 * server is not a chat directory (or not this version). */
		if (!json_is_object(body))
			return DC_PROTOCOL;
		code = json_object_get(body, "code");
		if (json_is_string(code))
			return strcmp(json_string_value(code),
			    "peer_not_found") == 0 ? DC_NOT_FOUND : DC_PROTOCOL;
		return json_is_string(json_object_get(body, "error")) ?
		    DC_NOT_FOUND : DC_PROTOCOL;
	}
	if (http == 405)
		return DC_PROTOCOL;
	if (http == 401 || http == 403)
		return DC_DENIED;
	if (http >= 400 && http <= 499)
		return DC_REJECTED;
	if (http == 503)
		return DC_TEMPFAIL;
	if (http >= 500 && http <= 599)
		return DC_UNAVAILABLE;
	return DC_PROTOCOL;
}

/* Copies in[key] to out when present; false when it has the wrong type. */
static bool
copy(json_t *out, const json_t *in, const char *key, json_type type)
{
	json_t *v = json_object_get(in, key);

	if (v == NULL)
		return true;
	if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v)))
		return false;
	return json_object_set(out, key, v) == 0;
}

json_t *
dc_peer_out(const json_t *api)
{
	json_t *out, *port;
	int64_t p;

	if (!json_is_object(api) ||
	    !json_is_string(json_object_get(api, "username")) ||
	    (out = json_object()) == NULL)
		return NULL;
	port = json_object_get(api, "port");
	if (!copy(out, api, "username", JSON_STRING) ||
	    !copy(out, api, "ip", JSON_STRING))
		goto bad;
	/* Seed servers may keep the port as the string they were sent. */
	if (json_is_string(port)) {
		char *end;

		errno = 0;
		p = strtoll(json_string_value(port), &end, 10);
		if (errno != 0 || *end != '\0' || end == json_string_value(port))
			goto bad;
		json_object_set_new(out, "port", json_integer(p));
	} else if (!copy(out, api, "port", JSON_INTEGER))
		goto bad;
	if (!copy(out, api, "online", JSON_TRUE) ||
	    !copy(out, api, "last_seen", JSON_STRING) ||
	    !copy(out, api, "key", JSON_STRING))
		goto bad;
	return out;
bad:
	json_decref(out);
	return NULL;
}

json_t *
dc_message_out(const json_t *api)
{
	json_t *out, *text;

	if (!json_is_object(api) ||
	    !json_is_string(text = json_object_get(api, "message")) ||
	    (out = json_object()) == NULL)
		return NULL;
	if (!copy(out, api, "id", JSON_INTEGER) ||
	    !copy(out, api, "uid", JSON_STRING) ||
	    !copy(out, api, "from", JSON_STRING) ||
	    !copy(out, api, "to", JSON_STRING) ||
	    json_object_set(out, "text", text) != 0 ||
	    !copy(out, api, "ts", JSON_STRING)) {
		json_decref(out);
		return NULL;
	}
	return out;
}

void
dc_set_signer(struct dirclient *dc, const char *user,
    const unsigned char sk[crypto_sign_SECRETKEYBYTES])
{
	dc->signing = user != NULL;
	sealer_free(dc->sealer);
	dc->sealer = NULL;
	if (user == NULL) {
		sodium_memzero(dc->sk, sizeof(dc->sk));
		return;
	}
	snprintf(dc->signer, sizeof(dc->signer), "%s", user);
	memcpy(dc->sk, sk, sizeof(dc->sk));
	crypto_sign_ed25519_sk_to_pk(dc->pk, dc->sk);
}

bool
dc_set_pins(struct dirclient *dc, const char *pins)
{
	sealer_free(dc->sealer);
	dc->sealer = NULL;
	if (!dc->signing)
		return true;
	return (dc->sealer = sealer_new(dc->signer, dc->sk, pins)) != NULL;
}

int
dc_open(struct dirclient *dc, json_t *m, char *why, size_t whylen)
{
	const json_t *text = json_object_get(m, "text");

	if (dc->sealer != NULL)
		return sealer_open(dc->sealer, dc, m, why, whylen);
	if (json_is_string(text) && envelope_is(json_string_value(text),
	    json_string_length(text))) {
		snprintf(why, whylen, "sealed, and no key to open it with");
		return -1;
	}
	return 0;
}

/* The request target of url: from the first '/' after the host on. */
static const char *
target_of(const char *url)
{
	const char *p = strstr(url, "://");

	p = p != NULL ? strchr(p + 3, '/') : NULL;
	return p != NULL ? p : "/";
}

/* url with a nonce when the request is signed: "n=" and 16 random hex
 * digits, a parameter the directory ignores, so that two equal requests
 * in one second (two programs reading the same inbox) never carry one
 * signature, which the replay check would refuse. Takes url; NULL: no
 * memory. */
#define NONCE_LEN 19	/* "&n=" and 16 hex digits */

static char *
nonced(const struct dirclient *dc, char *url)
{
	unsigned char r[8];
	char *out;

	if (url == NULL || !dc->signing)
		return url;
	randombytes_buf(r, sizeof(r));
	if (asprintf(&out, "%s%cn=%02x%02x%02x%02x%02x%02x%02x%02x", url,
	    strchr(url, '?') != NULL ? '&' : '?', r[0], r[1], r[2], r[3],
	    r[4], r[5], r[6], r[7]) < 0)
		out = NULL;
	free(url);
	return out;
}

/* The headers of one request: the fixed ones, or when signing a fresh
 * list with the request's Chat-Signature (made anew for each attempt,
 * so that no two requests carry one signature). NULL: no memory. */
static struct curl_slist *
headers(struct dirclient *dc, const char *url, const struct jsonw *body)
{
	struct curl_slist *l = NULL, *n;
	char line[sizeof(SIG_HEADER) + SIG_HEADER_MAX + 4];
	char value[SIG_HEADER_MAX + 1];
	unsigned char bh[SIG_HASHLEN];
	const char *method = body != NULL ? "POST" : "GET";
	const void *data = body != NULL ? body->data : "";
	size_t len = body != NULL ? body->len : 0;
	bool ok;

	if (!dc->signing)
		return body != NULL ? dc->json_hdrs : dc->get_hdrs;
	if (dc->in_session) {
		/* A batch's body may have been hashed ahead (s2 only). */
		if (dc->mac == 2 && body != NULL && dc->body_b2h != NULL)
			memcpy(bh, dc->body_b2h, sizeof(bh));
		else
			sig_body_hash(dc->mac == 2, data, len, bh);
		ok = sig_session_header_hashed(dc->skey, dc->sid, dc->mac,
		    method, target_of(url), dc->signer, now_ms(), bh, value,
		    sizeof(value));
	} else
		ok = sig_header(dc->sk, method, target_of(url), dc->signer,
		    now_ms(), data, len, value, sizeof(value));
	if (!ok)
		return NULL;
	if (!dc->in_session)
		dc->signed_count++;
	snprintf(line, sizeof(line), SIG_HEADER ": %s", value);
	for (const struct curl_slist *h = body != NULL ? dc->json_hdrs :
	    dc->get_hdrs; h != NULL; h = h->next) {
		if ((n = curl_slist_append(l, h->data)) == NULL)
			goto fail;
		l = n;
	}
	if ((n = curl_slist_append(l, line)) == NULL)
		goto fail;
	return n;
fail:
	curl_slist_free_all(l);
	return NULL;
}

/* One request; on DC_OK *answer is the JSON object the server sent. body
 * NULL: a GET, else a POST of the JSON text body. */
static enum dc_status
request_once(struct dirclient *dc, const char *path, const char *const *query,
    const struct jsonw *body, json_t **answer)
{
	enum dc_status st;
	json_error_t je;
	json_t *ans = NULL;
	char *url;
	const json_t *why;
	struct curl_slist *hdrs;
	CURLcode rc;

	*answer = NULL;
	dc->http = 0;
	dc->code[0] = '\0';
	if ((url = nonced(dc, dc_url(dc->server, path, query))) == NULL) {
		seterr(dc, "%s%s: out of memory", dc->server, path);
		return DC_INTERNAL;
	}
	curl_easy_setopt(dc->curl, CURLOPT_URL, url);
	if ((hdrs = headers(dc, url, body)) == NULL) {
		seterr(dc, "%s: cannot sign the request", url);
		free(url);
		return DC_INTERNAL;
	}
	curl_easy_setopt(dc->curl, CURLOPT_HTTPHEADER, hdrs);
	/* curl keeps its own copy: the messages name the URL without the
	 * nonce, as the user gave it. */
	if (dc->signing)
		url[strlen(url) - NONCE_LEN] = '\0';
	if (body != NULL) {
		curl_easy_setopt(dc->curl, CURLOPT_POSTFIELDS, body->data);
		curl_easy_setopt(dc->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)body->len);
	} else
		curl_easy_setopt(dc->curl, CURLOPT_HTTPGET, 1L);
	dc->len = 0;
	dc->too_big = dc->no_memory = false;
	dc->curlerr[0] = '\0';
	rc = curl_easy_perform(dc->curl);
	curl_easy_setopt(dc->curl, CURLOPT_HTTPHEADER, NULL);
	if (hdrs != dc->json_hdrs && hdrs != dc->get_hdrs)
		curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		st = dc_curl_status(rc);
		if (dc->too_big) {
			st = DC_PROTOCOL;
			seterr(dc, "%s: answer larger than %ld bytes", url,
			    DC_ANSWER_MAX);
		} else if (dc->no_memory) {
			st = DC_INTERNAL;
			seterr(dc, "%s: out of memory", url);
		} else if (st == DC_CANCELLED)
			seterr(dc, "%s: interrupted", url);
		else
			seterr(dc, "%s: %s", url, dc->curlerr[0] ?
			    dc->curlerr : curl_easy_strerror(rc));
		free(url);
		return st;
	}
	curl_easy_getinfo(dc->curl, CURLINFO_RESPONSE_CODE, &dc->http);
	ans = json_loadb(dc->buf != NULL ? dc->buf : "", dc->len,
	    JSON_REJECT_DUPLICATES, &je);
	st = dc_http_status(dc->http, ans);
	why = json_object_get(ans, "code");
	snprintf(dc->code, sizeof(dc->code), "%s", json_is_string(why) ?
	    json_string_value(why) : "");
	if (st == DC_OK) {
		*answer = ans;
		free(url);
		return DC_OK;
	}
	why = json_object_get(ans, "error");
	if (json_is_string(why))
		seterr(dc, "%s: %ld %s", url, dc->http, json_string_value(why));
	else if (ans == NULL)
		seterr(dc, "%s: %ld answer is not JSON: %s", url, dc->http,
		    je.text);
	else
		seterr(dc, "%s: %ld answer is not what a chat directory sends",
		    url, dc->http);
	json_decref(ans);
	free(url);
	return st;
}

static enum dc_status post(struct dirclient *dc, const char *path,
    json_t *send, json_t **answer);

/* Whether a session's answer lists s2 among the MACs it takes. */
static bool
takes_s2(const json_t *macs)
{
	size_t i;
	json_t *v;

	json_array_foreach(macs, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), "s2") == 0)
			return true;
	return false;
}

/* Opens a session: an X25519 key of this run's, sent in a request signed
 * with the user's key; the directory's answer gives the session and its
 * own key, and both sides derive the MAC key. A directory without
 * sessions (or any failure) leaves every request signed. */
static void
open_session(struct dirclient *dc)
{
	unsigned char pk[crypto_scalarmult_BYTES], sk[crypto_scalarmult_SCALARBYTES];
	unsigned char spk[crypto_scalarmult_BYTES];
	char b64[KEY_B64_LEN + 1], err[sizeof(dc->err)];
	json_t *send, *ans = NULL, *sid, *key;
	size_t got;

	dc->opening = true;
	memcpy(err, dc->err, sizeof(err));
	crypto_box_keypair(pk, sk);
	key_b64(pk, b64);
	send = json_pack("{s:s, s:s}", "username", dc->signer, "key", b64);
	dc->session_off = true;
	if (post(dc, "/session", send, &ans) == DC_OK &&
	    json_is_string(sid = json_object_get(ans, "session")) &&
	    json_string_length(sid) == SIG_SID_LEN &&
	    json_is_string(key = json_object_get(ans, "key")) &&
	    sodium_base642bin(spk, sizeof(spk), json_string_value(key),
	    json_string_length(key), NULL, &got, NULL,
	    sodium_base64_VARIANT_ORIGINAL) == 0 && got == sizeof(spk) &&
	    sig_session_key(sk, spk, pk, spk, dc->skey)) {
		snprintf(dc->sid, sizeof(dc->sid), "%s", json_string_value(sid));
		dc->mac = takes_s2(json_object_get(ans, "macs")) ? 2 : 1;
		dc->in_session = true;
		dc->session_off = false;
	}
	json_decref(ans);
	sodium_memzero(sk, sizeof(sk));
	memcpy(dc->err, err, sizeof(err));
	dc->opening = false;
}

enum dc_status
dc_session(struct dirclient *dc, char sid[SIG_SID_LEN + 1],
    unsigned char key[SIG_KEYLEN])
{
	if (!dc->signing)
		return DC_INTERNAL;
	if (!dc->in_session)
		open_session(dc);
	if (!dc->in_session) {
		seterr(dc, "/session: the directory opened no session");
		return DC_UNAVAILABLE;
	}
	memcpy(sid, dc->sid, SIG_SID_LEN + 1);
	memcpy(key, dc->skey, SIG_KEYLEN);
	return DC_OK;
}

/* request_once, in a session once a few requests were signed; a session
 * the directory no longer knows (restarted, the key rotated) is dropped
 * and the request signed again. */
static enum dc_status
request(struct dirclient *dc, const char *path, const char *const *query,
    const struct jsonw *body, json_t **answer)
{
	enum dc_status st;

	if (dc->signing && !dc->in_session && !dc->session_off &&
	    !dc->opening && dc->signed_count >= SESSION_AFTER)
		open_session(dc);
	st = request_once(dc, path, query, body, answer);
	if (st == DC_DENIED && dc->in_session &&
	    strcmp(dc->code, "unknown_session") == 0) {
		dc->in_session = false;
		dc->signed_count = 0;
		st = request_once(dc, path, query, body, answer);
	}
	return st;
}

/* A successful answer that lacks what it should have. */
static enum dc_status
bad_answer(struct dirclient *dc, const char *path, const char *what)
{
	seterr(dc, "%s%s: the answer %s", dc->server, path, what);
	return DC_PROTOCOL;
}

/* The query of one page: every page's pairs, the first page's, limit and
 * the cursor (at most 3 + 1 + 1 + 1 pairs). */
static void
page_query(const struct list *l, bool first, const char **q)
{
	size_t n = 0;

	for (size_t i = 0; l->query[i] != NULL && i < 6; i++)
		q[n++] = l->query[i];
	for (size_t i = 0; first && l->first[i] != NULL && i < 2; i++)
		q[n++] = l->first[i];
	q[n++] = "limit";
	q[n++] = PAGE_STR;
	if (l->cursor[0] != '\0') {
		q[n++] = "after";
		q[n++] = l->cursor;
	}
	q[n] = NULL;
}

static enum dc_status
list_read(struct dirclient *dc, struct list *l, dc_item_fn fn, void *arg)
{
	const char *q[QUERY_MAX];
	enum dc_status st;
	json_t *page, *items, *next, *item, *out;
	int64_t seen = 0;
	bool first = true, empty;
	char prev[CURSOR_MAX];
	size_t i;
	int stop;

	for (;;) {
		page_query(l, first, q);
		first = false;
		if ((st = request(dc, l->path, q, NULL, &page)) != DC_OK)
			return st;
		items = json_object_get(page, l->key);
		next = json_object_get(page, "next");
		if (!json_is_array(items)) {
			json_decref(page);
			return bad_answer(dc, l->path, "has no list");
		}
		stop = 0;
		json_array_foreach(items, i, item) {
			if ((out = l->conv(item)) == NULL) {
				json_decref(page);
				return bad_answer(dc, l->path,
				    "lists something of the wrong shape");
			}
			stop = fn(arg, out);
			json_decref(out);
			if (stop != 0 || (l->max > 0 && ++seen >= l->max))
				break;
		}
		if (stop != 0 || (l->max > 0 && seen >= l->max) ||
		    next == NULL || json_is_null(next)) {
			json_decref(page);
			return DC_OK;
		}
		empty = json_array_size(items) == 0;
		snprintf(prev, sizeof(prev), "%s", l->cursor);
		if (json_is_integer(next))
			snprintf(l->cursor, sizeof(l->cursor), "%" PRId64,
			    (int64_t)json_integer_value(next));
		else if (json_is_string(next) &&
		    strlen(json_string_value(next)) < sizeof(l->cursor))
			snprintf(l->cursor, sizeof(l->cursor), "%s",
			    json_string_value(next));
		else
			l->cursor[0] = '\0';
		json_decref(page);
		/* A cursor that does not move would loop for ever. */
		if (l->cursor[0] == '\0' || strcmp(prev, l->cursor) == 0 ||
		    empty)
			return bad_answer(dc, l->path, "has a bad \"next\"");
	}
}

/* A POST of the JSON text in body, freed here; its answer is kept in
 * *answer. */
static enum dc_status
post_text(struct dirclient *dc, const char *path, struct jsonw *body,
    json_t **answer)
{
	enum dc_status st;

	if (body->failed) {
		jw_free(body);
		seterr(dc, "%s%s: cannot build the request (text not UTF-8?)",
		    dc->server, path);
		return DC_REJECTED;
	}
	st = request(dc, path, NULL, body, answer);
	jw_free(body);
	return st;
}

/* A POST of send, taken; its answer is kept in *answer. */
static enum dc_status
post(struct dirclient *dc, const char *path, json_t *send, json_t **answer)
{
	struct jsonw body = { 0 };

	if (send == NULL)
		body.failed = true;
	else
		jw_json(&body, send);
	json_decref(send);
	return post_text(dc, path, &body, answer);
}

enum dc_status
dc_register(struct dirclient *dc, const char *user, const char *ip,
    int port, json_t **peer)
{
	return dc_register_with(dc, user, ip, port, NULL, peer);
}

enum dc_status
dc_register_with(struct dirclient *dc, const char *user, const char *ip,
    int port, json_t *candidates, json_t **peer)
{
	json_t *send, *ans, *c;
	enum dc_status st;

	*peer = NULL;
	send = json_pack("{s:s, s:i}", "username", user, "port", port);
	if (send != NULL && ip != NULL)
		json_object_set_new(send, "ip", json_string(ip));
	if (send != NULL && candidates != NULL)
		json_object_set(send, "candidates", candidates);
	if (send != NULL && dc->signing && strcasecmp(dc->signer, user) == 0) {
		char b64[KEY_B64_LEN + 1];

		key_b64(dc->pk, b64);
		json_object_set_new(send, "key", json_string(b64));
	}
	if ((st = post(dc, "/register", send, &ans)) != DC_OK)
		return st;
	*peer = dc_peer_out(ans);
	if (*peer == NULL || !copy(*peer, ans, "created", JSON_TRUE) ||
	    !copy(*peer, ans, "observed_ip", JSON_STRING)) {
		json_decref(ans);
		json_decref(*peer);
		*peer = NULL;
		return bad_answer(dc, "/register", "is not a peer");
	}
	if (json_is_array(c = json_object_get(ans, "candidates")))
		json_object_set(*peer, "candidates", c);
	json_decref(ans);
	return DC_OK;
}

enum dc_status
dc_rotate(struct dirclient *dc, const char *user,
    const unsigned char new_sk[crypto_sign_SECRETKEYBYTES])
{
	unsigned char new_pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
	char old_b64[KEY_B64_LEN + 1], new_b64[KEY_B64_LEN + 1], msg[256];
	char sig_b64[SIG_B64_LEN + 1];
	json_t *send, *ans;
	enum dc_status st;
	int n;

	if (!dc->signing) {
		seterr(dc, "/key/rotate: no key to sign with");
		return DC_INTERNAL;
	}
	crypto_sign_ed25519_sk_to_pk(new_pk, new_sk);
	key_b64(dc->pk, old_b64);
	key_b64(new_pk, new_b64);
	n = snprintf(msg, sizeof(msg), "chat-rotate-v1\n%s\n%s\n%s", user,
	    old_b64, new_b64);
	if (n < 0 || (size_t)n >= sizeof(msg) || crypto_sign_detached(sig,
	    NULL, (const unsigned char *)msg, (size_t)n, new_sk) != 0) {
		seterr(dc, "/key/rotate: cannot sign the proof");
		return DC_INTERNAL;
	}
	sodium_bin2base64(sig_b64, sizeof(sig_b64), sig, sizeof(sig),
	    sodium_base64_VARIANT_ORIGINAL);
	send = json_pack("{s:s, s:s, s:s}", "username", user, "key", new_b64,
	    "proof", sig_b64);
	if ((st = post(dc, "/key/rotate", send, &ans)) != DC_OK)
		return st;
	json_decref(ans);
	return DC_OK;
}

enum dc_status
dc_peerinfo(struct dirclient *dc, const char *user, json_t **peer)
{
	const char *q[] = { "username", user, NULL };
	json_t *ans;
	enum dc_status st;

	*peer = NULL;
	if ((st = request(dc, "/peerinfo", q, NULL, &ans)) != DC_OK)
		return st;
	*peer = dc_peer_out(ans);
	json_decref(ans);
	return *peer != NULL ? DC_OK : bad_answer(dc, "/peerinfo",
	    "is not a peer");
}

enum dc_status
dc_peerinfo_ext(struct dirclient *dc, const char *user, json_t **peer)
{
	const char *q[] = { "username", user, NULL };
	json_t *ans, *c;
	enum dc_status st;

	*peer = NULL;
	if ((st = request(dc, "/peerinfo", q, NULL, &ans)) != DC_OK)
		return st;
	*peer = dc_peer_out(ans);
	c = json_object_get(ans, "candidates");
	if (*peer != NULL && json_is_array(c) &&
	    json_object_set(*peer, "candidates", c) != 0) {
		json_decref(*peer);
		*peer = NULL;
	}
	json_decref(ans);
	return *peer != NULL ? DC_OK : bad_answer(dc, "/peerinfo",
	    "is not a peer");
}

enum dc_status
dc_relay(struct dirclient *dc, const char *user, const char *peer,
    json_t *cands, int port, char token[65], char relay[NETADDR_HOSTLEN + 8])
{
	json_t *ans, *req;
	const char *t, *r;
	enum dc_status st;

	req = json_pack("{s:s, s:s}", "username", user, "peer", peer);
	if (req != NULL && cands != NULL && (json_object_set(req, "candidates",
	    cands) != 0 || json_object_set_new(req, "port",
	    json_integer(port)) != 0)) {
		json_decref(req);
		req = NULL;
	}
	st = post(dc, "/relay", req, &ans);
	if (st == DC_PROTOCOL && dc->http == 404)
		return DC_UNSUPPORTED;
	if (st != DC_OK)
		return st;
	t = json_string_value(json_object_get(ans, "token"));
	r = json_string_value(json_object_get(ans, "relay"));
	if (t == NULL || strlen(t) != 64 || r == NULL ||
	    strlen(r) >= NETADDR_HOSTLEN + 8) {
		json_decref(ans);
		return bad_answer(dc, "/relay", "has no token and relay");
	}
	memcpy(token, t, 65);
	snprintf(relay, NETADDR_HOSTLEN + 8, "%s", r);
	json_decref(ans);
	return DC_OK;
}

enum dc_status
dc_peers(struct dirclient *dc, bool online_only, dc_item_fn fn, void *arg)
{
	struct list l = { .path = "/peers", .key = "peers",
	    .conv = dc_peer_out, .query = { NULL } };

	if (online_only) {
		l.query[0] = "online";
		l.query[1] = "1";
	}
	return list_read(dc, &l, fn, arg);
}

enum dc_status
dc_logout(struct dirclient *dc, const char *user)
{
	json_t *ans;
	enum dc_status st;

	st = post(dc, "/logout", json_pack("{s:s}", "username", user), &ans);
	json_decref(ans);
	return st;
}

enum dc_status
dc_friends(struct dirclient *dc, const char *user, dc_item_fn fn, void *arg)
{
	struct list l = { .path = "/friend/get/", .key = "friends",
	    .conv = dc_peer_out, .query = { "username", user, NULL } };

	return list_read(dc, &l, fn, arg);
}

enum dc_status
dc_friend_add(struct dirclient *dc, const char *user, const char *friend,
    bool *created)
{
	json_t *ans, *c;
	enum dc_status st;

	*created = false;
	st = post(dc, "/friend/start/", json_pack("{s:s, s:s}", "user1", user,
	    "user2", friend), &ans);
	if (st != DC_OK)
		return st;
	c = json_object_get(ans, "created");
	*created = json_is_true(c);
	json_decref(ans);
	return DC_OK;
}

enum dc_status
dc_messages(struct dirclient *dc, const struct dc_query *q, dc_item_fn fn,
    void *arg)
{
	struct list l = { .key = "messages", .conv = dc_message_out };
	char last[24];

	if (q->peer != NULL) {
		l.path = "/message/get/";
		l.query[0] = "peer1";
		l.query[1] = q->user;
		l.query[2] = "peer2";
		l.query[3] = q->peer;
	} else {
		l.path = "/message/inbox/";
		l.query[0] = "username";
		l.query[1] = q->user;
	}
	if (q->after > 0)
		snprintf(l.cursor, sizeof(l.cursor), "%" PRId64, q->after);
	/* "last" picks where the list starts; later pages go on from
	 * "next", and no more than last are read. */
	if (q->last > 0) {
		snprintf(last, sizeof(last), "%" PRId64, q->last);
		l.first[0] = "last";
		l.first[1] = last;
		l.max = q->last;
	}
	return list_read(dc, &l, fn, arg);
}

/* An envelope as a JSON string. It is ASCII that sealer wrote (names,
 * base64 and JSON punctuation), in which only the quotes need escaping;
 * jw_str would take it through jansson, a third of the client's time. */
static void
put_envelope(struct jsonw *w, const char *env)
{
	size_t n = strlen(env), q = 0;
	char *p;

	for (size_t i = 0; i < n; i++)
		q += env[i] == '"';
	if (!jw_reserve(w, n + q + 2))
		return;
	p = w->data + w->len;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (env[i] == '"')
			*p++ = '\\';
		*p++ = env[i];
	}
	*p++ = '"';
	w->len = (size_t)(p - w->data);
}

/* One message as the directory takes it, written straight out: a batch
 * is thousands of them. content: what to store, NULL for m's text. */
static void
put_outgoing(struct jsonw *w, const struct dc_outgoing *m,
    const char *content)
{
	if (content == NULL)
		content = m->text;
	jw_lit(w, "{\"sender\":");
	jw_str(w, m->from, strlen(m->from));
	jw_lit(w, ",\"receiver\":");
	jw_str(w, m->to, strlen(m->to));
	jw_lit(w, ",\"content\":");
	if (content != m->text)
		put_envelope(w, content);
	else
		jw_str(w, content, strlen(content));
	if (m->uid != NULL) {
		jw_lit(w, ",\"uid\":");
		jw_str(w, m->uid, strlen(m->uid));
	}
	jw_lit(w, "}");
}

/* Messages made ready to go: a uid for those without one (the envelope
 * binds it), and what each stores, sealed when the sealer says so. */
struct dc_ready {
	struct dc_outgoing *m;	/* the caller's, which get the ids */
	struct dc_outgoing *o;	/* m itself when nothing is sealed */
	char (*uid)[UID_HEX_LEN];
	char **content;		/* NULL: the text */
	size_t n;
	/* all n as batch requests, made and hashed ahead in the thread that
	 * seals, so that the one that posts only sends: the requests
	 * post_many would make; none when n is 1, or a text cannot be
	 * written (then post_many finds it when posting) */
	struct ready_req *req;
	size_t nreq;
};

/* One batch request made ready: messages [from, to) of its dc_ready. */
struct ready_req {
	struct jsonw body;
	unsigned char b2h[SIG_HASHLEN];	/* its BLAKE2b-256, as s2 takes it */
	size_t from, to;
};

void
dc_ready_free(struct dc_ready *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->content != NULL && i < r->n; i++)
		free(r->content[i]);
	free(r->content);
	free(r->uid);
	for (size_t i = 0; i < r->nreq; i++)
		jw_free(&r->req[i].body);
	free(r->req);
	if (r->o != r->m)
		free(r->o);
	free(r);
}

static const char *ready_content(const struct dc_ready *r, size_t i);

/* What batch_requests hands each request to: the body (closed, for fn to
 * take) of messages [from, to) of r. */
typedef enum dc_status (*req_fn)(void *arg, struct dc_ready *r,
    struct jsonw *body, size_t from, size_t to);

/* The batch requests of r's messages [from, to), in order, each with as
 * many as fit in DC_BATCH_BYTES (sealed messages take more room than
 * their callers count on), each handed to fn; stops at fn's first
 * failure, and returns it. */
static enum dc_status
batch_requests(struct dc_ready *r, size_t from, size_t to, req_fn fn,
    void *arg)
{
	struct jsonw body = { 0 };
	enum dc_status st;
	size_t first = from, i, before;

	jw_lit(&body, "{\"messages\":[");
	for (i = from; i < to; i++) {
		before = body.len;
		if (i > first)
			jw_lit(&body, ",");
		put_outgoing(&body, &r->o[i], ready_content(r, i));
		if (i > first && !body.failed &&
		    body.len + 2 > DC_BATCH_BYTES) {
			body.len = before;
			jw_lit(&body, "]}");
			if ((st = fn(arg, r, &body, first, i)) != DC_OK)
				return st;
			first = i--;
			body = (struct jsonw){ 0 };
			jw_lit(&body, "{\"messages\":[");
		}
	}
	jw_lit(&body, "]}");
	return fn(arg, r, &body, first, to);
}

/* A request made ready: kept in r, hashed. */
static enum dc_status
keep_req(void *arg, struct dc_ready *r, struct jsonw *body, size_t from,
    size_t to)
{
	struct ready_req *q;

	(void)arg;
	if (body->failed || (q = reallocarray(r->req, r->nreq + 1,
	    sizeof(*r->req))) == NULL) {
		jw_free(body);
		return DC_INTERNAL;
	}
	r->req = q;
	q = &r->req[r->nreq++];
	*q = (struct ready_req){ .body = *body, .from = from, .to = to };
	sig_body_hash(true, body->data, body->len, q->b2h);
	return DC_OK;
}

/* r's requests, when its messages are more than one. */
static void
render_ready(struct dc_ready *r)
{
	if (r->n < 2 || batch_requests(r, 0, r->n, keep_req, NULL) == DC_OK)
		return;
	for (size_t i = 0; i < r->nreq; i++)
		jw_free(&r->req[i].body);
	free(r->req);
	r->req = NULL;
	r->nreq = 0;
}

enum dc_status
dc_seal(struct dirclient *dc, struct dc_outgoing *m, size_t n,
    struct dc_ready **out)
{
	char err[sizeof(dc->err)];
	enum dc_status st;
	struct dc_ready *r;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto nomem;
	*r = (struct dc_ready){ .m = m, .o = m, .n = n };
	if (dc->sealer == NULL) {
		render_ready(r);
		*out = r;
		return DC_OK;
	}
	r->o = calloc(n, sizeof(*r->o));
	r->uid = calloc(n, sizeof(*r->uid));
	r->content = calloc(n, sizeof(*r->content));
	if (r->o == NULL || r->uid == NULL || r->content == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		r->o[i] = m[i];
		if (r->o[i].uid == NULL) {
			uid_new(r->uid[i]);
			r->o[i].uid = r->uid[i];
		}
	}
	if ((st = sealer_seal(dc->sealer, dc, r->o, n, r->content, err,
	    sizeof(err))) != DC_OK) {
		dc_ready_free(r);
		seterr(dc, "%s", err);
		return st;
	}
	render_ready(r);
	*out = r;
	return DC_OK;
nomem:
	dc_ready_free(r);
	seterr(dc, "%s/message/create/: out of memory", dc->server);
	return DC_INTERNAL;
}

/* What message i of r stores, for put_outgoing. */
static const char *
ready_content(const struct dc_ready *r, size_t i)
{
	return r->content != NULL ? r->content[i] : NULL;
}

/* The ids of r's messages [from, to), once stored, in the caller's. */
static void
ready_ids(struct dc_ready *r, size_t from, size_t to)
{
	for (size_t i = from; r->o != r->m && i < to; i++) {
		r->m[i].id = r->o[i].id;
		r->m[i].created = r->o[i].created;
	}
}

/* Stores message i of r alone, with /message/create/'s one-message
 * form. */
static enum dc_status
post_one(struct dirclient *dc, struct dc_ready *r, size_t i)
{
	struct jsonw body = { 0 };
	json_t *ans, *id;
	enum dc_status st;

	put_outgoing(&body, &r->o[i], ready_content(r, i));
	if ((st = post_text(dc, "/message/create/", &body, &ans)) == DC_OK) {
		id = json_object_get(ans, "message_id");
		if (!json_is_integer(id))
			st = bad_answer(dc, "/message/create/",
			    "has no message_id");
		else {
			r->o[i].id = json_integer_value(id);
			r->o[i].created = dc->http == 201;
		}
		json_decref(ans);
	}
	ready_ids(r, i, i + 1);
	return st;
}

/* The ids of the n messages m of a batch request, from its answer
 * (which is freed). */
static enum dc_status
take_ids(struct dirclient *dc, json_t *ans, struct dc_outgoing *m, size_t n)
{
	json_t *ids = json_object_get(ans, "message_ids");
	size_t i;

	if (!json_is_array(ids) || json_array_size(ids) != n) {
		json_decref(ans);
		return bad_answer(dc, "/message/create/", "has no message_ids");
	}
	for (i = 0; i < n; i++) {
		if (!json_is_integer(json_array_get(ids, i))) {
			json_decref(ans);
			return bad_answer(dc, "/message/create/",
			    "has a bad message id");
		}
		m[i].id = json_integer_value(json_array_get(ids, i));
		m[i].created = dc->http == 201;
	}
	json_decref(ans);
	return DC_OK;
}

/* Posts one batch request, messages [from, to) of r, and takes their
 * ids. */
static enum dc_status
post_now(void *arg, struct dc_ready *r, struct jsonw *body, size_t from,
    size_t to)
{
	struct dirclient *dc = arg;
	json_t *ans;
	enum dc_status st;

	if ((st = post_text(dc, "/message/create/", body, &ans)) == DC_OK)
		st = take_ids(dc, ans, r->o + from, to - from);
	ready_ids(r, from, to);
	return st;
}

/* Posts the requests r was made ready with: all its messages. */
static enum dc_status
post_ready(struct dirclient *dc, struct dc_ready *r)
{
	enum dc_status st = DC_OK;
	json_t *ans;

	for (size_t i = 0; i < r->nreq && st == DC_OK; i++) {
		struct ready_req *q = &r->req[i];

		dc->body_b2h = q->b2h;
		st = request(dc, "/message/create/", NULL, &q->body, &ans);
		dc->body_b2h = NULL;
		if (st == DC_OK)
			st = take_ids(dc, ans, r->o + q->from, q->to - q->from);
		ready_ids(r, q->from, q->to);
	}
	return st;
}

/* Stores r's messages [from, to) with batch requests: one, unless they
 * pass DC_BATCH_BYTES. */
static enum dc_status
post_many(struct dirclient *dc, struct dc_ready *r, size_t from, size_t to)
{
	if (from == 0 && to == r->n && r->nreq > 0)
		return post_ready(dc, r);
	return batch_requests(r, from, to, post_now, dc);
}

enum dc_status
dc_post(struct dirclient *dc, struct dc_ready *r, size_t from, size_t n)
{
	if (from > r->n || n > r->n - from || n == 0) {
		seterr(dc, "%s/message/create/: no such messages", dc->server);
		return DC_INTERNAL;
	}
	return n == 1 ? post_one(dc, r, from) : post_many(dc, r, from,
	    from + n);
}

enum dc_status
dc_send(struct dirclient *dc, struct dc_outgoing *m)
{
	struct dc_ready *r;
	enum dc_status st;

	if ((st = dc_seal(dc, m, 1, &r)) != DC_OK)
		return st;
	st = post_one(dc, r, 0);
	dc_ready_free(r);
	return st;
}

enum dc_status
dc_send_batch(struct dirclient *dc, struct dc_outgoing *m, size_t n)
{
	struct dc_ready *r;
	enum dc_status st;

	if ((st = dc_seal(dc, m, n, &r)) != DC_OK)
		return st;
	st = post_many(dc, r, 0, n);
	dc_ready_free(r);
	return st;
}

int
dc_local_ip(const struct dirclient *dc, char *out, size_t outlen)
{
	char host[256];
	int port;

	if (netaddr_url(dc->server, host, sizeof(host), &port) != 0)
		return -1;
	return net_local_ip(host, port, out, outlen);
}

/* --- the push channel --- */

struct events {
	struct dirclient *dc;
	dc_event_fn fn;
	void *arg;
	char line[DC_EVENT_LINE_MAX];
	size_t len;
	char data[DC_EVENT_LINE_MAX];	/* the event's data line */
	bool have_data;
	bool stopped;		/* fn said stop */
	bool bad;		/* not an event stream */
	bool is_stream;		/* a 200 event stream: else an error body */
};

static void
event_line(struct events *e)
{
	json_t *o;

	if (e->len == 0) {
		if (e->have_data && (o = json_loads(e->data, 0, NULL)) != NULL) {
			if (json_is_object(o) && e->fn(e->arg, o) != 0)
				e->stopped = true;
			json_decref(o);
		}
		e->have_data = false;
		return;
	}
	e->line[e->len] = '\0';
	if (strncmp(e->line, "data:", 5) == 0) {
		const char *v = e->line + 5 + (e->line[5] == ' ');

		/* One line of data per event, in this protocol. */
		snprintf(e->data, sizeof(e->data), "%s", v);
		e->have_data = true;
	}
}

static size_t
on_event_data(char *p, size_t size, size_t n, void *arg)
{
	struct events *e = arg;
	size_t len = size * n;
	long http = 0;

	if (!e->is_stream) {
		curl_easy_getinfo(e->dc->curl, CURLINFO_RESPONSE_CODE, &http);
		if (http != 200)
			return on_data(p, size, n, e->dc);
		e->is_stream = true;
	}
	for (size_t i = 0; i < len && !e->stopped; i++) {
		if (p[i] == '\n') {
			if (e->len > 0 && e->line[e->len - 1] == '\r')
				e->len--;
			event_line(e);
			e->len = 0;
		} else if (e->len + 1 < sizeof(e->line)) {
			e->line[e->len++] = p[i];
		} else {
			e->bad = true;
			return 0;
		}
	}
	return e->stopped ? 0 : len;
}

enum dc_status
dc_events(struct dirclient *dc, const char *user, bool has_after,
    int64_t after, dc_event_fn fn, void *arg)
{
	struct events *e = calloc(1, sizeof(*e));
	char num[24], lei[48];
	const char *q[] = { "username", user, "after", has_after ? num : NULL,
	    NULL };
	struct curl_slist *hdrs = NULL, *l;
	enum dc_status st;
	json_t *ans;
	char *url = NULL;
	CURLcode rc;

	if (e == NULL) {
		seterr(dc, "events: out of memory");
		return DC_INTERNAL;
	}
	e->dc = dc;
	e->fn = fn;
	e->arg = arg;
	snprintf(num, sizeof(num), "%" PRId64, after);
	snprintf(lei, sizeof(lei), "Last-Event-ID: %" PRId64, after);
	if ((url = nonced(dc, dc_url(dc->server, "/events", q))) == NULL ||
	    (hdrs = headers(dc, url, NULL)) == NULL) {
		seterr(dc, "%s/events: out of memory", dc->server);
		st = DC_INTERNAL;
		goto end;
	}
	/* headers() may give the shared list: copy it before adding. */
	if (hdrs == dc->get_hdrs) {
		hdrs = NULL;
		for (const struct curl_slist *h = dc->get_hdrs; h != NULL;
		    h = h->next)
			if ((l = curl_slist_append(hdrs, h->data)) != NULL)
				hdrs = l;
	}
	if ((l = curl_slist_append(hdrs, "Accept: text/event-stream")) != NULL)
		hdrs = l;
	if (has_after && (l = curl_slist_append(hdrs, lei)) != NULL)
		hdrs = l;
	curl_easy_setopt(dc->curl, CURLOPT_URL, url);
	curl_easy_setopt(dc->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(dc->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(dc->curl, CURLOPT_WRITEFUNCTION, on_event_data);
	curl_easy_setopt(dc->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(dc->curl, CURLOPT_TIMEOUT_MS, 0L);
	curl_easy_setopt(dc->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(dc->curl, CURLOPT_LOW_SPEED_TIME,
	    (long)(DC_EVENT_IDLE_MS / 1000));
	dc->len = 0;
	dc->too_big = dc->no_memory = false;
	dc->curlerr[0] = '\0';
	rc = curl_easy_perform(dc->curl);
	curl_easy_setopt(dc->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(dc->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(dc->curl, CURLOPT_WRITEDATA, dc);
	curl_easy_setopt(dc->curl, CURLOPT_TIMEOUT_MS, dc->timeout_ms);
	curl_easy_setopt(dc->curl, CURLOPT_LOW_SPEED_LIMIT, 0L);
	curl_easy_setopt(dc->curl, CURLOPT_LOW_SPEED_TIME, 0L);
	if (e->stopped) {
		st = DC_OK;
	} else if (e->bad) {
		seterr(dc, "%s: a line longer than %d bytes", url,
		    DC_EVENT_LINE_MAX);
		st = DC_PROTOCOL;
	} else if (rc != CURLE_OK) {
		st = dc_curl_status(rc);
		seterr(dc, "%s: %s", url, st == DC_CANCELLED ? "interrupted" :
		    dc->curlerr[0] ? dc->curlerr : curl_easy_strerror(rc));
	} else if (e->is_stream) {
		st = DC_OK;
	} else {
		curl_easy_getinfo(dc->curl, CURLINFO_RESPONSE_CODE, &dc->http);
		ans = json_loadb(dc->buf != NULL ? dc->buf : "", dc->len, 0,
		    NULL);
		st = dc_http_status(dc->http, ans);
		if (dc->http == 404 && st == DC_PROTOCOL)
			st = DC_UNSUPPORTED;
		else if (st == DC_OK)
			st = DC_PROTOCOL;
		seterr(dc, "%s: %ld %s", url, dc->http,
		    json_is_string(json_object_get(ans, "error")) ?
		    json_string_value(json_object_get(ans, "error")) :
		    "not an event stream");
		json_decref(ans);
	}
end:
	curl_slist_free_all(hdrs);
	free(url);
	free(e);
	return st;
}
