// SPDX-License-Identifier: Apache-2.0
//
// Compile check (against TT-Metal's API headers, via check.sh): the adapter's
// IGraphProcessor, as TT-Metal's own code would install and call it.
// -DTTSHM_EXPECT_CAPTURE_FLAG=0|1 says whether this TT-Metal version has
// is_capture_processor(); the adapter's feature detection must agree.
// -DTTSHM_WRONG_OVERRIDE adds a processor whose track_allocate drops the
// const of TT-Metal's signature: the compiler must reject it (negative control).
#include <memory>
#include <type_traits>

#include "ttshm/tt_metal/adapter.hpp"

namespace
{

namespace metal = ::tt::tt_metal;
using ttshm::tt_metal::Processor;

template <class T, class = void> struct has_capture_flag : std::false_type {
};
template <class T>
struct has_capture_flag<T, std::void_t<decltype(&T::is_capture_processor)>> : std::true_type {
};

static_assert(has_capture_flag<metal::IGraphProcessor>::value == (TTSHM_EXPECT_CAPTURE_FLAG != 0),
              "is_capture_processor() is not where this TT-Metal version should have it");
static_assert(has_capture_flag<Processor>::value ==
              has_capture_flag<metal::IGraphProcessor>::value);
// Where the base has the flag, the adapter answers it itself (false: a
// background processor), instead of inheriting the base's true.
template <class P, class B, bool = has_capture_flag<B>::value> struct answers_flag {
    static constexpr bool value = true;
};
template <class P, class B> struct answers_flag<P, B, true> {
    static constexpr bool value =
        !std::is_same_v<decltype(&P::is_capture_processor), decltype(&B::is_capture_processor)>;
};
static_assert(answers_flag<Processor, metal::IGraphProcessor>::value);
static_assert(std::is_base_of_v<metal::IGraphProcessor, Processor>);

#ifdef TTSHM_WRONG_OVERRIDE
struct WrongProcessor : metal::IGraphProcessor {
    void track_allocate(metal::Buffer *buffer) override
    {
        ttshm::tt_metal::on_allocate(buffer);
    }
};
#endif

} // namespace

// What TT-Metal does with a processor: push it and call it through the base.
void ttshm_check_processor_use(metal::Buffer *buffer, const metal::IDevice *device,
                               metal::Program *program)
{
    ttshm::tt_metal::install();
    std::shared_ptr<metal::IGraphProcessor> p = std::make_shared<Processor>();
    p->track_allocate(buffer);
    p->track_deallocate(buffer);
    p->track_allocate_cb(metal::CoreRangeSet{}, 0x19000, 4096, false, device);
    p->track_deallocate_cb(device);
    p->track_program(program, device);
}
