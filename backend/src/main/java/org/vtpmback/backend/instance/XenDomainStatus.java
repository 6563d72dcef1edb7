package org.vtpmback.backend.instance;

import java.util.Optional;
import org.vtpmback.xen.DomainInfo;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.xen.XenControl;
import org.vtpmback.xen.DomainId;

/** {@link DomainStatus} from the hypervisor (libxenctrl {@code xc_domain_getinfolist}). */
public final class XenDomainStatus implements DomainStatus, AutoCloseable {
    private final XenControl xc;

    private XenDomainStatus(XenControl xc) {
        this.xc = xc;
    }

    public static XenDomainStatus open() {
        return new XenDomainStatus(XenControl.open());
    }

    @Override
    public Optional<ShutdownReason> shutdownReason(DomainId domid) {
        return xc.domainInfo(domid.value()).filter(DomainInfo::shutdown).map(DomainInfo::shutdownReason);
    }

    @Override
    public void close() {
        xc.close();
    }
}
