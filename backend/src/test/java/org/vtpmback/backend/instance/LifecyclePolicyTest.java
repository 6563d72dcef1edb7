package org.vtpmback.backend.instance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.vtpmback.backend.engine.TpmFamily;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceRecord.EndKind;
import org.vtpmback.backend.state.InstanceRecord.Snapshot;
import org.vtpmback.backend.state.Uuid;
import org.vtpmback.xen.ShutdownReason;

/** The lifecycle tables: how a vTPM starts, and what is kept when it ends; every combination written out. */
class LifecyclePolicyTest {
    private static final Optional<InstanceRecord> NOTHING = Optional.empty();
    private static final Optional<InstanceRecord> PERMANENT_ONLY = Optional.of(record(Optional.empty()));
    private static final Optional<InstanceRecord> SUSPENDED = Optional.of(record(Optional.of(new Snapshot(EndKind.SUSPENDED, new byte[] {1}))));
    /** Made ahead of its guest by 'vtpmback create': stored, never started. */
    private static final Optional<InstanceRecord> MADE_AHEAD = Optional.of(new InstanceRecord(
            new Uuid("4e6f0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"), TpmFamily.TPM12, Instant.EPOCH, 1, EndKind.NEW, new byte[] {9}, Optional.empty()));
    private static final Optional<InstanceRecord> DAEMON_STOPPED = Optional.of(record(Optional.of(new Snapshot(EndKind.DAEMON_STOPPED, new byte[] {1}))));

    @Test
    void everyCase() {
        // stored state, resume key, re-attach -> mode
        Object[][] table = {
            {NOTHING, false, false, StartMode.MANUFACTURE},
            {NOTHING, true, false, StartMode.REFUSE},          // never hand a restored guest a new TPM
            {NOTHING, false, true, StartMode.REFUSE},
            {NOTHING, true, true, StartMode.REFUSE},
            {PERMANENT_ONLY, false, false, StartMode.CLEAR},   // boot / reboot
            {PERMANENT_ONLY, true, false, StartMode.REFUSE},   // resume without snapshot
            {PERMANENT_ONLY, false, true, StartMode.CLEAR_UNDER_RUNNING_GUEST}, // daemon crashed, no survivor: PCRs marked
            {PERMANENT_ONLY, true, true, StartMode.REFUSE},
            {SUSPENDED, false, false, StartMode.CLEAR},        // a reboot instead of a resume: snapshot discarded
            {SUSPENDED, true, false, StartMode.RESTORE},       // save/restore, migration
            {SUSPENDED, false, true, StartMode.RESTORE},
            {SUSPENDED, true, true, StartMode.RESTORE},
            {DAEMON_STOPPED, false, false, StartMode.CLEAR},
            {DAEMON_STOPPED, true, false, StartMode.RESTORE},
            {DAEMON_STOPPED, false, true, StartMode.RESTORE},  // daemon restart under a running guest
            {DAEMON_STOPPED, true, true, StartMode.RESTORE},
            {MADE_AHEAD, false, false, StartMode.CLEAR},       // its first start boots it: never manufactured twice
            {MADE_AHEAD, true, false, StartMode.REFUSE},
            {MADE_AHEAD, false, true, StartMode.CLEAR_UNDER_RUNNING_GUEST},
        };
        List<String> wrong = new ArrayList<>();
        for (Object[] row : table) {
            @SuppressWarnings("unchecked")
            StartMode.Decision d = LifecyclePolicy.start((Optional<InstanceRecord>) row[0], (Boolean) row[1], (Boolean) row[2]);
            if (d.mode() != row[3]) {
                wrong.add(describe(row) + " gave " + d.mode() + " (" + d.reason() + ")");
            }
        }
        assertEquals(List.of(), wrong);
    }

    @Test
    void aVtpmMadeAheadOfItsGuestIsBootedFromItsRecordAsStoredFamily() {
        StartMode.Decision d = LifecyclePolicy.start(MADE_AHEAD, false, false);
        assertEquals("first boot of the stored vTPM (TPM12, manufactured before its guest started); booting the stored"
                + " record, no manufacture", d.reason());
    }

    @Test
    void everyEnding() {
        Optional<ShutdownReason> gone = Optional.empty();
        // teardown, the domain's shutdown reason -> end saved (null: nothing), snapshot, orderly shutdown
        Object[][] table = {
            {Teardown.DAEMON_STOP, gone, EndKind.DAEMON_STOPPED, true, false},
            {Teardown.ENGINE_FAILED, gone, null, false, false},
            {Teardown.DEVICE_REMOVED, gone, EndKind.DESTROYED, false, false},           // xl destroy
            {Teardown.DEVICE_REMOVED_AFTER_CLOSE, gone, EndKind.SHUTDOWN, false, true},  // closed first, then gone
            {Teardown.DEVICE_REMOVED, Optional.of(ShutdownReason.SUSPEND), EndKind.SUSPENDED, true, false},
            {Teardown.DEVICE_REMOVED, Optional.of(ShutdownReason.POWEROFF), EndKind.SHUTDOWN, false, true},
            {Teardown.DEVICE_REMOVED, Optional.of(ShutdownReason.REBOOT), EndKind.SHUTDOWN, false, true},
            {Teardown.DEVICE_REMOVED, Optional.of(ShutdownReason.SOFT_RESET), EndKind.SHUTDOWN, false, true},
            {Teardown.DEVICE_REMOVED, Optional.of(ShutdownReason.CRASH), EndKind.DESTROYED, false, false},
            {Teardown.DEVICE_REMOVED, Optional.of(ShutdownReason.WATCHDOG), EndKind.DESTROYED, false, false},
            {Teardown.DEVICE_REMOVED, Optional.of(ShutdownReason.UNKNOWN), EndKind.DESTROYED, false, false},
            {Teardown.DEVICE_REMOVED_AFTER_CLOSE, Optional.of(ShutdownReason.SUSPEND), EndKind.SUSPENDED, true, false},
            {Teardown.DEVICE_REMOVED_AFTER_CLOSE, Optional.of(ShutdownReason.CRASH), EndKind.DESTROYED, false, false},
        };
        List<String> wrong = new ArrayList<>();
        for (Object[] row : table) {
            @SuppressWarnings("unchecked")
            LifecyclePolicy.Ending e = LifecyclePolicy.ending((Teardown) row[0], (Optional<ShutdownReason>) row[1]);
            LifecyclePolicy.Ending expected = new LifecyclePolicy.Ending(Optional.ofNullable((EndKind) row[2]), (Boolean) row[3], (Boolean) row[4]);
            if (!e.equals(expected)) {
                wrong.add(row[0] + " " + row[1] + " gave " + e + ", expected " + expected);
            }
        }
        assertEquals(List.of(), wrong);
        assertEquals(List.of(Teardown.DEVICE_REMOVED, Teardown.DEVICE_REMOVED_AFTER_CLOSE),
                java.util.Arrays.stream(Teardown.values()).filter(LifecyclePolicy::needsShutdownReason).toList());
    }

    @Test
    void refusalSaysWhatToDo() {
        StartMode.Decision d = LifecyclePolicy.start(PERMANENT_ONLY, true, false);
        assertEquals("resume requested but no suspend snapshot is stored (last end: SHUTDOWN); nothing was changed", d.reason());
    }

    private static String describe(Object[] row) {
        @SuppressWarnings("unchecked")
        Optional<InstanceRecord> stored = (Optional<InstanceRecord>) row[0];
        return stored.map(r -> r.snapshot().map(s -> s.reason().name()).orElse("permanent-only")).orElse("nothing")
                + " resume=" + row[1] + " reattach=" + row[2];
    }

    private static InstanceRecord record(Optional<Snapshot> snapshot) {
        return new InstanceRecord(new Uuid("4e6f0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"), TpmFamily.TPM2, Instant.EPOCH, 3,
                snapshot.map(Snapshot::reason).orElse(EndKind.SHUTDOWN), new byte[] {9}, snapshot);
    }
}
