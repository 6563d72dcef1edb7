package org.vtpmback.test.xenstored;

import org.vtpmback.test.xenstored.XenstoredDaemon.Flavour;

@UseXenstored(Flavour.C)
class XenstoredGuestRingCTest extends XenstoredGuestRingChecks {
    @Override
    Flavour expectedFlavour() {
        return Flavour.C;
    }
}
