package org.vtpmback.hotplug.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.vtpmback.backend.device.DeviceId;
import org.vtpmback.backend.device.DeviceStatus;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.instance.InstanceStatus;
import org.vtpmback.backend.instance.StartMode;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.xenstore.XenbusState;

/** The status report over the control socket: a device's store problem travels as one escaped field, "-" as null. */
class StatusReportTest {
    private static DeviceStatus device(int domid, Optional<String> problem) {
        InstanceStatus vtpm = new InstanceStatus(new Uuid(String.format("%08x-0000-4000-8000-000000000000", domid)), TpmFamily.TPM2,
                StartMode.CLEAR, 7, OptionalLong.empty(), problem);
        return new DeviceStatus(new DeviceId(domid, 0), Optional.of("guest" + domid), XenbusState.CONNECTED, Optional.of(vtpm), 3,
                Optional.of(Duration.ofSeconds(2)));
    }

    @Test
    void aStoreProblemIsOneFieldAndNoneIsNull() {
        String problem = "only in the commit log: folding fails since 2026-12-03T12:00:00Z (cannot replace /x/a.vtpm:\tNo space\nleft)";
        StatusReport.Decoded d = StatusReport.decode(StatusReport.encode(List.of(device(5, Optional.of(problem)),
                device(6, Optional.empty()))));
        assertEquals(2, d.devices().size());
        Map<String, Object> bad = d.devices().get(0);
        assertEquals(StatusReport.FIELDS.size(), bad.size(), bad.toString());
        assertEquals(OneLineFormatter.escape(problem).replace("\t", "\\t"), bad.get("store_problem"));
        assertEquals(7L, bad.get("generation"));
        assertNull(d.devices().get(1).get("store_problem"));
    }
}
