# Tests of the library as users consume it: installed (cmake --install) and
# built against with pkg-config, find_package and statically; loaded by an
# already-built program from another prefix; used from Python through ctypes.
# Included from CMakeLists.txt's test section, after MIMIIO_TEST_ENV.

find_program(MIMIIO_PKG_CONFIG pkg-config REQUIRED)

option(MIMIIO_DROPIN_SECOND_BUILD
    "dropin test: load a second, independent cargo build of the library (a full dev-profile build the first time)" OFF)

set(_mimiio_install_test_env
    "MIMIIO_BUILD_DIR=${CMAKE_BINARY_DIR}"
    "MIMIIO_SOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}"
    "MIMI_SERVER=${MIMI_SERVER_FILE}"
    "CC=${CMAKE_C_COMPILER}"
    "CMAKE_COMMAND=${CMAKE_COMMAND}"
    "PKG_CONFIG=${MIMIIO_PKG_CONFIG}"
    "CARGO=${CARGO}")
if(MIMIIO_DROPIN_SECOND_BUILD)
    list(APPEND _mimiio_install_test_env
        "MIMIIO_SECOND_BUILD_DIR=${CMAKE_BINARY_DIR}/dropin-second-build")
endif()

add_test(NAME install_consumers
    COMMAND sh "${CMAKE_CURRENT_SOURCE_DIR}/tests-install/install_consumers.sh")
add_test(NAME dropin
    COMMAND sh "${CMAKE_CURRENT_SOURCE_DIR}/tests-install/dropin.sh")
# `cmake --install` rewrites the build tree's install_manifest.txt: one at a time.
set_tests_properties(install_consumers dropin PROPERTIES
    ENVIRONMENT "${_mimiio_install_test_env}"
    RESOURCE_LOCK mimiio_install_manifest
    TIMEOUT 300)

find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
    add_test(NAME python_bindings
        COMMAND "${Python3_EXECUTABLE}" -m unittest -v test_mimiio
        WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/bindings/python")
    set_tests_properties(python_bindings PROPERTIES
        ENVIRONMENT "${MIMIIO_TEST_ENV};MIMIIO_LIBRARY=${MIMIIO_SONAME_LINK};PYTHONDONTWRITEBYTECODE=1"
        TIMEOUT 120)
else()
    message(STATUS "python3 not found: the python_bindings test is not registered")
endif()

unset(_mimiio_install_test_env)
