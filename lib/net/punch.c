/* punch: TCP simultaneous open from a shared port (punch.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"
#include "net/punch.h"

int
punch_socket(int family, int local_port, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd, one = 1;

	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET6) {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(local_port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&ss)->sin_port = htons(local_port);
		sl = sizeof(struct sockaddr_in);
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
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

/* Starts a connection to t from local_port: its descriptor, or -1 when
 * it failed at once (errno said in err). */
static int
start(const struct punch_target *t, int local_port, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, family;

	if (inet_pton(AF_INET, t->host, &v4->sin_addr) == 1) {
		family = AF_INET;
		v4->sin_port = htons(t->port);
		sl = sizeof(*v4);
	} else if (inet_pton(AF_INET6, t->host, &v6->sin6_addr) == 1) {
		family = AF_INET6;
		v6->sin6_port = htons(t->port);
		sl = sizeof(*v6);
	} else {
		snprintf(err, errlen, "%s: not a numeric address", t->host);
		return -1;
	}
	ss.ss_family = (sa_family_t)family;
	if ((fd = punch_socket(family, local_port, err, errlen)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0 &&
	    errno != EINPROGRESS) {
		snprintf(err, errlen, "%s:%d: %s", t->host, t->port,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
punch_connect(const struct punch_target *t, size_t n, int local_port,
    int64_t timeout_ms, size_t *which, char *err, size_t errlen)
{
	int fd[PUNCH_MAX];
	int64_t next[PUNCH_MAX], deadline = mono_ms() + timeout_ms;
	struct pollfd p[PUNCH_MAX];
	size_t map[PUNCH_MAX];
	int won = -1, one = 1;

	if (n > PUNCH_MAX)
		n = PUNCH_MAX;
	snprintf(err, errlen, "no address to punch to");
	for (size_t i = 0; i < n; i++) {
		fd[i] = -1;
		next[i] = 0;
	}
	while (won < 0 && n > 0) {
		int64_t now = mono_ms(), wake = deadline;
		nfds_t np = 0;

		if (now >= deadline) {
			snprintf(err, errlen, "no answer in %lld ms",
			    (long long)timeout_ms);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			if (fd[i] < 0 && now >= next[i]) {
				fd[i] = start(&t[i], local_port, err, errlen);
				if (fd[i] < 0)
					next[i] = now + PUNCH_RETRY_MS;
			}
			if (fd[i] >= 0) {
				p[np] = (struct pollfd){ fd[i], POLLOUT, 0 };
				map[np++] = i;
			} else if (next[i] < wake) {
				wake = next[i];
			}
		}
		if (poll(p, np, (int)(wake - now) + 1) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			break;
		}
		for (nfds_t k = 0; k < np && won < 0; k++) {
			size_t i = map[k];
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			if (p[k].revents == 0)
				continue;
			if (getsockopt(fd[i], SOL_SOCKET, SO_ERROR, &soerr,
			    &sl) == 0 && soerr == 0) {
				won = (int)i;
				continue;
			}
			/* Refused or reset: the other side's NAT had no hole
			 * yet. Again soon, until the deadline. */
			snprintf(err, errlen, "%s:%d: %s", t[i].host, t[i].port,
			    strerror(soerr != 0 ? soerr : errno));
			close(fd[i]);
			fd[i] = -1;
			next[i] = mono_ms() + PUNCH_RETRY_MS;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (fd[i] >= 0 && (int)i != won)
			close(fd[i]);
	if (won < 0)
		return -1;
	(void)setsockopt(fd[won], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*which = (size_t)won;
	return fd[won];
}
