/* The operator's interface to the credential store:
 *   m2m-cse credentials [--data-dir D | --config F] <command> [args]
 * Access is the file's (mode 0600): whoever may run the CSE may manage it. */
#ifndef IRONBARK_CRED_ADMIN_H
#define IRONBARK_CRED_ADMIN_H

#include "../cse/config.h"

#include <stddef.h>

struct credentials;

/* argv[0] is "credentials". Returns the process exit code. */
int cred_admin_main(int argc, char **argv);

/* Path of the store file for a configuration. */
void cred_store_path(const struct config *cfg, char *out, size_t cap);

/* Opens the store and applies the config file's psk and trusted-ca entries. */
struct credentials *cred_open_provisioned(const struct config *cfg);

#endif
