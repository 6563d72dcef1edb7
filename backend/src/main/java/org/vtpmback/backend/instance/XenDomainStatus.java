package org.vtpmback.backend.instance;

import java.util.Optional;
import org.vtpmback.xen.DomainInfo;
import org.vtpmback.xen.ShutdownReason;
import org.vtpmback.xen.XenControl;

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
    public Optional<ShutdownReason> shutdownReason(int domid) {
        return xc.domainInfo(domid).filter(DomainInfo::shutdown).map(DomainInfo::shutdownReason);
    }

    @Override
    public void close() {
        xc.close();
    }
}
