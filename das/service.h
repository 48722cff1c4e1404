/* What every server acting as a DAS shares (m2m-das, m2m-ppm): a CSEBase
 * answering consultations (das/consult.h), <role> assignments, <token>s, the
 * decider letting anyone consult and a CSE read roles, the signing key and
 * the das-fqdn setting. A server's main() adds its own types and defaults. */
#ifndef IRONBARK_DAS_SERVICE_H
#define IRONBARK_DAS_SERVICE_H

struct cse;
struct resource_type;
struct authz_decider;
#include "cse/core/config.h"

#include <stdbool.h>

/* The CSEBase with the consultation hook and the <role> checking its issuer;
 * das_service_init() fills them from the engine's types. */
extern struct resource_type das_service_base, das_service_role;
extern const struct authz_decider das_service_decider;
/* The das-fqdn setting's set(): the host part of the token IDs issued. */
int das_service_set_fqdn(void *data, const char *value, char *err, int errlen);
#define DAS_FQDN_HELP "host part of the token IDs issued here, \"<id>@<das-fqdn>\""

/* fqdn: the default host part of token IDs (das-fqdn overrides it). */
void das_service_init(const char *fqdn);
/* on_start: opens the signing key in the data dir; rule_types and
 * suspended (NULL: none) as in struct das_identity. Non-zero: logged, the
 * start stops. */
int das_service_start(struct cse *cse, const int *rule_types, bool (*suspended)(const char *rule_ri), const char *who);
void das_service_stop(void);

#endif
