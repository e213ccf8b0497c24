# Project-wide flags live on one interface target that every Arsenal target links.
add_library(arsenal_flags INTERFACE)
target_compile_options(arsenal_flags INTERFACE
  -Wall -Wextra -Werror -Wno-missing-field-initializers
  # g++ 12 reports false -Wrestrict positives on std::string concatenation at -O3.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
target_compile_definitions(arsenal_flags INTERFACE _GNU_SOURCE)
if(ARSENAL_SANITIZE)
  target_compile_options(arsenal_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                 -fno-sanitize-recover=undefined)
  target_link_options(arsenal_flags INTERFACE -fsanitize=address,undefined)
endif()
if(ARSENAL_COVERAGE)
  target_compile_options(arsenal_flags INTERFACE --coverage -O0 -fprofile-update=atomic)
  target_link_options(arsenal_flags INTERFACE --coverage)
endif()

# Precompiled headers. Almost every translation unit includes nlohmann/json.hpp (through the
# engine's headers) and every test includes GoogleTest; parsing them again in each of ~250 units
# was the largest part of a build. arsenal_pch(TARGET [HEADERS...]) gives TARGET a precompiled
# json.hpp plus HEADERS, for its C++ sources only. Debug builds only (the test and coverage
# builds, where compile time matters): in optimized builds g++ 12 loses the system-header status
# of libstdc++ code reached through the precompiled header and reports false -Warray-bounds and
# -Wstringop-overflow positives from inlined std::string code. ARSENAL_PCH=OFF turns it off.
option(ARSENAL_PCH "Precompile the heavy third-party headers (Debug builds)" ON)
function(arsenal_pch target)
  if(NOT ARSENAL_PCH OR NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    return()
  endif()
  set(headers <nlohmann/json.hpp> ${ARGN})
  list(TRANSFORM headers REPLACE "^(.+)$" "$<$<COMPILE_LANGUAGE:CXX>:\\1>")
  target_precompile_headers(${target} PRIVATE ${headers})
endfunction()

# Unity builds. With ARSENAL_UNITY_BUILD each library and test binary compiles its files in
# batches of 8: a batch parses and instantiates the engine's, nlohmann/json's, GoogleTest's and
# Asio's templates once instead of once per file, which was most of a CI build (docs/decisions.md,
# "CI time"). Two files of one target therefore must not define the same file-local name; types
# that a class with external linkage holds live in a named internal namespace, not an anonymous
# one (g++'s -Wsubobject-linkage). A file that cannot join a batch sets
# SKIP_UNITY_BUILD_INCLUSION. -DARSENAL_UNITY_BUILD=OFF compiles every file on its own (which also
# shows a file that compiles only thanks to a batch-mate's includes). Debug builds only (the test,
# coverage and asan builds): in a static archive a batch is one object, so a binary that needs one
# of its files links them all, and the run-only `arsenal` then loaded SQLite and libcrypto too
# (36.7 ms per `arsenal run` instead of 25.4 ms).
option(ARSENAL_UNITY_BUILD "Compile libraries and test binaries in batches (unity build)" ON)
function(arsenal_unity target)
  if(ARSENAL_UNITY_BUILD AND CMAKE_BUILD_TYPE STREQUAL "Debug")
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8
                                               UNITY_BUILD_UNIQUE_ID ARSENAL_UNITY_ID)
  endif()
endfunction()

# arsenal_library(NAME [PUBLIC deps...] [PRIVATE deps...])
# Sources are every .cc/.c below the folder (new files need no CMake edit; see
# docs/decisions.md) except testdata/, examples/ and bin/ (stand-alone programs the folder's
# CMakeLists.txt builds itself); public headers live in <folder>/include.
function(arsenal_library name)
  cmake_parse_arguments(ARG "" "" "PUBLIC;PRIVATE" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS
       ${CMAKE_CURRENT_SOURCE_DIR}/*.cc ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  list(FILTER srcs EXCLUDE REGEX "/(testdata|examples|bin)/")
  add_library(arsenal_${name} STATIC ${srcs})
  add_library(arsenal::${name} ALIAS arsenal_${name})
  target_include_directories(arsenal_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                             PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(arsenal_${name} PUBLIC arsenal_flags ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
  arsenal_pch(arsenal_${name})
  arsenal_unity(arsenal_${name})
endfunction()

# arsenal_test(NAME LIBS...) : one GoogleTest binary from every *_test.cc in the folder.
function(arsenal_test name)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(${name} ${srcs})
  target_link_libraries(${name} PRIVATE arsenal_flags ${ARGN} GTest::gmock GTest::gtest_main)
  arsenal_pch(${name} <gtest/gtest.h>)
  arsenal_unity(${name})
  if(ARSENAL_SANITIZE)
    # The sanitized build runs each binary as one ctest test: starting a sanitized binary (and
    # LeakSanitizer's check at its exit) costs about half a second, which for one process per
    # test was more than half of the asan stage (209 s of ctest against 92 s for the binaries).
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS unit)
  else()
    gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
                         PROPERTIES LABELS unit)
  endif()
endfunction()
