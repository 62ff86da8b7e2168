/* noise: the cost of wire protocol v2's transport in one process: lines
 * of 100 bytes sealed into frames, opened and split into lines again,
 * beside the v1 baseline (the same lines split, no frames, no crypto),
 * and the handshakes a second. Usage: noise [SECONDS]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "peer/frame.h"
#include "peer/wire.h"

#define LINE 100
#define ROUND 10000		/* lines between two looks at the clock */

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench/noise: %s\n", what);
	exit(1);
}

/* Hands plaintext to the line reader; counts whole lines. */
static size_t
take_lines(struct wire_buf *b, const uint8_t *p, size_t n)
{
	size_t room, len, lines = 0;
	char *dst, *line;

	if ((dst = wire_buf_space(b, n, &room)) == NULL || room < n)
		die("wire_buf_space failed");
	memcpy(dst, p, n);
	wire_buf_fill(b, n);
	while (wire_buf_line(b, &line, &len) == 1)
		lines++;
	return lines;
}

/* v1: lines appended to a buffer, written, then split by the reader. */
static double
v1(double seconds)
{
	static uint8_t buf[ROUND * LINE];
	struct wire_buf b = { 0 };
	uint8_t line[LINE];
	size_t total = 0, i, off;
	double t0 = now(), t;

	memset(line, 'm', LINE - 1);
	line[LINE - 1] = '\n';
	do {
		for (i = 0, off = 0; i < ROUND; i++, off += LINE)
			memcpy(buf + off, line, LINE);
		for (off = 0; off < sizeof(buf); off += 65519)
			total += take_lines(&b, buf + off, sizeof(buf) - off <
			    65519 ? sizeof(buf) - off : 65519);
	} while ((t = now() - t0) < seconds);
	if (total != (size_t)(total / ROUND) * ROUND)
		die("v1: lines lost");
	wire_buf_free(&b);
	return (double)total / t;
}

/* v2: every `batch` lines the sender flushes (a burst of input ends). */
static double
v2(double seconds, size_t batch)
{
	static struct frame_dec d;
	struct frame_enc e = { 0 };
	struct wire_buf b = { 0 };
	uint8_t line[LINE], key[32];
	const uint8_t *out, *plain;
	size_t total = 0, i, n, off, used, plainlen;
	double t0 = now(), t;
	int rc;

	memset(&d, 0, sizeof(d));
	randombytes_buf(key, sizeof(key));
	memcpy(e.tx.k, key, 32);
	e.tx.haskey = true;
	memcpy(d.rx.k, key, 32);
	d.rx.haskey = true;
	memset(line, 'm', LINE - 1);
	line[LINE - 1] = '\n';
	do {
		for (i = 1; i <= ROUND; i++) {
			if (frame_enc_put(&e, line, LINE) != 0)
				die("frame_enc_put failed");
			if (i % batch == 0 && frame_enc_flush(&e) != 0)
				die("frame_enc_flush failed");
		}
		if (frame_enc_flush(&e) != 0)
			die("frame_enc_flush failed");
		out = frame_enc_data(&e, &n);
		for (off = 0; off < n; off += used) {
			rc = frame_dec_next(&d, out + off, n - off, &used,
			    &plain, &plainlen);
			if (rc < 0)
				die(frame_strerror(rc));
			if (rc == 1)
				total += take_lines(&b, plain, plainlen);
		}
		frame_enc_consume(&e, n);
	} while ((t = now() - t0) < seconds);
	if (total != (size_t)(total / ROUND) * ROUND)
		die("v2: lines lost");
	frame_enc_free(&e);
	frame_dec_wipe(&d);
	wire_buf_free(&b);
	return (double)total / t;
}

/* Whole handshakes, both sides in this process. */
static double
handshakes(double seconds, enum noise_pattern p)
{
	static struct frame_hs ini, res;
	uint8_t is[32], rs[32], rpub[32];
	const uint8_t *out;
	size_t n, used, count = 0;
	double t0 = now(), t;
	int ri, rr;

	randombytes_buf(is, 32);
	randombytes_buf(rs, 32);
	if (noise_pubkey(rpub, rs) != 0)
		die("noise_pubkey failed");
	do {
		if (frame_hs_initiator(&ini, p, NOISE_BLAKE2B, is, rpub) != 0 ||
		    frame_hs_responder(&res, FRAME_OFFER(p), rs, NULL) != 0)
			die("handshake start failed");
		ri = rr = 0;
		while (ri != 1 || rr != 1) {
			out = frame_hs_output(&ini, &n);
			if (n > 0 && (rr = frame_hs_feed(&res, out, n, &used)) < 0)
				die("handshake failed");
			frame_hs_sent(&ini, n);
			out = frame_hs_output(&res, &n);
			if (n > 0 && (ri = frame_hs_feed(&ini, out, n, &used)) < 0)
				die("handshake failed");
			frame_hs_sent(&res, n);
		}
		count++;
	} while ((t = now() - t0) < seconds);
	return (double)count / t;
}

int
main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2, base, r;
	static const size_t batches[] = { 655, 64, 8, 1 };

	if (seconds <= 0 || seconds > 60)
		die("SECONDS: 0 to 60");
	if (sodium_init() < 0)
		die("libsodium cannot start");
	printf("%-34s %14s %10s %8s\n", "lines of 100 bytes, one core",
	    "lines/s", "MB/s", "ratio");
	base = v1(seconds);
	printf("%-34s %14.0f %10.1f %8s\n", "v1 (baseline): split only", base,
	    base * LINE / 1e6, "1.00");
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		char label[64];

		r = v2(seconds, batches[i]);
		snprintf(label, sizeof(label), "v2: %zu line%s a frame",
		    batches[i], batches[i] == 1 ? "" : "s");
		printf("%-34s %14.0f %10.1f %8.2f\n", label, r, r * LINE / 1e6,
		    r / base);
	}
	printf("(both ends' AEAD in one process; the target of issue 15 is "
	    "250000 lines/s end to end, acknowledged)\n\n");
	printf("%-34s %14s\n", "handshakes, BLAKE2b, both sides", "per second");
	printf("%-34s %14.0f\n", "IK", handshakes(seconds, NOISE_IK));
	printf("%-34s %14.0f\n", "XX", handshakes(seconds, NOISE_XX));
	return 0;
}
