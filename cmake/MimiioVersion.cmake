# Reads the package version from Cargo.toml, the one place it is written, so
# that CMake's project version, the installed file names, mimiio.pc and
# mimi_version() (cargo's CARGO_PKG_VERSION) cannot disagree.
#
# Included before project(): sets MIMIIO_VERSION ("3.0.0") for project(VERSION).
# Only the `version` key of the [package] table counts; dependency tables and
# inline `{ version = ... }` entries are skipped.

set(_mimiio_manifest "${CMAKE_CURRENT_LIST_DIR}/../Cargo.toml")
file(STRINGS "${_mimiio_manifest}" _mimiio_lines)

set(_mimiio_table "")
unset(MIMIIO_VERSION)
foreach(_mimiio_line IN LISTS _mimiio_lines)
    if(_mimiio_line MATCHES "^[ \t]*\\[([^]]*)\\]")
        set(_mimiio_table "${CMAKE_MATCH_1}")
    elseif(_mimiio_table STREQUAL "package"
           AND _mimiio_line MATCHES "^[ \t]*version[ \t]*=[ \t]*\"([^\"]*)\"")
        set(MIMIIO_VERSION "${CMAKE_MATCH_1}")
        break()
    endif()
endforeach()

if(NOT MIMIIO_VERSION MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
    message(FATAL_ERROR
        "no plain MAJOR.MINOR.PATCH version in the [package] table of ${_mimiio_manifest} "
        "(found '${MIMIIO_VERSION}')")
endif()

# Editing the version in Cargo.toml re-runs the configuration.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_mimiio_manifest}")

unset(_mimiio_manifest)
unset(_mimiio_lines)
unset(_mimiio_line)
unset(_mimiio_table)
