/* netaddr: "HOST:PORT" and "[V6]:PORT" addresses, URL hosts, sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "net/netaddr.h"
#include "core/util.h"

int
netaddr_split(const char *s, char host[NETADDR_HOSTLEN], int *port)
{
	const char *colon, *h = s;
	size_t hlen;
	int64_t p;

	if (s == NULL)
		return -1;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= NETADDR_HOSTLEN ||
	    !parse_int(colon + 1, 0, 65535, &p))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

/* A TCP socket of ai bound to ai's address: with SO_REUSEPORT too when
 * shared. -1 with errno. */
static int
bound(const struct addrinfo *ai, bool shared)
{
	int fd, one = 1, e;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	    (!shared || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) == 0) &&
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* The port of a bound socket, or -1. */
static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	return ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
}

/* shared: the listener takes SO_REUSEPORT, so that its own outgoing
 * connections (a STUN query, a hole punch) may leave from its port; a
 * port another socket holds is still refused, by a plain bind first. */
static int
listen_on(const char *host, int port, int backlog, bool shared, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char service[8];
	int fd = -1, rc, saved = 0, probe, p;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	if ((rc = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct sockaddr_storage at;

		if (!shared)
			fd = bound(ai, false);
		else if ((probe = bound(ai, false)) >= 0) {
			/* The port is free: share it, as the one the probe got
			 * when port is 0. */
			p = bound_port(probe);
			memcpy(&at, ai->ai_addr, ai->ai_addrlen);
			if (at.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&at)->sin6_port =
				    htons((uint16_t)p);
			else
				((struct sockaddr_in *)&at)->sin_port =
				    htons((uint16_t)p);
			close(probe);
			struct addrinfo one = *ai;
			one.ai_addr = (struct sockaddr *)&at;
			fd = p < 0 ? -1 : bound(&one, true);
		} else
			fd = -1;
		if (fd >= 0 && listen(fd, backlog) == 0)
			break;
		saved = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "%s:%d: %s", host, port, strerror(saved));
	return fd;
}

int
net_listen(const char *host, int port, int backlog, char *err, size_t errlen)
{
	return listen_on(host, port, backlog, false, err, errlen);
}

int
net_listen_shared(const char *host, int port, int backlog, char *err,
    size_t errlen)
{
	return listen_on(host, port, backlog, true, err, errlen);
}

void
netaddr_format(const struct sockaddr *sa, char host[NETADDR_HOSTLEN],
    int *port)
{
	host[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, NETADDR_HOSTLEN);
		*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host,
			    NETADDR_HOSTLEN);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, host,
			    NETADDR_HOSTLEN);
		*port = ntohs(in6->sin6_port);
	}
}

int
net_connect(const char *host, int port, int64_t timeout_ms, char *err,
    size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV }, *res, *ai;
	struct pollfd p;
	char service[8];
	socklen_t sl;
	int fd = -1, rc, soerr = 0, one = 1;

	snprintf(service, sizeof(service), "%d", port);
	if ((rc = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0) {
			soerr = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			p = (struct pollfd){ .fd = fd, .events = POLLOUT };
			sl = sizeof(soerr);
			rc = poll(&p, 1, (int)timeout_ms);
			if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR,
			    &soerr, &sl) == 0 && soerr == 0)
				break;
			if (rc == 0)
				soerr = ETIMEDOUT;
		} else
			soerr = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "%s:%d: %s", host, port, strerror(soerr));
	else
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int
netaddr_url(const char *url, char *host, size_t hostlen, int *port)
{
	const char *auth, *end, *h, *hend, *colon, *at;
	char digits[6];
	size_t n, i, o;
	int64_t p;

	if (strncasecmp(url, "http://", 7) == 0) {
		auth = url + 7;
		*port = 80;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		auth = url + 8;
		*port = 443;
	} else
		return -1;
	end = auth + strcspn(auth, "/?#");
	/* userinfo ends at the last '@' of the authority */
	for (at = auth; (h = memchr(at, '@', (size_t)(end - at))) != NULL;
	    at = h + 1)
		;
	h = at;
	if (*h == '[') {
		if ((hend = memchr(h, ']', (size_t)(end - h))) == NULL)
			return -1;
		colon = hend + 1;
		h++;
		if (colon < end && *colon != ':')
			return -1;
	} else {
		hend = memchr(h, ':', (size_t)(end - h));
		if (hend == NULL)
			hend = end;
		colon = hend;
	}
	if (colon < end) {
		/* ":" and digits; an empty port is the default */
		n = (size_t)(end - colon - 1);
		if (n >= sizeof(digits))
			return -1;
		if (n > 0) {
			memcpy(digits, colon + 1, n);
			digits[n] = '\0';
			if (!parse_int(digits, 1, 65535, &p))
				return -1;
			*port = (int)p;
		}
	}
	n = (size_t)(hend - h);
	if (n == 0)
		return -1;
	for (i = 0, o = 0; i < n; i++, o++) {
		if (o + 1 >= hostlen)
			return -1;
		host[o] = h[i];
		if (h[i] == '%' && i + 2 < n && h[i + 1] == '2' && h[i + 2] == '5')
			i += 2;
	}
	host[o] = '\0';
	return 0;
}

int
net_local_ip(const char *host, int port, char *out, size_t outlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
	    .ai_flags = AI_NUMERICSERV }, *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char service[8], name[NETADDR_HOSTLEN];
	int fd, found = -1, p;

	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && found < 0; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			continue;
		sslen = sizeof(ss);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
			netaddr_format((struct sockaddr *)&ss, name, &p);
			if (name[0] != '\0' && strlen(name) < outlen) {
				memcpy(out, name, strlen(name) + 1);
				found = 0;
			}
		}
		close(fd);
	}
	freeaddrinfo(res);
	return found;
}
