package org.vtpmback.backend.device;

import org.vtpmback.backend.instance.VtpmInstances;
import org.vtpmback.backend.xen.EventChannels;
import org.vtpmback.backend.xen.GrantMapper;

/** What devices share: the host's grant mapper and event channels, and the vTPM instances. */
public record DeviceResources(GrantMapper grants, EventChannels eventChannels, VtpmInstances instances) {
}
