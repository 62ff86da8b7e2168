/* httpd: serves the api over HTTP/1.1 with libmicrohttpd (epoll, a thread
 * pool, keep-alive), logging each request as a JSON line. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sys/socket.h>

#include "dir/httpd.h"
#include "core/log.h"
#include "core/util.h"
#include "net/netaddr.h"
#include "sec/sig.h"

#define STREAM_BLOCK (64 * 1024)
#define LOGGED_PATH 256
#define WORKERS 16		/* threads that run writes */
#define WORKER_STACK (256 * 1024)

struct req;

/* Reads are answered on the I/O threads. A write (POST) is handed to a
 * worker with its connection suspended, so that the I/O threads go on
 * serving and concurrent writes can share one commit in the store. */
struct httpd {
	struct MHD_Daemon *d;
	struct api *api;
	struct httpd_config cfg;
	atomic_int active;	/* requests between their start and end */
	pthread_t workers[WORKERS];
	int nworkers;
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;
	struct req *q_head, **q_tail;
	bool stopping;
};

/* One request: its body so far and what the log line needs. */
struct req {
	struct httpd *h;
	char *body;
	size_t len, cap;	/* cap: bytes allocated, room for a NUL */
	bool too_large;
	bool answered;
	bool started;		/* the handler has seen it */
	char *target;		/* the request target as sent */
	/* a write waiting for, or done by, a worker */
	struct MHD_Connection *conn;
	const char *url, *method_s;
	struct api_response rs;
	bool done;
	struct req *qnext;
	int status;
	int64_t start;
	char method[16];
	char auth[3];		/* the kind of Chat-Signature: v1, s1, s2 */
	char path[LOGGED_PATH];
	char remote[NETADDR_HOSTLEN];
	char local[NETADDR_HOSTLEN];	/* where it came to */
};

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_event("warn", "httpd", json_pack("{s:s}", "message", msg));
}

/* A query argument. One that decodes to an embedded NUL ("a%00b") would
 * read as a shorter, different value; it becomes one no check accepts. */
static const char *
query_arg(void *ctx, const char *key)
{
	const char *v = NULL;
	size_t len = 0;

	if (MHD_lookup_connection_value_n(ctx, MHD_GET_ARGUMENT_KIND, key,
	    strlen(key), &v, &len) != MHD_YES || v == NULL)
		return NULL;
	return strlen(v) == len ? v : "\x7f";
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	ssize_t n = api_stream_read(cls, buf, max);

	(void)pos;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void
stream_free(void *cls)
{
	api_stream_free(cls);
}

static ssize_t
events_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	ssize_t n = push_read(cls, buf, max);

	(void)pos;
	return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void
events_free(void *cls)
{
	push_close(cls);
}

static void
conn_suspend(void *conn)
{
	MHD_suspend_connection(conn);
}

static void
conn_resume(void *conn)
{
	MHD_resume_connection(conn);
}

/* An event stream: parked (suspended) whenever it has nothing to send,
 * so that it holds no thread while it waits. */
static enum MHD_Result
respond_events(struct MHD_Connection *conn, struct req *r,
    struct api_response *rs)
{
	const struct push_waker w = { conn_suspend, conn_resume, conn };
	struct MHD_Response *resp;
	enum MHD_Result ret;

	push_set_waker(rs->events, &w);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
	    events_read, rs->events, events_free);
	if (resp == NULL) {
		push_close(rs->events);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/event-stream") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-cache") != MHD_YES ||
	    /* nginx and its kind pass each event on at once */
	    MHD_add_response_header(resp, "X-Accel-Buffering", "no") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->status = rs->status;
	r->answered = true;
	ret = MHD_queue_response(conn, (unsigned)rs->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
respond(struct MHD_Connection *conn, struct req *r, struct api_response *rs)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (rs->events != NULL)
		return respond_events(conn, r, rs);
	if (rs->stream != NULL)
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
		    STREAM_BLOCK, stream_read, rs->stream, stream_free);
	else
		resp = MHD_create_response_from_buffer(rs->body_len, rs->body,
		    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		if (rs->stream != NULL)
			api_stream_free(rs->stream);
		else
			free(rs->body);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json") != MHD_YES ||
	    (rs->allow != NULL && MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_ALLOW, rs->allow) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->status = rs->status;
	r->answered = true;
	ret = MHD_queue_response(conn, (unsigned)rs->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A request begins with its request line: its target is kept as sent,
 * undecoded, since a signature covers those bytes. */
static void *
req_new(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct httpd *h = cls;
	struct req *r = calloc(1, sizeof(*r));
	const union MHD_ConnectionInfo *ci;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int port;

	if (r == NULL)
		return NULL;
	if ((r->target = strdup(uri)) == NULL) {
		free(r);
		return NULL;
	}
	r->h = h;
	r->start = mono_ms();
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL)
		netaddr_format(ci->client_addr, r->remote, &port);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL && getsockname(ci->connect_fd, (struct sockaddr *)&ss,
	    &sl) == 0)
		netaddr_format((struct sockaddr *)&ss, r->local, &port);
	atomic_fetch_add(&h->active, 1);
	return r;
}

static const struct api_request *
request_of(struct req *r, struct MHD_Connection *conn, const char *method,
    const char *url, struct api_request *rq)
{
	*rq = (struct api_request){
		.method = method,
		.path = url,
		.arg = query_arg,
		.arg_ctx = conn,
		.body = r->body,
		.body_len = r->len,
		.remote = r->remote,
		.local = r->local,
		.target = r->target,
		.signature = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    SIG_HEADER),
		.last_event_id = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "Last-Event-ID"),
	};
	return rq;
}

static void *worker_main(void *arg);

/* The kind a Chat-Signature header says it is, for the log: whether
 * clients sign or MAC, and with which digest. Empty for anything else;
 * the API judges the header. */
static void
auth_kind(const char *sig, char kind[3])
{
	kind[0] = '\0';
	if (sig != NULL && (strncmp(sig, "v1 ", 3) == 0 ||
	    strncmp(sig, "s1 ", 3) == 0 || strncmp(sig, "s2 ", 3) == 0)) {
		memcpy(kind, sig, 2);
		kind[2] = '\0';
	}
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **ctx)
{
	struct httpd *h = cls;
	struct req *r = *ctx;
	struct api_response rs = { 0 };
	struct api_request rq;

	(void)version;
	if (r == NULL)
		return MHD_NO;		/* out of memory at its start */
	if (!r->started) {
		const char *cl;
		int64_t n;
		bool known;

		r->started = true;
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->path, sizeof(r->path), "%s", url);
		auth_kind(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    SIG_HEADER), r->auth);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		known = cl != NULL && parse_int(cl, 0, INT64_MAX, &n);
		if (known && (uint64_t)n > h->cfg.max_body) {
			/* Answer now, without reading a body we would refuse. */
			api_error(&rs, 413, "body_too_large", "the request body"
			    " exceeds %zu bytes", h->cfg.max_body);
			return respond(conn, r, &rs);
		}
		/* A body of known length is read into one allocation. */
		if (known && n > 0 && (r->body = malloc((size_t)n + 1)) != NULL)
			r->cap = (size_t)n + 1;
		return MHD_YES;
	}
	if (r->answered)
		return MHD_YES;
	if (*upload_size > 0) {
		if (!r->too_large && r->len + *upload_size <= h->cfg.max_body) {
			size_t need = r->len + *upload_size + 1;

			if (need > r->cap) {
				/* Doubling: a long body without a length is
				 * not copied over and over. */
				size_t cap = r->cap * 2 > need ? r->cap * 2 : need;
				char *nb;

				if (cap > h->cfg.max_body + 1)
					cap = h->cfg.max_body + 1;
				if ((nb = realloc(r->body, cap)) == NULL)
					return MHD_NO;
				r->body = nb;
				r->cap = cap;
			}
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
		} else {
			r->too_large = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_large) {
		api_error(&rs, 413, "body_too_large", "the request body exceeds"
		    " %zu bytes", h->cfg.max_body);
		return respond(conn, r, &rs);
	}
	if (r->done)
		return respond(conn, r, &r->rs);
	if (h->nworkers > 0 && strcmp(method, "POST") == 0) {
		r->conn = conn;
		r->url = url;
		r->method_s = method;
		MHD_suspend_connection(conn);
		pthread_mutex_lock(&h->q_mu);
		*h->q_tail = r;
		h->q_tail = &r->qnext;
		pthread_mutex_unlock(&h->q_mu);
		/* After letting go: a worker woken with the mutex still held
		 * would only block on it. */
		pthread_cond_signal(&h->q_cv);
		return MHD_YES;
	}
	api_handle(h->api, request_of(r, conn, method, url, &rq), &rs);
	return respond(conn, r, &rs);
}

static void *
worker_main(void *arg)
{
	struct httpd *h = arg;
	struct api_request rq;
	struct req *r;

	for (;;) {
		pthread_mutex_lock(&h->q_mu);
		while (h->q_head == NULL && !h->stopping)
			pthread_cond_wait(&h->q_cv, &h->q_mu);
		if ((r = h->q_head) == NULL) {
			pthread_mutex_unlock(&h->q_mu);
			return NULL;
		}
		if ((h->q_head = r->qnext) == NULL)
			h->q_tail = &h->q_head;
		pthread_mutex_unlock(&h->q_mu);
		api_handle(h->api, request_of(r, r->conn, r->method_s, r->url,
		    &rq), &r->rs);
		r->done = true;
		MHD_resume_connection(r->conn);
	}
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
    enum MHD_RequestTerminationCode toe)
{
	struct httpd *h = cls;
	struct req *r = *ctx;

	(void)conn;
	if (r == NULL)
		return;
	if (!h->cfg.quiet || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		json_t *o = json_pack("{s:s, s:s, s:i, s:I, s:s, s:b}",
		    "method", r->method, "path", r->path, "status", r->status,
		    "ms", (json_int_t)(mono_ms() - r->start), "remote", r->remote,
		    "completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);

		if (o != NULL && r->auth[0] != '\0')
			json_object_set_new(o, "auth", json_string(r->auth));
		log_event(toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "info" :
		    "warn", "request", o);
	}
	atomic_fetch_sub(&h->active, 1);
	free(r->body);
	free(r->target);
	free(r);
	*ctx = NULL;
}

/* Without workers (none could start) writes run on the I/O threads. */
static void
start_workers(struct httpd *h)
{
	pthread_attr_t attr;

	if (pthread_attr_init(&attr) != 0)
		return;
	(void)pthread_attr_setstacksize(&attr, WORKER_STACK);
	while (h->nworkers < WORKERS && pthread_create(
	    &h->workers[h->nworkers], &attr, worker_main, h) == 0)
		h->nworkers++;
	pthread_attr_destroy(&attr);
}

static void
stop_workers(struct httpd *h)
{
	pthread_mutex_lock(&h->q_mu);
	h->stopping = true;
	pthread_cond_broadcast(&h->q_cv);
	pthread_mutex_unlock(&h->q_mu);
	for (int i = 0; i < h->nworkers; i++)
		pthread_join(h->workers[i], NULL);
	h->nworkers = 0;
}

struct httpd *
httpd_start(struct api *api, const struct httpd_config *cfg, char *err,
    size_t errlen)
{
	struct httpd *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->api = api;
	h->cfg = *cfg;
	atomic_init(&h->active, 0);
	pthread_mutex_init(&h->q_mu, NULL);
	pthread_cond_init(&h->q_cv, NULL);
	h->q_tail = &h->q_head;
	h->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
	    MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, cfg->listen_fd,
	    MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns,
	    MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout,
	    /* Per connection, idle ones too: requests are small, bodies
	     * stream through it. */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_URI_LOG_CALLBACK, req_new, h,
	    MHD_OPTION_END);
	if (h->d == NULL) {
		snprintf(err, errlen, "cannot start the HTTP server");
		free(h);
		return NULL;
	}
	start_workers(h);
	return h;
}

void
httpd_stop(struct httpd *h, int grace_ms)
{
	int64_t until = mono_ms() + grace_ms;
	MHD_socket fd;

	if (h == NULL)
		return;
	fd = MHD_quiesce_daemon(h->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	while (atomic_load(&h->active) > 0 && mono_ms() < until) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* Workers finish what is queued and resume those connections. */
	stop_workers(h);
	MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->q_mu);
	pthread_cond_destroy(&h->q_cv);
	free(h);
}
