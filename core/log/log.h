// Process-wide logging for services and tools: one line per message on stderr,
// "2026-12-04T19:30:00.123Z INFO  ingest: ...". Thread-safe; lines are never interleaved.
// Log where an error is handled (a handler, a worker loop, main), not where it is returned.
#pragma once

#include <string_view>

namespace starlight::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
// "debug", "info", "warn", "error"; false if unknown.
bool ParseLevel(std::string_view name, Level* level);

void Write(Level level, std::string_view message);
inline void Debug(std::string_view m) { Write(Level::kDebug, m); }
inline void Info(std::string_view m) { Write(Level::kInfo, m); }
inline void Warn(std::string_view m) { Write(Level::kWarn, m); }
inline void Error(std::string_view m) { Write(Level::kError, m); }

}  // namespace starlight::log
