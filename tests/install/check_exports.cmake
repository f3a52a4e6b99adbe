# The library exports no symbol of the C++ runtime's iostream and locale code: with a toolchain
# that links libstdc++ statically, such exports interpose on the process's libstdc++ (a crash in
# the PyTorch extension on the GPU machine). Needs nm (binutils) and c++filt.
# -DLIBRARY=<path of libsplitmla.so> -DNM=<nm>
execute_process(COMMAND ${NM} -D --defined-only -C ${LIBRARY}
  OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D ${LIBRARY} failed (${rc})")
endif()
string(REGEX MATCHALL "[^\n]*(std::basic_ostream<|std::basic_ios<|std::locale::|std::ios_base::|codecvt)[^\n]*" leaked "${syms}")
list(LENGTH leaked n)
if(n GREATER 0)
  list(SUBLIST leaked 0 5 shown)
  string(REPLACE ";" "\n  " shown "${shown}")
  message(FATAL_ERROR "${LIBRARY} exports ${n} symbols of the C++ runtime, e.g.:\n  ${shown}")
endif()
string(REGEX MATCHALL "\n" lines "${syms}")
list(LENGTH lines total)
message(STATUS "${LIBRARY}: ${total} exported symbols, none of the C++ runtime's iostream/locale")
