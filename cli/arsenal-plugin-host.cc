// arsenal-plugin-host: the sandboxed process that runs untrusted modules. Started by the engine
// (hotreload::PluginHost) with a socket as fd 0; see arsenal/hotreload/plugin_host_server.h.
#include "arsenal/hotreload/plugin_host_server.h"

int main(int argc, char** argv) { return arsenal::hotreload::PluginHostMain(argc, argv); }
