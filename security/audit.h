/* Audit log: one JSON object per line, appended to a file and rotated by
 * size (file, file.1, … file.<keep>). Records access denials and changes to
 * access control policies so operators can answer "who was refused what,
 * and who changed which policy". */
#ifndef IRONBARK_AUDIT_H
#define IRONBARK_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct audit;

/* Opens (creates) the log for appending. max_bytes <= 0 disables rotation;
 * keep is the number of rotated files kept. NULL when it cannot be opened. */
struct audit *audit_open(const char *path, int64_t max_bytes, int keep);
void audit_close(struct audit *a);

/* Appends {"ts","originator","target","op","decision","reason"}; fields may
 * be NULL. Failures are logged, never fatal. */
void audit_record(struct audit *a, const char *originator, const char *target, const char *op,
                  const char *decision, const char *reason);
/* The same, naming the decider of the authorization chain that decided
 * (security/authz.h): "acp", "das", … */
void audit_decision(struct audit *a, const char *originator, const char *target, const char *op,
                    const char *decision, const char *decider, const char *reason);

/* Reading the log back (the web console's audit view, docs/console.md):
 * the entries of the newest max_bytes of the current file that match, newest
 * first, at most limit. originator and target match as substrings,
 * decision exactly; NULL or "" matches anything. Never NULL. */
struct audit_filter { const char *originator, *target, *decision; };
json_t *audit_query(const char *path, const struct audit_filter *f, int limit, size_t max_bytes);

#endif
