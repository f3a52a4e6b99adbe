# cmake -DSOURCE_DIR=<repo> -DOUT=<header> -P write_commit.cmake
# Writes `#define SPLITMLA_BUILD_COMMIT "<short hash>[-dirty]"` (empty outside a git checkout),
# touching OUT only when the text changes so nothing rebuilds needlessly.
set(commit "")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE commit ERROR_QUIET
    OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    set(commit "")
  else()
    # Uncommitted changes to the code that is measured (library, headers, drivers) mark it dirty.
    execute_process(COMMAND ${GIT_EXECUTABLE} diff --quiet HEAD -- lib include experiments
      WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE dirty ERROR_QUIET)
    if(dirty EQUAL 1)
      set(commit "${commit}-dirty")
    endif()
  endif()
endif()
set(text "#pragma once\n#define SPLITMLA_BUILD_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
