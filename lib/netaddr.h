/* netaddr: "HOST:PORT" and "[V6]:PORT" addresses, listening sockets. */
#ifndef CHAT_NETADDR_H
#define CHAT_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETADDR_HOSTLEN 64

/* Splits "HOST:PORT" / "[V6]:PORT" into host and port (0 to 65535).
 * Returns 0, or -1 when s is not of that form. */
int netaddr_split(const char *s, char host[NETADDR_HOSTLEN], int *port);
/* A non-blocking listening TCP socket on host:port (port 0: ephemeral),
 * or -1 with *err set. */
int net_listen(const char *host, int port, int backlog, char *err,
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
