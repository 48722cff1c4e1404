/* The element checks and writers the provisional Mmef and Mmaf mappings
 * (mef/mmef.h, maf/mmaf.h) share: TS-0003's information elements as JSON
 * members. Each check records the first problem in err and sets *bad. */
#ifndef IRONBARK_MM_ELEMENTS_H
#define IRONBARK_MM_ELEMENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* pc's member key when it is an object, else NULL and err says what is wanted. */
const json_t *mm_body(const json_t *pc, const char *key, char *err, size_t errlen);
/* A non-empty string of at most 255 characters; NULL when absent (and not mandatory) or bad. */
const char *mm_str(const json_t *b, const char *name, bool mandatory, bool *bad, char *err, size_t errlen);
/* expirationTime as a oneM2M timestamp; *present says whether it was sent. */
bool mm_time(const json_t *b, bool mandatory, int64_t *us, bool *present, bool *bad, char *err, size_t errlen);
/* labels: at most 16 strings of at most 64 characters (borrowed into *labels). */
bool mm_labels(const json_t *b, json_t **labels, bool *bad, char *err, size_t errlen);

/* A timestamp to the second, and stored labels text back to a list (new references). */
json_t *mm_ts_json(int64_t us);
json_t *mm_labels_json(const char *text);
/* labels as compact JSON text into out ("" when absent or too long). */
void mm_labels_text(const json_t *labels, char *out, size_t cap);

#endif
