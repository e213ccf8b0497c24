/* Example of a shared object that is not a module: it exports a function, but not the
 * arsenal_module_v1 entry point, so the host refuses it with module.missing_entry_point. */
#include "arsenal/module.h"

ARSENAL_MODULE_EXPORT int counter_increment(int value) { return value + 1; }
