// Supervisor spec parsing: defaults, nesting, references and every class of bad input, each
// reported as a validation error naming the field.
#include "arsenal/engine/supervisor_spec.h"

#include <gtest/gtest.h>

namespace arsenal::supervisor {
namespace {

Json Worker(const std::string& id) {
  return {{"id", id}, {"process", {{"argv", {"/bin/sleep", "1000"}}}}};
}

void ExpectError(const Json& spec, const std::string& code, const std::string& field) {
  auto parsed = ParseSupervisorSpec(spec);
  ASSERT_FALSE(parsed) << spec.dump();
  EXPECT_EQ(parsed.error().code(), code) << parsed.error().ToString();
  EXPECT_EQ(parsed.error().category(), ErrorCategory::kValidation);
  EXPECT_EQ(parsed.error().details().value("field", ""), field) << parsed.error().ToString();
}

TEST(SupervisorSpecTest, DefaultsAreOtps) {
  auto spec = ParseSupervisorSpec({{"id", "web"}, {"children", {Worker("a")}}});
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(spec->strategy, Strategy::kOneForOne);
  EXPECT_EQ(spec->intensity.max_restarts, 1);
  EXPECT_EQ(spec->intensity.period_ms, 5000);
  ASSERT_EQ(spec->children.size(), 1u);
  const ChildPolicy& a = spec->children[0].policy;
  EXPECT_EQ(a.restart, RestartType::kPermanent);
  EXPECT_EQ(a.shutdown, ShutdownPolicy::Timeout(5000));
  EXPECT_FALSE(a.backoff.enabled());
  ASSERT_TRUE(spec->children[0].process);
  EXPECT_EQ(spec->children[0].process->argv[0], "/bin/sleep");
}

TEST(SupervisorSpecTest, NestedInlineAndReferencedSupervisors) {
  Json spec = {{"id", "root"},
               {"strategy", "rest_for_one"},
               {"max_restarts", 3},
               {"max_seconds", 0.5},
               {"backoff", {{"initial_ms", 10}, {"max_ms", 100}}},
               {"children",
                {Worker("a"),
                 {{"id", "mid"},
                  {"supervisor", {{"children", {{{"id", "leaf"}, {"supervisor", "leafdef"}}}}}}},
                 {{"id", "pool"},
                  {"restart", "transient"},
                  {"shutdown", "brutal_kill"},
                  {"supervisor", "pooldef"}}}},
               {"definitions",
                {{"leafdef", {{"strategy", "one_for_all"}, {"children", {Worker("w")}}}},
                 {"pooldef", {{"strategy", "simple_one_for_one"}, {"children", {Worker("t")}}}}}}};
  auto parsed = ParseSupervisorSpec(spec);
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_EQ(parsed->strategy, Strategy::kRestForOne);
  EXPECT_EQ(parsed->intensity.period_ms, 500);
  EXPECT_EQ(parsed->children[0].policy.backoff.initial_ms, 10);  // supervisor-level default
  const ChildSpec& mid = parsed->children[1];
  EXPECT_EQ(mid.policy.type, ChildType::kSupervisor);
  EXPECT_EQ(mid.policy.shutdown, ShutdownPolicy::Infinity());  // supervisors default to infinity
  ASSERT_TRUE(mid.supervisor);
  const ChildSpec& leaf = mid.supervisor->children[0];
  EXPECT_EQ(leaf.reference, "leafdef");
  EXPECT_EQ(leaf.supervisor->strategy, Strategy::kOneForAll);
  const ChildSpec& pool = parsed->children[2];
  EXPECT_EQ(pool.policy.shutdown, ShutdownPolicy::BrutalKill());
  EXPECT_EQ(pool.supervisor->strategy, Strategy::kSimpleOneForOne);
}

TEST(SupervisorSpecTest, DuplicateChildIds) {
  ExpectError({{"id", "s"}, {"children", {Worker("a"), Worker("b"), Worker("a")}}},
              "supervisor.duplicate_child_id", "children[2].id");
  // Also inside a nested definition.
  ExpectError({{"id", "s"},
               {"children", {{{"id", "n"}, {"supervisor", "d"}}}},
               {"definitions", {{"d", {{"children", {Worker("x"), Worker("x")}}}}}}},
              "supervisor.duplicate_child_id", "definitions.d.children[1].id");
}

TEST(SupervisorSpecTest, UnknownReference) {
  ExpectError({{"id", "s"}, {"children", {Worker("a"), {{"id", "n"}, {"supervisor", "nope"}}}}},
              "supervisor.unknown_reference", "children[1].supervisor");
}

TEST(SupervisorSpecTest, CyclicReferences) {
  Json spec = {{"id", "s"},
               {"children", {{{"id", "n"}, {"supervisor", "a"}}}},
               {"definitions",
                {{"a", {{"children", {{{"id", "x"}, {"supervisor", "b"}}}}}},
                 {"b", {{"children", {{{"id", "y"}, {"supervisor", "a"}}}}}}}}};
  auto parsed = ParseSupervisorSpec(spec);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), "supervisor.cyclic_reference");
  EXPECT_EQ(parsed.error().details()["field"], "definitions.b.children[0].supervisor");
  EXPECT_EQ(parsed.error().details()["cycle"], "a -> b -> a");
  // A definition that contains itself, even if nothing references it.
  ExpectError(
      {{"id", "s"},
       {"children", {Worker("w")}},
       {"definitions", {{"self", {{"children", {{{"id", "x"}, {"supervisor", "self"}}}}}}}}},
      "supervisor.cyclic_reference", "definitions.self.children[0].supervisor");
}

TEST(SupervisorSpecTest, NegativeIntensity) {
  ExpectError({{"id", "s"}, {"max_restarts", -1}, {"children", {Worker("a")}}},
              "supervisor.invalid_intensity", "max_restarts");
  ExpectError({{"id", "s"}, {"max_seconds", -5}, {"children", {Worker("a")}}},
              "supervisor.invalid_intensity", "max_seconds");
  ExpectError({{"id", "s"}, {"max_seconds", 0}, {"children", {Worker("a")}}},
              "supervisor.invalid_intensity", "max_seconds");
  ExpectError(
      {{"id", "s"},
       {"children",
        {{{"id", "n"}, {"supervisor", {{"max_restarts", -3}, {"children", Json::array()}}}}}}},
      "supervisor.invalid_intensity", "children[0].supervisor.max_restarts");
}

TEST(SupervisorSpecTest, UnknownStrategy) {
  ExpectError({{"id", "s"}, {"strategy", "one_for_some"}, {"children", {Worker("a")}}},
              "supervisor.unknown_strategy", "strategy");
  ExpectError({{"id", "s"}, {"strategy", 3}, {"children", {Worker("a")}}},
              "supervisor.unknown_strategy", "strategy");
}

TEST(SupervisorSpecTest, OtherMistakesNameTheirField) {
  ExpectError({{"children", {Worker("a")}}}, "supervisor.invalid_spec", "id");
  ExpectError({{"id", "a/b"}, {"children", {Worker("a")}}}, "supervisor.invalid_spec", "id");
  ExpectError({{"id", "s"}}, "supervisor.invalid_spec", "children");
  ExpectError({{"id", "s"}, {"children", {Worker("a")}}, {"colour", "red"}},
              "supervisor.invalid_spec", "colour");
  ExpectError({{"id", "s"}, {"children", {{{"id", "a"}}}}}, "supervisor.invalid_spec",
              "children[0].process");
  ExpectError({{"id", "s"},
               {"children",
                {{{"id", "a"}, {"restart", "sometimes"}, {"process", {{"argv", {"/bin/true"}}}}}}}},
              "supervisor.invalid_spec", "children[0].restart");
  ExpectError(
      {{"id", "s"},
       {"children", {{{"id", "a"}, {"shutdown", -1}, {"process", {{"argv", {"/bin/true"}}}}}}}},
      "supervisor.invalid_spec", "children[0].shutdown");
  ExpectError(
      {{"id", "s"},
       {"children",
        {{{"id", "a"}, {"backoff", {{"jitter", 2}}}, {"process", {{"argv", {"/bin/true"}}}}}}}},
      "supervisor.invalid_spec", "children[0].backoff.jitter");
  ExpectError(
      {{"id", "s"}, {"strategy", "simple_one_for_one"}, {"children", {Worker("a"), Worker("b")}}},
      "supervisor.invalid_spec", "children");
  // Process spec errors keep their own code, with the path prefixed.
  auto parsed = ParseSupervisorSpec(
      {{"id", "s"}, {"children", {{{"id", "a"}, {"process", {{"argv", Json::array()}}}}}}});
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().category(), ErrorCategory::kValidation);
  EXPECT_EQ(parsed.error().details()["field"].get<std::string>().rfind("children[0].process", 0),
            0u)
      << parsed.error().ToString();
}

TEST(SupervisorSpecTest, ChildSpecForAddChildSeesDefinitions) {
  Json owner = {{"id", "s"},
                {"children", Json::array()},
                {"definitions", {{"d", {{"children", {Worker("x")}}}}}}};
  auto child = ParseChildSpec({{"id", "n"}, {"supervisor", "d"}}, owner, "child");
  ASSERT_TRUE(child) << child.error().ToString();
  EXPECT_EQ(child->supervisor->children[0].policy.id, "x");
  auto bad = ParseChildSpec({{"id", "n"}, {"supervisor", "zz"}}, owner, "child");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().details()["field"], "child.supervisor");
}

}  // namespace
}  // namespace arsenal::supervisor
