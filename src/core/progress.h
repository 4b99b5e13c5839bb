#pragma once
// Progress of long work (torch-free). Long loops take a Progress&; models never do.
//
// A root Progress draws a live bar (fraction, rate, ETA) when stderr is a terminal and prints a plain
// line at most every few seconds otherwise; a job runner may add a listener (job store, status API).
// A Progress can be cancelled from another thread; work checks at clean stopping points.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace avtrain::core {

struct ProgressEvent {
  std::string scope;     // "training", "encoding/video", ...
  double fraction = 0;   // of the whole root, 0..1
  double scope_fraction = 0;  // of this scope, 0..1
  std::string message;   // "step 120/300", ...
};

class Progress {
 public:
  using Listener = std::function<void(const ProgressEvent&)>;

  // A root. `draw` selects the built-in display (bar on a terminal, lines otherwise).
  explicit Progress(std::string name = "", bool draw = true);

  // Reports that `fraction` (0..1) of this scope is done.
  void update(double fraction, std::string_view message = {});
  // Reports `done` of `total` items; the display shows the count, the rate and the ETA.
  void update_count(int64_t done, int64_t total, std::string_view unit = "it");
  // A child scope covering [begin, end) of this scope's range.
  Progress stage(std::string name, double begin, double end) const;

  void add_listener(Listener listener);
  void cancel();
  bool cancelled() const;
  // Throws core::Cancelled naming this scope when cancel() was called.
  void throw_if_cancelled() const;
  // Ends the bar line on a terminal.
  void finish();

  const std::string& name() const { return name_; }

 private:
  struct Shared;
  Progress(std::shared_ptr<Shared> shared, std::string name, double begin, double end);
  void emit(double scope_fraction, std::string message, double items_per_second, double eta_seconds);

  std::shared_ptr<Shared> shared_;
  std::string name_;
  double begin_ = 0, end_ = 1;
  std::chrono::steady_clock::time_point scope_start_;
};

}  // namespace avtrain::core
