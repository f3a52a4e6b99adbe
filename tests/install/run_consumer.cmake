# Run with cmake -P (see CMakeLists.txt). Steps, each failing the test loudly with its output:
#   1. cmake --install <build> --prefix <work>/prefix
#   2. configure consumer/ with CMAKE_PREFIX_PATH=<work>/prefix
#   3. build it
#   4. run it (LD_LIBRARY_PATH points at the installed lib folder as well as the RPATH)
#   5. run the installed splitmla_fixture tool with LD_LIBRARY_PATH unset (its RUNPATH alone must
#      find libsplitmla and the CUDA runtime): --help, then inspect FIXTURE; both must exit 0
foreach(var SPLITMLA_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run_step name)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "[${name}] exit ${rc}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: step '${name}' failed (exit ${rc})")
  endif()
endfunction()

run_step(install ${CMAKE_COMMAND} --install "${SPLITMLA_BUILD_DIR}" --prefix "${prefix}")

foreach(f include/splitmla/splitmla.hpp include/splitmla/decode.hpp)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install test: ${f} was not installed")
  endif()
endforeach()
file(GLOB_RECURSE config_files "${prefix}/*/splitmlaConfig.cmake")
if(NOT config_files)
  message(FATAL_ERROR "install test: no splitmlaConfig.cmake under ${prefix}")
endif()

set(configure_args -S "${CONSUMER_SOURCE_DIR}" -B "${build}" -G "${GENERATOR}"
  "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(CUDA_ROOT)
  list(APPEND configure_args "-DCUDAToolkit_ROOT=${CUDA_ROOT}")
endif()
if(BUILD_TYPE)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
run_step(configure ${CMAKE_COMMAND} ${configure_args})
run_step(build ${CMAKE_COMMAND} --build "${build}")

set(libdirs "${prefix}/lib" "${prefix}/lib64")
if(CUDA_LIBDIR)
  list(APPEND libdirs "${CUDA_LIBDIR}")
endif()
if(DEFINED ENV{LD_LIBRARY_PATH} AND NOT "$ENV{LD_LIBRARY_PATH}" STREQUAL "")
  list(APPEND libdirs "$ENV{LD_LIBRARY_PATH}")
endif()
string(REPLACE ";" ":" ld_path "${libdirs}")
run_step(run ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${ld_path}"
  "${build}/splitmla_consumer")

# The installed tool, as a user would start it from the prefix: no LD_LIBRARY_PATH.
set(tool "${prefix}/bin/splitmla_fixture")
if(NOT EXISTS "${tool}")
  message(FATAL_ERROR "install test: ${tool} was not installed")
endif()
run_step(tool-help ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH "${tool}" --help)
if(FIXTURE)
  run_step(tool-inspect ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH "${tool}" inspect
    "${FIXTURE}")
endif()
