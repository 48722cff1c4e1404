/* The dynamic-authorization resource types (TS-0001 9.6.38-9.6.40):
 * <role> (ty 31), <token> (ty 32), <dynamicAuthorizationConsultation>
 * (ty 34). Not core types: a server profile lists the ones it serves
 * (m2m-cse: all three; m2m-das: its repository of roles and tokens). */
#ifndef IRONBARK_DYNAUTH_H
#define IRONBARK_DYNAUTH_H

#include "registry.h"

extern const struct resource_type type_dynamic_authorization_consultation;
extern const struct resource_type type_role;
extern const struct resource_type type_token;

/* Hook helper shared by <role> and <token>: 4000 when tkna (notAfter)
 * precedes tknb (notBefore). */
int dynauth_check_window(struct op_ctx *ctx);
/* 4000 unless attribute sn holds a Token-ID / Role-ID (what names it). */
int dynauth_check_id(struct op_ctx *ctx, const char *sn, const char *what);

/* All three, as a profile's types list (NULL-terminated). */
#define DYNAUTH_TYPES &type_dynamic_authorization_consultation, &type_role, &type_token

#endif
