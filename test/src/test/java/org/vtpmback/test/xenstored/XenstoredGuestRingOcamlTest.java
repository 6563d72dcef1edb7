package org.vtpmback.test.xenstored;

import org.vtpmback.test.xenstored.XenstoredDaemon.Flavour;

@UseXenstored(Flavour.OCAML)
class XenstoredGuestRingOcamlTest extends XenstoredGuestRingChecks {
    @Override
    Flavour expectedFlavour() {
        return Flavour.OCAML;
    }
}
