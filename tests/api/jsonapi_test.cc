#include "arsenal/api/jsonapi.h"

#include <gtest/gtest.h>

namespace arsenal::api::jsonapi {
namespace {

DocumentContext Ctx() { return {.type = "things", .operation = "op", .request_id = "req-1"}; }

TEST(JsonApiTest, ObjectResultRoundTrips) {
  for (const Json& result :
       {Json{{"id", "a1"}, {"size", 3}}, Json{{"id", 42}, {"type", "weird"}, {"x", nullptr}},
        Json{{"name", "n"}, {"v", Json::array({1, 2})}}, Json{{"value", 1}}, Json::object()}) {
    Json doc = ResultDocument(result, Ctx());
    ASSERT_TRUE(doc["data"].is_object()) << doc;
    EXPECT_EQ(doc["data"]["type"], "things");
    EXPECT_TRUE(doc["data"]["id"].is_string());
    EXPECT_FALSE(doc["data"]["attributes"].contains("id"));
    EXPECT_FALSE(doc["data"]["attributes"].contains("type"));
    auto back = DecodeResult(doc);
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(*back, result);
  }
}

TEST(JsonApiTest, CollectionsRoundTrip) {
  Json list = {{"items", {{{"id", "a"}, {"n", 1}}, {{"id", "b"}, {"n", 2}}}},
               {"next_cursor", "c"},
               {"prev_cursor", nullptr}};
  DocumentContext ctx = Ctx();
  ctx.next = "/next";
  ctx.item_self_prefix = "/api/v1/things/";
  Json doc = ResultDocument(list, ctx);
  ASSERT_TRUE(doc["data"].is_array());
  EXPECT_EQ(doc["data"][1]["links"]["self"], "/api/v1/things/b");
  EXPECT_EQ(doc["links"]["next"], "/next");
  EXPECT_EQ(doc["meta"]["result"]["next_cursor"], "c");
  EXPECT_EQ(*DecodeResult(doc), list);
  Json ops = {{"operations", {{{"name", "x"}}, {{"name", "y"}}}}};
  EXPECT_EQ(*DecodeResult(ResultDocument(ops, Ctx())), ops);
}

TEST(JsonApiTest, NonObjectResultsRoundTrip) {
  for (const Json& result : {Json(5), Json("s"), Json::array({1, "x"}), Json(nullptr)}) {
    EXPECT_EQ(*DecodeResult(ResultDocument(result, Ctx())), result);
  }
}

TEST(JsonApiTest, ErrorObjectCarriesTheEngineError) {
  Error e = ValidationError("sandbox.bad_limit", "memory limit too small", "limits.memory");
  e.WithHint("use at least 1 MiB");
  Json doc = ErrorDocument(e, "req-9");
  const Json& obj = doc["errors"][0];
  EXPECT_EQ(obj["status"], "400");
  EXPECT_EQ(obj["code"], "sandbox.bad_limit");
  EXPECT_EQ(obj["title"], "Invalid request");
  EXPECT_EQ(obj["detail"], "memory limit too small");
  EXPECT_EQ(obj["source"]["parameter"], "limits.memory");
  EXPECT_EQ(obj["meta"]["hint"], "use at least 1 MiB");
  EXPECT_EQ(obj["meta"]["request_id"], "req-9");
  Error back = DecodeError(doc, 400);
  EXPECT_EQ(back.code(), e.code());
  EXPECT_EQ(back.category(), e.category());
  EXPECT_EQ(back.message(), e.message());
  EXPECT_EQ(back.hint(), e.hint());
  EXPECT_EQ(back.details(), e.details());
}

TEST(JsonApiTest, DecodeErrorOfForeignBodyUsesStatus) {
  Error e = DecodeError(Json::parse("<html>", nullptr, false), 503);
  EXPECT_EQ(e.category(), ErrorCategory::kUnavailable);
  EXPECT_EQ(e.code(), "api.http_error");
}

TEST(JsonApiTest, SparseFieldsets) {
  Json doc = ResultDocument({{"items", {{{"id", "a"}, {"x", 1}, {"y", 2}}}}}, Ctx());
  ApplySparseFieldsets(doc, {{"things", {"y"}}});
  EXPECT_EQ(doc["data"][0]["attributes"], Json({{"y", 2}}));
}

}  // namespace
}  // namespace arsenal::api::jsonapi
