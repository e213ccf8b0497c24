/* Example of a module built against a different module ABI: its table says abi_version 2, so
 * the host refuses it with module.abi_mismatch before calling anything. Written in C99 by hand,
 * which also shows (and checks at build time) that arsenal/module.h is plain C99. */
#include <stddef.h>

#include "arsenal/module.h"

static int Create(const uint8_t* state, size_t state_size, uint32_t state_version,
                  arsenal_module_instance** instance, char** error) {
  (void)state;
  (void)state_size;
  (void)state_version;
  (void)error;
  *instance = NULL;
  return ARSENAL_MODULE_ERROR;
}

static int Call(arsenal_module_instance* instance, const char* method, const uint8_t* input,
                size_t input_size, arsenal_module_bytes* output, char** error) {
  (void)instance;
  (void)method;
  (void)input;
  (void)input_size;
  (void)output;
  (void)error;
  return ARSENAL_MODULE_NO_SUCH_METHOD;
}

static int Snapshot(arsenal_module_instance* instance, uint32_t wanted, arsenal_module_bytes* state,
                    uint32_t* state_version, char** error) {
  (void)instance;
  (void)wanted;
  (void)error;
  state->data = NULL;
  state->size = 0;
  *state_version = 0;
  return ARSENAL_MODULE_OK;
}

static int Health(arsenal_module_instance* instance, char** error) {
  (void)instance;
  (void)error;
  return ARSENAL_MODULE_OK;
}

static void Destroy(arsenal_module_instance* instance) { (void)instance; }

static void FreeBuffer(void* buffer) { (void)buffer; }

static const arsenal_module_table_v1 kTable = {2u, /* not ARSENAL_MODULE_ABI_VERSION */
                                               sizeof(arsenal_module_table_v1),
                                               "counter",
                                               "4.0.0",
                                               1,
                                               0,
                                               Create,
                                               Call,
                                               Snapshot,
                                               Health,
                                               Destroy,
                                               FreeBuffer};

ARSENAL_MODULE_EXPORT const arsenal_module_table_v1* arsenal_module_v1(void) { return &kTable; }
