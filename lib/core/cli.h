/* cli: what every client program shares: settings (flag, else environment,
 * else default), one JSON object a line on stdout, `prog: what: why` on
 * stderr, and the exit statuses of sysexits(3). */
#ifndef CHAT_CLI_H
#define CHAT_CLI_H

#include <stdbool.h>
#include <stdnoreturn.h>

#include <jansson.h>

#define CLI_ENV_SERVER "CHAT_SERVER"
#define CLI_ENV_USER "CHAT_USER"
#define CLI_ENV_HOME "CHAT_HOME"
#define CLI_ENV_PORT "CHAT_PORT"
#define CLI_ENV_TIMEOUT "CHAT_TIMEOUT"	/* seconds a request may take */

/* Call first: a closed or broken stdout then is a write error (74), not a
 * signal or a write into some other file. */
void cli_init(void);
/* flag, else the environment variable env when set and not empty, else
 * def (which may be NULL). */
const char *cli_setting(const char *flag, const char *env, const char *def);
/* CHAT_HOME: flag, else env, else ${XDG_STATE_HOME:-$HOME/.local/state}/chat.
 * malloc'd; NULL when there is no HOME to go by. */
char *cli_home(const char *flag);
/* A decimal port number from 1 to 65535. */
bool cli_port(const char *s, int *port);

/* Writes o as one compact JSON line and flushes it; exits 74 when stdout
 * cannot be written. */
void cli_print(const json_t *o);
/* "prog: " and the message, on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void cli_die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "prog VERSION" and exits 0. */
noreturn void cli_version(void);

#endif
