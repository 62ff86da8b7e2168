/* libFuzzer target: the HTTP API of chat-dird (api_handle), in process,
 * against a real store on a file in a tmpfs folder. The input's first
 * byte picks the method (and the remote address), the second the path;
 * then comes the query string up to a newline, then the body. Every
 * answer must be one JSON object of a 2xx or 4xx status. The first
 * byte's top bits add a Chat-Signature: a true one by a keyed user, or
 * the body's bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdnoreturn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/jarena.h"
#include "core/util.h"
#include "dir/api.h"
#include "sec/keys.h"
#include "sec/sig.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz-api: %s:%d: " \
	"check failed: %s\n", __FILE__, __LINE__, #c); fail(); } } while (0)

#define FRESH_EVERY 2000	/* inputs before the store starts over */
#define ARGS_MAX 64

static const char *const methods[] = {
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "get", "",
};
static const char *const remotes[] = {
	"127.0.0.1", "::1", "192.0.2.7", "2001:db8::1",
};
/* The last entry: the path is the query line up to its '?'. */
static const char *const paths[] = {
	"/register", "/register/", "/peers", "/peers/", "/peerinfo",
	"/peerinfo/", "/friend/start", "/friend/start/", "/friend/get",
	"/friend/get/", "/message/create", "/message/create/",
	"/message/get", "/message/get/", "/message/inbox",
	"/message/inbox/", "/logout", "/logout/", "/healthz", "/healthz/",
	"/key/rotate", NULL,
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))

static struct {
	char dir[256], db[300];
	struct store *store;
	struct api *api;
	unsigned long runs;
	unsigned char dave_pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char dave_sk[crypto_sign_SECRETKEYBYTES];
	char dave_key[KEY_B64_LEN + 1];
} g;

static void
remove_files(void)
{
	static const char *const ext[] = { "", "-wal", "-shm", "-journal" };
	char p[320];

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", g.db, ext[i]);
		unlink(p);
	}
}

/* A check failed: the store's files go, and libFuzzer keeps the input. */
static noreturn void
fail(void)
{
	remove_files();
	rmdir(g.dir);
	abort();
}

static void
seed_message(const char *from, const char *to, const char *text)
{
	struct store_new_message m = { .sender = from, .receiver = to,
	    .content = text, .content_len = strlen(text) };
	size_t bad;

	CHECK(store_messages_create(g.store, &m, 1, 1700000000000, &bad) ==
	    STORE_OK);
}

/* A fresh store with a few peers, a friendship and a conversation. */
static void
fresh_store(void)
{
	static const struct api_config cfg = { .max_body = 1 << 20,
	    .max_content = 1000, .presence_ms = 90000 };
	struct store_opts o = { .path = g.db };
	struct store_peer p;
	char err[256];
	bool created;

	if (g.store != NULL) {
		api_free(g.api);
		store_close(g.store);
		remove_files();
	}
	if (store_open(&o, &g.store, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "fuzz-api: %s: %s\n", g.db, err);
		exit(1);
	}
	CHECK((g.api = api_new(g.store, &cfg)) != NULL);
	CHECK(store_register(g.store, "alice", "127.0.0.1", 5001, NULL, NULL,
	    1700000000000, &p, &created) == STORE_OK);
	CHECK(store_register(g.store, "bob", "::1", 5002, NULL, NULL, 1700000000000,
	    &p, &created) == STORE_OK);
	CHECK(store_register(g.store, "carol.x", "192.0.2.1", 65535, NULL, NULL,
	    1700000000000, &p, &created) == STORE_OK);
	/* dave has a key: the keyed checks are reached too */
	CHECK(store_register(g.store, "dave", "127.0.0.2", 5004, g.dave_key, NULL,
	    1700000000000, &p, &created) == STORE_OK);
	CHECK(store_friend_add(g.store, "alice", "bob", &created) ==
	    STORE_OK);
	seed_message("alice", "bob", "hi bob");
	seed_message("bob", "alice", "hi alice \"quoted\" \\ \xc3\xa9");
	seed_message("carol.x", "bob", "");
}

static void
cleanup(void)
{
	api_free(g.api);
	store_close(g.store);
	remove_files();
	rmdir(g.dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	jarena_init();	/* as chat-dird runs: requests parse into an arena */
	{
		unsigned char seed[crypto_sign_SEEDBYTES] = { 4 };

		CHECK(sodium_init() >= 0);
		crypto_sign_seed_keypair(g.dave_pk, g.dave_sk, seed);
		key_b64(g.dave_pk, g.dave_key);
	}
	if (access("/dev/shm", W_OK) == 0)
		tmp = "/dev/shm";
	else if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(g.dir, sizeof(g.dir), "%s/fuzz-api.XXXXXX", tmp);
	if (mkdtemp(g.dir) == NULL) {
		perror("fuzz-api: mkdtemp");
		exit(1);
	}
	snprintf(g.db, sizeof(g.db), "%s/dir.db", g.dir);
	fresh_store();
	atexit(cleanup);
	return 0;
}

/* The query arguments, decoded as libmicrohttpd does; a value with an
 * embedded NUL reads as "\x7f", as in httpd.c. */
struct query {
	size_t n;
	char *key[ARGS_MAX];
	char *val[ARGS_MAX];	/* NULL: "key" without '=' */
};

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *
decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t i, k = 0;
	int hi, lo;

	CHECK(out != NULL);
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    (hi = hex((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hex((unsigned char)s[i + 2])) >= 0) {
			out[k++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[k++] = s[i] == '+' ? ' ' : s[i];
	}
	if (memchr(out, '\0', k) != NULL) {
		out[0] = '\x7f';
		k = 1;
	}
	out[k] = '\0';
	return out;
}

static void
query_parse(struct query *q, const char *s, size_t n)
{
	const char *end = s + n, *amp, *eq;

	q->n = 0;
	while (s < end && q->n < ARGS_MAX) {
		if ((amp = memchr(s, '&', (size_t)(end - s))) == NULL)
			amp = end;
		if (amp > s) {
			eq = memchr(s, '=', (size_t)(amp - s));
			q->key[q->n] = decode(s, (size_t)((eq ? eq : amp) - s));
			q->val[q->n] = eq ? decode(eq + 1,
			    (size_t)(amp - eq - 1)) : NULL;
			q->n++;
		}
		s = amp + 1;
	}
}

static void
query_free(struct query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->key[i]);
		free(q->val[i]);
	}
}

static const char *
query_arg(void *ctx, const char *key)
{
	struct query *q = ctx;

	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->key[i], key) == 0)
			return q->val[i];
	return NULL;
}

/* The whole answer, a list drained in chunk sizes drawn from seed. */
static char *
drain(struct api_response *rs, unsigned seed, size_t *len)
{
	size_t cap = 4096, n = 0, want;
	char *all;
	ssize_t got;

	if (rs->stream == NULL) {
		*len = rs->body_len;
		return rs->body;
	}
	CHECK(rs->body == NULL && rs->status == 200);
	CHECK((all = malloc(cap)) != NULL);
	for (;;) {
		seed = seed * 1103515245 + 12345;
		want = 1 + (seed >> 16) % 3000;
		if (cap - n < want)
			CHECK((all = realloc(all, cap = (cap + want) * 2)) !=
			    NULL);
		if ((got = api_stream_read(rs->stream, all + n, want)) == 0)
			break;
		CHECK(got > 0 && (size_t)got <= want);
		n += (size_t)got;
	}
	CHECK(api_stream_read(rs->stream, all, 1) == 0);
	api_stream_free(rs->stream);
	*len = n;
	return all;
}

static void
check_answer(const struct api_request *rq, struct api_response *rs,
    unsigned seed)
{
	json_error_t e;
	json_t *o;
	size_t len;
	char *body;

	body = drain(rs, seed, &len);
	if (rs->status != 200 && rs->status != 201 && rs->status != 400 &&
	    rs->status != 401 && rs->status != 403 && rs->status != 404 &&
	    rs->status != 405 && rs->status != 409 && rs->status != 413) {
		fprintf(stderr, "fuzz-api: %s %s: status %d: %.*s\n",
		    rq->method, rq->path, rs->status,
		    len > 500 ? 500 : (int)len, body);
		fail();
	}
	CHECK((rs->status == 405) == (rs->allow != NULL));
	CHECK(body != NULL && len > 0 && body[len - 1] == '\n');
	if ((o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e)) == NULL) {
		fprintf(stderr, "fuzz-api: %s %s: %d: not JSON: %s: %.*s\n",
		    rq->method, rq->path, rs->status, e.text,
		    len > 500 ? 500 : (int)len, body);
		fail();
	}
	CHECK(json_is_object(o));
	if (rs->status >= 400) {
		CHECK(json_is_string(json_object_get(o, "error")));
		CHECK(json_is_string(json_object_get(o, "code")));
	}
	json_decref(o);
	free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line, *nl, *qs, *path;
	struct api_request rq = { .arg = query_arg };
	struct api_response rs;
	struct query q;
	size_t linelen, pathlen = 0;
	char sig[SIG_HEADER_MAX + 1];
	char *pathbuf = NULL;

	if (size < 2)
		return 0;
	if (++g.runs % FRESH_EVERY == 0)
		fresh_store();
	line = (const char *)data + 2;
	nl = memchr(line, '\n', size - 2);
	linelen = nl != NULL ? (size_t)(nl - line) : size - 2;
	rq.method = methods[data[0] % 8];
	rq.remote = remotes[data[0] / 8 % 4];
	path = paths[data[1] % NPATHS];
	qs = line;
	if (path == NULL) {
		/* The request target is the line: path, '?', query. */
		qs = memchr(line, '?', linelen);
		pathlen = qs != NULL ? (size_t)(qs - line) : linelen;
		CHECK((pathbuf = malloc(pathlen + 1)) != NULL);
		memcpy(pathbuf, line, pathlen);
		pathbuf[pathlen] = '\0';
		if (strlen(pathbuf) != pathlen)
			pathbuf[0] = '\0';
		path = pathbuf;
		qs = qs != NULL ? qs + 1 : line + linelen;
	} else if (linelen > 0 && *qs == '?')
		qs++;
	rq.path = path;
	query_parse(&q, qs, linelen - (size_t)(qs - line));
	rq.arg_ctx = &q;
	if (nl != NULL) {
		rq.body = nl + 1;
		rq.body_len = size - 2 - linelen - 1;
	}
	/* The top bits of the first byte: a signature by dave of this very
	 * request (so that keyed requests get past the checks), or the
	 * request's last line as the header (so the parser meets garbage). */
	if (data[0] & 0x80) {
		char target[1024];

		snprintf(target, sizeof(target), "%s%s%.*s", rq.path,
		    qs < line + linelen ? "?" : "", (int)(line + linelen - qs), qs);
		if (sig_header(g.dave_sk, rq.method, target, "dave", now_ms(),
		    rq.body != NULL ? rq.body : "", rq.body_len, sig, sizeof(sig))) {
			rq.target = target;
			rq.signature = sig;
			api_handle(g.api, &rq, &rs);
			check_answer(&rq, &rs, data[0] | (unsigned)data[1] << 8);
			query_free(&q);
			free(pathbuf);
			return 0;
		}
	} else if ((data[0] & 0x40) && rq.body_len > 0 &&
	    rq.body_len < sizeof(sig) && memchr(rq.body, '\0', rq.body_len) ==
	    NULL) {
		memcpy(sig, rq.body, rq.body_len);
		sig[rq.body_len] = '\0';
		rq.signature = sig;
	}
	api_handle(g.api, &rq, &rs);
	check_answer(&rq, &rs, data[0] | (unsigned)data[1] << 8);
	query_free(&q);
	free(pathbuf);
	return 0;
}
