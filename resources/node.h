/* What an AE needs of <node>: its nodeLink (`nl`) keeps the node's
 * hostedAELinks (`hael`) in step (TS-0001 9.6.18). */
#ifndef IRONBARK_NODE_H
#define IRONBARK_NODE_H

#include "registry.h"

/* Checks that nl names a <node> of this CSE (4000 otherwise; a node of
 * another CSE is taken on trust) and adds aei to its hael (add) or takes it
 * out (!add; a node that has gone is no error). Stores the node. */
int node_link_ae(struct op_ctx *ctx, const char *nl, const char *aei, bool add);

#endif
