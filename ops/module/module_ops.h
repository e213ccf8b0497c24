// Shared pieces of the module operations: parameter fragments, bytes <-> JSON. Handlers stay
// thin: params -> ModuleService (arsenal/engine/module_service.h) -> JSON.
#pragma once

#include <openssl/evp.h>

#include <string>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/module_service.h"

namespace arsenal::ops::module {

inline ModuleService& Modules(OperationContext& ctx) { return ctx.engine.Service<ModuleService>(); }

inline constexpr const char* kNamePattern = "^[A-Za-z0-9_-]{1,64}$";

inline Json NameProperty(const std::string& what = "module name, as given to load_module") {
  return {{"type", "string"}, {"pattern", kNamePattern}, {"description", what}};
}

inline Json PathProperty(const std::string& what) {
  return {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 4096},
          {"description", what + " (absolute path of a module .so on the engine's host)"}};
}

inline Json VersionProperty(const std::string& what) {
  return {{"type", "string"}, {"pattern", "^[A-Za-z0-9._+-]{1,64}$"}, {"description", what}};
}

// The JSON shape of one module (ModuleService::ToJson).
inline Json ModuleSchema() {
  return {{"type", "object"},
          {"properties",
           {{"name", {{"type", "string"}}},
            {"module_name", {{"type", "string"}}},
            {"mode", {{"type", "string"}, {"enum", {"in_process", "sandboxed"}}}},
            {"host", {{"type", "string"}}},
            {"version", {{"type", "string"}}},
            {"sha256", {{"type", "string"}}},
            {"state_version", {{"type", "integer"}}},
            {"calls", {{"type", "integer"}}},
            {"reloads", {{"type", "integer"}}},
            {"last_swap_ns", {{"type", "integer"}}},
            {"loaded_unix_ms", {{"type", "integer"}}},
            {"previous_version", {{"type", "string"}}}}},
          {"required", {"name", "module_name", "mode", "version", "sha256"}}};
}

// Runs `change` (a reload or rollback of module `name`, returning its new ModuleInfo) and answers
// with the module's JSON plus `previous_version`, which the compensation rolls back to.
template <typename Change>
Result<Json> ChangeVersion(OperationContext& ctx, const std::string& name, Change&& change) {
  ARSENAL_ASSIGN_OR_RETURN(auto before, Modules(ctx).Info(name));
  ARSENAL_ASSIGN_OR_RETURN(auto info, change(Modules(ctx)));
  Json out = ModuleService::ToJson(info);
  out["previous_version"] = before.current.version;
  return out;
}

// Undoes a version change by rolling back to the version it replaced.
inline Compensation RollbackToPrevious() {
  return Compensation{
      "rollback_module", [](const Json& params, const Json& result) {
        return Json{{"name", params["name"]}, {"version", result.value("previous_version", "")}};
      }};
}

inline std::string EncodeBase64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

inline Result<std::string> DecodeBase64(const std::string& text, const std::string& field) {
  auto invalid = [&] {
    return Fail(ValidationError("module.invalid_base64", field + " is not valid base64", field)
                    .WithHint("encode the bytes with standard base64 (RFC 4648, with padding)"));
  };
  if (text.size() % 4 != 0) return invalid();
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return invalid();
  // EVP_DecodeBlock counts padding as zero bytes.
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

// Well-formed UTF-8 (no overlong forms, no surrogates): what a JSON string can carry.
inline bool IsUtf8(std::string_view s) {
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the first continuation byte
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (n - i <= extra) return false;
    const auto first = static_cast<unsigned char>(s[i + 1]);
    if (first < lo || first > hi) return false;
    for (size_t k = 2; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

// Bytes given either as text (`text_field`) or base64 (`base64_field`), not both.
inline Result<std::string> BytesParam(const Json& params, const std::string& text_field,
                                      const std::string& base64_field) {
  const bool text = params.contains(text_field);
  const bool encoded = params.contains(base64_field);
  if (text && encoded) {
    return Fail(ValidationError("module.invalid_params",
                                "give " + text_field + " or " + base64_field + ", not both",
                                base64_field));
  }
  if (encoded) return DecodeBase64(params[base64_field].get<std::string>(), base64_field);
  return text ? params[text_field].get<std::string>() : std::string();
}

// {"<field>": text} when the bytes are UTF-8, else {"<field>_base64": base64}.
inline void PutBytes(Json& out, const std::string& field, const std::string& bytes) {
  if (IsUtf8(bytes)) {
    out[field] = bytes;
  } else {
    out[field + "_base64"] = EncodeBase64(bytes);
  }
}

}  // namespace arsenal::ops::module
