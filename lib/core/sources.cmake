target_sources(splitmla PRIVATE core/status.cpp core/types.cpp core/plan.cpp core/pool.cpp core/run.cpp
  core/version.cpp core/policy.cpp)
