/* Unit tests for lib/dir/push: who hears which event, the limits, what a
 * resuming stream is sent, and that a parked stream is woken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dir/push.h"

struct waker_state {
	int suspends, resumes;
};

static void
on_suspend(void *arg)
{
	((struct waker_state *)arg)->suspends++;
}

static void
on_resume(void *arg)
{
	((struct waker_state *)arg)->resumes++;
}

static struct push_stream *
open_as(struct push *p, const char *user, bool has_after, int64_t after,
    struct waker_state *ws)
{
	struct push_stream *s = NULL;
	const struct push_waker w = { on_suspend, on_resume, ws };

	assert_int_equal(push_open(p, user, has_after, after, &s), PUSH_OPENED);
	push_set_waker(s, &w);
	return s;
}

/* Everything the stream has now, NUL-terminated. */
static const char *
drain(struct push_stream *s)
{
	static char buf[8192];
	size_t len = 0;
	ssize_t n;

	while ((n = push_read(s, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

static void
event(struct push *p, int64_t id, const char *from, const char *to)
{
	push_store_event(p, &(struct store_event){ .id = id, .from = from,
	    .to = to });
}

static void
sender_and_receiver_hear_others_do_not(void **state)
{
	struct push *p = push_new(&(struct push_config){ 0 });
	struct waker_state wa = { 0 }, wb = { 0 }, wc = { 0 };
	struct push_stream *a, *b, *c;

	(void)state;
	assert_non_null(p);
	a = open_as(p, "alice", false, 0, &wa);
	b = open_as(p, "BOB", false, 0, &wb);
	c = open_as(p, "carol", false, 0, &wc);
	assert_string_equal(drain(a), ": chat-dird events\n\n");
	assert_string_equal(drain(b), ": chat-dird events\n\n");
	assert_string_equal(drain(c), ": chat-dird events\n\n");
	assert_int_equal(wa.suspends, 1);
	event(p, 7, "alice", "bob");
	assert_int_equal(wa.resumes, 1);
	assert_int_equal(wb.resumes, 1);
	assert_int_equal(wc.resumes, 0);
	assert_string_equal(drain(a), "id: 7\ndata: {\"type\":\"message\","
	    "\"id\":7,\"from\":\"alice\",\"to\":\"bob\"}\n\n");
	assert_string_equal(drain(b), "id: 7\ndata: {\"type\":\"message\","
	    "\"id\":7,\"from\":\"alice\",\"to\":\"bob\"}\n\n");
	assert_string_equal(drain(c), "");
	push_publish(p, "Carol", "{\"type\":\"ring\",\"from\":\"alice\"}");
	assert_string_equal(drain(c), "data: {\"type\":\"ring\",\"from\":"
	    "\"alice\"}\n\n");
	assert_string_equal(drain(a), "");
	/* a newline would break the event: not sent */
	push_publish(p, "carol", "{\n}");
	assert_string_equal(drain(c), "");
	assert_int_equal(push_count(p, NULL), 3);
	assert_int_equal(push_count(p, "bob"), 1);
	push_close(a);
	push_close(b);
	push_close(c);
	assert_int_equal(push_count(p, NULL), 0);
	push_free(p);
}

static void
limits(void **state)
{
	struct push *p = push_new(&(struct push_config){ .max_streams = 3,
	    .max_per_user = 2 });
	struct push_stream *s[4] = { 0 }, *x = NULL;

	(void)state;
	assert_int_equal(push_open(p, "alice", false, 0, &s[0]), PUSH_OPENED);
	assert_int_equal(push_open(p, "ALICE", false, 0, &s[1]), PUSH_OPENED);
	assert_int_equal(push_open(p, "alice", false, 0, &x), PUSH_USER_FULL);
	assert_int_equal(push_open(p, "bob", false, 0, &s[2]), PUSH_OPENED);
	assert_int_equal(push_open(p, "carol", false, 0, &x), PUSH_FULL);
	push_close(s[0]);
	assert_int_equal(push_open(p, "carol", false, 0, &s[3]), PUSH_OPENED);
	push_shutdown(p);
	assert_int_equal(push_open(p, "dave", false, 0, &x), PUSH_STOPPED);
	drain(s[1]);
	assert_int_equal(push_read(s[1], (char[8]){ 0 }, 8), -1);
	push_close(s[1]);
	push_close(s[2]);
	push_close(s[3]);
	push_free(p);
}

static void
resuming(void **state)
{
	struct push *p = push_new(&(struct push_config){ 0 });
	struct waker_state w = { 0 };
	struct push_stream *s;

	(void)state;
	/* nothing seen yet: it cannot vouch for anything */
	s = open_as(p, "bob", true, 3, &w);
	assert_string_equal(drain(s), ": chat-dird events\n\n"
	    "data: {\"type\":\"resync\"}\n\n");
	push_close(s);
	event(p, 5, "alice", "bob");
	event(p, 6, "carol", "dave");
	event(p, 7, "bob", "alice");
	/* 5 was the first seen: from 4 on it vouches, not below */
	s = open_as(p, "bob", true, 5, &w);
	assert_string_equal(drain(s), ": chat-dird events\n\nid: 7\ndata: "
	    "{\"type\":\"message\",\"id\":7,\"from\":\"bob\",\"to\":\"alice\"}"
	    "\n\n");
	push_close(s);
	s = open_as(p, "bob", true, 4, &w);
	assert_non_null(strstr(drain(s), "id: 5\n"));
	push_close(s);
	s = open_as(p, "bob", true, 3, &w);
	assert_non_null(strstr(drain(s), "resync"));
	push_close(s);
	/* a lost feed forgets: a resync to every stream, and to resumers */
	s = open_as(p, "bob", false, 0, &w);
	drain(s);
	push_store_event(p, NULL);
	assert_string_equal(drain(s), "data: {\"type\":\"resync\"}\n\n");
	push_close(s);
	s = open_as(p, "bob", true, 7, &w);
	assert_non_null(strstr(drain(s), "resync"));
	push_close(s);
	push_free(p);
}

static void
ring_and_buffer_overflow(void **state)
{
	struct push *p = push_new(&(struct push_config){ 0 });
	struct waker_state w = { 0 };
	struct push_stream *s, *slow;
	const char *out;

	(void)state;
	slow = open_as(p, "bob", false, 0, &w);
	drain(slow);
	for (int64_t id = 1; id <= 5000; id++)
		event(p, id, "alice", "bob");
	/* the slow reader's buffer overflowed: one resync, no half event */
	assert_string_equal(drain(slow), "data: {\"type\":\"resync\"}\n\n");
	push_close(slow);
	/* the ring holds the last 4096: 904 is gone, so resuming at 903 is
	 * a resync; from 904 on it is a replay */
	s = open_as(p, "bob", true, 903, &w);
	assert_non_null(strstr(drain(s), "resync"));
	push_close(s);
	s = open_as(p, "bob", true, 4990, &w);
	out = drain(s);
	assert_non_null(strstr(out, "id: 4991\n"));
	assert_non_null(strstr(out, "id: 5000\n"));
	assert_null(strstr(out, "id: 4990\n"));
	assert_null(strstr(out, "resync"));
	push_close(s);
	/* bad names are not events */
	s = open_as(p, "bob", false, 0, &w);
	drain(s);
	event(p, 6000, "bob", "a\"b");
	assert_string_equal(drain(s), "");
	push_close(s);
	push_free(p);
}

/* A published event from the store (this daemon's or another's) goes to
 * the user's streams only, live: not into the ring, not replayed. */
static void
published_events_reach_the_user(void **state)
{
	struct push *p = push_new(&(struct push_config){ 0 });
	struct waker_state wb = { 0 }, wc = { 0 };
	struct push_stream *b, *c;
	static char big[STORE_PUBLISH_MAX];
	const char *relay = "{\"type\":\"relay\",\"from\":\"alice\"}";
	char want[STORE_PUBLISH_MAX + 16];
	size_t n;

	(void)state;
	b = open_as(p, "bob", false, 0, &wb);
	c = open_as(p, "carol", false, 0, &wc);
	drain(b);
	drain(c);
	push_store_event(p, &(struct store_event){ .kind = STORE_EV_PUBLISHED,
	    .user = "BOB", .json = relay });
	assert_int_equal(wb.resumes, 1);
	assert_string_equal(drain(b), "data: {\"type\":\"relay\",\"from\":"
	    "\"alice\"}\n\n");
	assert_int_equal(wc.resumes, 0);
	assert_string_equal(drain(c), "");
	/* as large as the store carries: "bob", a newline and the JSON */
	n = STORE_PUBLISH_MAX - 4;
	memset(big, 'x', n);
	big[0] = '"';
	big[n - 1] = '"';
	big[n] = '\0';
	push_store_event(p, &(struct store_event){ .kind = STORE_EV_PUBLISHED,
	    .user = "bob", .json = big });
	snprintf(want, sizeof(want), "data: %s\n\n", big);
	assert_string_equal(drain(b), want);
	push_close(b);
	/* nothing of it is kept for a stream that resumes */
	push_store_event(p, &(struct store_event){ .id = 3, .from = "alice",
	    .to = "carol" });
	drain(c);
	b = open_as(p, "bob", true, 2, &wb);
	assert_string_equal(drain(b), ": chat-dird events\n\n");
	push_close(b);
	push_close(c);
	push_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sender_and_receiver_hear_others_do_not),
		cmocka_unit_test(limits),
		cmocka_unit_test(resuming),
		cmocka_unit_test(ring_and_buffer_overflow),
		cmocka_unit_test(published_events_reach_the_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
