# The system libraries a program linked against the static libmimiio.a needs:
# Rust's std and libFLAC are inside the archive, these are not. This is the one
# copy of the list; the build tree's mimiio::mimiio_static, the installed CMake
# package (this file is installed next to mimiioConfig.cmake) and the
# Libs.private line of mimiio.pc all come from it.
#
# The list is exactly what
#   cargo rustc --release -p mimiio --lib --crate-type staticlib -- --print native-static-libs
# prints, in its order. It changes only when Cargo.toml's dependencies do.
set(MIMIIO_NATIVE_STATIC_LIBS -lssl -lcrypto -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)

# mimiio_static_link_items(OUT): the list as CMake link items. OpenSSL and
# threads become the imported targets of FindOpenSSL / FindThreads when the
# caller has found them (so a non-default OpenSSL location works); libc is left
# to the compiler driver.
function(mimiio_static_link_items out)
    set(items "")
    foreach(flag IN LISTS MIMIIO_NATIVE_STATIC_LIBS)
        string(REGEX REPLACE "^-l" "" name "${flag}")
        if(name STREQUAL "ssl" AND TARGET OpenSSL::SSL)
            list(APPEND items OpenSSL::SSL)
        elseif(name STREQUAL "crypto" AND TARGET OpenSSL::Crypto)
            list(APPEND items OpenSSL::Crypto)
        elseif(name STREQUAL "pthread" AND TARGET Threads::Threads)
            list(APPEND items Threads::Threads)
        elseif(NOT name STREQUAL "c")
            list(APPEND items "${name}")
        endif()
    endforeach()
    set(${out} "${items}" PARENT_SCOPE)
endfunction()
