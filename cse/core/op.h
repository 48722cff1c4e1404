/* The oneM2M operations (TS-0004 6.3.2, m2m:operation): shared by the
 * primitives and the response-code table, which depend on nothing else. */
#ifndef IRONBARK_OP_H
#define IRONBARK_OP_H

enum m2m_op { OP_NONE = 0, OP_CREATE = 1, OP_RETRIEVE, OP_UPDATE, OP_DELETE, OP_NOTIFY };

#endif
