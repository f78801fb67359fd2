# SPDX-License-Identifier: MIT
# `cmake --install` and CPack (.deb) for waypointd: the binary, www/, the man
# page, the docs, the systemd unit and an example environment file, plus the Debian
# package metadata and maintainer scripts. Included from the top-level
# CMakeLists.txt. A package build (scripts/package.sh) configures with
#   -DCMAKE_INSTALL_PREFIX=/usr -DWAYPOINTD_WWW_DIR=/usr/share/waypointd/www
# so that the compiled-in --www default is the installed folder. See
# docs/install.md.
include(GNUInstallDirs)

# The unit and /etc/waypointd/waypointd.env need root to install; turn this
# off for an unprivileged install into a home folder.
option(WAYPOINTD_INSTALL_SYSTEMD "Install the systemd unit and /etc/waypointd/waypointd.env" ON)
# Debian 12 ships package units in /lib/systemd/system (moving them to /usr
# is for later releases); systemd also reads /usr/local/lib/systemd/system,
# where a default /usr/local install puts it. Empty: choose as said.
set(WAYPOINTD_SYSTEMD_UNIT_DIR "" CACHE PATH "Where waypointd.service goes (empty: automatic)")
if(WAYPOINTD_SYSTEMD_UNIT_DIR)
  set(_wpd_unitdir "${WAYPOINTD_SYSTEMD_UNIT_DIR}")
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_wpd_unitdir "/lib/systemd/system")
else()
  set(_wpd_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
# systemd's ConfigurationDirectory= is always under /etc, whatever the prefix.
set(_wpd_confdir "/etc/waypointd")
set(_wpd_wwwdir "${CMAKE_INSTALL_DATADIR}/waypointd/www")

install(TARGETS waypointd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/www/ DESTINATION ${_wpd_wwwdir})
# install.md, and where present the pages and example it points to; the
# protocol references a client author needs without the source tree (the
# contract, the REST and live protocols, the OpenAPI description); and the
# sample data set the man page's EXAMPLES load (examples/sample.sql).
foreach(doc install.md operations.md security.md waypointd.conf.example
            contract.md api.md live.md openapi.yaml)
  if(EXISTS ${PROJECT_SOURCE_DIR}/docs/${doc})
    install(FILES ${PROJECT_SOURCE_DIR}/docs/${doc} DESTINATION ${CMAKE_INSTALL_DOCDIR})
  endif()
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/scripts/sample.sql DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# Debian installs man pages gzip'd (-n: no name or time stamp, reproducible).
find_program(WAYPOINTD_GZIP gzip)
if(WAYPOINTD_GZIP)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/waypointd.1.gz
    COMMAND ${WAYPOINTD_GZIP} -9n -c ${PROJECT_SOURCE_DIR}/docs/waypointd.1 > ${PROJECT_BINARY_DIR}/waypointd.1.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/docs/waypointd.1)
  add_custom_target(waypointd_man ALL DEPENDS ${PROJECT_BINARY_DIR}/waypointd.1.gz)
  install(FILES ${PROJECT_BINARY_DIR}/waypointd.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  install(FILES ${PROJECT_SOURCE_DIR}/docs/waypointd.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()

if(WAYPOINTD_INSTALL_SYSTEMD)
  # The unit names /usr/bin/waypointd and /usr/share/doc/waypointd; another
  # prefix gets its own paths.
  file(READ ${PROJECT_SOURCE_DIR}/packaging/waypointd.service _wpd_unit)
  string(REPLACE "/usr/bin/waypointd" "${CMAKE_INSTALL_FULL_BINDIR}/waypointd" _wpd_unit "${_wpd_unit}")
  string(REPLACE "file:/usr/share/doc/waypointd/" "file:${CMAKE_INSTALL_FULL_DOCDIR}/" _wpd_unit "${_wpd_unit}")
  file(WRITE ${PROJECT_BINARY_DIR}/packaging/waypointd.service "${_wpd_unit}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/packaging/waypointd.service)
  install(FILES ${PROJECT_BINARY_DIR}/packaging/waypointd.service DESTINATION ${_wpd_unitdir})
  # Never overwrite an edited environment file on `cmake --install`; the
  # package marks it a conffile and lets dpkg ask instead.
  install(CODE "
    if(NOT EXISTS \"\$ENV{DESTDIR}${_wpd_confdir}/waypointd.env\")
      file(INSTALL DESTINATION \"${_wpd_confdir}\" TYPE FILE
           FILES \"${PROJECT_SOURCE_DIR}/packaging/waypointd.env\")
    else()
      message(STATUS \"Kept: \$ENV{DESTDIR}${_wpd_confdir}/waypointd.env\")
    endif()")
endif()

# A binary whose --www default is not where www/ was installed serves the
# source tree (or nothing, once that is gone): say so at install time.
install(CODE "
  set(_wpd_www \"\${CMAKE_INSTALL_PREFIX}/${_wpd_wwwdir}\")
  if(NOT \"${WAYPOINTD_WWW_DIR}\" STREQUAL \"\${_wpd_www}\")
    message(WARNING \"waypointd was built with --www defaulting to ${WAYPOINTD_WWW_DIR}, \"
                    \"not the installed \${_wpd_www}: reconfigure with -DWAYPOINTD_WWW_DIR=\${_wpd_www} \"
                    \"(scripts/package.sh does) or always pass --www.\")
  endif()")

# CPack: one .deb, `cpack -G DEB` in a tree configured as scripts/package.sh does.
set(WAYPOINTD_DEB_MAINTAINER "waypointd maintainers <waypointd@example.invalid>"
    CACHE STRING "Maintainer field of the .deb")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME waypointd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "waypointd")
set(CPACK_PACKAGE_CONTACT "${WAYPOINTD_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "live delivery tracking server (HTTPS API and WebSocket push)")
set(CPACK_PACKAGE_DESCRIPTION "waypointd reads the customers, routes and waypoints that a delivery company's
route planner and driver apps write to a SQLite database, serves them over
HTTPS (HTTP/1.1 and HTTP/2) with API keys scoped per distribution centre and
per-customer tracking tokens, and pushes every committed change to WebSocket
subscribers within milliseconds, resuming without loss across reconnects.
The package ships a sandboxed systemd unit (not enabled: it needs a
certificate first), a man page, the static tracking and dispatch pages, the
protocol references (contract, REST, live updates, OpenAPI) and a sample
data set in /usr/share/doc/waypointd.")
# Absolute destinations (/etc, /lib/systemd) go under DESTDIR like the rest.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${WAYPOINTD_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps finds libwebsockets17, libjson-c5, libsqlite3-0, libssl3 and
# libev4; lws dlopen()s its libev event-lib plugin, which it cannot see.
# libjs-leaflet: the dashboard's map library, served as /vendor/leaflet/
# straight from its folder (WAYPOINTD_LEAFLET_DIR), not copied into www.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libwebsockets-evlib-ev, libjs-leaflet")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "sqlite3")
set(_wpd_control "")
foreach(script postinst prerm postrm)
  list(APPEND _wpd_control ${PROJECT_SOURCE_DIR}/packaging/debian/${script})
endforeach()
if(WAYPOINTD_INSTALL_SYSTEMD)
  file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles "${_wpd_confdir}/waypointd.env\n")
  list(APPEND _wpd_control ${PROJECT_BINARY_DIR}/packaging/conffiles)
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${_wpd_control}")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
