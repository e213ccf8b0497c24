// URL pieces shared by the server's router and the client.
#pragma once

#include <string>
#include <string_view>

namespace arsenal::api {

// Percent-encodes every byte outside RFC 3986's unreserved set (A-Z a-z 0-9 - _ . ~), so the
// result is safe as one path segment or one query key or value. Total: any bytes are accepted.
std::string PercentEncode(std::string_view in);

}  // namespace arsenal::api
