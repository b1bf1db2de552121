#include "core/dirdb/dirdb.h"

#include "core/dirdb/encoding.h"

namespace starlight::dirdb {

WriteBatch::WriteBatch() = default;
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

void WriteBatch::PutLayer(const LayerRecord& r) { ops_.push_back(Op{r}); }
void WriteBatch::PutImage(const ImageRecord& r) { ops_.push_back(Op{r}); }
void WriteBatch::PutIndex(const IndexRecord& r) { ops_.push_back(Op{r}); }
void WriteBatch::PutTag(const TagRecord& r) { ops_.push_back(Op{r}); }
void WriteBatch::DeleteTag(std::string_view repository, std::string_view tag) {
  ops_.push_back(Op{Op::DeleteTag{std::string(repository), std::string(tag)}});
}
void WriteBatch::DeleteEvent(uint64_t seq) { ops_.push_back(Op{Op::DeleteEvent{seq}}); }
bool WriteBatch::empty() const { return ops_.empty(); }
const std::vector<WriteBatch::Op>& WriteBatch::ops() const { return ops_; }

}  // namespace starlight::dirdb
