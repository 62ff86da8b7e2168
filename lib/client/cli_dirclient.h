/* cli_dirclient: the directory client every client program builds the
 * same way, from its flag and the environment. */
#ifndef CHAT_CLI_DIRCLIENT_H
#define CHAT_CLI_DIRCLIENT_H

#include "client/dirclient.h"

/* A directory client for the server given by flag, else CHAT_SERVER, else
 * the default, with CHAT_TIMEOUT; exits 64 when either is malformed.
 * (In cli_dirclient.c: only the programs that call it link libcurl.) */
struct dirclient *cli_dirclient(const char *server_flag);
/* Signs dc's requests as user with the user's key under CHAT_HOME (made
 * on first use), and seals and opens messages with it and the user's
 * pins (dc_set_pins). Without a CHAT_HOME or HOME nothing is signed. Exits 77
 * for a secret key file that others may read, 65 for one that is not a
 * key, 74 when the key cannot be read or made. */
void cli_sign_as(struct dirclient *dc, const char *user);

#endif
