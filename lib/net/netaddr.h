/* netaddr: "HOST:PORT" and "[V6]:PORT" addresses, the host and port of an
 * http(s) URL, listening and connecting sockets, the local address that
 * reaches a host. */
#ifndef CHAT_NETADDR_H
#define CHAT_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETADDR_HOSTLEN 64

/* Splits "HOST:PORT" / "[V6]:PORT" into host and port (0 to 65535).
 * Returns 0, or -1 when s is not of that form. */
int netaddr_split(const char *s, char host[NETADDR_HOSTLEN], int *port);
/* The host (brackets taken off an IPv6 literal, "%25" of a zone as "%")
 * and port (else 80 for http, 443 for https) of an http:// or https://
 * URL, which may have userinfo, a path, a query. 0, or -1 when url is
 * not such a URL or its host does not fit in hostlen. */
int netaddr_url(const char *url, char *host, size_t hostlen, int *port);
/* The numeric address of the local interface that reaches host:port,
 * found without sending anything (a connected UDP socket). 0, or -1 when
 * it is unknown or does not fit in outlen. */
int net_local_ip(const char *host, int port, char *out, size_t outlen);
/* A non-blocking listening TCP socket on host:port (port 0: ephemeral),
 * or -1 with *err set. */
int net_listen(const char *host, int port, int backlog, char *err,
    size_t errlen);
/* net_listen with SO_REUSEPORT, so that connections of this process may
 * leave from the listening port (STUN, hole punching); a port already
 * held is refused all the same. */
int net_listen_shared(const char *host, int port, int backlog, char *err,
    size_t errlen);
/* A TCP connection to host:port, waiting at most timeout_ms for each
 * address tried, with Nagle off (a message is one small line); the socket
 * is non-blocking. -1 with *err set when no address answers. */
int net_connect(const char *host, int port, int64_t timeout_ms, char *err,
    size_t errlen);
/* The numeric host and port of a socket address; IPv4-mapped IPv6
 * addresses come out as plain IPv4. */
void netaddr_format(const struct sockaddr *sa, char host[NETADDR_HOSTLEN],
    int *port);

#endif
