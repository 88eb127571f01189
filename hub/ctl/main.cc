// skiffctl: the operator CLI's thin main (all logic in skiff::hub::ctl).
#include <iostream>

#include "common/daemon.h"
#include "hub/ctl/skiffctl.h"

int main(int argc, char** argv) {
  auto& stop = skiff::common::installStopSignals();
  return skiff::hub::ctl::runSkiffctl(argc, argv, std::cout, std::cerr, stop.get_token());
}
