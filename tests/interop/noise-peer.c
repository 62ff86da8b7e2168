/* noise-peer: one side of a wire protocol v2 connection (lib/peer/frame)
 * for the interop tests: sends its standard input as the plaintext
 * stream, prints the peer's plaintext on standard output. As in v2, where
 * the listener always answers, a peer that closes before its first frame
 * has refused the handshake. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "core/exitcodes.h"
#include "core/util.h"
#include "peer/frame.h"

static const char *prog = "noise-peer";

static void
usage(void)
{
	fprintf(stderr, "usage: %s -k SECRET [-r PEERKEY] [-t SECONDS] "
	    "(-l | -c PORT [-p IK|XX] [-H SHA256|BLAKE2b])\n", prog);
	exit(EX_USAGE);
}

static void
die(int code, const char *what, const char *why)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, why);
	exit(code);
}

static void
hexkey(const char *hex, uint8_t key[32])
{
	size_t len;

	if (sodium_hex2bin(key, 32, hex, strlen(hex), NULL, &len, NULL) != 0 ||
	    len != 32 || strlen(hex) != 64)
		die(EX_USAGE, hex, "not a key of 64 hexadecimal digits");
}

/* Bytes to write, in order: the handshake's, then the frames. */
struct queue {
	uint8_t *p;
	size_t len, cap;
};

static void
enqueue(struct queue *q, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	if (q->len + n > q->cap) {
		q->cap = (q->len + n) * 2;
		if ((q->p = realloc(q->p, q->cap)) == NULL)
			die(EX_SOFTWARE, "realloc", strerror(errno));
	}
	memcpy(q->p + q->len, p, n);
	q->len += n;
}

static uint8_t *
slurp(FILE *fp, size_t *len)
{
	uint8_t *p = NULL;
	size_t cap = 0, n;

	*len = 0;
	for (;;) {
		if (*len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((p = realloc(p, cap)) == NULL)
				die(EX_SOFTWARE, "realloc", strerror(errno));
		}
		n = fread(p + *len, 1, cap - *len, fp);
		*len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp))
		die(EX_IOERR, "stdin", strerror(errno));
	return p;
}

static int
connect_to(long port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die(EX_UNAVAILABLE, "connect", strerror(errno));
	return fd;
}

/* Listens on an ephemeral loopback port, says which, takes one caller. */
static int
accept_one(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
		die(EX_SOFTWARE, "listen", strerror(errno));
	printf("{\"type\":\"listening\",\"port\":%u}\n", ntohs(a.sin_port));
	fflush(stdout);
	if ((fd = accept(lfd, NULL, NULL)) < 0)
		die(EX_SOFTWARE, "accept", strerror(errno));
	close(lfd);
	return fd;
}

int
main(int argc, char **argv)
{
	static struct frame_hs hs;
	static struct frame_dec dec;
	struct frame_enc enc = { 0 };
	struct queue q = { 0 };
	enum noise_pattern pat = NOISE_XX;
	enum noise_hash hash = NOISE_SHA256;
	uint8_t s[32], pin[32], buf[16384], *data;
	const uint8_t *out, *plain;
	const char *secret = NULL, *peer = NULL;
	size_t datalen, n, off, used, plainlen;
	int64_t port = 0, seconds = 10;
	bool listening = false, open = false, shut = false, eof = false;
	bool heard = false;
	ssize_t r;
	int c, fd, rc;

	while ((c = getopt(argc, argv, "c:H:k:lp:r:t:")) != -1) {
		switch (c) {
		case 'c':
			if (!parse_int(optarg, 1, 65535, &port))
				usage();
			break;
		case 'H':
			if (strcmp(optarg, "SHA256") == 0)
				hash = NOISE_SHA256;
			else if (strcmp(optarg, "BLAKE2b") == 0)
				hash = NOISE_BLAKE2B;
			else
				usage();
			break;
		case 'k': secret = optarg; break;
		case 'l': listening = true; break;
		case 'p':
			if (strcmp(optarg, "IK") == 0)
				pat = NOISE_IK;
			else if (strcmp(optarg, "XX") == 0)
				pat = NOISE_XX;
			else
				usage();
			break;
		case 'r': peer = optarg; break;
		case 't':
			if (!parse_int(optarg, 1, 3600, &seconds))
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || secret == NULL || listening == (port != 0))
		usage();
	if (sodium_init() < 0)
		die(EX_SOFTWARE, "libsodium", "cannot start");
	hexkey(secret, s);
	if (peer != NULL)
		hexkey(peer, pin);
	alarm((unsigned)seconds);
	signal(SIGPIPE, SIG_IGN);
	data = slurp(stdin, &datalen);

	if (listening) {
		fd = accept_one();
		rc = frame_hs_responder(&hs, FRAME_OFFER(NOISE_IK) |
		    FRAME_OFFER(NOISE_XX), s, peer != NULL ? pin : NULL);
	} else {
		fd = connect_to((long)port);
		rc = frame_hs_initiator(&hs, pat, hash, s, peer != NULL ? pin :
		    NULL);
	}
	sodium_memzero(s, sizeof(s));
	if (rc != 0)
		die(EX_USAGE, "handshake", frame_strerror(rc));
	out = frame_hs_output(&hs, &n);
	enqueue(&q, out, n);
	frame_hs_sent(&hs, n);

	while (!eof || q.len > 0 || (open && !shut)) {
		struct pollfd pfd = { .fd = fd, .events = eof ? 0 : POLLIN };

		if (open && !shut && q.len == 0) {
			shutdown(fd, SHUT_WR);
			shut = true;
			continue;
		}
		if (q.len > 0)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, -1) < 0)
			die(EX_SOFTWARE, "poll", strerror(errno));
		if (pfd.revents & POLLOUT) {
			if ((r = write(fd, q.p, q.len)) < 0 && !heard)
				die(EX_PROTOCOL, "handshake", strerror(errno));
			if (r < 0)
				die(EX_IOERR, "write", strerror(errno));
			memmove(q.p, q.p + r, q.len - (size_t)r);
			q.len -= (size_t)r;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)) || eof)
			continue;
		if ((r = read(fd, buf, sizeof(buf))) < 0 && !heard)
			die(EX_PROTOCOL, "handshake", strerror(errno));
		if (r < 0)
			die(EX_IOERR, "read", strerror(errno));
		if (r == 0) {
			if (!heard)
				die(EX_PROTOCOL, "handshake", "connection closed");
			if (frame_dec_partial(&dec))
				die(EX_PROTOCOL, "frame", "cut short");
			eof = true;
			continue;
		}
		off = 0;
		if (!open) {
			rc = frame_hs_feed(&hs, buf, (size_t)r, &used);
			if (rc < 0)
				die(EX_PROTOCOL, "handshake", frame_strerror(rc));
			off = used;
			out = frame_hs_output(&hs, &n);
			enqueue(&q, out, n);
			frame_hs_sent(&hs, n);
			if (rc == 1) {
				if (frame_hs_split(&hs, &enc, &dec) != 0)
					die(EX_SOFTWARE, "split", "failed");
				if (frame_enc_put(&enc, data, datalen) != 0 ||
				    frame_enc_flush(&enc) != 0)
					die(EX_SOFTWARE, "frame", "cannot seal");
				out = frame_enc_data(&enc, &n);
				enqueue(&q, out, n);
				frame_enc_consume(&enc, n);
				open = true;
			}
		}
		while (open && off < (size_t)r) {
			rc = frame_dec_next(&dec, buf + off, (size_t)r - off,
			    &used, &plain, &plainlen);
			if (rc < 0)
				die(EX_PROTOCOL, "frame", frame_strerror(rc));
			off += used;
			heard = heard || rc == 1;
			if (rc == 1 && fwrite(plain, 1, plainlen, stdout) !=
			    plainlen)
				die(EX_IOERR, "stdout", strerror(errno));
		}
	}
	if (fflush(stdout) != 0)
		die(EX_IOERR, "stdout", strerror(errno));
	frame_enc_free(&enc);
	frame_dec_wipe(&dec);
	free(data);
	free(q.p);
	close(fd);
	return 0;
}
