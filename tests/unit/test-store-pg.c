/* Unit tests for lib/dir/store_pg.c on a real PostgreSQL: the one whose
 * socket folder CHAT_TEST_PG names (tests/pg-cluster starts it; without
 * it every test is skipped). Each test gets a fresh database. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "dir/store.h"

#define K1 "MCowBQYDK2VwAyEAaaaaaaaaaaaaaaaaaaaaaaaaaaa="
#define K2 "MCowBQYDK2VwAyEAbbbbbbbbbbbbbbbbbbbbbbbbbbb="
#define K3 "MCowBQYDK2VwAyEAccccccccccccccccccccccccccc="

struct fixture {
	char url[512];
	struct store *s;
};

/* Runs SQL on the database named in url (or on "postgres"). */
static void
sql(const char *dbname, const char *q)
{
	const char *keys[] = { "host", "user", "dbname", NULL };
	const char *vals[] = { getenv("CHAT_TEST_PG"), "chat", dbname, NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 0);
	PGresult *r;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	r = PQexec(pg, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
}

static int counter;

/* A fresh, empty database; its name in name, its URL in f->url. */
static void
fresh_db(struct fixture *f, char *name, size_t len)
{
	char q[128];

	snprintf(name, len, "unit_%ld_%d", (long)getpid(), ++counter);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", name);
	sql("postgres", q);
	snprintf(f->url, sizeof(f->url), "postgresql:///%s?host=%s&user=chat",
	    name, getenv("CHAT_TEST_PG"));
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_opts o = { 0 };
	char err[256], name[64];

	if (f == NULL)
		return -1;
	*state = f;
	if (getenv("CHAT_TEST_PG") == NULL)
		return 0;
	fresh_db(f, name, sizeof(name));
	o.path = f->url;
	o.pool = 2;
	if (store_open(&o, &f->s, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "store_open: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	free(f);
	return 0;
}

#define NEED_PG() do { \
	if (getenv("CHAT_TEST_PG") == NULL) \
		skip(); \
} while (0)

static enum store_status
reg(struct store *s, const char *name, const char *key, bool *created)
{
	struct store_peer p;

	return store_register(s, name, "127.0.0.1", 5000, key, NULL, 1000, &p,
	    created);
}

static void
keys_bind_rotate_release(void **state)
{
	struct fixture *f = *state;
	struct store_peer p;
	bool created;

	NEED_PG();
	assert_int_equal(reg(f->s, "Alice", K1, &created), STORE_OK);
	assert_true(created);
	assert_int_equal(reg(f->s, "alice", NULL, &created), STORE_KEY_MISMATCH);
	assert_int_equal(reg(f->s, "ALICE", K2, &created), STORE_KEY_MISMATCH);
	assert_int_equal(reg(f->s, "aLiCe", K1, &created), STORE_OK);
	assert_false(created);
	assert_int_equal(store_set_key(f->s, "alice", K2, K3),
	    STORE_KEY_MISMATCH);
	assert_int_equal(store_set_key(f->s, "alice", K1, K2), STORE_OK);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_string_equal(p.key, K2);
	assert_string_equal(p.username, "Alice");
	assert_int_equal(store_set_key(f->s, "nobody", K1, K2),
	    STORE_NOT_FOUND);
	assert_int_equal(store_release(f->s, "alice"), STORE_OK);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_string_equal(p.key, "");
	assert_int_equal(store_release(f->s, "nobody"), STORE_NOT_FOUND);
	/* Unkeyed, then keyed: the key is bound on first use. */
	assert_int_equal(reg(f->s, "bob", NULL, &created), STORE_OK);
	assert_int_equal(reg(f->s, "bob", "", &created), STORE_OK);
	assert_int_equal(reg(f->s, "bob", K3, &created), STORE_OK);
	assert_int_equal(store_peer_get(f->s, "bob", &p), STORE_OK);
	assert_string_equal(p.key, K3);
	assert_int_equal(reg(f->s, "bob", NULL, &created), STORE_KEY_MISMATCH);
}

static struct store_new_message
msg(const char *from, const char *to, const char *text, const char *uid)
{
	struct store_new_message m = { 0 };

	m.sender = from;
	m.receiver = to;
	m.content = text;
	m.content_len = strlen(text);
	m.uid = uid;
	return m;
}

static int
count_msg(void *arg, const struct store_message *m)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

/* Two handles on one database, as two daemons: a uid stored through one
 * answers with its first id through the other. */
static void
two_daemons_one_uid(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = { .path = f->url, .pool = 1 };
	struct store *s2;
	struct store_new_message m[2];
	char err[256];
	bool created;
	size_t bad;
	int n = 0;

	NEED_PG();
	assert_int_equal(store_open(&o, &s2, err, sizeof(err)), STORE_OK);
	assert_int_equal(reg(f->s, "alice", NULL, &created), STORE_OK);
	assert_int_equal(reg(s2, "bob", NULL, &created), STORE_OK);
	m[0] = msg("alice", "BOB", "hi", "u-1");
	assert_int_equal(store_messages_create(f->s, m, 1, 10, &bad),
	    STORE_OK);
	assert_true(m[0].created);
	m[1] = msg("alice", "bob", "hi", "u-1");
	assert_int_equal(store_messages_create(s2, &m[1], 1, 11, &bad),
	    STORE_OK);
	assert_false(m[1].created);
	assert_int_equal(m[1].id, m[0].id);
	assert_int_equal(m[1].ts, 10);
	/* A later message has a larger id, whichever handle wrote it. */
	m[1] = msg("bob", "alice", "yo", NULL);
	assert_int_equal(store_messages_create(s2, &m[1], 1, 12, &bad),
	    STORE_OK);
	assert_true(m[1].id > m[0].id);
	assert_int_equal(store_messages(f->s, "alice", "bob", 0, -1,
	    count_msg, &n), STORE_OK);
	assert_int_equal(n, 2);
	/* An unknown receiver: nothing stored, the index of the bad one. */
	m[0] = msg("alice", "bob", "a", NULL);
	m[1] = msg("alice", "zed", "b", NULL);
	assert_int_equal(store_messages_create(f->s, m, 2, 13, &bad),
	    STORE_NOT_FOUND);
	assert_int_equal(bad, 1);
	n = 0;
	assert_int_equal(store_messages(s2, "bob", NULL, 0, -1, count_msg,
	    &n), STORE_OK);
	assert_int_equal(n, 1);
	store_close(s2);
}

/* With enough rows for the planner to care, every message query is
 * served by its index. */
static void
plans_use_indexes(void **state)
{
	struct fixture *f = *state;
	static struct store_new_message m[500];
	char plan[4096], dbname[128];
	const char *q;
	bool created;
	size_t bad;

	NEED_PG();
	assert_int_equal(reg(f->s, "alice", NULL, &created), STORE_OK);
	assert_int_equal(reg(f->s, "bob", NULL, &created), STORE_OK);
	assert_int_equal(reg(f->s, "carol", NULL, &created), STORE_OK);
	for (int round = 0; round < 10; round++) {
		for (size_t i = 0; i < 500; i++)
			m[i] = msg(i % 100 == 0 ? "alice" : "carol", "bob", "x",
			    NULL);
		assert_int_equal(store_messages_create(f->s, m, 500, 1, &bad),
		    STORE_OK);
	}
	q = strstr(f->url, "///") + 3;
	snprintf(dbname, sizeof(dbname), "%.*s", (int)strcspn(q, "?"), q);
	sql(dbname, "ANALYZE");
	assert_true(store_plan(f->s, "conversation", plan, sizeof(plan)));
	assert_non_null(strstr(plan, "messages_pair"));
	assert_null(strstr(plan, "Seq Scan on messages"));
	assert_true(store_plan(f->s, "inbox", plan, sizeof(plan)));
	assert_non_null(strstr(plan, "messages_inbox"));
	assert_false(store_plan(f->s, "nonsense", plan, sizeof(plan)));
}

/* Candidates are kept and replaced; a database at version 2 (before
 * them) migrates and keeps its rows. */
static void
candidates_and_migration(void **state)
{
	struct fixture *f = *state, g;
	struct store_opts o = { 0 };
	struct store_peer p;
	struct store *s;
	bool created;
	char err[256], name[64];
	const char *c1 = "[{\"ip\":\"10.0.0.1\",\"port\":1,\"type\":\"host\"}]";

	NEED_PG();
	assert_int_equal(store_register(f->s, "alice", "10.0.0.1", 1, NULL, c1,
	    5, &p, &created), STORE_OK);
	assert_string_equal(p.candidates, c1);
	assert_int_equal(store_peer_get(f->s, "alice", &p), STORE_OK);
	assert_string_equal(p.candidates, c1);
	assert_int_equal(store_register(f->s, "alice", "10.0.0.1", 1, NULL, "",
	    6, &p, &created), STORE_OK);
	assert_string_equal(p.candidates, "");

	fresh_db(&g, name, sizeof(name));
	o.path = g.url;
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_OK);
	assert_int_equal(store_register(s, "bob", "10.0.0.2", 2, K1, c1, 5, &p,
	    &created), STORE_OK);
	store_close(s);
	sql(name, "ALTER TABLE peers DROP COLUMN candidates;"
	    " UPDATE schema_version SET version = 2");
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_OK);
	assert_int_equal(store_peer_get(s, "bob", &p), STORE_OK);
	assert_string_equal(p.key, K1);
	assert_string_equal(p.candidates, "");
	store_close(s);
}

/* What a store's watcher heard, from its LISTEN thread. */
struct heard {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int messages, published, nulls;
	char user[USERNAME_MAX + 1];
	char json[STORE_PUBLISH_MAX + 1];
};

static void
hear(void *arg, const struct store_event *ev)
{
	struct heard *h = arg;

	pthread_mutex_lock(&h->mu);
	if (ev == NULL) {
		h->nulls++;
	} else if (ev->kind == STORE_EV_PUBLISHED) {
		h->published++;
		snprintf(h->user, sizeof(h->user), "%s", ev->user);
		snprintf(h->json, sizeof(h->json), "%s", ev->json);
	} else {
		h->messages++;
	}
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* Waits up to 10 s for the count at *count to reach n: what it is. */
static int
wait_for(struct heard *h, const int *count, int n)
{
	struct timespec t;
	int got;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 10;
	pthread_mutex_lock(&h->mu);
	while (*count < n && pthread_cond_timedwait(&h->cv, &h->mu, &t) !=
	    ETIMEDOUT)
		;
	got = *count;
	pthread_mutex_unlock(&h->mu);
	return got;
}

static int
count_of(struct heard *h, const int *count)
{
	int got;

	pthread_mutex_lock(&h->mu);
	got = *count;
	pthread_mutex_unlock(&h->mu);
	return got;
}

/* Notifications are heard in commit order: once a message written after
 * them is heard, everything published before it has been. */
static void
flush(struct store *s, struct heard *a, struct heard *b, int messages)
{
	struct store_new_message m = msg("alice", "bob", "x", NULL);
	size_t bad;

	assert_int_equal(store_messages_create(s, &m, 1, 20, &bad), STORE_OK);
	assert_int_equal(wait_for(a, &a->messages, messages), messages);
	assert_int_equal(wait_for(b, &b->messages, messages), messages);
}

/* Two handles on one database, as two daemons: an event published
 * through one is heard once by the watcher of each, its own included;
 * one too large for a NOTIFY, or one not ours, is heard by none. */
static void
publish_reaches_every_daemon_once(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = { .path = f->url, .pool = 1 };
	struct heard a = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	struct heard b = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	static char big[STORE_PUBLISH_MAX + 1];
	const char *relay = "{\"type\":\"relay\",\"from\":\"alice\"}";
	char dbname[128];
	const char *p;
	struct store *s2;
	char err[256];
	bool created;

	NEED_PG();
	assert_int_equal(store_open(&o, &s2, err, sizeof(err)), STORE_OK);
	assert_int_equal(reg(f->s, "alice", NULL, &created), STORE_OK);
	assert_int_equal(reg(f->s, "bob", NULL, &created), STORE_OK);
	assert_int_equal(store_watch(f->s, hear, &a), STORE_OK);
	assert_int_equal(store_watch(s2, hear, &b), STORE_OK);
	/* each listens once it has said so */
	assert_int_equal(wait_for(&a, &a.nulls, 1), 1);
	assert_int_equal(wait_for(&b, &b.nulls, 1), 1);

	assert_int_equal(store_publish(f->s, "Bob", relay), STORE_OK);
	assert_int_equal(wait_for(&b, &b.published, 1), 1);
	assert_int_equal(wait_for(&a, &a.published, 1), 1);
	flush(s2, &a, &b, 1);
	assert_int_equal(count_of(&a, &a.published), 1);
	assert_int_equal(count_of(&b, &b.published), 1);
	assert_string_equal(b.user, "Bob");
	assert_string_equal(b.json, relay);
	assert_string_equal(a.json, relay);

	/* the largest payload PostgreSQL takes, then one byte more */
	memset(big, 'x', STORE_PUBLISH_MAX - 4);
	assert_int_equal(store_publish(s2, "bob", big), STORE_OK);
	assert_int_equal(wait_for(&a, &a.published, 2), 2);
	assert_int_equal(wait_for(&b, &b.published, 2), 2);
	assert_int_equal(strlen(a.json), STORE_PUBLISH_MAX - 4);
	big[STORE_PUBLISH_MAX - 4] = 'x';
	assert_int_equal(store_publish(s2, "bob", big), STORE_INVALID);
	assert_int_equal(store_publish(f->s, "bob", "{\n}"), STORE_INVALID);

	/* notifications not in our form are dropped */
	p = strstr(f->url, "///") + 3;
	snprintf(dbname, sizeof(dbname), "%.*s", (int)strcspn(p, "?"), p);
	sql(dbname, "NOTIFY chat_push, 'no newline'");
	sql(dbname, "SELECT pg_notify('chat_push', E'-bad\\n{}')");
	sql(dbname, "SELECT pg_notify('chat_push', E'bob\\n{}\\n{}')");
	flush(f->s, &a, &b, 2);
	assert_int_equal(count_of(&a, &a.published), 2);
	assert_int_equal(count_of(&b, &b.published), 2);
	/* their LISTEN threads end before the watchers' state goes */
	store_close(s2);
	store_close(f->s);
	f->s = NULL;
}

/* Whether any daemon of f's database holds a stream of user, once it
 * is as expected: polled for up to 10 s, as the locks are taken in the
 * background. */
static bool
stream_seen(struct store *s, const char *user, bool expect)
{
	bool any = !expect;

	for (int i = 0; i < 1000; i++) {
		assert_int_equal(store_stream_any(s, user, &any), STORE_OK);
		if (any == expect)
			break;
		usleep(10000);
	}
	return any;
}

/* A stream opened on one handle is seen through another handle of the
 * same database, whatever the case of the name, until the last of the
 * user's streams closes; a handle on another database does not see it,
 * nor one that never watched (no LISTEN connection to hold the lock). */
static void
streams_seen_across_daemons(void **state)
{
	struct fixture *f = *state, g;
	struct store_opts o = { .path = f->url, .pool = 1 };
	struct heard a = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	struct store *s2, *other;
	char err[256], name[64];
	bool any = true;

	NEED_PG();
	assert_int_equal(store_open(&o, &s2, err, sizeof(err)), STORE_OK);
	fresh_db(&g, name, sizeof(name));
	o.path = g.url;
	assert_int_equal(store_open(&o, &other, err, sizeof(err)), STORE_OK);
	assert_int_equal(store_stream_any(s2, "bob", &any), STORE_OK);
	assert_false(any);

	/* streams opened before the LISTEN connection is up are held once
	 * it is */
	assert_int_equal(store_watch(f->s, hear, &a), STORE_OK);
	store_stream(f->s, "Bob", true);
	store_stream(f->s, "bob", true);
	assert_true(stream_seen(s2, "BOB", true));
	assert_int_equal(store_stream_any(s2, "carol", &any), STORE_OK);
	assert_false(any);
	assert_int_equal(store_stream_any(other, "bob", &any), STORE_OK);
	assert_false(any);
	/* one of two closed: still held */
	store_stream(f->s, "BOB", false);
	usleep(200000);
	assert_int_equal(store_stream_any(s2, "bob", &any), STORE_OK);
	assert_true(any);
	store_stream(f->s, "bob", false);
	assert_false(stream_seen(s2, "bob", false));
	/* a close too many is no lock to drop */
	store_stream(f->s, "bob", false);
	/* the connection up, a stream is seen as soon as it is open */
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		store_stream(f->s, name, true);
		assert_int_equal(store_stream_any(s2, name, &any), STORE_OK);
		assert_true(any);
	}
	store_stream(f->s, "carol", true);
	assert_int_equal(store_stream_any(s2, "carol", &any), STORE_OK);
	assert_true(any);
	assert_int_equal(store_stream_any(s2, "bob", &any), STORE_OK);
	assert_false(any);
	/* nor a handle that does not listen */
	store_stream(s2, "dave", true);
	usleep(200000);
	assert_int_equal(store_stream_any(f->s, "dave", &any), STORE_OK);
	assert_false(any);
	/* the daemon gone, its locks go with its connection */
	store_close(f->s);
	f->s = NULL;
	assert_false(stream_seen(s2, "carol", false));
	store_close(other);
	store_close(s2);
}

/* Databases that are not ours, or newer, are refused and left alone. */
static void
refuses_foreign_and_newer(void **state)
{
	struct fixture *f = *state, g;
	struct store_opts o = { 0 };
	struct store *s;
	char err[256], name[64];

	NEED_PG();
	fresh_db(&g, name, sizeof(name));
	sql(name, "CREATE TABLE peers (x INTEGER)");
	o.path = g.url;
	assert_int_equal(store_open(&o, &s, err, sizeof(err)),
	    STORE_NOT_OURS);
	sql(name, "DROP TABLE peers");
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_OK);
	store_close(s);
	sql(name, "UPDATE schema_version SET version = 99");
	assert_int_equal(store_open(&o, &s, err, sizeof(err)),
	    STORE_TOO_NEW);
	assert_non_null(strstr(err, "99"));
	/* No server at all. */
	o.path = "postgresql:///x?host=/nonexistent-socket-dir&user=chat";
	assert_int_equal(store_open(&o, &s, err, sizeof(err)), STORE_IO);
	(void)f;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(keys_bind_rotate_release,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(two_daemons_one_uid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(plans_use_indexes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(refuses_foreign_and_newer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(candidates_and_migration,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    publish_reaches_every_daemon_once, setup, teardown),
		cmocka_unit_test_setup_teardown(streams_seen_across_daemons,
		    setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
