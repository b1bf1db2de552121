// starlight-convert: flags -> Options, call the converter library, map the result to an exit
// code and a one-line message. Exit codes: 0 ok, 1 error, 2 not a seekable layer (inspect),
// 3 usage error.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "converter/layer.h"
#include "core/concurrency/ordered_pool.h"
#include "core/gzip/gzip.h"

namespace {

int Fail(const starlight::Status& s) {
  std::fprintf(stderr, "starlight-convert: %s\n", s.ToString().c_str());
  bool not_seekable = (s.code() == starlight::Code::kNotFound ||
                       s.code() == starlight::Code::kFailedPrecondition) &&
                      s.message().find("not a seekable layer") != std::string::npos;
  return not_seekable ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "starlight-convert: rewrites container image layers into Starlight's seekable tar.gz\n"
      "(still a valid tar.gz with the same decompressed bytes) and reads their tables of contents."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "starlight-convert 0.1");

  starlight::converter::LayerOptions layer;
  bool quiet = false;
  auto* cmd_layer = app.add_subcommand(
      "layer", "Convert one layer (tar or tar.gz) into a seekable tar.gz with an embedded ToC");
  cmd_layer->add_option("IN", layer.input, "input layer: tar or tar.gz, '-' for stdin")->required();
  cmd_layer->add_option("OUT", layer.output, "output blob, '-' for stdout")->required();
  cmd_layer->add_option("--toc", layer.toc_path, "also write the encoded ToC to this file");
  std::string level = "auto";
  cmd_layer->add_option("--level", level,
                        "compression: 'auto' (level 10 for members under 256 KiB, 7 above) or a "
                        "uniform libdeflate level 0-12")
      ->check(CLI::IsMember({"auto"}) | CLI::Range(0, starlight::gzip::kMaxLevel))
      ->capture_default_str();
  cmd_layer->add_option("-j,--jobs", layer.threads, "compression threads (0: all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd_layer->add_option("--max-tar-size", layer.max_tar_size,
                        "fail when the layer decompresses to more bytes (0: no limit)")
      ->capture_default_str();
  cmd_layer->add_flag("-q,--quiet", quiet, "print nothing on success");

  starlight::converter::InspectOptions inspect;
  auto* cmd_inspect = app.add_subcommand(
      "inspect", "Print the ToC embedded in a seekable blob (exit 2 if it is not seekable)");
  cmd_inspect->add_option("BLOB", inspect.blob, "seekable layer blob")->required();
  cmd_inspect->add_flag("--json", inspect.json, "print the ToC as JSON");
  cmd_inspect->add_flag("--verify", inspect.verify,
                        "scan the whole blob and check the embedded ToC against it");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "starlight-convert: %s (see --help)\n", e.what());
    return 3;
  }

  if (cmd_layer->parsed()) {
    layer.level = level == "auto" ? starlight::seekable::kAutoLevel : std::stoi(level);
    layer.show_progress = !quiet && layer.output != "-" && isatty(STDERR_FILENO);
    auto report = starlight::converter::ConvertLayerFile(layer);
    if (!report.ok()) return Fail(report.status());
    if (!quiet) {
      std::fprintf(stderr, "starlight-convert: %s\n",
                   starlight::converter::DescribeReport(layer, *report).c_str());
    }
    return 0;
  }
  if (cmd_inspect->parsed()) {
    starlight::Status s = starlight::converter::Inspect(inspect, std::cout);
    std::cout.flush();
    if (!s.ok()) return Fail(s.WithContext(inspect.blob));
    return 0;
  }
  return 3;
}
