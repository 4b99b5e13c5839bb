#pragma once
// The owning handle of a libzip archive (STYLE.md §7). Its deleter discards: a reader has nothing to
// write back, and a writer calls zip_close() itself, checks it, and releases the handle, so only
// error paths reach the deleter.
#include <zip.h>

#include <memory>

namespace avtrain::dataset {

struct ZipDiscarder {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipDiscarder>;

}  // namespace avtrain::dataset
