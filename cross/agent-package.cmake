# CPack .deb of skiff-agent (included by edge_agent/CMakeLists.txt in the SKIFF_BUILD_AGENT_ONLY
# tree; `cross/build-agent.sh <arch> --package` runs cpack). Contents:
#   /usr/bin/skiff-agent                        stripped binary
#   /usr/lib/skiff-agent/skiff-pause            static pod infra program (edge_agent/pause/pause.cc)
#   /lib/systemd/system/skiff-agent.service     deploy/systemd/skiff-agent.service
#   /etc/skiff-agent/config.toml                default configuration (a conffile)
#   /usr/share/doc/skiff-agent/README.Debian    enroll instructions
# Dependencies are listed by hand: dpkg-shlibdeps cannot inspect a cross-built binary reliably.
set(_skiff_deb_arch amd64)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(_skiff_deb_arch arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  set(_skiff_deb_arch armhf)
endif()

install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/skiff-agent.service
        DESTINATION /lib/systemd/system COMPONENT agent)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/agent/config.toml
        DESTINATION /etc/skiff-agent COMPONENT agent)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/agent/README.Debian
        DESTINATION share/doc/skiff-agent COMPONENT agent)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME skiff-agent)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Skiff")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Skiff edge agent: runs this device's containers as the Skiff hub desires")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_skiff_deb_arch})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Skiff maintainers <skiff@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libssl3 (>= 3.0), libpaho-mqtt1.3 (>= 1.3.12)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "docker.io | podman | balena-engine")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/agent/postinst;${PROJECT_SOURCE_DIR}/deploy/agent/conffiles")
include(CPack)
