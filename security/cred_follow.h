/* The credential store followed from the event loop, so that changes made
 * elsewhere reach a running CSE without a restart. A shared store
 * (PostgreSQL): other front-ends' commits (and `m2m-cse credentials` run
 * against the same database) arrive through LISTEN/NOTIFY. An SQLite store:
 * what `m2m-cse credentials` commits from its own process is seen at the
 * next check of the file (every CRED_FOLLOW_CHECK_MS). Either way a CA
 * change moves cred_ca_generation() (the TLS and DTLS listeners reload at
 * their next handshake), and a PSK or MEF lease removed there ends its
 * sessions here (cse_credential_withdrawn). */
#ifndef IRONBARK_CRED_FOLLOW_H
#define IRONBARK_CRED_FOLLOW_H

#define CRED_FOLLOW_CHECK_MS 1000

struct cse;

/* 0, or -1 (logged). */
int cred_follow_open(struct cse *cse);
void cred_follow_close(struct cse *cse);

#endif
