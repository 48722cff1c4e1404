/* Privacy documents of the m2m-ppm (docs/privacy.md): a subscriber's
 * preferences and a provider's policy, both JSON objects in the TS-0003
 * Annex J tag vocabulary, and the comparison that turns the two into the
 * customised policy a subscriber consents to. Pure: no store, no clock. */
#ifndef IRONBARK_PPM_PRIVACY_H
#define IRONBARK_PPM_PRIVACY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum ppm_doc_kind {
    PPM_PREFERENCES,   /* tags, ops, windows, data (the subscriber's resources) */
    PPM_POLICY,        /* tags, ops, windows, originators (the provider's AE-IDs) */
};

/* Checks doc: known tags with values of their kind, known operations,
 * parseable time windows, no contradiction (data "not collected" yet
 * operations asked), and for preferences that every data path lies at or
 * below owner_root ("<ppm-data-root>/<subscriber>"). 0, or -1 with err set. */
int ppm_doc_check(json_t *doc, enum ppm_doc_kind kind, const char *owner_root, char *err, size_t cap);

/* acop bits of doc's "ops" (both kinds; doc already checked). */
int ppm_doc_ops(json_t *doc);

/* The customised policy for prefs and policy (both checked): the operations
 * both allow, the subscriber's windows (the provider's when she set none),
 * the provider's originators, the data. *differences (new array): what the
 * provider asks beyond the preferences, one {"tag"|"op", "asks", "prefers"}
 * object per conflict. data: the resources consented (NULL = all the
 * preferences name); a path not among them fails (-1, err). */
json_t *ppm_customise(json_t *prefs, json_t *policy, json_t *data, json_t **differences, char *err, size_t cap);

#endif
