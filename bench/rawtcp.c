/* rawtcp: the raw-TCP baselines of bench/p2p, and its probes of a
 * chat-listen: newline-terminated lines one way, one-byte ping-pong, the
 * same ping-pong as a wire-protocol msg and its ack, and idle senders.
 *   rawtcp lines N SIZE       lines/s through loopback
 *   rawtcp pingpong N         p50 and p99 round trip, microseconds
 *   rawtcp chatping PORT N    the same, msg to ack, against chat-listen
 *   rawtcp hold PORT N SECS   N handshaken connections held open */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static int
dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_port = htons((unsigned short)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* A listening socket on an ephemeral loopback port; *port is set. */
static int
serve(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &sl) != 0)
		die("listen");
	*port = ntohs(a.sin_port);
	return fd;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
percentiles(double *t, long n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("p50_us %.1f p99_us %.1f\n", t[n / 2], t[n * 99 / 100]);
}

/* The strongest honest line baseline: the writer sends 64 KiB writes of
 * a continuous stream of SIZE-byte lines, the reader does 64 KiB reads
 * and counts lines with memchr, the least any line protocol must do. */
static void
lines(long n, long size)
{
	enum { CHUNK = 65536 };
	char *buf;
	long total = n * size, sent = 0, seen = 0;
	int lfd, port, fd;
	ssize_t r;
	double t0;
	pid_t pid;

	if (size < 1 || n < 1 || (buf = malloc(CHUNK + (size_t)size)) == NULL)
		die("lines");
	lfd = serve(&port);
	if ((pid = fork()) == 0) {
		fd = accept(lfd, NULL, NULL);
		while (seen < n && (r = read(fd, buf, CHUNK)) > 0) {
			const char *p = buf, *end = buf + r;
			while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
				seen++;
				p++;
			}
		}
		if (write(fd, "k", 1) != 1)
			_exit(1);
		_exit(seen == n ? 0 : 1);
	}
	fd = dial(port);
	/* CHUNK + size bytes of lines: a write from offset sent % size
	 * keeps the stream whole lines however the last write ended. */
	for (long i = 0; i < CHUNK + size; i++)
		buf[i] = i % size == size - 1 ? '\n' : 'x';
	t0 = now_us();
	while (sent < total) {
		long chunk = total - sent < CHUNK ? total - sent : CHUNK;
		if ((r = write(fd, buf + sent % size, (size_t)chunk)) <= 0)
			die("write");
		sent += r;
	}
	if (read(fd, buf, 1) != 1)
		die("read");
	printf("lines_per_s %.0f\n", n / ((now_us() - t0) / 1e6));
	waitpid(pid, NULL, 0);
	free(buf);
}

static void
pingpong(long n)
{
	double *t = calloc((size_t)n, sizeof(*t)), t0;
	int lfd, port, fd;
	char c = 'p';
	pid_t pid;

	lfd = serve(&port);
	if ((pid = fork()) == 0) {
		int one = 1;
		fd = accept(lfd, NULL, NULL);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (read(fd, &c, 1) == 1 && write(fd, &c, 1) == 1)
			;
		_exit(0);
	}
	fd = dial(port);
	for (long i = 0; i < n; i++) {
		t0 = now_us();
		if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
			die("pingpong");
		t[i] = now_us() - t0;
	}
	close(fd);
	waitpid(pid, NULL, 0);
	percentiles(t, n);
}

/* Reads up to and including a newline; the peer has sent nothing after
 * it, as only one answer is ever outstanding. */
static void
read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (buf[n - 1] == '\n')
			return;
	}
	die("read_line");
}

static void
hello(int fd)
{
	static const char h[] = "{\"type\":\"hello\",\"v\":1,"
	    "\"from\":\"bench\",\"to\":\"bob\"}\n";
	char buf[512];

	if (write(fd, h, sizeof(h) - 1) != sizeof(h) - 1)
		die("hello");
	read_line(fd, buf, sizeof(buf));
}

static void
chatping(int port, long n)
{
	double *t = calloc((size_t)n, sizeof(*t)), t0;
	char msg[256], buf[512];
	int fd = dial(port), len;

	hello(fd);
	for (long i = 0; i < n; i++) {
		len = snprintf(msg, sizeof(msg), "{\"type\":\"msg\",\"uid\":"
		    "\"%032lx\",\"text\":\"ping\",\"ts\":"
		    "\"2026-11-24T20:05:18.123Z\"}\n",
		    (unsigned long)i + ((unsigned long)getpid() << 32));
		t0 = now_us();
		if (write(fd, msg, (size_t)len) != len)
			die("write");
		read_line(fd, buf, sizeof(buf));
		t[i] = now_us() - t0;
	}
	close(fd);
	percentiles(t, n);
}

static void
hold(int port, int n, int secs)
{
	int *fds = calloc((size_t)n, sizeof(*fds));

	for (int i = 0; i < n; i++) {
		fds[i] = dial(port);
		hello(fds[i]);
	}
	printf("held %d\n", n);
	fflush(stdout);
	sleep((unsigned)secs);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "lines") == 0)
		lines(atol(argv[2]), atol(argv[3]));
	else if (argc == 3 && strcmp(argv[1], "pingpong") == 0)
		pingpong(atol(argv[2]));
	else if (argc == 4 && strcmp(argv[1], "chatping") == 0)
		chatping(atoi(argv[2]), atol(argv[3]));
	else if (argc == 5 && strcmp(argv[1], "hold") == 0)
		hold(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	else {
		fprintf(stderr, "usage: rawtcp lines N SIZE | pingpong N | "
		    "chatping PORT N | hold PORT N SECONDS\n");
		return 64;
	}
	return 0;
}
