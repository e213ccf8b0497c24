/* arsenal/module.h: the binary interface between Arsenal and a hot-reloadable module.
 *
 * Purpose
 *   A module is a shared object (.so) that exports exactly one C entry point, `arsenal_module_v1`,
 *   returning a pointer to a static, immutable `arsenal_module_table_v1`. Arsenal's loader
 *   (arsenal::hotreload::ModuleManager) copies each version of a module to a content-addressed
 *   file, dlopen()s it with RTLD_NOW | RTLD_LOCAL, checks `abi_version`, and from then on talks to
 *   the module only through this table. Two versions of one module may be loaded at the same time
 *   (during a reload), each from its own file, so a module must keep its state in its instances,
 *   not in globals. This header is C99 and C++ compatible and depends only on <stddef.h> and
 *   <stdint.h>; C++ authors should use arsenal/module.hpp instead of filling the table by hand.
 *
 * Life cycle of one instance (host side)
 *   create(state)  ->  health()  ->  call()*  ->  snapshot()  ->  destroy()
 *   On a reload the host blocks new calls, waits for in-flight calls to finish, calls snapshot()
 *   on the old instance, create() on the new version with that state, health() on the new
 *   instance, switches, and then destroy()s the old instance and dlclose()s the old version. If
 *   anything fails, the new instance (if any) is destroyed and the old one keeps serving with its
 *   state untouched: snapshot() must therefore not modify the instance.
 *
 * Threading (decided by the host, relied on by modules)
 *   - create(), snapshot() and destroy() are never called concurrently with any other function on
 *     the same instance.
 *   - Without ARSENAL_MODULE_FLAG_THREAD_SAFE in `flags`, the host serialises call() and health()
 *     on an instance: a module needs no locking of its own.
 *   - With ARSENAL_MODULE_FLAG_THREAD_SAFE, call() and health() may run concurrently on the same
 *     instance from several threads; the module synchronises itself.
 *   - Different instances (e.g. the old and the new version during a reload, or two modules
 *     loaded from the same file under different names) may be used concurrently from different
 *     threads. Global state shared between instances must be synchronised by the module.
 *   - A module must not call back into the host's module manager from inside a table function
 *     (the host holds a lock around each call; re-entry can deadlock).
 *
 * Buffer ownership
 *   - Every pointer the host passes in (state, method, input) is borrowed for the duration of the
 *     call only; the module copies what it keeps. `method` is NUL-terminated.
 *   - Every buffer a module returns through an out-parameter (`output->data`, `state->data`,
 *     `*error`) is owned by the host afterwards, which releases it with the table's
 *     `free_buffer` (never with its own free()). A module may return data == NULL with size == 0
 *     for an empty buffer. `*error` is a NUL-terminated UTF-8 message, or NULL.
 *   - The table and the strings `name` and `version` are owned by the module and must stay valid
 *     and unchanged until the module is unloaded (static storage).
 *
 * Errors
 *   Functions return an arsenal_module_status. A module must never let a C++ exception, a
 *   longjmp or a signal escape a table function: the host is not prepared to unwind through it.
 *   A crash inside a module crashes the host process; untrusted modules belong in the sandboxed
 *   plugin host, not in-process.
 *
 * Security
 *   Loading a module runs its code with the full privileges of the host (static constructors run
 *   at dlopen time). Only load modules you would link into the host. The host keeps its copies in
 *   a directory only it may write to.
 *
 * Unloading
 *   dlclose() must really unmap a module, or repeated reloads leak address space. Build modules
 *   with -fno-gnu-unique (g++ otherwise marks some C++ template/inline statics STB_GNU_UNIQUE,
 *   which makes a library impossible to unload), do not link with -z nodelete, and do not use
 *   thread_local variables with non-trivial destructors.
 *
 * Example (C)
 *   static const arsenal_module_table_v1 kTable = {
 *       ARSENAL_MODULE_ABI_VERSION, sizeof(arsenal_module_table_v1), "echo", "1.0.0",
 *       1, 0, echo_create, echo_call, echo_snapshot, echo_health, echo_destroy, echo_free};
 *   ARSENAL_MODULE_EXPORT const arsenal_module_table_v1* arsenal_module_v1(void) {
 *     return &kTable;
 *   }
 */
#ifndef ARSENAL_MODULE_H_
#define ARSENAL_MODULE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. A host refuses a table whose abi_version differs. */
#define ARSENAL_MODULE_ABI_VERSION 1u

/* The symbol the host looks up with dlsym(). */
#define ARSENAL_MODULE_ENTRY_POINT "arsenal_module_v1"

/* Marks the entry point as exported even when the module is built with -fvisibility=hidden
 * (recommended, so that nothing else of the module is visible). */
#define ARSENAL_MODULE_EXPORT __attribute__((visibility("default")))

/* Return codes of the table functions. */
typedef enum arsenal_module_status {
  ARSENAL_MODULE_OK = 0,
  /* Any failure; *error says what. */
  ARSENAL_MODULE_ERROR = 1,
  /* create(): the state blob is corrupt, truncated or of a state_version this module cannot
   * read. The host reports module.bad_state and keeps the previous version serving. */
  ARSENAL_MODULE_BAD_STATE = 2,
  /* call(): the method is unknown to this module. */
  ARSENAL_MODULE_NO_SUCH_METHOD = 3
} arsenal_module_status;

/* flags: call() and health() may run concurrently on one instance (see "Threading"). */
#define ARSENAL_MODULE_FLAG_THREAD_SAFE 1u

/* An instance of a module: opaque to the host. */
typedef struct arsenal_module_instance arsenal_module_instance;

/* A byte buffer allocated by the module and released by the host with free_buffer(data). */
typedef struct arsenal_module_bytes {
  uint8_t* data;
  size_t size;
} arsenal_module_bytes;

typedef struct arsenal_module_table_v1 {
  /* Must be ARSENAL_MODULE_ABI_VERSION. */
  uint32_t abi_version;
  /* Must be sizeof(arsenal_module_table_v1); lets later ABI revisions append fields. */
  uint32_t table_size;
  /* Module name: 1-64 characters of [A-Za-z0-9_-]. A reload must keep the same name. */
  const char* name;
  /* Version string: 1-64 characters of [A-Za-z0-9._+-], e.g. "1.2.0". */
  const char* version;
  /* The state format this version writes in snapshot(); informational for the host and handed
   * to the next version's create() with the blob. 0 means "no state". */
  uint32_t state_version;
  /* ARSENAL_MODULE_FLAG_* bits; unknown bits must be 0. */
  uint32_t flags;

  /* Creates an instance. `state`/`state_size`/`state_version` are a blob written by snapshot()
   * of this or another version of the module (the module migrates it), or NULL/0/0 for a fresh
   * instance. On success stores the instance in *instance and returns ARSENAL_MODULE_OK. On
   * failure returns ARSENAL_MODULE_BAD_STATE (unreadable state) or ARSENAL_MODULE_ERROR, leaves
   * *instance NULL, may set *error, and must not leak. */
  int (*create)(const uint8_t* state, size_t state_size, uint32_t state_version,
                arsenal_module_instance** instance, char** error);

  /* Runs `method` on `input`. On ARSENAL_MODULE_OK, *output holds the answer (may be empty). On
   * failure returns ARSENAL_MODULE_ERROR or ARSENAL_MODULE_NO_SUCH_METHOD and may set *error;
   * *output is then ignored (and must be left empty). */
  int (*call)(arsenal_module_instance* instance, const char* method, const uint8_t* input,
              size_t input_size, arsenal_module_bytes* output, char** error);

  /* Serialises the instance's state into *state and its format into *state_version without
   * changing the instance. `wanted_state_version` is the state_version of the version that will
   * read it (0 if unknown): a module that can write that older format should, so that rolling
   * back to an older version keeps the state. */
  int (*snapshot)(arsenal_module_instance* instance, uint32_t wanted_state_version,
                  arsenal_module_bytes* state, uint32_t* state_version, char** error);

  /* Returns ARSENAL_MODULE_OK when the instance can serve calls, else ARSENAL_MODULE_ERROR with
   * a reason in *error. Called after create() and before the instance is switched in; must be
   * quick (it runs while calls are blocked). */
  int (*health)(arsenal_module_instance* instance, char** error);

  /* Destroys an instance created by create(). Never fails. */
  void (*destroy)(arsenal_module_instance* instance);

  /* Releases a buffer this module returned (output, state or error). NULL is a no-op. */
  void (*free_buffer)(void* buffer);
} arsenal_module_table_v1;

/* Signature of the entry point. The module defines:
 *   ARSENAL_MODULE_EXPORT const arsenal_module_table_v1* arsenal_module_v1(void);
 * It must return the same pointer every time, and may return NULL to refuse to load. */
typedef const arsenal_module_table_v1* (*arsenal_module_entry_v1)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ARSENAL_MODULE_H_ */
