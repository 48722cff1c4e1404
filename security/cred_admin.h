/* The operator's interface to the credential store:
 *   m2m-cse credentials [--data-dir D | --config F] <command> [args]
 * Access is the file's (mode 0600): whoever may run the CSE may manage it.
 * Keys arrive on standard input or from an owner-only file, never in argv. */
#ifndef IRONBARK_CRED_ADMIN_H
#define IRONBARK_CRED_ADMIN_H

#include "../cse/core/config.h"

#include <stddef.h>
#include <stdio.h>

struct credentials;

/* argv[0] is "credentials". Returns the process exit code. */
int cred_admin_main(int argc, char **argv);

/* argv[0] is "console-login": mints a single-use web console login code
 * (docs/console.md) in the credential store and prints it. */
#define CONSOLE_CODE_LEN 20   /* characters of 31: ~99 bits */
int console_login_main(int argc, char **argv);

/* Path of the store file for a configuration. */
void cred_store_path(const struct config *cfg, char *out, size_t cap);

/* Opens the store and applies the config's psk, psk-file and trusted-ca entries. */
struct credentials *cred_open_provisioned(const struct config *cfg);

/* Stores the "identity:hexkey:patterns" lines of in (blank lines and '#'
 * comments skipped), all or none: returns how many, or -1 with the reason
 * ("name:line: ...") in err. The keys do not outlive the call in memory. */
int cred_import_psk_lines(struct credentials *cs, FILE *in, const char *name, char *err, size_t errlen);

#endif
