/*
 * idle-conns: opens N keep-alive connections to an HTTP server, sends one
 * "GET /healthz" on each, reads the whole answer, then keeps them all open
 * and idle for S seconds, and exits. bench/dird runs it to measure the
 * daemon's memory with many idle clients.
 *
 * usage: idle-conns HOST PORT N SECONDS
 *
 * stdout (JSON lines):
 *   {"type":"open","conns":N}             once every connection has its answer
 *   {"type":"done","conns":N,"closed_by_server":K}   after SECONDS
 * Exit status: 0 when all N connections were answered 200 with keep-alive
 * (connections the server closes while idle are counted, not an error);
 * 64 usage, 69 cannot connect, 71 out of descriptors or memory,
 * 76 an answer that is not 200, not keep-alive, or malformed.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

#define MAX_CONNS 100000
#define ANSWER_MAX 16384
#define IO_TIMEOUT_MS 10000

static const char *prog = "idle-conns";

/* Waits until fd is ready for events or the deadline passes. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)left);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

/* Connects one socket (non-blocking, with a deadline); -1 on failure. */
static int
connect_one(const struct addrinfo *ai)
{
	int64_t deadline = mono_ms() + IO_TIMEOUT_MS;
	socklen_t len = sizeof(int);
	int fd, err = 0, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	if (wait_fd(fd, POLLOUT, deadline) <= 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		goto fail;
	if (err != 0) {
		errno = err;
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* Finds a header's value in the header block; NULL when absent. */
static const char *
header(const char *head, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *line = strstr(head, "\r\n");

	while (line != NULL && line[2] != '\r') {
		line += 2;
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1, *end;

			while (*v == ' ' || *v == '\t')
				v++;
			end = strstr(v, "\r\n");
			*vlen = end != NULL ? (size_t)(end - v) : strlen(v);
			return v;
		}
		line = strstr(line, "\r\n");
	}
	return NULL;
}

/*
 * Sends the request and reads one whole answer (Content-Length or chunked).
 * Returns 0, or an exit status with a message on stderr.
 */
static int
ask(int fd, const char *host, int i)
{
	char req[512], buf[ANSWER_MAX + 1];
	int64_t deadline = mono_ms() + IO_TIMEOUT_MS;
	size_t have = 0, vlen, need = 0;
	const char *body = NULL, *v;
	int n, chunked = 0;
	ssize_t r;

	n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: %s\r\n"
	    "Connection: keep-alive\r\nAccept: application/json\r\n\r\n", host);
	for (int off = 0; off < n;) {
		r = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) <= 0)
				goto timeout;
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "%s: send on connection %d: %s\n", prog, i,
			    strerror(errno));
			return EX_PROTOCOL;
		}
		off += (int)r;
	}
	for (;;) {
		if (have == ANSWER_MAX) {
			fprintf(stderr, "%s: connection %d: answer over %d bytes\n",
			    prog, i, ANSWER_MAX);
			return EX_PROTOCOL;
		}
		r = recv(fd, buf + have, ANSWER_MAX - have, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLIN, deadline) <= 0)
				goto timeout;
			continue;
		}
		if (r <= 0) {
			fprintf(stderr, "%s: connection %d: %s before a whole answer\n",
			    prog, i, r == 0 ? "closed" : strerror(errno));
			return EX_PROTOCOL;
		}
		have += (size_t)r;
		buf[have] = '\0';
		if (body == NULL) {
			char *end = strstr(buf, "\r\n\r\n");

			if (end == NULL)
				continue;
			body = end + 4;
			end[2] = '\0';	/* the header block ends at its last CRLF */
			if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0) {
				fprintf(stderr, "%s: connection %d: answer %.40s\n",
				    prog, i, buf);
				return EX_PROTOCOL;
			}
			if ((v = header(buf, "Connection", &vlen)) != NULL &&
			    vlen == 5 && strncasecmp(v, "close", 5) == 0) {
				fprintf(stderr, "%s: connection %d: server answers "
				    "Connection: close\n", prog, i);
				return EX_PROTOCOL;
			}
			if ((v = header(buf, "Content-Length", &vlen)) != NULL) {
				need = (size_t)strtoul(v, NULL, 10);
			} else if ((v = header(buf, "Transfer-Encoding", &vlen)) != NULL &&
			    vlen == 7 && strncasecmp(v, "chunked", 7) == 0) {
				chunked = 1;
			} else {
				fprintf(stderr, "%s: connection %d: answer without "
				    "length\n", prog, i);
				return EX_PROTOCOL;
			}
			end[2] = '\r';
		}
		if (!chunked && (size_t)(buf + have - body) >= need)
			return 0;
		if (chunked && have >= 5 && memcmp(buf + have - 5, "0\r\n\r\n", 5) == 0)
			return 0;
	}
timeout:
	fprintf(stderr, "%s: connection %d: no answer in %d ms\n", prog, i,
	    IO_TIMEOUT_MS);
	return EX_PROTOCOL;
}

int
main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int64_t n, secs, deadline;
	struct pollfd *fds;
	int rc, closed = 0;

	if (argc != 5 || !parse_int(argv[3], 1, MAX_CONNS, &n) ||
	    !parse_int(argv[4], 0, 86400, &secs)) {
		fprintf(stderr, "usage: %s HOST PORT N SECONDS\n", prog);
		return EX_USAGE;
	}
	rc = getaddrinfo(argv[1], argv[2], &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "%s: %s:%s: %s\n", prog, argv[1], argv[2],
		    gai_strerror(rc));
		return EX_NOHOST;
	}
	fds = calloc((size_t)n, sizeof(*fds));
	if (fds == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EX_OSERR;
	}
	for (int64_t i = 0; i < n; i++) {
		fds[i].fd = connect_one(ai);
		if (fds[i].fd < 0) {
			int e = errno;

			fprintf(stderr, "%s: connection %lld: %s\n", prog,
			    (long long)i, strerror(e));
			return e == EMFILE || e == ENFILE || e == ENOMEM ?
			    EX_OSERR : EX_UNAVAILABLE;
		}
		rc = ask(fds[i].fd, argv[1], (int)i);
		if (rc != 0)
			return rc;
		fds[i].events = POLLIN;
	}
	freeaddrinfo(ai);
	printf("{\"type\":\"open\",\"conns\":%lld}\n", (long long)n);
	fflush(stdout);

	/* Idle: note every connection the server closes meanwhile. */
	deadline = mono_ms() + secs * 1000;
	for (int64_t left; (left = deadline - mono_ms()) > 0;) {
		int r = poll(fds, (nfds_t)n, (int)left);

		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
			return EX_OSERR;
		}
		for (int64_t i = 0; r > 0 && i < n; i++) {
			char junk[256];

			if (fds[i].fd < 0 || fds[i].revents == 0)
				continue;
			if (recv(fds[i].fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
				continue;	/* unexpected bytes; keep it open */
			close(fds[i].fd);
			fds[i].fd = -1;	/* poll ignores it from now on */
			closed++;
		}
	}
	printf("{\"type\":\"done\",\"conns\":%lld,\"closed_by_server\":%d}\n",
	    (long long)n, closed);
	fflush(stdout);
	for (int64_t i = 0; i < n; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	free(fds);
	return 0;
}
