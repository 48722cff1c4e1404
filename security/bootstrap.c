#include "bootstrap.h"

#include "hex.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SLOTS 256

struct record {
    char credential_id[136];
    char relkeid[33];
    uint8_t km[BOOTSTRAP_LEN];
    time_t at;              /* 0 = free */
};

static struct record table[SLOTS];
static bool enabled, for_certificates;
static const char *export_label;

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1;   /* never 0: 0 marks a free slot */
}

void bootstrap_enable(const char *label) { enabled = label != NULL; export_label = label; for_certificates = false; }
void bootstrap_enable_certificates(bool on) { for_certificates = on; }
bool bootstrap_for_certificates(void) { return enabled && for_certificates; }
const char *bootstrap_label(void) { return export_label; }
bool bootstrap_enabled(void) { return enabled; }

static void forget(struct record *r)
{
    explicit_bzero(r, sizeof *r);
}

void bootstrap_record(const char *credential_id, const uint8_t km[BOOTSTRAP_LEN])
{
    if (!enabled || strlen(credential_id) >= sizeof table[0].credential_id) return;
    char hex[33];
    hex_encode(km, 16, hex);
    time_t now = now_s();
    struct record *slot = NULL, *oldest = &table[0];
    for (int i = 0; i < SLOTS; i++) {
        struct record *r = &table[i];
        if (r->at && now - r->at > BOOTSTRAP_TTL_S) forget(r);
        if (r->at && !strcmp(r->relkeid, hex) && !strcmp(r->credential_id, credential_id)) { slot = r; break; }
        if (!r->at && !slot) slot = r;
        if (r->at < oldest->at) oldest = r;
    }
    /* Full: the oldest handshake loses its chance (it has to be redone). */
    if (!slot) slot = oldest;
    snprintf(slot->credential_id, sizeof slot->credential_id, "%s", credential_id);
    snprintf(slot->relkeid, sizeof slot->relkeid, "%s", hex);
    memcpy(slot->km, km, BOOTSTRAP_LEN);
    slot->at = now;
}

bool bootstrap_take(const char *credential_id, const char *relkeid_hex, uint8_t km[BOOTSTRAP_LEN])
{
    if (!credential_id || !relkeid_hex || strlen(relkeid_hex) != 32) return false;
    time_t now = now_s();
    for (int i = 0; i < SLOTS; i++) {
        struct record *r = &table[i];
        if (!r->at) continue;
        if (now - r->at > BOOTSTRAP_TTL_S) { forget(r); continue; }
        if (strcasecmp(r->relkeid, relkeid_hex) || strcmp(r->credential_id, credential_id)) continue;
        memcpy(km, r->km, BOOTSTRAP_LEN);
        forget(r);   /* once: a replayed registration finds nothing */
        return true;
    }
    return false;
}

void bootstrap_clear(void)
{
    explicit_bzero(table, sizeof table);
}
