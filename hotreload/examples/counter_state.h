// State formats of the example counter module, shared by its versions.
//
// Format 1 (written by counter 1.x):
//   one "key=value\n" line per counter, then optionally "#pad <n>\n" followed by n opaque bytes.
// Format 2 (written by counter 2.x; adds a per-key update count):
//   "counter-state 2\n", one "key value updates\n" line per counter, then the same optional pad.
// The pad is an opaque payload a caller can store with the "pad" method; tests and benchmarks use
// it to make the state a given size.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace counter_state {

struct Entry {
  int64_t value = 0;
  int64_t updates = 0;
};

struct State {
  std::map<std::string, Entry, std::less<>> entries;
  std::string pad;
};

inline bool ParseInt(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

// Splits off the next line (without '\n'); false at the end or if the line is unterminated.
inline bool NextLine(std::string_view* rest, std::string_view* line) {
  size_t end = rest->find('\n');
  if (end == std::string_view::npos) return false;
  *line = rest->substr(0, end);
  rest->remove_prefix(end + 1);
  return true;
}

// Parses "#pad <n>" + n bytes, which must end the blob.
inline bool ParsePad(std::string_view header, std::string_view rest, State* state) {
  int64_t size = 0;
  if (!ParseInt(header.substr(5), &size) || static_cast<uint64_t>(size) != rest.size()) {
    return false;
  }
  state->pad = std::string(rest);
  return true;
}

inline void AppendPad(const State& state, std::string* out) {
  if (state.pad.empty()) return;
  *out += "#pad " + std::to_string(state.pad.size()) + "\n";
  *out += state.pad;
}

// Exact size of the encoding, so that a large state is built with one allocation.
inline size_t EncodedSize(const State& state, size_t per_entry_extra) {
  size_t size = 64 + state.pad.size();
  for (const auto& [key, entry] : state.entries) size += key.size() + per_entry_extra;
  return size;
}

inline std::string EncodeV1(const State& state) {
  std::string out;
  out.reserve(EncodedSize(state, 22));
  for (const auto& [key, entry] : state.entries) {
    out += key + "=" + std::to_string(entry.value) + "\n";
  }
  AppendPad(state, &out);
  return out;
}

inline std::optional<State> DecodeV1(std::string_view blob) {
  State state;
  std::string_view line;
  while (!blob.empty()) {
    if (!NextLine(&blob, &line)) return std::nullopt;
    if (line.starts_with("#pad ")) {
      if (!ParsePad(line, blob, &state)) return std::nullopt;
      return state;
    }
    size_t eq = line.find('=');
    Entry entry;
    if (eq == 0 || eq == std::string_view::npos || !ParseInt(line.substr(eq + 1), &entry.value)) {
      return std::nullopt;
    }
    state.entries[std::string(line.substr(0, eq))] = entry;
  }
  return state;
}

inline std::string EncodeV2(const State& state) {
  std::string out;
  out.reserve(EncodedSize(state, 44));
  out += "counter-state 2\n";
  for (const auto& [key, entry] : state.entries) {
    out += key + " " + std::to_string(entry.value) + " " + std::to_string(entry.updates) + "\n";
  }
  AppendPad(state, &out);
  return out;
}

inline std::optional<State> DecodeV2(std::string_view blob) {
  State state;
  std::string_view line;
  if (!NextLine(&blob, &line) || line != "counter-state 2") return std::nullopt;
  while (!blob.empty()) {
    if (!NextLine(&blob, &line)) return std::nullopt;
    if (line.starts_with("#pad ")) {
      if (!ParsePad(line, blob, &state)) return std::nullopt;
      return state;
    }
    size_t first = line.find(' ');
    size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    Entry entry;
    if (first == 0 || second == std::string_view::npos ||
        !ParseInt(line.substr(first + 1, second - first - 1), &entry.value) ||
        !ParseInt(line.substr(second + 1), &entry.updates)) {
      return std::nullopt;
    }
    state.entries[std::string(line.substr(0, first))] = entry;
  }
  return state;
}

// Keys end up in line-oriented state: no separators, no control characters.
inline bool IsValidKey(std::string_view key) {
  if (key.empty() || key.size() > 256 || key.front() == '#') return false;
  for (char c : key) {
    if (c == '=' || c == ' ' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

}  // namespace counter_state
