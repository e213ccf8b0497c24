// Operation supervisor_stats: restart counts and the restart history (with reasons and
// timestamps) of a supervisor; the history follows the list convention.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

const ListSpec& Spec() {
  static const ListSpec spec{
      .id_field = "seq",
      .filterable = {"supervisor", "child", "event", "reason", "time_unix_ms", "restart_count"},
      .sortable = {"time_unix_ms", "child", "event"},
      .default_sort = "-seq",
      .default_page_size = 100,
      .max_page_size = 1000};
  return spec;
}

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, Spec()));
  const std::string sup = params["supervisor"].get<std::string>();
  auto& service = Service(ctx);
  ARSENAL_ASSIGN_OR_RETURN(Json summary, service.Summary(sup));
  ARSENAL_ASSIGN_OR_RETURN(auto history,
                           service.History(sup, params.value("include_nested", true)));
  // Totals over the retained history, per supervisor path and child.
  Json totals = Json::object();
  int64_t restarts = 0, escalations = 0;
  for (const auto& e : history) {
    const std::string event = e["event"].get<std::string>();
    if (event == "restart" && e["detail"] != "scheduled") {
      ++restarts;
      Json& t = totals[e["supervisor"].get<std::string>()][e["child"].get<std::string>()];
      t = t.is_number() ? t.get<int64_t>() + 1 : 1;
    }
    if (event == "escalate") ++escalations;
  }
  ARSENAL_ASSIGN_OR_RETURN(Json page, query.Apply(history));
  page["summary"] = std::move(summary);
  page["restarts_total"] = restarts;
  page["escalations_total"] = escalations;
  page["restarts_by_child"] = std::move(totals);
  return page;
}

Operation Make() {
  Operation op;
  op.name = "supervisor_stats";
  op.family = "supervisor";
  op.summary = "Restart counts and restart history (reasons, timestamps) of a supervisor";
  op.description =
      "History entries are persisted in the engine's store, so they survive a daemon restart; "
      "the events are exit (with the decision), restart, start_failed, escalate, manual_restart, "
      "add, delete, strategy_change, backoff_change, stop and orphan_killed. Newest first by "
      "default.";
  op.params_schema = {
      {"type", "object"},
      {"properties", WithList({{"supervisor", SupervisorProperty()},
                               {"include_nested",
                                {{"type", "boolean"},
                                 {"description", "include supervisors below it (default true)"}}}},
                              Spec())},
      {"required", {"supervisor"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       [] {
                         Json p =
                             ListResultSchemaProperties({{"type", "object"},
                                                         {"properties",
                                                          {{"seq", {{"type", "integer"}}},
                                                           {"time_unix_ms", {{"type", "integer"}}},
                                                           {"supervisor", {{"type", "string"}}},
                                                           {"child", {{"type", "string"}}},
                                                           {"event", {{"type", "string"}}},
                                                           {"reason", {{"type", "string"}}}}}});
                         p["summary"] = {{"type", "object"}};
                         p["restarts_total"] = {{"type", "integer"}};
                         p["restarts_by_child"] = {{"type", "object"}};
                         return p;
                       }()},
                      {"required", {"items", "summary"}}};
  op.permission = "supervisor.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/supervisors/{supervisor}/stats";
  op.idempotent = true;
  op.examples = {{{"summary", "the last 20 exits of child api"},
                  {"params",
                   {{"supervisor", "web"},
                    {"filter", {{"child", "api"}, {"event", "exit"}}},
                    {"page", {{"size", 20}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
