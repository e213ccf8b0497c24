// Operation supervision_tree: the supervision tree as hierarchical JSON, Graphviz DOT and SVG.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string sup = params.value("supervisor", "");
  const std::string format = params.value("format", "json");
  auto& service = Service(ctx);
  ARSENAL_ASSIGN_OR_RETURN(Json tree, service.Tree(sup));
  Json out = {{"tree", tree}};
  if (format == "dot" || format == "svg" || format == "all") {
    out["dot"] = arsenal::supervisor::TreeToDot(tree);
  }
  if (format == "svg" || format == "all") {
    ARSENAL_ASSIGN_OR_RETURN(std::string svg, service.TreeSvg(sup));
    out["svg"] = std::move(svg);
  }
  return out;
}

Operation Make() {
  Operation op;
  op.name = "supervision_tree";
  op.family = "supervisor";
  op.summary = "Show the supervision tree as JSON, Graphviz DOT or an SVG picture";
  op.description =
      "format json (default) returns the hierarchy; dot adds the Graphviz source; svg and all add "
      "the picture rendered by Graphviz's dot (supervisor.graphviz_unavailable when it is not "
      "installed). Without `supervisor`, every top-level supervisor is included.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"supervisor", SupervisorProperty()},
        {"format", {{"type", "string"}, {"enum", {"json", "dot", "svg", "all"}}}}}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"tree", {{"type", "object"}}},
                        {"dot", {{"type", "string"}}},
                        {"svg", {{"type", "string"}}}}},
                      {"required", {"tree"}}};
  op.permission = "supervisor.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/supervision-tree";
  op.idempotent = true;
  op.examples = {{{"params", {{"supervisor", "web"}, {"format", "svg"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
