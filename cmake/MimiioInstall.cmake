# Install rules: `cmake --install build --prefix P` puts the library where C
# programs look for one.
#
#   P/lib/libmimiio.so.X.Y.Z      the cargo-built shared library (SONAME libmimiio.so.X)
#   P/lib/libmimiio.so.X          -> libmimiio.so.X.Y.Z (what programs load)
#   P/lib/libmimiio.so            -> libmimiio.so.X     (what -lmimiio finds)
#   P/lib/libmimiio.a
#   P/include/mimiio.h
#   P/lib/pkgconfig/mimiio.pc
#   P/lib/cmake/mimiio/           mimiioConfig.cmake, mimiioConfigVersion.cmake,
#                                 mimiioNativeLibs.cmake
#
# Nothing is built here: the rules copy what the cargo_build target made, so an
# install never rebuilds with other settings. The libdir is `lib` unless
# CMAKE_INSTALL_LIBDIR is given (GNUInstallDirs alone would pick lib64 or
# lib/<multiarch> on some systems, e.g. for the prefix /usr on Debian).
#
# Expects from CMakeLists.txt: MIMIIO_SHARED_FILE, MIMIIO_STATIC_FILE,
# MIMIIO_NATIVE_STATIC_LIBS and a found OpenSSL.

set(CMAKE_INSTALL_LIBDIR "lib" CACHE PATH "Object code libraries (lib)")
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MIMIIO_SONAME "libmimiio.so.${PROJECT_VERSION_MAJOR}")
set(MIMIIO_SHARED_INSTALL_NAME "libmimiio.so.${PROJECT_VERSION}")
set(MIMIIO_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/mimiio")
set(_mimiio_stage "${CMAKE_CURRENT_BINARY_DIR}/install-stage")

# ---- libraries and header ---------------------------------------------------

install(FILES "${MIMIIO_SHARED_FILE}"
    DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    RENAME "${MIMIIO_SHARED_INSTALL_NAME}"
    PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# Relative symbolic links, made once here and copied as links by install().
file(MAKE_DIRECTORY "${_mimiio_stage}")
file(CREATE_LINK "${MIMIIO_SHARED_INSTALL_NAME}" "${_mimiio_stage}/${MIMIIO_SONAME}" SYMBOLIC)
file(CREATE_LINK "${MIMIIO_SONAME}" "${_mimiio_stage}/libmimiio.so" SYMBOLIC)
install(FILES "${_mimiio_stage}/${MIMIIO_SONAME}" "${_mimiio_stage}/libmimiio.so"
    DESTINATION "${CMAKE_INSTALL_LIBDIR}")

install(FILES "${MIMIIO_STATIC_FILE}" DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(FILES "${CMAKE_CURRENT_SOURCE_DIR}/include/mimiio.h"
    DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# ---- pkg-config -------------------------------------------------------------

# Libs.private: the one list of mimiioNativeLibs.cmake, plus -L for an OpenSSL
# outside the linker's default directories.
set(MIMIIO_PC_LIBS_PRIVATE "")
if(OPENSSL_SSL_LIBRARY)
    get_filename_component(_mimiio_ssl_dir "${OPENSSL_SSL_LIBRARY}" DIRECTORY)
    if(NOT _mimiio_ssl_dir IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
        set(MIMIIO_PC_LIBS_PRIVATE "-L${_mimiio_ssl_dir} ")
    endif()
endif()
list(JOIN MIMIIO_NATIVE_STATIC_LIBS " " _mimiio_flags)
string(APPEND MIMIIO_PC_LIBS_PRIVATE "${_mimiio_flags}")

# The prefix is only known at install time (`cmake --install --prefix P`), so
# mimiio.pc is written then, by a script that has everything else baked in.
set(MIMIIO_PC_TEMPLATE "${CMAKE_CURRENT_LIST_DIR}/mimiio.pc.in")
configure_file("${CMAKE_CURRENT_LIST_DIR}/MimiioInstallPkgConfig.cmake.in"
    "${_mimiio_stage}/install-pkgconfig.cmake" @ONLY)
install(SCRIPT "${_mimiio_stage}/install-pkgconfig.cmake")

# ---- CMake package ----------------------------------------------------------

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/mimiioConfig.cmake.in"
    "${_mimiio_stage}/mimiioConfig.cmake"
    INSTALL_DESTINATION "${MIMIIO_CMAKE_INSTALL_DIR}"
    PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file("${_mimiio_stage}/mimiioConfigVersion.cmake"
    VERSION "${PROJECT_VERSION}"
    COMPATIBILITY SameMajorVersion)
install(FILES
    "${_mimiio_stage}/mimiioConfig.cmake"
    "${_mimiio_stage}/mimiioConfigVersion.cmake"
    "${CMAKE_CURRENT_LIST_DIR}/mimiioNativeLibs.cmake"
    DESTINATION "${MIMIIO_CMAKE_INSTALL_DIR}")

unset(_mimiio_stage)
unset(_mimiio_ssl_dir)
unset(_mimiio_flags)
