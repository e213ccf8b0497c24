// Operation stop_supervisor: terminate a supervisor's children in reverse order and stop it.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string id = params["id"].get<std::string>();
  ARSENAL_TRY(Service(ctx).StopSupervisor(id, params.value("forget", false)));
  return Json{{"id", id}, {"state", params.value("forget", false) ? "forgotten" : "stopped"}};
}

Operation Make() {
  Operation op;
  op.name = "stop_supervisor";
  op.family = "supervisor";
  op.summary = "Stop a top-level supervisor, terminating its children in reverse start order";
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"id", SupervisorProperty()},
                        {"forget",
                         {{"type", "boolean"},
                          {"description", "also delete its definition and restart history"}}}}},
                      {"required", {"id"}}};
  op.result_schema = {
      {"type", "object"},
      {"properties", {{"id", {{"type", "string"}}}, {"state", {{"type", "string"}}}}}};
  op.permission = "supervisor.write";
  op.http_method = "DELETE";
  op.http_path = "/api/v1/supervisors/{id}";
  op.idempotent = true;
  op.examples = {{{"params", {{"id", "web"}}}, {"result", {{"id", "web"}, {"state", "stopped"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
