// ScratchPool growth rules (issue 14, item 8): growth is refused while the pool is pinned by
// captured graphs, and a failed growth keeps the old buffer. The pin rule is host logic and is
// checked everywhere; the allocation cases need a CUDA device and are reported as skipped
// ("skipped: no CUDA device") without one, never passed silently.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>

#include "splitmla/decode.hpp"

using splitmla::ScratchPool;
using splitmla::Status;

namespace splitmla {
inline std::ostream& operator<<(std::ostream& os, Status s) { return os << status_name(s); }
}  // namespace splitmla

namespace {

struct HasDevice {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(splitmla::device_count() > 0);
    r.message() << "skipped: no CUDA device";
    return r;
  }
};

// A plan that only carries what workspace_for reads (device, workspace size).
splitmla::Plan plan_of(int32_t device, size_t bytes) {
  splitmla::Plan p;
  p.device = device;
  p.workspace_bytes = bytes;
  return p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(pinned_pool_refuses_growth_on_the_host) {
  ScratchPool pool;
  pool.pin();
  pool.pin();
  BOOST_TEST(pool.pins() == 2);
  const Status s = pool.reserve(size_t(1) << 20);
  BOOST_TEST(s == Status::kCaptureActive);
  const std::string msg = splitmla::status_message(s);
  BOOST_TEST(msg.find("pinned by 2") != std::string::npos, msg);
  BOOST_TEST(pool.capacity() == 0u);
  pool.unpin();
  BOOST_TEST(pool.reserve(size_t(1) << 20) == Status::kCaptureActive);  // still pinned once
  pool.unpin();
  pool.unpin();  // below zero: ignored
  BOOST_TEST(pool.pins() == 0);
  // Unpinned: the pin rule no longer applies (an uninitialized pool then needs init()).
  BOOST_TEST(pool.reserve(size_t(1) << 20) == Status::kDeviceMismatch);
  ScratchPool moved(std::move(pool));
  BOOST_TEST(moved.pins() == 0);
}

BOOST_AUTO_TEST_CASE(failed_growth_keeps_the_old_buffer,
                     *boost::unit_test::precondition(HasDevice())) {
  ScratchPool pool;
  BOOST_TEST_REQUIRE(pool.init() == Status::kSuccess);
  BOOST_TEST_REQUIRE(pool.reserve(size_t(1) << 20) == Status::kSuccess);
  splitmla::Workspace before;
  BOOST_TEST_REQUIRE(pool.workspace_for(plan_of(pool.device(), 1 << 20), &before) ==
                     Status::kSuccess);
  // Bigger than any device: the allocation fails, the old buffer must survive.
  const Status s = pool.reserve(size_t(1) << 50);
  BOOST_TEST(s == Status::kOutOfMemory, splitmla::status_message(s));
  BOOST_TEST(pool.capacity() == size_t(1) << 20);
  splitmla::Workspace after;
  BOOST_TEST_REQUIRE(pool.workspace_for(plan_of(pool.device(), 1 << 20), &after) ==
                     Status::kSuccess);
  BOOST_TEST(after.data == before.data);
  BOOST_TEST(after.data != nullptr);
}

BOOST_AUTO_TEST_CASE(pinned_pool_keeps_its_buffer_on_the_device,
                     *boost::unit_test::precondition(HasDevice())) {
  ScratchPool pool;
  BOOST_TEST_REQUIRE(pool.init() == Status::kSuccess);
  BOOST_TEST_REQUIRE(pool.reserve(size_t(1) << 20) == Status::kSuccess);
  splitmla::Workspace before;
  BOOST_TEST_REQUIRE(pool.workspace_for(plan_of(pool.device(), 1 << 20), &before) ==
                     Status::kSuccess);
  pool.pin();
  BOOST_TEST(pool.reserve(size_t(1) << 20) == Status::kSuccess);  // fits: no growth needed
  BOOST_TEST(pool.reserve(size_t(2) << 20) == Status::kCaptureActive);
  splitmla::Workspace after;
  BOOST_TEST_REQUIRE(pool.workspace_for(plan_of(pool.device(), 1 << 20), &after) ==
                     Status::kSuccess);
  BOOST_TEST(after.data == before.data);
  pool.unpin();
  BOOST_TEST(pool.reserve(size_t(2) << 20) == Status::kSuccess);
  BOOST_TEST(pool.capacity() == size_t(2) << 20);
}

// Without a device the pool says so (the two cases above are then reported as skipped).
BOOST_AUTO_TEST_CASE(init_reports_a_missing_device) {
  ScratchPool pool;
  const Status s = pool.init();
  if (splitmla::device_count() == 0) BOOST_TEST(s == Status::kNoCudaDevice);
  else BOOST_TEST(s == Status::kSuccess);
}

// A pool whose init() failed says so on later calls (it used to answer kDeviceMismatch, as if
// the plan were for another device); one never initialized says to call init() first.
BOOST_AUTO_TEST_CASE(failed_init_is_reported_by_later_calls) {
  splitmla::Plan plan;
  plan.device = 0;
  plan.workspace_bytes = 1024;
  splitmla::Workspace ws;
  {
    ScratchPool never;
    BOOST_TEST(never.reserve(1024) == Status::kDeviceMismatch);
    BOOST_TEST(std::string(splitmla::last_error_detail()).find("call init() first") !=
               std::string::npos);
    BOOST_TEST(never.workspace_for(plan, &ws) == Status::kDeviceMismatch);
  }
  ScratchPool pool;
  const Status init = pool.init(splitmla::device_count() + 3);  // no such device on any machine
  BOOST_TEST_REQUIRE(init != Status::kSuccess);
  BOOST_TEST(pool.reserve(1024) == init);
  const std::string detail = splitmla::last_error_detail();
  BOOST_TEST(detail.find("init() failed with") != std::string::npos, detail);
  BOOST_TEST(detail.find(splitmla::status_name(init)) != std::string::npos, detail);
  BOOST_TEST(pool.workspace_for(plan, &ws) == init);
}
