#include "cas/digest.hpp"
#include "layers/snapshotter.hpp"
#include "sys/error.hpp"

namespace layers {

cas::Digest chain_id(const std::vector<cas::Digest>& diff_ids) {
    if (diff_ids.empty()) sys::fail(sys::Code::InvalidInput, "chain id of no layers");
    cas::Digest c = diff_ids[0];
    for (size_t i = 1; i < diff_ids.size(); i++) c = cas::Digest::of(c.str() + " " + diff_ids[i].str());
    return c;
}

}  // namespace layers
