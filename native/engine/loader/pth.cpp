#include "loader/formats.h"

namespace tw::loader {
void read_pth(const std::shared_ptr<MappedFile>& file, CheckpointBuilder&) {
  throw Error(file->path() + ": .pth reading is not implemented yet");
}
}  // namespace tw::loader
