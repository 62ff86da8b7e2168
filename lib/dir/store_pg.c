/* store_pg: the PostgreSQL backend of store.h, for any number of chat-dird
 * processes on one database. A bounded pool of libpq connections; message
 * ids come from a counter row updated in the writing transaction, so they
 * increase in commit order across daemons; concurrent message writes of a
 * daemon share one transaction. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "dir/pg_listen.h"
#include "dir/store_backend.h"

#define POOL_DEFAULT 4
#define POOL_WAIT_MS 5000	/* a request waits this long for a connection */
#define LOCK_KEY "1128808788"	/* "CHAT": migrations take this lock */
#define ROWS_MAX 1000		/* message rows an INSERT carries */
#define NUM_LEN 24		/* an int64 in decimal, and its NUL */

/* Schema steps: migrations[v] takes a database from version v to v + 1.
 * name_key is the ASCII-lowercased name in byte order ("C"), so names are
 * unique regardless of case and page the same way as on SQLite. */
static const char *const migrations[] = {
	"CREATE TABLE peers ("
	"  id BIGSERIAL PRIMARY KEY,"
	"  username TEXT NOT NULL,"
	"  name_key TEXT COLLATE \"C\" NOT NULL"
	"    GENERATED ALWAYS AS (lower(username)) STORED,"
	"  ip TEXT NOT NULL,"
	"  port INTEGER NOT NULL,"
	"  last_seen BIGINT NOT NULL DEFAULT 0,"
	"  logged_out BOOLEAN NOT NULL DEFAULT false,"
	"  CONSTRAINT peers_name UNIQUE (name_key));"
	"CREATE TABLE friendships ("
	"  owner BIGINT NOT NULL REFERENCES peers(id),"
	"  friend BIGINT NOT NULL REFERENCES peers(id),"
	"  PRIMARY KEY (owner, friend));"
	"CREATE TABLE messages ("
	"  id BIGINT PRIMARY KEY,"
	"  uid TEXT NOT NULL,"
	"  sender BIGINT NOT NULL REFERENCES peers(id),"
	"  receiver BIGINT NOT NULL REFERENCES peers(id),"
	"  content TEXT NOT NULL,"
	"  ts BIGINT NOT NULL,"
	"  CONSTRAINT messages_uid UNIQUE (uid));"
	"CREATE INDEX messages_pair ON messages"
	"  (LEAST(sender, receiver), GREATEST(sender, receiver), id);"
	"CREATE INDEX messages_inbox ON messages (receiver, id);"
	"CREATE TABLE message_ids ("
	"  one BOOLEAN PRIMARY KEY CHECK (one),"
	"  last BIGINT NOT NULL);"
	"INSERT INTO message_ids VALUES (true, 0);",

	"ALTER TABLE peers ADD COLUMN key TEXT;",

	/* NAT traversal: the addresses a peer claims, a JSON array */
	"ALTER TABLE peers ADD COLUMN candidates TEXT;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt {
	ST_PEER_ID, ST_PAIR_IDS, ST_PEER_GET, ST_REGISTER, ST_SET_KEY,
	ST_RELEASE, ST_LOGOUT,
	ST_PEERS, ST_PEERS_ONLINE, ST_FRIEND_ADD, ST_FRIENDS, ST_PEER_IDS,
	ST_MSG_BY_UID, ST_CONV, ST_INBOX, ST_CONV_FLOOR, ST_INBOX_FLOOR,
	ST_HEALTH, ST_PUBLISH, ST_STREAM_ANY,
	ST_COUNT
};

#define PEER_COLS "username, ip, port, last_seen, logged_out, key, candidates"
#define MSG_SELECT \
	"SELECT m.id, m.uid, s.username, r.username, m.content, m.ts" \
	" FROM messages m JOIN peers s ON s.id = m.sender" \
	" JOIN peers r ON r.id = m.receiver"
#define PAIR "LEAST(m.sender, m.receiver) = $1" \
	" AND GREATEST(m.sender, m.receiver) = $2"

static const char *const sql[ST_COUNT] = {
	[ST_PEER_ID] = "SELECT id FROM peers WHERE name_key = lower($1)",
	[ST_PAIR_IDS] = "SELECT (SELECT id FROM peers WHERE name_key ="
	    " lower($1)), (SELECT id FROM peers WHERE name_key = lower($2))",
	[ST_PEER_GET] = "SELECT " PEER_COLS " FROM peers"
	    " WHERE name_key = lower($1)",
	/* One statement, so atomic: a known name is updated only when it has
	 * no key yet or this one, else no row comes back. xmax is 0 on a row
	 * the statement inserted (PostgreSQL only). */
	[ST_REGISTER] = "INSERT INTO peers(username, ip, port, last_seen,"
	    " logged_out, key, candidates) VALUES ($1, $2, $3, $4, false, $5, $6)"
	    " ON CONFLICT (name_key) DO UPDATE SET ip = EXCLUDED.ip,"
	    " port = EXCLUDED.port, last_seen = EXCLUDED.last_seen,"
	    " logged_out = false, key = COALESCE(peers.key, EXCLUDED.key),"
	    " candidates = EXCLUDED.candidates"
	    " WHERE peers.key IS NULL OR peers.key = EXCLUDED.key"
	    " RETURNING " PEER_COLS ", xmax = 0",
	[ST_SET_KEY] = "UPDATE peers SET key = $3"
	    " WHERE name_key = lower($1) AND key = $2",
	[ST_RELEASE] = "UPDATE peers SET key = NULL WHERE name_key = lower($1)",
	[ST_LOGOUT] = "UPDATE peers SET logged_out = true"
	    " WHERE name_key = lower($1)",
	[ST_PEERS] = "SELECT " PEER_COLS " FROM peers WHERE name_key >"
	    " lower($1) ORDER BY name_key LIMIT $2",
	[ST_PEERS_ONLINE] = "SELECT " PEER_COLS " FROM peers WHERE name_key >"
	    " lower($1) AND NOT logged_out AND last_seen >= $3"
	    " ORDER BY name_key LIMIT $2",
	[ST_FRIEND_ADD] = "INSERT INTO friendships(owner, friend)"
	    " VALUES ($1, $2), ($2, $1) ON CONFLICT DO NOTHING",
	[ST_FRIENDS] = "SELECT p.username, p.ip, p.port, p.last_seen,"
	    " p.logged_out, p.key, p.candidates FROM friendships f JOIN peers p ON p.id = f.friend"
	    " WHERE f.owner = $1 AND p.name_key > lower($2)"
	    " ORDER BY p.name_key LIMIT $3",
	[ST_PEER_IDS] = "SELECT name_key, id FROM peers"
	    " WHERE name_key = ANY($1::text[])",
	[ST_MSG_BY_UID] = "SELECT uid, id, ts FROM messages"
	    " WHERE uid = ANY($1::text[])",
	[ST_CONV] = MSG_SELECT " WHERE " PAIR " AND m.id > $3"
	    " ORDER BY m.id LIMIT $4",
	[ST_INBOX] = MSG_SELECT " WHERE m.receiver = $1 AND m.id > $2"
	    " ORDER BY m.id LIMIT $3",
	[ST_CONV_FLOOR] = "SELECT m.id FROM messages m WHERE " PAIR
	    " AND m.id > $3 ORDER BY m.id DESC LIMIT 1 OFFSET $4",
	[ST_INBOX_FLOOR] = "SELECT m.id FROM messages m WHERE m.receiver = $1"
	    " AND m.id > $2 ORDER BY m.id DESC LIMIT 1 OFFSET $3",
	[ST_HEALTH] = "SELECT 1",
	[ST_PUBLISH] = "SELECT pg_notify('" PG_PUSH_CHANNEL "', $1)",
	/* pg_advisory_lock_shared(int4, int4): classid, objid, objsubid 2;
	 * locks are per database, and tests share a cluster. */
	[ST_STREAM_ANY] = "SELECT EXISTS (SELECT 1 FROM pg_locks"
	    " WHERE locktype = 'advisory' AND granted AND objsubid = 2"
	    " AND classid = " PG_STREAM_CLASS "::oid AND objid = $1::oid"
	    " AND database = (SELECT oid FROM pg_database"
	    " WHERE datname = current_database()))",
};

struct conn {
	PGconn *pg;
	bool prepared[ST_COUNT];
	struct conn *next;
};

/* A request to store messages, waiting for the group commit that takes
 * it along. */
struct job {
	struct store_new_message *msgs;
	size_t n;
	int64_t now;
	size_t bad;
	enum store_status res;
	bool done;
	struct job *next;
};

struct pg_store {
	struct store base;
	char *url;
	/* the pool: idle connections, and how many are open in all */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* CLOCK_MONOTONIC */
	struct conn *idle;
	size_t open, max;
	/* group commit: jobs queue here; one leader writes them all */
	pthread_mutex_t job_mu;
	pthread_cond_t job_cv;
	struct job *jobs, **jobs_tail;
	bool leading;
	struct pg_listen *listen;	/* store_watch's */
};

/* --- connections --- */

static enum store_status
status_of(const PGresult *r)
{
	const char *state = r != NULL ?
	    PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (state == NULL)
		return STORE_FAILED;
	if (strcmp(state, "53100") == 0)	/* disk_full */
		return STORE_FULL;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0 || strcmp(state, "57P03") == 0 ||
	    strcmp(state, "53300") == 0)	/* retry: conflicts, starting */
		return STORE_BUSY;
	return STORE_FAILED;
}

static bool
res_ok(const PGresult *r)
{
	ExecStatusType t = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	return t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK ||
	    t == PGRES_SINGLE_TUPLE;
}

static PGconn *
pg_connect(const char *url)
{
	/* The URL's own settings win over these defaults. A daemon whose
	 * host is lost mid-transaction would hold the row that orders
	 * message ids, and with it every daemon's writes: keepalives and
	 * the idle timeout bound that to seconds. */
	static const char *const keys[] = { "connect_timeout",
	    "application_name", "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "options", "dbname", NULL };
	const char *vals[] = { "5", "chat-dird", "10", "5", "3",
	    "-c idle_in_transaction_session_timeout=10s", url, NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);

	if (pg != NULL && PQstatus(pg) == CONNECTION_OK)
		(void)PQsetClientEncoding(pg, "UTF8");
	return pg;
}

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	PQfinish(c->pg);
	free(c);
}

/* A connection that went bad (the server restarted, or went away and
 * came back) is opened again here, so the daemon recovers by itself. */
static bool
conn_usable(struct conn *c)
{
	if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK)
		return true;
	if (c->pg == NULL)
		return false;
	PQreset(c->pg);
	memset(c->prepared, 0, sizeof(c->prepared));
	return PQstatus(c->pg) == CONNECTION_OK;
}

/* Takes an idle connection, or opens one while fewer than max are open,
 * or waits for one. STORE_BUSY when none comes in time, STORE_FAILED
 * when the server cannot be reached. */
static enum store_status
conn_get(struct pg_store *s, struct conn **out)
{
	struct timespec until;
	struct conn *c = NULL;

	mono_deadline(&until, POOL_WAIT_MS);
	pthread_mutex_lock(&s->mu);
	while (s->idle == NULL && s->open >= s->max)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0 &&
		    s->idle == NULL && s->open >= s->max) {
			pthread_mutex_unlock(&s->mu);
			return STORE_BUSY;
		}
	if (s->idle != NULL) {
		c = s->idle;
		s->idle = c->next;
	} else
		s->open++;
	pthread_mutex_unlock(&s->mu);
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->pg = pg_connect(s->url)) == NULL) {
			free(c);
			pthread_mutex_lock(&s->mu);
			s->open--;
			pthread_cond_signal(&s->cv);
			pthread_mutex_unlock(&s->mu);
			return STORE_FAILED;
		}
	}
	*out = c;
	if (!conn_usable(c)) {
		pthread_mutex_lock(&s->mu);
		c->next = s->idle;
		s->idle = c;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return STORE_FAILED;
	}
	return STORE_OK;
}

static void
conn_put(struct pg_store *s, struct conn *c)
{
	pthread_mutex_lock(&s->mu);
	c->next = s->idle;
	s->idle = c;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static bool
prepare(struct conn *c, enum stmt which)
{
	char name[16];
	PGresult *r;
	bool ok;

	if (c->prepared[which])
		return true;
	snprintf(name, sizeof(name), "s%d", (int)which);
	r = PQprepare(c->pg, name, sql[which], 0, NULL);
	ok = res_ok(r);
	PQclear(r);
	c->prepared[which] = ok;
	return ok;
}

/* Prepares, opening a broken connection again first if need be. */
static bool
prepare_again(struct conn *c, enum stmt which)
{
	return prepare(c, which) || (PQstatus(c->pg) != CONNECTION_OK &&
	    conn_usable(c) && prepare(c, which));
}

/* Runs a prepared statement. retry: nothing has been sent on this
 * connection in the current transaction, so a connection found broken
 * may be opened again and the statement sent once more. */
static PGresult *
run(struct conn *c, enum stmt which, int n, const char *const *vals,
    bool retry)
{
	char name[16];
	PGresult *r = NULL;

	snprintf(name, sizeof(name), "s%d", (int)which);
	if (prepare(c, which))
		r = PQexecPrepared(c->pg, name, n, vals, NULL, NULL, 0);
	if (retry && !res_ok(r) && PQstatus(c->pg) != CONNECTION_OK) {
		PQclear(r);
		r = NULL;
		if (conn_usable(c) && prepare(c, which))
			r = PQexecPrepared(c->pg, name, n, vals, NULL, NULL, 0);
	}
	return r;
}

static enum store_status
exec_simple(PGconn *pg, const char *q)
{
	PGresult *r = PQexec(pg, q);
	enum store_status st = res_ok(r) ? STORE_OK : status_of(r);

	PQclear(r);
	return st;
}

static void
num(char *buf, int64_t v)
{
	snprintf(buf, NUM_LEN, "%" PRId64, v);
}

static int64_t
int_at(const PGresult *r, int row, int col)
{
	int64_t v = 0;

	if (!PQgetisnull(r, row, col))
		(void)parse_int(PQgetvalue(r, row, col), INT64_MIN, INT64_MAX,
		    &v);
	return v;
}

/* --- opening and migrating --- */

static enum store_status
migrate(PGconn *pg, char *err, size_t errlen)
{
	enum store_status st = STORE_FAILED;
	PGresult *r;
	int64_t ver = 0;
	char q[128];

	/* Daemons starting together migrate one after another. */
	r = PQexec(pg, "SELECT pg_advisory_lock(" LOCK_KEY ")");
	if (!res_ok(r)) {
		snprintf(err, errlen, "migration lock: %s", PQerrorMessage(pg));
		PQclear(r);
		return STORE_FAILED;
	}
	PQclear(r);
	r = PQexec(pg, "SELECT to_regclass('schema_version') IS NOT NULL,"
	    " to_regclass('peers') IS NOT NULL");
	if (!res_ok(r) || PQntuples(r) != 1) {
		snprintf(err, errlen, "%s", PQerrorMessage(pg));
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		PQclear(r);
		r = PQexec(pg, "SELECT max(version) FROM schema_version");
		if (!res_ok(r) || PQntuples(r) != 1) {
			snprintf(err, errlen, "%s", PQerrorMessage(pg));
			goto out;
		}
		ver = int_at(r, 0, 0);
	} else if (strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
		snprintf(err, errlen, "not a chat-dird database (a table"
		    " 'peers' but no 'schema_version')");
		st = STORE_NOT_OURS;
		goto out;
	}
	PQclear(r);
	r = NULL;
	if (ver > SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %" PRId64 " is newer"
		    " than this program's %d", ver, SCHEMA_VERSION);
		st = STORE_TOO_NEW;
		goto out;
	}
	if (ver == SCHEMA_VERSION) {
		st = STORE_OK;
		goto out;
	}
	/* DDL is transactional here: a failed step leaves no trace. */
	if (exec_simple(pg, "BEGIN") != STORE_OK)
		goto failed;
	if (ver == 0 && exec_simple(pg, "CREATE TABLE schema_version"
	    " (version INTEGER NOT NULL)") != STORE_OK)
		goto rollback;
	for (int64_t v = ver; v < SCHEMA_VERSION; v++)
		if (exec_simple(pg, migrations[v]) != STORE_OK)
			goto rollback;
	snprintf(q, sizeof(q), "DELETE FROM schema_version;"
	    " INSERT INTO schema_version VALUES (%d)", SCHEMA_VERSION);
	if (exec_simple(pg, q) != STORE_OK ||
	    exec_simple(pg, "COMMIT") != STORE_OK)
		goto rollback;
	st = STORE_OK;
	goto out;
rollback:
	snprintf(err, errlen, "migration: %s", PQerrorMessage(pg));
	(void)exec_simple(pg, "ROLLBACK");
	st = STORE_FAILED;
	goto out;
failed:
	snprintf(err, errlen, "migration: %s", PQerrorMessage(pg));
	st = STORE_FAILED;
out:
	PQclear(r);
	PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
	return st;
}

static void pg_close(struct store *base);

static enum store_status
pg_open(const struct store_opts *opts, struct store **out, char *err,
    size_t errlen)
{
	struct pg_store *s;
	struct conn *c;
	enum store_status st;

	snprintf(err, errlen, "out of memory");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return STORE_FAILED;
	s->base.be = &store_pg_backend;
	s->max = opts->pool > 0 ? (size_t)opts->pool : POOL_DEFAULT;
	s->jobs_tail = &s->jobs;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->job_mu, NULL);
	pthread_cond_init(&s->job_cv, NULL);
	if (cond_init_mono(&s->cv) != 0) {
		pthread_mutex_destroy(&s->mu);
		pthread_mutex_destroy(&s->job_mu);
		pthread_cond_destroy(&s->job_cv);
		free(s);
		return STORE_FAILED;
	}
	if ((s->url = strdup(opts->path)) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		pg_close(&s->base);
		return STORE_FAILED;
	}
	c->pg = pg_connect(s->url);
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", c->pg != NULL ?
		    PQerrorMessage(c->pg) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		conn_free(c);
		pg_close(&s->base);
		return STORE_IO;
	}
	s->open = 1;
	s->idle = c;
	if ((st = migrate(c->pg, err, errlen)) != STORE_OK) {
		err[strcspn(err, "\n")] = '\0';
		pg_close(&s->base);
		return st;
	}
	*out = &s->base;
	return STORE_OK;
}

static void
pg_close(struct store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	struct conn *c, *next;

	pg_listen_stop(s->listen);
	for (c = s->idle; c != NULL; c = next) {
		next = c->next;
		conn_free(c);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->job_mu);
	pthread_cond_destroy(&s->job_cv);
	free(s->url);
	free(s);
}

static enum store_status
pg_health(struct store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	struct conn *c;
	PGresult *r;
	enum store_status st;

	if ((st = conn_get(s, &c)) != STORE_OK)
		return st;
	r = run(c, ST_HEALTH, 0, NULL, true);
	st = res_ok(r) ? STORE_OK : status_of(r);
	PQclear(r);
	conn_put(s, c);
	return st;
}

/* --- peers --- */

static void
peer_from_row(const PGresult *r, int row, struct store_peer *p)
{
	snprintf(p->username, sizeof(p->username), "%s",
	    PQgetvalue(r, row, 0));
	snprintf(p->ip, sizeof(p->ip), "%s", PQgetvalue(r, row, 1));
	p->port = (int)int_at(r, row, 2);
	p->last_seen = int_at(r, row, 3);
	p->logged_out = strcmp(PQgetvalue(r, row, 4), "t") == 0;
	snprintf(p->key, sizeof(p->key), "%s", PQgetvalue(r, row, 5));
	snprintf(p->candidates, sizeof(p->candidates), "%s",
	    PQgetvalue(r, row, 6));
}

/* One statement that needs no other: a connection from the pool, the
 * statement, the connection back. The caller clears *out. */
static enum store_status
one(struct pg_store *s, enum stmt which, int n, const char *const *vals,
    bool retry, PGresult **out)
{
	struct conn *c;
	enum store_status st;

	*out = NULL;
	if ((st = conn_get(s, &c)) != STORE_OK)
		return st;
	*out = run(c, which, n, vals, retry);
	st = res_ok(*out) ? STORE_OK : status_of(*out);
	conn_put(s, c);
	return st;
}

/* A register is one statement: retried on a fresh connection it only
 * writes the same row again. */
static enum store_status pg_peer_get(struct store *base,
    const char *username, struct store_peer *out);

static enum store_status
pg_register(struct store *base, const char *username, const char *ip,
    int port, const char *key, const char *candidates, int64_t now,
    struct store_peer *out, bool *created)
{
	struct pg_store *s = (struct pg_store *)base;
	char p[NUM_LEN], t[NUM_LEN];
	const char *vals[] = { username, ip, p, t,
	    key != NULL && key[0] != '\0' ? key : NULL,
	    candidates != NULL && candidates[0] != '\0' ? candidates : NULL };
	PGresult *r;
	enum store_status st;

	num(p, port);
	num(t, now);
	st = one(s, ST_REGISTER, 6, vals, true, &r);
	if (st == STORE_OK && PQntuples(r) == 0) {
		PQclear(r);
		*created = false;
		/* The name is bound to another key: show it as it is. */
		st = pg_peer_get(base, username, out);
		return st == STORE_OK ? STORE_KEY_MISMATCH : st;
	}
	if (st == STORE_OK) {
		peer_from_row(r, 0, out);
		*created = strcmp(PQgetvalue(r, 0, 7), "t") == 0;
	}
	PQclear(r);
	return st;
}

/* An UPDATE of one peer by name: when it changed nothing, STORE_NOT_FOUND
 * for an unknown name, else `none`. */
static enum store_status
peer_change(struct pg_store *s, enum stmt which, int n,
    const char *const *vals, enum store_status none)
{
	PGresult *r;
	enum store_status st = one(s, which, n, vals, true, &r);

	if (st == STORE_OK && strcmp(PQcmdTuples(r), "0") == 0) {
		PQclear(r);
		st = one(s, ST_PEER_ID, 1, vals, true, &r);
		if (st == STORE_OK)
			st = PQntuples(r) == 0 ? STORE_NOT_FOUND : none;
	}
	PQclear(r);
	return st;
}

static enum store_status
pg_set_key(struct store *base, const char *username, const char *old_key,
    const char *new_key)
{
	const char *vals[] = { username, old_key, new_key };

	return peer_change((struct pg_store *)base, ST_SET_KEY, 3, vals,
	    STORE_KEY_MISMATCH);
}

static enum store_status
pg_release(struct store *base, const char *username)
{
	const char *vals[] = { username };

	return peer_change((struct pg_store *)base, ST_RELEASE, 1, vals,
	    STORE_OK);
}

static enum store_status
pg_peer_get(struct store *base, const char *username, struct store_peer *out)
{
	struct pg_store *s = (struct pg_store *)base;
	const char *vals[] = { username };
	PGresult *r;
	enum store_status st = one(s, ST_PEER_GET, 1, vals, true, &r);

	if (st == STORE_OK && PQntuples(r) == 0)
		st = STORE_NOT_FOUND;
	else if (st == STORE_OK)
		peer_from_row(r, 0, out);
	PQclear(r);
	return st;
}

static enum store_status
pg_logout(struct store *base, const char *username)
{
	struct pg_store *s = (struct pg_store *)base;
	const char *vals[] = { username };
	PGresult *r;
	enum store_status st = one(s, ST_LOGOUT, 1, vals, true, &r);

	if (st == STORE_OK && strcmp(PQcmdTuples(r), "0") == 0)
		st = STORE_NOT_FOUND;
	PQclear(r);
	return st;
}

/* Streams the rows of a query to fn one at a time, so that a listing of
 * every peer is never held in memory whole. */
static enum store_status
each_peer(struct conn *c, enum stmt which, int n, const char *const *vals,
    store_peer_fn fn, void *arg)
{
	char name[16];
	enum store_status st = STORE_OK;
	bool stop = false;
	PGresult *r;

	snprintf(name, sizeof(name), "s%d", (int)which);
	if (!prepare_again(c, which))
		return STORE_FAILED;
	if (!PQsendQueryPrepared(c->pg, name, n, vals, NULL, NULL, 0))
		return STORE_FAILED;
	/* Should it fail, the rows come in one result: slower, as right. */
	(void)PQsetSingleRowMode(c->pg);
	while ((r = PQgetResult(c->pg)) != NULL) {
		if (!res_ok(r)) {
			st = status_of(r);
		} else if (!stop) {
			for (int i = 0; i < PQntuples(r) && !stop; i++) {
				struct store_peer p;

				peer_from_row(r, i, &p);
				stop = fn(arg, &p) != 0;
			}
		}
		PQclear(r);
	}
	return st;
}

static enum store_status
pg_peers(struct store *base, const char *after, int64_t limit,
    int64_t online_since, store_peer_fn fn, void *arg)
{
	struct pg_store *s = (struct pg_store *)base;
	char l[NUM_LEN], o[NUM_LEN];
	const char *vals[] = { after != NULL ? after : "", l, o };
	struct conn *c;
	enum store_status st;

	num(l, limit < 0 ? INT64_MAX : limit);
	num(o, online_since);
	if ((st = conn_get(s, &c)) != STORE_OK)
		return st;
	st = each_peer(c, online_since > 0 ? ST_PEERS_ONLINE : ST_PEERS,
	    online_since > 0 ? 3 : 2, vals, fn, arg);
	conn_put(s, c);
	return st;
}

/* --- friendships --- */

/* The ids of two peers, in ids[0] and ids[1]; 0 for one unknown. */
static enum store_status
pair_ids(struct conn *c, const char *a, const char *b, int64_t ids[2])
{
	const char *vals[] = { a, b != NULL ? b : "" };
	PGresult *r = run(c, ST_PAIR_IDS, 2, vals, true);
	enum store_status st = res_ok(r) ? STORE_OK : status_of(r);

	if (st == STORE_OK && PQntuples(r) != 1)
		st = STORE_FAILED;
	if (st == STORE_OK) {
		ids[0] = int_at(r, 0, 0);
		ids[1] = int_at(r, 0, 1);
	}
	PQclear(r);
	return st;
}

static enum store_status
pg_friend_add(struct store *base, const char *user1, const char *user2,
    bool *created)
{
	struct pg_store *s = (struct pg_store *)base;
	char a[NUM_LEN], b[NUM_LEN];
	const char *vals[] = { a, b };
	int64_t ids[2];
	struct conn *c;
	PGresult *r;
	enum store_status st;

	*created = false;
	if ((st = conn_get(s, &c)) != STORE_OK)
		return st;
	if ((st = pair_ids(c, user1, user2, ids)) != STORE_OK)
		goto end;
	if (ids[0] == 0 || ids[1] == 0) {
		st = STORE_NOT_FOUND;
		goto end;
	}
	if (ids[0] == ids[1]) {
		st = STORE_SAME_USER;
		goto end;
	}
	num(a, ids[0]);
	num(b, ids[1]);
	/* Both rows in one statement: never half a friendship. */
	r = run(c, ST_FRIEND_ADD, 2, vals, false);
	st = res_ok(r) ? STORE_OK : status_of(r);
	if (st == STORE_OK)
		*created = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
end:
	conn_put(s, c);
	return st;
}

static enum store_status
pg_friends(struct store *base, const char *username, const char *after,
    int64_t limit, store_peer_fn fn, void *arg)
{
	struct pg_store *s = (struct pg_store *)base;
	char id[NUM_LEN], l[NUM_LEN];
	const char *vals[] = { id, after != NULL ? after : "", l };
	int64_t ids[2];
	struct conn *c;
	enum store_status st;

	if ((st = conn_get(s, &c)) != STORE_OK)
		return st;
	if ((st = pair_ids(c, username, NULL, ids)) != STORE_OK)
		goto end;
	if (ids[0] == 0) {
		st = STORE_NOT_FOUND;
		goto end;
	}
	num(id, ids[0]);
	num(l, limit < 0 ? INT64_MAX : limit);
	st = each_peer(c, ST_FRIENDS, 3, vals, fn, arg);
end:
	conn_put(s, c);
	return st;
}

/* --- messages --- */

static enum store_status
pg_watch(struct store *base, store_event_fn fn, void *arg)
{
	struct pg_store *s = (struct pg_store *)base;

	if (s->listen != NULL)
		return STORE_FAILED;
	s->listen = pg_listen_start(s->url, fn, arg);
	return s->listen != NULL ? STORE_OK : STORE_FAILED;
}

/* A NOTIFY of "USER\nJSON", outside any transaction, so sent at once.
 * Every daemon's LISTEN connection hears it, this one's too, and hands
 * it to its watcher: delivered here as well, it would come twice. A
 * connection found broken (the server restarted) is opened again and the
 * NOTIFY sent once more; only a server that committed it and then broke
 * the connection before answering would make listeners hear it twice. */
static enum store_status
pg_publish(struct store *base, const char *user, const char *json)
{
	struct pg_store *s = (struct pg_store *)base;
	char payload[STORE_PUBLISH_MAX + 1];
	const char *vals[] = { payload };
	PGresult *r;
	enum store_status st;
	int n = snprintf(payload, sizeof(payload), "%s\n%s", user, json);

	if (n < 0 || (size_t)n >= sizeof(payload))
		return STORE_INVALID;
	st = one(s, ST_PUBLISH, 1, vals, true, &r);
	PQclear(r);
	return st;
}

static void
pg_stream(struct store *base, const char *user, bool open)
{
	pg_listen_stream(((struct pg_store *)base)->listen, user, open);
}

static enum store_status
pg_stream_any(struct store *base, const char *user, bool *any)
{
	char key[NUM_LEN];
	const char *vals[] = { key };
	PGresult *r;
	enum store_status st;

	num(key, pg_stream_key(user));
	if ((st = one((struct pg_store *)base, ST_STREAM_ANY, 1, vals, true,
	    &r)) == STORE_OK)
		*any = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return st;
}

/* A message's uid: the client's, or a fresh one. */
static void
uid_fill(struct store_new_message *m)
{
	if (m->uid == NULL) {
		uid_new(m->uid_made);
	} else {
		/* Checked by valid_uid: at most UID_MAX bytes. */
		size_t ulen = strnlen(m->uid, sizeof(m->uid_made) - 1);

		memcpy(m->uid_made, m->uid, ulen);
		m->uid_made[ulen] = '\0';
	}
}

static void
lower_ascii(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = src[i] >= 'A' && src[i] <= 'Z' ?
		    (char)(src[i] - 'A' + 'a') : src[i];
	dst[i] = '\0';
}

/* A growing string for array literals and statements. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
buf_add(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 256;
		char *p;

		while (b->len + n + 1 > cap)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

/* Names and uids are made of [A-Za-z0-9._:-] (valid.h): no element of
 * these array literals needs quoting. */
static void
array_add(struct buf *b, const char *s)
{
	buf_add(b, b->len <= 1 ? "" : ",");
	buf_add(b, s);
}

struct name_id {
	const char *name;
	int64_t id;
};

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_id *)a)->name,
	    ((const struct name_id *)b)->name);
}

static int64_t
name_find(const struct name_id *t, size_t n, const char *name)
{
	char key[USERNAME_MAX + 1];
	struct name_id k = { key, 0 }, *hit;

	lower_ascii(key, name, sizeof(key));
	hit = bsearch(&k, t, n, sizeof(*t), name_cmp);
	return hit != NULL ? hit->id : 0;
}

/* Every row a group writes, in order, with its id and its job. */
struct row {
	struct store_new_message *m;
	struct job *j;
	int64_t from, to;
};

/* Looks up every sender and receiver of the group in one query (a batch
 * mostly repeats one pair, named once), and fills rows with the messages
 * of every job that names only known peers; the others get
 * STORE_NOT_FOUND and the index of their first bad message. */
static enum store_status
resolve(struct conn *c, struct job *group, struct row *rows, size_t *nrows)
{
	struct buf lit = { 0 };
	const struct store_new_message *prev = NULL;
	struct name_id *t = NULL;
	char name[USERNAME_MAX + 1];
	const char *vals[1];
	enum store_status st;
	PGresult *r;
	size_t nt, k = 0;

	buf_add(&lit, "{");
	for (struct job *j = group; j != NULL; j = j->next)
		for (size_t i = 0; i < j->n; i++) {
			const struct store_new_message *m = &j->msgs[i];

			if (prev != NULL && strcmp(prev->sender, m->sender) == 0 &&
			    strcmp(prev->receiver, m->receiver) == 0)
				continue;
			lower_ascii(name, m->sender, sizeof(name));
			array_add(&lit, name);
			lower_ascii(name, m->receiver, sizeof(name));
			array_add(&lit, name);
			prev = m;
		}
	buf_add(&lit, "}");
	if (lit.oom) {
		free(lit.p);
		return STORE_FAILED;
	}
	vals[0] = lit.p;
	r = run(c, ST_PEER_IDS, 1, vals, true);
	free(lit.p);
	if (!res_ok(r)) {
		st = status_of(r);
		PQclear(r);
		return st;
	}
	nt = (size_t)PQntuples(r);
	if (nt > 0 && (t = calloc(nt, sizeof(*t))) == NULL) {
		PQclear(r);
		return STORE_FAILED;
	}
	for (size_t i = 0; i < nt; i++)
		t[i] = (struct name_id){ PQgetvalue(r, (int)i, 0),
		    int_at(r, (int)i, 1) };
	qsort(t, nt, sizeof(*t), name_cmp);
	for (struct job *j = group; j != NULL; j = j->next) {
		size_t first = k;

		for (size_t i = 0; i < j->n; i++) {
			struct row *w = &rows[k++];

			w->m = &j->msgs[i];
			w->j = j;
			w->from = name_find(t, nt, w->m->sender);
			w->to = name_find(t, nt, w->m->receiver);
			if (w->from == 0 || w->to == 0) {
				j->res = STORE_NOT_FOUND;
				j->bad = i;
				k = first;
				break;
			}
		}
	}
	free(t);
	PQclear(r);
	*nrows = k;
	return STORE_OK;
}

/* Inserts rows[0..n) with the ids first..first+n-1 in one statement;
 * a uid stored before is skipped, and its row's created left false. */
static enum store_status
rows_insert(struct conn *c, struct row *rows, size_t n, int64_t first)
{
	struct buf q = { 0 };
	const char **vals = calloc(n, 6 * sizeof(*vals));
	char (*nums)[NUM_LEN] = calloc(n, 4 * sizeof(*nums));
	enum store_status st = STORE_FAILED;
	PGresult *r = NULL;
	char ph[64];

	if (vals == NULL || nums == NULL)
		goto end;
	buf_add(&q, "INSERT INTO messages(id, uid, sender, receiver, content,"
	    " ts) VALUES ");
	for (size_t i = 0; i < n; i++) {
		size_t p = 6 * i;

		snprintf(ph, sizeof(ph), "%s($%zu, $%zu, $%zu, $%zu, $%zu, $%zu)",
		    i > 0 ? ", " : "", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6);
		buf_add(&q, ph);
		num(nums[4 * i], first + (int64_t)i);
		num(nums[4 * i + 1], rows[i].from);
		num(nums[4 * i + 2], rows[i].to);
		num(nums[4 * i + 3], rows[i].j->now);
		vals[p] = nums[4 * i];
		vals[p + 1] = rows[i].m->uid_made;
		vals[p + 2] = nums[4 * i + 1];
		vals[p + 3] = nums[4 * i + 2];
		vals[p + 4] = rows[i].m->content;
		vals[p + 5] = nums[4 * i + 3];
	}
	buf_add(&q, " ON CONFLICT (uid) DO NOTHING RETURNING id");
	if (q.oom)
		goto end;
	r = PQexecParams(c->pg, q.p, (int)(6 * n), NULL, vals, NULL, NULL, 0);
	if (!res_ok(r)) {
		st = status_of(r);
		goto end;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t k = int_at(r, i, 0) - first;

		if (k >= 0 && (size_t)k < n)
			rows[k].m->created = true;
	}
	st = STORE_OK;
end:
	PQclear(r);
	free(q.p);
	free(nums);
	free(vals);
	return st;
}

struct uid_row {
	const char *uid;
	int row;
};

static int
uid_cmp(const void *a, const void *b)
{
	return strcmp(((const struct uid_row *)a)->uid,
	    ((const struct uid_row *)b)->uid);
}

/* Rows whose uid was stored before (by any daemon, or earlier in this
 * group) answer with the first copy's id and ts. */
static enum store_status
rows_look_up(struct conn *c, struct row *rows, size_t n)
{
	struct buf lit = { 0 };
	struct uid_row *t = NULL;
	const char *vals[1];
	enum store_status st = STORE_OK;
	PGresult *r;
	size_t nt;

	buf_add(&lit, "{");
	for (size_t i = 0; i < n; i++)
		if (!rows[i].m->created)
			array_add(&lit, rows[i].m->uid_made);
	buf_add(&lit, "}");
	if (lit.len == 2 || lit.oom) {
		free(lit.p);
		return lit.oom ? STORE_FAILED : STORE_OK;
	}
	vals[0] = lit.p;
	r = run(c, ST_MSG_BY_UID, 1, vals, false);
	free(lit.p);
	if (!res_ok(r)) {
		st = status_of(r);
		PQclear(r);
		return st;
	}
	nt = (size_t)PQntuples(r);
	if (nt > 0 && (t = calloc(nt, sizeof(*t))) == NULL) {
		PQclear(r);
		return STORE_FAILED;
	}
	for (size_t i = 0; i < nt; i++)
		t[i] = (struct uid_row){ PQgetvalue(r, (int)i, 0), (int)i };
	qsort(t, nt, sizeof(*t), uid_cmp);
	for (size_t i = 0; i < n && st == STORE_OK; i++) {
		struct store_new_message *m = rows[i].m;
		struct uid_row k = { m->uid_made, 0 }, *hit;

		if (m->created)
			continue;
		hit = bsearch(&k, t, nt, sizeof(*t), uid_cmp);
		if (hit == NULL) {
			st = STORE_FAILED;
			break;
		}
		m->id = int_at(r, hit->row, 1);
		m->ts = int_at(r, hit->row, 2);
	}
	free(t);
	PQclear(r);
	return st;
}

/* Commits, telling every daemon's LISTEN connection (pg_listen.h) of the
 * rows created, in the same round trip. The payloads are "ID:FROM:TO":
 * names are [A-Za-z0-9._-], so the literal needs no quoting. */
static enum store_status
commit_notify(struct conn *c, const struct row *rows, size_t n)
{
	struct buf q = { 0 };
	char one[NUM_LEN + 2 * USERNAME_MAX + 4];
	enum store_status st;
	bool any = false;

	buf_add(&q, "SELECT pg_notify('" PG_LISTEN_CHANNEL "', x) FROM"
	    " unnest('{");
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].m->created)
			continue;
		snprintf(one, sizeof(one), "%s%" PRId64 ":%s:%s", any ? "," : "",
		    rows[i].m->id, rows[i].m->sender, rows[i].m->receiver);
		buf_add(&q, one);
		any = true;
	}
	buf_add(&q, "}'::text[]) x; COMMIT");
	if (q.oom) {
		free(q.p);
		return STORE_FAILED;
	}
	st = exec_simple(c->pg, any ? q.p : "COMMIT");
	free(q.p);
	return st;
}

/* Writes the rows in one transaction. The ids come from message_ids,
 * whose row stays locked until the commit: a transaction that takes ids
 * after another commits after it, so a reader paging by id never skips a
 * message committed late. */
static enum store_status
rows_write(struct conn *c, struct row *rows, size_t n)
{
	char q[128];
	PGresult *r;
	enum store_status st;
	int64_t first;

	snprintf(q, sizeof(q), "BEGIN; UPDATE message_ids SET last = last +"
	    " %zu RETURNING last", n);
	r = PQexec(c->pg, q);
	if (!res_ok(r) && PQstatus(c->pg) != CONNECTION_OK) {
		PQclear(r);
		r = conn_usable(c) ? PQexec(c->pg, q) : NULL;
	}
	if (!res_ok(r) || PQntuples(r) != 1) {
		st = status_of(r);
		PQclear(r);
		goto rollback;
	}
	first = int_at(r, 0, 0) - (int64_t)n + 1;
	PQclear(r);
	for (size_t i = 0; i < n; i++) {
		rows[i].m->id = first + (int64_t)i;
		rows[i].m->ts = rows[i].j->now;
		rows[i].m->created = false;
	}
	for (size_t off = 0; off < n; off += ROWS_MAX) {
		size_t k = n - off < ROWS_MAX ? n - off : ROWS_MAX;

		if ((st = rows_insert(c, rows + off, k,
		    first + (int64_t)off)) != STORE_OK)
			goto rollback;
	}
	if ((st = rows_look_up(c, rows, n)) != STORE_OK)
		goto rollback;
	/* A commit whose answer is lost fails the request: the client's
	 * retry with the same uids then finds what was stored. The
	 * notifications go out with the commit, and only then. */
	if ((st = commit_notify(c, rows, n)) == STORE_OK)
		return STORE_OK;
rollback:
	if (PQstatus(c->pg) == CONNECTION_OK &&
	    PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		(void)exec_simple(c->pg, "ROLLBACK");
	return st;
}

static void
group_commit(struct pg_store *s, struct job *group)
{
	struct row *rows;
	struct conn *c;
	enum store_status st;
	size_t total = 0, n = 0;

	for (struct job *j = group; j != NULL; j = j->next)
		total += j->n;
	if ((rows = calloc(total > 0 ? total : 1, sizeof(*rows))) == NULL)
		st = STORE_FAILED;
	else if ((st = conn_get(s, &c)) == STORE_OK) {
		st = resolve(c, group, rows, &n);
		if (st == STORE_OK && n > 0)
			st = rows_write(c, rows, n);
		conn_put(s, c);
	}
	free(rows);
	for (struct job *j = group; j != NULL; j = j->next)
		if (st != STORE_OK || j->res != STORE_NOT_FOUND)
			j->res = st;
}

/* Group commit: a job that finds no leader leads, writing every job
 * queued by then in one transaction; the others wait for it, and the
 * first of those still queued leads the next group. */
static enum store_status
pg_messages_create(struct store *base, struct store_new_message *msgs,
    size_t n, int64_t now, size_t *bad)
{
	struct pg_store *s = (struct pg_store *)base;
	struct job job = { .msgs = msgs, .n = n, .now = now,
	    .res = STORE_OK };
	struct job *group;

	for (size_t i = 0; i < n; i++)
		uid_fill(&msgs[i]);
	pthread_mutex_lock(&s->job_mu);
	*s->jobs_tail = &job;
	s->jobs_tail = &job.next;
	while (!job.done && s->leading)
		pthread_cond_wait(&s->job_cv, &s->job_mu);
	if (!job.done) {
		s->leading = true;
		group = s->jobs;
		s->jobs = NULL;
		s->jobs_tail = &s->jobs;
		pthread_mutex_unlock(&s->job_mu);
		group_commit(s, group);
		pthread_mutex_lock(&s->job_mu);
		for (struct job *j = group; j != NULL; j = j->next)
			j->done = true;
		s->leading = false;
		pthread_cond_broadcast(&s->job_cv);
	}
	pthread_mutex_unlock(&s->job_mu);
	*bad = job.bad;
	return job.res;
}

/* The peers' ids bound as the message queries take them: the pair,
 * smaller first, or the receiver of an inbox. */
static enum store_status
message_ids(struct conn *c, const char *peer1, const char *peer2,
    char a[NUM_LEN], char b[NUM_LEN])
{
	int64_t ids[2];
	enum store_status st = pair_ids(c, peer1, peer2, ids);

	if (st != STORE_OK)
		return st;
	if (ids[0] == 0 || (peer2 != NULL && ids[1] == 0))
		return STORE_NOT_FOUND;
	if (peer2 != NULL && ids[0] > ids[1]) {
		int64_t t = ids[0];
		ids[0] = ids[1];
		ids[1] = t;
	}
	num(a, ids[0]);
	num(b, ids[1]);
	return STORE_OK;
}

static enum store_status
pg_messages(struct store *base, const char *peer1, const char *peer2,
    int64_t after, int64_t limit, store_message_fn fn, void *arg)
{
	struct pg_store *s = (struct pg_store *)base;
	char a[NUM_LEN], b[NUM_LEN], af[NUM_LEN], l[NUM_LEN], name[16];
	const char *conv[] = { a, b, af, l }, *inbox[] = { a, af, l };
	enum stmt which = peer2 != NULL ? ST_CONV : ST_INBOX;
	struct conn *c;
	PGresult *r;
	enum store_status st;
	bool stop = false;

	if ((st = conn_get(s, &c)) != STORE_OK)
		return st;
	if ((st = message_ids(c, peer1, peer2, a, b)) != STORE_OK)
		goto end;
	num(af, after);
	num(l, limit < 0 ? INT64_MAX : limit);
	snprintf(name, sizeof(name), "s%d", (int)which);
	if (!prepare(c, which) ||
	    !PQsendQueryPrepared(c->pg, name, peer2 != NULL ? 4 : 3,
	    peer2 != NULL ? conv : inbox, NULL, NULL, 0)) {
		st = STORE_FAILED;
		goto end;
	}
	(void)PQsetSingleRowMode(c->pg);
	while ((r = PQgetResult(c->pg)) != NULL) {
		if (!res_ok(r))
			st = status_of(r);
		for (int i = 0; st == STORE_OK && !stop && res_ok(r) &&
		    i < PQntuples(r); i++) {
			struct store_message m = {
				.id = int_at(r, i, 0),
				.uid = PQgetvalue(r, i, 1),
				.from = PQgetvalue(r, i, 2),
				.to = PQgetvalue(r, i, 3),
				.content = PQgetvalue(r, i, 4),
				.content_len = (size_t)PQgetlength(r, i, 4),
				.ts = int_at(r, i, 5),
			};
			stop = fn(arg, &m) != 0;
		}
		PQclear(r);
	}
end:
	conn_put(s, c);
	return st;
}

static enum store_status
pg_messages_floor(struct store *base, const char *peer1, const char *peer2,
    int64_t after, int64_t last, int64_t *floor)
{
	struct pg_store *s = (struct pg_store *)base;
	char a[NUM_LEN], b[NUM_LEN], af[NUM_LEN], off[NUM_LEN];
	const char *conv[] = { a, b, af, off }, *inbox[] = { a, af, off };
	struct conn *c;
	PGresult *r;
	enum store_status st;

	*floor = after;
	if ((st = conn_get(s, &c)) != STORE_OK)
		return st;
	if ((st = message_ids(c, peer1, peer2, a, b)) != STORE_OK)
		goto end;
	num(af, after);
	/* OFFSET last - 1 from the newest: the oldest message kept. */
	num(off, last - 1);
	r = run(c, peer2 != NULL ? ST_CONV_FLOOR : ST_INBOX_FLOOR,
	    peer2 != NULL ? 4 : 3, peer2 != NULL ? conv : inbox, false);
	st = res_ok(r) ? STORE_OK : status_of(r);
	if (st == STORE_OK && PQntuples(r) == 1)
		*floor = int_at(r, 0, 0) - 1;
	PQclear(r);
end:
	conn_put(s, c);
	return st;
}

/* PostgreSQL's plan for a named query, with typical parameters. */
static bool
pg_plan(struct store *base, const char *query, char *out, size_t len)
{
	static const struct {
		const char *name;
		enum stmt st;
		int n;
		const char *vals[4];
	} named[] = {
		{ "conversation", ST_CONV, 4, { "1", "2", "0", "50" } },
		{ "inbox", ST_INBOX, 3, { "1", "0", "50" } },
		{ "peers", ST_PEERS, 2, { "", "50" } },
		{ "friends", ST_FRIENDS, 3, { "1", "", "50" } },
		{ "peer", ST_PEER_GET, 1, { "alice" } },
		{ "conversation-last", ST_CONV_FLOOR, 4, { "1", "2", "0", "9" } },
		{ "inbox-last", ST_INBOX_FLOOR, 3, { "1", "0", "9" } },
	};
	struct pg_store *s = (struct pg_store *)base;
	struct buf q = { 0 };
	struct conn *c;
	PGresult *r;
	size_t used = 0;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (strcmp(named[i].name, query) != 0)
			continue;
		if (len == 0 || conn_get(s, &c) != STORE_OK)
			return false;
		buf_add(&q, "EXPLAIN ");
		buf_add(&q, sql[named[i].st]);
		out[0] = '\0';
		r = q.oom ? NULL : PQexecParams(c->pg, q.p, named[i].n, NULL,
		    named[i].vals, NULL, NULL, 0);
		for (int k = 0; res_ok(r) && k < PQntuples(r); k++) {
			int w = snprintf(out + used, len - used, "%s\n",
			    PQgetvalue(r, k, 0));
			if (w < 0 || (size_t)w >= len - used)
				break;
			used += (size_t)w;
		}
		PQclear(r);
		free(q.p);
		conn_put(s, c);
		return true;
	}
	return false;
}

const struct store_backend store_pg_backend = {
	.open = pg_open,
	.close = pg_close,
	.health = pg_health,
	.reg = pg_register,
	.set_key = pg_set_key,
	.release = pg_release,
	.peer_get = pg_peer_get,
	.logout = pg_logout,
	.peers = pg_peers,
	.friend_add = pg_friend_add,
	.friends = pg_friends,
	.messages_create = pg_messages_create,
	.messages = pg_messages,
	.messages_floor = pg_messages_floor,
	.plan = pg_plan,
	.watch = pg_watch,
	.publish = pg_publish,
	.stream = pg_stream,
	.stream_any = pg_stream_any,
};
