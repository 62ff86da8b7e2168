/* channel: a peer connection's lines in and out over a non-blocking
 * socket, plain (v1) or in Noise frames (v2) (channel.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "peer/channel.h"

#define RAW_MAX 65536		/* bytes read from the socket at once, v2 */

void
channel_init(struct channel *ch, int fd)
{
	*ch = (struct channel){ .fd = fd, .mode = CH_V1 };
}

static int
v2_buffers(struct channel *ch)
{
	if ((ch->raw = malloc(RAW_MAX)) == NULL ||
	    (ch->hs = malloc(sizeof(*ch->hs))) == NULL) {
		channel_close(ch);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int
channel_accept(struct channel *ch, int fd, const uint8_t s[NOISE_KEYLEN],
    bool allow_v1)
{
	channel_init(ch, fd);
	ch->mode = CH_DETECT;
	ch->allow_v1 = allow_v1;
	if (v2_buffers(ch) != 0)
		return -1;
	if (frame_hs_responder(ch->hs, FRAME_OFFER(NOISE_IK) |
	    FRAME_OFFER(NOISE_XX), s, NULL) != 0) {
		channel_close(ch);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
channel_connect(struct channel *ch, int fd, enum noise_hash hash,
    const uint8_t s[NOISE_KEYLEN], const uint8_t *rs)
{
	channel_init(ch, fd);
	ch->mode = CH_HS;
	if (v2_buffers(ch) != 0)
		return -1;
	if (frame_hs_initiator(ch->hs, rs != NULL ? NOISE_IK : NOISE_XX, hash,
	    s, rs) != 0) {
		channel_close(ch);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

bool
channel_ready(const struct channel *ch)
{
	return ch->mode == CH_V1 || ch->mode == CH_V2;
}

const uint8_t *
channel_peer_key(const struct channel *ch)
{
	return ch->has_rs ? ch->rs : NULL;
}

static void
fail(struct channel *ch, int err)
{
	ch->mode = CH_FAILED;
	ch->err = err;
	ch->rawoff = ch->rawlen = 0;
	ch->plainlen = 0;
}

/* The handshake is done: keep the peer's key, split. */
static int
hs_done(struct channel *ch)
{
	const uint8_t *rs = frame_hs_remote_static(ch->hs);
	int rc;

	if (rs == NULL || (ch->dec = malloc(sizeof(*ch->dec))) == NULL) {
		fail(ch, FRAME_ENOMEM);
		return -1;
	}
	memcpy(ch->rs, rs, NOISE_KEYLEN);
	ch->has_rs = true;
	/* The handshake's last message may still be in hs, to write: hs
	 * goes once it is written (channel_flush). */
	if ((rc = frame_hs_split(ch->hs, &ch->enc, ch->dec)) != 0) {
		fail(ch, rc);
		return -1;
	}
	ch->mode = CH_V2;
	return 0;
}

/* Moves what it can of raw and plain into in: the bytes of plaintext it
 * gave, or -1 on a failure. */
static long
pump(struct channel *ch)
{
	size_t used, room, k;
	long total = 0;
	char *p;
	int rc;

	for (;;) {
		if (ch->mode == CH_HS && ch->hs != NULL &&
		    ch->rawoff < ch->rawlen) {
			rc = frame_hs_feed(ch->hs, ch->raw + ch->rawoff,
			    ch->rawlen - ch->rawoff, &used);
			ch->rawoff += used;
			if (rc < 0) {
				fail(ch, rc);
				return -1;
			}
			if (rc == 1 && hs_done(ch) != 0)
				return -1;
			if (rc == 0)
				break;
			continue;
		}
		if (ch->mode != CH_V2)
			break;
		if (ch->plainlen > 0) {
			if ((p = wire_buf_space(&ch->in, ch->plainlen,
			    &room)) == NULL) {
				fail(ch, FRAME_ENOMEM);
				return -1;
			}
			k = room < ch->plainlen ? room : ch->plainlen;
			memcpy(p, ch->plain, k);
			wire_buf_fill(&ch->in, k);
			ch->plain += k;
			ch->plainlen -= k;
			total += (long)k;
			if (ch->plainlen > 0)
				break;
			continue;
		}
		if (ch->rawoff == ch->rawlen)
			break;
		rc = frame_dec_next(ch->dec, ch->raw + ch->rawoff,
		    ch->rawlen - ch->rawoff, &used, &ch->plain, &ch->plainlen);
		ch->rawoff += used;
		if (rc < 0) {
			/* What came before the bad frame is good: it is
			 * taken first; the next call fails. */
			fail(ch, rc);
			return total > 0 ? total : -1;
		}
	}
	if (ch->rawoff == ch->rawlen)
		ch->rawoff = ch->rawlen = 0;
	return total;
}

/* A listener's first bytes: v2's preamble, or a v1 line. */
static void
detect(struct channel *ch)
{
	char *p;
	size_t room, n = ch->rawlen;

	if (ch->raw[0] == FRAME_V2) {
		ch->mode = CH_HS;
		return;
	}
	ch->mode = ch->allow_v1 ? CH_V1 : CH_REFUSED;
	frame_hs_wipe(ch->hs);
	free(ch->hs);
	ch->hs = NULL;
	if (ch->mode == CH_V1 && (p = wire_buf_space(&ch->in, n, &room)) !=
	    NULL && room >= n) {
		memcpy(p, ch->raw, n);
		wire_buf_fill(&ch->in, n);
	}
	ch->rawoff = ch->rawlen = 0;
}

long
channel_recv(struct channel *ch, size_t want)
{
	size_t room;
	ssize_t n;
	long got;
	char *p;

	if (ch->mode == CH_V1) {
		if ((p = wire_buf_space(&ch->in, want, &room)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		if (room == 0) {
			errno = ENOBUFS;
			return -1;
		}
		n = recv(ch->fd, p, room, 0);
		if (n > 0)
			wire_buf_fill(&ch->in, (size_t)n);
		return (long)n;
	}
	if (ch->mode == CH_FAILED) {
		errno = EPROTO;
		return -1;
	}
	if (ch->mode == CH_REFUSED) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	if ((got = pump(ch)) != 0 || ch->plainlen > 0) {
		if (got < 0)
			errno = EPROTO;
		else if (got == 0)
			errno = ENOBUFS;
		return got != 0 ? got : -1;
	}
	n = recv(ch->fd, ch->raw, want < RAW_MAX ? want : RAW_MAX, 0);
	if (n <= 0)
		return (long)n;
	ch->rawoff = 0;
	ch->rawlen = (size_t)n;
	if (ch->mode == CH_DETECT) {
		detect(ch);
		if (ch->mode == CH_V1)
			return (long)n;
		if (ch->mode == CH_REFUSED) {
			errno = EPROTONOSUPPORT;
			return -1;
		}
	}
	if ((got = pump(ch)) < 0) {
		errno = EPROTO;
		return -1;
	}
	if (got == 0) {
		errno = ch->plainlen > 0 ? ENOBUFS : EAGAIN;
		return -1;
	}
	return got;
}

bool
channel_backlog(const struct channel *ch)
{
	return ch->mode == CH_FAILED || ((ch->mode == CH_V2 ||
	    ch->mode == CH_HS) && (ch->plainlen > 0 || ch->rawoff < ch->rawlen));
}

int
channel_line(struct channel *ch, char **line, size_t *len)
{
	return wire_buf_line(&ch->in, line, len);
}

struct jsonw *
channel_out(struct channel *ch)
{
	return &ch->out;
}

static int
send_some(int fd, const void *p, size_t len, size_t *sent)
{
	ssize_t w;

	*sent = 0;
	while (*sent < len) {
		w = send(fd, (const char *)p + *sent, len - *sent, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		*sent += (size_t)w;
	}
	return 0;
}

int
channel_flush(struct channel *ch)
{
	const uint8_t *p;
	size_t len, sent;
	int rc;

	if (ch->mode == CH_V1 || ch->mode == CH_REFUSED) {
		rc = send_some(ch->fd, ch->out.data, ch->out.len, &sent);
		wire_out_consume(&ch->out, sent);
		return rc;
	}
	if (ch->hs != NULL) {
		p = frame_hs_output(ch->hs, &len);
		rc = send_some(ch->fd, p, len, &sent);
		frame_hs_sent(ch->hs, sent);
		if (rc != 0 || sent < len || ch->mode != CH_V2)
			return rc;
		free(ch->hs);
		ch->hs = NULL;
	}
	/* After a bad frame in, what goes out is still good: the acks of
	 * what came before it. */
	if (ch->mode != CH_V2 && !(ch->mode == CH_FAILED && ch->dec != NULL))
		return 0;
	if (ch->out.len > 0) {
		if (frame_enc_put(&ch->enc, ch->out.data, ch->out.len) != 0 ||
		    frame_enc_flush(&ch->enc) != 0) {
			errno = ENOMEM;
			return -1;
		}
		wire_out_consume(&ch->out, ch->out.len);
	}
	p = frame_enc_data(&ch->enc, &len);
	rc = send_some(ch->fd, p, len, &sent);
	frame_enc_consume(&ch->enc, sent);
	return rc;
}

size_t
channel_unsent(const struct channel *ch)
{
	size_t n = ch->out.len, len = 0;

	if (ch->hs != NULL)
		frame_hs_output(ch->hs, &len);
	n += len;
	if (ch->mode == CH_V2 || (ch->mode == CH_FAILED && ch->dec != NULL)) {
		frame_enc_data(&ch->enc, &len);
		n += len;
	}
	return n;
}

void
channel_shrink(struct channel *ch)
{
	wire_buf_shrink(&ch->in);
}

void
channel_close(struct channel *ch)
{
	if (ch->fd >= 0)
		close(ch->fd);
	wire_buf_free(&ch->in);
	wire_out_free(&ch->out);
	if (ch->hs != NULL)
		frame_hs_wipe(ch->hs);
	free(ch->hs);
	if (ch->dec != NULL) {
		frame_dec_wipe(ch->dec);
		free(ch->dec);
	}
	if (ch->mode == CH_V2 || ch->enc.out != NULL)
		frame_enc_free(&ch->enc);
	free(ch->raw);
	sodium_memzero(ch->rs, sizeof(ch->rs));
	*ch = (struct channel){ .fd = -1 };
}
