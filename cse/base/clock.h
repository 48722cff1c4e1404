/* Time for the engine: oneM2M timestamps and an injectable clock, so tests
 * can evaluate expiry and ACP time windows at chosen instants. */
#ifndef IRONBARK_CLOCK_H
#define IRONBARK_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Canonical timestamp: "YYYYMMDDThhmmss,ffffff" (22 chars + NUL). Canonical
 * stamps compare chronologically with strcmp, which the store relies on. */
#define TS_LEN 23
typedef char ts_buf[TS_LEN];

/* Microseconds since the Unix epoch, UTC. */
int64_t clock_now_us(void);
/* Tests pin the clock; 0 restores the system clock. */
void clock_set_fixed(int64_t us);

void ts_format(int64_t us, ts_buf out);
/* Accepts "YYYYMMDDThhmmss" with an optional ",f" to ",ffffff" fraction.
 * Returns false for anything else (including impossible dates). */
bool ts_parse(const char *s, int64_t *us);
/* Normalises a client timestamp into canonical form; false if invalid. */
bool ts_canonical(const char *s, ts_buf out);
/* m2m:absRelTimestamp: a timestamp or a relative number of milliseconds. */
bool ts_parse_absrel(const char *s, int64_t now_us, int64_t *us);
/* ISO 8601 duration such as "PT10S" or "P1Y2M3DT10H1M0S" in microseconds
 * (a year counts 365 days, a month 30). */
bool duration_parse(const char *s, int64_t *us);

#endif
