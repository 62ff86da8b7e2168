/* stun_client: one Binding transaction against a STUN server. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/util.h"
#include "net/stun.h"
#include "net/stun_client.h"

/* RFC 8489, 6.2.1: RTO 500 ms doubling, 7 sends, then 16 RTOs. */
#define RTO_MS 500
#define SENDS 7
#define LAST_WAIT_MS (16 * RTO_MS)

int
stun_server_split(const char *s, int def_port, char host[NETADDR_HOSTLEN],
    int *port)
{
	const char *colon = strchr(s, ':');
	size_t n = strlen(s);

	if (*s == '[' && s[n - 1] == ']') {
		if (n - 2 == 0 || n - 2 >= NETADDR_HOSTLEN)
			return -1;
		memcpy(host, s + 1, n - 2);
		host[n - 2] = '\0';
		*port = def_port;
		return 0;
	}
	if (*s == '[' || (colon != NULL && strchr(colon + 1, ':') == NULL))
		return netaddr_split(s, host, port) == 0 && *port > 0 ? 0 : -1;
	if (n == 0 || n >= NETADDR_HOSTLEN)
		return -1;
	memcpy(host, s, n + 1);
	*port = def_port;
	return 0;
}

/* "host:port", or "[v6]:port", for messages. */
static void
where_of(const struct stun_query *q, char *b, size_t n)
{
	snprintf(b, n, strchr(q->host, ':') != NULL ? "[%s]:%d" : "%s:%d",
	    q->host, q->port);
}

static int
fill_tid(uint8_t tid[STUN_TIDLEN], char *err, size_t errlen)
{
	if (getrandom(tid, STUN_TIDLEN, 0) == STUN_TIDLEN)
		return 0;
	snprintf(err, errlen, "getrandom: %s", strerror(errno));
	return -1;
}

/* A socket of the address's family and type, bound to the local port
 * when one is asked for. */
static int
open_socket(const struct addrinfo *ai, int local_port, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (local_port == 0)
		return fd;
	ss.ss_family = (sa_family_t)ai->ai_family;
	if (ai->ai_family == AF_INET6) {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(local_port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&ss)->sin_port = htons(local_port);
		sl = sizeof(struct sockaddr_in);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0) {
		snprintf(err, errlen, "local port %d: %s", local_port,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the answer out of a parsed response to our transaction. */
static enum stun_query_status
take_answer(const struct stun_msg *m, int fd, struct stun_mapped *out,
    char *err, size_t errlen)
{
	const struct stun_attr *a;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char reason[128];
	int code;

	if (m->method != STUN_BINDING) {
		snprintf(err, errlen, "answer of another method");
		return STUNQ_PROTOCOL;
	}
	if (m->cls == STUN_ERROR) {
		a = stun_find(m, STUN_A_ERROR_CODE);
		if (a == NULL || stun_get_error(a, &code, reason,
		    sizeof(reason)) != 0)
			snprintf(err, errlen, "error answer without a code");
		else
			snprintf(err, errlen, "server answered %d %s", code,
			    reason);
		return STUNQ_PROTOCOL;
	}
	if ((a = stun_find(m, STUN_A_XOR_MAPPED_ADDRESS)) == NULL)
		a = stun_find(m, STUN_A_MAPPED_ADDRESS);
	if (a == NULL || stun_get_addr(m, a, &ss) != 0) {
		snprintf(err, errlen, "answer without a mapped address");
		return STUNQ_PROTOCOL;
	}
	netaddr_format((struct sockaddr *)&ss, out->ip, &out->port);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		return STUNQ_UNREACHABLE;
	}
	netaddr_format((struct sockaddr *)&ss, reason, &out->local_port);
	return STUNQ_OK;
}

/* The datagram is an answer to tid: parsed into m. Others are dropped. */
static bool
is_answer(const uint8_t *b, size_t n, const uint8_t *tid, struct stun_msg *m)
{
	return stun_parse(b, n, m) == STUN_OK && !m->classic &&
	    (m->cls == STUN_SUCCESS || m->cls == STUN_ERROR) &&
	    memcmp(m->tid, tid, STUN_TIDLEN) == 0;
}

static enum stun_query_status
query_udp(const struct stun_query *q, const struct addrinfo *ai,
    const uint8_t *req, size_t reqlen, struct stun_mapped *out, char *err,
    size_t errlen)
{
	char where[NETADDR_HOSTLEN + 8];
	int64_t start = mono_ms(), deadline = start + q->timeout_ms;
	int64_t next = start, rto = RTO_MS;
	uint8_t b[STUN_MAX + 1];
	struct stun_msg m;
	enum stun_query_status st = STUNQ_UNREACHABLE;
	int fd, sends = 0;

	where_of(q, where, sizeof(where));
	if ((fd = open_socket(ai, q->local_port, err, errlen)) < 0)
		return STUNQ_UNREACHABLE;
	/* Connected: only the server's datagrams come in, and an ICMP
	 * "port unreachable" comes back as ECONNREFUSED. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(err, errlen, "%s: %s", where,
		    strerror(errno));
		goto out;
	}
	for (;;) {
		int64_t t = mono_ms(), until;
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;
		int rc;

		if (t >= deadline) {
			snprintf(err, errlen, "%s: no answer in %lld ms",
			    where, (long long)q->timeout_ms);
			goto out;
		}
		if (sends < SENDS && t >= next) {
			if (send(fd, req, reqlen, 0) < 0 && errno != EAGAIN) {
				snprintf(err, errlen, "%s: %s", where,
				    strerror(errno));
				goto out;
			}
			if (++sends == SENDS) {
				if (t + LAST_WAIT_MS < deadline)
					deadline = t + LAST_WAIT_MS;
			} else {
				next = t + rto;
				rto *= 2;
			}
		}
		until = sends < SENDS && next < deadline ? next : deadline;
		rc = poll(&p, 1, (int)(until - t));
		if (rc < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto out;
		}
		if (rc <= 0)
			continue;
		r = recv(fd, b, sizeof(b), 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", where,
			    strerror(errno));
			goto out;
		}
		if (is_answer(b, (size_t)r, req + 8, &m)) {
			st = take_answer(&m, fd, out, err, errlen);
			goto out;
		}
	}
out:
	close(fd);
	return st;
}

/* Waits for fd to be ready for events until deadline; false on timeout. */
static bool
wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { fd, events, 0 };
		int64_t t = mono_ms();
		int rc;

		if (t >= deadline)
			return false;
		rc = poll(&p, 1, (int)(deadline - t));
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

static enum stun_query_status
query_tcp(const struct stun_query *q, const struct addrinfo *ai,
    const uint8_t *req, size_t reqlen, struct stun_mapped *out, char *err,
    size_t errlen)
{
	char where[NETADDR_HOSTLEN + 8];
	int64_t deadline = mono_ms() + q->timeout_ms;
	uint8_t b[STUN_MAX];
	size_t have = 0, sent = 0;
	struct stun_msg m;
	socklen_t sl = sizeof(int);
	int fd, soerr = 0, one = 1;
	long len;

	where_of(q, where, sizeof(where));
	if ((fd = open_socket(ai, q->local_port, err, errlen)) < 0)
		return STUNQ_UNREACHABLE;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS)
			soerr = errno;
		else if (!wait_fd(fd, POLLOUT, deadline))
			soerr = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			soerr = errno;
	}
	if (soerr != 0) {
		snprintf(err, errlen, "%s: %s", where,
		    strerror(soerr));
		close(fd);
		return STUNQ_UNREACHABLE;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (sent < reqlen) {
		ssize_t r = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);

		if (r >= 0)
			sent += (size_t)r;
		else if ((errno != EAGAIN && errno != EINTR) ||
		    !wait_fd(fd, POLLOUT, deadline))
			goto unreachable;
	}
	for (;;) {
		ssize_t r;

		len = stun_frame_len(b, have);
		if (len < 0) {
			snprintf(err, errlen, "%s: not a STUN answer",
			    where);
			close(fd);
			return STUNQ_PROTOCOL;
		}
		if (len > 0 && (size_t)len <= have)
			break;
		if (!wait_fd(fd, POLLIN, deadline))
			goto unreachable;
		r = recv(fd, b + have, sizeof(b) - have, 0);
		if (r == 0) {
			snprintf(err, errlen, "%s: closed before answering",
			    where);
			close(fd);
			return STUNQ_PROTOCOL;
		}
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			goto unreachable;
		if (r > 0)
			have += (size_t)r;
	}
	if (!is_answer(b, (size_t)len, req + 8, &m)) {
		snprintf(err, errlen, "%s: not an answer to our request",
		    where);
		close(fd);
		return STUNQ_PROTOCOL;
	}
	{
		enum stun_query_status st = take_answer(&m, fd, out, err,
		    errlen);

		close(fd);
		return st;
	}
unreachable:
	snprintf(err, errlen, "%s: %s", where,
	    errno == 0 || mono_ms() >= deadline ? "no answer in time" :
	    strerror(errno));
	close(fd);
	return STUNQ_UNREACHABLE;
}

enum stun_query_status
stun_query(const struct stun_query *q, struct stun_mapped *out, char *err,
    size_t errlen)
{
	struct addrinfo hints = { 0 }, *res;
	uint8_t tid[STUN_TIDLEN], req[STUN_HDR + 8];
	struct stun_writer w;
	char service[8];
	size_t reqlen;
	enum stun_query_status st;
	int rc;

	if (fill_tid(tid, err, errlen) != 0)
		return STUNQ_UNREACHABLE;
	stun_begin(&w, req, sizeof(req), STUN_BINDING, STUN_REQUEST, tid);
	reqlen = stun_finish(&w, true);
	hints.ai_socktype = q->tcp ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", q->port);
	if ((rc = getaddrinfo(q->host, service, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", q->host, gai_strerror(rc));
		return STUNQ_UNREACHABLE;
	}
	/* The first address the resolver prefers. */
	st = q->tcp ? query_tcp(q, res, req, reqlen, out, err, errlen) :
	    query_udp(q, res, req, reqlen, out, err, errlen);
	freeaddrinfo(res);
	return st;
}
