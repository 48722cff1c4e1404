/* The one symbol ironbark-transports.so exports to the engine. */
#include "transport.h"

#include "coap.h"
#include "coap_notify.h"
#include "../../security/tls.h"
#include "../../security/tls_client.h"

const struct transport_module ironbark_transport_module = {
    .abi = TRANSPORT_MODULE_ABI,
    .tls_server_create = tls_server_create,
    .tls_server_free = tls_server_free,
    .tls_http_transport = tls_http_transport,
    .tls_client_create = tls_client_create,
    .tls_client_free = tls_client_free,
    .tls_client_io = tls_client_io,
    .coap_server_start = coap_server_start,
    .coap_server_stop = coap_server_stop,
    .coap_notify_install = coap_notify_install,
    .coap_notify_shutdown = coap_notify_shutdown,
};
