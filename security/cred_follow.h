/* A shared credential store (cred_open_shared) followed from the event
 * loop: the changes other front-ends (and `m2m-cse credentials` run
 * against the same database) commit reach this front-end's in-memory copy
 * through LISTEN/NOTIFY, and a PSK or MEF lease removed there ends its
 * sessions here (cse_credential_withdrawn). Nothing for an SQLite store. */
#ifndef IRONBARK_CRED_FOLLOW_H
#define IRONBARK_CRED_FOLLOW_H

struct cse;

/* 0, or -1 (logged). */
int cred_follow_open(struct cse *cse);
void cred_follow_close(struct cse *cse);

#endif
