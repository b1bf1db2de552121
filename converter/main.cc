// starlight-convert: flags -> Options, call the converter library, map the result to an exit
// code and a one-line message. Exit codes: 0 ok, 1 error, 2 not a seekable layer (inspect),
// 3 usage error.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "converter/image.h"
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

  starlight::converter::ImageOptions image;
  std::string image_level = "auto", src_creds, dest_creds, authfile, ca_cert;
  bool plain_http = false, src_plain_http = false, dest_plain_http = false, insecure = false;
  bool all_platforms = false, image_quiet = false;
  auto* cmd_image = app.add_subcommand(
      "image", "Convert an image (all platforms of an index, or --platform) and write it to DST");
  cmd_image->add_option("SRC", image.source, "docker://host[:port]/repo[:tag|@digest] or oci:DIR[:tag]")
      ->required();
  cmd_image->add_option("DST", image.destination, "docker://host[:port]/repo[:tag] or oci:DIR[:tag]")
      ->required();
  cmd_image->add_option("--platform", image.platforms, "os/arch[/variant] to convert (repeatable)");
  cmd_image->add_flag("--all-platforms", all_platforms, "convert every platform (the default)");
  cmd_image->add_option("--src-creds", src_creds, "USER:PASSWORD for the source registry");
  cmd_image->add_option("--dest-creds", dest_creds, "USER:PASSWORD for the destination registry");
  cmd_image->add_option("--authfile", authfile, "Docker config.json with credentials (default ~/.docker/config.json)");
  cmd_image->add_flag("--plain-http", plain_http, "talk HTTP, not HTTPS, to both registries");
  cmd_image->add_flag("--src-plain-http", src_plain_http, "talk HTTP to the source registry");
  cmd_image->add_flag("--dest-plain-http", dest_plain_http, "talk HTTP to the destination registry");
  cmd_image->add_option("--ca-cert", ca_cert, "extra CA certificate (PEM) to trust");
  cmd_image->add_flag("--insecure-skip-tls-verify", insecure, "do not verify registry certificates");
  cmd_image->add_option("--level", image_level, "compression: 'auto' or a uniform level 0-12")
      ->check(CLI::IsMember({"auto"}) | CLI::Range(0, starlight::gzip::kMaxLevel))
      ->capture_default_str();
  cmd_image->add_option("-j,--jobs", image.threads, "compression threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd_image->add_option("--tmpdir", image.tmpdir, "directory for layer downloads (default $TMPDIR or /tmp)");
  cmd_image->add_flag("-q,--quiet", image_quiet, "print nothing on success");

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
  if (cmd_image->parsed()) {
    if (all_platforms && !image.platforms.empty()) {
      std::fprintf(stderr, "starlight-convert: --all-platforms and --platform exclude each other\n");
      return 3;
    }
    auto creds = [](const std::string& s, starlight::registry::Credentials* c) {
      if (s.empty()) return true;
      size_t colon = s.find(':');
      if (colon == std::string::npos) return false;
      c->username = s.substr(0, colon);
      c->password = s.substr(colon + 1);
      return true;
    };
    if (!creds(src_creds, &image.source_store.registry.credentials) ||
        !creds(dest_creds, &image.destination_store.registry.credentials)) {
      std::fprintf(stderr, "starlight-convert: credentials must be USER:PASSWORD\n");
      return 3;
    }
    for (auto* st : {&image.source_store, &image.destination_store}) {
      st->authfile = authfile;
      st->registry.ca_cert_file = ca_cert;
      st->registry.insecure_skip_tls_verify = insecure;
      st->registry.plain_http = plain_http;
    }
    image.source_store.registry.plain_http |= src_plain_http;
    image.destination_store.registry.plain_http |= dest_plain_http;
    image.level = image_level == "auto" ? starlight::seekable::kAutoLevel : std::stoi(image_level);
    if (!image_quiet && isatty(STDERR_FILENO)) {
      image.progress = [](const std::string& m) { std::fprintf(stderr, "  %s\n", m.c_str()); };
    }
    auto report = starlight::converter::ConvertImage(image);
    if (!report.ok()) return Fail(report.status());
    if (!image_quiet) {
      std::fprintf(stderr, "starlight-convert: %s\n",
                   starlight::converter::DescribeImageReport(image, *report).c_str());
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
