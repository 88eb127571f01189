# CPack .deb of the server side, `skiff-server` (amd64): skiff-control-plane, skiff-hub,
# skiffctl, skiff-virtual-node, the dashboard assets, systemd units and default configuration.
# `cpack --config <build>/CPackConfig.cmake` (deploy/package.sh) builds it from the normal build
# tree; the agent has its own package (cross/agent-package.cmake, agent-only tree).
#   /usr/bin/{skiff-control-plane,skiff-hub,skiffctl,skiff-virtual-node}
#   /usr/share/skiff/dashboard/                  the hub dashboard (hub/dashboard/dist)
#   /lib/systemd/system/skiff-*.service           control plane, hub-init, broker, hub, virtual node
#   /etc/skiff/{control-plane,hub,virtual-node}.toml   conffiles
#   /usr/share/doc/skiff-server/README.md         deploy/server/README.md
foreach(unit skiff-control-plane skiff-hub-init skiff-broker skiff-hub skiff-virtual-node)
  install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/${unit}.service
          DESTINATION /lib/systemd/system COMPONENT server)
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/deploy/server/control-plane.toml
              ${PROJECT_SOURCE_DIR}/deploy/server/hub.toml
              ${PROJECT_SOURCE_DIR}/deploy/server/virtual-node.toml
        DESTINATION /etc/skiff COMPONENT server)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/server/README.md
        DESTINATION share/doc/skiff-server COMPONENT server)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME skiff-server)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Skiff")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Skiff control plane, hub, virtual node and skiffctl: Kubernetes for fleets of edge devices")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL server)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Skiff maintainers <skiff@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "mosquitto (>= 2.0)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "kubectl | kubernetes-client")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/deploy/server/conffiles")
include(CPack)
