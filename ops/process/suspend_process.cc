// Operation suspend_process. Idempotent: the result says whether the state changed.
#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Operation Make() { return process::MakePauseOperation(process::PauseDirection::kSuspend); }

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
