/* stun: STUN messages (RFC 8489): the header, attributes, the addresses a
 * Binding response carries, FINGERPRINT; parsing checks every length. */
#ifndef CHAT_STUN_H
#define CHAT_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HDR	20
#define STUN_COOKIE	0x2112A442u
#define STUN_TIDLEN	12
/* The largest message taken or made: a Binding exchange fits in far less,
 * and a datagram of more than this is not one of ours to answer. */
#define STUN_MAX	2048
#define STUN_MAX_ATTRS	32

#define STUN_BINDING	0x001

enum stun_class {
	STUN_REQUEST = 0,
	STUN_INDICATION = 1,
	STUN_SUCCESS = 2,
	STUN_ERROR = 3
};

enum stun_attr_type {
	STUN_A_MAPPED_ADDRESS = 0x0001,
	STUN_A_CHANGE_REQUEST = 0x0003,	/* RFC 5780; RFC 3489 had it */
	STUN_A_USERNAME = 0x0006,
	STUN_A_MESSAGE_INTEGRITY = 0x0008,
	STUN_A_ERROR_CODE = 0x0009,
	STUN_A_UNKNOWN_ATTRIBUTES = 0x000A,
	STUN_A_REALM = 0x0014,
	STUN_A_NONCE = 0x0015,
	STUN_A_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_A_PASSWORD_ALGORITHM = 0x001D,
	STUN_A_USERHASH = 0x001E,
	STUN_A_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_A_PASSWORD_ALGORITHMS = 0x8002,
	STUN_A_ALTERNATE_DOMAIN = 0x8003,
	STUN_A_SOFTWARE = 0x8022,
	STUN_A_ALTERNATE_SERVER = 0x8023,
	STUN_A_FINGERPRINT = 0x8028
};

struct stun_attr {
	uint16_t type;
	uint16_t len;		/* of the value, before padding */
	const uint8_t *val;	/* inside the parsed buffer */
	size_t off;		/* where the attribute's header starts */
};

struct stun_msg {
	uint16_t method;
	enum stun_class cls;
	uint8_t tid[STUN_TIDLEN];
	size_t len;		/* header and attributes */
	bool classic;		/* RFC 3489: no magic cookie; its 128-bit id
				 * is the cookie field and tid */
	bool fingerprint;	/* it had one, and it was right */
	size_t nattrs;
	struct stun_attr attrs[STUN_MAX_ATTRS];
};

enum stun_parse {
	STUN_OK = 0,
	STUN_NOT_STUN,		/* wrong leading bits, cookie or length: drop */
	STUN_BAD_FINGERPRINT,	/* drop silently (RFC 8489, 7.3) */
	STUN_MALFORMED		/* a STUN header over bad attributes: 400 */
};

/* The length of the message at the start of a stream of n bytes: 0 when
 * more bytes are needed to tell, -1 when it is not a STUN message or is
 * longer than STUN_MAX. */
long stun_frame_len(const uint8_t *b, size_t n);

/* Parses exactly n bytes into m, whose attribute values point into b.
 * A message without the magic cookie but otherwise well formed is taken
 * as an RFC 3489 one (m->classic). */
enum stun_parse stun_parse(const uint8_t *b, size_t n, struct stun_msg *m);
/* The first attribute of that type (later ones are not significant), or
 * NULL. */
const struct stun_attr *stun_find(const struct stun_msg *m, uint16_t type);
/* The comprehension-required attributes (type below 0x8000) that this
 * code does not know, at most max of them; returns how many. */
size_t stun_unknown(const struct stun_msg *m, uint16_t *types, size_t max);
/* A MAPPED-ADDRESS or XOR-MAPPED-ADDRESS attribute of m as a socket
 * address. 0, or -1 when the value is malformed or not such an attribute. */
int stun_get_addr(const struct stun_msg *m, const struct stun_attr *a,
    struct sockaddr_storage *ss);
/* An ERROR-CODE attribute: the code (300 to 699) and the reason,
 * NUL-terminated and cut to fit. 0, or -1 when malformed. */
int stun_get_error(const struct stun_attr *a, int *code, char *reason,
    size_t reasonlen);

/* Writing a message into a caller's buffer; a write that does not fit
 * marks the writer failed and stun_finish says so. */
struct stun_writer {
	uint8_t *b;
	size_t cap, len;
	bool failed;
};

void stun_begin(struct stun_writer *w, uint8_t *b, size_t cap,
    uint16_t method, enum stun_class cls, const uint8_t tid[STUN_TIDLEN]);
/* One attribute, zero-padded to a multiple of 4 bytes. */
void stun_put(struct stun_writer *w, uint16_t type, const void *val,
    size_t len);
/* XOR-MAPPED-ADDRESS of an AF_INET or AF_INET6 address; an IPv4-mapped
 * IPv6 address is written as IPv4. */
void stun_put_xor_addr(struct stun_writer *w, const struct sockaddr *sa);
/* MAPPED-ADDRESS, not XORed: what an RFC 3489 client reads. */
void stun_put_mapped_addr(struct stun_writer *w, const struct sockaddr *sa);
void stun_put_error(struct stun_writer *w, int code, const char *reason);
void stun_put_unknown(struct stun_writer *w, const uint16_t *types,
    size_t n);
/* Sets the length, appends FINGERPRINT when asked; the message's length,
 * or 0 when it did not fit. */
size_t stun_finish(struct stun_writer *w, bool fingerprint);

#endif
