#include "tests/testing/runtime/runtime_dir.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "core/digest/digest.h"

namespace starlight::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kBase[] = "/tmp";
constexpr char kPrefix[] = "slrt-";
constexpr char kOwnerFile[] = ".owner";  // "<pid> <starttime>" of the test process
// containerd (1.6) puts every shim's socket here, whatever its own root and state are.
constexpr char kShimSocketDir[] = "/run/containerd/s";

bool ReadWhole(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

struct ProcEntry {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
  unsigned long long start_time = 0;  // clock ticks after boot
  std::vector<std::string> argv;
  std::string cwd;
};

// Parses /proc/PID/stat (the command name may hold spaces and parentheses: fields start after
// the last ')').
std::optional<ProcEntry> ReadStat(pid_t pid) {
  std::string stat;
  if (!ReadWhole("/proc/" + std::to_string(pid) + "/stat", &stat)) return std::nullopt;
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  ProcEntry e;
  e.pid = pid;
  std::string skip;
  fields >> e.state >> e.ppid;
  // Fields 5..21 (pgrp .. itrealvalue), then 22: starttime.
  for (int i = 5; i <= 21; ++i) fields >> skip;
  fields >> e.start_time;
  if (!fields) return std::nullopt;
  return e;
}

std::vector<ProcEntry> ListProcesses() {
  std::vector<ProcEntry> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    std::optional<ProcEntry> e = ReadStat(pid);
    if (!e) continue;  // gone meanwhile
    std::string cmdline;
    if (ReadWhole("/proc/" + name + "/cmdline", &cmdline)) {
      size_t start = 0;
      while (start < cmdline.size()) {
        size_t end = cmdline.find('\0', start);
        if (end == std::string::npos) end = cmdline.size();
        e->argv.push_back(cmdline.substr(start, end - start));
        start = end + 1;
      }
    }
    std::error_code link_ec;
    e->cwd = fs::read_symlink("/proc/" + name + "/cwd", link_ec).string();
    out.push_back(std::move(*e));
  }
  return out;
}

// True when `text` names `dir` or something below it (not merely a path with the same prefix).
bool RefersTo(const std::string& text, const std::string& dir) {
  for (size_t at = text.find(dir); at != std::string::npos; at = text.find(dir, at + 1)) {
    size_t next = at + dir.size();
    if (next == text.size()) return true;
    unsigned char c = static_cast<unsigned char>(text[next]);
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return true;
  }
  return false;
}

// The socket a containerd-shim (v2) listens on: /run/containerd/s/hex(sha256(address/ns/id)).
std::optional<std::string> ShimSocket(const std::vector<std::string>& argv) {
  if (argv.empty() || fs::path(argv[0]).filename().string().rfind("containerd-shim", 0) != 0) {
    return std::nullopt;
  }
  std::map<std::string, std::string> flags;
  for (size_t i = 1; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-address" || argv[i] == "-namespace" || argv[i] == "-id") {
      flags[argv[i]] = argv[i + 1];
    }
  }
  if (flags.size() != 3) return std::nullopt;
  std::string key = flags["-address"] + "/" + flags["-namespace"] + "/" + flags["-id"];
  return std::string(kShimSocketDir) + "/" + digest::Sha256Of(key).Hex();
}

std::set<pid_t> SelfAndAncestors(const std::map<pid_t, const ProcEntry*>& by_pid) {
  std::set<pid_t> out;
  for (pid_t p = ::getpid(); p > 0 && out.insert(p).second;) {
    auto it = by_pid.find(p);
    if (it == by_pid.end()) break;
    p = it->second->ppid;
  }
  return out;
}

// Live processes that belong to `dir`; shim sockets they imply are added to `sockets`.
std::vector<pid_t> Scan(const std::string& dir, std::set<std::string>* sockets) {
  std::vector<ProcEntry> procs = ListProcesses();
  std::map<pid_t, const ProcEntry*> by_pid;
  std::multimap<pid_t, pid_t> children;
  for (const auto& e : procs) {
    by_pid[e.pid] = &e;
    children.emplace(e.ppid, e.pid);
  }
  std::set<pid_t> spared = SelfAndAncestors(by_pid);
  spared.insert(1);
  std::vector<pid_t> queue;
  for (const auto& e : procs) {
    bool mine = RefersTo(e.cwd, dir);
    for (const auto& arg : e.argv) mine = mine || RefersTo(arg, dir);
    if (mine) queue.push_back(e.pid);
  }
  std::set<pid_t> found;
  while (!queue.empty()) {
    pid_t p = queue.back();
    queue.pop_back();
    if (spared.count(p) != 0 || !found.insert(p).second) continue;
    auto range = children.equal_range(p);
    for (auto it = range.first; it != range.second; ++it) queue.push_back(it->second);
  }
  std::vector<pid_t> live;
  for (pid_t p : found) {
    const ProcEntry& e = *by_pid[p];
    if (e.state == 'Z' || e.state == 'X') continue;  // dead; its parent (or init) reaps it
    if (sockets != nullptr) {
      if (auto socket = ShimSocket(e.argv)) sockets->insert(*socket);
    }
    live.push_back(p);
  }
  return live;
}

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

std::string UnescapeMountPath(const std::string& field) {
  // /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                               (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

struct MountEntry {
  std::string point, fstype;
};

std::vector<MountEntry> ListMounts() {
  std::vector<MountEntry> out;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    std::istringstream in(line);
    std::string id, parent, dev, root, point;
    in >> id >> parent >> dev >> root >> point;
    std::string word, fstype;
    while (in >> word && word != "-") {
    }
    in >> fstype;
    out.push_back({UnescapeMountPath(point), fstype});
  }
  return out;
}

bool Under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

std::string Join(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t p : pids) out += (out.empty() ? "" : " ") + std::to_string(p);
  return out;
}

// "<pid> <starttime>" of the calling process.
std::string OwnerStamp() {
  std::optional<ProcEntry> self = ReadStat(::getpid());
  return std::to_string(::getpid()) + " " + std::to_string(self ? self->start_time : 0) + "\n";
}

bool OwnerAlive(const std::string& dir) {
  std::string stamp;
  if (!ReadWhole(dir + "/" + kOwnerFile, &stamp)) return true;  // being created: leave it
  std::istringstream in(stamp);
  long pid = 0;
  unsigned long long start = 0;
  if (!(in >> pid >> start) || pid <= 0) return false;
  std::optional<ProcEntry> e = ReadStat(static_cast<pid_t>(pid));
  return e && e->start_time == start && e->state != 'Z' && e->state != 'X';
}

// The teardown shared by RuntimeDir::CleanUp and the stale-directory reaper.
Status CleanUpDir(const std::string& dir, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<std::string> problems;
  const std::string name = fs::path(dir).filename().string();

  // 1. Processes: the daemon's leftovers (shims, runc, containers). SIGKILL, then look again:
  // a process may have forked meanwhile.
  std::set<std::string> sockets;
  for (;;) {
    std::vector<pid_t> live = Scan(dir, &sockets);
    if (live.empty()) break;
    if (Clock::now() >= deadline) {
      problems.push_back("processes still alive: " + Join(live));
      break;
    }
    for (pid_t p : live) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& socket : sockets) {
    struct stat st {};
    if (::lstat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(socket.c_str());
  }

  // 2. Cgroups named after the directory (container cgroups below them): kill what is still in
  // them, then remove them bottom-up (a cgroup is busy until its last task is gone).
  for (const auto& top : CgroupsNamed(name)) {
    for (;;) {
      std::vector<std::string> dirs;
      std::error_code ec;
      dirs.push_back(top);
      for (auto it = fs::recursive_directory_iterator(top, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code type_ec;
        if (it->is_directory(type_ec) && !it->is_symlink(type_ec)) {
          dirs.push_back(it->path().string());
        }
      }
      for (const auto& d : dirs) {
        std::ifstream procs(d + "/cgroup.procs");
        long pid = 0;
        while (procs >> pid) {
          if (pid > 1 && pid != ::getpid()) ::kill(static_cast<pid_t>(pid), SIGKILL);
        }
      }
      std::sort(dirs.begin(), dirs.end(),
                [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
      for (const auto& d : dirs) ::rmdir(d.c_str());
      if (!fs::exists(top, ec)) break;
      if (Clock::now() >= deadline) {
        problems.push_back("cgroup not removable: " + top);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // 3. Mounts below the directory (overlay rootfs, the data-root bind mount, netns files),
  // deepest first; lazily, so that a busy one cannot block the teardown.
  for (int round = 0; round < 10; ++round) {
    std::vector<std::string> mounts = MountsUnder(dir);
    if (mounts.empty()) break;
    std::sort(mounts.begin(), mounts.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const auto& m : mounts) ::umount2(m.c_str(), MNT_DETACH);
    if (round == 9 && !MountsUnder(dir).empty()) {
      problems.push_back("still mounted below " + dir);
    }
  }

  // 4. The directory itself.
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) problems.push_back("removing " + dir + ": " + ec.message());

  if (problems.empty()) return Status::Ok();
  std::string message = "cleaning up " + dir + ":";
  for (const auto& p : problems) message += " " + p + ";";
  return Status::Internal(message);
}

// Cleans up directories of test processes that died without doing so themselves.
void ReapStaleDirs() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kBase, ec)) {
    const std::string name = entry.path().filename().string();
    std::error_code type_ec;
    if (name.rfind(kPrefix, 0) != 0 || name.size() != std::string(kPrefix).size() + 6 ||
        !entry.is_directory(type_ec) || entry.is_symlink(type_ec)) {
      continue;
    }
    if (OwnerAlive(entry.path().string())) continue;
    std::fprintf(stderr, "runtime dir: cleaning up %s (its test process is gone)\n",
                 entry.path().c_str());
    Status s = CleanUpDir(entry.path().string(), std::chrono::seconds(15));
    if (!s.ok()) std::fprintf(stderr, "runtime dir: %s\n", s.ToString().c_str());
  }
}

}  // namespace

Result<std::unique_ptr<RuntimeDir>> RuntimeDir::Create() {
  ReapStaleDirs();
  std::string tmpl = std::string(kBase) + "/" + kPrefix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno("mkdtemp " + tmpl, errno);
  std::unique_ptr<RuntimeDir> dir(new RuntimeDir(tmpl));
  if (::chmod(tmpl.c_str(), 0711) != 0) return Status::FromErrno("chmod " + tmpl, errno);
  std::string owner = dir->Join(kOwnerFile);
  {
    std::ofstream f(owner + ".tmp", std::ios::binary | std::ios::trunc);
    f << OwnerStamp();
    f.close();
    if (!f) return Status::IoError("writing " + owner);
  }
  if (::rename((owner + ".tmp").c_str(), owner.c_str()) != 0) {
    return Status::FromErrno("renaming " + owner, errno);
  }
  return dir;
}

RuntimeDir::~RuntimeDir() {
  if (cleaned_) return;
  Status s = CleanUp();
  if (!s.ok()) std::fprintf(stderr, "RuntimeDir: %s\n", s.ToString().c_str());
}

std::string RuntimeDir::name() const { return fs::path(path_).filename().string(); }

std::string RuntimeDir::Join(std::string_view relative) const {
  return path_ + "/" + std::string(relative);
}

Status RuntimeDir::CleanUp(std::chrono::milliseconds timeout) {
  if (cleaned_) return Status::Ok();
  cleaned_ = true;
  return CleanUpDir(path_, timeout);
}

std::vector<pid_t> ProcessesUsing(const std::string& dir) { return Scan(dir, nullptr); }

std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& m : ListMounts()) {
    if (Under(m.point, dir)) out.push_back(m.point);
  }
  return out;
}

std::vector<std::string> CgroupsNamed(const std::string& name) {
  std::set<std::string> out;
  for (const auto& m : ListMounts()) {
    if (m.fstype != "cgroup" && m.fstype != "cgroup2") continue;
    std::string candidate = m.point + "/" + name;
    std::error_code ec;
    if (fs::is_directory(candidate, ec)) out.insert(candidate);
  }
  return {out.begin(), out.end()};
}

}  // namespace starlight::testing
